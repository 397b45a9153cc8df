"""Batch diff: what changed in a batch against the previous batch of the same suite.

Per scenario, a batch is *failing* when any of its evaluated runs failed evaluation, *passing* when all its
evaluated runs passed; a scenario without an evaluated run (infrastructure only) counts as not run. Changes:
`newly_failing` (passing → failing), `fixed` (failing → passing), `still_failing`, `still_passing`, `new` (not
in the previous batch), `not_run` (in the previous batch, not in this one). The previous batch is the latest
earlier result (by creation time, then id) of the same suite — or, for loads without a suite, of the same
agent and mode. Written by the load, in its transaction; a batch that lands late also re-diffs the batch
after it (whose previous batch it now is), so out-of-order loads end with every diff against the right batch.

Is a new failure news? A passing → failing cell carries `chance`: the probability of at least that many
failures among the batch's runs at the scenario's usual failure rate (its other batches of the suite over the
28 days before, binomial); it stays `newly_failing` only when that is below `UNLIKELY` (1 %), else it is
`failing_as_usual` (one failure of a 85 % scenario is what it usually does).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.tables import BATCH_DIFFS, RESULTS, RUNS

CHANGES = ("newly_failing", "fixed", "still_failing", "still_passing", "new", "not_run", "failing_as_usual")
#: A passing → failing cell is `newly_failing` only when its failures are this unlikely at the scenario's
#: usual rate (binomial tail, `chance`); otherwise `failing_as_usual`. Fixed per cell: the suite's size
#: changes nobody's verdict.
UNLIKELY = 0.01
#: The usual rate is read over this many days before the batch, and trusted from this many evaluated runs.
USUAL_DAYS = 28
MIN_USUAL_RUNS = 20


def _scenarios(dialect: Dialect, cur: Any, result_id: int) -> dict[int, tuple[int, int, Any, Any]]:
    """scenario id → (passed, failed_evaluation, scenario name, mode) of one batch's evaluated runs."""
    cur.execute(
        f"SELECT scenario_id, SUM(CASE WHEN outcome = 'passed' THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN outcome = 'failed_evaluation' THEN 1 ELSE 0 END), MAX(scenario_name), MAX(mode) "
        f"FROM {dialect.table(RUNS)} WHERE result_id = {dialect.param} AND scenario_id IS NOT NULL "
        "AND outcome IN ('passed', 'failed_evaluation') GROUP BY scenario_id",
        (result_id,),
    )
    return {int(r[0]): (int(r[1]), int(r[2]), r[3], r[4]) for r in cur.fetchall()}


def previous_batch(dialect: Dialect, cur: Any, result_id: int) -> tuple[int | None, dict[str, Any]]:
    """The previous batch of the same suite (else agent + mode) and this batch's suite/agent/mode."""
    results, p = dialect.table(RESULTS), dialect.param
    cur.execute(
        f"SELECT COALESCE(suite, ''), agent_id, mode, created_at FROM {results} WHERE result_id = {p}",
        (result_id,),
    )
    row = cur.fetchone()
    if row is None:
        return None, {}
    suite, agent_id, mode, created = row
    # `suite = <p>` (not COALESCE(suite, '') = <p>) so the (suite, created_at) index finds the previous
    # batch by a backward index scan instead of reading every result ever loaded.
    same = (
        f"suite = {p}"
        if suite
        else f"COALESCE(suite, '') = '' AND agent_id = {p} AND COALESCE(mode, '') = COALESCE({p}, '')"
    )
    params: list[Any] = [suite] if suite else [agent_id, mode]
    cur.execute(
        f"SELECT result_id FROM {results} WHERE {same} AND result_id <> {p} AND "
        f"(created_at < {p} OR (created_at = {p} AND result_id < {p})) "
        "ORDER BY created_at DESC, result_id DESC LIMIT 1",
        (*params, result_id, created, created, result_id),
    )
    previous = cur.fetchone()
    return (int(previous[0]) if previous else None), {"suite": suite, "agent_id": agent_id}


