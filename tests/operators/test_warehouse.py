"""Fetch + operator against the real CekuraHook and the local Cekura sandbox, loading a real warehouse."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from cekura_livekit.assets import RUN_DATES_EXTRA, fact_assets
from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.models import ResultSummary
from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator, coerce_result_id
from cekura_livekit.results.fetch import MissingRunsError, fetch_result_with_runs
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.tables import RESULTS, RUN_METRICS, RUNS, SUCCESS_RATE_DAILY
from tests.support.warehouse import WarehouseTarget


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


class _OutletEvents(dict):
    """Stands in for Airflow's outlet-event accessors: `events[asset].extra = {...}`."""

    class _Accessor:
        def __init__(self) -> None:
            self.extra: dict[str, Any] = {}

    def __missing__(self, asset: Any) -> Any:
        self[asset] = self._Accessor()
        return self[asset]

    @property
    def extras(self) -> dict[str, dict[str, Any]]:
        return {asset.name: accessor.extra for asset, accessor in self.items()}


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


@pytest.mark.parametrize("bad", [0, -3, "abc", True, None, "²", "٣", {"result_id": "²"}])
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
    assert op.outlets == fact_assets(warehouse.conn_id, warehouse.schema)
    events = _OutletEvents()
    summary = op.execute(context={"outlet_events": events})
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
        _, daily = wh.query(f"SELECT COUNT(*) FROM {wh.dialect.table(SUCCESS_RATE_DAILY)}")
    assert rows[0] == (6, 6)  # every run terminal with an outcome
    assert metric_rows[0][0] == summary["run_metrics"]
    # Facts only: the trends DAG derives the daily table from the dates announced in the events' extra.
    assert daily[0] == (0,)
    assert summary["daily_rows"] == 0
    assert set(events.extras) == {a.name for a in fact_assets(warehouse.conn_id, warehouse.schema)}
    for extra in events.extras.values():
        assert extra == {RUN_DATES_EXTRA: summary["run_dates"], "trailing_days": 28, "result_id": result_id}
    # reloading the same result changes nothing
    again = op.execute(context={})
    assert again["changed"] == {"results": 0, "runs": 0, "run_metrics": 0}


@pytest.mark.parametrize("missing", [None, "", "None"])
def test_nothing_submitted_upstream_skips_the_load(missing: object) -> None:
    from cekura_livekit.compat import AirflowSkipException
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    op = CekuraResultsToWarehouseOperator(task_id="load", result_id=missing, warehouse_conn_id="unused")  # type: ignore[arg-type]
    with pytest.raises(AirflowSkipException, match="nothing was submitted"):
        op.execute({})


def test_a_load_without_mode_learns_it_instead_of_splitting_the_trends(
    hook: CekuraHook, sqlite_warehouse: WarehouseTarget
) -> None:
    """Issue 20.6: used as the README showed (no `mode`), the rows were `voice/unknown`: a fourth series."""
    from cekura_livekit.models import learned_mode

    result_id = _finished_result(hook, [2001], frequency=2)
    CekuraResultsToWarehouseOperator(
        task_id="load", result_id=result_id, warehouse_conn_id=sqlite_warehouse.conn_id, suite="adhoc"
    ).execute(context={})
    with open_warehouse(sqlite_warehouse.conn_id, sqlite_warehouse.schema) as wh:
        _, rows = wh.query(f"SELECT DISTINCT mode, suite FROM {wh.dialect.table(RUNS)}")
    assert rows == [("voice/managed", "adhoc")]
    assert learned_mode({"run_as_text": True})[0] == "chat"
    assert learned_mode({"run_as_text": False})[0] == "managed"


def test_an_unknown_mode_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"mode='byo' is not a submission mode: use one of"):
        CekuraResultsToWarehouseOperator(task_id="load", result_id=1, warehouse_conn_id="wh", mode="byo")


