"""The report's sample frames shaped exactly as the warehouse returns them (`warehouse.read` names):
`cekura_success_rate_daily` rows with mode / suite and the series' dashboard link, `cekura_regression_episodes`
rows (one open critical drop, one ended), and `cekura_flaky_scenarios` rows."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from tests.support.report_samples import AGENTS, DAYS, GENERATED, SCENARIOS, START, make_daily

__all__ = ["AGENTS", "DAYS", "GENERATED", "SCENARIOS", "START", "URL", "daily", "episodes", "flaky"]

URL = "https://dashboard.cekura.ai/11/results/"
LAST = START + timedelta(days=DAYS - 1)


def daily(mode: str = "voice/managed", suite: str = "nightly") -> pd.DataFrame:
    frame = make_daily()
    frame["mode"], frame["suite"] = mode, suite
    frame["dashboard_url"] = [f"{URL}{900 + int(a)}" for a in frame["agent_id"]]
    return frame


def _day(offset: int) -> date:
    return LAST - timedelta(days=offset)


def episodes() -> pd.DataFrame:
    rows = [
        # agent, scenario, started, last_seen, state, resolved, baseline, n, current, n, peak, q, severity
        (101, 13, _day(5), _day(0), "open", None, 0.951, 180, 0.548, 42, 0.403, 1.2e-6, "critical"),
        (102, 22, _day(9), _day(4), "resolved", _day(2), 0.874, 160, 0.79, 38, 0.084, 0.041, "minor"),
    ]
    return pd.DataFrame(
        {
            "agent_id": pd.array([r[0] for r in rows], dtype="Int64"),
            "scenario_id": pd.array([r[1] for r in rows], dtype="Int64"),
            "mode": "voice/managed",
            "suite": "nightly",
            "started_on": pd.to_datetime([r[2] for r in rows]).astype("datetime64[us]"),
            "agent_name": [AGENTS[r[0]] for r in rows],
            "scenario_name": [SCENARIOS[r[0]][r[1]] for r in rows],
            "last_seen": pd.to_datetime([r[3] for r in rows]).astype("datetime64[us]"),
            "flagged_days": pd.array([6, 6], dtype="Int64"),
            "baseline_rate": pd.array([r[6] for r in rows], dtype="Float64"),
            "baseline_n": pd.array([r[7] for r in rows], dtype="Int64"),
            "current_rate": pd.array([r[8] for r in rows], dtype="Float64"),
            "current_n": pd.array([r[9] for r in rows], dtype="Int64"),
            "q_value": pd.array([r[11] for r in rows], dtype="Float64"),
            "worst_rate": pd.array([r[8] for r in rows], dtype="Float64"),
            "peak_drop": pd.array([r[10] for r in rows], dtype="Float64"),
            "severity": [r[12] for r in rows],
            "state": [r[4] for r in rows],
            "resolved_on": pd.to_datetime([r[5] for r in rows]).astype("datetime64[us]"),
            "quarantined": pd.array([False, False], dtype="boolean"),
            "dashboard_url": [f"{URL}9001", None],
        }
    )


def flaky() -> pd.DataFrame:
    rows = [
        (102, 24, 0.45, "flaky", 40, 22, 18, _day(0)),
        (103, 32, 0.31, "flaky", 36, 25, 11, _day(3)),
        (101, 11, 0.05, "stable", 60, 58, 2, None),
    ]
    return pd.DataFrame(
        {
            "agent_id": pd.array([r[0] for r in rows], dtype="Int64"),
            "scenario_id": pd.array([r[1] for r in rows], dtype="Int64"),
            "mode": "voice/managed",
            "suite": "nightly",
            "agent_name": [AGENTS[r[0]] for r in rows],
            "scenario_name": [SCENARIOS[r[0]][r[1]] for r in rows],
            "runs": pd.array([r[4] for r in rows], dtype="Int64"),
            "passed": pd.array([r[5] for r in rows], dtype="Int64"),
            "failed_evaluation": pd.array([r[6] for r in rows], dtype="Int64"),
            "score": pd.array([r[2] for r in rows], dtype="Float64"),
            "status": [r[3] for r in rows],
            "first_seen": pd.to_datetime([r[7] for r in rows]).astype("datetime64[us]"),
            "dashboard_url": [f"{URL}{900 + r[0]}" for r in rows],
        }
    )