def _change(now: tuple[int, int] | None, before: tuple[int, int] | None) -> str:
    if now is None:
        return "not_run"
    if before is None:
        return "new"
    failing, was_failing = now[1] > 0, before[1] > 0
    if failing:
        return "still_failing" if was_failing else "newly_failing"
    return "fixed" if was_failing else "still_passing"


def binomial_tail(failures: int, runs: int, fail_rate: float) -> float:
    """P(at least `failures` failures in `runs` runs) when each fails independently at `fail_rate`."""
    if failures <= 0:
        return 1.0
    p = min(max(fail_rate, 1e-9), 1 - 1e-9)
    return min(
        1.0,
        sum(
            math.exp(
                math.lgamma(runs + 1)
                - math.lgamma(i + 1)
                - math.lgamma(runs - i + 1)
                + i * math.log(p)
                + (runs - i) * math.log(1 - p)
            )
            for i in range(failures, runs + 1)
        ),
    )


def _usual_rates(
    dialect: Dialect, cur: Any, result_id: int, context: dict[str, Any]
) -> dict[int, tuple[int, int]]:
    """scenario id → (passed, evaluated) of the same suite's (else agent's) OTHER batches over the
    `USUAL_DAYS` days up to this batch's first day: the scenario's normal rate, one query per batch."""
    runs, p, d = dialect.table(RUNS), dialect.param, dialect.date_param()
    cur.execute(f"SELECT MIN(run_date) FROM {runs} WHERE result_id = {p}", (result_id,))
    row = cur.fetchone()
    if not row or row[0] is None:
        return {}
    first = as_date(row[0])
    same = f"COALESCE(suite, '') = {p}" if context.get("suite") else f"agent_id = {p}"
    cur.execute(
        f"SELECT scenario_id, SUM(CASE WHEN outcome = 'passed' THEN 1 ELSE 0 END), COUNT(*) FROM {runs} "
        f"WHERE run_date >= {d} AND run_date <= {d} AND result_id <> {p} AND {same} "
        "AND scenario_id IS NOT NULL AND outcome IN ('passed', 'failed_evaluation') GROUP BY scenario_id",
        (
            (first - timedelta(days=USUAL_DAYS)).isoformat(),
            first.isoformat(),
            result_id,
            context.get("suite") or context.get("agent_id"),
        ),
    )
    return {int(s): (int(k), int(n)) for s, k, n in cur.fetchall()}


def _chance(change: str, mine: tuple[int, int] | None, usual: tuple[int, int] | None) -> float | None:
    """How likely this batch's failures are at the scenario's usual rate (None: no usual rate to judge by)."""
    if mine is None or mine[1] == 0 or usual is None or usual[1] < MIN_USUAL_RUNS:
        return None
    fail_rate = (usual[1] - usual[0] + 0.5) / (usual[1] + 1)
    return binomial_tail(mine[1], mine[0] + mine[1], fail_rate)


