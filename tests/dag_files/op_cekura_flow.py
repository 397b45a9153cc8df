"""Test-only DAGs for dag.test(): deferrable operator, operator → sensor, and a retry after a crash.

Connections come from AIRFLOW_CONN_* env vars that the tests point at the sandbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_livekit.sensors.runs import CekuraRunsSensor

FAST = {"poll_interval": 0.2, "hook_params": {"retry_delay": 0.05, "retry_max_delay": 0.2}}

with DAG(
    "op_cekura_deferrable", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
) as deferrable_dag:
    CekuraRunLiveKitScenariosOperator(
        task_id="run_suite", scenarios=[2001, 2002, 2005], agent=101, deferrable=True, **FAST
    )

with DAG(
    "op_cekura_then_sensor", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
) as sensor_dag:
    submit = CekuraRunLiveKitScenariosOperator(
        task_id="submit", scenarios=[2001, 2005], agent=101, wait_for_completion=False, **FAST
    )
    CekuraRunsSensor(
        task_id="wait",
        result_id=submit.output["result_id"],
        deferrable=True,
        poke_interval=0.2,
        timeout=120,
    )
    CekuraRunsSensor(
        task_id="wait_poke", result_id=submit.output["result_id"], mode="poke", poke_interval=0.2, timeout=120
    )


class CrashAfterSubmit(CekuraRunLiveKitScenariosOperator):
    """Dies right after a fresh submit, like a worker killed before it could start waiting."""

    def execute(self, context: Any) -> Any:
        from unittest import mock

        from cekura_livekit.batch.submit import Submitter

        submit = Submitter.attach_or_submit

        def crash_when_fresh(submitter: Submitter) -> Any:
            batch = submit(submitter)
            if batch.fresh:
                raise RuntimeError("simulated worker crash right after the submit")
            return batch

        with mock.patch.object(Submitter, "attach_or_submit", crash_when_fresh):
            return super().execute(context)


with DAG("op_cekura_retry", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as retry_dag:
    CrashAfterSubmit(
        task_id="run_suite",
        scenarios=[2001, 2002],
        agent=101,
        deferrable=True,
        retries=1,
        retry_delay=timedelta(seconds=0),
        **FAST,
    )


with DAG(
    "op_cekura_byo_deferrable", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
) as byo_dag:
    CekuraRunLiveKitScenariosOperator(
        task_id="run_byo",
        scenarios=[2001, 2002],
        frequency=2,
        agent=101,
        mode="bring_your_own_rooms",
        livekit_conn_id="livekit_default",
        livekit_agent_name="acme-support",
        room_config={"voice": "alloy"},
        deferrable=True,
        **FAST,
    )
