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

from cekura_sandbox.billing import Billing, run_credits
from cekura_sandbox.catalogue import Catalogue, Personality, TestProfile
from cekura_sandbox.clock import SimClock, iso
from cekura_sandbox.errors import not_found
from cekura_sandbox.lifecycle import (
    REASON_CANCELLED,
    REASON_NO_ANSWER,
    REASON_NOT_CONNECTED,
    TERMINAL,
    RunRecord,
    plan_run,
)
from cekura_sandbox.limits import Limits
from cekura_sandbox.livekit_state import LiveKitState
from cekura_sandbox.validation import Submission

FIRST_RESULT_ID = 501
FIRST_RUN_ID = 1001
#: Organisation-wide parallel calls when neither the catalogue nor the caller sets a limit. Cekura does not
#: publish its plans' numbers; 10 makes a 50-run batch queue for several simulated minutes, as for real.
DEFAULT_PARALLEL_CALLS = 10
#: livekit-server accepts tokens up to a minute past their expiry (clock-skew leeway).
TOKEN_LEEWAY_SECONDS = 60.0


@dataclass
class ResultRecord:
    id: int
    name: str
    agent_id: int
    run_as_text: bool
    created_at: datetime
    run_ids: list[int] = field(default_factory=list)
    run_settings: dict[str, Any] = field(default_factory=dict)
    agent_version: str | None = None
    #: Started by a Cekura cron job (`origins.CronJob`), not by a submit.
    is_cronjob: bool = False
    #: Runs added by `rerun/`: new run id → the failed run it re-ran (`rerun.rerun_failed`).
    rerun_of: dict[int, int] = field(default_factory=dict)


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
        parallel_calls: int | None = None,
        ignore_v1_name: bool = False,
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
        limit = parallel_calls or catalogue.parallel_call_limit or DEFAULT_PARALLEL_CALLS
        if limit < 1:
            raise ValueError(f"parallel_calls={parallel_calls!r} must be at least 1")
        #: Calls of the organisation in flight at once; beyond it runs wait `in_queue`.
        self.parallel_calls = limit
        #: Drop top-level `name` on v1/chat submits (neither the docs nor the spec declare it there).
        self.ignore_v1_name = ignore_v1_name
        self.lock = threading.RLock()
        self.results: dict[int, ResultRecord] = {}
        self.runs: dict[int, RunRecord] = {}
        self._next_result = first_result_id
        self._next_run = first_run_id
        self._awaiting_connection: set[int] = set()
        #: The organisation's credits (`billing/info`), and each agent's current version.
        self.billing = Billing(created_at=clock.now(), max_concurrent_runs=limit)
        self.agent_versions: dict[int, str | None] = {a.id: a.version for a in catalogue.agents.values()}
        self._version_records: dict[tuple[int, str], int] = {}
        #: Cekura cron jobs of the organisation (`origins.CronJob`), fired on every read.
        self.cron_jobs: list[Any] = []
        #: The plan's rate limit, key scopes, billing guards (all off until set): see `limits.py`.
        self.limits = Limits()
        if livekit.workers is None:
            # The catalogue's agents have workers (unlimited slots); any other name gets no job, as on a
            # real server where no worker registered it. Tests scale or stop them via `livekit`.
            for agent in catalogue.agents.values():
                if agent.livekit_agent_name:
                    livekit.register_worker(agent.livekit_agent_name)

    # ---- submit ---------------------------------------------------------------------------------
    def submit(self, sub: Submission) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            self.billing.check_can_start(self.credits_used())
            agent = self.catalogue.agents[sub.agent_id]
            result_id = self._next_result
            self._next_result += 1
            name = sub.name or ""
            if sub.mode in ("v1", "chat") and self.ignore_v1_name:
                name = ""
            result = ResultRecord(result_id, name, agent.id, sub.mode == "chat", now)
            result.run_settings = _run_settings(sub)
            personalities: list[Personality | None] = [
                self.catalogue.personalities[p] for p in sub.personality_ids
            ] or [None]
            profiles: list[TestProfile | None] = [
                self.catalogue.test_profiles[t] for t in sub.test_profile_ids
            ] or [None]
            slots: list[float] = []
            lines = self._busy_lines(now)
            for item in sub.items:
                for _ in range(sub.frequency):
                    for personality in personalities:
                        for profile in profiles:
                            run_id = self._next_run
                            self._next_run += 1
                            slot_free = 0.0
                            if sub.concurrency_limit and len(slots) >= sub.concurrency_limit:
                                slot_free = heapq.heappop(slots)
                            org = lines.setdefault(self._line_key(item.scenario.agent), [])
                            while len(org) >= self._limit_of(item.scenario.agent):
                                slot_free = max(slot_free, heapq.heappop(org))
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
                            heapq.heappush(org, run.t_end)
                            if sub.mode in ("v1", "chat"):
                                run.byo = True
                                run.room_url = item.livekit_room_url
                                run.access_token = item.access_token
                                run.room_name, run.tester_identity, expires = _unverified_claims(
                                    item.access_token
                                )
                                run.token_valid_for = expires - time.time() if expires else 0.0
                                run.connection_resolved = False
                                self._awaiting_connection.add(run_id)
                            else:
                                self._start_managed_room(run, sub)
                            self.runs[run_id] = run
                            result.run_ids.append(run_id)
            self.results[result_id] = result
            self._stamp_version(result)
            return self._result_view(result, now, runs_as="list", full_runs=False)

    # ---- agent versions and credits ----------------------------------------------------------------
    def _stamp_version(self, result: ResultRecord) -> None:
        """A result (a label) and its runs (the history record) report the agent version current at submit."""
        result.agent_version = self.agent_versions.get(result.agent_id)
        record = None
        if result.agent_version is not None:
            key = (result.agent_id, result.agent_version)
            record_id = self._version_records.setdefault(key, 9001 + len(self._version_records))
            record = {"id": record_id, "version": result.agent_version}
        for run_id in result.run_ids:
            self.runs[run_id].agent_version = record

    def set_agent_version(self, agent_id: int, version: str | None) -> None:
        """A deploy: results submitted from now on report `version`."""
        with self.lock:
            if agent_id not in self.catalogue.agents:
                raise ValueError(f"agent {agent_id} is not in the catalogue")
            self.agent_versions[agent_id] = version

    def credits_used(self) -> float:
        """Credits every finished run consumed, by Cekura's documented rates (`billing.run_credits`)."""
        with self.lock:
            now = self.clock.now()
            return sum(run_credits(r.to_dict(now, self.catalogue)) for r in self.runs.values())

    def billing_info(self) -> dict[str, Any]:
        with self.lock:
            return self.billing.view(self.credits_used(), self.clock.now())

    # ---- the organisation's parallel-call limit --------------------------------------------------
    def _line_key(self, agent_id: int) -> str:
        agent = self.catalogue.agents[agent_id]
        return f"agent:{agent_id}" if agent.parallel_call_limit else "organisation"

    def _limit_of(self, agent_id: int) -> int:
        return self.catalogue.agents[agent_id].parallel_call_limit or self.parallel_calls

    def _busy_lines(self, now: datetime) -> dict[str, list[float]]:
        """Per limit key, a heap of when each call still in flight or queued frees its line (seconds from
        now). Runs are served first come first served, so the k-th line to free is the next run's."""
        lines: dict[str, list[float]] = {}
        for run in self.runs.values():
            end = run.at(run.t_end)
            if run.final_at is not None and run.final_at < end:
                end = max(run.final_at, run.at(run.t_start, False))
            if end > now:
                lines.setdefault(self._line_key(run.agent.id), []).append((end - now).total_seconds())
        for heap in lines.values():
            heapq.heapify(heap)
        return lines

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
        # Cekura's tester holds its own room from the start to the planned end of the call.
        self.livekit.join(room, f"cekura-tester-{run.id}", run.submitted_at, run.at(run.t_end))
        job: dict[str, Any] = {"scenario_id": run.scenario.id, "run_id": run.id}
        if run.test_profile is not None:
            job["test_profile_data"] = run.test_profile.as_data()
        if run.run_as_text:
            job["text_mode"] = True
        self.livekit.create_dispatch(agent_name, room, json.dumps(job))
        run.livekit_room = room

    # ---- the moment a bring-your-own call starts ------------------------------------------------
    def tick(self) -> None:
        """Resolve bring-your-own runs whose call should start now: join the room, wait for the agent.
        Cron jobs that fell due since the last read create their results first."""
        from cekura_sandbox.origins import fire_cron_jobs

        fire_cron_jobs(self)
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
            joined_at = run.call_start()
            problem = self._connection_problem(run, joined_at)
            if problem:
                run.end(
                    joined_at,
                    "failed",
                    f"Failed to connect to LiveKit room: {problem}",
                    REASON_NOT_CONNECTED,
                )
                run.connection_resolved = True
                return True
            # The tester joins when the run leaves the queue. A room that closed meanwhile (empty_timeout:
            # the agent alone does not keep it open) is auto-created afresh: no metadata, no agent.
            # It stays while it waits for the agent (no planned leave yet): a late agent must find it there,
            # not a room closed by a departure timeout counted from a call that never happened.
            self.livekit.join(run.room_name, run.tester_identity, joined_at)
            run.joined_room = True
            run.agent_wait_started_real = time.monotonic()
            first_check = True
        else:
            first_check = False
        if self.livekit.has_agent(run.room_name, run.call_start() if first_check else now):
            if not first_check:
                # The agent arrived late: the call starts now, the rest of the plan moves with it.
                run.shift = max((now - run.call_start()).total_seconds(), 0.0)
            self.livekit.leave(run.room_name, run.tester_identity, run.at(run.t_end), later=True)
            run.connection_resolved = True
            return True
        if time.monotonic() - run.agent_wait_started_real >= self.agent_join_timeout:
            # End first: while unresolved the run reads as "running", so it is not terminal yet.
            run.end(
                now,
                "failed",
                f"The agent did not answer in room {run.room_name!r} within {self.agent_join_timeout:g} "
                "seconds (no agent in the room)",
                REASON_NO_ANSWER,
            )
            self._leave(run, now)
            run.connection_resolved = True
            return True
        return False

    def _leave(self, run: RunRecord, at: datetime) -> None:
        """The tester leaves the bring-your-own room (call ended early or moved)."""
        if run.byo and run.joined_room:
            self.livekit.leave(run.room_name, run.tester_identity, at)

    def _connection_problem(self, run: RunRecord, joined_at: datetime) -> str:
        """Why the Cekura tester could not join the room at `joined_at`, or '' when it could."""
        parsed = urlparse(run.room_url)
        if parsed.scheme not in ("ws", "wss", "http", "https") or not parsed.netloc:
            return f"invalid room URL {run.room_url!r}"
        if self.livekit_hosts and parsed.netloc not in self.livekit_hosts:
            return f"could not reach LiveKit server at {parsed.netloc}"
        try:
            claims = self._verifier.verify(run.access_token)
        except jwt.ExpiredSignatureError:
            return "401 Unauthorized: token is expired"
        except jwt.ImmatureSignatureError:
            return "401 Unauthorized: token is not valid yet"
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
        # Expiry on the simulated clock: the token's remaining real lifetime at submit, against the
        # simulated time the run spent queued before the tester joins.
        waited = (joined_at - run.submitted_at).total_seconds()
        if waited > run.token_valid_for + TOKEN_LEEWAY_SECONDS:
            return "401 Unauthorized: token is expired"
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
            # Newest first by creation time (a cron job's result is dated at its tick: `origins.CronJob`).
            for result in sorted(self.results.values(), key=lambda r: (r.created_at, r.id), reverse=True):
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

    def project_of_result(self, result_id: int) -> int | None:
        """The project a result belongs to (None: no such result), for project-scoped keys."""
        with self.lock:
            result = self.results.get(result_id)
            return None if result is None else self.catalogue.agents[result.agent_id].project

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

    def list_agents(self, project_id: int | None) -> list[dict[str, Any]]:
        return [
            self.agent(a.id)
            for a in sorted(self.catalogue.agents.values(), key=lambda a: a.id)
            if project_id is None or a.project == project_id
        ]

    def list_scenarios(self, agent_id: int | None, project_id: int | None) -> list[dict[str, Any]]:
        """The catalogue's scenarios as the Scenario schema (the subset a user reads to pick ids)."""
        out = []
        for sc in sorted(self.catalogue.scenarios.values(), key=lambda x: x.id):
            agent = self.catalogue.agents[sc.agent]
            if (agent_id is not None and sc.agent != agent_id) or (
                project_id is not None and agent.project != project_id
            ):
                continue
            personality = self.catalogue.personalities.get(sc.personality)
            out.append(
                {
                    "id": sc.id,
                    "name": sc.name,
                    "agent": agent.id,
                    "agent_name": agent.name,
                    "project": agent.project,
                    "personality": sc.personality,
                    "personality_name": personality.name if personality else "",
                    "tags": [],
                    "metrics": list(sc.metrics),
                    "metric_names": [self.catalogue.metrics[m].name for m in sc.metrics],
                    "instructions": f"Call the agent about: {sc.name.lower()}.",
                    "expected_outcome_prompt": f"The caller's request '{sc.name}' is fully resolved.",
                    "scenario_language": "en",
                    "scenario_type": "instruction",
                    "is_predefined": False,
                    "test_profile": None,
                    "test_profile_data": None,
                    "folder_path": "",
                    "max_duration": int(sc.duration[1] * 1.5) + 60,
                }
            )
        return out

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
                    self._cancel(run, now)
                    ended.append(run_id)
            return {"ended_runs": ended}

    def end_call(self, run_id: int) -> dict[str, Any]:
        with self.lock:
            run = self.runs.get(run_id)
            if run is None:
                raise not_found()
            now = self.clock.now()
            if not run.is_terminal(now):
                self._cancel(run, now)
            return {}

    def _cancel(self, run: RunRecord, now: datetime) -> None:
        run.end(now, "cancelled", "Call ended via API", REASON_CANCELLED)
        self._leave(run, now)

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
            "agent_version": result.agent_version,
            "status": _result_status(statuses),
            "success_rate": round(100.0 * success / terminal, 2) if terminal else 0.0,
            "run_as_text": result.run_as_text,
            "is_cronjob": result.is_cronjob,
            "run_type": "livekit_text" if result.run_as_text else "livekit",
            "total_runs_count": len(runs),
            "completed_runs_count": completed,
            "success_runs_count": success,
            "failed_runs_count": terminal - success,
            "failed_infrastructure_runs": failed_infra,
            "run_settings": dict(result.run_settings),
            "created_at": iso(result.created_at),
            "updated_at": iso(max([r.last_change(now) for r in runs], default=result.created_at)),
        }
        if full_runs:
            view["total_duration"] = f"{total_seconds // 60:02d}:{total_seconds % 60:02d}"
            view.update(_summaries(full, done=terminal == len(runs)))
        if runs_as == "dict":
            view["runs"] = {str(d["id"]): d for d in full}
        else:
            view["runs"] = [r.summary(now) for r in runs]
        return view


