"""TaskIdentity: stable across retries of one task instance, distinct between task instances."""

from __future__ import annotations

from cekura_livekit.batch.identity import TaskIdentity
from tests.support.task_context import FakeTI, make_context


def test_from_context_and_label() -> None:
    identity = TaskIdentity.from_context(make_context(FakeTI(map_index=3)))
    assert identity == TaskIdentity("cekura_dag", "run_suite", "manual__2026-01-01T00:00:00+00:00", 3)
    assert identity.label() == "cekura_dag.run_suite[3] @ manual__2026-01-01T00:00:00+00:00"
    unmapped = TaskIdentity.from_context(make_context(FakeTI(map_index=None)))  # type: ignore[arg-type]
    assert unmapped.map_index == -1
    assert "[" not in unmapped.label()


def test_digest_is_stable_per_attempt_and_distinct_otherwise() -> None:
    a = TaskIdentity("d", "t", "r")
    assert a.digest(1) == TaskIdentity("d", "t", "r").digest(1)  # a retry recomputes the same value
    assert len(a.digest()) == 12
    others = {
        a.digest(2),
        TaskIdentity("d", "t", "r2").digest(1),
        TaskIdentity("d", "t2", "r").digest(1),
        TaskIdentity("d", "t", "r", 0).digest(1),
        # The separator keeps ("d", "t-x") and ("d-t", "x") apart.
        TaskIdentity("d\x1ft", "r", "x").digest(1),
    }
    assert a.digest(1) not in others
    assert len(others) == 5
