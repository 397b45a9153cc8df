"""Task bodies of the trends and report DAGs: plain functions, so DAG files stay thin and tests call them.

Who does what (one owner per step): a load writes facts and announces the run dates it touched in its
Asset event; `refresh_trends` rebuilds the daily table for those days (plus the trailing window);
`detect_and_alert` re-detects regressions for the window ends that changed and alerts new episodes once;
`render_report` only reads, on one connection. Each returns a small JSON-safe summary for XCom; heavy
imports (pandas) happen only when they run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cekura_livekit.assets import RUN_DATES_EXTRA
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA

log = logging.getLogger(__name__)

DEFAULT_WAREHOUSE_CONN_ID = "cekura_warehouse"


def warehouse_conn_id() -> str:
    """The warehouse connection the bundled DAGs use (`CEKURA_WAREHOUSE_CONN_ID`, default cekura_warehouse)."""
    return os.environ.get("CEKURA_WAREHOUSE_CONN_ID", DEFAULT_WAREHOUSE_CONN_ID)


def warehouse_schema() -> str:
    return os.environ.get("CEKURA_WAREHOUSE_SCHEMA", DEFAULT_SCHEMA)


def latest_run_date(conn_id: str, schema: str = DEFAULT_SCHEMA) -> date | None:
    """The newest day in the daily table; read-only (a warehouse never loaded raises a clear error)."""
    from cekura_livekit.warehouse.dialects import open_warehouse
    from cekura_livekit.warehouse.read import select_latest_day

    with open_warehouse(conn_id, schema) as wh:
        return select_latest_day(wh)


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
    """Rebuild the daily table after loads that touched `touched` (from the earliest of them minus the
    trailing window); without touched days, the trailing window up to the latest day (late evaluations).

    Returns the regression window ends that may have changed, for `detect_and_alert`.
    """
    from cekura_livekit.warehouse.ddl import ensure_tables
    from cekura_livekit.warehouse.dialects import open_warehouse
    from cekura_livekit.warehouse.trends import plan_refresh, recompute_daily_in

    days = sorted({str(d)[:10] for d in touched or ()})
    with open_warehouse(conn_id, schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        plan = plan_refresh(wh.dialect, cur, days, trailing_days)
        if plan.latest is None or plan.since is None:
            log.info("The warehouse holds no runs yet: nothing to recompute.")
            return {"latest_run_date": None, "daily_rows": 0, "touched": days, "regression_days": []}
        rows = recompute_daily_in(wh.dialect, cur, plan.since, now)
    log.info("Recomputed %d daily rows from %s to %s (touched: %s).", rows, plan.since, plan.latest, days)
    return {
        "latest_run_date": plan.latest.isoformat(),
        "since": plan.since.isoformat(),
        "daily_rows": rows,
        "touched": days,
        "regression_days": [d.isoformat() for d in plan.window_ends],
    }


def detect_regressions_for(
    conn_id: str, schema: str = DEFAULT_SCHEMA, regression_days: Iterable[date | str] | None = None
) -> list[dict[str, Any]]:
    """Re-detect regressions for each window end in `regression_days` (default: the latest day), one
    transaction; returns every regression found, oldest window first."""
    from cekura_livekit.warehouse.ddl import ensure_tables
    from cekura_livekit.warehouse.dialects import open_warehouse
    from cekura_livekit.warehouse.tables import SUCCESS_RATE_DAILY
    from cekura_livekit.warehouse.trends import detect_regressions_in, latest_run_date_in

    found: list[dict[str, Any]] = []
    with open_warehouse(conn_id, schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        ends: list[Any] = sorted({str(d)[:10] for d in regression_days or ()})
        if not ends:
            latest = latest_run_date_in(wh.dialect, cur, SUCCESS_RATE_DAILY)
            ends = [latest] if latest is not None else []
        for end in ends:
            found.extend(detect_regressions_in(wh.dialect, cur, end))
    return found


def _dashboard_links(
    conn_id: str, schema: str, cekura_conn_id: str | None, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """Dashboard link of the latest result of each agent × scenario (best-effort: alerts go out anyway)."""
    if not cekura_conn_id or not pairs:
        return {}
    from cekura_livekit.hooks.cekura import CekuraHook
    from cekura_livekit.warehouse.dialects import open_warehouse, q
    from cekura_livekit.warehouse.tables import RUNS

    links: dict[tuple[int, int], str] = {}
    try:
        hook = CekuraHook(cekura_conn_id)
        projects: dict[int, int | None] = {}
        with open_warehouse(conn_id, schema) as wh:
            p = wh.dialect.param
            for agent_id, scenario_id in sorted(pairs):
                _, rows = wh.query(
                    f"SELECT {q('result_id')} FROM {wh.dialect.table(RUNS)} WHERE {q('agent_id')} = {p} "
                    f"AND {q('scenario_id')} = {p} ORDER BY {q('result_id')} DESC LIMIT 1",
                    (agent_id, scenario_id),
                )
                if rows:
                    if agent_id not in projects:
                        projects[agent_id] = hook.get_agent_project_id(agent_id)
                    links[(agent_id, scenario_id)] = hook.dashboard_url(int(rows[0][0]), projects[agent_id])
    except Exception as exc:  # a missing link must not swallow the alert itself
        log.warning("Could not build dashboard links for the alert: %s", exc)
    return links


def detect_and_alert(
    conn_id: str,
    schema: str = DEFAULT_SCHEMA,
    *,
    cekura_conn_id: str | None = "cekura_default",
    slack_webhook_conn_id: str | None = None,
    email_to: str | None = None,
    context: Any = None,
    regression_days: Iterable[date | str] | None = None,
) -> dict[str, Any]:
    """Detect regressions for `regression_days` (default: the latest window), alert each new episode once,
    and return what happened."""
    from cekura_livekit.alerts import CekuraRegressionNotifier, alert_message, claim_new_alerts

    found = detect_regressions_for(conn_id, schema, regression_days)
    fresh = claim_new_alerts(conn_id, found, schema=schema)
    links = _dashboard_links(conn_id, schema, cekura_conn_id, {(a.agent_id, a.scenario_id) for a in fresh})
    fresh = [dataclasses.replace(a, dashboard_url=links.get((a.agent_id, a.scenario_id))) for a in fresh]
    message = alert_message(fresh)
    if fresh:
        CekuraRegressionNotifier(
            message, alerts=fresh, slack_webhook_conn_id=slack_webhook_conn_id, email_to=email_to
        ).notify(context or {})
    else:
        log.info("%d regression(s) in the windows checked, none new: no alert.", len(found))
    return {
        "regressions": len(found),
        "new_alerts": len(fresh),
        "alerted": [f"{a.agent_id}/{a.scenario_id}" for a in fresh],
        "message": message,
    }


def default_report_destination() -> str:
    """`CEKURA_REPORT_DESTINATION` (a path or an object-storage URL), else <AIRFLOW_HOME>/reports."""
    configured = os.environ.get("CEKURA_REPORT_DESTINATION")
    if configured:
        return configured
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return str(home / "reports" / "cekura_report.html")


def render_report(
    conn_id: str,
    schema: str = DEFAULT_SCHEMA,
    destination: str | None = None,
    *,
    days: int = 60,
    today: date | None = None,
) -> dict[str, Any]:
    """Read the trend tables back and write the self-contained HTML report; returns where it went."""
    from cekura_livekit.report import build_report_html, write_report
    from cekura_livekit.warehouse.dialects import open_warehouse
    from cekura_livekit.warehouse.read import (
        select_daily,
        select_flaky,
        select_latest_day,
        select_regressions,
    )

    with open_warehouse(conn_id, schema) as wh:  # one connection, read-only, for every frame of the report
        end = today or select_latest_day(wh) or datetime.now(UTC).date()
        since = end - timedelta(days=days)
        daily = select_daily(wh, since=since)
        regressions = select_regressions(wh, since=since)
        flaky = select_flaky(wh, since=since)
    html = build_report_html(daily, regressions, flaky)
    where = write_report(html, destination or default_report_destination())
    log.info("Report written to %s (%d bytes).", where, len(html))
    return {
        "destination": where,
        "bytes": len(html),
        "days": int(daily["run_date"].nunique()) if not daily.empty else 0,
        "regressions": len(regressions),
        "flaky": len(flaky),
    }
