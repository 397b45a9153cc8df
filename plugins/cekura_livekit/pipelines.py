"""Task bodies of the trends and report DAGs: plain functions, so DAG files stay thin and tests call them.

Each returns a small JSON-safe summary for XCom; heavy imports (pandas) happen only when they run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA

log = logging.getLogger(__name__)

DEFAULT_WAREHOUSE_CONN_ID = "cekura_warehouse"


def warehouse_conn_id() -> str:
    """The warehouse connection the bundled DAGs use (`CEKURA_WAREHOUSE_CONN_ID`, default cekura_warehouse)."""
    return os.environ.get("CEKURA_WAREHOUSE_CONN_ID", DEFAULT_WAREHOUSE_CONN_ID)


def warehouse_schema() -> str:
    return os.environ.get("CEKURA_WAREHOUSE_SCHEMA", DEFAULT_SCHEMA)


def latest_run_date(conn_id: str, schema: str = DEFAULT_SCHEMA) -> date | None:
    """The newest run date in the warehouse (creating the tables first on a brand-new warehouse)."""
    from cekura_livekit.warehouse.dialects import open_warehouse
    from cekura_livekit.warehouse.trends import latest_run_date_in
    from cekura_livekit.warehouse.writer import ensure_tables

    with open_warehouse(conn_id, schema) as wh, wh.transaction() as cur:
        ensure_tables(wh.dialect, cur)
        return latest_run_date_in(wh.dialect, cur)


def refresh_trends(conn_id: str, schema: str = DEFAULT_SCHEMA, trailing_days: int = 28) -> dict[str, Any]:
    """Recompute the daily table for the trailing window up to the latest day with data (late evaluations)."""
    from cekura_livekit.warehouse.trends import recompute_daily

    latest = latest_run_date(conn_id, schema)
    if latest is None:
        log.info("The warehouse holds no runs yet: nothing to recompute.")
        return {"latest_run_date": None, "daily_rows": 0}
    since = latest - timedelta(days=trailing_days)
    rows = recompute_daily(conn_id, since, schema)
    log.info("Recomputed %d daily rows from %s to %s.", rows, since, latest)
    return {"latest_run_date": latest.isoformat(), "since": since.isoformat(), "daily_rows": rows}


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
) -> dict[str, Any]:
    """Detect regressions for the latest window, alert each new episode once, and return what happened."""
    from cekura_livekit.alerts import CekuraRegressionNotifier, alert_message, claim_new_alerts
    from cekura_livekit.warehouse.trends import detect_regressions

    found = detect_regressions(conn_id, schema=schema)
    fresh = claim_new_alerts(conn_id, found, schema=schema)
    links = _dashboard_links(conn_id, schema, cekura_conn_id, {(a.agent_id, a.scenario_id) for a in fresh})
    fresh = [dataclasses.replace(a, dashboard_url=links.get((a.agent_id, a.scenario_id))) for a in fresh]
    message = alert_message(fresh)
    if fresh:
        CekuraRegressionNotifier(
            message, alerts=fresh, slack_webhook_conn_id=slack_webhook_conn_id, email_to=email_to
        ).notify(context or {})
    else:
        log.info("%d regression(s) in the latest window, none new: no alert.", len(found))
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
    from cekura_livekit.warehouse.read import read_daily, read_flaky, read_regressions

    end = today or latest_run_date(conn_id, schema) or datetime.now(UTC).date()
    since = end - timedelta(days=days)
    daily = read_daily(conn_id, since=since, schema=schema)
    regressions = read_regressions(conn_id, since=since, schema=schema)
    flaky = read_flaky(conn_id, since=since, schema=schema)
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
