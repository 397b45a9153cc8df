"""Issue 19 item 2: every result of the team reaches the warehouse incrementally, whoever started it.

Against the sandbox (its cron-like generator makes results no Airflow task submitted) and a real warehouse.
Before this, nothing loaded a result that no Airflow task had submitted: every test here fails on old code.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.models import ResultSummary
from cekura_livekit.sync.run import Scope, ScopeSync, SyncSettings
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.sync_state import read_state
from cekura_livekit.warehouse.tables import RESULTS, RUNS
from cekura_sandbox import Sandbox
from tests.support.warehouse import WarehouseTarget

NOW_MINUS = timedelta(hours=2)


def _sync(target: WarehouseTarget, scope: Scope | None = None, **kwargs: Any) -> Any:
    settings = SyncSettings(target.conn_id, target.schema)
    return ScopeSync(CekuraHook(), settings, scope or Scope("agent:101", agent_id=101)).run(**kwargs)


def _wait_finished(result_id: int, timeout: float = 60.0) -> None:
    hook = CekuraHook()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ResultSummary.from_result(hook.get_result(result_id)).is_terminal:
            return
        time.sleep(0.1)
    raise AssertionError(f"result {result_id} did not finish")


def _rows(target: WarehouseTarget, sql: str) -> list[tuple[Any, ...]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        _, rows = wh.query(sql.format(results=wh.dialect.table(RESULTS), runs=wh.dialect.table(RUNS)))
    return rows


@pytest.fixture
def sandbox_now(cekura_sandbox: Sandbox, cekura_sandbox_connections: dict[str, str]) -> Sandbox:
    """The fast sandbox with its clock near the wall clock, so the sync's real `now` windows see its results."""
    cekura_sandbox.set_time(datetime.now(UTC) - NOW_MINUS)
    return cekura_sandbox


def test_a_cron_result_reaches_the_warehouse_with_source_cron(
    sandbox_now: Sandbox, warehouse: WarehouseTarget
) -> None:
    cron = int(sandbox_now.create_result("cron", 101, [2001, 2002])["id"])
    ci = int(sandbox_now.create_result("ci", 101, [2001])["id"])
    other_agent = int(sandbox_now.create_result("cron", 102, [2101])["id"])
    _wait_finished(cron)
    _wait_finished(ci)
    summary = _sync(warehouse)
    assert sorted(summary.loaded) == sorted([cron, ci])  # agent 101's scope only
    assert summary.sources == {"cron": 1, "ci": 1}
    assert _rows(warehouse, f"SELECT COUNT(*) FROM {{runs}} WHERE result_id = {cron}") == [(2,)]
    assert _rows(warehouse, f"SELECT COUNT(*) FROM {{results}} WHERE result_id = {other_agent}") == [(0,)]
    assert dict(_rows(warehouse, "SELECT result_id, source FROM {results}")) == {cron: "cron", ci: "ci"}
    assert set(_rows(warehouse, "SELECT DISTINCT source FROM {runs}")) == {("cron",), ("ci",)}


def test_the_watermark_survives_and_the_next_sync_reads_only_new_results(
    sandbox_now: Sandbox, sqlite_warehouse: WarehouseTarget
) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    first = int(sandbox_now.create_result("dashboard", 101, [2001], at=start)["id"])
    second = int(sandbox_now.create_result("dashboard", 101, [2001], at=start + timedelta(hours=1))["id"])
    for rid in (first, second):
        _wait_finished(rid)
    one = _sync(sqlite_warehouse)
    assert sorted(one.loaded) == [first, second]
    with open_warehouse(sqlite_warehouse.conn_id, sqlite_warehouse.schema) as wh:
        state = read_state(wh, "agent:101")  # a new process reads the same row
    assert state.watermark == start + timedelta(hours=1)
    third = int(sandbox_now.create_result("api", 101, [2002], at=start + timedelta(hours=2))["id"])
    _wait_finished(third)
    two = _sync(sqlite_warehouse)
    # The window starts 15 minutes (the overlap) before the watermark: the newest result of the last pass is
    # read again (a harmless upsert), the older one is not read at all.
    assert two.loaded == [third, second]
    assert two.sources == {"unknown": 2}  # no name convention marks dashboard or API results: not guessed


def test_a_crash_between_the_loads_and_the_watermark_loses_and_duplicates_nothing(
    sandbox_now: Sandbox, warehouse: WarehouseTarget
) -> None:
    ids = [int(sandbox_now.create_result("cron", 101, [2001, 2005])["id"]) for _ in range(2)]
    for rid in ids:
        _wait_finished(rid)

    def crash(_: Any) -> None:
        raise RuntimeError("worker killed after the loads committed, before the watermark")

    with pytest.raises(RuntimeError, match="worker killed"):
        _sync(warehouse, before_save=crash)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        assert read_state(wh, "agent:101").watermark is None  # not advanced
    assert _rows(warehouse, "SELECT COUNT(*) FROM {runs}") == [(4,)]  # the loads did commit
    again = _sync(warehouse)  # the retry repeats the window...
    assert sorted(again.loaded) == sorted(ids)
    assert _rows(warehouse, "SELECT COUNT(*), COUNT(DISTINCT run_id) FROM {runs}") == [
        (4, 4)
    ]  # ...no duplicate
    assert _rows(warehouse, "SELECT COUNT(*) FROM {results}") == [(2,)]
    assert again.watermark is not None


