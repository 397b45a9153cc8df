"""In-memory state of the LiveKit stand-in: rooms and agent dispatches, shared with the Cekura stand-in.

The Cekura stand-in reads it to decide whether a bring-your-own room exists and whether an agent was
dispatched into it, and writes to it when it runs Cekura-managed (v2) rooms itself.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RoomInfo:
    name: str
    sid: str
    metadata: str = ""
    empty_timeout: int = 0
    max_participants: int = 0
    created: int = field(default_factory=lambda: int(time.time()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "name": self.name,
            "metadata": self.metadata,
            "empty_timeout": self.empty_timeout,
            "max_participants": self.max_participants,
            "created": self.created,
        }


@dataclass
class DispatchInfo:
    id: str
    agent_name: str
    room: str
    metadata: str = ""
    created_at: int = field(default_factory=lambda: time.time_ns())

    def as_dict(self) -> dict[str, Any]:
        try:
            meta: Any = json.loads(self.metadata) if self.metadata else {}
        except ValueError:
            meta = self.metadata
        return {"id": self.id, "agent_name": self.agent_name, "room": self.room, "metadata": meta}


def _sid(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")


class LiveKitState:
    """Rooms and dispatches with the real server's semantics (idempotent create, 404 on missing delete)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rooms: dict[str, RoomInfo] = {}
        self.dispatches: list[DispatchInfo] = []
        self.deleted_rooms: list[str] = []

    def create_room(
        self, name: str, *, metadata: str = "", empty_timeout: int = 0, max_participants: int = 0
    ) -> RoomInfo:
        with self.lock:
            existing = self.rooms.get(name)
            if existing is not None:
                return existing
            room = RoomInfo(name, _sid("RM_"), metadata, empty_timeout, max_participants)
            self.rooms[name] = room
            return room

    def delete_room(self, name: str) -> bool:
        """Remove a room and its dispatches; False when it did not exist."""
        with self.lock:
            if self.rooms.pop(name, None) is None:
                return False
            self.deleted_rooms.append(name)
            self.dispatches = [d for d in self.dispatches if d.room != name]
            return True

    def list_rooms(self, names: list[str] | None = None) -> list[RoomInfo]:
        with self.lock:
            if names:
                return [self.rooms[n] for n in names if n in self.rooms]
            return list(self.rooms.values())

    def has_room(self, name: str) -> bool:
        with self.lock:
            return name in self.rooms

    def create_dispatch(self, agent_name: str, room: str, metadata: str = "") -> DispatchInfo:
        """Dispatch an agent; like LiveKit, a dispatch to a room that does not exist yet creates the room."""
        with self.lock:
            self.create_room(room)
            dispatch = DispatchInfo(_sid("AD_"), agent_name, room, metadata)
            self.dispatches.append(dispatch)
            return dispatch

    def list_dispatches(self, room: str, dispatch_id: str = "") -> list[DispatchInfo]:
        with self.lock:
            return [d for d in self.dispatches if d.room == room and (not dispatch_id or d.id == dispatch_id)]

    def delete_dispatch(self, room: str, dispatch_id: str) -> DispatchInfo | None:
        with self.lock:
            for d in self.dispatches:
                if d.room == room and d.id == dispatch_id:
                    self.dispatches.remove(d)
                    return d
            return None

    def has_dispatch(self, room: str) -> bool:
        with self.lock:
            return any(d.room == room for d in self.dispatches)
