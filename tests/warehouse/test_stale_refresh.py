"""Issue 11 item 10: rows loaded while runs were unfinished are reloaded by a later load, not left stale.

Before: when a wait hit its deadline and ending the calls failed, the load stored `in_progress` rows and
nothing ever refreshed them once Cekura finished the runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cekura_sandbox import Sandbox
from tests.support.warehouse import WarehouseTarget


def _unfinished(target: WarehouseTarget, result_id: int) -> int:
    from cekura_livekit.warehouse.connection import open_warehouse
    from cekura_livekit.warehouse.tables import RUNS

    with open_warehouse(target.conn_id, target.schema) as wh:
        _, rows = wh.query(
            f"SELECT COUNT(*) FROM {wh.dialect.table(RUNS)} WHERE result_id = {wh.dialect.param} "
            "AND outcome IS NULL",
            [result_id],
        )
    return int(rows[0][0])


def _load(target: WarehouseTarget, result_id: int, **kwargs: Any) -> dict[str, Any]:
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    return CekuraResultsToWarehouseOperator(
        task_id=f"load_{result_id}",
        result_id=result_id,
        warehouse_conn_id=target.conn_id,
        schema=target.schema,
        **kwargs,
    ).execute({})


def _submit(name: str) -> int:
    from cekura_livekit.hooks.cekura import CekuraHook

    body = {"name": name, "agent": 101, "scenarios": [{"scenario": 2001}, {"scenario": 2002}], "frequency": 2}
    return int(CekuraHook().submit_managed(body)["id"])


def test_unfinished_rows_are_reloaded_by_the_next_load(
    cekura_slow_sandbox: Sandbox, warehouse: WarehouseTarget
) -> None:
    # The real-time sandbox: calls last about a minute, so a load right after the submit sees none finished.
    # Its clock starts hours back so that it can later jump forward (never past the wall clock).
    cekura_slow_sandbox.set_time(datetime.now(UTC) - timedelta(hours=5))
    stale = _submit("stale batch")
    assert _load(warehouse, stale)["refreshed_results"] == []
    assert _unfinished(warehouse, stale) == 4  # loaded right after submitting: nothing finished yet
    cekura_slow_sandbox.set_time(datetime.now(UTC) - timedelta(hours=3))  # Cekura finishes the calls
    nxt = _submit("next batch")
    cekura_slow_sandbox.set_time(datetime.now(UTC))
    summary = _load(warehouse, nxt)
    assert summary["refreshed_results"] == [stale]
    assert _unfinished(warehouse, stale) == 0
    assert _unfinished(warehouse, nxt) == 0
    # A finished result is not fetched again on the load after that.
    before = cekura_slow_sandbox.count("GET", f"/results/{stale}/")
    assert _load(warehouse, nxt)["refreshed_results"] == []
    assert cekura_slow_sandbox.count("GET", f"/results/{stale}/") == before


def test_refresh_can_be_turned_off(cekura_slow_sandbox: Sandbox, sqlite_warehouse: WarehouseTarget) -> None:
    cekura_slow_sandbox.set_time(datetime.now(UTC) - timedelta(hours=5))
    stale = _submit("stale batch")
    _load(sqlite_warehouse, stale)
    cekura_slow_sandbox.set_time(datetime.now(UTC))
    nxt = _submit("next batch")
    assert _load(sqlite_warehouse, nxt, refresh_stale_days=0)["refreshed_results"] == []
    assert _unfinished(sqlite_warehouse, stale) == 4


def _grain(target: WarehouseTarget, result_id: int) -> list[tuple[Any, ...]]:
    from cekura_livekit.warehouse.connection import open_warehouse
    from cekura_livekit.warehouse.tables import RESULTS, RUNS

    with open_warehouse(target.conn_id, target.schema) as wh:
        t, r = wh.dialect.table(RUNS), wh.dialect.table(RESULTS)
        _, runs = wh.query(
            f"SELECT DISTINCT scenario_id, suite, quarantined, dashboard_url, dag_id, dag_run_id, source "
            f"FROM {t} WHERE result_id = {wh.dialect.param} ORDER BY scenario_id",
            [result_id],
        )
        _, results = wh.query(
            f"SELECT suite, quarantine, dashboard_url, dag_id, dag_run_id, source FROM {r} "
            f"WHERE result_id = {wh.dialect.param}",
            [result_id],
        )
    return [tuple(bool(v) if i == 2 else v for i, v in enumerate(row)) for row in runs] + [results[0]]


def test_a_refresh_keeps_the_suite_quarantine_links_and_dag_of_the_first_load(
    cekura_slow_sandbox: Sandbox, warehouse: WarehouseTarget
) -> None:
    """Issue 19 item 5: the refresh re-extracted without suite, quarantine and link, and the upsert overwrote
    them: refreshed runs moved to suite '' (a phantom series), quarantined scenarios became alertable."""
    from types import SimpleNamespace

    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    cekura_slow_sandbox.set_time(datetime.now(UTC) - timedelta(hours=5))
    stale = _submit("stale batch")
    run = SimpleNamespace(dag_id="regression_nightly", run_id="scheduled__1")
    CekuraResultsToWarehouseOperator(
        task_id="load_first",
        result_id=stale,
        warehouse_conn_id=warehouse.conn_id,
        schema=warehouse.schema,
        suite="nightly",
        quarantine=[2002],
        source="airflow",
    ).execute({"dag_run": run})
    before = _grain(warehouse, stale)
    assert before[0][1:3] == ("nightly", False)
    assert before[1][1:3] == ("nightly", True)
    assert before[0][3]
    assert before[0][4:] == ("regression_nightly", "scheduled__1", "airflow")
    assert before[-1][:2] == ("nightly", "[2002]")
    cekura_slow_sandbox.set_time(datetime.now(UTC) - timedelta(hours=3))
    nxt = _submit("next batch")
    cekura_slow_sandbox.set_time(datetime.now(UTC))
    summary = _load(warehouse, nxt, suite="smoke")  # another suite's load refreshes the nightly batch
    assert summary["refreshed_results"] == [stale]
    assert _unfinished(warehouse, stale) == 0
    assert _grain(warehouse, stale) == before
