"""The Cekura stand-in's state: results and runs, created by submits and read off the simulated clock."""

from __future__ import annotations

import heapq
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import jwt
from livekit.api import TokenVerifier

from cekura_sandbox.catalogue import Catalogue, Personality, TestProfile
from cekura_sandbox.clock import SimClock, iso
from cekura_sandbox.errors import not_found
from cekura_sandbox.lifecycle import TERMINAL, RunRecord, plan_run
from cekura_sandbox.livekit_state import LiveKitState
from cekura_sandbox.validation import Submission

FIRST_RESULT_ID = 501
FIRST_RUN_ID = 1001


@dataclass
class ResultRecord:
    id: int
    name: str
    agent_id: int
    run_as_text: bool
    created_at: datetime
    run_ids: list[int] = field(default_factory=list)


class CekuraStore:
    """All results and runs; every public method takes the lock, so HTTP handlers and tests can share it."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        clock: SimClock,
        livekit: LiveKitState,
        seed: int,
        livekit_api_key: str,
        livekit_api_secret: str,
        livekit_hosts: set[str] | None = None,
        agent_join_timeout: float = 3.0,
        first_result_id: int = FIRST_RESULT_ID,
        first_run_id: int = FIRST_RUN_ID,
    ) -> None:
        if first_result_id < 1 or first_run_id < 1:
            raise ValueError(f"first ids must be positive; got result {first_result_id}, run {first_run_id}")
        self.catalogue = catalogue
        self.clock = clock
        self.livekit = livekit
        self.seed = seed
        self._verifier = TokenVerifier(livekit_api_key, livekit_api_secret)
        #: host:port forms under which the paired LiveKit stand-in is reachable (filled in at start).
        self.livekit_hosts: set[str] = livekit_hosts or set()
        #: Real seconds a bring-your-own run waits for an agent dispatch before failing "agent did not join".
        self.agent_join_timeout = agent_join_timeout
        self.lock = threading.RLock()
        self.results: dict[int, ResultRecord] = {}
        self.runs: dict[int, RunRecord] = {}
        self._next_result = first_result_id
        self._next_run = first_run_id
        self._awaiting_connection: set[int] = set()

    # ---- submit ---------------------------------------------------------------------------------
    def submit(self, sub: Submission) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            agent = self.catalogue.agents[sub.agent_id]
            result_id = self._next_result
            self._next_result += 1
            name = sub.name or f"LiveKit run {result_id}"
            result = ResultRecord(result_id, name, agent.id, sub.mode == "chat", now)
            personalities: list[Personality | None] = [
                self.catalogue.personalities[p] for p in sub.personality_ids
            ] or [None]
            profiles: list[TestProfile | None] = [
                self.catalogue.test_profiles[t] for t in sub.test_profile_ids
            ] or [None]
            slots: list[float] = []
            for item in sub.items:
                for _ in range(sub.frequency):
                    for personality in personalities:
                        for profile in profiles:
                            run_id = self._next_run
                            self._next_run += 1
                            slot_free = 0.0
                            if sub.concurrency_limit and len(slots) >= sub.concurrency_limit:
                                slot_free = heapq.heappop(slots)
                            run = plan_run(
                                seed=self.seed,
                                run_id=run_id,
                                result_id=result_id,
                                result_name=name,
                                catalogue=self.catalogue,
                                scenario=item.scenario,
                                personality=personality
                                or self.catalogue.personalities.get(
                                    item.scenario.personality,
                                    next(iter(self.catalogue.personalities.values())),
                                ),
                                test_profile=profile,
                                run_as_text=sub.mode == "chat",
                                submitted_at=now,
                                slot_free_at=slot_free,
                            )
                            if sub.concurrency_limit:
                                heapq.heappush(slots, run.t_end)
                            if sub.mode in ("v1", "chat"):
                                run.byo = True
                                run.room_url = item.livekit_room_url
                                run.access_token = item.access_token
                                run.room_name = _unverified_room(item.access_token)
                                run.connection_resolved = False
                                self._awaiting_connection.add(run_id)
                            else:
                                self._start_managed_room(run, sub)
                            self.runs[run_id] = run
                            result.run_ids.append(run_id)
            self.results[result_id] = result
            return self._result_view(result, now, runs_as="list", full_runs=False)

    def _start_managed_room(self, run: RunRecord, sub: Submission) -> None:
        """v2: Cekura creates the room (agent config in room metadata) and dispatches the agent into it."""
        config = sub.livekit_data.get("config")
        if config is None:
            config = run.agent.livekit_config
        agent_name = sub.livekit_data.get("agent_name") or run.agent.livekit_agent_name
        room = f"cekura-{run.id}-{secrets.token_hex(3)}"
        self.livekit.create_room(
            room,
            metadata=json.dumps(config) if not isinstance(config, str) else config,
            empty_timeout=300,
            max_participants=4,
        )
        job: dict[str, Any] = {"scenario_id": run.scenario.id, "run_id": run.id}
        if run.test_profile is not None:
            job["test_profile_data"] = run.test_profile.as_data()
        if run.run_as_text:
            job["text_mode"] = True
        self.livekit.create_dispatch(agent_name, room, json.dumps(job))
        run.livekit_room = room

    # ---- the moment a bring-your-own call starts ------------------------------------------------
    def tick(self) -> None:
        """Resolve bring-your-own runs whose call should start now: join the room, wait for the agent."""
        with self.lock:
            if not self._awaiting_connection:
                return
            now = self.clock.now()
            for run_id in list(self._awaiting_connection):
                run = self.runs[run_id]
                if run.final_status is not None:
                    self._awaiting_connection.discard(run_id)
                    continue
                if now < run.call_start():
                    continue
                if self._resolve_connection(run, now):
                    self._awaiting_connection.discard(run_id)

    def _resolve_connection(self, run: RunRecord, now: datetime) -> bool:
        if run.agent_wait_started_real is None:
            problem = self._connection_problem(run)
            if problem:
                run.end(
                    run.call_start(),
                    "failed",
                    f"Failed to connect to LiveKit room: {problem}",
                    "connection_failed",
                )
                run.connection_resolved = True
                return True
            run.agent_wait_started_real = time.monotonic()
            first_check = True
        else:
            first_check = False
        if self.livekit.has_dispatch(run.room_name):
            if not first_check:
                # The agent arrived late: the call starts now, the rest of the plan moves with it.
                run.shift = max((now - run.call_start()).total_seconds(), 0.0)
            run.connection_resolved = True
            return True
        if time.monotonic() - run.agent_wait_started_real >= self.agent_join_timeout:
            # End first: while unresolved the run reads as "running", so it is not terminal yet.
            run.end(
                now,
                "failed",
                f"Agent did not join the room {run.room_name!r} within {self.agent_join_timeout:g} seconds",
                "agent_did_not_join",
            )
            run.connection_resolved = True
            return True
        return False

    def _connection_problem(self, run: RunRecord) -> str:
        """Why the Cekura tester could not join the room, or '' when it could."""
        parsed = urlparse(run.room_url)
        if parsed.scheme not in ("ws", "wss", "http", "https") or not parsed.netloc:
            return f"invalid room URL {run.room_url!r}"
        if self.livekit_hosts and parsed.netloc not in self.livekit_hosts:
            return f"could not reach LiveKit server at {parsed.netloc}"
        try:
            claims = self._verifier.verify(run.access_token)
        except jwt.ExpiredSignatureError:
            return "401 Unauthorized: token is expired"
        except jwt.InvalidSignatureError:
            return "401 Unauthorized: invalid token signature (wrong API secret?)"
        except jwt.InvalidIssuerError:
            return "401 Unauthorized: unknown API key"
        except (jwt.PyJWTError, ValueError) as exc:
            return f"401 Unauthorized: invalid token ({type(exc).__name__})"
        video = claims.video
        if video is None or not video.room_join:
            return "403 Forbidden: token lacks the roomJoin grant"
        if not video.room:
            return "403 Forbidden: token is not bound to a room"
        if not claims.identity:
            return "401 Unauthorized: token has no identity"
        if not self.livekit.has_room(video.room):
            return f"room {video.room!r} does not exist"
        return ""

    # ---- reads ----------------------------------------------------------------------------------
    def result(self, result_id: int) -> dict[str, Any]:
        self.tick()
        with self.lock:
            result = self.results.get(result_id)
            if result is None:
                raise not_found()
            return self._result_view(result, self.clock.now(), runs_as="dict", full_runs=True)

    def runs_bulk(self, run_ids: list[int]) -> list[dict[str, Any]]:
        self.tick()
        with self.lock:
            now = self.clock.now()
            wanted = sorted(set(run_ids))
            return [self.runs[i].to_dict(now, self.catalogue) for i in wanted if i in self.runs]

    def run(self, run_id: int) -> dict[str, Any]:
        self.tick()
        with self.lock:
            run = self.runs.get(run_id)
            if run is None:
                raise not_found()
            return run.to_dict(self.clock.now(), self.catalogue)

    def list_results(
        self, *, agent_id: int | None, project_id: int | None, search: str | None
    ) -> list[dict[str, Any]]:
        self.tick()
        with self.lock:
            now = self.clock.now()
            out = []
            for result in sorted(self.results.values(), key=lambda r: r.id, reverse=True):
                agent = self.catalogue.agents[result.agent_id]
                if agent_id is not None and result.agent_id != agent_id:
                    continue
                if project_id is not None and agent.project != project_id:
                    continue
                if search and search.lower() not in result.name.lower():
                    continue
                out.append(self._result_view(result, now, runs_as="list", full_runs=False))
            return out

    def list_runs(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self.tick()
        with self.lock:
            now = self.clock.now()
            out = []
            for run in sorted(self.runs.values(), key=lambda r: r.id, reverse=True):
                data = run.to_dict(now, self.catalogue)
                if _matches(run, data, filters):
                    out.append(_run_list_item(data, run))
            return out

    def agent(self, agent_id: int) -> dict[str, Any]:
        agent = self.catalogue.agents.get(agent_id)
        if agent is None:
            raise not_found()
        created = iso(datetime(2026, 1, 5, 9, 30).astimezone())
        return {
            "id": agent.id,
            "name": agent.name,
            "description": f"Sandbox agent dispatched as LiveKit agent {agent.livekit_agent_name!r}.",
            "project": agent.project,
            "language": "en",
            "agent_speaks_first": True,
            "enabled_personalities": sorted(self.catalogue.personalities),
            "knowledge_base_files": [],
            "mock_tools": [],
            "mock_tools_enabled": False,
            "dynamic_variables": [],
            "created_at": created,
            "updated_at": created,
        }

    # ---- cancel ---------------------------------------------------------------------------------
    def end_calls(self, result_id: int) -> dict[str, Any]:
        with self.lock:
            result = self.results.get(result_id)
            if result is None:
                raise not_found()
            now = self.clock.now()
            ended = []
            for run_id in result.run_ids:
                run = self.runs[run_id]
                if not run.is_terminal(now):
                    run.end(now, "cancelled", "Call ended via API", "call_ended_by_api")
                    ended.append(run_id)
            return {"detail": f"Ended {len(ended)} call(s).", "ended_runs": ended}

    def end_call(self, run_id: int) -> dict[str, Any]:
        with self.lock:
            run = self.runs.get(run_id)
            if run is None:
                raise not_found()
            now = self.clock.now()
            if run.is_terminal(now):
                return {"detail": f"Run {run_id} already finished with status {run.status(now)!r}."}
            run.end(now, "cancelled", "Call ended via API", "call_ended_by_api")
            return {"detail": f"Call of run {run_id} ended."}

    def shareable_link(self, result_id: int, base_url: str) -> dict[str, Any]:
        with self.lock:
            if result_id not in self.results:
                raise not_found()
            token = secrets.token_urlsafe(24)
            project = self.catalogue.agents[self.results[result_id].agent_id].project
            return {
                "token": token,
                "shareable_link": f"{base_url}/shared/{project}/results/{result_id}?token={token}",
            }

    # ---- result view ----------------------------------------------------------------------------
    def _result_view(
        self, result: ResultRecord, now: datetime, *, runs_as: str, full_runs: bool
    ) -> dict[str, Any]:
        agent = self.catalogue.agents[result.agent_id]
        runs = [self.runs[i] for i in result.run_ids]
        statuses = [r.status(now) for r in runs]
        full = [r.to_dict(now, self.catalogue) for r in runs] if full_runs else []
        terminal = sum(s in TERMINAL for s in statuses)
        completed = sum(s == "completed" for s in statuses)
        success = sum(
            1 for r, s in zip(runs, statuses, strict=True) if s == "completed" and r.fate == "passed"
        )
        failed_infra = sum(s == "failed" for s in statuses)
        total_seconds = sum(_secs(d["duration"]) for d in full)
        view: dict[str, Any] = {
            "id": result.id,
            "name": result.name,
            "agent": agent.id,
            "agent_name": agent.name,
            "agent_version": "",
            "status": _result_status(statuses),
            "success_rate": round(100.0 * success / terminal, 2) if terminal else 0.0,
            "run_as_text": result.run_as_text,
            "is_cronjob": False,
            "run_type": "livekit_text" if result.run_as_text else "livekit",
            "total_runs_count": len(runs),
            "completed_runs_count": completed,
            "success_runs_count": success,
            "failed_runs_count": terminal - success,
            "failed_infrastructure_runs": failed_infra,
            "created_at": iso(result.created_at),
            "updated_at": iso(max([r.last_change(now) for r in runs], default=result.created_at)),
        }
        if full_runs:
            view["total_duration"] = f"{total_seconds // 60:02d}:{total_seconds % 60:02d}"
        if runs_as == "dict":
            view["runs"] = {str(d["id"]): d for d in full}
        else:
            view["runs"] = [r.summary(now) for r in runs]
        return view


def _result_status(statuses: list[str]) -> str:
    """A result's status from its runs (inferred rule: see the sandbox README section)."""
    if not statuses:
        return "pending"
    if any(s not in TERMINAL for s in statuses):
        return "pending" if all(s in ("pending", "in_queue") for s in statuses) else "running"
    kinds = set(statuses)
    if kinds == {"cancelled"}:
        return "cancelled"
    if "completed" in kinds:
        return "completed"
    if kinds <= {"timeout", "cancelled"}:
        return "timeout"
    return "failed"


