"""Build one regression DAG from a suite: run the scenarios (submit + deferrable wait + verdict), then load.

Shape: `run_scenarios` → `load_results` → `verdict`. The run operator pushes the result id to XCom *before*
waiting, so the load runs even when the verdict fails the run (trigger rule all_done): a red night is still
history in the warehouse. The `verdict` leaf (trigger rule one_failed) keeps the DAG run red in that case;
otherwise it is skipped. In bring-your-own-rooms mode the operator waits
itself, so the task that created the LiveKit rooms is the one that deletes them.
"""

from __future__ import annotations

import os
import re
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
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

    warehouse = suite.warehouse_conn_id or warehouse_conn_id()

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
            max_runs=suite.max_runs,
            # Checked before submitting: results that cannot be stored are not worth paying for.
            warehouse_conn_id=warehouse,
        )
        load = CekuraResultsToWarehouseOperator(
            task_id="load_results",
            result_id="{{ ti.xcom_pull(task_ids='run_scenarios', key='result_id') }}",
            cekura_conn_id=suite.cekura_conn_id,
            warehouse_conn_id=warehouse,
            schema=warehouse_schema(),
            mode=suite.mode,
            suite=suite.suite,
            quarantine=list(suite.quarantine) or None,
            trigger_rule=TriggerRule.ALL_DONE,
        )  # retries: the suite's (default_args)

        @task(task_id="verdict", trigger_rule=TriggerRule.ONE_FAILED, retries=0)
        def verdict(**context: Any) -> None:
            """Fail the DAG run, saying what really failed (gate, submit, wait, load) and why."""
            from airflow.sdk.exceptions import AirflowFailException

            from cekura_livekit.batch.outcome import explain

            raise AirflowFailException(explain(suite.suite, context["ti"], context.get("dag_run")))

        watcher = verdict()
        run >> load >> watcher
        run >> watcher
    return dag


class BrokenSuiteWarning(UserWarning):
    """A suite file could not be read; recorded against the suite file itself when the DAG file parses."""


def broken_dag_id(path: Path) -> str:
    """The DAG id the file would most likely have had (its name is the suite id by convention)."""
    stem = re.sub(r"[^a-z0-9_]", "_", path.stem.lower()) or "unnamed"
    return f"cekura_regression_{stem}"


def build_broken_suite_dag(path: Path, problem: str) -> DAG:
    """A placeholder for a malformed suite file: visible where its DAG would be, never runs a batch.

    An exception at parse time would hide every suite of the (single) DAG file, so instead the problem is
    (1) a warning whose file name is the suite file (the DAG processor records it as a parse warning of
    the file), and (2) a DAG under the suite's expected id, unscheduled, whose description and only task
    state the problem; triggering it fails with the same message.
    """
    warnings.warn_explicit(
        f"Suite file {path.name} is malformed; its DAG was not built: {problem}",
        BrokenSuiteWarning,
        filename=str(path),
        lineno=1,
    )
    with DAG(
        dag_id=broken_dag_id(path),
        description=f"BROKEN suite file {path.name}: fix it to get the regression DAG back",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        tags=["cekura", "regression", "broken-suite"],
        doc_md=f"**Suite file `{path.name}` is malformed** and its DAG was not built:\n\n```\n{problem}\n```",
    ) as dag:

        @task(task_id="suite_file_error", retries=0)
        def suite_file_error() -> None:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(problem)

        suite_file_error()
    return dag
