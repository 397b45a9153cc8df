"""Assembles the report: header and summary, then one ``<section>`` per question a data team asks.

This module computes what each section shows (plain values, plus the inline SVG the charts module built); the
markup lives in Jinja2 templates under ``templates/``, rendered with autoescape on, so every API-provided name
(agent, scenario, batch) is escaped by the template engine. Only the project's own SVG, whose text was escaped
where it was built (:mod:`cekura_livekit.report.charts`), enters the page as ``Markup``.

Each section renders from normalised frames and falls back to a "no data" note on its own, so one empty
input (no regressions this week) never hides the others.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from cekura_livekit import __version__
from cekura_livekit.effect import rate_change
from cekura_livekit.report import charts, stats
from cekura_livekit.report.schema import (
    SEVERITIES,
    normalize_daily,
    normalize_episodes,
    normalize_flaky,
)
from cekura_livekit.report.svg import (
    CATEGORICAL,
    INFRA_COLOR,
    INK,
    TIMEOUT_COLOR,
    pct,
    rate_color,
    rate_floor,
)
from cekura_livekit.report.weekly import WeeklyInputs, weekly_context

WEEKLY_SECTIONS: tuple[tuple[str, str], ...] = (
    ("week", "Week over week"),
    ("latency", "Latency"),
    ("batch-diff", "Batch diffs"),
)
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("success-rate", "Success rate per agent"),
    ("heatmap", "Scenarios by day"),
    ("regressions", "Regressions in effect"),
    ("flaky", "Flaky scenarios"),
    ("infra", "Infra errors"),
    ("worst", "Worst scenarios"),
)
_RAMP_STEPS = (0.5, 0.7, 0.8, 0.88, 0.94, 0.98, 1.0)
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@cache
def environment() -> jinja2.Environment:
    """The report's template environment: templates ship inside the package, autoescape is always on.

    ``PackageLoader`` finds them through the installed package (wheel or editable), never through a path
    relative to a checkout.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cekura_livekit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = pct
    env.filters["thousands"] = _thousands
    env.globals["ink"] = INK
    return env


def _chart(svg: str) -> Markup:
    """Mark an SVG string from :mod:`charts` safe: it escapes every text it embeds (names, tooltips) itself.

    Only SVG this project builds goes through here; anything else reaches the templates as plain text.
    """
    return Markup(svg)


def _thousands(value: float) -> str:
    return f"{int(value):,}"


def _date_range(start: pd.Timestamp, end: pd.Timestamp) -> str:
    if start == end:
        return f"{start:%b %-d, %Y}"
    if start.year == end.year:
        return f"{start:%b %-d} – {end:%b %-d, %Y}"
    return f"{start:%b %-d, %Y} – {end:%b %-d, %Y}"


def _link(url: object) -> str | None:
    """A dashboard link only for an http(s) URL string (missing values arrive as None, NaN or NA)."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def with_mode(name: str, mode: str) -> str:
    """A series' label: the name, and its mode when it has one (chat and voice are shown apart)."""
    return f"{name} · {mode}" if mode else name


def _p_value(p: float) -> str:
    if not math.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _n(value: float) -> str:
    return f"{int(value):,}" if math.isfinite(value) else "–"


def _when(value: object) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "–"
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return "–"
    return f"{ts:%Y-%m-%d %H:%M}" if (ts.hour or ts.minute) else f"{ts:%Y-%m-%d}"


def _finite_raw(value: float) -> str:
    return f"{value:.6f}" if math.isfinite(value) else ""


# ------------------------------------------------------------------------------------------ sections


def summary_context(summary: stats.Summary) -> dict[str, Any]:
    if summary.start is None or summary.end is None:
        return {"has_runs": False}
    low, high = summary.interval
    return {
        "has_runs": True,
        "days_label": f"{summary.days} day{'' if summary.days == 1 else 's'}",
        "date_range": _date_range(summary.start, summary.end),
        "period_raw": f"{summary.start:%Y-%m-%d}/{summary.end:%Y-%m-%d}",
        "runs": summary.runs,
        "evaluated": summary.evaluated,
        "passed": summary.passed,
        "rate": summary.rate,
        "rate_raw": _finite_raw(summary.rate),
        "low": low,
        "high": high,
        "agents": summary.agents,
        "modes": summary.modes,
        "scenarios": summary.scenarios,
        "infra_error_rate": summary.infra_error_rate,
        "infra_raw": _finite_raw(summary.infra_error_rate),
        "not_evaluated_rate": summary.not_evaluated_rate,
        "infra_errors": summary.infra_errors,
        "timeouts": summary.timeouts,
        "cancelled": summary.cancelled,
        "regressions": summary.regressions,
        "severities": [(s, summary.by_severity[s]) for s in SEVERITIES if summary.by_severity.get(s)],
    }


