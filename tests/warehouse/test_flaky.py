"""Flakiness (runs test against independence at the scenario's own rate) over a demo-like history (14
days, the demo's volumes and modes) and a designed alternating scenario, on SQLite and PostgreSQL; hysteresis; infra-lost
batches do not count."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.flaky import FlakyPolicy, score_scenarios
from cekura_livekit.warehouse.tables import FLAKY_SCENARIOS
from cekura_livekit.warehouse.writer import load_extract
from cekura_sandbox.catalogue import load_catalogue
from tests.support.warehouse import WarehouseTarget, make_result, make_run

FIRST_DAY = date(2026, 11, 6)  # 14 days, the demo catalogue's scenarios (not the demo's dates)
DEMO_SUITES = {
    101: ("managed", "acme_support_nightly", 5),
    102: ("bring_your_own_rooms", "acme_bookings_byo", 2),
}


def _outcome(rng: random.Random, scenario: Any, day: date) -> str:
    if rng.random() < scenario.infra_failure_rate:
        return "infra_error"
    if rng.random() < scenario.timeout_rate:
        return "timeout"
    return "passed" if rng.random() < scenario.pass_rate_on(day) else "failed_evaluation"


def demo_history(seed: int = 7) -> list[tuple[str, str, dict[str, Any]]]:
    """(mode, suite, result payload) per suite and day, drawn from the default catalogue's designed rates."""
    catalogue, rng = load_catalogue(), random.Random(seed)
    batches, run_id = [], 1
    for offset in range(14):
        day = FIRST_DAY + timedelta(days=offset)
        for result_no, (agent, (mode, suite, frequency)) in enumerate(sorted(DEMO_SUITES.items())):
            runs = []
            for scenario in (s for s in catalogue.scenarios.values() if s.agent == agent):
                for call in range(frequency):
                    outcome = _outcome(rng, scenario, day)
                    runs.append(
                        make_run(
                            run_id, day=day, outcome=outcome, agent=agent, scenario=scenario.id, hour=3 + call
                        )
                    )
                    run_id += 1
            result_id = 100 * offset + result_no + 1
            for run in runs:
                run["result_id"] = result_id
            batches.append((mode, suite, make_result(result_id, runs, agent=agent)))
    return batches


def low_reliability() -> set[int]:
    """The catalogue's scenarios passing 60-80 % of the time: unreliable, NOT flaky (each call independent)."""
    return {s.id for s in load_catalogue().scenarios.values() if 0.6 <= s.pass_rate <= 0.8}


def confusion(flagged: set[int], designed: set[int], every: set[int]) -> dict[str, int]:
    return {
        "true_positive": len(flagged & designed),
        "false_positive": len(flagged - designed),
        "false_negative": len(designed - flagged),
        "true_negative": len(every - flagged - designed),
    }


def _alternating(first_id: int, days: int = 28, per_day: int = 4) -> list[dict[str, Any]]:
    """A scenario whose outcomes alternate call after call (state carried between calls): flaky by design."""
    runs = []
    for day in range(days):
        for call in range(per_day):
            i = day * per_day + call
            outcome = "passed" if i % 2 else "failed_evaluation"
            runs.append(
                make_run(
                    first_id + i,
                    day=FIRST_DAY + timedelta(days=day),
                    outcome=outcome,
                    scenario=9001,
                    hour=call,
                )
            )
    return runs


