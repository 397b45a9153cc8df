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
    # A SQLite warehouse in a directory that does not exist. The pre-flight now refuses it before any paid call
    # (test_an_unloadable_warehouse_is_refused_before_anything_is_paid); to test the load-failure wording, the
    # warehouse breaks between the pre-flight and the load, as a disk or a network can.
    target = tmp_path / "missing-dir" / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WH_BROKEN", json.dumps({"conn_type": "sqlite", "host": str(target)}))
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", "wh_broken")
    monkeypatch.setattr("cekura_livekit.warehouse.loadable.check_loadable", lambda *a, **k: None)
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


def test_an_unloadable_warehouse_is_refused_before_anything_is_paid(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    target = tmp_path / "missing-dir" / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WH_BROKEN", json.dumps({"conn_type": "sqlite", "host": str(target)}))
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", "wh_broken")
    states = _suite_run(
        tmp_path, monkeypatch, "verdict_preflight", "scenarios: [2001]\nmin_success_rate: 0\nfail_on: []\n"
    )
    assert states["run_scenarios"] == "failed"
    assert "wh_broken" in "".join(capfd.readouterr())
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 0  # nothing paid


def _suite_dag_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, body: str) -> object:
    from airflow.dag_processing.dagbag import DagBag

    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / f"{name}.yaml").write_text(f"suite: {name}\nagent: 101\nretries: 0\nschedule: null\n{body}")
    monkeypatch.setenv("CEKURA_SUITES_DIR", str(suites))
    monkeypatch.setenv("CEKURA_POLL_INTERVAL_SECONDS", "0.3")
    bag = DagBag(dag_folder=str(ROOT / "dags" / "cekura_regression_suites.py"))
    return bag.dags[f"cekura_regression_{name}"].test()


def test_a_batch_orphaned_by_a_kill_after_the_submit_is_loaded_and_the_verdict_says_so(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    sqlite_warehouse: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    """Issue 24.3: retries 0, the task dies right after the POST (before pushing the result id). Before: the
    load skipped ("nothing was submitted to load") and the verdict said "Nothing was submitted" about a paid
    batch. Now the load finds it by its batch name and loads it, and the verdict says what happened.
    Issue 20.4: the verdict runs after the load, and says gate, load and link in that order."""
    import sqlite3

    from cekura_livekit.batch import submit

    original = submit.Submitter.attach_or_submit

    def killed_after_submit(self: submit.Submitter) -> submit.Batch:
        original(self)
        raise RuntimeError("worker killed right after the submit")

    monkeypatch.setattr(submit.Submitter, "attach_or_submit", killed_after_submit)
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", "wh_sqlite")
    dr = _suite_dag_run(tmp_path, monkeypatch, "orphan", "scenarios: [2001, 2002]\n")
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}  # type: ignore[attr-defined]
    assert {k: ti.state for k, ti in tis.items()} == {
        "run_scenarios": "failed",
        "load_results": "success",
        "verdict": "failed",
    }
    assert tis["verdict"].start_date >= tis["load_results"].end_date  # waited for the load
    assert cekura_sandbox.count("POST", "run_scenarios_livekit_v2") == 1  # found, never resubmitted
    out = "".join(capfd.readouterr())
    assert "Nothing was submitted" not in out
    assert "nothing was submitted to load" not in out
    verdict = out[out.index("Suite orphan: run_scenarios") :]
    gate = verdict.index("worker killed right after the submit")
    load = verdict.index(
        "were loaded: 2 runs stored (run_scenarios died before announcing it; found in Cekura"
    )
    assert gate < load
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*), MIN(suite), MIN(mode) FROM cekura_runs").fetchone() == (
            2,
            "orphan",
            "voice/managed",
        )


def test_a_passing_night_skips_the_verdict_after_the_load(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    sqlite_warehouse: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", "wh_sqlite")
    dr = _suite_dag_run(
        tmp_path, monkeypatch, "green", "scenarios: [2001]\nmin_success_rate: 0\nfail_on: []\n"
    )
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}  # type: ignore[attr-defined]
    assert states == {"run_scenarios": "success", "load_results": "success", "verdict": "skipped"}
    assert dr.state == "success"  # type: ignore[attr-defined]
