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

import pandas as pd

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


_KEY = ["agent_id", "scenario_id", "mode", "suite"]


def _with_links(frame: Any, links: dict[tuple[Any, ...], str]) -> Any:
    """`frame` plus the stored dashboard URL of each row's agent × scenario × mode × suite (None if none).

    One join on the key columns (a Python lookup per row iterated 300k daily rows at 3M runs: ~1.5 s)."""
    if frame.empty or not links:
        return frame.assign(dashboard_url=None)
    table = pd.DataFrame(list(links), columns=_KEY).assign(dashboard_url=list(links.values()))
    keys = frame[_KEY].astype({"agent_id": "int64", "scenario_id": "int64"}).fillna({"mode": "", "suite": ""})
    found = keys.merge(
        table.astype({"mode": keys["mode"].dtype, "suite": keys["suite"].dtype}), on=_KEY, how="left"
    )
    urls = found["dashboard_url"].astype(object)
    return frame.assign(dashboard_url=urls.where(urls.notna(), None).to_numpy())


#: Batches the report's batch-diff section shows (newest first); only those are read.
DIFF_BATCHES = 12


def read_report_inputs(wh: Any, days: int, today: date | None) -> dict[str, Any]:
    """Every frame the report shows, read on one read-only connection, with the warehouse's names.

    Memory and time are bounded by what the report draws, not by the runs: no raw run or metric value is read.
    Latency panels come from the daily metric table (`aggregates.latency_panels_in`), only the newest batches'
    diffs are read, and each series' dashboard link is looked up on the last day it ran (`read.select_links`),
    not over every run in the history.
    """
    from cekura_livekit.report.weekly import LatencyStats, WeeklyInputs
    from cekura_livekit.warehouse.aggregates import latency_panels_in, latest_batch_diffs, select_report_daily
    from cekura_livekit.warehouse.read import (
        select_episodes,
        select_flaky_scores,
        select_latest_day,
        select_links,
        select_metric_regressions,
    )

    end = today or select_latest_day(wh) or datetime.now(UTC).date()
    since = end - timedelta(days=days)
    daily = select_report_daily(wh, since)
    with _read_cursor(wh) as cur:
        wh.dialect.tune_for_aggregation(cur)  # this read transaction only: sorts in memory, no JIT
        per_day = latency_panels_in(wh.dialect, cur, since, end)
        last = per_day["run_date"].max().date() if len(per_day) else end
        week = latency_panels_in(wh.dialect, cur, last - timedelta(days=6), last, by_day=False)
    latency = LatencyStats(daily=per_day, week=week, labels=_panel_labels(per_day, daily))
    flaky = select_flaky_scores(wh)
    metric_regressions = select_metric_regressions(wh, since=since)
    links = select_links(wh, _last_days(daily))
    return {
        "end": end,
        "daily": _with_links(daily, links),
        "episodes": select_episodes(wh, since=since),
        "flaky": _with_links(flaky, links),
        "weekly": WeeklyInputs(
            daily=daily,
            latency_stats=latency,
            batch_diffs=latest_batch_diffs(wh, since, DIFF_BATCHES),
            end=end,
            metric_regressions=_with_links(metric_regressions, links),
        ),
    }


def _last_days(daily: Any) -> dict[tuple[int, int, str, str], date]:
    """Each agent × scenario × mode × suite of the window with the last day it ran (where its link is)."""
    if daily.empty:
        return {}
    keys = daily[_KEY].fillna({"mode": "", "suite": ""}).assign(run_date=daily["run_date"])
    last = keys.groupby(_KEY, as_index=False, sort=False)["run_date"].max()
    return dict(
        zip(
            zip(
                last["agent_id"].astype("int64").tolist(),
                last["scenario_id"].astype("int64").tolist(),
                last["mode"].tolist(),
                last["suite"].tolist(),
                strict=True,
            ),
            [d.date() for d in last["run_date"]],
            strict=True,
        )
    )


def _panel_labels(per_day: Any, daily: Any) -> Any:
    """Each latency panel's metric name and unit (from the metric table) and agent name (from the daily rows)."""
    labels = per_day.drop_duplicates(["metric_id", "agent_id", "mode"], keep="last")[
        ["metric_id", "agent_id", "mode", "metric_name", "unit"]
    ]
    if daily.empty:
        return labels.assign(agent_name=None)
    names = daily.groupby("agent_id")["agent_name"].last()
    names.index = names.index.astype(int)
    return labels.assign(agent_name=labels["agent_id"].map(names))


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
