"""Shared helpers for the operator/sensor/trigger tests: a minimal task-instance context.

Calling `execute` directly with this context is how a worker runs it, minus the supervisor: XCom pushes
and the task state store are recorded in memory so tests can assert on them (and on what never got there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class MemoryStateStore:
    """Dict-backed stand-in for Airflow 3.3's TaskStateStoreAccessor (same get/set contract)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes: list[tuple[str, Any]] = []

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.data[key] = value
        self.writes.append((key, value))


@dataclass
class FakeTI:
    dag_id: str = "cekura_dag"
    task_id: str = "run_suite"
    run_id: str = "manual__2026-01-01T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    start_date: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        """This task instance's own pushes only (what the operator and sensor read back)."""
        assert task_ids in (None, self.task_id), "FakeTI only knows its own XComs"
        return self.xcoms.get(key)


def make_context(ti: FakeTI | None = None, store: MemoryStateStore | None = None) -> dict[str, Any]:
    ti = ti or FakeTI()
    return {"ti": ti, "task_instance": ti, "task_state_store": store, "run_id": ti.run_id}
