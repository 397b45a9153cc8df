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

import numpy as np
import pandas as pd

from cekura_livekit.detection.flakiness import FlakinessPolicy, flaky_status_many
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.scan import tune_for_aggregation
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


def window_runs_in(dialect: Dialect, cur: Any, start: date, end: date) -> pd.DataFrame:
    """The window's runs as a frame (`score_scenarios` input): the trends pass counts them in SQL instead
    (`window_counts_in`); the tests check both give the same rows."""
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


@dataclass
class KeyCounts:
    """What the flakiness rows are built from, one entry per key (keys in sorted order): evaluated runs `n`,
    `passes`, `blocks` (maximal runs of equal outcomes in start order), `batches` and `mixed` batches, and
    each key's last non-null names in start order."""

    keys: list[tuple[Any, ...]]
    n: np.ndarray
    passes: np.ndarray
    blocks: np.ndarray
    batches: list[int]
    mixed: list[int]
    agent_names: list[Any]
    scenario_names: list[Any]


def score_scenarios(
    runs: pd.DataFrame, policy: FlakyPolicy, previous: dict[tuple[Any, ...], str] | None = None
) -> list[dict[str, Any]]:
    """One row per key: `detection.flakiness.flaky_status` over its evaluated outcomes in start order, with
    hysteresis against `previous` (key -> the stored status), and the flip rate kept as `score` for people.

    Every key at once (why: a pandas group loop cost ~2 ms a key, 11-58 s a pass at 5,000 keys): the runs are
    ordered by key (stable, so each key keeps its start order), its flips, passes, batches and names are
    counted in vector passes, and `flaky_status_many` scores all keys. Same rows as scoring each key's group
    with `flaky_status` (tests/warehouse/test_flaky_many.py keeps that loop as the reference).
    """
    return scored_rows(frame_counts(evaluated_runs(runs, policy)), policy, previous or {})


def frame_counts(kept: pd.DataFrame) -> KeyCounts:
    """`KeyCounts` of evaluated runs in start order (`evaluated_runs`), in vector passes."""
    codes = kept.groupby(_KEY, sort=True).ngroup().to_numpy() if len(kept) else np.zeros(0, dtype=np.int64)
    kept, codes = kept[codes >= 0], codes[codes >= 0]  # a NULL key part: no group (as groupby drops it)
    order = np.argsort(codes, kind="stable")
    kept, codes = kept.iloc[order], codes[order]
    passed = kept["outcome"].eq("passed").to_numpy(dtype=bool)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else codes
    count = len(starts)
    flip = (passed[1:] != passed[:-1]) & (codes[1:] == codes[:-1])
    batches, mixed = _batches(kept, codes, count)
    return KeyCounts(
        keys=[tuple(k) for k in kept.iloc[starts][_KEY].itertuples(index=False, name=None)],
        n=np.diff(np.r_[starts, len(codes)]).astype(np.int64),
        passes=np.add.reduceat(passed.astype(np.int64), starts) if count else np.zeros(0, dtype=np.int64),
        blocks=1 + np.bincount(codes[1:][flip], minlength=count),
        batches=batches,
        mixed=mixed,
        agent_names=_last_names(kept, codes, "agent_name", count),
        scenario_names=_last_names(kept, codes, "scenario_name", count),
    )


def scored_rows(
    counts: KeyCounts, policy: FlakyPolicy, previous: dict[tuple[Any, ...], str]
) -> list[dict[str, Any]]:
    """The rows of `cekura_flaky_scenarios` (without window and streak columns) from every key's counts."""
    was = np.array([previous.get(k) == FLAKY for k in counts.keys], dtype=bool)
    scored = flaky_status_many(counts.n, counts.passes, counts.blocks, was, policy.detector)
    rows = []
    for i, key in enumerate(counts.keys):
        flips, n = scored["flips"][i], scored["runs"][i]
        rows.append(
            {
                **dict(zip(_KEY, key, strict=True)),
                "agent_name": counts.agent_names[i],
                "scenario_name": counts.scenario_names[i],
                "runs": n,
                "passed": scored["passed"][i],
                "failed_evaluation": n - scored["passed"][i],
                "batches": counts.batches[i],
                "mixed_batches": counts.mixed[i],
                "flips": flips,
                "score": flips / (n - 1) if n > 1 else None,
                "status": scored["status"][i],
                **{c: scored[c][i] for c in _DETECTOR_COLUMNS},
            }
        )
    return rows


def _batches(kept: pd.DataFrame, codes: np.ndarray, count: int) -> tuple[list[int], list[int]]:
    """Per key: batches with an evaluated run, and those with both outcomes (runs without a result id: none)."""
    per = (
        kept[["result_id", "outcome"]].assign(code=codes).groupby(["code", "result_id"])["outcome"].nunique()
    )
    key_codes = per.index.get_level_values("code").to_numpy(dtype=np.int64)
    batches = np.bincount(key_codes, minlength=count)
    mixed = np.bincount(key_codes[per.to_numpy() > 1], minlength=count)
    return batches.tolist(), mixed.tolist()


