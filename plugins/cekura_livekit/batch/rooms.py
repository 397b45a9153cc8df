"""Bring-your-own-room orchestration: one LiveKit room per run, a join token per room, agent dispatch, cleanup.

Order (see livekit-wire.md): create rooms → mint a join token per room → submit to Cekura → dispatch the
agent into each room with job metadata `{scenario_id, run_id, test_profile_data}` → delete the rooms once
the runs are terminal or the task fails. Room names are deterministic (task identity, batch attempt, run
index), so a retry finds the same rooms and re-creating one is harmless.

Rooms and tokens must survive Cekura's queue. Runs of an organisation wait `in_queue` behind its
parallel-call limit, and LiveKit does not count the dispatched agent as a participant: a room holding only
the agent closes `empty_timeout` after creation, and a tester joining later lands in a fresh, empty room.
So both lifetimes are derived from how long this task will wait (`room_lifetime`): until the wait's
deadline plus a margin, or, without a deadline, an estimate of the queue. The configured
`room_empty_timeout` / `token_ttl` are floors.

Agent capacity. Every agent job holds a worker slot for as long as its room lives, and LiveKit starts no job
for a dispatch that finds every worker full (pkg/service/agentservice.go `JobRequest` → ResourceExhausted,
only logged): that run ends `Main agent-did-not-answer`. Without a known capacity every room gets its agent
at submit (a 50-run batch holds 50 jobs while Cekura runs 10). With the LiveKit connection's `agent_slots`
set, at most that many agents are out at once: the first runs in Cekura's queue order get theirs at submit,
and `RoomSession.refill`, called by the wait loop (`batch.wait.Refill`, in the worker or the triggerer)
after every poll, deletes the rooms of finished runs (their jobs end, the slots free at once instead of a
departure timeout later) and dispatches into the next waiting runs' rooms, earliest first. A run that starts before its agent is dispatched waits at most one poll for it,
so the poll interval must stay below the time Cekura's tester waits for the agent; and Cekura's own parallel
call limit (Settings → Organisation → General) must not exceed `agent_slots`, or runs start that no slot can
serve. Also before paying: `check_livekit` probes that a worker serves the agent name at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cekura_livekit.batch.identity import TaskIdentity, deployment_id
from cekura_livekit.hooks.livekit import LiveKitError, LiveKitHook, RoomSpec
from cekura_livekit.models import RunStatus, parse_status, runs_of, submission_mode

if TYPE_CHECKING:
    from cekura_livekit.batch.spec import BatchSpec

log = logging.getLogger(__name__)

TESTER_IDENTITY = "cekura-tester"
#: Past the wait's deadline: a run that starts just before it still finds its room and a valid token.
LIFETIME_MARGIN = timedelta(minutes=10)
#: Without a deadline: calls assumed in flight at once (Cekura does not publish its plans' limits) …
ASSUMED_PARALLEL_CALLS = 10
#: … and the time budgeted for each wave of them (a call, its evaluation, the queue's own delays).
WAVE_BUDGET = timedelta(minutes=15)
#: Upper bound of a room's empty_timeout and a token's lifetime, whatever the deadline says.
MAX_LIFETIME = timedelta(days=2)


def room_lifetime(run_count: int, deadline: float | None, now: float | None = None) -> timedelta:
    """How long rooms and join tokens must stay usable: until the deadline (epoch seconds) plus a margin;
    without one, `ceil(runs / ASSUMED_PARALLEL_CALLS)` waves of `WAVE_BUDGET` plus the margin."""
    if deadline is not None:
        now = time.time() if now is None else now
        need = timedelta(seconds=max(deadline - now, 0.0)) + LIFETIME_MARGIN
    else:
        need = math.ceil(max(run_count, 1) / ASSUMED_PARALLEL_CALLS) * WAVE_BUDGET + LIFETIME_MARGIN
    return min(need, MAX_LIFETIME)


def _slug(text: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "x"


#: livekit-server's default `limit.max_room_name_length` (pkg/config/config.go); CreateRoom refuses longer.
MAX_ROOM_NAME_LENGTH = 256


def room_name(identity: TaskIdentity, attempt: int, index: int, deployment: str | None = None) -> str:
    """`cekura-<deployment>-<dag>-<task>-<digest>-r<index>`: readable, unique per deployment (two Airflows
    sharing a LiveKit project never meet in a room), task instance, attempt and run; under 90 characters."""
    dep = deployment if deployment is not None else deployment_id()
    name = (
        f"cekura-{dep}-{_slug(identity.dag_id, 16)}-{_slug(identity.task_id, 16)}-"
        f"{identity.digest(attempt)}-r{index:03d}"
    )
    assert len(name) <= MAX_ROOM_NAME_LENGTH, name
    return name


@dataclass(frozen=True)
class RunSlot:
    """One run of a BYO batch: which scenario, in which room, with which per-scenario extras."""

    index: int
    scenario_id: int
    room: str
    extras: Mapping[str, Any] = field(default_factory=dict)


def plan_slots(
    identity: TaskIdentity,
    attempt: int,
    scenarios: Sequence[Mapping[str, Any]],
    frequency: int,
    deployment: str | None = None,
) -> list[RunSlot]:
    """One slot per run: every scenario `frequency` times, in submission order."""
    deployment = deployment if deployment is not None else deployment_id()
    slots: list[RunSlot] = []
    for _ in range(frequency):
        for item in scenarios:
            extras = {k: v for k, v in item.items() if k != "scenario"}
            index = len(slots)
            room = room_name(identity, attempt, index, deployment)
            slots.append(RunSlot(index, int(item["scenario"]), room, extras))
    return slots


def match_runs_to_slots(
    slots: Sequence[RunSlot], runs: Sequence[Mapping[str, Any]]
) -> list[tuple[RunSlot, Mapping[str, Any]]]:
    """Pair the submit response's runs with rooms: by order, checked against the scenario id.

    When the order does not line up with the scenarios (a server that reorders), fall back to pairing
    each slot with the next unused run of the same scenario.
    """
    if len(runs) != len(slots):
        raise ValueError(
            f"Cekura answered with {len(runs)} runs for {len(slots)} rooms; cannot tell which run uses which "
            "room, so no agent was dispatched. Check the result in the Cekura dashboard."
        )

    def scenario_of(run: Mapping[str, Any]) -> int | None:
        raw = run.get("scenario")
        if isinstance(raw, Mapping):
            raw = raw.get("id")
        return int(raw) if raw is not None and str(raw).isdigit() else None

    in_order = all(scenario_of(r) in (None, s.scenario_id) for s, r in zip(slots, runs, strict=True))
    if in_order:
        return list(zip(slots, runs, strict=True))
    unused = list(runs)
    pairs = []
    for slot in slots:
        pick = next(r for r in unused if scenario_of(r) == slot.scenario_id)
        unused.remove(pick)
        pairs.append((slot, pick))
    return pairs


def flat_profile(data: object) -> object:
    """`test_profile_data` as the agent gets it in Cekura's managed flow: the profile's values, flat.
    Submit responses carry it flat; full Run objects (a re-attach reads those) as `{id, name, information}`."""
    if isinstance(data, Mapping) and {"id", "name", "information"} <= set(data):
        information = data["information"]
        return dict(information) if isinstance(information, Mapping) else information
    return data


def job_metadata(run: Mapping[str, Any], slot: RunSlot, *, text_mode: bool) -> dict[str, Any]:
    """What the agent reads from `ctx.job.metadata`, as in Cekura's managed flow."""
    meta: dict[str, Any] = {"scenario_id": slot.scenario_id, "run_id": int(run["id"])}
    if run.get("test_profile_data"):
        meta["test_profile_data"] = flat_profile(run["test_profile_data"])
    if text_mode:
        meta["text_mode"] = True
    return meta


