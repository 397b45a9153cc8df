"""The report steps: read the warehouse on one read-only connection, render, write inside the report roots.

The frames go to the report with the warehouse's own column names (`report.schema` documents which it
uses); nothing is renamed or re-keyed here. Each series' dashboard link is the one stored at load time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cekura_livekit.config import default_report_destination, weekly_report_dir
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA

log = logging.getLogger(__name__)


def latest_run_date(conn_id: str, schema: str = DEFAULT_SCHEMA) -> date | None:
    """The newest day in the daily table; read-only (a warehouse never loaded raises a clear error)."""
    from cekura_livekit.warehouse.connection import open_warehouse
    from cekura_livekit.warehouse.read import select_latest_day

    with open_warehouse(conn_id, schema) as wh:
        return select_latest_day(wh)


@contextmanager
def _read_cursor(wh: Any) -> Iterator[Any]:
    """A cursor for the warehouse's read helpers that take one; the read transaction is ended, not kept."""
    cur = wh.conn.cursor()
    try:
        yield cur
    finally:
        cur.close()
        wh.conn.rollback()  # nothing was written: end the read


def _with_links(frame: Any, links: dict[tuple[Any, ...], str]) -> Any:
    """`frame` plus the stored dashboard URL of each row's agent × scenario × mode × suite (None if none)."""
    if frame.empty:
        return frame.assign(dashboard_url=None)
    keys = zip(frame["agent_id"], frame["scenario_id"], frame["mode"], frame["suite"], strict=True)
    return frame.assign(dashboard_url=[links.get((int(a), int(s), m or "", u or "")) for a, s, m, u in keys])


#: Batches the report's batch-diff section shows (newest first); only those are read.
DIFF_BATCHES = 12


def read_report_inputs(wh: Any, days: int, today: date | None) -> dict[str, Any]:
    """Every frame the report shows, read on one read-only connection, with the warehouse's names.

    Memory is bounded by what the report draws, not by the runs: latency percentiles come reduced from SQL
    (per metric × agent × mode × day, and over the last week), and only the newest batches' diffs are read.
    """
    from cekura_livekit.report.weekly import LatencyStats, WeeklyInputs
    from cekura_livekit.warehouse.aggregates import (
        PANEL_KEY,
        latency_labels_in,
        latency_stats_in,
        latest_batch_diffs,
        select_report_daily,
    )
    from cekura_livekit.warehouse.episodes import latest_links_in
    from cekura_livekit.warehouse.read import (
        select_episodes,
        select_flaky_scores,
        select_latest_day,
        select_metric_regressions,
    )

    end = today or select_latest_day(wh) or datetime.now(UTC).date()
    since = end - timedelta(days=days)
    daily = select_report_daily(wh, since)
    with _read_cursor(wh) as cur:
        links = latest_links_in(wh.dialect, cur)
        per_day = latency_stats_in(wh.dialect, cur, since, end)
        last = per_day["run_date"].max().date() if len(per_day) else end
        latency = LatencyStats(
            daily=per_day,
            week=latency_stats_in(wh.dialect, cur, last - timedelta(days=6), last, keys=PANEL_KEY),
            labels=latency_labels_in(wh.dialect, cur, since, end),
        )
    daily = _with_links(daily, links)
    return {
        "end": end,
        "daily": daily,
        "episodes": select_episodes(wh, since=since),
        "flaky": _with_links(select_flaky_scores(wh), links),
        "weekly": WeeklyInputs(
            daily=daily,
            latency_stats=latency,
            batch_diffs=latest_batch_diffs(wh, since, DIFF_BATCHES),
            end=end,
            metric_regressions=_with_links(select_metric_regressions(wh, since=since), links),
        ),
    }


def render_report(
    conn_id: str,
    schema: str = DEFAULT_SCHEMA,
    destination: str | None = None,
    *,
    days: int = 60,
    today: date | None = None,
) -> dict[str, Any]:
    """Read the warehouse and write the self-contained HTML report; returns where it went.

    `destination` is trusted (code or deployment configuration); a run's param goes through
    `report.destination.confine` first (the DAG does that).
    """
    from cekura_livekit.report import build_report_html, write_report
    from cekura_livekit.warehouse.connection import open_warehouse

    with open_warehouse(conn_id, schema) as wh:  # one connection, read-only, for every frame of the report
        frames = read_report_inputs(wh, days, today)
    html = build_report_html(frames["daily"], frames["episodes"], frames["flaky"], weekly=frames["weekly"])
    where = write_report(html, destination or default_report_destination())
    log.info("Report written to %s (%d bytes).", where, len(html))
    daily, episodes, flaky = frames["daily"], frames["episodes"], frames["flaky"]
    return {
        "destination": where,
        "bytes": len(html),
        "days": int(daily["run_date"].nunique()) if not daily.empty else 0,
        "regressions": int((episodes["state"] == "open").sum()) if not episodes.empty else 0,
        "flaky": int((flaky["status"] == "flaky").sum()) if not flaky.empty else 0,
        "report_date": frames["end"].isoformat(),
    }


def render_weekly_report(
    conn_id: str,
    schema: str = DEFAULT_SCHEMA,
    directory: str | None = None,
    *,
    days: int = 60,
    today: date | None = None,
) -> dict[str, Any]:
    """The scheduled weekly read: a dated report (`cekura_report_<day>.html`, never overwritten by the next
    week's) in `directory` (default `config.weekly_report_dir`) plus `index.html` listing them all."""
    from cekura_livekit.report.archive import dated_name, write_index

    folder = directory or weekly_report_dir()
    end = today or latest_run_date(conn_id, schema) or datetime.now(UTC).date()
    written = render_report(conn_id, schema, f"{folder.rstrip('/')}/{dated_name(end)}", days=days, today=end)
    index = write_index(folder)
    log.info("Weekly report %s; index of %d report(s) at %s.", written["destination"], index[1], index[0])
    return {**written, "index": index[0], "reports": index[1]}


def render_requested_report(
    conn_id: str, schema: str = DEFAULT_SCHEMA, requested: str | None = None, *, days: int = 60
) -> dict[str, Any]:
    """The `cekura_report` task: a run's `destination` param confined to the report roots (empty: the
    configured default), checked before anything is read, then `render_report`.

    A refused destination (outside the roots, a scheme not allowed, a file the report did not write) raises
    `AirflowFailException`: the same param fails the same way, so retrying would only delay the message,
    which names the param, the value and the fix.
    """
    from cekura_livekit.compat import AirflowFailException
    from cekura_livekit.config import report_roots
    from cekura_livekit.report.destination import ReportDestinationError, confine
    from cekura_livekit.report.output import ForeignFileError

    try:
        blank = requested is None or (isinstance(requested, str) and not requested.strip())
        destination = None if blank else confine(requested, report_roots())  # type: ignore[arg-type]
        return render_report(conn_id, schema, destination, days=days)
    except (ReportDestinationError, ForeignFileError) as exc:
        raise AirflowFailException(str(exc)) from exc
