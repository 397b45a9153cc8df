"""Build one regression DAG from a suite: run the scenarios (submit + deferrable wait + verdict), then load.

Shape: `run_scenarios` → `load_results` → `verdict`. The run operator pushes the result id to XCom *before*
waiting, so the load runs even when the verdict fails the run (trigger rule all_done): a red night is still
history in the warehouse. The `verdict` leaf (trigger rule one_failed) keeps the DAG run red in that case;
otherwise it is skipped. In bring-your-own-rooms mode the operator waits
itself, so the task that created the LiveKit rooms is the one that deletes them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, task

from cekura_livekit.pipelines import warehouse_conn_id, warehouse_schema
from cekura_livekit.suites import Suite

#: Local runs against the sandbox poll every second instead of the suite's production interval.
POLL_OVERRIDE_ENV = "CEKURA_POLL_INTERVAL_SECONDS"


def _poll_interval(suite: Suite) -> float:
    override = os.environ.get(POLL_OVERRIDE_ENV)
    return float(override) if override else suite.poll_interval


def suite_params(suite: Suite) -> dict[str, Param]:
    """The manual-run form: scenario ids, frequency and agent, validated by the UI before the run starts."""
    return {
        "scenarios": Param(
            list(suite.scenarios),
            type="array",
            items={"type": "integer", "minimum": 1},
            minItems=1,
            title="Scenario ids",
            description="Cekura scenario ids to run (default: the suite's scenarios).",
        ),
        "frequency": Param(
            suite.frequency,
            type="integer",
            minimum=1,
            maximum=100,
            title="Frequency",
            description="Calls per scenario (1–100).",
        ),
        "agent": Param(
            suite.agent, type="integer", minimum=1, title="Agent id", description="Cekura agent id."
        ),
    }


def build_regression_dag(suite: Suite) -> DAG:
    """One DAG per suite; everything heavy is imported when the tasks run, not when the file parses."""
    from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    default_args: dict[str, Any] = {
        "owner": ",".join(suite.owners),
        "retries": suite.retries,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    }
    doc = (
        f"**{suite.suite}** (from `include/suites/{suite.source}`): {suite.description or 'regression suite'}\n\n"
        f"Agent {suite.agent}, mode `{suite.mode}`, scenarios {list(suite.scenarios)} × {suite.frequency}; "
        f"min success rate {suite.min_success_rate if suite.min_success_rate is not None else 'all must pass'}, "
        f"fail on {list(suite.fail_on) or 'nothing but evaluations'}."
    )
    with DAG(
        dag_id=suite.dag_id,
        description=suite.description or f"Cekura regression suite {suite.suite}",
        schedule=suite.schedule,
        start_date=datetime.combine(suite.start_date, datetime.min.time(), tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["cekura", "regression", *suite.tags],
        default_args=default_args,
        params=suite_params(suite),
        render_template_as_native_obj=True,
        doc_md=doc,
    ) as dag:
        run = CekuraRunLiveKitScenariosOperator(
            task_id="run_scenarios",
            scenarios="{{ params.scenarios }}",
            agent="{{ params.agent }}",
            frequency="{{ params.frequency }}",
            mode=suite.mode,
            personality_ids=list(suite.personality_ids) or None,
            test_profile_ids=list(suite.test_profile_ids) or None,
            cekura_conn_id=suite.cekura_conn_id,
            livekit_conn_id=suite.livekit_conn_id if suite.mode != "managed" else None,
            livekit_agent_name=suite.livekit_agent_name,
            deferrable=True,
            poll_interval=_poll_interval(suite),
            timeout=timedelta(minutes=suite.timeout_minutes),
            execution_timeout=timedelta(minutes=suite.timeout_minutes + 15),
            min_success_rate=suite.min_success_rate,
            fail_on=list(suite.fail_on),
            quarantine=list(suite.quarantine) or None,
        )
        load = CekuraResultsToWarehouseOperator(
            task_id="load_results",
            result_id="{{ ti.xcom_pull(task_ids='run_scenarios', key='result_id') }}",
            cekura_conn_id=suite.cekura_conn_id,
            warehouse_conn_id=suite.warehouse_conn_id or warehouse_conn_id(),
            schema=warehouse_schema(),
            mode=suite.mode,
            suite=suite.suite,
            quarantine=list(suite.quarantine) or None,
            trigger_rule=TriggerRule.ALL_DONE,
            retries=2,
        )

        @task(task_id="verdict", trigger_rule=TriggerRule.ONE_FAILED, retries=0)
        def verdict() -> None:
            """Fail the DAG run when the batch failed its thresholds (the reason is in run_scenarios' log)."""
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"Suite {suite.suite}: the batch failed its gate or could not run; the results that exist were "
                "loaded. See the run_scenarios task log for the failing scenarios and the dashboard link."
            )

        watcher = verdict()
        run >> load >> watcher
        run >> watcher
    return dag