@dataclass
class ByoRooms:
    """Runs the room lifecycle of one BYO batch with a LiveKitHook."""

    hook: LiveKitHook
    empty_timeout: int = 300
    max_participants: int = 4
    room_config: Mapping[str, Any] | None = None
    token_ttl: timedelta = timedelta(hours=1)
    concurrency: int = 10

    def create(self, slots: Sequence[RunSlot]) -> None:
        metadata = json.dumps(dict(self.room_config)) if self.room_config else ""
        specs = [RoomSpec(s.room, self.empty_timeout, self.max_participants, metadata) for s in slots]
        self.hook.create_rooms(specs, concurrency=self.concurrency)
        log.info("Created %d LiveKit rooms (%s … %s).", len(slots), slots[0].room, slots[-1].room)

    def scenario_elements(self, slots: Sequence[RunSlot]) -> list[dict[str, Any]]:
        """The v1 `scenarios` array: room URL + a freshly minted join token per run. Holds credentials:
        never log it, never return it from a task."""
        url = self.hook.credentials.participant_url
        return [
            {
                **dict(s.extras),
                "scenario": s.scenario_id,
                "livekit_room_url": url,
                "access_token": self.hook.mint_join_token(
                    s.room, identity=f"{TESTER_IDENTITY}-{s.index:03d}", ttl=self.token_ttl
                ),
            }
            for s in slots
        ]

    def dispatch(
        self,
        agent_name: str,
        slots: Sequence[RunSlot],
        runs: Sequence[Mapping[str, Any]],
        *,
        text_mode: bool,
        skip_rooms: set[str] | None = None,
        limit: int | None = None,
    ) -> int:
        """Dispatch the agent into every room (except `skip_rooms`), or into the first `limit` of them in run
        order (Cekura's queue order); returns how many dispatches were made."""
        pairs = [(s, r) for s, r in match_runs_to_slots(slots, runs) if s.room not in (skip_rooms or set())]
        if limit is not None:
            pairs = pairs[: max(limit, 0)]
        if not pairs:
            return 0
        self.hook.dispatch_agents(
            agent_name,
            [(s.room, job_metadata(r, s, text_mode=text_mode)) for s, r in pairs],
            concurrency=self.concurrency,
        )
        log.info("Dispatched agent %r into %d rooms.", agent_name, len(pairs))
        return len(pairs)

    @property
    def agent_slots(self) -> int | None:
        """Agents this batch may have out at once (the LiveKit connection's `agent_slots`); None: no cap."""
        return self.hook.credentials.agent_slots

    def already_dispatched(self, slots: Sequence[RunSlot]) -> set[str]:
        return self.hook.list_dispatched_rooms([s.room for s in slots], concurrency=self.concurrency)

    def delete(self, rooms: Sequence[str]) -> int:
        """Delete the rooms (already-gone rooms count as done)."""
        deleted = self.hook.delete_rooms(list(rooms), concurrency=self.concurrency)
        log.info("Deleted %d of %d LiveKit rooms (the rest were already gone).", deleted, len(rooms))
        return deleted


