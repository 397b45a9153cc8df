"""Flakiness per scenario over a window, the way test-analytics tools define it.

Why not "passed and failed within one batch": at five calls a run, any scenario below ~95 % shows mixed
batches now and then, and a regression shows them too. Here a scenario is scored over a trailing window
(default 28 days) by its **flip rate**: the share of consecutive evaluated outcomes (ordered by start time)
that differ. A stable scenario rarely flips; a scenario that regressed flips around the change and then stays
failed; a flaky one keeps flipping (a coin at rate p flips 2p(1-p) of the time: 0.42 at 70 %).

Rules: only evaluated runs (passed / failed_evaluation) count; batches lost to infrastructure (half or more of
the batch's runs were infra errors, timeouts or cancellations) are left out entirely; a scenario needs
`min_runs` evaluated runs to be scored (else status `insufficient`); `flaky` when score >= `threshold`, else
`stable`; a scenario with an open regression episode that would score flaky is `regressed` instead (its
flips come from the drop, not from noise).

One definition: "flaky" means a row of `cekura_flaky_scenarios` with status `flaky` (`FLAKY`), and every
reader — the `v_flaky_scenarios` view, `read.select_flaky`, the report — asks `flaky_scenarios_sql`. A new
flakiness statistic replaces `score_scenarios` (and its columns); the readers do not change. `first_seen` / `last_seen`: the first and latest window end at which it was scored flaky (kept
across rebuilds). `mixed_batches` (batches with both outcomes) is kept next to it for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.tables import EPISODES, FLAKY_SCENARIOS, RUNS, UNKNOWN_ID

_KEY = ["agent_id", "scenario_id", "mode", "suite"]
#: The status of a scenario scored flaky (the others: stable, insufficient, regressed).
FLAKY = "flaky"
_RUN_COLS = [*_KEY, "agent_name", "scenario_name", "result_id", "outcome", "started_at", "run_id"]


@dataclass(frozen=True)
class FlakyPolicy:
    window_days: int = 28
    min_runs: int = 20
    threshold: float = 0.25
    lost_batch_share: float = 0.5


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


def score_scenarios(runs: pd.DataFrame, policy: FlakyPolicy) -> list[dict[str, Any]]:
    rows = []
    for key, group in evaluated_runs(runs, policy).groupby(_KEY, sort=True):
        passed = group["outcome"].eq("passed")
        flips = int((passed.to_numpy()[1:] != passed.to_numpy()[:-1]).sum())
        n = len(group)
        per_batch = group.groupby("result_id")["outcome"].nunique()
        score = flips / (n - 1) if n > 1 else None
        status = (
            "insufficient"
            if n < policy.min_runs or score is None
            else (FLAKY if score >= policy.threshold else "stable")
        )
        rows.append(
            {
                **dict(zip(_KEY, key, strict=True)),
                "agent_name": group["agent_name"].dropna().iloc[-1]
                if group["agent_name"].notna().any()
                else None,
                "scenario_name": group["scenario_name"].dropna().iloc[-1]
                if group["scenario_name"].notna().any()
                else None,
                "runs": n,
                "passed": int(passed.sum()),
                "failed_evaluation": int((~passed).sum()),
                "batches": int(per_batch.size),
                "mixed_batches": int((per_batch > 1).sum()),
                "flips": flips,
                "score": score,
                "status": status,
            }
        )
    return rows


def flaky_scenarios_sql(dialect: Dialect, where: str = "1 = 1") -> str:
    """The flaky scenarios: rows of `cekura_flaky_scenarios` scored flaky (and matching `where`), every
    column. The one definition the view and the reads share."""
    return f"SELECT * FROM {dialect.table(FLAKY_SCENARIOS)} WHERE status = '{FLAKY}' AND ({where})"


def _previous(dialect: Dialect, cur: Any) -> dict[tuple[Any, ...], tuple[Any, Any]]:
    cur.execute(
        f"SELECT {', '.join(dialect.quote(c) for c in _KEY)}, first_seen, last_seen "
        f"FROM {dialect.table(FLAKY_SCENARIOS)}"
    )
    return {tuple(r[:4]): (r[4], r[5]) for r in cur.fetchall()}


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
    rows = score_scenarios(_runs(dialect, cur, start, end), policy)
    stamp = now or datetime.now(UTC)
    for row in rows:
        key = tuple(row[k] for k in _KEY)
        first, last = previous.get(key, (None, None))
        if row["status"] == FLAKY and key in regressed:
            row["status"] = "regressed"
        if row["status"] == FLAKY:
            first, last = first or end, end
        first, last = (None if d is None else _date(d) for d in (first, last))
        row.update(window_start=start, window_end=end, first_seen=first, last_seen=last, updated_at=stamp)
    cur.execute(f"DELETE FROM {dialect.table(FLAKY_SCENARIOS)}")
    dialect.insert_rows(cur, FLAKY_SCENARIOS, rows)
    return rows


def _date(value: Any) -> Any:
    """A date column read back from SQLite (ISO text) as a date."""
    return as_date(value) if isinstance(value, str) else value
