"""The alert step (`tasks.alerting`): one alert per episode (SQLite and PostgreSQL, via the warehouse memory),
the stored dashboard link and no API call, one alert when late data moves a start, one per infra outage."""

from __future__ import annotations

from datetime import date
from typing import Any

from cekura_livekit.tasks.alerting import claim_new_alerts
from tests.alerting.samples import regression
from tests.support.warehouse import WarehouseTarget


def test_one_alert_per_episode(warehouse: WarehouseTarget) -> None:
    claim = lambda rows: claim_new_alerts(warehouse.conn_id, rows, schema=warehouse.schema)  # noqa: E731
    first = claim([regression("2026-11-17")])
    assert [(a.scenario_id, a.run_date) for a in first] == [(2004, date(2026, 11, 17))]
    # The same episode seen again on the next passes (it grew, its last day moved): silent.
    assert claim([regression("2026-11-17", last_seen=date(2026, 11, 19))]) == []
    # Another scenario, or the same scenario in another mode or suite, is its own episode.
    assert [a.scenario_id for a in claim([regression("2026-11-20", scenario=2003)])] == [2003]
    assert [a.mode for a in claim([regression("2026-11-17", mode="chat/byo")])] == ["chat/byo"]
    assert [a.suite for a in claim([regression("2026-11-17", suite="weekly")])] == ["weekly"]
    # A new episode of the same key (it started again after recovering) alerts again.
    [again] = claim([regression("2026-11-30", dashboard_url="https://dashboard.cekura.ai/11/results/9")])
    assert again.run_date == date(2026, 11, 30)
    assert again.dashboard_url == "https://dashboard.cekura.ai/11/results/9"  # the episode's own link
    # A resolved episode found late (a backfill) is shown in the report, not alerted.
    assert claim([regression("2026-10-01", state="resolved")]) == []


def test_the_alert_step_links_the_stored_url_and_calls_no_api(
    warehouse: WarehouseTarget, cekura_sandbox: Any, cekura_sandbox_connections: dict[str, str]
) -> None:
    """Issue 18.3 / 18.2: the link is the episode's stored `dashboard_url` (built once at load time); the
    alert step asks Cekura nothing (it used to fetch the agent's project and query the runs per pair)."""

    from cekura_livekit.results.frames import extract
    from cekura_livekit.tasks.alerting import detect_and_alert
    from cekura_livekit.tasks.trends import refresh_trends
    from cekura_livekit.warehouse.writer import load_extract
    from tests.support.detection import Runs, step_rates
    from tests.support.warehouse import make_result

    runs = Runs().series(date(2024, 5, 11), step_rates(0.9, 0.2))
    stored = "https://dashboard.cekura.ai/42/results/1"
    frames = extract(make_result(1, runs), mode="managed", suite="nightly", dashboard_url=stored)
    summary = load_extract(warehouse.conn_id, frames, warehouse.schema)
    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=summary.run_dates)
    before = len(cekura_sandbox.requests)
    outcome = detect_and_alert(
        warehouse.conn_id,
        warehouse.schema,
        regression_days=refreshed["regression_days"],
    )
    assert outcome["new_alerts"] == 1
    assert stored in outcome["message"]
    assert cekura_sandbox.requests[before:] == []


def _trends_pass(warehouse: WarehouseTarget, run_dates: list[str]) -> dict[str, Any]:
    from cekura_livekit.tasks.alerting import detect_and_alert
    from cekura_livekit.tasks.trends import refresh_trends

    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=run_dates)
    return detect_and_alert(warehouse.conn_id, warehouse.schema, regression_days=refreshed["regression_days"])


def test_one_drop_is_alerted_once_when_late_data_moves_its_start(warehouse: WarehouseTarget) -> None:
    """Issue 25.6: a late batch moves the change point (and the alarm) a day earlier; the episode keeps its id
    and is not alerted again (the memory used to be keyed on `started_on`: a second alert)."""
    from cekura_livekit.results.frames import extract
    from cekura_livekit.warehouse.read import read_episodes
    from cekura_livekit.warehouse.writer import load_extract
    from tests.support.detection import Runs, step_rates
    from tests.support.warehouse import make_result, make_run

    runs = Runs().series(date(2024, 3, 1), step_rates(0.9, 0.3))
    summary = load_extract(
        warehouse.conn_id, extract(make_result(1, runs), suite="nightly"), warehouse.schema
    )
    first = _trends_pass(warehouse, summary.run_dates)
    assert first["new_alerts"] == 1
    [before] = read_episodes(warehouse.conn_id, schema=warehouse.schema).to_dict("records")
    assert before["started_on"].date() == date(2024, 4, 10)

    late = [
        make_run(90_000 + i, day="2024-04-09", outcome="failed_evaluation", hour=20, result_id=2)
        for i in range(6)
    ]
    summary = load_extract(
        warehouse.conn_id, extract(make_result(2, late), suite="nightly"), warehouse.schema
    )
    again = _trends_pass(warehouse, summary.run_dates)
    [after] = read_episodes(warehouse.conn_id, schema=warehouse.schema).to_dict("records")
    assert after["started_on"].date() == date(2024, 4, 9)  # the start moved …
    assert after["episode_id"] == before["episode_id"]  # … the id did not …
    assert again["new_alerts"] == 0  # … and nobody is told twice
    assert "confidence" not in first["message"]
    assert "95 % CI" in first["message"]


def test_an_infra_outage_day_is_alerted_once(warehouse: WarehouseTarget) -> None:
    """Issue 25.5: a day on which most runs are infra errors shows no success-rate drop (they are not
    evaluations), so the quality monitor says it, once."""
    from cekura_livekit.results.frames import extract
    from cekura_livekit.warehouse.writer import load_extract
    from tests.support.detection import Runs, step_rates
    from tests.support.warehouse import make_result, make_run

    runs = Runs().series(date(2024, 3, 1), step_rates(0.9, 0.9))
    outage = [make_run(80_000 + i, day="2024-04-19", outcome="infra_error", hour=22) for i in range(8)]
    summary = load_extract(
        warehouse.conn_id, extract(make_result(1, runs + outage), suite="nightly"), warehouse.schema
    )
    first = _trends_pass(warehouse, summary.run_dates)
    assert first["new_alerts"] == 0  # no drop …
    assert first["alerted_monitors"] == ["infra:1"]  # … but the infra share jumped
    assert "8 of 14 runs (57%) were infra errors or timeouts on 2024-04-19" in first["message"]
    assert _trends_pass(warehouse, [])["new_monitor_alerts"] == 0
