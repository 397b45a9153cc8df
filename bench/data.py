"""Synthetic inputs: Cekura run payloads (as the API returns them) and report-shaped daily frames."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

RESULT = {"id": 1, "agent": 1, "agent_name": "agent-1", "status": "completed", "runs": []}


def run_payloads(
    n: int,
    *,
    start: date = date(2025, 1, 1),
    days: int = 60,
    agents: int = 3,
    scenarios: int = 50,
    seed: int = 7,
) -> Iterator[dict[str, Any]]:
    """`n` run objects shaped like `GET /runs/bulk/` answers, generated lazily, two metrics each.

    The tests' generator is the one home of this shape; the benchmark only picks its own sizes.
    """
    from tests.support.warehouse import synthetic_runs

    return synthetic_runs(n, start=start, days=days, agents=agents, scenarios=scenarios, seed=seed)


def extract_runs(n: int, **kw: Any) -> Any:
    """The typed frames of `n` synthetic runs, through the package's own `extract`."""
    from cekura_livekit.results.frames import extract

    return extract(RESULT, list(run_payloads(n, **kw)))


def scaled(frame: pd.DataFrame, times: int, id_column: str = "run_id") -> pd.DataFrame:
    """`frame` repeated `times` over with fresh ids: 1M rows without extracting 1M payloads."""
    if times <= 1:
        return frame
    parts = []
    step = int(frame[id_column].max()) + 1
    for k in range(times):
        part = frame.copy()
        part[id_column] = part[id_column] + k * step
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def in_time_order(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs sorted by start time (ties by id): the physical order of a warehouse loaded as batches finish,
    so a day's runs sit together as they would in production (the generator draws days at random)."""
    return runs.sort_values(["started_at", "run_id"], kind="stable").reset_index(drop=True)


def daily_frame(days: int = 365, scenarios: int = 50, agents: int = 3, seed: int = 7) -> pd.DataFrame:
    """A warehouse `read_daily` frame: one row per day × agent × scenario (a year of 150 series)."""
    rng = np.random.default_rng(seed)
    start = date(2025, 1, 1)
    day_list = [start + timedelta(days=d) for d in range(days)]
    n = days * scenarios * agents
    agent_ids = np.repeat(np.arange(1, agents + 1), days * scenarios)
    scenario_ids = np.tile(np.repeat(np.arange(1, scenarios + 1), days), agents)
    runs = rng.integers(4, 30, n)
    infra = rng.binomial(runs, 0.03)
    timeouts = rng.binomial(runs - infra, 0.02)
    cancelled = rng.binomial(runs - infra - timeouts, 0.01)
    evaluated = runs - infra - timeouts - cancelled
    passed = rng.binomial(evaluated, 0.9)
    frame = pd.DataFrame(
        {
            "run_date": day_list * (scenarios * agents),
            "agent_id": pd.array(agent_ids, dtype="Int64"),
            "agent_name": [f"Agent {a}" for a in agent_ids],
            "scenario_id": pd.array(scenario_ids + agent_ids * 1000, dtype="Int64"),
            "scenario_name": [f"Scenario {s}" for s in scenario_ids],
            "runs": pd.array(runs, dtype="Int64"),
            "passed": pd.array(passed, dtype="Int64"),
            "failed_evaluation": pd.array(evaluated - passed, dtype="Int64"),
            "infra_errors": pd.array(infra, dtype="Int64"),
            "timeouts": pd.array(timeouts, dtype="Int64"),
            "cancelled": pd.array(cancelled, dtype="Int64"),
        }
    )
    rate = np.where(evaluated > 0, passed / np.maximum(evaluated, 1), np.nan)
    for col in ("success_rate", "wilson_low", "wilson_high", "rate_7d", "rate_28d"):
        frame[col] = rate if col == "success_rate" else np.nan
    return frame
