"""Data-quality alerts (freshness, volume, infra share) per series, as of the newest day: `cekura_quality_alerts`.

Why in the trends pass: a suite that stopped running, a lost batch or a day of infrastructure errors shows no
success-rate drop (infra errors are not evaluations), so the drop detector is silent by design. The monitors
(`detection.quality.quality_alerts`) judge each series against its own recent history; the table holds the
alerts as of the newest day (replaced on every pass), and the alert step tells people once per row
(`alert_memory.claim_monitor_alerts`, keyed by kind, series and day).

Input: `cekura_success_rate_daily` (runs, infra_errors + timeouts per day), the last `history` days only: the
monitors look back 28 active days, so the pass reads a bounded window however long the history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from cekura_livekit.detection.quality import DayCounts, QualityPolicy, quality_alerts
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.locks import TRENDS, serialise
from cekura_livekit.warehouse.tables import QUALITY_ALERTS, SUCCESS_RATE_DAILY

#: Calendar days read back: enough for 28 active days of a series that runs every other day.
HISTORY_DAYS = 90


def alert_id(row: dict[str, Any]) -> str:
    """The alert-once id of a quality row: series, kind and day (a freshness alert repeats daily while the
    series stays silent, so its day is the last day with runs: one alert per outage)."""
    return f"{row['agent_id']}/{row['scenario_id']}/{row['mode']}/{row['suite']}@{row['day']}"


def quality_rows(
    series: dict[tuple[int, int, str, str], list[DayCounts]],
    names: dict[tuple[int, int, str, str], tuple[Any, Any]],
    as_of: date,
    stamp: datetime,
    policy: QualityPolicy | None = None,
) -> list[dict[str, Any]]:
    """Every series' quality alerts as of `as_of`."""
    rows = []
    for key in sorted(series):
        days = series[key]
        for alert in quality_alerts(days, as_of, policy):
            day = alert["day"]
            if alert["kind"] == "freshness":  # one outage, one row: keyed on the last day with runs
                day = max(d.day for d in days if d.runs > 0)
            rows.append(
                {
                    "agent_id": key[0],
                    "scenario_id": key[1],
                    "mode": key[2],
                    "suite": key[3],
                    "kind": alert["kind"],
                    "day": day,
                    "agent_name": names[key][0],
                    "scenario_name": names[key][1],
                    "observed": float(alert["observed"]),
                    "expected": float(alert["expected"]),
                    "p_value": alert["p_value"],
                    "message": alert["message"],
                    "updated_at": stamp,
                }
            )
    return rows


def refresh_quality_in(
    dialect: Dialect,
    cur: Any,
    as_of: date | str,
    policy: QualityPolicy | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Compute the quality alerts as of `as_of` and replace the table (the current state: a late load that
    fills a lost batch withdraws its volume alert; what was alerted is remembered in `cekura_monitor_alerts`)."""
    serialise(dialect, cur, TRENDS)
    day = as_date(as_of)
    since = day - timedelta(days=HISTORY_DAYS)
    q = dialect.quote
    cur.execute(
        f"SELECT agent_id, scenario_id, {q('mode')}, suite, run_date, runs, infra_errors, timeouts, agent_name, "
        f"scenario_name FROM {dialect.table(SUCCESS_RATE_DAILY)} WHERE run_date > {dialect.date_param()} "
        f"ORDER BY agent_id, scenario_id, {q('mode')}, suite, run_date",
        (since.isoformat(),),
    )
    series: dict[tuple[int, int, str, str], list[DayCounts]] = {}
    names: dict[tuple[int, int, str, str], tuple[Any, Any]] = {}
    for (
        agent,
        scenario,
        mode,
        suite,
        run_date,
        runs,
        infra,
        timeouts,
        agent_name,
        scenario_name,
    ) in cur.fetchall():
        key = (int(agent), int(scenario), mode or "", suite or "")
        series.setdefault(key, []).append(
            DayCounts(as_date(run_date), int(runs or 0), int(infra or 0) + int(timeouts or 0))
        )
        names[key] = (agent_name, scenario_name)
    rows = quality_rows(series, names, day, now or datetime.now(UTC), policy)
    table = dialect.table(QUALITY_ALERTS)
    cur.execute(f"DELETE FROM {table}")
    dialect.insert_rows(cur, QUALITY_ALERTS, rows)
    return rows
