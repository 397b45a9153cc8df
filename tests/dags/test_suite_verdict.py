"""The suite's `verdict` says what really failed (issue 11 item 2), through real DAG runs on the sandbox.

Before: every run-time failure produced "the batch failed its gate or could not run; the results that exist
were loaded" — also when nothing was submitted, or when the batch passed and the load failed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cekura_sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("airflow_db")
ROOT = Path(__file__).resolve().parents[2]


def _suite_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, body: str) -> dict[str, str]:
    from airflow.dag_processing.dagbag import DagBag

    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / f"{name}.yaml").write_text(f"suite: {name}\nagent: 101\nretries: 0\nschedule: null\n{body}")
    monkeypatch.setenv("CEKURA_SUITES_DIR", str(suites))
    monkeypatch.setenv("CEKURA_POLL_INTERVAL_SECONDS", "0.3")
    bag = DagBag(dag_folder=str(ROOT / "dags" / "cekura_regression_suites.py"))
    dr = bag.dags[f"cekura_regression_{name}"].test()
    return {ti.task_id: ti.state for ti in dr.get_task_instances()}


def test_nothing_submitted_is_said_with_the_servers_reason(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    sqlite_warehouse: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", "wh_sqlite")
    states = _suite_run(tmp_path, monkeypatch, "verdict_submit", "scenarios: [2101]\n")
    assert states == {"run_scenarios": "failed", "load_results": "skipped", "verdict": "failed"}
    out = "".join(capfd.readouterr())
    assert "Suite verdict_submit: run_scenarios could not submit the batch" in out
    assert "do not belong to agent 101" in out
    assert "Nothing was submitted, so nothing was loaded." in out
    assert "failed its gate" not in out


def test_a_passing_batch_whose_load_failed_is_not_called_a_gate_failure(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    # A SQLite warehouse in a directory that does not exist: passes the pre-flight, fails at load time.
    target = tmp_path / "missing-dir" / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WH_BROKEN", json.dumps({"conn_type": "sqlite", "host": str(target)}))
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", "wh_broken")
    states = _suite_run(
        tmp_path, monkeypatch, "verdict_load", "scenarios: [2001]\nmin_success_rate: 0\nfail_on: []\n"
    )
    assert states == {"run_scenarios": "success", "load_results": "failed", "verdict": "failed"}
    out = "".join(capfd.readouterr())
    assert "Suite verdict_load: load_results could not load the results into the warehouse" in out
    # The driver's bare "unable to open database file" now names the connection (issue 11 item 11).
    assert "warehouse_conn_id='wh_broken'" in out
    assert "was NOT loaded" in out
    assert "failed its gate" not in out
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1