def test_a_backfill_loads_a_date_range_and_leaves_the_watermark(
    sandbox_now: Sandbox, sqlite_warehouse: WarehouseTarget
) -> None:
    base = datetime.now(UTC) - timedelta(days=40)
    old = [
        int(sandbox_now.create_result("cron", 101, [2001], at=base + timedelta(days=d))["id"])
        for d in (0, 5, 10)
    ]
    recent = int(sandbox_now.create_result("cron", 101, [2001])["id"])
    for rid in [*old, recent]:
        _wait_finished(rid)
    incremental = _sync(sqlite_warehouse)  # first sync: looks back initial_days (7) only
    assert incremental.loaded == [recent]
    watermark = incremental.watermark
    backfill = _sync(sqlite_warehouse, since=base - timedelta(hours=1), until=base + timedelta(days=6))
    assert backfill.backfill
    assert sorted(backfill.loaded) == old[:2]  # day 0 and day 5; day 10 is outside [since, until)
    with open_warehouse(sqlite_warehouse.conn_id, sqlite_warehouse.schema) as wh:
        assert read_state(wh, "agent:101").watermark.isoformat() == watermark  # type: ignore[union-attr]


def test_an_in_progress_result_is_revisited_until_it_is_terminal(
    cekura_slow_sandbox: Sandbox, sqlite_warehouse: WarehouseTarget
) -> None:
    cekura_slow_sandbox.set_time(datetime.now(UTC) - timedelta(hours=5))
    rid = int(cekura_slow_sandbox.create_result("cron", 101, [2001, 2002])["id"])
    first = _sync(sqlite_warehouse)
    assert first.loaded == [rid]
    assert first.pending == [rid]
    assert _rows(sqlite_warehouse, f"SELECT COUNT(outcome) FROM {{runs}} WHERE result_id = {rid}") == [(0,)]
    # Hours later the result has long left the overlap window; only the revisit list brings it back.
    cekura_slow_sandbox.set_time(datetime.now(UTC) - timedelta(hours=1))
    second = _sync(sqlite_warehouse)
    assert second.revisited == [rid]
    assert second.pending == []
    assert _rows(sqlite_warehouse, f"SELECT COUNT(outcome) FROM {{runs}} WHERE result_id = {rid}") == [(2,)]
    third = _sync(sqlite_warehouse)
    assert third.revisited == []  # terminal: not fetched again


def test_the_sync_and_the_per_batch_load_store_one_row(
    sandbox_now: Sandbox, warehouse: WarehouseTarget
) -> None:
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    name = "nightly · airflow regression.run_scenarios @ scheduled__2026-06-01T00:00:00+00:00"
    rid = int(
        CekuraHook().submit_managed({"agent": 101, "name": name, "scenarios": [{"scenario": 2001}]})["id"]
    )
    _wait_finished(rid)
    CekuraResultsToWarehouseOperator(
        task_id="load",
        result_id=rid,
        warehouse_conn_id=warehouse.conn_id,
        schema=warehouse.schema,
        suite="nightly",
    ).execute({})
    summary = _sync(warehouse)
    assert summary.sources == {"airflow": 1}
    assert _rows(warehouse, f"SELECT COUNT(*) FROM {{results}} WHERE result_id = {rid}") == [(1,)]
    assert _rows(warehouse, f"SELECT COUNT(*) FROM {{runs}} WHERE result_id = {rid}") == [(1,)]


def test_the_sync_keeps_the_per_batch_loads_suite(sandbox_now: Sandbox, warehouse: WarehouseTarget) -> None:
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    name = "nightly · airflow regression.run_scenarios @ scheduled__2026-06-02T00:00:00+00:00"
    rid = int(
        CekuraHook().submit_managed({"agent": 101, "name": name, "scenarios": [{"scenario": 2001}]})["id"]
    )
    _wait_finished(rid)
    CekuraResultsToWarehouseOperator(
        task_id="load",
        result_id=rid,
        warehouse_conn_id=warehouse.conn_id,
        schema=warehouse.schema,
        suite="nightly",
        mode="bring_your_own_rooms",  # what a learned mode would get wrong: only the stored row knows it
    ).execute({})
    before = _rows(
        warehouse, f"SELECT suite, mode, source, dashboard_url FROM {{runs}} WHERE result_id = {rid}"
    )
    assert before[0][0] == "nightly"
    _sync(warehouse)
    after = _rows(
        warehouse, f"SELECT suite, mode, source, dashboard_url FROM {{runs}} WHERE result_id = {rid}"
    )
    assert after == before  # suite, mode grain, source and link as the per-batch load stored them
