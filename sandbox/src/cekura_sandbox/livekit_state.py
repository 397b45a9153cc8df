"""In-memory state of the LiveKit stand-in: rooms, participants and agent dispatches, on the simulated clock.

Room lifetime follows livekit-server: agents are "dependent" participants and never keep a room open. A room
with no other participant closes `empty_timeout` seconds after its creation, or `departure_timeout` seconds
after the last participant left. Expiry is evaluated lazily at the time of each access (the clock only moves
forward), so no background task is needed. A participant that joins a room that no longer exists gets a
fresh, auto-created room: no metadata, no agent.

Expiry costs what expires, not what is open: each room sits in a heap under the next moment its state can
change (it closes, a participant leaves or arrives), and an access looks only at the rooms whose moment has
come. Checking every open room on every access made a 500-batch submit quadratic (97% of its time).

Agent workers follow livekit-server too (pkg/agent/client.go `LaunchJob`, pkg/service/agentservice.go
`JobRequest`): a dispatch is accepted for any agent name, but a job starts only when a registered worker
serves that name and has a free job slot. Otherwise the dispatch simply stays without a job (the server
logs "no worker available" / answers ResourceExhausted internally and never retries), no agent joins, and the
caller only learns it from `ListDispatch` (`state.jobs` empty) or from a tester nobody answers.
"""

from __future__ import annotations

import heapq
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: livekit-server's defaults (config.go) for rooms created with 0 timeouts or auto-created by a join.
DEFAULT_EMPTY_TIMEOUT = 300
DEFAULT_DEPARTURE_TIMEOUT = 20
#: livekit-server's `limit` defaults (pkg/config/config.go): room names up to 256 bytes, metadata (room,
#: participant, dispatch) up to 512 KiB; CreateRoom/CreateDispatch answer `invalid_argument` beyond them.
MAX_ROOM_NAME_LENGTH = 256
MAX_METADATA_SIZE = 512 * 1024


@dataclass
class Participant:
    identity: str
    sid: str
    joined_at: datetime
    #: When the participant leaves (None: still there). Set in advance for a planned call end.
    leaves_at: datetime | None = None
    agent: bool = False

    def present(self, now: datetime) -> bool:
        return self.joined_at <= now and (self.leaves_at is None or now < self.leaves_at)


@dataclass
class RoomInfo:
    name: str
    sid: str
    created_at: datetime
    metadata: str = ""
    empty_timeout: int = DEFAULT_EMPTY_TIMEOUT
    departure_timeout: int = DEFAULT_DEPARTURE_TIMEOUT
    max_participants: int = 0
    auto_created: bool = False
    participants: list[Participant] = field(default_factory=list)

    @property
    def created(self) -> int:
        return int(self.created_at.timestamp())

    def closes_at(self, now: datetime) -> datetime | None:
        """When the room closes (or closed) as seen at `now`; None while a non-agent participant is in it."""
        humans = [p for p in self.participants if not p.agent and p.joined_at <= now]
        if any(p.present(now) for p in humans):
            return None
        # pkg/rtc/room.go `CloseIfEmpty`: once a non-agent has joined, the departure timeout counts from the
        # last participant *of any kind* that left (`RemoveParticipant` stamps leftAt for agents too).
        left = [p.leaves_at for p in self.participants if p.leaves_at is not None and p.leaves_at <= now]
        if humans and left:
            return max(left) + timedelta(seconds=self.departure_timeout)
        return self.created_at + timedelta(seconds=self.empty_timeout)

    def present(self, now: datetime) -> list[Participant]:
        return [p for p in self.participants if p.present(now)]

    def next_change(self, now: datetime) -> datetime | None:
        """The first moment after `now` at which `closes_at` may give another answer: the closing time, else
        the next planned leave or arrival of a non-agent participant; None until someone acts on the room."""
        closes = self.closes_at(now)
        if closes is not None:
            return closes if closes > now else None
        moments = [p.leaves_at for p in self.participants if not p.agent and p.present(now) and p.leaves_at]
        moments += [p.joined_at for p in self.participants if not p.agent and p.joined_at > now]
        moments += [p.leaves_at for p in self.participants if p.agent and p.leaves_at and p.leaves_at > now]
        return min(moments, default=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "name": self.name,
            "metadata": self.metadata,
            "empty_timeout": self.empty_timeout,
            "departure_timeout": self.departure_timeout,
            "max_participants": self.max_participants,
            "created": self.created,
            "auto_created": self.auto_created,
            "participants": [p.identity for p in self.participants if p.leaves_at is None],
        }


