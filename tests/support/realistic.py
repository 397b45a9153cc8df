"""A realistic warehouse, day by day: the one generator the benchmarks and the tests share (issue 26 item 1).

What a big organisation's warehouse holds, which the old bench data (every run in result 1, no dashboard URL,
two binary metrics) did not:

- many results: each batch is one agent's scenarios (one run per scenario), with its own result id, suite,
  mode and dashboard URL; an agent runs `batches_per_day` batches a day;
- quarantined scenarios (one per `quarantine_every` agents), whose runs carry ``quarantined=True``;
- three metrics per evaluated run, of mixed kinds: a binary metric in Cekura's canonical format (odd agents)
  or the legacy ``type``/score 5|0 format (even agents), a numeric latency in ms, and a 0–100 rating;
- infra errors, timeouts and cancellations beside evaluated runs; per-scenario pass rates from 60% to 99%,
  and a few designed drops (so detection, episodes and alerts have work to do);
- late loads: a share of the batches arrive one to three days after their runs (physically after later days).

The default shape is issue 26's: 100 agents × 50 scenarios × 10 runs a day = 50,000 runs a day (18M a year);
100k, 1M and 3M runs are 2, 20 and 60 days of it.

Two outputs from one draw (`day_draw`), so they cannot drift apart: `day_frames` builds the warehouse's
frames column-wise (millions of rows in seconds, for bulk loads), and `batch_payloads` builds the Cekura API
payloads of one batch (for the real `extract` → `load_extract` path). `tests/bench/test_realistic.py` proves
the two agree through `extract`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cekura_livekit.batch.cost import run_credits
from cekura_livekit.models import CHAT, MANAGED, grain_mode
from cekura_livekit.results.schema import RESULT_COLUMNS

DASHBOARD = "https://dashboard.cekura.ai/results/{}"
RUN_ID_BASE = 10_000_000
#: Metric ids: the binary metric (canonical or legacy format), latency (numeric, ms), rating (0–100).
BINARY_ID, LATENCY_ID, RATING_ID = 1, 3, 4


@dataclass(frozen=True)
class Shape:
    """The organisation: how many agents, scenarios and batches; what fails, what drops, what arrives late."""

    agents: int = 100
    scenarios: int = 50
    batches_per_day: int = 10
    start: date = date(2026, 1, 1)
    quarantine_every: int = 10  # one quarantined scenario in every 10th agent
    late_share: float = 0.02  # batches whose load arrives 1–3 days late
    drop_share: float = 0.02  # series (agent × scenario) with a designed 25-point drop
    horizon_days: int = 60  # drops start between day 7 and this day
    seed: int = 26

    @property
    def runs_per_day(self) -> int:
        return self.agents * self.scenarios * self.batches_per_day

    def days_for(self, runs: int) -> int:
        """Days of history that hold about `runs` runs (at least 1)."""
        return max(1, round(runs / self.runs_per_day))


SMOKE = Shape(agents=4, scenarios=6, batches_per_day=2, quarantine_every=2, horizon_days=10, drop_share=0.2)


@dataclass
class _Series:
    """Per agent × scenario truths, drawn once: base pass rate, drop day (or -1)."""

    rate: np.ndarray
    drop_day: np.ndarray

    @classmethod
    def draw(cls, shape: Shape) -> _Series:
        """The same truths whatever the history's length, so a warehouse can grow day by day."""
        rng = np.random.default_rng(shape.seed)
        n = shape.agents * shape.scenarios
        rate = 0.6 + 0.39 * rng.beta(5, 1.5, n)
        drops = rng.random(n) < shape.drop_share
        half = min(7, max(1, shape.horizon_days // 2))  # after a week of baseline
        drop_day = np.where(drops, rng.integers(half, max(half + 1, shape.horizon_days), n), -1)
        return cls(rate, drop_day)


@dataclass
class DayDraw:
    """Every run of one day as parallel arrays (index = run), and the batch of each run."""

    day: date
    run_id: np.ndarray
    result_id: np.ndarray
    agent: np.ndarray  # 1-based
    scenario: np.ndarray  # 1-based within the agent
    started_at: np.ndarray  # datetime64[us]
    status: np.ndarray  # completed / failed / timeout / cancelled
    success: np.ndarray  # bool (completed runs only mean anything)
    duration_s: np.ndarray
    latency_ms: np.ndarray
    rating: np.ndarray
    metric_pass: np.ndarray  # the binary metric
    late_by: np.ndarray  # per run: days its batch's load arrives late (0: on time)
    extra: dict[str, Any] = field(default_factory=dict)


def _status(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(
        np.array(["completed", "failed", "timeout", "cancelled"]), n, p=[0.94, 0.03, 0.02, 0.01]
    )


def day_draw(shape: Shape, series: _Series, day_index: int) -> DayDraw:
    """One day's runs: `batches_per_day` batches per agent, one run per scenario in each. Run and result ids
    follow from the day, so a day drawn twice (a history grown in steps, a nightly batch) is the same rows."""
    first_run = RUN_ID_BASE + day_index * shape.runs_per_day
    first_result = 1 + day_index * shape.agents * shape.batches_per_day
    rng = np.random.default_rng([shape.seed, day_index])
    a, s, b = shape.agents, shape.scenarios, shape.batches_per_day
    n = a * s * b
    agent = np.repeat(np.arange(1, a + 1), b * s)
    slot = np.tile(np.repeat(np.arange(b), s), a)
    scenario = np.tile(np.arange(1, s + 1), a * b)
    batch = (agent - 1) * b + slot  # 0..a*b-1, in creation order within the day per agent
    day = shape.start + timedelta(days=day_index)
    midnight = np.datetime64(datetime(day.year, day.month, day.day), "us")
    seconds = slot * (86_400 // b) + (scenario - 1) * 20 + rng.integers(0, 15, n)
    started = midnight + (seconds * 1_000_000).astype("timedelta64[us]")
    key = (agent - 1) * s + (scenario - 1)
    rate = series.rate[key]
    dropped = (series.drop_day[key] >= 0) & (day_index >= series.drop_day[key])
    rate = np.where(dropped, rate - 0.25, rate)
    late_batch = np.where(rng.random(a * b) < shape.late_share, rng.integers(1, 4, a * b), 0)
    return DayDraw(
        day=day,
        run_id=first_run + np.arange(n),
        result_id=first_result + batch,
        agent=agent,
        scenario=scenario,
        started_at=started,
        status=_status(rng, n),
        success=rng.random(n) < rate,
        duration_s=np.round(rng.gamma(4.0, 30.0, n)),
        latency_ms=np.round(rng.lognormal(np.log(800) + 0.05 * (agent % 3), 0.35, n), 1),
        rating=np.round(np.clip(rng.normal(75, 12, n), 0, 100)),
        metric_pass=rng.random(n) < np.clip(rate + 0.05, 0, 1),
        late_by=late_batch[batch],
    )


def _submission(agent: np.ndarray) -> np.ndarray:
    """Every 5th agent is a chat agent (Cekura's `chat` submission), the others voice (`managed`)."""
    return np.where(agent % 5 == 0, CHAT, MANAGED)


def _mode(agent: np.ndarray) -> np.ndarray:
    """The runs' grain mode (`models.grain_mode` of the submission and `run_as_text`)."""
    return np.where(agent % 5 == 0, grain_mode(CHAT, True), grain_mode(MANAGED, False))


def _quarantined(shape: Shape, agent: np.ndarray, scenario: np.ndarray) -> np.ndarray:
    return (agent % shape.quarantine_every == 0) & (scenario == 1 + agent % shape.scenarios)


def scenario_id(shape: Shape, agent: np.ndarray | int, scenario: np.ndarray | int) -> Any:
    """Scenario ids are global in Cekura: agent × 1,000 + the scenario's number."""
    return agent * 1000 + scenario


_OUTCOME = {"failed": "infra_error", "timeout": "timeout", "cancelled": "cancelled"}


def _text(values: Any) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype="str")


def _frames(shape: Shape, d: DayDraw, keep: np.ndarray, loaded: datetime) -> dict[str, pd.DataFrame]:
    """The warehouse frames (results, runs, run_metrics) of the runs `keep` selects, with `extract`'s dtypes."""
    idx = np.flatnonzero(keep)
    agent, scen, rid = d.agent[idx], d.scenario[idx], d.result_id[idx]
    status, success = d.status[idx], d.success[idx]
    completed = status == "completed"
    outcome = np.where(
        completed, np.where(success, "passed", "failed_evaluation"), [_OUTCOME.get(x, "") for x in status]
    )
    url = np.array([DASHBOARD.format(r) for r in rid], dtype=object)
    mode = _mode(agent)
    chat_runs = _submission(agent) == CHAT
    started = pd.Series(d.started_at[idx]).dt.tz_localize(UTC)
    runs = pd.DataFrame(
        {
            "run_id": pd.array(d.run_id[idx], dtype="Int64"),
            "result_id": pd.array(rid, dtype="Int64"),
            "agent_id": pd.array(agent, dtype="Int64"),
            "agent_name": _text([f"agent-{x}" for x in agent]),
            "scenario_id": pd.array(scenario_id(shape, agent, scen), dtype="Int64"),
            "scenario_name": _text([f"scenario-{x}" for x in scen]),
            "personality_id": pd.array(np.ones(len(idx), dtype=int), dtype="Int64"),
            "personality_name": _text(["Calm caller"] * len(idx)),
            "status": _text(status),
            "success": pd.array(completed & success, dtype="boolean"),
            "evaluation_status": _text(["success"] * len(idx)),
            "outcome": _text(outcome),
            "error_message": _text([None if c else "room connection failed" for c in completed]),
            "ended_reason": _text(["customer-ended-call"] * len(idx)),
            "duration_s": pd.array(d.duration_s[idx], dtype="Float64"),
            "expected_outcome_score": pd.array(np.where(success, 90.0, 20.0), dtype="Float64"),
            "started_at": started.astype("datetime64[us, UTC]"),
            "run_date": pd.Series(d.started_at[idx].astype("datetime64[D]").astype("datetime64[us]")),
            "run_as_text": pd.array(chat_runs, dtype="boolean"),
            "mode": _text(mode),
            "suite": _text([f"suite-{x}" for x in agent]),
            "dashboard_url": _text(url),
            "quarantined": pd.array(_quarantined(shape, agent, scen), dtype="boolean"),
            "trace_id": _text([f"trace-{x}" for x in d.run_id[idx]]),
            "dag_id": _text([None] * len(idx)),
            "dag_run_id": _text([None] * len(idx)),
            # Issue 19's facts: what extract makes of these payloads (no version, recording or call id sent).
            "source": _text([None] * len(idx)),
            "agent_version": _text([None] * len(idx)),
            "voice_recording_url": _text([None] * len(idx)),
            "has_transcript": pd.array([None] * len(idx), dtype="boolean"),
            "provider_call_id": _text([None] * len(idx)),
            "credits": pd.array(
                [
                    run_credits(
                        duration_s=float(sec),
                        run_as_text=bool(c),
                        tester_messages=None,
                        metrics=3 if e else 0,
                    )
                    for sec, c, e in zip(d.duration_s[idx], chat_runs, completed, strict=True)
                ],
                dtype="Float64",
            ),
        }
    )
    results = runs.drop_duplicates("result_id")[["result_id", "agent_id", "agent_name", "suite"]]
    first = runs.groupby("result_id", sort=False)["started_at"].min().reindex(results["result_id"]).to_numpy()
    chat = results["agent_id"].to_numpy(dtype=int) % 5 == 0
    results = results.reset_index(drop=True).assign(
        mode=_text(np.where(chat, CHAT, MANAGED)),
        name=_text([f"nightly {x}" for x in results["result_id"]]),
        status=_text(["completed"] * len(results)),
        total_runs=pd.array([None] * len(results), dtype="Int64"),
        completed_runs=pd.array([None] * len(results), dtype="Int64"),
        success_runs=pd.array([None] * len(results), dtype="Int64"),
        failed_runs=pd.array([None] * len(results), dtype="Int64"),
        run_as_text=pd.array(chat, dtype="boolean"),
        is_cronjob=pd.array([None] * len(results), dtype="boolean"),
        dashboard_url=_text([DASHBOARD.format(r) for r in results["result_id"]]),
        created_at=pd.Series(first).astype("datetime64[us, UTC]"),
        updated_at=pd.Series(first).astype("datetime64[us, UTC]"),
        dag_id=_text([None] * len(results)),
        dag_run_id=_text([None] * len(results)),
        source=_text([None] * len(results)),
        quarantine=_text([_quarantine_json(shape, int(a)) for a in results["agent_id"]]),
        agent_version=_text([None] * len(results)),
    )[list(RESULT_COLUMNS)]
    return {"results": results, "runs": runs, "run_metrics": _metrics(d, idx[completed])}


def _quarantine_json(shape: Shape, agent: int) -> str:
    """The result's stored quarantine (what the load passes, as `extract` stores it: sorted JSON ids)."""
    ids = [
        int(scenario_id(shape, agent, s))
        for s in range(1, shape.scenarios + 1)
        if _quarantined(shape, np.array([agent]), np.array([s]))[0]
    ]
    return json.dumps(sorted(ids))


def _metrics(d: DayDraw, idx: np.ndarray) -> pd.DataFrame:
    """Three metric rows per evaluated run: binary (canonical or legacy by agent), latency (ms), rating."""
    n = len(idx)
    legacy = d.agent[idx] % 2 == 0
    passed = d.metric_pass[idx]
    blocks = [
        {
            "metric_id": np.full(n, BINARY_ID),
            "metric_name": ["goal reached"] * n,
            "metric_type": np.where(legacy, "binary_workflow_adherence", "binary"),
            "score": np.where(legacy, np.where(passed, 5.0, 0.0), np.nan),
            "value": [None] * n,
            "passed": passed,
            "metric_kind": ["binary"] * n,
            "value_num": np.full(n, np.nan),
            "unit": [None] * n,
            "rating": np.full(n, np.nan),
        },
        {
            "metric_id": np.full(n, LATENCY_ID),
            "metric_name": ["latency"] * n,
            "metric_type": ["numeric"] * n,
            "score": np.full(n, np.nan),
            "value": [repr(float(v)) for v in d.latency_ms[idx]],
            "passed": [None] * n,
            "metric_kind": ["numeric"] * n,
            "value_num": d.latency_ms[idx],
            "unit": ["ms"] * n,
            "rating": np.full(n, np.nan),
        },
        {
            "metric_id": np.full(n, RATING_ID),
            "metric_name": ["empathy"] * n,
            "metric_type": ["continuous_qualitative"] * n,
            "score": d.rating[idx],
            "value": [None] * n,
            "passed": [None] * n,
            "metric_kind": ["rating"] * n,
            "value_num": np.full(n, np.nan),
            "unit": [None] * n,
            "rating": d.rating[idx],
        },
    ]
    run_id = np.tile(d.run_id[idx], 3)
    cols = {k: np.concatenate([np.asarray(b[k], dtype=object) for b in blocks]) for k in blocks[0]}
    frame = pd.DataFrame(
        {
            "run_id": pd.array(run_id, dtype="Int64"),
            "metric_id": pd.array(cols["metric_id"].astype(int), dtype="Int64"),
            "metric_name": _text(cols["metric_name"]),
            "metric_type": _text(cols["metric_type"]),
            "score": pd.array(cols["score"].astype(float), dtype="Float64").fillna(np.nan),
            "value": _text(cols["value"]),
            "passed": pd.array(cols["passed"], dtype="boolean"),
            "explanation": _text(['["checked"]'] * len(run_id)),
            "metric_kind": _text(cols["metric_kind"]),
            "value_num": pd.array(cols["value_num"].astype(float), dtype="Float64"),
            "unit": _text(cols["unit"]),
            "value_enum": _text([None] * len(run_id)),
            "rating": pd.array(cols["rating"].astype(float), dtype="Float64"),
        }
    )
    for col in ("score", "value_num", "rating"):
        frame[col] = frame[col].mask(frame[col].isna(), pd.NA)
    # One run's metrics together, as `extract` emits them (and as a load writes them).
    order = np.argsort(np.tile(np.arange(n), 3) * 3 + np.repeat(np.arange(3), n), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def warehouse_days(
    shape: Shape, days: int, loaded: datetime | None = None, *, first_day: int = 0
) -> Iterator[tuple[date, dict[str, pd.DataFrame]]]:
    """The history in load order, a day at a time: each day's on-time batches, then the late batches that
    arrive that day (runs of 1–3 days before); days `first_day` to `days - 1` (a history grows in steps; the
    late batches of its last days arrive at the end of each step). Frames have the warehouse's columns (`writer._prepared` adds
    `loaded_at`). Memory holds one day (~50k runs) plus the late batches in flight."""
    stamp = loaded or datetime.now(UTC)
    series = _Series.draw(shape)
    pending: dict[int, list[tuple[DayDraw, np.ndarray]]] = {}
    for i in range(first_day, days + 3):
        parts = []
        if i < days:
            d = day_draw(shape, series, i)
            parts.append(_frames(shape, d, d.late_by == 0, stamp))
            for lag in np.unique(d.late_by[d.late_by > 0]):
                pending.setdefault(i + int(lag), []).append((d, d.late_by == lag))
        for d, keep in pending.pop(i, []):
            parts.append(_frames(shape, d, keep, stamp))
        if parts:
            yield (
                shape.start + timedelta(days=min(i, days - 1)),
                {k: pd.concat([p[k] for p in parts], ignore_index=True) for k in parts[0]},
            )


def next_batch(
    shape: Shape, days: int, agent: int = 1
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The batch a nightly load brings after `days` days of history: `agent`'s scenarios on the next day,
    as Cekura's API returns them (result, runs) plus the `extract` keywords the load operator passes."""
    d = day_draw(shape, _Series.draw(shape), days)
    keep = d.result_id == d.result_id[d.agent == agent][0]
    return batch_payloads(shape, d, keep)


def batch_payloads(
    shape: Shape, d: DayDraw, keep: np.ndarray
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """One batch (the runs `keep` selects, all of one result) as API payloads: (result, runs, extract kwargs)."""
    idx = np.flatnonzero(keep)
    result_id = int(d.result_id[idx[0]])
    agent = int(d.agent[idx[0]])
    submission = str(_submission(np.array([agent]))[0])
    chat = submission == CHAT
    created = pd.Timestamp(d.started_at[idx].min()).tz_localize(UTC).isoformat()
    result = {
        "id": result_id,
        "agent": agent,
        "agent_name": f"agent-{agent}",
        "name": f"nightly {result_id}",
        "status": "completed",
        "run_as_text": chat,
        "created_at": created,
        "updated_at": created,
        "runs": [],
    }
    runs = [_run_payload(shape, d, int(i), result_id, chat) for i in idx]
    quarantine = json.loads(_quarantine_json(shape, agent))
    kwargs = {
        "mode": submission,
        "suite": f"suite-{agent}",
        "dashboard_url": DASHBOARD.format(result_id),
        "quarantine": quarantine,
    }
    return result, runs, kwargs


def _run_payload(shape: Shape, d: DayDraw, i: int, result_id: int, chat: bool) -> dict[str, Any]:
    agent, scen, status = int(d.agent[i]), int(d.scenario[i]), str(d.status[i])
    completed = status == "completed"
    legacy = agent % 2 == 0
    passed = bool(d.metric_pass[i])
    binary: dict[str, Any] = (
        {
            "id": BINARY_ID,
            "name": "goal reached",
            "type": "binary_workflow_adherence",
            "score": 5 if passed else 0,
        }
        if legacy
        else {"id": BINARY_ID, "name": "goal reached", "eval_type": "binary", "passed": passed}
    )
    metrics = [
        {**binary, "explanation": ["checked"]},
        {
            "id": LATENCY_ID,
            "name": "latency",
            "eval_type": "numeric",
            "value": float(d.latency_ms[i]),
            "unit": "ms",
            "explanation": ["checked"],
        },
        {
            "id": RATING_ID,
            "name": "empathy",
            "eval_type": "continuous_qualitative",
            "score": float(d.rating[i]),
            "explanation": ["checked"],
        },
    ]
    seconds = round(float(d.duration_s[i]))
    return {
        "id": int(d.run_id[i]),
        "result_id": result_id,
        "agent": agent,
        "agent_name": f"agent-{agent}",
        "scenario": {"id": int(scenario_id(shape, agent, scen)), "name": f"scenario-{scen}"},
        "personality": 1,
        "personality_name": "Calm caller",
        "status": status,
        "success": completed and bool(d.success[i]),
        "evaluation_status": "success",
        "error_message": None if completed else "room connection failed",
        "duration": f"{seconds // 60:02d}:{seconds % 60:02d}",
        "timestamp": pd.Timestamp(d.started_at[i]).tz_localize(UTC).isoformat(),
        "expected_outcome": {"score": 90 if d.success[i] else 20, "explanation": ["checked"]},
        "metadata": {"ended_reason": "customer-ended-call"},
        "evaluation": {"metrics": metrics if completed else []},
        "trace_id": f"trace-{int(d.run_id[i])}",
        "run_as_text": chat,
    }