def _is_over(run: Mapping[str, Any]) -> bool:
    """A run that already ended (e.g. "agent-did-not-answer"): dispatching into its room helps nobody."""
    return parse_status(run.get("status")).is_terminal


def _call_over(run: Mapping[str, Any]) -> bool:
    """The run's call has ended (terminal, or `evaluating`: Cekura scores the transcript without the agent).
    Cekura starts the next queued call as soon as a call ends, so the agent slot must free then too, not
    after the evaluation."""
    return _is_over(run) or parse_status(run.get("status")) is RunStatus.EVALUATING


@dataclass
class RoomSession:
    """The rooms of one attempt of one BYO batch: what the operator creates, fills, dispatches and deletes."""

    rooms: ByoRooms
    slots: list[RunSlot]
    agent_name: str
    text_mode: bool
    #: Rooms this session knows have the agent (None: not known yet; `ListDispatch` tells) …
    dispatched: set[str] | None = None
    #: … and rooms it already deleted because their run was over (their slots are free).
    freed: set[str] = field(default_factory=set)

    def create(self) -> None:
        self.rooms.create(self.slots)

    def scenario_elements(self) -> list[dict[str, Any]]:
        """The v1 `scenarios` array with a join token per run: credentials, never logged or returned."""
        return self.rooms.scenario_elements(self.slots)

    def ensure_dispatched(self, payload: Mapping[str, Any], *, fresh: bool, terminal: bool) -> None:
        """Dispatch the agent into each room of a fresh batch; after a re-attach to a running one, recreate
        missing rooms (idempotent) and dispatch only where no agent is yet."""
        runs = sorted(runs_of(payload), key=lambda r: int(r["id"]))
        cap = self.rooms.agent_slots
        if fresh:
            made = self.rooms.dispatch(self.agent_name, self.slots, runs, text_mode=self.text_mode, limit=cap)
            if cap is not None:
                self.dispatched = {s.room for s in self.slots[:made]}
                log.info(
                    "agent_slots=%d: dispatched the agent for the first %d of %d runs; the wait dispatches the "
                    "rest as earlier runs finish.",
                    cap,
                    made,
                    len(self.slots),
                )
            return
        if terminal:
            return
        if cap is not None:
            self.refill(payload)  # the capped path knows how to resume: free finished, fill up to the cap
            return
        # A re-attach (e.g. the worker died between the submit and the dispatch): the runs still waiting
        # get their agent now, before anyone decides the batch is dead; runs already over need none.
        self.rooms.create(self.slots)
        done = self.rooms.already_dispatched(self.slots)
        over = {s.room for s, r in match_runs_to_slots(self.slots, runs) if _is_over(r)}
        made = self.rooms.dispatch(
            self.agent_name, self.slots, runs, text_mode=self.text_mode, skip_rooms=done | over
        )
        log.info(
            "Re-attached own-room batch: %d rooms already had the agent, %d runs were over, dispatched %d.",
            len(done),
            len(over - done),
            made,
        )

    def refill(self, payload: Mapping[str, Any]) -> int:
        """See `arefill`: for a wait loop that runs in a worker (sync)."""
        _ = self.rooms.hook.credentials  # resolve the connection outside the event loop
        return asyncio.run(self.arefill(payload))

    async def arefill(self, payload: Mapping[str, Any]) -> int:
        """One step of the capped dispatch, for the wait loop to await on every poll with the batch's latest
        result payload (detail or submit form). Deletes the rooms of runs that are over (their agent jobs end,
        freeing slots), then dispatches the agent into the rooms of the earliest waiting runs while fewer than
        `agent_slots` agents are out. Returns how many dispatches it made; 0 and no LiveKit call when the
        connection sets no `agent_slots` (every room got its agent at submit). Idempotent: after a restart,
        `ListDispatch` tells which rooms already have their agent."""
        hook = self.rooms.hook
        cap = (await hook.acredentials()).agent_slots
        if cap is None:
            return 0
        concurrency = self.rooms.concurrency
        runs = sorted(runs_of(payload), key=lambda r: int(r["id"]))
        if not runs:  # a detail that lists no runs (yet) says nothing about which calls ended
            return 0
        pairs = match_runs_to_slots(self.slots, runs)
        if self.dispatched is None:
            self.dispatched = await hook.alist_dispatched_rooms(
                [s.room for s in self.slots], concurrency=concurrency
            )
        await self._free([s.room for s, r in pairs if _call_over(r) and s.room not in self.freed])
        out = len(self.dispatched - self.freed)
        waiting = [(s, r) for s, r in pairs if not _call_over(r) and s.room not in self.dispatched]
        todo = waiting[: max(cap - out, 0)]
        if todo:
            await self._dispatch(todo)
            log.info(
                "Dispatched the agent for %d more runs (%d agents out of agent_slots=%d; %d runs still wait).",
                len(todo),
                out + len(todo),
                cap,
                len(waiting) - len(todo),
            )
        return len(todo)

    async def _free(self, over: list[str]) -> None:
        """Delete the rooms of runs whose call ended: their agent jobs end and the slots free at once."""
        if not over:
            return
        try:
            await self.rooms.hook.adelete_rooms(over, concurrency=self.rooms.concurrency)
        except LiveKitError as exc:  # rooms the failure does not name are gone: their slots are free
            if exc.failed_rooms:
                self.freed.update(set(over) - set(exc.failed_rooms))
            raise
        self.freed.update(over)

    async def _dispatch(self, todo: Sequence[tuple[RunSlot, Mapping[str, Any]]]) -> None:
        try:
            await self.rooms.hook.adispatch_agents(
                self.agent_name,
                [(s.room, job_metadata(r, s, text_mode=self.text_mode)) for s, r in todo],
                concurrency=self.rooms.concurrency,
            )
        except LiveKitError:
            # Some dispatches may have landed, and which is unknown: the next refill asks LiveKit
            # (`ListDispatch`) instead of dispatching a second agent into a room that has one.
            self.dispatched = None
            raise
        assert self.dispatched is not None  # read by `arefill` before any dispatch
        self.dispatched.update(s.room for s, _ in todo)

    @property
    def capped(self) -> bool:
        """Whether the connection sets `agent_slots`, so the wait must `refill` (blocking: workers only)."""
        return self.rooms.agent_slots is not None

    def to_payload(self) -> dict[str, Any]:
        """What a trigger needs to `refill` in the triggerer: names and settings only, never a credential."""
        return {
            "livekit_conn_id": self.livekit_conn_id,
            "agent_name": self.agent_name,
            "text_mode": self.text_mode,
            "concurrency": self.rooms.concurrency,
            "slots": [[s.index, s.scenario_id, s.room, dict(s.extras)] for s in self.slots],
        }

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> RoomSession:
        rooms = ByoRooms(hook=LiveKitHook(str(data["livekit_conn_id"])), concurrency=int(data["concurrency"]))
        slots = [RunSlot(int(i), int(sc), str(room), dict(extras)) for i, sc, room, extras in data["slots"]]
        return cls(rooms, slots, str(data["agent_name"]), bool(data["text_mode"]))

    @property
    def livekit_conn_id(self) -> str:
        return self.rooms.hook.livekit_conn_id

    def delete_quietly(self) -> list[str]:
        """Delete the rooms; a failure is logged, never raised: cleanup must not hide the task's outcome.

        Returns the rooms that could not be deleted (all of them when the failure names none), so the caller
        can retry later (`batch.leftover_rooms`) instead of leaving them open for their stretched
        empty_timeout."""
        names = [s.room for s in self.slots]
        try:
            self.rooms.delete(names)
        except Exception as exc:
            failed = list(getattr(exc, "failed_rooms", ()) or names)
            log.warning(
                "Could not delete %d LiveKit rooms (%s); the next try or run deletes them again.",
                len(failed),
                exc,
            )
            return failed
        return []


