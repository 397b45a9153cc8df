"""The trends step: rebuild the derived daily tables for the days loads touched, and re-detect regressions."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from cekura_livekit.assets import RUN_DATES_EXTRA
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA

log = logging.getLogger(__name__)


def touched_days(triggering_asset_events: Mapping[Any, Iterable[Any]] | None) -> tuple[list[str], int | None]:
    """The run dates the loads behind this DAG run announced (their events' extra), and the widest
    trailing window they asked for; ``([], None)`` for a run without asset events (manual, dag.test())."""
    days: set[str] = set()
    trailing: int | None = None
    for events in (triggering_asset_events or {}).values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            days.update(str(d)[:10] for d in extra.get(RUN_DATES_EXTRA) or ())
            window = extra.get("trailing_days")
            if isinstance(window, int) and not isinstance(window, bool) and window >= 0:
                trailing = window if trailing is None else max(trailing, window)
    return sorted(days), trailing


def refresh_trends(
    conn_id: str,
    schema: str = DEFAULT_SCHEMA,
    trailing_days: int = 28,
    *,
    touched: Iterable[date | str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Bring the daily tables up to date after loads that touched `touched`: those days recounted from their
    runs, later days' rolling sums from the daily rows, only changed rows rewritten (`trends.plan_refresh`);
    without touched days (a manual run), every row of the trailing window up to the latest day.

    Returns the regression window ends that may have changed, for `detect_and_alert`.
    """
    from cekura_livekit.warehouse.connection import open_warehouse
    from cekura_livekit.warehouse.ddl import ensure_tables
    from cekura_livekit.warehouse.trends import plan_refresh, refresh_plan_in

    days = sorted({str(d)[:10] for d in touched or ()})
    with open_warehouse(conn_id, schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        plan = plan_refresh(wh.dialect, cur, days, trailing_days)
        if plan.latest is None or plan.since is None:
            log.info("The warehouse holds no runs yet: nothing to recompute.")
            return {"latest_run_date": None, "daily_rows": 0, "touched": days, "regression_days": []}
        rows = refresh_plan_in(wh.dialect, cur, plan, now)
        since = plan.days[0] if plan.days else plan.since  # the first day whose rows may change
    span = f"{len(days)} day(s), {days[0]} .. {days[-1]}" if days else "none"
    how = "the touched days and the rolling sums they move" if plan.days is not None else "every row"
    log.info(
        "Refreshed %s from %s to %s: %d daily rows written (touched: %s).",
        how,
        since,
        plan.latest,
        rows,
        span,
    )
    return {
        "latest_run_date": plan.latest.isoformat(),
        "since": since.isoformat(),
        "daily_rows": rows,
        "touched": days,
        "regression_days": [d.isoformat() for d in plan.window_ends],
    }


def detect_regressions_for(
    conn_id: str, schema: str = DEFAULT_SCHEMA, regression_days: Iterable[date | str] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Re-detect regressions for each window end in `regression_days` (default: the latest day) and rebuild
    the episodes, one transaction; returns (daily detections oldest window first, every episode)."""
    from cekura_livekit.warehouse.connection import open_warehouse
    from cekura_livekit.warehouse.ddl import ensure_tables
    from cekura_livekit.warehouse.tables import SUCCESS_RATE_DAILY
    from cekura_livekit.warehouse.trends import detect_windows_in, latest_run_date_in

    with open_warehouse(conn_id, schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        ends: list[Any] = sorted({str(d)[:10] for d in regression_days or ()})
        if not ends:
            latest = latest_run_date_in(wh.dialect, cur, SUCCESS_RATE_DAILY)
            ends = [latest] if latest is not None else []
        return detect_windows_in(wh.dialect, cur, ends)
