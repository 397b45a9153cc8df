"""One simulated Cekura run: a plan drawn once from the seed, and its state read lazily off the clock.

A run's whole future (queue delay, call length, outcome, metric scores) is drawn at submit time from
`Random(f"{seed}:{run_id}:{scenario_id}")`, so the same seed and the same submissions give the same
outcomes, and no background task is needed to move runs along: the status is a function of simulated now.
Only two things are decided later, at the moment the call would start: whether a bring-your-own room
can be joined (token, room) and whether an agent was dispatched into it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from cekura_sandbox.catalogue import Agent, Catalogue, Personality, Scenario, TestProfile
from cekura_sandbox.clock import iso

TERMINAL = frozenset({"completed", "failed", "timeout", "cancelled"})

#: Fates drawn at submit time.
PASSED, FAILED_EVAL, INFRA, TIMED_OUT = "passed", "failed_evaluation", "infra", "timeout"

#: Infrastructure failures drawn at submit: (error_message, metadata.ended_reason). The reasons are from
#: Cekura's documented vocabulary (documentation/advanced/call-end-reasons.mdx); treat them as opaque text.
_INFRA_ERRORS = (
    (
        "Failed to connect to LiveKit room: timed out waiting for ICE connection",
        "Testing agent-did-not-connect",
    ),
    (
        "Failed to connect to LiveKit room: signal connection closed unexpectedly",
        "Testing agent-did-not-connect",
    ),
    ("Testing agent crashed: upstream TTS provider returned 503", "Testing agent-pipeline-error"),
)
#: Documented end reasons the sandbox uses.
REASON_TESTER_ENDED = "Testing agent-ended-call"
REASON_AGENT_ENDED = "Main agent-ended-call"
REASON_MAX_DURATION = "exceeded-max-duration"
REASON_CANCELLED = "run-cancelled-by-user"
REASON_NOT_CONNECTED = "Testing agent-did-not-connect"
REASON_NO_ANSWER = "Main agent-did-not-answer"


@dataclass
class RunRecord:
    id: int
    result_id: int
    result_name: str
    agent: Agent
    scenario: Scenario
    personality: Personality
    test_profile: TestProfile | None
    run_as_text: bool
    submitted_at: datetime
    # Offsets in simulated seconds from submitted_at; from `t_call` on, `shift` is added.
    t_queue: float
    t_start: float
    t_call: float
    t_end: float
    t_done: float
    fate: str
    call_seconds: int
    metrics: list[dict[str, Any]]
    expected_score: int
    infra_error: str
    infra_reason: str
    trace_id: str
    # Bring-your-own room (v1 / chat): checked when the call starts.
    byo: bool = False
    room_url: str = ""
    access_token: str = field(default="", repr=False)
    room_name: str = ""
    connection_resolved: bool = True
    agent_wait_started_real: float | None = None
    #: Real seconds the join token was still valid for at submit (checked against the simulated join time).
    token_valid_for: float = 0.0
    tester_identity: str = ""
    joined_room: bool = False
    shift: float = 0.0
    # Managed (v2) room.
    livekit_room: str = ""
    # Set when something other than the plan ends the run (cancel, connection failure).
    final_status: str | None = None
    final_at: datetime | None = None
    final_error: str = ""
    final_reason: str = ""
    cached: dict[str, Any] | None = None
    #: The agent version (history record) the run's result ran against, set at submit (a later deploy does
    #: not change it): `{"id": <record id>, "version": <label>}` (inferred: the spec's schema for the run's
    #: `agent_version` is an object it does not describe), or None.
    agent_version: dict[str, Any] | None = None

    # ---- timing ---------------------------------------------------------------------------------
    def at(self, offset: float, shifted: bool = True) -> datetime:
        return self.submitted_at + timedelta(seconds=offset + (self.shift if shifted else 0.0))

    def call_start(self) -> datetime:
        return self.at(self.t_call)

    def planned_status(self, now: datetime) -> str:
        elapsed = (now - self.submitted_at).total_seconds()
        if elapsed < self.t_queue:
            return "pending"
        if elapsed < self.t_start:
            return "in_queue"
        if elapsed < self.t_call + self.shift or not self.connection_resolved:
            return "running"
        if self.fate == INFRA:
            return "failed"
        if elapsed < self.t_end + self.shift:
            return "in_progress"
        if self.fate == TIMED_OUT:
            return "timeout"
        if elapsed < self.t_done + self.shift:
            return "evaluating"
        return "completed"

    def status(self, now: datetime) -> str:
        if self.final_status is not None and self.final_at is not None and now >= self.final_at:
            return self.final_status
        return self.planned_status(now)

    def is_terminal(self, now: datetime) -> bool:
        return self.status(now) in TERMINAL

    def last_change(self, now: datetime) -> datetime:
        """The latest transition at or before now (the run's `updated_at`)."""
        if self.final_status is not None and self.final_at is not None and now >= self.final_at:
            return self.final_at
        points = [self.at(self.t_queue, False), self.at(self.t_start, False), self.call_start()]
        points += [self.at(self.t_end), self.at(self.t_done)]
        passed = [p for p in points if p <= now]
        return max(passed) if passed else self.submitted_at

    def end(self, now: datetime, status: str, error: str, reason: str) -> None:
        """Finish the run now (cancel, connection failure); a run already terminal stays as it is."""
        if self.is_terminal(now):
            return
        self.final_status, self.final_at, self.final_error, self.final_reason = status, now, error, reason
        self.cached = None

    # ---- representation -------------------------------------------------------------------------
    def summary(self, now: datetime) -> dict[str, Any]:
        """The short run entry of submit and list responses."""
        return {
            "id": self.id,
            "status": self.status(now),
            "scenario": self.scenario.id,
            "scenario_name": self.scenario.name,
            "test_profile_data": self.test_profile.as_data() if self.test_profile else None,
        }

    def to_dict(self, now: datetime, catalogue: Catalogue) -> dict[str, Any]:
        """The full Run object; cached once terminal because nothing changes any more."""
        if self.cached is not None:
            return self.cached
        status = self.status(now)
        terminal = status in TERMINAL
        started = now >= self.call_start() and self.connection_resolved
        success = False
        error, reason = "", ""
        call_secs = 0.0
        if self.final_status is not None and terminal:
            error, reason = self.final_error, self.final_reason
            if started:
                call_secs = min(
                    (self.final_at or now) - self.call_start(), timedelta(seconds=self.call_seconds)
                ).total_seconds()
        elif status == "failed":
            error, reason = self.infra_error, self.infra_reason
        elif status == "timeout":
            error, reason = (
                f"Call exceeded the maximum duration of {self.call_seconds} seconds",
                REASON_MAX_DURATION,
            )
            call_secs = self.call_seconds
        elif started:
            call_secs = min((now - self.call_start()).total_seconds(), float(self.call_seconds))
        evaluated = status == "completed"
        if evaluated:
            success = self.fate == PASSED
            reason = REASON_TESTER_ENDED if success else REASON_AGENT_ENDED
        metrics = [wire_metric(m, self.agent.metric_format) for m in self.metrics] if evaluated else []
        outcome: dict[str, Any] = {}
        if evaluated:
            outcome = {
                "score": self.expected_score,
                "explanation": [
                    "The agent achieved the expected outcome."
                    if success
                    else "The agent did not achieve the expected outcome of the scenario."
                ],
                "outcome_alignments": [],
            }
        data: dict[str, Any] = {
            "id": self.id,
            "provider_call_id": f"sandbox-{self.id}" if started else "",
            "trace_id": self.trace_id,
            "result_id": self.result_id,
            "result_name": self.result_name,
            "agent": self.agent.id,
            "agent_name": self.agent.name,
            "agent_version": self.agent_version,
            "scenario": self.scenario.id,
            "scenario_name": self.scenario.name,
            "scenario_type": "instruction",
            "personality": self.personality.id,
            "personality_name": self.personality.name,
            "status": status,
            "success": success,
            "evaluation_status": ("success" if success else "failure"),
            "error_message": error,
            "duration": _mmss(call_secs),
            "timestamp": iso(self.submitted_at),
            "executed_at": iso(self.call_start()) if started else None,
            "expected_outcome_prompt": f"The caller's request '{self.scenario.name}' is fully resolved.",
            "expected_outcome": outcome,
            "evaluation": {"metrics": metrics},
            "metadata": {
                "ended_reason": reason,
                "livekit_room": self.room_name or self.livekit_room,
                "sandbox": True,
            },
            "test_profile_data": self.test_profile.as_record() if self.test_profile else None,
            "run_as_text": self.run_as_text,
            "voice_recording_url": _recording_url(self, evaluated),
            "transcript": _transcript(self) if evaluated else "",
            "transcript_object": _transcript_object(self) if evaluated else [],
            "critical_categories": [],
            "mocked_tool_names": [],
            "generated_mock_tool_entries": [],
            "run_type": "livekit_text" if self.run_as_text else "livekit",
            "is_reviewed": False,
            "feedback": "",
            "rubric": None,
            "email_id": None,
            "outbound_number": "",
            "inbound_number": "",
            "agent_number": None,
            "testing_channel_index": None,
            "scenario_instructions": f"Call the agent about: {self.scenario.name.lower()}.",
            "provider_call_details": {"room": self.room_name or self.livekit_room} if started else {},
        }
        if terminal:
            self.cached = data
        return data


def plan_run(
    *,
    seed: int,
    run_id: int,
    result_id: int,
    result_name: str,
    catalogue: Catalogue,
    scenario: Scenario,
    personality: Personality,
    test_profile: TestProfile | None,
    run_as_text: bool,
    submitted_at: datetime,
    slot_free_at: float,
) -> RunRecord:
    """Draw one run's whole future from the seed; `slot_free_at` delays the call for concurrency limits."""
    rng = random.Random(f"{seed}:{run_id}:{scenario.id}")
    u_infra, u_timeout, u_pass = rng.random(), rng.random(), rng.random()
    t_queue = rng.uniform(0.5, 3.0)
    t_start = max(t_queue + rng.uniform(2.0, 12.0), slot_free_at)
    t_call = t_start + rng.uniform(1.0, 4.0)
    lo, hi = scenario.duration
    if u_infra < scenario.infra_failure_rate:
        fate, call_seconds = INFRA, 0
    elif u_timeout < scenario.timeout_rate:
        fate, call_seconds = TIMED_OUT, int(hi * 1.5) + 60
    else:
        passed = u_pass < scenario.pass_rate_on(submitted_at.date())
        fate, call_seconds = (PASSED if passed else FAILED_EVAL), rng.randint(lo, hi)
    t_end = t_call + call_seconds
    t_done = t_end + rng.uniform(5.0, 25.0)
    metrics = _draw_metrics(rng, catalogue, scenario, fate == PASSED, submitted_at.date())
    expected = rng.randint(80, 100) if fate == PASSED else rng.randint(0, 45)
    infra = rng.choice(_INFRA_ERRORS)
    return RunRecord(
        id=run_id,
        result_id=result_id,
        result_name=result_name,
        agent=catalogue.agents[scenario.agent],
        scenario=scenario,
        personality=personality,
        test_profile=test_profile,
        run_as_text=run_as_text,
        submitted_at=submitted_at,
        t_queue=t_queue,
        t_start=t_start,
        t_call=t_call,
        t_end=t_end,
        t_done=t_done,
        fate=fate,
        call_seconds=call_seconds,
        metrics=metrics,
        expected_score=expected,
        infra_error=infra[0],
        infra_reason=infra[1],
        trace_id=f"{rng.getrandbits(128):032x}",
    )


def wire_metric(metric: dict[str, Any], metric_format: str) -> dict[str, Any]:
    """A drawn metric result as the agent's `metric_format` writes it (see catalogue.METRIC_FORMATS).

    Only binary metrics differ: the canonical form is `eval_type: "binary"` with a boolean `passed`; the
    legacy form is `type: binary_*` with `score` 5 or 0 and no `passed`. Other types keep `type`/`score`.
    """
    if not str(metric.get("type", "")).startswith("binary"):
        return dict(metric)
    common = {k: v for k, v in metric.items() if k not in ("type", "score", "passed", "value")}
    canonical = {"eval_type": "binary", "passed": metric["passed"]}
    legacy = {"type": metric["type"], "score": metric["score"], "value": metric["value"]}
    if metric_format == "canonical":
        return {**common, **canonical}
    if metric_format == "legacy":
        return {**common, **legacy}
    return {**common, **canonical, **legacy}


def _draw_metrics(
    rng: random.Random, catalogue: Catalogue, scenario: Scenario, passed: bool, day: date | None = None
) -> list[dict[str, Any]]:
    """Metric results consistent with the run: all pass when it passed, at least one fails otherwise.

    Values follow Cekura's output types: binary (true/false), numeric (latency in ms with its percentiles,
    interruption counts), continuous_qualitative (a 0–100 rating) and enum (one category). Latency is
    log-normal (skewed, like real response times) and runs 50 % slower on and after the scenario's dated
    `regression` (the seeded metric drift the warehouse's Mann–Whitney test should find).
    """
    ids = list(scenario.metrics)
    failing: set[int] = set()
    if not passed and ids:
        failing.add(rng.choice(ids))
        failing.update(m for m in ids if rng.random() < 0.2)
    drifted = scenario.regression_from is not None and day is not None and day >= scenario.regression_from
    out = []
    for mid in ids:
        metric = catalogue.metrics[mid]
        ok = mid not in failing
        drawn = _metric_value(rng, metric.name, metric.type, ok, 1.5 if drifted else 1.0)
        out.append({"id": metric.id, "name": metric.name, "type": metric.type, "passed": ok, **drawn})
    return out


def _metric_value(rng: random.Random, name: str, kind: str, ok: bool, slowdown: float) -> dict[str, Any]:
    """score / value / enum / explanation / extra of one metric result, by Cekura output type."""
    if kind == "numeric" and "interrupt" in name.lower():
        count = rng.randint(0, 1) if ok else rng.randint(3, 7)
        why = f"The agent interrupted the caller {count} time(s)."
        return {
            "score": 100.0 if ok else 30.0,
            "value": str(count),
            "enum": "",
            "explanation": [why],
            "extra": {},
        }
    if kind == "numeric":
        turns = sorted(rng.lognormvariate(6.55, 0.35) * slowdown for _ in range(9))
        turns = turns if ok else [t + rng.randint(1200, 2500) for t in turns]
        p50, p90, p95 = (round(turns[i]) for i in (4, 7, 8))
        why = f"Median response latency {p50} ms ({'within' if p50 <= 1500 else 'above'} the 1500 ms target)."
        extra = {"unit": "ms", "percentiles": {"p50": p50, "p90": p90, "p95": p95}}
        return {
            "score": 100.0 if ok else 40.0,
            "value": str(p50),
            "enum": "",
            "explanation": [why],
            "extra": extra,
        }
    if kind == "continuous_qualitative":
        rating = round(rng.uniform(70, 100) if ok else rng.uniform(10, 55), 1)
        return {
            "score": rating,
            "value": str(rating),
            "enum": "",
            "explanation": [f"{name}: rated {rating}/100."],
            "extra": {},
        }
    if kind == "enum":
        choice = rng.choice(["resolved", "resolved", "transferred"]) if ok else "abandoned"
        return {
            "score": 0.0,
            "value": choice,
            "enum": choice,
            "explanation": [f"{name}: {choice}."],
            "extra": {},
        }
    why = f"{name}: {'no issue found' if ok else 'the agent deviated from the expected behaviour'}."
    return {
        "score": 5.0 if ok else 0.0,
        "value": "true" if ok else "false",
        "enum": "",
        "explanation": [why],
        "extra": {},
    }


def _recording_url(run: RunRecord, evaluated: bool) -> str:
    """Where Cekura would serve a finished voice call's recording (a stable, fake address: nothing is served
    there); '' for chat runs and runs without a finished call."""
    if not evaluated or run.run_as_text:
        return ""
    return f"https://recordings.sandbox.cekura.invalid/results/{run.result_id}/runs/{run.id}.wav"


def _mmss(seconds: float) -> str:
    total = max(int(seconds), 0)
    return f"{total // 60:02d}:{total % 60:02d}"


def _transcript(run: RunRecord) -> str:
    return "\n".join(f"{t['role']}: {t['content']}" for t in _transcript_object(run))


def _transcript_object(run: RunRecord) -> list[dict[str, Any]]:
    lines = [
        ("Main Agent", "Hello, thanks for calling. How can I help you today?"),
        ("Testing Agent", f"Hi, I'm calling about: {run.scenario.name.lower()}."),
        (
            "Main Agent",
            "Sure, I can help with that." if run.fate == PASSED else "Sorry, could you repeat that?",
        ),
    ]
    step = max(run.call_seconds / len(lines), 1.0)
    return [
        {
            "role": role,
            "content": text,
            "timestamp": round(i * step, 2),
            "normalized_content": text.lower(),
            "comparison_spans": [],
        }
        for i, (role, text) in enumerate(lines)
    ]