def _summaries(runs: list[dict[str, Any]], *, done: bool) -> dict[str, Any]:
    """Plausible `failed_reasons`, `ai_summary` and `ai_summary_status` of a result detail (generated
    text in the real service; here a deterministic digest of the runs)."""
    failing = [r for r in runs if r["status"] in TERMINAL and not r["success"]]
    issues: dict[str, list[int]] = {}
    for run in failing:
        why = run["error_message"] or next(
            (m["name"] for m in run["evaluation"]["metrics"] if _metric_failed(m)), "expected outcome"
        )
        issues.setdefault(str(why), []).append(run["id"])
    ranked = sorted(issues.items(), key=lambda kv: -len(kv[1]))
    reasons = {
        "issues": [
            {"rank": i + 1, "run_ids": ids, "description": why, "affected_count": len(ids)}
            for i, (why, ids) in enumerate(ranked)
        ],
        "total_failed_runs": len(failing),
    }
    summary = None
    if done:
        passed = sum(1 for r in runs if r["success"])
        summary = {
            "what_happened": f"{len(runs) - passed} of {len(runs)} runs failed, {passed} passed.",
            "why_it_happened": "; ".join(why for why, _ in ranked[:3])
            or "Every run met its expected outcome.",
            "how_to_fix": "Open the failing runs' transcripts and metric explanations.",
            "generated_from_runs_count": len(runs),
        }
    return {
        "failed_reasons": reasons if failing else None,
        "ai_summary": summary,
        "ai_summary_status": "completed" if done else "pending",
    }


def _metric_failed(metric: dict[str, Any]) -> bool:
    """A metric result that failed, in either binary form (`passed` false, or legacy `score` 0)."""
    if "passed" in metric:
        return metric["passed"] is False
    return str(metric.get("type", "")).startswith("binary") and metric.get("score") == 0


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


def _unverified_claims(token: str) -> tuple[str, str, float]:
    """Room, identity and expiry (epoch seconds, 0 = none) of a join token, read without verification
    (verification happens when the tester joins)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "", "", 0.0
    video = claims.get("video") or {}
    exp = claims.get("exp")
    return (
        str(video.get("room") or ""),
        str(claims.get("sub") or "cekura-tester"),
        float(exp) if isinstance(exp, int | float) else 0.0,
    )


def _run_settings(sub: Submission) -> dict[str, Any]:
    """The override-relevant part of the submit body, as the spec's `run_settings` snapshot."""
    return {
        "frequency": sub.frequency,
        "personality_ids": list(sub.personality_ids),
        "test_profile_ids": list(sub.test_profile_ids),
        "concurrency_limit": sub.concurrency_limit,
        "mode": {"v1": "livekit", "chat": "livekit_chat", "v2": "livekit_v2"}[sub.mode],
    }


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
