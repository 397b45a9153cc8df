"""Fetch + operator against the real CekuraHook and the local Cekura sandbox, loading a real warehouse."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from cekura_livekit.assets import ASSET_SCHEME, warehouse_assets
from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.models import ResultSummary
from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator, coerce_result_id
from cekura_livekit.results.fetch import MissingRunsError, fetch_result_with_runs
from cekura_livekit.warehouse.dialects import open_warehouse
from cekura_livekit.warehouse.tables import RUN_METRICS, RUNS
from tests.fixtures.warehouse import WarehouseTarget


def _finished_result(hook: CekuraHook, scenarios: Sequence[int], frequency: int = 2) -> int:
    submitted = hook.submit_managed(
        {
            "scenarios": [{"scenario": s} for s in scenarios],
            "agent": 101,
            "frequency": frequency,
            "name": f"warehouse-test-{uuid.uuid4().hex[:8]}",
        }
    )
    result_id = int(submitted["id"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ResultSummary.from_result(hook.get_result(result_id)).is_terminal:
            return result_id
        time.sleep(0.2)
    raise AssertionError(f"sandbox result {result_id} did not finish in 60 s")


@pytest.fixture
def hook(cekura_sandbox_connections: dict[str, str]) -> Iterator[CekuraHook]:
    h = CekuraHook("cekura_default", retry_delay=0.05, retry_max_delay=0.2)
    yield h
    h.close()


def test_fetch_returns_every_run_as_a_full_object(hook: CekuraHook, cekura_sandbox: Any) -> None:
    result_id = _finished_result(hook, [2001, 2003, 2006], frequency=2)
    result, runs = fetch_result_with_runs(hook, result_id)
    assert result["id"] == result_id
    assert len(runs) == 6
    assert sorted(int(r["id"]) for r in runs) == sorted(int(k) for k in result["runs"])
    assert all("status" in r and "scenario" in r for r in runs)
    assert cekura_sandbox.count("GET", "bulk") >= 1


class DroppingBulkHook(CekuraHook):
    """The bulk endpoint 'forgets' some ids (as the API may), to exercise the runs-list fallback."""

    drop: set[int] = set()  # noqa: RUF012
    hide_from_list: set[int] = set()  # noqa: RUF012

    def get_runs_bulk(self, run_ids: Sequence[int]) -> list[dict[str, Any]]:
        return [r for r in super().get_runs_bulk(run_ids) if int(r["id"]) not in self.drop]

    def iter_runs(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return (r for r in super().iter_runs(**kwargs) if int(r["id"]) not in self.hide_from_list)


def test_missing_bulk_runs_fall_back_to_the_runs_list(
    cekura_sandbox_connections: dict[str, str], cekura_sandbox: Any
) -> None:
    hook = DroppingBulkHook("cekura_default", retry_delay=0.05)
    result_id = _finished_result(hook, [2001, 2002], frequency=2)
    ids = sorted(int(k) for k in hook.get_result(result_id)["runs"])
    hook.drop = {ids[0], ids[-1]}
    cekura_sandbox.clear_requests()
    _, runs = fetch_result_with_runs(hook, result_id)
    assert sorted(int(r["id"]) for r in runs) == ids
    assert cekura_sandbox.count("GET", "/runs") >= 2  # bulk, then the paginated list

    hook.hide_from_list = {ids[-1]}
    with pytest.raises(MissingRunsError, match=str(ids[-1])) as info:
        fetch_result_with_runs(hook, result_id)
    assert info.value.missing == [ids[-1]]
    hook.close()


@pytest.mark.parametrize("bad", [0, -3, "abc", True, None])
def test_bad_result_id_is_rejected_before_any_request(bad: object) -> None:
    with pytest.raises(ValueError, match="result_id"):
        coerce_result_id(bad)


def test_result_id_from_xcom_shapes() -> None:
    assert coerce_result_id(" 42 ") == 42
    assert coerce_result_id({"result_id": 7, "status": "completed"}) == 7
    assert coerce_result_id({"id": "9"}) == 9


def test_operator_loads_a_sandbox_result_and_returns_a_small_summary(
    hook: CekuraHook, warehouse: WarehouseTarget
) -> None:
    result_id = _finished_result(hook, [2001, 2003], frequency=3)
    op = CekuraResultsToWarehouseOperator(
        task_id="to_warehouse",
        result_id=str(result_id),
        warehouse_conn_id=warehouse.conn_id,
        schema=warehouse.schema,
        mode="managed",
    )
    assert [a.uri for a in op.outlets] == [
        a.uri for a in warehouse_assets(warehouse.conn_id, warehouse.schema)
    ]
    summary = op.execute(context={})
    json.dumps(summary)  # XCom-safe
    assert summary["result_id"] == result_id
    assert summary["runs"] == 6
    assert summary["results"] == 1
    assert summary["run_metrics"] > 0
    assert summary["run_dates"]
    assert "rows" not in json.dumps(summary).lower().replace("daily_rows", "")
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        _, rows = wh.query(
            f"SELECT COUNT(*), COUNT(outcome) FROM {wh.dialect.table(RUNS)} WHERE result_id = {int(result_id)}"
        )
        _, metric_rows = wh.query(f"SELECT COUNT(*) FROM {wh.dialect.table(RUN_METRICS)}")
    assert rows[0] == (6, 6)  # every run terminal with an outcome
    assert metric_rows[0][0] == summary["run_metrics"]
    # reloading the same result changes nothing
    again = op.execute(context={})
    assert again["changed"] == {"results": 0, "runs": 0, "run_metrics": 0}


def test_warehouse_assets_have_stable_uris_airflow_keeps() -> None:
    assets = warehouse_assets("analytics_pg", "cekura")
    assert [a.uri for a in assets] == [
        f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_results",
        f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_runs",
        f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_run_metrics",
        f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_success_rate_daily",
        f"{ASSET_SCHEME}://analytics_pg/cekura/cekura_regressions",
    ]
    assert assets[1].name == "cekura_warehouse.analytics_pg.cekura.cekura_runs"
    assert warehouse_assets("analytics_pg", "cekura") == assets
    with pytest.raises(ValueError, match="schema="):
        warehouse_assets("analytics_pg", "bad schema")


@pytest.mark.parametrize("missing", [None, "", "None"])
def test_nothing_submitted_upstream_skips_the_load(missing: object) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    op = CekuraResultsToWarehouseOperator(task_id="load", result_id=missing, warehouse_conn_id="unused")  # type: ignore[arg-type]
    with pytest.raises(AirflowSkipException, match="nothing was submitted"):
        op.execute({})
