"""Quarantined scenarios still run and are stored, but do not fail the gate (verdict) or alert (episodes)."""

from __future__ import annotations

from datetime import date
from typing import Any

from cekura_livekit.batch.event import WaitEvent
from cekura_livekit.batch.verdict import judge
from cekura_livekit.results.frames import extract
from cekura_livekit.suites import load_suite_file
from cekura_livekit.tasks.alerting import detect_and_alert
from cekura_livekit.tasks.trends import refresh_trends
from cekura_livekit.warehouse.read import read_episodes
from cekura_livekit.warehouse.writer import load_extract
from tests.support.detection import Runs, step_rates
from tests.support.warehouse import WarehouseTarget, make_result


def _event() -> WaitEvent:
    failing = [
        {"run_id": 1, "scenario_id": 2006, "outcome": "failed_evaluation"},
        {"run_id": 2, "scenario_id": 2006, "outcome": "infra_error"},
        {"run_id": 3, "scenario_id": 2001, "outcome": "failed_evaluation"},
    ]
    summary = {"result_id": 7, "status": "completed", "total": 12, "passed": 9, "failed_evaluation": 2}
    payload = {"status": "terminal", "summary": {**summary, "infra_error": 1}, "failing_runs": failing}
    return WaitEvent.from_payload(payload)


def test_quarantined_failures_do_not_fail_the_gate() -> None:
    strict = {"min_success_rate": None, "fail_on": frozenset({"infra_error"})}
    assert not judge(_event(), **strict).passed
    still = judge(_event(), **strict, quarantined=frozenset({2006}))
    assert not still.passed  # scenario 2001 is not quarantined
    assert "(scenario 2001" in still.message
    assert "2006" not in still.message
    assert judge(_event(), **strict, quarantined=frozenset({2006, 2001})).passed


def test_suite_quarantine_is_parsed(tmp_path: Any) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("suite: s\nagent: 1\nscenarios: [1, 2]\nquarantine: [2]\n")
    assert load_suite_file(path).quarantine == (2,)


def test_a_quarantined_scenarios_regression_is_recorded_but_not_alerted(warehouse: WarehouseTarget) -> None:
    frames = extract(
        make_result(1, Runs().series(date(2024, 5, 11), step_rates(0.9, 0.2))),
        mode="managed",
        suite="nightly",
        quarantine=[1],
    )
    assert frames.runs["quarantined"].all()
    summary = load_extract(warehouse.conn_id, frames, warehouse.schema)
    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=summary.run_dates)
    outcome = detect_and_alert(
        warehouse.conn_id, warehouse.schema, regression_days=refreshed["regression_days"]
    )
    episodes = read_episodes(warehouse.conn_id, schema=warehouse.schema)
    assert episodes["quarantined"].tolist() == [True]
    assert outcome["new_alerts"] == 0
