"""Rooms a task could not delete (a LiveKit DeleteRoom outage), deleted again at the next try or run.

Why: own rooms get an `empty_timeout` stretched to cover the whole wait (hours: see `rooms.room_lifetime`),
so a room whose delete failed would stay open that long. The names are deterministic but only the task
that made them knows them, so the task records what is left in two places: the task state store (read by
the next try of the same task instance; Airflow clears a retried task's XCom) and the XCom
`LEFTOVER_ROOMS_KEY` (read by the next run of the same task with `include_prior_dates`). Each own-room task
deletes those first, and once they are gone pushes an empty record so later runs stop looking.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cekura_livekit.batch import TaskLog
from cekura_livekit.hooks.livekit import LiveKitHook

if TYPE_CHECKING:
    from cekura_livekit.batch.submit import StateStore

log = logging.getLogger(__name__)

#: Task state store key and XCom key of the record. Renaming it orphans the rooms of in-flight records.
LEFTOVER_ROOMS_KEY = "cekura_leftover_rooms"


@dataclass(frozen=True)
class LeftoverRooms:
    """Rooms on one LiveKit connection that are still to be deleted."""

    livekit_conn_id: str
    rooms: tuple[str, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        return {"livekit_conn_id": self.livekit_conn_id, "rooms": list(self.rooms)}

    @classmethod
    def from_payload(cls, payload: object) -> LeftoverRooms | None:
        """The record, or None for anything that is not one (absent, empty, or written by something else)."""
        if not isinstance(payload, Mapping) or not payload.get("livekit_conn_id"):
            return None
        rooms = payload.get("rooms") or []
        if not isinstance(rooms, list | tuple):
            return None
        return cls(str(payload["livekit_conn_id"]), tuple(str(r) for r in rooms))


def delete_leftover_rooms(leftover: LeftoverRooms, logger: TaskLog = log) -> list[str]:
    """Delete the rooms (already-gone ones count as done); returns those still undeleted. Never raises."""
    if not leftover.rooms:
        return []
    try:
        LiveKitHook(leftover.livekit_conn_id).delete_rooms(list(leftover.rooms))
    except Exception as exc:
        failed = list(getattr(exc, "failed_rooms", ()) or leftover.rooms)
        logger.warning(
            "Still could not delete %d LiveKit rooms left by an earlier try or run (%s); trying again next time.",
            len(failed),
            exc,
        )
        return failed
    logger.info("Deleted %d LiveKit rooms left by an earlier try or run.", len(leftover.rooms))
    return []


@dataclass
class LeftoverLedger:
    """Where a task records and finds its leftover rooms: its state store and its XCom (see the docstring)."""

    ti: Any
    store: StateStore
    logger: TaskLog = log

    def remember(self, leftover: LeftoverRooms) -> None:
        """Record rooms still to be deleted (an empty list clears the record)."""
        self.store.set(leftover.to_payload(), key=LEFTOVER_ROOMS_KEY)
        try:
            self.ti.xcom_push(key=LEFTOVER_ROOMS_KEY, value=leftover.to_payload())
        except Exception as exc:  # a courtesy for the next run; the state store still has it
            self.logger.warning("Could not record the undeleted rooms in XCom: %s", exc)
        if leftover.rooms:
            self.logger.warning(
                "%d LiveKit rooms could not be deleted; they are recorded (%r) and deleted at the next try "
                "or run of this task.",
                len(leftover.rooms),
                LEFTOVER_ROOMS_KEY,
            )

    def _recorded(self) -> list[LeftoverRooms]:
        found = [LeftoverRooms.from_payload(self.store.get(LEFTOVER_ROOMS_KEY))]
        try:
            prior = self.ti.xcom_pull(
                task_ids=self.ti.task_id,
                key=LEFTOVER_ROOMS_KEY,
                include_prior_dates=True,
                map_indexes=getattr(self.ti, "map_index", -1),
            )
        except Exception as exc:
            self.logger.warning("Could not read the undeleted rooms of earlier runs: %s", exc)
            prior = None
        found.append(LeftoverRooms.from_payload(prior))
        return [f for f in found if f is not None and f.rooms]

    def clean(self) -> None:
        """Delete what earlier tries or runs left; record what is still left (or clear the record)."""
        recorded = self._recorded()
        if not recorded:
            return
        by_conn: dict[str, set[str]] = {}
        for leftover in recorded:
            by_conn.setdefault(leftover.livekit_conn_id, set()).update(leftover.rooms)
        for conn_id, rooms in sorted(by_conn.items()):
            still = delete_leftover_rooms(LeftoverRooms(conn_id, tuple(sorted(rooms))), self.logger)
            self.remember(LeftoverRooms(conn_id, tuple(still)))
