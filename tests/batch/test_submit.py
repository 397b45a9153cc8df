"""Submit exactly once per attempt, or re-attach (batch/submit.py), without an operator around it."""

from __future__ import annotations

from typing import Any

import pytest

from cekura_livekit.batch.identity import TaskIdentity
from cekura_livekit.batch.spec import build_spec
from cekura_livekit.batch.submit import (
    STATE_KEY,
    Batch,
    StateStore,
    Submitter,
    batch_name,
    request_body,
)
from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.models import SUBMISSION_MODES
from cekura_sandbox import Sandbox
from tests.support.task_context import MemoryStateStore

IDENTITY = TaskIdentity("dag", "task", "run")
OWN = {"livekit_conn_id": "livekit_default", "livekit_agent_name": "acme"}


def _spec(**raw: Any) -> Any:
    return build_spec({"scenarios": [2001, 2002], "agent": 101, **raw}, strict=True)


def test_the_spec_mode_is_the_models_object() -> None:
    assert _spec().submission_mode is SUBMISSION_MODES["managed"]
    assert _spec(mode="chat", **OWN).submission_mode.text


def test_request_body_per_mode() -> None:
    managed = request_body(_spec(frequency=2, personality_ids=[5]), "n")
    assert managed == {
        "name": "n",
        "agent": 101,
        "scenarios": [{"scenario": 2001}, {"scenario": 2002}],
        "frequency": 2,
        "personality_ids": [5],
    }
    # Own-room modes: the scenario elements (with join tokens) come from the rooms, not from here.
    assert request_body(_spec(mode="bring_your_own_rooms", **OWN), "n") == {"name": "n", "agent": 101}


def test_batch_name_is_deterministic_per_attempt() -> None:
    spec = _spec(name="nightly")
    assert batch_name(spec, IDENTITY, 1, "prod") == "nightly · airflow dag.task @ run · prod"
    assert batch_name(spec, IDENTITY, 1, "staging") != batch_name(spec, IDENTITY, 1, "prod")
    assert batch_name(spec, IDENTITY, 1) == batch_name(_spec(name="nightly"), IDENTITY, 1)
    assert batch_name(spec, IDENTITY, 2).endswith("(attempt 2)")
    assert batch_name(_spec(), IDENTITY, 1, "prod") == "airflow dag.task @ run · prod"


def test_batch_record_carries_the_superseded_batches() -> None:
    batch = Batch.of({"id": 9, "runs": [{"id": 3}, {"id": 2}]}, 2, fresh=True, superseded=[7])
    assert batch.run_ids == [2, 3]
    assert batch.record("n") == {
        "name": "n",
        "attempt": 2,
        "result_id": 9,
        "run_ids": [2, 3],
        "superseded": [7],
    }


class _Broken:
    def get(self, key: str) -> Any:
        raise ConnectionError("state store down")

    def set(self, key: str, value: Any) -> None:
        raise AssertionError("a store that failed a read is not written again")


def test_state_store_tolerates_a_missing_or_broken_accessor() -> None:
    assert StateStore(None).get() is None
    StateStore(None).set({"a": 1})
    broken = StateStore(_Broken())
    assert broken.get() is None
    broken.set({"a": 1})  # after a failed read the store is off for this try
    memory = MemoryStateStore()
    store = StateStore(memory)
    store.set({"result_id": 5, "attempt": 3})
    store.set({"rooms": []}, key="other")
    assert memory.data == {STATE_KEY: {"result_id": 5, "attempt": 3}, "other": {"rooms": []}}
    assert store.attempt_of(5, default=1) == 3
    assert store.attempt_of(6, default=1) == 1


def test_submit_once_then_reattach_then_supersede_a_dead_batch(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    spec, memory = _spec(), MemoryStateStore()
    hook = CekuraHook()
    first = Submitter(hook, spec, IDENTITY, StateStore(memory)).attach_or_submit()
    assert first.fresh
    again = Submitter(hook, spec, IDENTITY, StateStore(memory)).attach_or_submit()
    assert (again.result_id, again.fresh) == (first.result_id, False)
    assert cekura_sandbox.count("POST", "scenarios-external") == 1
    hook.end_calls(first.result_id)  # the batch ends without evaluating
    cekura_sandbox.store.results[first.result_id].status = "cancelled"  # type: ignore[attr-defined]
    fresh = Submitter(hook, spec, IDENTITY, StateStore(memory)).attach_or_submit()
    assert fresh.result_id != first.result_id
    assert fresh.attempt == 2
    assert fresh.superseded == [first.result_id]
    assert memory.data[STATE_KEY]["superseded"] == [first.result_id]
    # Re-attaching to the fresh batch keeps the list: the load still finds the dead one.
    assert Submitter(hook, spec, IDENTITY, StateStore(memory)).attach_or_submit().superseded == [
        first.result_id
    ]


@pytest.mark.parametrize("mode", ["bring_your_own_rooms", "chat"])
def test_own_room_submits_go_through_the_mode_endpoint(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, mode: str
) -> None:
    from cekura_livekit.batch.rooms import room_session

    spec = _spec(mode=mode, **OWN)
    submitter = Submitter(
        CekuraHook(),
        spec,
        IDENTITY,
        StateStore(MemoryStateStore()),
        lambda n: room_session(spec, IDENTITY, n),
    )
    submitter.attach_or_submit()
    path = "run_scenarios_livekit_chat" if mode == "chat" else "run_scenarios_livekit/"
    assert cekura_sandbox.count("POST", path) == 1
    assert len(cekura_sandbox.livekit_rooms) == 2
