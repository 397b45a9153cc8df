"""Bring-your-own-room orchestration: one LiveKit room per run, a join token per room, agent dispatch, cleanup.

Order (see livekit-wire.md): create rooms → mint a short-lived join token per room → submit to Cekura →
dispatch the agent into each room with job metadata `{scenario_id, run_id, test_profile_data}` → delete
the rooms once the runs are terminal or the task fails. Room names are deterministic (task identity,
batch attempt, run index), so a retry finds the same rooms and re-creating one is harmless.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cekura_livekit.hooks.livekit import LiveKitHook, RoomSpec

log = logging.getLogger(__name__)

TESTER_IDENTITY = "cekura-tester"


@dataclass(frozen=True)
class TaskIdentity:
    """Which task instance a batch belongs to: the key of names, rooms and the state store."""

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


def _slug(text: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "x"


def room_name(identity: TaskIdentity, attempt: int, index: int) -> str:
    """`cekura-<dag>-<task>-<digest>-r<index>`: readable, unique per task instance/attempt/run, ≤ 64 chars."""
    return (
        f"cekura-{_slug(identity.dag_id, 16)}-{_slug(identity.task_id, 16)}-"
        f"{identity.digest(attempt)}-r{index:03d}"
    )


@dataclass(frozen=True)
class RunSlot:
    """One run of a BYO batch: which scenario, in which room, with which per-scenario extras."""

    index: int
    scenario_id: int
    room: str
    extras: Mapping[str, Any] = field(default_factory=dict)


def plan_slots(
    identity: TaskIdentity, attempt: int, scenarios: Sequence[Mapping[str, Any]], frequency: int
) -> list[RunSlot]:
    """One slot per run: every scenario `frequency` times, in submission order."""
    slots: list[RunSlot] = []
    for _ in range(frequency):
        for item in scenarios:
            extras = {k: v for k, v in item.items() if k != "scenario"}
            index = len(slots)
            slots.append(RunSlot(index, int(item["scenario"]), room_name(identity, attempt, index), extras))
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


def job_metadata(run: Mapping[str, Any], slot: RunSlot, *, text_mode: bool) -> dict[str, Any]:
    """What the agent reads from `ctx.job.metadata`, as in Cekura's managed flow."""
    meta: dict[str, Any] = {"scenario_id": slot.scenario_id, "run_id": int(run["id"])}
    if run.get("test_profile_data"):
        meta["test_profile_data"] = run["test_profile_data"]
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
    ) -> int:
        """Dispatch the agent into every room (except `skip_rooms`); returns how many dispatches were made."""
        pairs = [(s, r) for s, r in match_runs_to_slots(slots, runs) if s.room not in (skip_rooms or set())]
        if not pairs:
            return 0
        self.hook.dispatch_agents(
            agent_name,
            [(s.room, job_metadata(r, s, text_mode=text_mode)) for s, r in pairs],
            concurrency=self.concurrency,
        )
        log.info("Dispatched agent %r into %d rooms.", agent_name, len(pairs))
        return len(pairs)

    def already_dispatched(self, slots: Sequence[RunSlot]) -> set[str]:
        return self.hook.list_dispatched_rooms([s.room for s in slots], concurrency=self.concurrency)

    def delete(self, rooms: Sequence[str]) -> int:
        """Delete the rooms (already-gone rooms count as done)."""
        deleted = self.hook.delete_rooms(list(rooms), concurrency=self.concurrency)
        log.info("Deleted %d of %d LiveKit rooms (the rest were already gone).", deleted, len(rooms))
        return deleted
