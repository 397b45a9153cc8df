"""Which task instance a batch belongs to: the key of batch names, room names and the task state store."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskIdentity:
    """dag, task, run and map index: stable across retries of one task instance, distinct otherwise."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> TaskIdentity:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=str(ti.dag_id),
            task_id=str(ti.task_id),
            run_id=str(ti.run_id),
            map_index=int(map_index) if map_index is not None else -1,
        )

    def label(self) -> str:
        """Human-readable identity, embedded in the result name."""
        suffix = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{suffix} @ {self.run_id}"

    def digest(self, attempt: int = 1) -> str:
        raw = "\x1f".join([self.dag_id, self.task_id, self.run_id, str(self.map_index), str(attempt)])
        return hashlib.sha256(raw.encode()).hexdigest()[:12]