def probe_room_name(deployment: str | None = None) -> str:
    """A throw-away room per probe: concurrent batches probing the same agent never share (and delete) one."""
    return f"cekura-probe-{deployment if deployment is not None else deployment_id()}-{secrets.token_hex(4)}"


def check_livekit(spec: BatchSpec) -> None:
    """Before any room is created or any batch submitted: prove the LiveKit connection works (URL answers,
    key pair accepted) with one cheap call, then that a worker takes jobs for the agent name (`probe_agent`).
    A swapped key/secret or a typo in `livekit_agent_name` must not cost rooms or a paid batch."""
    assert spec.livekit_conn_id  # build_spec guarantees it in own-room modes
    assert spec.livekit_agent_name
    hook = LiveKitHook(spec.livekit_conn_id)
    hook.check_credentials()
    hook.probe_agent(spec.livekit_agent_name, probe_room_name())


def room_session(
    spec: BatchSpec, identity: TaskIdentity, attempt: int, deadline: float | None = None
) -> RoomSession:
    """The rooms of one attempt of a bring-your-own or chat batch. Room `empty_timeout` and token TTL
    cover the wait (`room_lifetime` from `deadline`), never less than the spec's own values."""
    # build_spec guarantees both in own-room modes.
    assert spec.livekit_conn_id
    assert spec.livekit_agent_name
    lifetime = room_lifetime(spec.run_count, deadline)
    empty_timeout = max(spec.room_empty_timeout, math.ceil(lifetime.total_seconds()))
    token_ttl = max(spec.token_ttl, lifetime)
    log.info(
        "Rooms stay open %d s without a caller and join tokens last %s: long enough for runs queued until "
        "the wait ends (%s).",
        empty_timeout,
        token_ttl,
        "deadline" if deadline is not None else f"no deadline: estimated for {spec.run_count} runs",
    )
    rooms = ByoRooms(
        hook=LiveKitHook(spec.livekit_conn_id),
        empty_timeout=empty_timeout,
        max_participants=spec.room_max_participants,
        room_config=spec.room_config,
        token_ttl=token_ttl,
        concurrency=spec.room_concurrency,
    )
    slots = plan_slots(identity, attempt, spec.scenarios, spec.frequency)
    return RoomSession(rooms, slots, spec.livekit_agent_name, text_mode=submission_mode(spec.mode).text)
