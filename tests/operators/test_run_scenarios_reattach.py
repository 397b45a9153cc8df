"""Re-attach without trusting `name` on v1 / chat (issue 10): the sandbox's switch drops it as the real
endpoint may; the operator must still find its batch (second key: results newer than the high-water mark
recorded before the submit, same agent, mode and scenario multiset) or fail clearly, never duplicate."""

from __future__ import annotations

from typing import Any

import pytest

from cekura_livekit.batch.submit import AmbiguousBatchError
from cekura_livekit.hooks.errors import CekuraServerError
from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_sandbox import Sandbox
from tests.support.task_context import FakeTI, MemoryStateStore, make_context

SUBMIT_V1 = "scenarios-external/run_scenarios_livekit/"
SUBMIT_CHAT = "scenarios-external/run_scenarios_livekit_chat/"


@pytest.fixture(params=[False, True], ids=["name-kept", "name-dropped"])
def sandbox(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox(seed=7, speed=600.0, ignore_v1_name=request.param) as sb:
        for key, value in sb.connection_env().items():
            monkeypatch.setenv(key, value)
        yield sb


def _op(mode: str = "bring_your_own_rooms", **kwargs: Any) -> CekuraRunLiveKitScenariosOperator:
    defaults: dict[str, Any] = {
        "task_id": "run_suite",
        "scenarios": [2001, 2002],
        "frequency": 2,
        "agent": 101,
        "mode": mode,
        "livekit_conn_id": "livekit_default",
        "livekit_agent_name": "acme-support",
        "poll_interval": 0.1,
        "deferrable": False,
        "wait_for_completion": False,
        "hook_params": {"retry_limit": 0},
    }
    return CekuraRunLiveKitScenariosOperator(**{**defaults, **kwargs})


@pytest.mark.parametrize("mode", ["bring_your_own_rooms", "chat"])
def test_submit_without_answer_recovers_the_batch(sandbox: Sandbox, mode: str) -> None:
    """The submit lands but its answer is lost: the same try finds the batch (by name, or by the
    second key when the name was dropped) and goes on with it."""
    path = SUBMIT_CHAT if mode == "chat" else SUBMIT_V1
    sandbox.inject_fault(path_contains=path, kind="drop", times=1)
    ctx = make_context(store=MemoryStateStore())
    _op(mode).execute(ctx)
    assert sandbox.count("POST", path) == 1
    assert ctx["ti"].xcoms["result_id"] == max(sandbox.store.results)
    assert len(sandbox.livekit_dispatches) == 4


def test_retry_after_a_lost_submit_reattaches_instead_of_duplicating(sandbox: Sandbox) -> None:
    """Try 1: the submit lands, its answer is lost and the lookup fails too (the worker gives up).
    Try 2 must re-attach to that batch, with or without its name."""
    store = MemoryStateStore()
    sandbox.inject_fault(path_contains=SUBMIT_V1, kind="drop", times=1)
    first = _op()
    with pytest.raises(CekuraServerError, match="returned 503"):
        _fail_lookup_after_submit(sandbox, first, store)
    assert sandbox.count("POST", SUBMIT_V1) == 1
    ctx = make_context(FakeTI(try_number=2), store)
    _op().execute(ctx)
    assert sandbox.count("POST", SUBMIT_V1) == 1  # no duplicate
    assert ctx["ti"].xcoms["result_id"] == max(sandbox.store.results)


def _fail_lookup_after_submit(sandbox: Sandbox, op: CekuraRunLiveKitScenariosOperator, store: Any) -> None:
    from unittest import mock

    from cekura_livekit.hooks.cekura import CekuraHook

    real = CekuraHook.find_results_by_name
    calls = {"n": 0}

    def flaky(self: CekuraHook, name: str, **kw: Any) -> list[dict[str, Any]]:
        calls["n"] += 1
        if calls["n"] >= 2:  # the lookup after the lost submit answer
            raise CekuraServerError("Cekura results returned 503", endpoint="results", status_code=503)
        return real(self, name, **kw)

    with mock.patch.object(CekuraHook, "find_results_by_name", flaky):
        op.execute(make_context(FakeTI(), store))


def test_two_matching_unnamed_batches_fail_clearly() -> None:
    with Sandbox(seed=7, speed=600.0, ignore_v1_name=True) as sb, pytest.MonkeyPatch.context() as mp:
        for key, value in sb.connection_env().items():
            mp.setenv(key, value)
        store = MemoryStateStore()
        # A marker as a try that died mid-submit leaves it: result ids above 0 are candidates.
        store.data["cekura_batch"] = {"name": "x", "attempt": 1, "result_id": None, "after_result_id": 0}
        for _ in range(2):  # two identical unnamed batches of the same agent appear after the mark
            _op(task_id=f"other_{_}").execute(make_context(FakeTI(task_id=f"other_{_}"), MemoryStateStore()))
        with pytest.raises(AmbiguousBatchError, match="Not submitting a duplicate"):
            _op().execute(make_context(FakeTI(try_number=2), store))
        assert sb.count("POST", SUBMIT_V1) == 2
