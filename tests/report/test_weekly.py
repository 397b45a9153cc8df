"""The weekly read on a real warehouse (SQLite and PostgreSQL): dated reports kept with an index, week over
week per agent and mode, latency charts, batch diffs, episodes with dashboard links, scored flakiness."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.alerting import detect_and_alert
from cekura_livekit.tasks.report import render_weekly_report
from cekura_livekit.tasks.trends import refresh_trends
from cekura_livekit.warehouse.writer import load_extract
from tests.support.chromium import chromium_or_skip, run_chromium
from tests.support.html_dom import Dom, section_html
from tests.support.warehouse import WarehouseTarget, make_result
from tests.warehouse.test_metrics import _latency_history

URL = "https://dashboard.cekura.ai/11/results/"


def _load_history(target: WarehouseTarget) -> None:
    runs = [
        *_latency_history(False, seed=1, first_id=1, scenario=1),
        *_latency_history(True, seed=3, first_id=500, scenario=2),
    ]
    by_day: dict[str, list] = {}
    for run in runs:
        by_day.setdefault(run["timestamp"][:10], []).append(run)
    touched: list[str] = []
    for result_id, (day, day_runs) in enumerate(sorted(by_day.items()), start=1):
        for run in day_runs:
            run["result_id"] = result_id
        result = make_result(result_id, day_runs)
        result["created_at"] = f"{day}T03:00:00Z"
        chat = result_id % 2 == 0  # every other day the suite ran in chat mode
        frames = extract(
            result, mode="chat" if chat else "managed", suite="nightly", dashboard_url=f"{URL}{result_id}"
        )
        touched += load_extract(target.conn_id, frames, target.schema).run_dates
    refreshed = refresh_trends(target.conn_id, target.schema, touched=touched)
    detect_and_alert(target.conn_id, target.schema, regression_days=refreshed["regression_days"])


def test_weekly_reports_are_dated_indexed_and_readable(warehouse: WarehouseTarget, tmp_path: Path) -> None:
    _load_history(warehouse)
    folder = tmp_path / "weekly"
    first = render_weekly_report(warehouse.conn_id, warehouse.schema, str(folder), today=date(2024, 6, 10))
    second = render_weekly_report(warehouse.conn_id, warehouse.schema, str(folder), today=date(2024, 6, 17))
    assert Path(first["destination"]).name == "cekura_report_2024-06-10.html"
    assert Path(second["destination"]).name == "cekura_report_2024-06-17.html"
    assert Path(first["destination"]).exists()  # last week's report is kept
    assert second["reports"] == 2
    index = (folder / "index.html").read_text()
    assert re.findall(r'href="([^"]+)"', index) == [
        "cekura_report_2024-06-17.html",
        "cekura_report_2024-06-10.html",
    ]

    page = Path(second["destination"]).read_text()
    wow = section_html(page, "week")
    modes = re.findall(r'<td class="name">[^<]*</td><td>([^<]+)</td>', wow)
    assert sorted(modes) == ["chat/byo", "voice/managed"]  # chat and voice apart, per agent
    assert re.search(r'<td class="num">[−+]\d+\.\d to [−+]\d+\.\d</td>', wow)  # the change's 95% interval
    latency = section_html(page, "latency")
    figures = Dom(latency).find("figure")
    # One panel per metric × agent × mode: latency (ms) and call duration (s) are never pooled.
    assert sorted(
        (f["attrs"]["data-metric-id"], f["attrs"]["data-latency"].split(" · ")[-1]) for f in figures
    ) == [
        ("0", "chat/byo"),
        ("0", "voice/managed"),
        ("7", "chat/byo"),
        ("7", "voice/managed"),
    ]
    assert "p95" in latency
    assert latency.count('<svg class="chart chart-latency"') == 4  # markup, not escaped text
    # The seeded 40 % drift of scenario 2 is listed once (its newest detection), the steady scenario 1 not,
    # and the row links to the scenario's latest result page.
    drift = re.findall(r'<td class="name"><a href="[^"]+">(scenario-\d)</a></td><td>([^<]+)</td>', latency)
    assert [name for name, _ in drift] == ["scenario-2"]
    diffs = section_html(page, "batch-diff")
    assert re.search(rf'<a href="{URL}\d+">', diffs)
    flaky = section_html(page, "flaky")
    assert "Score" in flaky
    assert "<script" not in page


@pytest.mark.chromium
def test_weekly_report_in_headless_chromium(sqlite_warehouse: WarehouseTarget, tmp_path: Path) -> None:
    """The weekly sections survive a real browser offline: latency charts are SVG, links are anchors."""
    browser = chromium_or_skip()
    _load_history(sqlite_warehouse)
    out = render_weekly_report(
        sqlite_warehouse.conn_id, sqlite_warehouse.schema, str(tmp_path), today=date(2024, 6, 17)
    )
    result = run_chromium(browser, tmp_path / "profile", "--dump-dom", Path(out["destination"]).as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert re.findall(r'<svg[^>]*data-chart="([^"]+)"', dom).count("latency") == 4  # 2 metrics × 2 modes
    for section in ("week", "latency", "batch-diff", "regressions", "flaky"):
        assert f'id="{section}"' in dom
    assert re.search(rf'<a href="{URL}\d+">', dom)


def test_week_over_week_marks_only_changes_its_interval_shows() -> None:
    """Issue 25.8: one failure in a week of 35 runs gets no marker; a 20-point drop on the same volume does."""
    import pandas as pd

    from cekura_livekit.report.weekly import week_over_week

    def week(agent: int, mode: str, first_day: int, passed: int, failed: int) -> list[dict]:
        return [
            {
                "run_date": pd.Timestamp(2024, 6, first_day + d),
                "agent_id": agent,
                "agent_name": f"agent-{agent}",
                "mode": mode,
                "runs": 5,
                "passed": passed,
                "evaluated": passed + failed,
                "infra_errors": 0,
            }
            for d in range(7)
        ]

    rows = [
        *week(1, "voice/managed", 3, 5, 0),
        *week(1, "voice/managed", 10, 4, 1),  # 100% → 80%: shown
        *week(2, "chat/byo", 3, 4, 1),
        *week(2, "chat/byo", 10, 4, 1),  # unchanged
        *week(3, "voice/managed", 3, 5, 0),
        *week(3, "voice/managed", 10, 5, 0),
    ]
    rows[-1]["passed"], rows[-1]["evaluated"] = 4, 5  # one failure in a week: noise
    found = {r["agent_id"]: r for r in week_over_week(pd.DataFrame(rows), date(2024, 6, 16))}
    assert found[1]["direction"] == "down"
    assert found[1]["change"] == "−20.0 pts"
    assert found[2]["direction"] == "flat"
    assert found[3]["direction"] == "flat"
    assert found[3]["change"] == "−2.9 pts"
    assert found[3]["interval"].startswith("−")
