"""Flakiness over a window separates the sandbox catalogue's designed flaky scenarios from the others over the
demo's history (14 days, its volumes and modes), on SQLite and PostgreSQL; infra-lost batches do not count."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pandas as pd

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.flaky import FlakyPolicy, score_scenarios
from cekura_livekit.warehouse.tables import FLAKY_SCENARIOS
from cekura_livekit.warehouse.writer import load_extract
from cekura_sandbox.catalogue import load_catalogue
from tests.support.warehouse import WarehouseTarget, make_result, make_run

FIRST_DAY = date(2026, 11, 6)  # include/demo.py: 14 days from here
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


def designed_flaky() -> set[int]:
    """The catalogue's design (its own test's definition): pass rates between 0.6 and 0.8."""
    return {s.id for s in load_catalogue().scenarios.values() if 0.6 <= s.pass_rate <= 0.8}


def confusion(flagged: set[int], designed: set[int], every: set[int]) -> dict[str, int]:
    return {
        "true_positive": len(flagged & designed),
        "false_positive": len(flagged - designed),
        "false_negative": len(designed - flagged),
        "true_negative": len(every - flagged - designed),
    }


def test_flakiness_separates_the_designed_flaky_scenarios(warehouse: WarehouseTarget) -> None:
    for mode, suite, result in demo_history():
        load_extract(warehouse.conn_id, extract(result, mode=mode, suite=suite), warehouse.schema)
    # One trends pass over the whole history, as the trends DAG does after the last load.
    from cekura_livekit.tasks.alerting import detect_and_alert
    from cekura_livekit.tasks.trends import refresh_trends

    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=[FIRST_DAY.isoformat()])
    detect_and_alert(warehouse.conn_id, warehouse.schema, regression_days=refreshed["regression_days"])
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        cols, rows = wh.query(f"SELECT * FROM {wh.dialect.table(FLAKY_SCENARIOS)}")
    table = pd.DataFrame(rows, columns=cols)
    every = set(table["scenario_id"])
    flagged = set(table.loc[table["status"] == "flaky", "scenario_id"])
    matrix = confusion(flagged, designed_flaky(), every)
    assert len(every) == 11
    assert matrix == {"true_positive": 3, "false_positive": 0, "false_negative": 0, "true_negative": 8}, (
        table[["scenario_id", "runs", "score", "status"]].to_string()
    )
    flaky = table[table["status"] == "flaky"]
    assert set(flaky["mode"]) <= {"voice/managed", "voice/byo"}
    assert (flaky["first_seen"].astype(str).str[:10] == "2026-11-19").all()
    # The regressed scenario flips around its drop: shown as regressed, not as flaky.
    cancel = table[table["scenario_id"] == 2004].iloc[0]
    assert cancel["status"] in {"regressed", "stable"}


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
    assert row["score"] == 1.0
    [short] = score_scenarios(pd.DataFrame(alternating[:10]), FlakyPolicy())
    assert short["status"] == "insufficient"