def _last_names(kept: pd.DataFrame, codes: np.ndarray, column: str, count: int) -> list[Any]:
    """Each key's last non-null `column` in start order (None when it has none)."""
    values = kept[column].to_numpy(dtype=object)
    present = pd.notna(values)
    out: list[Any] = [None] * count
    last = pd.Series(values[present], dtype=object).groupby(codes[present]).last()
    for code, value in zip(last.index.tolist(), last.tolist(), strict=True):
        out[code] = value
    return out


def counts_sql(dialect: Dialect) -> str:
    """`KeyCounts` of a window in one statement (params: start, end, lost batch share, start, end): what the
    trends pass runs, so 28 days of runs (1.4M at 18M runs a year) are counted where they are, not fetched.

    The same definitions as `evaluated_runs` + `frame_counts`: runs with an outcome in the window; a batch is
    lost when at least the share of its runs are not evaluations; start order is started_at (NULL last), then
    run_id; a flip is a change of outcome from the previous run of the key (LAG over that order); a key's
    names are its last non-null ones in that order (the row where the running count of names reaches the
    key's total); mixed batches = batches with a pass + batches with a failure - batches. One sort of the
    window's runs (every window function shares it), streamed into the GROUP BY.
    """
    d, q = dialect.date_param(), dialect.quote
    key = "a, s, m, u"
    part = f"PARTITION BY {key}"
    order = f"{part} ORDER BY CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, started_at, run_id"
    evaluated = "outcome IN ('passed', 'failed_evaluation')"
    window = f"run_date >= {d} AND run_date <= {d}"
    return f"""
WITH lost AS (
    SELECT result_id FROM {dialect.table(RUNS)}
    WHERE {window} AND outcome IS NOT NULL AND result_id IS NOT NULL GROUP BY result_id
    HAVING SUM(CASE WHEN {evaluated} THEN 0 ELSE 1 END) >= {dialect.param} * COUNT(*)
), e AS (
    SELECT {key}, result_id, p, LAG(p) OVER ({order}) AS prev, agent_name, scenario_name,
           COUNT(agent_name) OVER ({order}) AS agent_seen, COUNT(agent_name) OVER ({part}) AS agent_all,
           COUNT(scenario_name) OVER ({order}) AS scenario_seen,
           COUNT(scenario_name) OVER ({part}) AS scenario_all
    FROM (
        SELECT COALESCE(agent_id, {UNKNOWN_ID}) AS a, COALESCE(scenario_id, {UNKNOWN_ID}) AS s,
               COALESCE({q("mode")}, '') AS m, COALESCE(suite, '') AS u, agent_name, scenario_name, result_id,
               CASE WHEN outcome = 'passed' THEN 1 ELSE 0 END AS p, started_at, run_id
        FROM {dialect.table(RUNS)}
        WHERE {window} AND {evaluated}
          AND (result_id IS NULL OR result_id NOT IN (SELECT result_id FROM lost))
    ) r
)
SELECT {key}, COUNT(*), SUM(p), SUM(CASE WHEN prev IS NOT NULL AND prev <> p THEN 1 ELSE 0 END),
       COUNT(DISTINCT result_id),
       COUNT(DISTINCT CASE WHEN p = 1 THEN result_id END) + COUNT(DISTINCT CASE WHEN p = 0 THEN result_id END)
       - COUNT(DISTINCT result_id),
       MAX(CASE WHEN agent_name IS NOT NULL AND agent_seen = agent_all THEN agent_name END),
       MAX(CASE WHEN scenario_name IS NOT NULL AND scenario_seen = scenario_all THEN scenario_name END)
FROM e GROUP BY {key}
"""


def window_counts_in(dialect: Dialect, cur: Any, start: date, end: date, policy: FlakyPolicy) -> KeyCounts:
    """`KeyCounts` of the runs between `start` and `end` (inclusive), counted in the database."""
    window = (start.isoformat(), end.isoformat())
    cur.execute(counts_sql(dialect), (*window, policy.lost_batch_share, *window))
    rows = sorted(
        ((int(a), int(s), m, u), n, p, f, b, x, an, sn)
        for a, s, m, u, n, p, f, b, x, an, sn in cur.fetchall()
    )
    ints = [[int(v or 0) for v in col] for col in zip(*(r[1:6] for r in rows), strict=True)] or [[]] * 5
    return KeyCounts(
        keys=[r[0] for r in rows],
        n=np.array(ints[0], dtype=np.int64),
        passes=np.array(ints[1], dtype=np.int64),
        blocks=np.array(ints[2], dtype=np.int64) + 1,
        batches=ints[3],
        mixed=ints[4],
        agent_names=[r[6] for r in rows],
        scenario_names=[r[7] for r in rows],
    )


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
    # In-memory sorts and no JIT (the DAG's detect task is a transaction of its own, without the refresh's).
    tune_for_aggregation(dialect, cur)
    policy = policy or FlakyPolicy()
    end = as_date(as_of)
    start = end - timedelta(days=policy.window_days - 1)
    previous = _previous(dialect, cur)
    regressed = _open_episodes(dialect, cur)
    # Hysteresis: a scenario shown as `regressed` was flaky by the statistic, so it stays on the flaky side.
    was = {k: (FLAKY if v[2] == "regressed" else v[2]) for k, v in previous.items()}
    rows = scored_rows(window_counts_in(dialect, cur, start, end, policy), policy, was)
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
