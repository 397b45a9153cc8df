"""Build one regression DAG from a suite: run the scenarios (submit + deferrable wait + verdict), then load.

Shape: `run_scenarios` → `load_results` → `verdict`. The run operator pushes the result id to XCom *before*
waiting, so the load runs even when the verdict fails the run (trigger rule all_done): a red night is still
history in the warehouse. When the run task died after submitting without pushing the id, the load finds the
batch by its name (`recover_from`). The `verdict` leaf waits for the load (trigger rule all_done: one_failed
fired as soon as the run failed, before the load had finished) and then fails the DAG run saying the gate,
the load and the link, or is skipped when nothing failed. In bring-your-own-rooms mode the operator waits
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

from cekura_livekit.batch.spec import MAX_FREQUENCY
from cekura_livekit.config import warehouse_conn_id, warehouse_schema
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
            maximum=MAX_FREQUENCY,
            title="Frequency",
            description=f"Calls per scenario (1–{MAX_FREQUENCY}).",
        ),
        "agent": Param(
            suite.agent, type="integer", minimum=1, title="Agent id", description="Cekura agent id."
        ),
    }


def build_regression_dag(suite: Suite, folder: Path | None = None) -> DAG:
    """One DAG per suite; everything heavy is imported when the tasks run, not when the file parses.

    `folder`: where the suite file was read from (the description says so: it may be CEKURA_SUITES_DIR).
    """
    from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    warehouse = suite.warehouse_conn_id or warehouse_conn_id()

    default_args: dict[str, Any] = {
        "owner": ",".join(suite.owners),
        "retries": suite.retries,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    }
    where = str(folder / suite.source) if folder is not None else suite.source
    doc = (
        f"**{suite.suite}** (from `{where}`): {suite.description or 'regression suite'}\n\n"
        f"Agent {suite.agent}, mode `{suite.mode}`, scenarios {list(suite.scenarios)} × {suite.frequency}; "
        f"min success rate {suite.min_success_rate if suite.min_success_rate is not None else 'all must pass'}, "
        f"fail on {list(suite.fail_on) or 'nothing but evaluations'}."
    )
    with DAG(
        dag_id=suite.dag_id,
        description=f"{suite.description or f'Cekura regression suite {suite.suite}'} (from {where})",
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
            # The arguments `parse_suite` already checked with the same `build_spec`; the form's values
            # (scenarios, agent, frequency) are rendered and checked again before the submit.
            **{
                **suite.run_arguments(),
                "scenarios": "{{ params.scenarios }}",
                "agent": "{{ params.agent }}",
                "frequency": "{{ params.frequency }}",
                "poll_interval": _poll_interval(suite),
            },
            execution_timeout=timedelta(minutes=suite.timeout_minutes + 15),
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
            # The run task died after submitting without pushing the id: find its batch by name, load it.
            recover_from="run_scenarios",
            trigger_rule=TriggerRule.ALL_DONE,
        )  # retries: the suite's (default_args)

        @task(task_id="verdict", trigger_rule=TriggerRule.ALL_DONE, retries=0)
        def verdict(**context: Any) -> None:
            """After the load, whatever happened: fail the DAG run saying the gate, the load and the link."""
            from cekura_livekit.batch.outcome import explain, something_failed
            from cekura_livekit.compat import AirflowFailException, AirflowSkipException
            from cekura_livekit.hooks.cekura import CekuraHook

            ti, dag_run = context["ti"], context.get("dag_run")
            if not something_failed(ti, dag_run):
                raise AirflowSkipException("Nothing failed: the batch passed its gate and was loaded.")
            hook = lambda: CekuraHook(cekura_conn_id=suite.cekura_conn_id)  # noqa: E731 (only if needed)
            raise AirflowFailException(explain(suite.suite, ti, dag_run, hook))

        run >> load >> verdict()
    return dag


class BrokenSuiteWarning(UserWarning):
    """A suite file could not be read; recorded against the suite file itself when the DAG file parses."""


def broken_dag_id(path: Path, taken: frozenset[str] | set[str] = frozenset()) -> str:
    """The DAG id the file would most likely have had (its name is the suite id by convention), unless a
    working suite already has that id (e.g. a copy of its file): then a `_broken_<file>` id, so a
    placeholder never replaces a working DAG."""
    stem = re.sub(r"[^a-z0-9_]", "_", path.stem.lower()) or "unnamed"
    candidate = f"cekura_regression_{stem}"
    if candidate in taken:
        candidate = f"cekura_regression_broken_{re.sub(r'[^a-z0-9_]', '_', path.name.lower())}"
    number = 2
    base = candidate
    while candidate in taken:
        candidate, number = f"{base}_{number}", number + 1
    return candidate


def build_broken_suite_dag(path: Path, problem: str, taken: frozenset[str] | set[str] = frozenset()) -> DAG:
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
        dag_id=broken_dag_id(path, taken),
        description=f"BROKEN suite file {path.name}: fix it to get the regression DAG back",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        tags=["cekura", "regression", "broken-suite"],
        doc_md=f"**Suite file `{path.name}` is malformed** and its DAG was not built:\n\n```\n{problem}\n```",
    ) as dag:

        @task(task_id="suite_file_error", retries=0)
        def suite_file_error() -> None:
            from cekura_livekit.compat import AirflowFailException

            raise AirflowFailException(problem)

        suite_file_error()
    return dag
