"""`score_scenarios` scores every key in vector passes; the per-key pandas loop it replaced is kept here as the
reference and must give the same rows on random run tables (many keys, NULL names and result ids, lost batches,
ties in start time, hysteresis)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pandas as pd
import pytest

from cekura_livekit.detection.flakiness import FlakinessPolicy, flaky_status
from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.flaky import (
    _DETECTOR_COLUMNS,
    _KEY,
    FlakyPolicy,
    evaluated_runs,
    score_scenarios,
    scored_rows,
    window_counts_in,
    window_runs_in,
)
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run


def _name(group: pd.DataFrame, column: str) -> Any:
    values = group[column].dropna()
    return values.iloc[-1] if len(values) else None


def reference(
    runs: pd.DataFrame, policy: FlakyPolicy, previous: dict[tuple[Any, ...], str] | None = None
) -> list[dict[str, Any]]:
    """The per-key loop `score_scenarios` was before it was vectorised (verbatim)."""
    previous = previous or {}
    rows = []
    for key, group in evaluated_runs(runs, policy).groupby(_KEY, sort=True):
        passed = group["outcome"].eq("passed").to_numpy()
        n = len(passed)
        per_batch = group.groupby("result_id")["outcome"].nunique()
        status = flaky_status(passed.tolist(), previous.get(tuple(key)), policy.detector)
        flips = int(status["flips"])
        rows.append(
            {
                **dict(zip(_KEY, key, strict=True)),
                "agent_name": _name(group, "agent_name"),
                "scenario_name": _name(group, "scenario_name"),
                "runs": n,
                "passed": int(passed.sum()),
                "failed_evaluation": int(n - passed.sum()),
                "batches": int(per_batch.size),
                "mixed_batches": int((per_batch > 1).sum()),
                "flips": flips,
                "score": flips / (n - 1) if n > 1 else None,
                "status": status["status"],
                **{c: status[c] for c in _DETECTOR_COLUMNS},
            }
        )
    return rows


def _runs(rng: random.Random, keys: int) -> pd.DataFrame:
    rows = []
    run_id = 0
    for key in range(keys):
        agent, scenario = 1 + key % 7, 100 + key
        mode, suite = rng.choice(["voice/managed", "chat/byo"]), rng.choice(["", "nightly"])
        style = rng.random()
        rate = rng.choice([0.5, 0.8, 0.95, 1.0])
        for i in range(rng.choice([0, 3, 19, 25, 60, 140])):
            run_id += 1
            if style < 0.3:
                outcome = "passed" if i % 2 else "failed_evaluation"
            else:
                outcome = "passed" if rng.random() < rate else "failed_evaluation"
            if rng.random() < 0.05:
                outcome = rng.choice(["infra_error", "timeout", "cancelled"])
            rows.append(
                {
                    "agent_id": agent,
                    "scenario_id": scenario,
                    "mode": mode,
                    "suite": suite,
                    "agent_name": None if rng.random() < 0.2 else f"agent {agent} v{rng.randrange(3)}",
                    "scenario_name": None if rng.random() < 0.2 else f"scenario {scenario}",
                    "result_id": None if rng.random() < 0.03 else 1000 + i // 5 + rng.choice([0, 0, 0, 500]),
                    "outcome": outcome,
                    "started_at": pd.Timestamp("2026-11-01") + pd.Timedelta(minutes=i * 7 + rng.randrange(3)),
                    "run_id": f"r{rng.randrange(10**6):06d}-{run_id}",
                }
            )
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=rng.randrange(1000)).reset_index(drop=True)  # load order


@pytest.mark.parametrize("seed", range(3))
def test_vectorised_scores_equal_the_per_key_loop(seed: int) -> None:
    rng = random.Random(seed)
    runs = _runs(rng, 120)
    keys = runs[_KEY].drop_duplicates().itertuples(index=False, name=None)
    previous = {tuple(k): rng.choice(["flaky", "stable"]) for k in keys}
    expected = reference(runs, FlakyPolicy(), previous)
    got = score_scenarios(runs, FlakyPolicy(), previous)
    assert got == expected
    assert {r["status"] for r in got} >= {"flaky", "stable", "insufficient"}
    assert any(r["mixed_batches"] for r in got)


def test_no_evaluated_run_scores_nothing() -> None:
    runs = _runs(random.Random(9), 3)
    assert score_scenarios(runs.iloc[0:0], FlakyPolicy()) == []
    lost = runs.assign(outcome="infra_error")
    assert score_scenarios(lost, FlakyPolicy()) == reference(lost, FlakyPolicy()) == []


def _seed(target: WarehouseTarget) -> None:
    """Batches of several agents, scenarios, modes and suites over 6 days: alternating and random outcomes,
    lost batches, runs in one batch at the same minute (ties broken by run id), names missing on some runs."""
    rng = random.Random(5)
    run_id = 0
    for result_id in range(1, 41):
        agent = rng.choice([1, 2])
        runs = []
        for scenario in rng.sample([1, 2, 3, 4], rng.randrange(1, 5)):
            for call in range(rng.randrange(1, 7)):
                run_id += 1
                if result_id % 9 == 0:
                    outcome = rng.choice(["infra_error", "timeout", "passed"])  # a batch lost to infra
                elif scenario == 1:
                    outcome = "passed" if (run_id + call) % 2 else "failed_evaluation"
                else:
                    outcome = rng.choice(["passed", "passed", "failed_evaluation", "cancelled"])
                run = make_run(
                    run_id,
                    day=f"2024-03-{1 + result_id % 6:02d}",
                    outcome=outcome,
                    agent=agent,
                    scenario=scenario,
                    result_id=result_id,
                    hour=rng.choice([3, 3, 4]),
                )
                if rng.random() < 0.2:
                    run["scenario_name"] = None
                runs.append(run)
        frames = extract(
            make_result(result_id, runs, agent=agent),
            mode=rng.choice(["managed", "chat"]),
            suite=rng.choice(["nightly", None]),
        )
        load_extract(target.conn_id, frames, target.schema)


def test_counts_in_sql_equal_the_frame_counts(warehouse: WarehouseTarget) -> None:
    """The trends pass counts the window in SQL (`window_counts_in`); scoring the same window's runs as a
    frame (`score_scenarios`) gives the same rows on every engine."""
    _seed(warehouse)
    start, end = date(2024, 3, 1), date(2024, 3, 6)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        frame = window_runs_in(wh.dialect, cur, start, end)
        policy = FlakyPolicy(detector=FlakinessPolicy(min_runs=5, min_failures=1, enter_z=1.0))
        in_sql = scored_rows(window_counts_in(wh.dialect, cur, start, end, policy), policy, {})
    expected = score_scenarios(frame, policy)
    assert len(expected) >= 8
    assert any(r["mixed_batches"] for r in expected)
    assert any(r["status"] == "flaky" for r in expected)
    assert in_sql == expected
