"""Flakiness per scenario over a window, the way test-analytics tools define it.

Why not the flip rate: a scenario passing independently at rate p flips 2p(1-p) of the time, so a flip-rate
threshold restates the pass rate (48 of 60 scenarios "flaky" in issue 25). Here a scenario is scored over a
trailing window (default 28 days) by `detection.flakiness.flaky_status`: its evaluated outcomes in start
order against independence at its OWN rate (Wald–Wolfowitz runs test: `runs_z` > 0 = more alternation than
chance, `runs_p` its one-sided p, `expected_flips` what chance predicts), at a fixed per-scenario level with
hysteresis against the stored status (so it does not churn); pass^k (`pass_hat_1/3/5`: the unbiased chance
that k repeated runs all pass) beside it. Statuses: `flaky`, `clustered` (failures in streaks: an outage or
a drop, for the drop and infra monitors), `stable`, `insufficient` (too few runs), and `regressed` (would be
flaky, but an open drop episode explains it). `score` keeps the flip rate for people; it decides nothing.

Rules: only evaluated runs (passed / failed_evaluation) count; batches lost to infrastructure (half or more of
the batch's runs were infra errors, timeouts or cancellations) are left out entirely.

One definition: "flaky" means a row of `cekura_flaky_scenarios` with status `flaky` (`FLAKY`), and every
reader — the `v_flaky_scenarios` view, `read.select_flaky`, the report — asks `flaky_scenarios_sql`. A new
flakiness statistic replaces `score_scenarios` (and its columns); the readers do not change. `first_seen` / `last_seen`: the first window end of the CURRENT flaky streak (NULL when not
flaky) and the latest window end scored flaky (kept across rebuilds). `mixed_batches` (batches with both outcomes) is kept next to it for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from cekura_livekit.detection.flakiness import FlakinessPolicy, flaky_status
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.tables import EPISODES, FLAKY_SCENARIOS, RUNS, UNKNOWN_ID

_KEY = ["agent_id", "scenario_id", "mode", "suite"]
#: The status of a scenario scored flaky (the others: stable, insufficient, regressed).
FLAKY = "flaky"
_RUN_COLS = [*_KEY, "agent_name", "scenario_name", "result_id", "outcome", "started_at", "run_id"]


_DETECTOR_COLUMNS = ("expected_flips", "runs_z", "runs_p", "pass_hat_1", "pass_hat_3", "pass_hat_5")


@dataclass(frozen=True)
class FlakyPolicy:
    window_days: int = 28
    lost_batch_share: float = 0.5
    detector: FlakinessPolicy = field(default_factory=FlakinessPolicy)


def _runs(dialect: Dialect, cur: Any, start: date, end: date) -> pd.DataFrame:
    d = dialect.date_param()
    cur.execute(
        f"SELECT COALESCE(agent_id, {UNKNOWN_ID}), COALESCE(scenario_id, {UNKNOWN_ID}), COALESCE(mode, ''), "
        f"COALESCE(suite, ''), agent_name, scenario_name, result_id, outcome, started_at, run_id "
        f"FROM {dialect.table(RUNS)} WHERE run_date >= {d} AND run_date <= {d} AND outcome IS NOT NULL",
        (start.isoformat(), end.isoformat()),
    )
    return pd.DataFrame(cur.fetchall(), columns=_RUN_COLS)


def evaluated_runs(runs: pd.DataFrame, policy: FlakyPolicy) -> pd.DataFrame:
    """Evaluated runs outside batches lost to infrastructure, in start order."""
    lost_share = (
        runs.assign(lost=~runs["outcome"].isin(["passed", "failed_evaluation"]))
        .groupby("result_id")["lost"]
        .mean()
    )
    lost = set(lost_share[lost_share >= policy.lost_batch_share].index)
    kept = runs[runs["outcome"].isin(["passed", "failed_evaluation"]) & ~runs["result_id"].isin(lost)]
    return kept.sort_values(["started_at", "run_id"], kind="stable")


def _name(group: pd.DataFrame, column: str) -> Any:
    values = group[column].dropna()
    return values.iloc[-1] if len(values) else None


def score_scenarios(
    runs: pd.DataFrame, policy: FlakyPolicy, previous: dict[tuple[Any, ...], str] | None = None
) -> list[dict[str, Any]]:
    """One row per key: `detection.flakiness.flaky_status` over its evaluated outcomes in start order, with
    hysteresis against `previous` (key -> the stored status), and the flip rate kept as `score` for people."""
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


def flaky_scenarios_sql(dialect: Dialect, where: str = "1 = 1") -> str:
    """The flaky scenarios: rows of `cekura_flaky_scenarios` scored flaky (and matching `where`), every
    column. The one definition the view and the reads share."""
    return f"SELECT * FROM {dialect.table(FLAKY_SCENARIOS)} WHERE status = '{FLAKY}' AND ({where})"


def _previous(dialect: Dialect, cur: Any) -> dict[tuple[Any, ...], tuple[Any, Any, Any]]:
    """key -> (first_seen, last_seen, status) of the previous scoring."""
    cur.execute(
        f"SELECT {', '.join(dialect.quote(c) for c in _KEY)}, first_seen, last_seen, status "
        f"FROM {dialect.table(FLAKY_SCENARIOS)}"
    )
    return {tuple(r[:4]): (r[4], r[5], r[6]) for r in cur.fetchall()}


def _open_episodes(dialect: Dialect, cur: Any) -> set[tuple[Any, ...]]:
    q = dialect.quote
    cur.execute(
        f"SELECT {', '.join(q(c) for c in _KEY)} FROM {dialect.table(EPISODES)} WHERE {q('state')} = 'open'"
    )
    return {tuple(r) for r in cur.fetchall()}


def refresh_flaky_in(
    dialect: Dialect,
    cur: Any,
    as_of: date | str,
    policy: FlakyPolicy | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Rescore every scenario over the window ending on `as_of` and replace `cekura_flaky_scenarios`."""
    serialise(dialect, cur, TRENDS)
    policy = policy or FlakyPolicy()
    end = as_date(as_of)
    start = end - timedelta(days=policy.window_days - 1)
    previous = _previous(dialect, cur)
    regressed = _open_episodes(dialect, cur)
    # Hysteresis: a scenario shown as `regressed` was flaky by the statistic, so it stays on the flaky side.
    was = {k: (FLAKY if v[2] == "regressed" else v[2]) for k, v in previous.items()}
    rows = score_scenarios(_runs(dialect, cur, start, end), policy, was)
    stamp = now or datetime.now(UTC)
    for row in rows:
        key = tuple(row[k] for k in _KEY)
        first, last, _ = previous.get(key, (None, None, None))
        if row["status"] == FLAKY and key in regressed:
            row["status"] = "regressed"
        if row["status"] == FLAKY:
            # "Flaky since" is the start of the current flaky streak: reset whenever the status left flaky.
            first = first if was.get(key) == FLAKY else None
            first, last = first or end, end
        else:
            first = None
        first, last = (None if d is None else _date(d) for d in (first, last))
        row.update(window_start=start, window_end=end, first_seen=first, last_seen=last, updated_at=stamp)
    cur.execute(f"DELETE FROM {dialect.table(FLAKY_SCENARIOS)}")
    dialect.insert_rows(cur, FLAKY_SCENARIOS, rows)
    return rows


def _date(value: Any) -> Any:
    """A date column read back from SQLite (ISO text) as a date."""
    return as_date(value) if isinstance(value, str) else value
