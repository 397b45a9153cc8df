"""Each analyst view answers its question on seeded data (SQLite and PostgreSQL); PostgreSQL has comments;
every result and run row keeps its dashboard URL; reads of a missing schema create nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.alerting import detect_and_alert
from cekura_livekit.tasks.trends import refresh_trends
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.read import WarehouseTableMissingError, read_daily
from cekura_livekit.warehouse.views import view_table
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run

END = date(2024, 6, 30)
URL = "https://dashboard.cekura.ai/11/results/1"


def _seed(target: WarehouseTarget) -> None:
    runs: list[dict[str, Any]] = []

    def add(day: date, scenario: int, outcome: str, duration: str = "01:30") -> None:
        run = make_run(len(runs) + 1, day=day, outcome=outcome, scenario=scenario)
        run["duration"] = duration
        runs.append(run)

    for back in range(40, -1, -1):
        day = END - timedelta(days=back)
        for i in range(6):
            add(day, 1, "passed" if back >= 4 or i == 0 else "failed_evaluation")  # drops in the last 4 days
            add(day, 2, "passed" if (back + i) % 2 else "failed_evaluation")  # alternates: flaky
        add(day, 3, "infra_error" if back == 0 else "passed", duration=f"00:{10 + back % 40:02d}")
    frames = extract(make_result(1, runs), mode="managed", suite="nightly", dashboard_url=URL)
    summary = load_extract(target.conn_id, frames, target.schema)
    refreshed = refresh_trends(target.conn_id, target.schema, touched=summary.run_dates)
    detect_and_alert(target.conn_id, target.schema, regression_days=refreshed["regression_days"])


def _view(target: WarehouseTarget, name: str, order: str) -> list[dict[str, Any]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        cols, rows = wh.query(f"SELECT * FROM {wh.dialect.table(view_table(name))} ORDER BY {order}")
    return [dict(zip(cols, r, strict=True)) for r in rows]


def test_views_answer_the_analysts_first_questions(warehouse: WarehouseTarget) -> None:
    _seed(warehouse)
    rates = {r["scenario_id"]: r for r in _view(warehouse, "success_rate_28d", "scenario_id")}
    # 28 days ending on the newest day: 24 good days × 6 + 4 bad days × 1 of 6.
    assert (rates[1]["passed"], rates[1]["evaluated"]) == (24 * 6 + 4, 28 * 6)
    assert rates[1]["success_rate"] == pytest.approx(148 / 168)
    assert str(rates[1]["first_day"])[:10] == (END - timedelta(days=27)).isoformat()
    assert (rates[1]["mode"], rates[1]["suite"]) == ("voice/managed", "nightly")
    regressions = _view(warehouse, "regressions_this_week", "scenario_id")
    assert [(r["scenario_id"], r["state"]) for r in regressions] == [(1, "open")]
    assert [r["scenario_id"] for r in _view(warehouse, "flaky_scenarios", "scenario_id")] == [2]
    p95 = {str(r["run_date"])[:10]: r for r in _view(warehouse, "call_duration_p95", "run_date")}
    # The newest day: 12 evaluated calls of scenarios 1-2 at 90 s (scenario 3 had an infra error): p95 90 s.
    assert (p95[END.isoformat()]["calls"], p95[END.isoformat()]["p95_duration_s"]) == (12, 90)
    # A day with 13 calls: twelve of 90 s and one of 10 + (40 % 40) s: nearest rank ceil(0.95 × 13) = 13 → 90.
    assert p95[(END - timedelta(days=40)).isoformat()]["p95_duration_s"] == 90
    infra = {str(r["run_date"])[:10]: r for r in _view(warehouse, "infra_error_rate_daily", "run_date")}
    assert infra[END.isoformat()]["infra_error_rate"] == pytest.approx(1 / 13)
    assert infra[(END - timedelta(days=1)).isoformat()]["infra_error_rate"] == 0


def test_dashboard_urls_are_stored_and_postgres_has_comments(warehouse: WarehouseTarget) -> None:
    _seed(warehouse)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        d = wh.dialect
        _, results = wh.query(f"SELECT dashboard_url FROM {d.table(_t('results'))}")
        _, runs = wh.query(f"SELECT DISTINCT dashboard_url FROM {d.table(_t('runs'))}")
        assert results == [(URL,)]
        assert runs == [(URL,)]
        if warehouse.dialect == "postgres":
            _, comments = wh.query(
                "SELECT col_description(to_regclass(%s), 1), obj_description(to_regclass(%s), 'pg_class')",
                (d.table(_t("success_rate_daily")), d.table(_t("runs"))),
            )
            column, table = comments[0]
            assert column == "UTC calendar day (YYYY-MM-DD) of the run's start."
            assert "run_date is the UTC calendar day" in table


def _t(name: str) -> Any:
    from cekura_livekit.warehouse.tables import ALL_TABLES

    return next(t for t in ALL_TABLES if t.name == name)


def test_a_read_of_a_missing_schema_creates_nothing(pg_warehouse: WarehouseTarget) -> None:
    with pytest.raises(WarehouseTableMissingError):
        read_daily(pg_warehouse.conn_id, schema=pg_warehouse.schema)
    with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh:
        _, rows = wh.query(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (pg_warehouse.schema,)
        )
    assert rows == []
