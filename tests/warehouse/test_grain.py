"""The trend grain (agent × scenario × mode × suite) on both engines: chat and voice never share a rate,
suites stay apart, one ongoing drop is one episode, and warehouses made before the grain migrate in place."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from cekura_livekit.report.schema import normalize_episodes
from cekura_livekit.results.frames import extract, grain_mode
from cekura_livekit.tasks.alerting import detect_and_alert
from cekura_livekit.tasks.trends import refresh_trends
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.read import read_daily, read_episodes
from cekura_livekit.warehouse.tables import (
    ALERTS,
    EPISODES,
    REGRESSIONS,
    RESULTS,
    RUNS,
    SUCCESS_RATE_DAILY,
    Table,
)
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run


def _runs(start_id: int, day: str, passed: int, failed: int, **kw: Any) -> list[dict[str, Any]]:
    outcomes = ["passed"] * passed + ["failed_evaluation"] * failed
    return [make_run(start_id + i, day=day, outcome=o, **kw) for i, o in enumerate(outcomes)]


def _load(target: WarehouseTarget, result_id: int, runs: list[dict[str, Any]], **kw: Any) -> Any:
    frames = extract(make_result(result_id, runs), **kw)
    return load_extract(target.conn_id, frames, target.schema, recompute_trends=True)


def test_grain_mode_names_channel_and_rooms() -> None:
    assert grain_mode("managed", False) == "voice/managed"
    assert grain_mode("managed", True) == "chat/managed"
    assert grain_mode("bring_your_own_rooms", None) == "voice/byo"
    assert grain_mode("chat", None) == "chat/byo"
    assert grain_mode(None, None) == "voice/unknown"


def test_chat_and_voice_runs_of_one_scenario_never_share_a_rate(warehouse: WarehouseTarget) -> None:
    _load(warehouse, 1, _runs(1, "2024-05-01", 2, 0), mode="chat", suite="nightly")
    _load(warehouse, 2, _runs(100, "2024-05-01", 3, 1), mode="managed", suite="nightly")
    daily = read_daily(warehouse.conn_id, schema=warehouse.schema)
    rows = {r.mode: (r.passed, r.evaluated) for r in daily.itertuples()}
    assert rows == {"chat/byo": (2, 2), "voice/managed": (3, 4)}  # not one row 5/6
    assert set(daily["suite"]) == {"nightly"}


def test_suites_running_one_scenario_stay_apart(warehouse: WarehouseTarget) -> None:
    _load(warehouse, 1, _runs(1, "2024-05-01", 1, 1), mode="managed", suite="nightly")
    _load(warehouse, 2, _runs(100, "2024-05-01", 2, 0), mode="managed", suite="smoke")
    _load(warehouse, 3, _runs(200, "2024-05-01", 1, 0), mode="managed")  # a library load: suite unknown
    daily = read_daily(warehouse.conn_id, schema=warehouse.schema)
    assert dict(zip(daily["suite"], daily["passed"], strict=True)) == {"nightly": 1, "smoke": 2, "": 1}


def _drop_history(first_id: int, end: date, mode: str) -> list[dict[str, Any]]:
    """Seven good weeks, then a drop over the last four days (pass 1 of 6 a day)."""
    runs: list[dict[str, Any]] = []
    next_id = first_id
    for back in range(49, -1, -1):  # the detector watches a series once it has 100 runs over 28 days
        day = (end - timedelta(days=back)).isoformat()
        passed, failed = (1, 5) if back < 4 else (6, 0)
        runs += _runs(next_id, day, passed, failed)
        next_id += 10
    return runs


def test_one_ongoing_drop_is_one_episode_with_daily_evidence(warehouse: WarehouseTarget) -> None:
    end = date(2024, 6, 30)
    summary = load_extract(
        warehouse.conn_id,
        extract(make_result(1, _drop_history(1, end, "managed")), mode="managed", suite="nightly"),
        warehouse.schema,
    )
    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=summary.run_dates)
    outcome = detect_and_alert(
        warehouse.conn_id, warehouse.schema, regression_days=refreshed["regression_days"]
    )
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        _, evidence = wh.query(f"SELECT run_date, severity FROM {wh.dialect.table(REGRESSIONS)}")
        cols, episodes = wh.query(f"SELECT * FROM {wh.dialect.table(EPISODES)}")
    assert len(evidence) >= 3  # the drop is flagged on several window ends …
    assert len(episodes) == 1  # … and is one episode
    episode = dict(zip(cols, episodes[0], strict=True))
    assert episode["state"] == "open"
    assert episode["resolved_on"] is None
    assert (episode["mode"], episode["suite"]) == ("voice/managed", "nightly")
    assert str(episode["started_on"])[:10] == min(str(d)[:10] for d, _ in evidence)
    assert episode["peak_drop"] == pytest.approx(1 - 1 / 6, abs=0.2)
    assert outcome["new_alerts"] == 1
    assert outcome["open_episodes"] == 1
    [row] = read_episodes(warehouse.conn_id, schema=warehouse.schema).to_dict("records")
    assert (row["scenario_id"], row["state"]) == (1, "open")
    shown = normalize_episodes(read_episodes(warehouse.conn_id, schema=warehouse.schema))
    assert shown["scenario_name"].tolist() == ["scenario-1"]
    assert shown["mode"].tolist() == ["voice/managed"]
    assert shown["suite"].tolist() == ["nightly"]
    # Another detection pass over the same days: still one episode, no second alert.
    again = detect_and_alert(
        warehouse.conn_id, warehouse.schema, regression_days=refreshed["regression_days"]
    )
    assert (again["episodes"], again["new_alerts"]) == (1, 0)


def _old(table: Table, dropped: set[str]) -> Table:
    return Table(
        table.name,
        tuple(c for c in table.columns if c[0] not in dropped),
        tuple(k for k in table.key if k not in dropped),
    )


def test_a_warehouse_from_before_the_grain_is_rekeyed_and_backfilled(warehouse: WarehouseTarget) -> None:
    grain = {"mode", "suite", "q_value"}
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        d = wh.dialect
        q = d.quote
        d.ensure_schema(cur)
        for table in (RESULTS, RUNS, SUCCESS_RATE_DAILY, REGRESSIONS, ALERTS):
            for statement in d.create_statements(_old(table, {"suite"} if table is RESULTS else grain)):
                cur.execute(statement)
        cur.execute(
            f"INSERT INTO {d.table(RESULTS)} ({q('result_id')}, {q('mode')}, {q('run_as_text')}) "
            f"VALUES (1, 'managed', {d.param})",
            (d.db_value("bool", False),),
        )
        cur.execute(
            f"INSERT INTO {d.table(RUNS)} ({q('run_id')}, {q('result_id')}, {q('agent_id')}, {q('scenario_id')}, "
            f"{q('outcome')}, {q('run_date')}, {q('dag_id')}) VALUES (1, 1, 7, 8, 'passed', {d.date_param()}, "
            "'cekura_regression_nightly')",
            ("2024-05-01",),
        )
        cur.execute(
            f"INSERT INTO {d.table(SUCCESS_RATE_DAILY)} ({q('run_date')}, {q('agent_id')}, {q('scenario_id')}, "
            f"{q('runs')}) VALUES ({d.date_param()}, 7, 8, 1)",
            ("2024-05-01",),
        )
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        added = ensure_tables(wh.dialect, cur)
        assert any(a.endswith("success_rate_daily.mode") for a in added)
        assert ensure_tables(wh.dialect, cur) == []  # idempotent: the next check finds everything
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        _, runs = wh.query(f"SELECT {q('mode')}, {q('suite')} FROM {wh.dialect.table(RUNS)}")
        _, daily = wh.query(
            f"SELECT {q('mode')}, {q('suite')}, runs FROM {wh.dialect.table(SUCCESS_RATE_DAILY)}"
        )
    assert runs == [("voice/managed", "nightly")]  # backfilled from the result and the DAG id
    assert daily == [("", "", 1)]  # the old row is kept, under the 'unknown' grain
    refresh_trends(warehouse.conn_id, warehouse.schema, touched=["2024-05-01"])
    rebuilt = read_daily(warehouse.conn_id, schema=warehouse.schema)
    assert rebuilt[["mode", "suite", "runs"]].to_dict("records") == [
        {"mode": "voice/managed", "suite": "nightly", "runs": 1}
    ]  # the refresh replaced it: no double count
    assert isinstance(rebuilt, pd.DataFrame)