def test_flakiness_is_alternation_not_a_low_pass_rate(warehouse: WarehouseTarget) -> None:
    """Issue 25.3: the demo's history (its catalogue's independent scenarios, 60-95 %) has no flaky scenario,
    whatever its pass rate; a scenario that alternates is flaky; pass^k states the reliability instead."""
    for mode, suite, result in demo_history():
        load_extract(warehouse.conn_id, extract(result, mode=mode, suite=suite), warehouse.schema)
    load_extract(
        warehouse.conn_id,
        extract(make_result(9001, _alternating(500_000)), mode="managed", suite="alt"),
        warehouse.schema,
    )
    from cekura_livekit.tasks.alerting import detect_and_alert
    from cekura_livekit.tasks.trends import refresh_trends

    # The loads' run dates, as the load tasks announce them: the refresh recounts exactly the touched days.
    loaded = [(FIRST_DAY + timedelta(days=d)).isoformat() for d in range(28)]
    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=loaded)
    detect_and_alert(warehouse.conn_id, warehouse.schema, regression_days=refreshed["regression_days"])
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        cols, rows = wh.query(f"SELECT * FROM {wh.dialect.table(FLAKY_SCENARIOS)}")
    table = pd.DataFrame(rows, columns=cols)
    every = set(table["scenario_id"])
    flagged = set(table.loc[table["status"] == "flaky", "scenario_id"])
    assert len(every) == 12
    shown = table[["scenario_id", "runs", "score", "runs_z", "status"]].to_string()
    assert confusion(flagged, {9001}, every) == {
        "true_positive": 1,
        "false_positive": 0,
        "false_negative": 0,
        "true_negative": 11,
    }, shown
    assert not flagged & low_reliability()  # the old flip-rate rule called these flaky
    alt = table[table["scenario_id"] == 9001].iloc[0]
    assert alt["runs_z"] > 3.09
    assert alt["expected_flips"] == pytest.approx(56.5, abs=1)  # 112 calls, 56 passes: chance flips ~56
    assert str(alt["first_seen"])[:10] == str(alt["window_end"])[:10]
    unreliable = table[table["scenario_id"].isin(low_reliability())]
    assert (unreliable["pass_hat_3"] < unreliable["pass_hat_1"]).all()
    assert (unreliable["pass_hat_1"] == unreliable["passed"] / unreliable["runs"]).all()


def test_hysteresis_keeps_a_flaky_status_until_the_evidence_is_gone() -> None:
    """A scenario that was flaky stays flaky while its runs z-score is above `leave_z` (1.64), though a new
    one needs `enter_z` (3.09): the status does not churn day to day."""

    def run(i: int, outcome: str) -> dict[str, Any]:
        return {
            "agent_id": 1,
            "scenario_id": 1,
            "mode": "voice/managed",
            "suite": "",
            "agent_name": "a",
            "scenario_name": "s",
            "result_id": 1 + i // 5,
            "outcome": outcome,
            "started_at": f"2026-11-01T{i // 60:02d}:{i % 60:02d}:00",
            "run_id": i,
        }

    # 60 calls: 40 alternating, then 20 in two blocks: more flips than chance, but not overwhelmingly.
    pattern = ["passed" if i % 2 else "failed_evaluation" for i in range(40)]
    pattern += ["passed"] * 10 + ["failed_evaluation"] * 10
    frame = pd.DataFrame([run(i, o) for i, o in enumerate(pattern)])
    [fresh] = score_scenarios(frame, FlakyPolicy())
    assert 1.64 < fresh["runs_z"] < 3.09
    assert fresh["status"] == "stable"
    [kept] = score_scenarios(frame, FlakyPolicy(), {(1, 1, "voice/managed", ""): "flaky"})
    assert kept["status"] == "flaky"


def test_infra_lost_batches_and_short_histories_are_not_scored() -> None:
    def run(i: int, result: int, outcome: str) -> dict[str, Any]:
        return {
            "agent_id": 1,
            "scenario_id": 1,
            "mode": "voice/managed",
            "suite": "",
            "agent_name": "a",
            "scenario_name": "s",
            "result_id": result,
            "outcome": outcome,
            "started_at": f"2026-11-01T00:{i:02d}:00",
            "run_id": i,
        }

    alternating = [run(i, 1 + i // 5, "passed" if i % 2 else "failed_evaluation") for i in range(30)]
    lost = [run(40 + i, 99, "infra_error") for i in range(4)] + [run(50, 99, "failed_evaluation")]
    [row] = score_scenarios(pd.DataFrame(alternating + lost), FlakyPolicy())
    assert (row["runs"], row["flips"], row["status"]) == (30, 29, "flaky")  # batch 99 (4 of 5 infra) left out
    assert row["runs_z"] > 3.09
    assert row["score"] == 1.0
    [short] = score_scenarios(pd.DataFrame(alternating[:10]), FlakyPolicy())
    assert short["status"] == "insufficient"
