"""Batch diff: what changed in a batch against the previous batch of the same suite.

Per scenario, a batch is *failing* when any of its evaluated runs failed evaluation, *passing* when all its
evaluated runs passed; a scenario without an evaluated run (infrastructure only) counts as not run. Changes:
`newly_failing` (passing → failing), `fixed` (failing → passing), `still_failing`, `still_passing`, `new` (not
in the previous batch), `not_run` (in the previous batch, not in this one). The previous batch is the latest
earlier result (by creation time, then id) of the same suite — or, for loads without a suite, of the same
agent and mode. Written by the load, in its transaction, so every batch is diffed exactly once per load.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.tables import BATCH_DIFFS, RESULTS, RUNS

CHANGES = ("newly_failing", "fixed", "still_failing", "still_passing", "new", "not_run")


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


def diff_batch_in(
    dialect: Dialect, cur: Any, result_id: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Diff one batch against its previous batch and replace its rows in `cekura_batch_diffs`."""
    previous_id, context = previous_batch(dialect, cur, result_id)
    current = _scenarios(dialect, cur, result_id)
    before = _scenarios(dialect, cur, previous_id) if previous_id is not None else {}
    stamp = now or datetime.now(UTC)
    rows = []
    for scenario_id in sorted(set(current) | set(before)):
        mine, theirs = current.get(scenario_id), before.get(scenario_id)
        rows.append(
            {
                "result_id": result_id,
                "scenario_id": scenario_id,
                "previous_result_id": previous_id,
                "agent_id": context.get("agent_id"),
                "mode": (mine or theirs or (0, 0, None, None))[3] or "",
                "suite": context.get("suite", ""),
                "scenario_name": (mine or theirs or (0, 0, None, None))[2],
                "change": _change(mine[:2] if mine else None, theirs[:2] if theirs else None),
                "passed": mine[0] if mine else None,
                "failed_evaluation": mine[1] if mine else None,
                "previous_passed": theirs[0] if theirs else None,
                "previous_failed_evaluation": theirs[1] if theirs else None,
                "diffed_at": stamp,
            }
        )
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
