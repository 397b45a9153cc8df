"""Issue 19 item 6: `rerun_failed` re-runs a batch's failed runs once before the verdict, against the sandbox.

The gate still judges the original runs; the message and the `rerun` XCom say how many failures were
confirmed and how many did not reproduce; both outcomes reach the warehouse (new run ids of the same result).
Before: no such argument existed (every test here fails on the old code with a TypeError).
"""

from __future__ import annotations

from typing import Any

import pytest

from cekura_livekit.compat import AirflowException
from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_sandbox import Sandbox
from tests.support.task_context import MemoryStateStore, make_context
from tests.support.warehouse import WarehouseTarget

RERUN = "/rerun/"


def _op(**kwargs: Any) -> CekuraRunLiveKitScenariosOperator:
    defaults: dict[str, Any] = {
        "task_id": "run_suite",
        "scenarios": [2006],
        "frequency": 8,
        "agent": 101,
        "poll_interval": 0.1,
        "deferrable": False,
        "min_success_rate": 0.0,  # isolate the rerun from the rate gate; fail_on still gates infra errors
        "fail_on": [],
        "hook_params": {"retry_delay": 0.05, "retry_max_delay": 0.2},
    }
    return CekuraRunLiveKitScenariosOperator(**{**defaults, **kwargs})


def _runs_stored(target: WarehouseTarget, result_id: int) -> int:
    from cekura_livekit.warehouse.connection import open_warehouse
    from cekura_livekit.warehouse.tables import RUNS

    with open_warehouse(target.conn_id, target.schema) as wh:
        _, rows = wh.query(
            f"SELECT COUNT(*) FROM {wh.dialect.table(RUNS)} WHERE result_id = {int(result_id)}"
        )
    return int(rows[0][0])


def test_failed_runs_are_rerun_once_and_both_outcomes_are_kept(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict[str, str], sqlite_warehouse: WarehouseTarget
) -> None:
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    ctx = make_context(store=MemoryStateStore())
    summary = _op(rerun_failed=8).execute(ctx)
    failures = summary["failed_evaluation"] + summary["infra_error"] + summary["timeout"]
    assert failures > 0, "seed 7 gives scenario 2006 (pass rate 0.65) failures in 8 runs"
    assert cekura_sandbox.count("POST", RERUN) == 1
    rerun = ctx["ti"].xcoms["rerun"]
    assert rerun["result_id"] == summary["result_id"]  # the rerun's runs belong to the same result
    assert len(rerun["run_ids"]) == failures
    assert not set(rerun["run_ids"]) & set(ctx["ti"].xcoms["run_ids"])  # new run ids
    assert rerun["confirmed"] + rerun["not_reproduced"] + rerun["unfinished"] == failures
    assert rerun["unfinished"] == 0
    # The gate judged the ORIGINAL runs: the summary counts are the batch's, not the rerun's.
    assert summary["total"] == 8
    loaded = CekuraResultsToWarehouseOperator(
        task_id="load", result_id=summary["result_id"], warehouse_conn_id=sqlite_warehouse.conn_id
    ).execute({})
    assert loaded["runs"] == 8 + failures
    assert _runs_stored(sqlite_warehouse, summary["result_id"]) == 8 + failures  # both outcomes kept


def test_a_failing_gate_still_fails_and_says_what_the_rerun_showed(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict[str, str]
) -> None:
    ctx = make_context(store=MemoryStateStore())
    with pytest.raises(AirflowException) as failed:
        _op(rerun_failed=8, min_success_rate=None).execute(ctx)  # every evaluated run must pass
    message = str(failed.value)
    assert "Re-run of the failed runs" in message
    assert "confirmed" in message
    assert "not reproduced" in message
    assert "The gate judges the original runs." in message
    assert ctx["ti"].xcoms["rerun"]["run_ids"]


def test_no_rerun_by_default_nor_beyond_the_limit(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict[str, str]
) -> None:
    _op().execute(make_context(store=MemoryStateStore()))
    assert cekura_sandbox.count("POST", RERUN) == 0
    ctx = make_context(store=MemoryStateStore())
    _op(rerun_failed=1, frequency=12).execute(ctx)
    assert cekura_sandbox.count("POST", RERUN) == 0  # more than 1 failure: looks like a regression
    assert "more than rerun_failed=1" in ctx["ti"].xcoms["rerun"]["note"]


def test_a_passing_batch_is_not_rerun(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict[str, str]
) -> None:
    ctx = make_context(store=MemoryStateStore())
    summary = _op(scenarios=[2001], frequency=1, rerun_failed=3).execute(ctx)
    assert summary["passed"] == 1
    assert cekura_sandbox.count("POST", RERUN) == 0
    assert "rerun" not in ctx["ti"].xcoms


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rerun_failed": -1}, "rerun_failed=-1 must be a whole number"),
        ({"rerun_failed": True}, "rerun_failed=True must be a whole number"),
        (
            {
                "rerun_failed": 2,
                "mode": "bring_your_own_rooms",
                "livekit_conn_id": "lk",
                "livekit_agent_name": "a",
            },
            "needs mode='managed'",
        ),
    ],
)
def test_bad_rerun_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _op(**kwargs)
