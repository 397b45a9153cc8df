"""Load extracted frames into the warehouse: create/extend tables and upsert the facts, in one transaction.

Why one transaction: a load that fails half-way must leave no partial rows, so a retry of the Airflow task
starts from the same state. Upserts compare every value column and only touch rows that changed, so reloading
the same runs changes nothing (not even `loaded_at`), while a run whose status changed later (late
evaluation) is updated.

The load writes facts only (results, runs, run_metrics). Trends are derived by the `cekura_trends` DAG after
the load committed (the load's Asset event carries the run dates it touched). Library users without the DAGs
may pass ``recompute_trends=True``: the recompute then runs in the load's transaction under the schema's
trends lock, so overlapping loads still produce exact daily rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from cekura_livekit.detection.drops import DropPolicy
from cekura_livekit.results.context import inherit_context
from cekura_livekit.results.frames import Extract
from cekura_livekit.warehouse.batch_diff import CHANGES, describe, diff_batch_in
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.read import stored_contexts
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA, RESULTS, RUN_METRICS, RUNS, Table
from cekura_livekit.warehouse.trends import (
    DEFAULT_TRAILING_DAYS,
    detect_windows_in,
    plan_refresh,
    refresh_plan_in,
)

log = logging.getLogger(__name__)


def _prepared(frame: pd.DataFrame, table: Table, loaded_at: datetime) -> pd.DataFrame:
    expected = [c for c in table.column_names if c != "loaded_at"]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise ValueError(
            f"frame for {table.name} lacks columns {missing}; build it with cekura_livekit.results.frames.extract()"
        )
    nulls = [k for k in table.key if frame[k].isna().any()]
    if nulls:
        raise ValueError(
            f"frame for {table.name} has empty key column(s) {nulls}; every row needs its natural key"
        )
    out = frame[expected].drop_duplicates(list(table.key), keep="last")
    return out.assign(loaded_at=pd.Timestamp(loaded_at))


def _with_stored_context(
    dialect: Any, cur: Any, frames: list[tuple[Table, pd.DataFrame]]
) -> list[tuple[Table, pd.DataFrame]]:
    """The frames with the load context their caller left blank taken from the stored result rows
    (`results.context`): a stale refresh, a sync or a backfill keeps the suite, quarantine and links."""
    (results_table, results), (runs_table, runs), *rest = frames
    ids = results["result_id"].dropna().astype(int).tolist()
    stored = stored_contexts(dialect, cur, ids) if ids else {}
    results, runs = inherit_context(results, runs, stored)
    return [(results_table, results), (runs_table, runs), *rest]


@dataclass
class LoadSummary:
    """What a load did: small and JSON-safe, for XCom and logs (never rows).

    The trend fields stay empty unless the load was asked to recompute trends itself.
    """

    results: int = 0
    runs: int = 0
    run_metrics: int = 0
    changed: dict[str, int] = field(default_factory=dict)
    columns_added: list[str] = field(default_factory=list)
    run_dates: list[str] = field(default_factory=list)
    daily_since: str | None = None
    daily_rows: int = 0
    regression_days: list[str] = field(default_factory=list)
    regressions: int = 0
    skipped_runs: list[dict[str, str]] = field(default_factory=list)
    #: Metrics stored as sent but not understood (unknown shape, binary without a verdict): count + examples.
    metric_problems: int = 0
    metric_problem_examples: list[dict[str, str]] = field(default_factory=list)
    batch_diff: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_extract(
    warehouse_conn_id: str,
    extract: Extract,
    schema: str = DEFAULT_SCHEMA,
    *,
    trailing_days: int = DEFAULT_TRAILING_DAYS,
    recompute_trends: bool = False,
    policy: DropPolicy | None = None,
    now: datetime | None = None,
    _before_commit: Callable[[Any], None] | None = None,
) -> LoadSummary:
    """Upsert results, runs and metrics in ONE transaction; optionally recompute trends in it too.

    With ``recompute_trends=True``, trends are rebuilt from ``min(touched run_date) - trailing_days`` on and
    regressions re-detected for window ends from the earliest touched day to the latest day (at most
    ``trailing_days`` of them), exactly what the `cekura_trends` DAG does after a load.
    """
    if not isinstance(trailing_days, int) or isinstance(trailing_days, bool) or trailing_days < 0:
        raise ValueError(f"trailing_days={trailing_days!r} must be a whole number of days >= 0, e.g. 28")
    stamp = now or datetime.now(UTC)
    frames = [
        (RESULTS, _prepared(extract.results, RESULTS, stamp)),
        (RUNS, _prepared(extract.runs, RUNS, stamp)),
        (RUN_METRICS, _prepared(extract.metrics, RUN_METRICS, stamp)),
    ]
    touched = sorted({str(d)[:10] for d in extract.runs["run_date"].dropna().unique()})
    summary = LoadSummary(
        results=len(frames[0][1]),
        runs=len(frames[1][1]),
        run_metrics=len(frames[2][1]),
        run_dates=touched,
        skipped_runs=[{"run_id": p.run_id, "reason": p.reason} for p in extract.problems],
        metric_problems=extract.metric_problem_count,
        metric_problem_examples=[
            {"run_id": p.run_id, "metric_id": p.metric_id, "reason": p.reason}
            for p in extract.metric_problems[:20]
        ],
    )
    with open_warehouse(warehouse_conn_id, schema) as wh, wh.transaction() as cur:
        summary.columns_added = ensure_tables(wh.dialect, cur)
        frames = _with_stored_context(wh.dialect, cur, frames)
        for table, frame in frames:
            summary.changed[table.name] = wh.dialect.upsert(cur, table, frame)
            wh.dialect.refresh_statistics(cur, table, summary.changed[table.name])
        if recompute_trends and touched:
            plan = plan_refresh(wh.dialect, cur, touched, trailing_days)
            if plan.since is not None:
                summary.daily_since = plan.since.isoformat()
                summary.daily_rows = refresh_plan_in(wh.dialect, cur, plan, stamp)
            found, _ = detect_windows_in(wh.dialect, cur, plan.window_ends, policy, stamp)
            summary.regressions = len(found)
            summary.regression_days = [e.isoformat() for e in plan.window_ends]
        for result_id in frames[0][1]["result_id"].dropna().astype(int).tolist():
            diff = diff_batch_in(wh.dialect, cur, result_id, stamp)
            summary.batch_diff[str(result_id)] = {
                c: sum(1 for r in diff if r["change"] == c) for c in CHANGES
            }
            log.info("Result %s: %s", result_id, describe(diff))
        if _before_commit is not None:
            _before_commit(cur)  # test seam: raise here to prove the whole load rolls back
    log.info(
        "Loaded %d result(s), %d run(s), %d metric row(s) into %s (changed: %s)%s",
        summary.results,
        summary.runs,
        summary.run_metrics,
        warehouse_conn_id,
        summary.changed,
        f"; daily rows rebuilt: {summary.daily_rows}" if recompute_trends else "",
    )
    return summary