def diff_batch_in(
    dialect: Dialect, cur: Any, result_id: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Diff one batch against its previous batch and replace its rows in `cekura_batch_diffs`; then re-diff
    the batch that follows it in its suite (a late batch becomes that one's previous batch)."""
    rows = _diff_one(dialect, cur, result_id, now)
    following = next_batch(dialect, cur, result_id)
    if following is not None:
        _diff_one(dialect, cur, following, now)
    return rows


def next_batch(dialect: Dialect, cur: Any, result_id: int) -> int | None:
    """The batch whose previous batch is now `result_id`: the earliest later result of the same suite (else
    agent + mode) that has been diffed already (a batch not yet loaded is diffed when it lands)."""
    results, diffs, p = dialect.table(RESULTS), dialect.table(BATCH_DIFFS), dialect.param
    cur.execute(
        f"SELECT COALESCE(suite, ''), agent_id, mode, created_at FROM {results} WHERE result_id = {p}",
        (result_id,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    suite, agent_id, mode, created = row
    same = f"COALESCE(suite, '') = {p}" + (
        "" if suite else f" AND agent_id = {p} AND COALESCE(mode, '') = COALESCE({p}, '')"
    )
    params: list[Any] = [suite] if suite else [suite, agent_id, mode]
    cur.execute(
        f"SELECT result_id FROM {results} WHERE {same} AND result_id <> {p} AND "
        f"(created_at > {p} OR (created_at = {p} AND result_id > {p})) "
        f"AND EXISTS (SELECT 1 FROM {diffs} d WHERE d.result_id = {results}.result_id) "
        "ORDER BY created_at, result_id LIMIT 1",
        (*params, result_id, created, created, result_id),
    )
    found = cur.fetchone()
    return int(found[0]) if found else None


_NONE = (0, 0, None, None)


def _cell(
    scenario_id: int,
    mine: tuple[int, int, Any, Any] | None,
    theirs: tuple[int, int, Any, Any] | None,
    base: tuple[int, int] | None,
) -> dict[str, Any]:
    """One scenario's diff columns (without the batch's own columns)."""
    change = _change(mine[:2] if mine else None, theirs[:2] if theirs else None)
    chance = _chance(change, mine[:2] if mine else None, base)
    if change == "newly_failing" and chance is not None and chance >= UNLIKELY:
        change = "failing_as_usual"
    either = mine or theirs or _NONE
    return {
        "scenario_id": scenario_id,
        "mode": either[3] or "",
        "scenario_name": either[2],
        "change": change,
        "passed": mine[0] if mine else None,
        "failed_evaluation": mine[1] if mine else None,
        "previous_passed": theirs[0] if theirs else None,
        "previous_failed_evaluation": theirs[1] if theirs else None,
        "usual_pass_rate": None if base is None or base[1] == 0 else base[0] / base[1],
        "chance": chance,
    }


def _diff_one(dialect: Dialect, cur: Any, result_id: int, now: datetime | None) -> list[dict[str, Any]]:
    previous_id, context = previous_batch(dialect, cur, result_id)
    current = _scenarios(dialect, cur, result_id)
    before = _scenarios(dialect, cur, previous_id) if previous_id is not None else {}
    usual = _usual_rates(dialect, cur, result_id, context) if current else {}
    stamp = now or datetime.now(UTC)
    batch = {
        "result_id": result_id,
        "previous_result_id": previous_id,
        "agent_id": context.get("agent_id"),
        "suite": context.get("suite", ""),
        "diffed_at": stamp,
    }
    rows = [
        {**batch, **_cell(s, current.get(s), before.get(s), usual.get(s))}
        for s in sorted(set(current) | set(before))
    ]
    table = dialect.table(BATCH_DIFFS)
    cur.execute(f"DELETE FROM {table} WHERE result_id = {dialect.param}", (result_id,))
    dialect.insert_rows(cur, BATCH_DIFFS, rows)
    return rows


def describe(rows: list[dict[str, Any]]) -> str:
    """One log line: counts per change and the scenarios that newly fail or got fixed."""
    if not rows:
        return "batch diff: no evaluated scenarios"
    counts = {c: sum(1 for r in rows if r["change"] == c) for c in CHANGES}
    previous = rows[0]["previous_result_id"]
    named = {
        c: [str(r["scenario_name"] or r["scenario_id"]) for r in rows if r["change"] == c]
        for c in ("newly_failing", "fixed", "still_failing")
    }
    detail = "; ".join(f"{c}: {', '.join(v)}" for c, v in named.items() if v)
    against = f"result {previous}" if previous is not None else "no previous batch of this suite"
    return (
        f"batch diff vs {against}: "
        + ", ".join(f"{c} {n}" for c, n in counts.items() if n)
        + (f" ({detail})" if detail else "")
    )
