"""batch/recovery.py: the batch a submit task paid for is found by its deterministic names (issue 24.3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cekura_livekit.batch.identity import TaskIdentity
from cekura_livekit.batch.recovery import find_by_name, find_submitted_batch, names_of, pushed_result_id
from cekura_livekit.batch.spec import BatchSpec
from cekura_livekit.batch.submit import batch_name
from cekura_livekit.hooks.cekura import CekuraHook

IDENTITY = TaskIdentity("cekura_regression_x", "run_scenarios", "manual__2026-12-01")


@pytest.fixture
def hook(cekura_sandbox_connections: dict[str, str]) -> Iterator[CekuraHook]:
    h = CekuraHook()
    yield h
    h.close()


def _submit(hook: CekuraHook, name: str) -> int:
    return int(hook.submit_managed({"name": name, "agent": 101, "scenarios": [{"scenario": 2001}]})["id"])


def test_names_are_the_submit_tasks_own() -> None:
    spec = BatchSpec(mode="managed", scenarios=(), name="nightly")
    assert names_of(IDENTITY, "nightly", attempts=3) == [batch_name(spec, IDENTITY, n) for n in (1, 2, 3)]


def test_the_newest_attempt_is_found_and_nothing_when_nothing_was_submitted(hook: CekuraHook) -> None:
    assert find_by_name(hook, IDENTITY) is None
    first = _submit(hook, names_of(IDENTITY, None, 1)[0])
    _submit(hook, "airflow some other task")
    found = find_by_name(hook, IDENTITY)
    assert found is not None
    assert found.result_id == first
    second = _submit(hook, names_of(IDENTITY, None, 2)[1])
    found = find_by_name(hook, IDENTITY)
    assert found is not None
    assert found.result_id == second
    assert "batch name" in found.how


class _Ti:
    """The two attributes and the XCom read recovery uses (no Airflow task runner reaches here)."""

    dag_id, run_id = IDENTITY.dag_id, IDENTITY.run_id

    def __init__(self, pushed: Any = None) -> None:
        self.pushed = pushed

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.pushed if (task_ids, key) == ("run_scenarios", "result_id") else None


def test_the_xcom_wins_and_cekura_is_asked_only_without_it(hook: CekuraHook) -> None:
    asked: list[int] = []

    def factory() -> CekuraHook:
        asked.append(1)
        return hook

    found = find_submitted_batch(_Ti(pushed=77), factory)
    assert found is not None
    assert (found.result_id, asked) == (77, [])
    assert find_submitted_batch(_Ti(), factory) is None
    assert asked == [1]
    assert pushed_result_id(_Ti(pushed="²")) is None  # never int('²')
