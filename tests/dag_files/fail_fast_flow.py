"""Test-only DAGs for the fail-fast tests: one run operator each, retries=2 without delay.

Connections come from AIRFLOW_CONN_* env vars that the tests point at the sandbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator

FAST = {"poll_interval": 0.2, "hook_params": {"retry_delay": 0.01, "retry_max_delay": 0.05, "retry_limit": 1}}

#: case name → operator arguments (agent 101, scenario 2001 unless overridden).
CASES: dict[str, dict[str, Any]] = {
    "foreign_scenario": {"scenarios": [2101]},  # 2101 belongs to agent 102
    "wrong_key": {"cekura_conn_id": "cekura_wrong_key"},
    "missing_conn": {"cekura_conn_id": "cekura_nowhere"},
    "missing_warehouse": {"warehouse_conn_id": "no_such_warehouse"},
    "mysql_warehouse": {"warehouse_conn_id": "mysql_wh"},
    # Known only after rendering, like the manual-trigger form (construction-time sizes fail at parse).
    "too_big": {"scenarios": [2001, 2002, 2004], "frequency": "{{ 50 * 2 }}"},
    "outage": {},
    "malformed": {"retries": 0},
    # Used by the fault matrix of docs/reliability.md (tests/reliability): faults armed by the test.
    "lost_answer": {},
    "poll_429": {"deferrable": True},
    "poll_500": {},
}

dags: dict[str, DAG] = {}
for case, kwargs in CASES.items():
    with DAG(f"fail_fast_{case}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        CekuraRunLiveKitScenariosOperator(
            task_id="run_scenarios",
            **{
                "agent": 101,
                "scenarios": [2001],
                "retries": 2,
                "retry_delay": timedelta(0),
                **FAST,
                **kwargs,
            },
        )
    dags[case] = dag
