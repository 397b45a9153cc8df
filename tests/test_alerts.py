"""Regression alerts fire once per episode, on SQLite and PostgreSQL, and the notifier always logs."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest

from cekura_livekit.alerts import CekuraRegressionNotifier, alert_message, claim_new_alerts
from tests.fixtures.warehouse import WarehouseTarget


def regression(day: str, scenario: int = 2004, **extra: Any) -> dict[str, Any]:
    return {
        "run_date": date.fromisoformat(day),
        "agent_id": 101,
        "agent_name": "Acme Support",
        "scenario_id": scenario,
        "scenario_name": "Cancel subscription",
        "baseline_rate": 0.9,
        "baseline_n": 100,
        "current_rate": 0.7,
        "current_n": 20,
        "p_value": 0.011,
        "severity": "major",
        **extra,
    }


def test_one_alert_per_episode(warehouse: WarehouseTarget) -> None:
    claim = lambda rows: claim_new_alerts(warehouse.conn_id, rows, schema=warehouse.schema)  # noqa: E731
    first = claim([regression("2026-11-17")])
    assert [(a.scenario_id, a.run_date) for a in first] == [(2004, date(2026, 11, 17))]
    # The same regression seen again on the next days (and re-detected for a day already seen): silent.
    assert claim([regression("2026-11-18"), regression("2026-11-17")]) == []
    assert claim([regression("2026-11-20")]) == []
    # Another scenario regressing is its own episode.
    assert [a.scenario_id for a in claim([regression("2026-11-20", scenario=2003)])] == [2003]
    # After a gap longer than the window the scenario recovered: a new regression alerts again.
    assert [a.run_date for a in claim([regression("2026-11-30")])] == [date(2026, 11, 30)]


def test_message_names_scenario_drop_confidence_and_link(warehouse: WarehouseTarget) -> None:
    alerts = claim_new_alerts(
        warehouse.conn_id,
        [regression("2026-11-17")],
        schema=warehouse.schema,
        dashboard_url="https://dashboard.cekura.ai/11/results",
    )
    text = alert_message(alerts)
    assert "Cancel subscription (scenario 2004)" in text
    assert "90% (n=100) → 70% (n=20)" in text
    assert "−20 pts" in text
    assert "98.9% confidence" in text
    assert "https://dashboard.cekura.ai/11/results" in text
    assert alert_message([]) == "No new Cekura regressions."


def test_notifier_always_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        CekuraRegressionNotifier("2 new Cekura regression(s) detected").notify({})
    assert "2 new Cekura regression(s) detected" in caplog.text


def test_gap_days_validated(sqlite_warehouse: WarehouseTarget) -> None:
    with pytest.raises(ValueError, match="gap_days=0"):
        claim_new_alerts(sqlite_warehouse.conn_id, [], gap_days=0)
