"""The shipped example DAG parses fast, cheaply, and runs end to end against the sandbox."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cekura_sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]


def test_example_dag_parses_without_heavy_imports() -> None:
    code = (
        "import sys, time; t = time.perf_counter();"
        "import runpy; runpy.run_path('dags/example_cekura_operator_sensor.py');"
        "heavy = [m for m in ('pandas', 'livekit.api', 'livekit', 'aiohttp') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


@pytest.mark.usefixtures("airflow_db")
def test_example_dag_runs_end_to_end(cekura_sandbox: Sandbox, cekura_sandbox_connections: dict) -> None:
    from airflow.dag_processing.dagbag import DagBag

    started = time.monotonic()
    bag = DagBag(dag_folder=str(ROOT / "dags" / "example_cekura_operator_sensor.py"))
    assert not bag.import_errors
    dag = bag.get_dag("example_cekura_operator_sensor")
    assert dag is not None
    assert time.monotonic() - started < 30
    dr = dag.test(run_conf={"scenarios": [2001, 2005], "agent": 101})
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states == {"submit_suite": "success", "wait_for_verdict": "success"}
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1
