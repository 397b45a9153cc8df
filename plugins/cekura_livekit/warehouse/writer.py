"""Load extracted frames into the warehouse: create/extend tables, upsert, recompute trends — one transaction.

Why one transaction: a load that fails half-way must leave no partial rows (and no half-recomputed trends),
so a retry of the Airflow task starts from the same state. Upserts compare every value column and only
touch rows that changed, so reloading the same runs changes nothing (not even `loaded_at`), while a run
whose status changed later (late evaluation) is updated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from cekura_livekit.results.frames import Extract
from cekura_livekit.results.stats import RegressionPolicy
from cekura_livekit.warehouse.dialects import Dialect, open_warehouse, q
from cekura_livekit.warehouse.tables import (
    ALL_TABLES,
    DEFAULT_SCHEMA,
    RESULTS,
    RUN_METRICS,
    RUNS,
    Table,
)
from cekura_livekit.warehouse.trends import (
    DEFAULT_TRAILING_DAYS,
    detect_regressions_in,
    latest_run_date_in,
    recompute_daily_in,
    window_ends,
)

log = logging.getLogger(__name__)


def ensure_tables(dialect: Dialect, cur: Any) -> list[str]:
    """Create the schema and tables if missing and add any column a newer version declares.

    Returns the columns added (``table.column``), for the task log.
    """
    dialect.ensure_schema(cur)
    added: list[str] = []
    for table in ALL_TABLES:
        for statement in dialect.create_statements(table):
            cur.execute(statement)
        existing = dialect.existing_columns(cur, table)
        for column, logical in table.columns:
            if column not in existing:
                cur.execute(
                    f"ALTER TABLE {dialect.table(table)} ADD COLUMN {q(column)} {dialect.sql_types[logical]}"
                )
                added.append(f"{dialect.raw_table_name(table)}.{column}")
    if added:
        log.info("Added columns to existing warehouse tables: %s", ", ".join(added))
    return added


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


@dataclass
class LoadSummary:
    """What a load did: small and JSON-safe, for XCom and logs (never rows)."""

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_extract(
    warehouse_conn_id: str,
    extract: Extract,
    schema: str = DEFAULT_SCHEMA,
    *,
    trailing_days: int = DEFAULT_TRAILING_DAYS,
    recompute_trends: bool = True,
    policy: RegressionPolicy | None = None,
    now: datetime | None = None,
    _before_commit: Callable[[Any], None] | None = None,
) -> LoadSummary:
    """Upsert results, runs and metrics, then recompute trends for the touched days; all in ONE transaction.

    Trends are rebuilt from ``min(touched run_date) - trailing_days`` on, and regressions re-detected for
    window ends from the earliest touched day to the latest day (at most ``trailing_days`` of them).
    """
    if not isinstance(trailing_days, int) or isinstance(trailing_days, bool) or trailing_days < 0:
        raise ValueError(f"trailing_days={trailing_days!r} must be a whole number of days >= 0, e.g. 28")
    stamp = now or datetime.now(UTC)
    frames = [
        (RESULTS, _prepared(extract.results, RESULTS, stamp)),
        (RUNS, _prepared(extract.runs, RUNS, stamp)),
        (RUN_METRICS, _prepared(extract.metrics, RUN_METRICS, stamp)),
    ]
    touched = sorted({str(d) for d in extract.runs["run_date"].dropna().unique()})
    summary = LoadSummary(
        results=len(frames[0][1]),
        runs=len(frames[1][1]),
        run_metrics=len(frames[2][1]),
        run_dates=touched,
        skipped_runs=[{"run_id": p.run_id, "reason": p.reason} for p in extract.problems],
    )
    with open_warehouse(warehouse_conn_id, schema) as wh, wh.transaction() as cur:
        summary.columns_added = ensure_tables(wh.dialect, cur)
        for table, frame in frames:
            summary.changed[table.name] = wh.dialect.upsert(cur, table, frame)
        if recompute_trends and touched:
            since = date.fromisoformat(touched[0]) - timedelta(days=trailing_days)
            summary.daily_since = since.isoformat()
            summary.daily_rows = recompute_daily_in(wh.dialect, cur, since, stamp)
            ends = window_ends(touched, latest_run_date_in(wh.dialect, cur), trailing_days)
            for end in ends:
                summary.regressions += len(detect_regressions_in(wh.dialect, cur, end, policy, stamp))
            summary.regression_days = [e.isoformat() for e in ends]
        if _before_commit is not None:
            _before_commit(cur)  # test seam: raise here to prove the whole load rolls back
    log.info(
        "Loaded %d result(s), %d run(s), %d metric row(s) into %s (changed: %s); daily rows rebuilt: %d",
        summary.results,
        summary.runs,
        summary.run_metrics,
        warehouse_conn_id,
        summary.changed,
        summary.daily_rows,
    )
    return summary
