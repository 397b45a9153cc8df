"""Analytics by agent version (issue 19 item 3): the success rate per version and day, and every regression
episode naming the versions before and after its change point, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.alerting import detect_and_alert
from cekura_livekit.tasks.trends import refresh_trends
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.read import versions_around
from cekura_livekit.warehouse.views import view_table
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run

END = date(2024, 6, 30)
DEPLOY = END - timedelta(days=3)  # v2 ships 3 days before the end, and scenario 1 starts failing


def _seed(target: WarehouseTarget) -> None:
    runs: list[dict[str, Any]] = []
    for back in range(40, -1, -1):
        day = END - timedelta(days=back)
        for i in range(6):
            run = make_run(len(runs) + 1, day=day, scenario=1, outcome="passed")
            if day >= DEPLOY:
                run.update(success=i == 0)  # 1 of 6 passes on v2
            run["agent_version"] = {
                "id": 2 if day >= DEPLOY else 1,
                "version": "v2" if day >= DEPLOY else "v1",
            }
            runs.append(run)
    frames = extract(make_result(1, runs), mode="managed", suite="nightly")
    summary = load_extract(target.conn_id, frames, target.schema)
    refreshed = refresh_trends(target.conn_id, target.schema, touched=summary.run_dates)
    detect_and_alert(target.conn_id, target.schema, regression_days=refreshed["regression_days"])


def _rows(target: WarehouseTarget, sql: str) -> list[dict[str, Any]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        cols, rows = wh.query(sql)
    return [dict(zip(cols, r, strict=True)) for r in rows]


def _view(target: WarehouseTarget, name: str) -> str:
    with open_warehouse(target.conn_id, target.schema) as wh:
        return wh.dialect.table(view_table(name))


def test_success_rate_by_agent_version_and_the_episode_names_the_deploy(warehouse: WarehouseTarget) -> None:
    _seed(warehouse)
    by_version = _rows(
        warehouse,
        f"SELECT agent_version, SUM(runs) AS runs, SUM(passed) AS passed, SUM(failed_evaluation) AS failed "
        f"FROM {_view(warehouse, 'success_rate_by_agent_version')} GROUP BY agent_version ORDER BY agent_version",
    )
    assert [(r["agent_version"], int(r["runs"]), int(r["passed"]), int(r["failed"])) for r in by_version] == [
        ("v1", 37 * 6, 37 * 6, 0),
        ("v2", 4 * 6, 4, 20),
    ]
    (last,) = _rows(
        warehouse,
        f"SELECT * FROM {_view(warehouse, 'success_rate_by_agent_version')} WHERE run_date = "
        f"(SELECT MAX(run_date) FROM {_view(warehouse, 'success_rate_by_agent_version')})",
    )
    assert last["success_rate"] == pytest.approx(1 / 6)
    assert 0 < last["wilson_low"] < 1 / 6 < last["wilson_high"] < 1
    episodes = _rows(warehouse, f"SELECT * FROM {_view(warehouse, 'regression_episode_versions')}")
    assert episodes, "the drop on v2 is a regression episode"
    assert {(e["version_before"], e["version_after"]) for e in episodes} == {("v1", "v2")}
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        key = (1, 1, "voice/managed", "nightly")
        assert versions_around(wh.dialect, cur, key, DEPLOY) == ("v1", "v2")
        assert versions_around(wh.dialect, cur, key, DEPLOY, until=DEPLOY - timedelta(days=1)) == ("v1", None)
        assert versions_around(wh.dialect, cur, (9, 9, "", ""), DEPLOY) == (None, None)