def _episode_days(episodes: pd.DataFrame) -> list[tuple[Any, pd.Timestamp, pd.Timestamp]]:
    """(row, first day, last day) of each episode with a start: the days its drop was in effect."""
    out = []
    for r in episodes.itertuples(index=False):
        if not pd.isna(r.started_on):
            last = r.last_seen if not pd.isna(r.last_seen) else r.started_on
            out.append((r, r.started_on, max(last, r.started_on)))
    return out


def success_context(daily: pd.DataFrame, episodes: pd.DataFrame, window_days: int) -> dict[str, Any]:
    if len(daily) == 0:
        return {"figures": [], "window_days": window_days}
    points = stats.agent_daily(daily)
    rolling = stats.rolling_by_agent(daily, window_days)
    start, end = daily["run_date"].min(), daily["run_date"].max()
    days = int((end - start).days) + 1
    # Zoom on the rates themselves; a wide band on a quiet day is clipped rather than flattening every panel.
    y_low = rate_floor([*points["rate"].tolist(), *rolling["rate_roll"].tolist()])
    reg_days: dict[tuple[str, str], dict[pd.Timestamp, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r, first, _ in _episode_days(episodes):
        sev = f" ({r.severity})" if r.severity else ""
        reg_days[(r.agent_id, r.mode)][first].append(f"{r.scenario_name}{sev}")
    totals = points.groupby(stats.AGENT_KEY)[["passed", "evaluated"]].sum()
    figures = []
    order = points.drop_duplicates(stats.AGENT_KEY)[["agent_id", "mode", "agent_name"]]
    for i, (agent_id, mode, agent_name) in enumerate(order.itertuples(index=False, name=None)):
        color = CATEGORICAL[i % len(CATEGORICAL)]
        mine = (points["agent_id"] == agent_id) & (points["mode"] == mode)
        roll = rolling[(rolling["agent_id"] == agent_id) & (rolling["mode"] == mode)]
        passed, evaluated = (int(v) for v in totals.loc[(agent_id, mode)])
        label = with_mode(str(agent_name), mode)
        svg = charts.success_rate_panel(
            points[mine],
            roll,
            agent_label=label,
            color=color,
            start=start,
            days=days,
            y_low=y_low,
            regression_days=reg_days.get((agent_id, mode), {}),
            window_days=window_days,
            uid=f"agent{i}",
        )
        figures.append(
            {
                "agent_id": agent_id,
                "mode": mode,
                "label": label,
                "color": color,
                "passed": passed,
                "evaluated": evaluated,
                "rate": passed / evaluated if evaluated else math.nan,
                "last_rate": float(roll.sort_values("run_date").iloc[-1]["rate_roll"]),
                "svg": _chart(svg),
            }
        )
    return {"figures": figures, "window_days": window_days}


def _one_row_per_mode(frame: pd.DataFrame, id_col: str = "scenario_id") -> pd.DataFrame:
    """Scenario rows keyed by scenario × mode (the heat map draws one row per scenario per mode)."""
    return frame.assign(
        **{id_col: frame[id_col].astype(str) + "\x1f" + frame["mode"].astype(str)},
        scenario_name=[with_mode(n, m) for n, m in zip(frame["scenario_name"], frame["mode"], strict=True)],
        mode="",
    )


def heatmap_context(
    daily: pd.DataFrame, episodes: pd.DataFrame, max_days: int, max_rows: int
) -> dict[str, Any]:
    if len(daily) == 0:
        return {"svg": None}
    end = daily["run_date"].max()
    start = max(daily["run_date"].min(), end - pd.Timedelta(days=max_days - 1))
    days = int((end - start).days) + 1
    window = _one_row_per_mode(daily[daily["run_date"] >= start])
    totals = stats.scenario_totals(window)
    notes = []
    if daily["run_date"].min() < start:
        notes.append(f"Showing the last {days} days of the period.")
    if len(totals) > max_rows:
        notes.append(
            f"Showing the {max_rows} lowest-rate scenarios of {len(totals)}; the rest are in the warehouse."
        )
        totals = totals.sort_values(["rate", "evaluated"], ascending=[True, False], na_position="last").head(
            max_rows
        )
    totals = totals.sort_values(
        ["agent_name", "agent_id", "rate", "scenario_name"], na_position="last", key=stats.natural_key
    )
    rows = list(
        totals[["agent_id", "scenario_id", "agent_name", "scenario_name"]].itertuples(index=False, name=None)
    )
    flagged = {
        (r.agent_id, f"{r.scenario_id}\x1f{r.mode}", first + pd.Timedelta(days=i))
        for r, first, last in _episode_days(episodes)
        for i in range(int((last - first).days) + 1)
    }
    total_map = {
        (a, s): (rate, int(n))
        for a, s, rate, n in zip(
            totals["agent_id"], totals["scenario_id"], totals["rate"], totals["evaluated"], strict=True
        )
    }
    # Cells of the rows drawn only (at most `max_rows` scenarios, not every scenario × day of the period).
    drawn = window.merge(totals[["agent_id", "scenario_id"]], on=["agent_id", "scenario_id"])
    svg = charts.heatmap(
        rows, stats.scenario_daily(drawn), total_map, start=start, days=days, flagged=flagged
    )
    return {
        "svg": _chart(svg),
        "notes": notes,
        "ramp": [(rate_color(s), pct(s, 0)) for s in _RAMP_STEPS],
        "flagged_color": rate_color(0.94),
    }


def _drop_interval(r: Any) -> str:
    """The drop's 95% interval (Newcombe, `effect.rate_change`) from the runs before and since the change: the
    evidence a CUSUM episode has (it has no per-day p-value); a stored q-value is shown only where there is one."""
    counts = (r.baseline_rate, r.baseline_n, r.current_rate, r.current_n)
    if all(math.isfinite(v) for v in counts) and r.baseline_n > 0 and r.current_n > 0:
        before_n, after_n = int(r.baseline_n), int(r.current_n)
        c = rate_change(round(r.baseline_rate * before_n), before_n, round(r.current_rate * after_n), after_n)
        if math.isfinite(c.low):
            return f"{-c.high * 100:.1f} to {-c.low * 100:.1f} pts"
    return f"q = {_p_value(r.q_value)}" if math.isfinite(r.q_value) else "–"


def _episode_row(r: Any) -> dict[str, Any]:
    return {
        "since": _when(r.started_on),
        "flagged": _when(r.flagged_on),
        "last_seen": _when(r.last_seen),
        "state": r.state + (f" {_when(r.resolved_on)}" if r.state == "resolved" else ""),
        "quarantined": bool(r.quarantined),
        "severity_class": r.severity if r.severity in _SEVERITY_RANK else "unknown",
        "severity": r.severity or "unrated",
        "agent_name": r.agent_name,
        "scenario_name": r.scenario_name,
        "mode": r.mode or "–",
        "suite": r.suite or "–",
        "baseline_rate": r.baseline_rate,
        "baseline_n": _n(r.baseline_n),
        "current_rate": r.current_rate,
        "current_n": _n(r.current_n),
        "drop": f"−{r.peak_drop * 100:.1f} pts" if math.isfinite(r.peak_drop) else "–",
        "interval": _drop_interval(r),
        "dashboard_url": _link(r.dashboard_url),
    }


def regressions_context(episodes: pd.DataFrame, limit: int) -> dict[str, Any]:
    """The drops in effect (open episodes), worst first; then the episodes that ended within the period."""
    frame = episodes.assign(
        _rank=episodes["severity"].map(lambda s: _SEVERITY_RANK.get(s, 9)),
        _open=episodes["state"] == "open",
    ).sort_values(
        ["_open", "_rank", "peak_drop", "started_on"],
        ascending=[False, True, False, False],
        na_position="last",
    )
    in_effect = frame[frame["_open"]]
    ended = frame[~frame["_open"]]
    return {
        "rows": [_episode_row(r) for r in in_effect.head(limit).itertuples(index=False)],
        "ended": [_episode_row(r) for r in ended.head(limit).itertuples(index=False)],
        "total": len(in_effect),
        "total_ended": len(ended),
    }


def flaky_context(flaky: pd.DataFrame, limit: int) -> dict[str, Any]:
    frame = flaky.assign(_flaky=flaky["status"] == "flaky").sort_values(
        ["_flaky", "score", "runs"], ascending=[False, False, False], na_position="last"
    )
    rows = []
    for r in frame.head(limit).itertuples(index=False):
        passed, failed = int(r.passed), int(r.failed_evaluation)
        decided = passed + failed
        rows.append(
            {
                "agent_name": r.agent_name,
                "scenario_name": r.scenario_name,
                "mode": r.mode or "–",
                "runs": int(r.runs),
                "passed": passed,
                "failed": failed,
                "pass_width": 100 * passed / decided if decided else 0,
                "fail_width": 100 * failed / decided if decided else 0,
                "pass_share": passed / decided if decided else math.nan,
                "first_seen": _when(r.first_seen),
                "score": f"{r.score:.2f}" if math.isfinite(r.score) else "–",
                "status": r.status or "",
                "dashboard_url": _link(r.dashboard_url),
            }
        )
    return {"rows": rows, "total": len(flaky)}


def infra_context(daily: pd.DataFrame) -> dict[str, Any]:
    if len(daily) == 0:
        return {"svg": None}
    frame = stats.infra_daily(daily)
    start, end = frame["run_date"].min(), frame["run_date"].max()
    days = int((end - start).days) + 1
    svg = charts.infra_chart(frame, start=start, days=days)
    return {
        "svg": _chart(svg),
        "infra_color": INFRA_COLOR,
        "timeout_color": TIMEOUT_COLOR,
    }


def worst_context(daily: pd.DataFrame, min_runs: int, limit: int) -> dict[str, Any]:
    if len(daily) == 0:
        return {"no_runs": True, "min_runs": min_runs, "rows": []}
    worst = stats.worst_scenarios(daily, min_runs, limit)
    axis_low = rate_floor(worst["wilson_low"].tolist()) if len(worst) else 0.0
    rows = [
        {
            "agent_name": r.agent_name,
            "scenario_name": r.scenario_name,
            "mode": r.mode or "–",
            "dashboard_url": _link(r.dashboard_url),
            "evaluated": int(r.evaluated),
            "passed": int(r.passed),
            "rate": r.rate,
            "low": r.wilson_low,
            "high": r.wilson_high,
            "bar": _chart(charts.interval_bar(r.rate, r.wilson_low, r.wilson_high, axis_low=axis_low)),
            "lost": int(r.infra_errors) + int(r.timeouts),
        }
        for r in worst.itertuples(index=False)
    ]
    return {"no_runs": False, "min_runs": min_runs, "rows": rows, "axis_low": axis_low}


# ---------------------------------------------------------------------------------------------- page


def build_report_html(
    daily: pd.DataFrame | None,
    episodes: pd.DataFrame | None,
    flaky: pd.DataFrame | None,
    title: str = "Cekura voice-agent regression report",
    generated_at: datetime | None = None,
    *,
    window_days: int = 7,
    worst_min_runs: int = 20,
    worst_limit: int = 10,
    heatmap_max_days: int = 60,
    heatmap_max_rows: int = 40,
    table_limit: int = 50,
    weekly: WeeklyInputs | None = None,
) -> str:
    """Render the whole report as one self-contained HTML string (inline CSS and SVG, no scripts, no fetches).

    Frames follow the schema in :mod:`cekura_livekit.report.schema`; ``None`` or empty frames render a
    "no data" note in their sections. Raises ``ValueError`` for a non-empty frame missing a required column.
    """
    for name, value, low in (
        ("window_days", window_days, 1),
        ("worst_min_runs", worst_min_runs, 1),
        ("worst_limit", worst_limit, 1),
        ("heatmap_max_days", heatmap_max_days, 1),
        ("heatmap_max_rows", heatmap_max_rows, 1),
        ("table_limit", table_limit, 1),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"build_report_html: {name} must be an integer >= {low}; got {value!r}.")
    daily_n = normalize_daily(daily)
    episodes_n = normalize_episodes(episodes)
    flaky_n = normalize_flaky(flaky)
    when = generated_at or datetime.now(UTC)
    summary = stats.summarize(daily_n, episodes_n)
    period = (
        f"{_date_range(summary.start, summary.end)} · {summary.agents} agent{'' if summary.agents == 1 else 's'}"
        f" · {summary.scenarios} scenarios"
        if summary.start is not None and summary.end is not None
        else "no runs yet"
    )
    return (
        environment()
        .get_template("report.html")
        .render(
            title=title,
            version=__version__,
            period=period,
            generated_iso=when.isoformat(),
            generated_text=f"{when:%Y-%m-%d %H:%M} {when.tzname() or ''}".strip(),
            window_days=window_days,
            toc=SECTIONS[:1] + (WEEKLY_SECTIONS if weekly is not None else ()) + SECTIONS[1:],
            weekly=weekly_context(weekly),
            summary=summary_context(summary),
            success=success_context(daily_n, episodes_n, window_days),
            heatmap=heatmap_context(daily_n, episodes_n, heatmap_max_days, heatmap_max_rows),
            regressions=regressions_context(episodes_n, table_limit),
            flaky=flaky_context(flaky_n, table_limit),
            infra=infra_context(daily_n),
            worst=worst_context(daily_n, worst_min_runs, worst_limit),
        )
    )
