"""Synthetic warehouse frames for the report tests: several agents, 30 days, one scenario that regresses.

Deterministic (seeded) so assertions on the numbers are stable; shaped exactly like the warehouse output.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

AGENTS = {101: "Billing assistant", 102: "Appointment booker", 103: "Support triage"}
SCENARIOS = {
    101: {11: "Refund request", 12: "Update card on file", 13: "Dispute a charge", 14: "Angry caller"},
    102: {21: "Book a cleaning", 22: "Reschedule", 23: "Cancel appointment", 24: "Spanish speaker"},
    103: {31: "Password reset", 32: "Escalate to human", 33: "Outage report"},
}
REGRESSING = (101, 13)  # "Dispute a charge" drops from ~95% to ~55% over the last 6 days
START = date(2024, 3, 1)
DAYS = 30
GENERATED = datetime(2024, 3, 31, 7, 0, tzinfo=UTC)  # a fixed "generated at" keeps renders comparable
SECTION_IDS = ("summary", "success-rate", "heatmap", "regressions", "flaky", "infra", "worst")


def make_daily(seed: int = 7, days: int = DAYS, start: date = START) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for agent_id, scenarios in SCENARIOS.items():
        for scenario_id, scenario_name in scenarios.items():
            base = 0.97 if scenario_id % 2 else 0.86
            for offset in range(days):
                if scenario_id == 33 and offset % 5 == 2:
                    continue  # a scenario that does not run every day: empty heat-map cells
                day = start + timedelta(days=offset)
                runs = int(rng.integers(4, 12))
                infra = int(rng.binomial(runs, 0.03))
                timeouts = int(rng.binomial(runs - infra, 0.02))
                cancelled = int(rng.binomial(runs - infra - timeouts, 0.01))
                evaluated = runs - infra - timeouts - cancelled
                rate = base
                if (agent_id, scenario_id) == REGRESSING and offset >= days - 6:
                    rate = 0.55
                passed = int(rng.binomial(evaluated, rate))
                rows.append(
                    {
                        "run_date": day,
                        "agent_id": agent_id,
                        "agent_name": AGENTS[agent_id],
                        "scenario_id": scenario_id,
                        "scenario_name": scenario_name,
                        "runs": runs,
                        "passed": passed,
                        "failed_evaluation": evaluated - passed,
                        "infra_errors": infra,
                        "timeouts": timeouts,
                        "cancelled": cancelled,
                        # The warehouse's own per-row rates: the report must NOT rely on them.
                        "success_rate": passed / evaluated if evaluated else None,
                        "wilson_low": None,
                        "wilson_high": None,
                        "rate_7d": None,
                        "rate_28d": None,
                    }
                )
    frame = pd.DataFrame(rows)
    for col in (
        "agent_id",
        "scenario_id",
        "runs",
        "passed",
        "failed_evaluation",
        "infra_errors",
        "timeouts",
        "cancelled",
    ):
        frame[col] = frame[col].astype("Int64")
    for col in ("success_rate", "wilson_low", "wilson_high", "rate_7d", "rate_28d"):
        frame[col] = frame[col].astype("float64")
    return frame


def make_regressions(start: date = START, days: int = DAYS) -> pd.DataFrame:
    last = start + timedelta(days=days - 1)
    rows = [
        (last, 101, 13, 0.951, 180, 0.548, 42, 1.2e-6, "critical"),
        (last - timedelta(days=2), 101, 13, 0.953, 175, 0.62, 29, 0.0004, "major"),
        (last - timedelta(days=1), 102, 22, 0.874, 160, 0.79, 38, 0.041, "minor"),
    ]
    return pd.DataFrame(
        {
            "run_date": [r[0] for r in rows],
            "agent_id": pd.array([r[1] for r in rows], dtype="Int64"),
            "agent_name": [AGENTS[r[1]] for r in rows],
            "scenario_id": pd.array([r[2] for r in rows], dtype="Int64"),
            "scenario_name": [SCENARIOS[r[1]][r[2]] for r in rows],
            "baseline_rate": [r[3] for r in rows],
            "baseline_n": [r[4] for r in rows],
            "current_rate": [r[5] for r in rows],
            "current_n": [r[6] for r in rows],
            "drop": [r[3] - r[5] for r in rows],
            "p_value": [r[7] for r in rows],
            "severity": [r[8] for r in rows],
            "detected_at": pd.to_datetime([f"{r[0]} 06:15" for r in rows], utc=True),
        }
    )


def make_flaky(start: date = START, days: int = DAYS) -> pd.DataFrame:
    last = start + timedelta(days=days - 1)
    return pd.DataFrame(
        {
            "agent_id": pd.array([102, 103], dtype="Int64"),
            "agent_name": [AGENTS[102], AGENTS[103]],
            "scenario_id": pd.array([24, 32], dtype="Int64"),
            "scenario_name": [SCENARIOS[102][24], SCENARIOS[103][32]],
            "result_id": [9001, 9017],
            "runs": pd.array([5, 4], dtype="Int64"),
            "passed": pd.array([3, 1], dtype="Int64"),
            "failed": pd.array([2, 3], dtype="Int64"),
            "last_seen": pd.to_datetime([f"{last} 05:00", f"{last - timedelta(days=3)} 05:00"], utc=True),
        }
    )


def as_warehouse_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The sample frames with the warehouse reader's spellings and dtypes (``cekura_livekit.warehouse.read``).

    Dates ``datetime64[us]``, timestamps ``datetime64[us, UTC]``, counts ``Int64``, rates ``Float64`` (with NA),
    names ``str``; regressions carry ``rate_drop`` (not ``drop``), flaky carries ``failed_evaluation`` and
    ``run_date`` (not ``failed`` / ``last_seen``) plus ``flip_rate``.
    """
    daily = make_daily()
    daily["run_date"] = pd.to_datetime(daily["run_date"]).astype("datetime64[us]")
    daily["evaluated"] = daily["passed"] + daily["failed_evaluation"]
    for col in ("success_rate", "wilson_low", "wilson_high", "rate_7d", "rate_28d"):
        daily[col] = daily[col].astype("Float64")
    daily["updated_at"] = pd.Timestamp("2024-03-31 06:00", tz="UTC")

    regressions = make_regressions().rename(columns={"drop": "rate_drop"})
    regressions["run_date"] = pd.to_datetime(regressions["run_date"]).astype("datetime64[us]")
    for col in ("baseline_rate", "current_rate", "rate_drop", "p_value"):
        regressions[col] = regressions[col].astype("Float64")
    for col in ("baseline_n", "current_n"):
        regressions[col] = regressions[col].astype("Int64")
    regressions["z"] = pd.array([5.1, 3.6, None], dtype="Float64")
    regressions["p_value"] = pd.array([1.2e-6, 0.0004, None], dtype="Float64")  # an undetermined p-value

    flaky = make_flaky().rename(columns={"failed": "failed_evaluation"}).drop(columns=["last_seen"])
    flaky["result_id"] = flaky["result_id"].astype("Int64")
    flaky["run_date"] = pd.to_datetime([START + timedelta(days=DAYS - 1), START]).astype("datetime64[us]")
    flaky["flip_rate"] = pd.array([2 / 5, 1 / 4], dtype="Float64")
    return daily, regressions, flaky