@dataclass
class DispatchInfo:
    id: str
    agent_name: str
    room: str
    metadata: str = ""
    created_at: int = 0
    #: The job a worker took for this dispatch ("" = none: no worker serves the name, or none had a slot).
    job_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        try:
            meta: Any = json.loads(self.metadata) if self.metadata else {}
        except ValueError:
            meta = self.metadata
        return {
            "id": self.id,
            "agent_name": self.agent_name,
            "room": self.room,
            "metadata": meta,
            "job_id": self.job_id,
        }


def _sid(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")


class LiveKitState:
    """Rooms and dispatches with the real server's semantics (idempotent create, 404 on missing delete,
    rooms that close by themselves)."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self._now = now or (lambda: datetime.now(UTC))
        self.rooms: dict[str, RoomInfo] = {}
        self.dispatches: list[DispatchInfo] = []
        self.deleted_rooms: list[str] = []
        #: Rooms the server closed by itself: (name, reason) in order.
        self.closed_rooms: list[tuple[str, str]] = []
        #: (moment, sequence, room name): when to look at a room again (stale entries are harmless).
        self._due: list[tuple[datetime, int, str]] = []
        self._sequence = 0
        #: Agent names some worker serves → its job slots (None: unlimited). `None` for the whole map: every
        #: name is served without limit (a bare state; the Cekura stand-in registers its catalogue's agents).
        self.workers: dict[str, int | None] | None = None
        #: Dispatches that got no job, in order: (agent name, room, why).
        self.unserved: list[tuple[str, str, str]] = []

    # ---- agent workers ---------------------------------------------------------------------------
    def register_worker(self, agent_name: str, slots: int | None = None) -> None:
        """A worker registers `agent_name` with `slots` concurrent jobs (None: unlimited). Registering a
        name again replaces its slots (a worker scaled up or down)."""
        if slots is not None and slots < 0:
            raise ValueError(f"slots={slots!r} must be >= 0 (or None for unlimited)")
        with self.lock:
            if self.workers is None:
                self.workers = {}
            self.workers[agent_name] = slots

    def stop_worker(self, agent_name: str) -> None:
        """The worker serving `agent_name` stops: later dispatches of that name get no job."""
        with self.lock:
            if self.workers is None:
                self.workers = {}
            self.workers.pop(agent_name, None)

    def running_jobs(self, agent_name: str) -> int:
        with self.lock:
            self.expire()
            return sum(1 for d in self.dispatches if d.job_id and d.agent_name == agent_name)

    def _why_no_job(self, agent_name: str) -> str:
        """'' when a worker takes a job for `agent_name` now, else why none does (livekit-server's log line)."""
        if self.workers is None:
            return ""
        if agent_name not in self.workers:
            return "not dispatching agent job since no worker is available"
        slots = self.workers[agent_name]
        busy = sum(1 for d in self.dispatches if d.job_id and d.agent_name == agent_name)
        if slots is not None and busy >= slots:
            return "no workers with sufficient capacity"
        return ""

    def now(self) -> datetime:
        return self._now()

    def expire(self, now: datetime | None = None) -> None:
        """Close every room whose empty/departure timeout has passed at `now`."""
        now = now or self.now()
        with self.lock:
            while self._due and self._due[0][0] <= now:
                _, _, name = heapq.heappop(self._due)
                room = self.rooms.get(name)
                if room is None:
                    continue
                closes = room.closes_at(now)
                if closes is not None and closes <= now:
                    humans = any(not p.agent for p in room.participants)
                    self._remove(room.name)
                    self.closed_rooms.append((room.name, "departure_timeout" if humans else "empty_timeout"))
                else:
                    self._watch(room, now)

    def _watch(self, room: RoomInfo, now: datetime) -> None:
        """Look at `room` again when its state next changes after `now` (see `RoomInfo.next_change`)."""
        moment = room.next_change(now)
        if moment is not None:
            self._sequence += 1
            heapq.heappush(self._due, (moment, self._sequence, room.name))

    def _changed(self, room: RoomInfo, at: datetime) -> None:
        """A room's participants changed at `at`: reconsider it from then on."""
        self._sequence += 1
        heapq.heappush(self._due, (at, self._sequence, room.name))

    def _remove(self, name: str) -> None:
        self.rooms.pop(name, None)
        self.dispatches = [d for d in self.dispatches if d.room != name]

    def create_room(
        self,
        name: str,
        *,
        metadata: str = "",
        empty_timeout: int = 0,
        departure_timeout: int = 0,
        max_participants: int = 0,
        at: datetime | None = None,
    ) -> RoomInfo:
        now = at or self.now()
        with self.lock:
            self.expire(now)
            existing = self.rooms.get(name)
            if existing is not None:
                return existing
            room = RoomInfo(
                name,
                _sid("RM_"),
                now,
                metadata,
                empty_timeout or DEFAULT_EMPTY_TIMEOUT,
                departure_timeout or DEFAULT_DEPARTURE_TIMEOUT,
                max_participants,
            )
            self.rooms[name] = room
            self._watch(room, now)
            return room

    def delete_room(self, name: str) -> bool:
        """Remove a room and its dispatches; False when it did not exist (or had closed by itself)."""
        with self.lock:
            self.expire()
            if name not in self.rooms:
                return False
            self._remove(name)
            self.deleted_rooms.append(name)
            return True

    def update_metadata(self, name: str, metadata: str) -> RoomInfo | None:
        with self.lock:
            self.expire()
            room = self.rooms.get(name)
            if room is not None:
                room.metadata = metadata
            return room

    def list_rooms(self, names: list[str] | None = None) -> list[RoomInfo]:
        with self.lock:
            self.expire()
            if names:
                return [self.rooms[n] for n in names if n in self.rooms]
            return list(self.rooms.values())

    def get_room(self, name: str) -> RoomInfo | None:
        with self.lock:
            self.expire()
            return self.rooms.get(name)

    def has_room(self, name: str) -> bool:
        return self.get_room(name) is not None

    def participants(self, name: str) -> list[Participant] | None:
        with self.lock:
            now = self.now()
            self.expire(now)
            room = self.rooms.get(name)
            return None if room is None else room.present(now)

    def join(self, name: str, identity: str, at: datetime, leaves_at: datetime | None = None) -> RoomInfo:
        """A participant joins at `at`; a room that does not exist (any more) is auto-created, empty."""
        with self.lock:
            self.expire(at)
            room = self.rooms.get(name)
            if room is None:
                room = self.create_room(name, at=at)
                room.auto_created = True
            room.participants.append(Participant(identity, _sid("PA_"), at, leaves_at))
            self._changed(room, at)
            return room

    def leave(self, name: str, identity: str, at: datetime, *, later: bool = False) -> None:
        """The participant leaves at `at`: earlier than planned (a cancelled call), or, with `later`, at a
        new planned time (a call that started late)."""
        with self.lock:
            room = self.rooms.get(name)
            for p in room.participants if room is not None else []:
                if p.identity == identity and (later or p.leaves_at is None or p.leaves_at > at):
                    p.leaves_at = at
            if room is not None:
                self._changed(room, min(at, self.now()))

    def create_dispatch(self, agent_name: str, room: str, metadata: str = "") -> DispatchInfo:
        """Dispatch an agent; like LiveKit, a dispatch to a room that does not exist yet creates the room.
        When a worker serves the name and has a free slot, the agent joins at once, as a dependent
        participant that never keeps the room open; otherwise the dispatch stays without a job, for good."""
        with self.lock:
            now = self.now()
            target = self.create_room(room, at=now)
            dispatch = DispatchInfo(_sid("AD_"), agent_name, room, metadata, int(now.timestamp() * 1e9))
            why = self._why_no_job(agent_name)
            self.dispatches.append(dispatch)
            if why:
                self.unserved.append((agent_name, room, why))
                return dispatch
            dispatch.job_id = _sid("AJ_")
            target.participants.append(Participant(f"agent-{dispatch.id}", _sid("PA_"), now, agent=True))
            return dispatch

    def list_dispatches(self, room: str, dispatch_id: str = "") -> list[DispatchInfo]:
        with self.lock:
            self.expire()
            return [d for d in self.dispatches if d.room == room and (not dispatch_id or d.id == dispatch_id)]

    def delete_dispatch(self, room: str, dispatch_id: str) -> DispatchInfo | None:
        with self.lock:
            self.expire()
            for d in self.dispatches:
                if d.room == room and d.id == dispatch_id:
                    self.dispatches.remove(d)
                    target = self.rooms.get(room)
                    now = self.now()
                    for p in target.participants if target is not None else []:
                        if p.identity == f"agent-{d.id}" and p.leaves_at is None:
                            p.leaves_at = now  # the job ends; its leave restarts the departure timer
                    if target is not None:
                        self._changed(target, now)
                    return d
            return None

    def has_dispatch(self, room: str, at: datetime | None = None) -> bool:
        with self.lock:
            self.expire(at)
            return any(d.room == room for d in self.dispatches)

    def has_agent(self, room: str, at: datetime | None = None) -> bool:
        """An agent job runs in `room`: a dispatch that a worker took (a jobless dispatch answers nobody)."""
        with self.lock:
            self.expire(at)
            return any(d.room == room and d.job_id for d in self.dispatches)