def test_batches_the_submit_task_replaced_are_loaded_too(
    hook: CekuraHook, cekura_sandbox: Any, warehouse: WarehouseTarget
) -> None:
    """Issue 24.4: a retry that replaced a dead batch pushes its id (`superseded_result_ids`); every batch that was
    paid for is stored, so its infra errors reach the trends. Before, only the pushed `result_id` was loaded."""
    from cekura_livekit.batch.submit import SUPERSEDED_KEY
    from tests.support.task_context import FakeTI, make_context

    dead, live = _finished_result(hook, [2006], frequency=2), _finished_result(hook, [2001], frequency=2)

    class SubmitXComs(FakeTI):
        def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
            return [dead] if (task_ids, key) == ("run_scenarios", SUPERSEDED_KEY) else None

    op = CekuraResultsToWarehouseOperator(
        task_id="load_results",
        result_id=live,
        warehouse_conn_id=warehouse.conn_id,
        schema=warehouse.schema,
        mode="managed",
        suite="nightly",
        recover_from="run_scenarios",
    )
    out = op.execute(make_context(SubmitXComs(task_id="load_results")))
    assert out["superseded_results_loaded"] == [dead]
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        _, rows = wh.query(
            f"SELECT result_id, COUNT(*), MIN(suite) FROM {wh.dialect.table(RUNS)} GROUP BY result_id ORDER BY 1"
        )
    assert [(int(r), int(n), s) for r, n, s in rows] == sorted([(dead, 2, "nightly"), (live, 2, "nightly")])


def test_the_load_summary_counts_metrics_it_could_not_read(
    hook: CekuraHook, cekura_sandbox: Any, warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19.1: a metric of an unknown shape is stored as sent and counted in the load's summary, never
    dropped silently."""
    import cekura_livekit.results.fetch as fetch_module

    result_id = _finished_result(hook, [2001], frequency=1)
    real = fetch_module.fetch_result_with_runs

    def with_odd_metric(h: Any, rid: int) -> Any:
        result, runs = real(h, rid)
        for run in runs:
            run.setdefault("evaluation", {}).setdefault("metrics", []).append(
                {"id": 999, "name": "mystery", "eval_type": "hologram", "verdict": "?"}
            )
        return result, runs

    monkeypatch.setattr(fetch_module, "fetch_result_with_runs", with_odd_metric)
    op = CekuraResultsToWarehouseOperator(
        task_id="load_results",
        result_id=result_id,
        warehouse_conn_id=warehouse.conn_id,
        schema=warehouse.schema,
        mode="managed",
    )
    out = op.execute({})
    assert out["metric_problems"] == 1
    assert out["metric_problem_examples"][0]["metric_id"] == "999"


def test_a_sandbox_load_stores_the_run_facts_and_who_started_it(
    hook: CekuraHook, sqlite_warehouse: WarehouseTarget
) -> None:
    """Issue 19 item 3: agent version, recording, transcript, provider call id, trace id and credits land in
    the warehouse from Cekura's own field names; `source` says who started the result."""
    result_id = _finished_result(hook, [2001, 2003], frequency=2)
    CekuraResultsToWarehouseOperator(
        task_id="load", result_id=result_id, warehouse_conn_id=sqlite_warehouse.conn_id, source="ci"
    ).execute(context={})
    with open_warehouse(sqlite_warehouse.conn_id, sqlite_warehouse.schema) as wh:
        _, rows = wh.query(
            "SELECT outcome, agent_version, voice_recording_url, has_transcript, provider_call_id, trace_id, "
            f"credits, source FROM {wh.dialect.table(RUNS)} WHERE result_id = {int(result_id)}"
        )
        _, results = wh.query(f"SELECT agent_version, source FROM {wh.dialect.table(RESULTS)}")
    assert results == [("2026.11.1", "ci")]
    assert len(rows) == 4
    for outcome, version, recording, transcript, call_id, trace, credits, source in rows:
        assert (version, source) == ("2026.11.1", "ci")
        assert trace
        assert len(trace) == 32
        assert credits is not None
        assert credits >= 0
        if outcome in ("passed", "failed_evaluation"):
            assert recording
            assert recording.endswith(".wav")
            assert bool(transcript) is True
            assert call_id