def _secs(mmss: str) -> int:
    minutes, _, seconds = mmss.partition(":")
    return int(minutes) * 60 + int(seconds or 0)


def _unverified_room(token: str) -> str:
    """The room a join token is for, read without verification (verification happens at call start)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    video = claims.get("video") or {}
    return str(video.get("room") or "")


def _run_list_item(data: dict[str, Any], run: RunRecord) -> dict[str, Any]:
    keep = (
        "id",
        "provider_call_id",
        "trace_id",
        "scenario",
        "scenario_name",
        "personality",
        "personality_name",
        "result_id",
        "agent",
        "agent_name",
        "duration",
        "status",
        "evaluation_status",
        "expected_outcome",
        "success",
        "timestamp",
        "executed_at",
        "metadata",
        "error_message",
        "run_as_text",
        "run_type",
    )
    item = {k: data[k] for k in keep}
    item["test_profile_name"] = run.test_profile.name if run.test_profile else ""
    return item


def _matches(run: RunRecord, data: dict[str, Any], f: dict[str, Any]) -> bool:
    checks = (
        ("result_id", lambda v: run.result_id == v),
        ("agent_id", lambda v: run.agent.id == v),
        ("project_id", lambda v: run.agent.project == v),
        ("status", lambda v: data["status"] == v),
        ("status__in", lambda v: data["status"] in v),
        ("success", lambda v: data["success"] is v),
        ("scenario__id__in", lambda v: run.scenario.id in v),
        ("id__in", lambda v: run.id in v),
        ("timestamp__gte", lambda v: run.submitted_at >= v),
        ("timestamp__lte", lambda v: run.submitted_at <= v),
    )
    return all(f.get(key) is None or check(f[key]) for key, check in checks)
