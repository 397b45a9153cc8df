"""The report steps (`tasks.report`): the frames read on one read-only connection (with each series' stored
link), where the report goes (trusted destination, the configured default, a run's param confined to the
report roots), and the weekly dated copy with its index."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.report import (
    latest_run_date,
    read_report_inputs,
    render_report,
    render_requested_report,
    render_weekly_report,
)
from cekura_livekit.tasks.trends import detect_regressions_for, refresh_trends
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.writer import load_extract
from tests.support.detection import Runs, step_rates
from tests.support.warehouse import WarehouseTarget, make_result

LINK = "https://dashboard.cekura.ai/42/results/1"


def _loaded(target: WarehouseTarget) -> None:
    """Fifty days of one scenario that drops on day 41, trends and episodes built, the link stored."""
    runs = Runs().series(date(2024, 3, 1), step_rates(0.9, 0.2))
    frames = extract(make_result(1, runs), mode="managed", suite="nightly", dashboard_url=LINK)
    summary = load_extract(target.conn_id, frames, target.schema)
    refreshed = refresh_trends(target.conn_id, target.schema, touched=summary.run_dates)
    detect_regressions_for(target.conn_id, target.schema, refreshed["regression_days"])


def test_the_report_frames_keep_the_warehouse_names_and_the_stored_link(
    warehouse: WarehouseTarget,
) -> None:
    """Every engine, DuckDB and Snowflake included (their cursor wrappers lacked the chunked read the report
    uses: this test found it)."""
    _loaded(warehouse)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        frames = read_report_inputs(wh, days=30, today=None)
    assert frames["end"] == date(2024, 4, 19)  # the latest day, not the clock
    daily = frames["daily"]
    assert {"run_date", "agent_id", "scenario_id", "mode", "suite", "dashboard_url"} <= set(daily.columns)
    assert set(daily["dashboard_url"]) == {LINK}
    assert daily["run_date"].min().date() >= date(2024, 3, 20)  # the 30-day window, not the whole history
    assert list(frames["episodes"]["state"]) == ["open"]
    assert frames["weekly"].end == frames["end"]


def test_an_explicit_day_bounds_the_window(sqlite_warehouse: WarehouseTarget) -> None:
    _loaded(sqlite_warehouse)
    with open_warehouse(sqlite_warehouse.conn_id, sqlite_warehouse.schema) as wh:
        frames = read_report_inputs(wh, days=5, today=date(2024, 3, 20))
    assert frames["end"] == date(2024, 3, 20)
    # the window starts `days` before the given day (it is not bounded above: see the report's note)
    assert frames["daily"]["run_date"].min().date() == date(2024, 3, 15)


def test_render_report_writes_the_trusted_destination_and_summarises(
    sqlite_warehouse: WarehouseTarget, tmp_path: Path
) -> None:
    _loaded(sqlite_warehouse)
    target = tmp_path / "out" / "report.html"
    out = render_report(sqlite_warehouse.conn_id, sqlite_warehouse.schema, str(target))
    assert Path(out["destination"]) == target
    assert out["bytes"] > 1000
    assert target.stat().st_size >= out["bytes"]  # characters; the file holds their UTF-8 bytes
    assert out["report_date"] == "2024-04-19"
    assert out["regressions"] == 1
    assert out["days"] == 50  # the default 60-day window holds all fifty days
    assert out["flaky"] == 0


def test_without_a_destination_the_configured_default_is_used(
    sqlite_warehouse: WarehouseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _loaded(sqlite_warehouse)
    monkeypatch.setenv("CEKURA_REPORT_DESTINATION", str(tmp_path / "default.html"))
    out = render_report(sqlite_warehouse.conn_id, sqlite_warehouse.schema)
    assert Path(out["destination"]) == tmp_path / "default.html"
    assert (tmp_path / "default.html").is_file()


def test_a_requested_destination_is_confined_to_the_report_roots(
    sqlite_warehouse: WarehouseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _loaded(sqlite_warehouse)
    root = tmp_path / "reports"
    root.mkdir()
    monkeypatch.setenv("CEKURA_REPORT_ROOTS", str(root))
    monkeypatch.setenv("CEKURA_REPORT_DESTINATION", str(root / "default.html"))
    inside = render_requested_report(sqlite_warehouse.conn_id, sqlite_warehouse.schema, "team/r.html")
    assert Path(inside["destination"]) == root / "team" / "r.html"
    blank = render_requested_report(sqlite_warehouse.conn_id, sqlite_warehouse.schema, "   ")
    assert Path(blank["destination"]) == root / "default.html"
    outside = tmp_path / "elsewhere.html"
    with pytest.raises(AirflowFailException) as caught:
        render_requested_report(sqlite_warehouse.conn_id, sqlite_warehouse.schema, str(outside))
    assert str(outside) in str(caught.value)
    assert not outside.exists()  # refused before anything was read or written


def test_the_weekly_report_is_dated_and_indexed(sqlite_warehouse: WarehouseTarget, tmp_path: Path) -> None:
    _loaded(sqlite_warehouse)
    folder = tmp_path / "weekly"
    out = render_weekly_report(sqlite_warehouse.conn_id, sqlite_warehouse.schema, str(folder))
    assert Path(out["destination"]) == folder / "cekura_report_2024-04-19.html"
    assert Path(out["index"]) == folder / "index.html"
    assert out["reports"] == 1
    assert "cekura_report_2024-04-19.html" in (folder / "index.html").read_text()


def test_latest_run_date_reads_the_daily_table(sqlite_warehouse: WarehouseTarget) -> None:
    _loaded(sqlite_warehouse)
    assert latest_run_date(sqlite_warehouse.conn_id, sqlite_warehouse.schema) == date(2024, 4, 19)


def test_the_report_links_are_the_series_latest_result_pages(pg_warehouse: WarehouseTarget) -> None:
    """`read.select_links` (the runs of each series' last day only) gives every series of the window the same
    page as `episodes.latest_links_in` (every run ever loaded), on the realistic organisation: many results
    per series, each with its own URL."""
    from cekura_livekit.warehouse.episodes import latest_links_in
    from tests.support import realistic as R

    series = R._Series.draw(R.SMOKE)
    for day in range(3):
        d = R.day_draw(R.SMOKE, series, day)
        for result_id in sorted(set(d.result_id.tolist())):
            result, runs, kwargs = R.batch_payloads(R.SMOKE, d, d.result_id == result_id)
            load_extract(pg_warehouse.conn_id, extract(result, runs, **kwargs), pg_warehouse.schema)
    refresh_trends(pg_warehouse.conn_id, pg_warehouse.schema)
    with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh:
        frames = read_report_inputs(wh, days=60, today=None)
        cur = wh.conn.cursor()
        every = latest_links_in(wh.dialect, cur)
        cur.close()
        wh.conn.rollback()
    daily = frames["daily"]
    got = {
        (int(a), int(s), m, u): url
        for a, s, m, u, url in zip(
            daily["agent_id"],
            daily["scenario_id"],
            daily["mode"],
            daily["suite"],
            daily["dashboard_url"],
            strict=True,
        )
    }
    assert len(got) == R.SMOKE.agents * R.SMOKE.scenarios
    assert all(url is not None and url.startswith("https://") for url in got.values())
    assert got == {key: every[key] for key in got}
    assert len(set(got.values())) > 1  # each series its own latest result, not one page for all
