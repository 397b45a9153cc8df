"""TEMPORARY: the f-string renderer before the Jinja2 templates, kept only to compare their output.

Assembles the report: header and summary, then one ``<section>`` per question a data team asks.

Each section renders from normalised frames and falls back to a "no data" note on its own, so one empty
input (no regressions this week) never hides the others.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime

import pandas as pd

from cekura_livekit import __version__
from cekura_livekit.report import charts, stats
from cekura_livekit.report.schema import (
    SEVERITIES,
    normalize_daily,
    normalize_flaky,
    normalize_regressions,
)
from cekura_livekit.report.style import CSS
from cekura_livekit.report.svg import CATEGORICAL, INK, esc, pct, rate_color, rate_floor

SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("success-rate", "Success rate per agent"),
    ("heatmap", "Scenarios by day"),
    ("regressions", "Latest regressions"),
    ("flaky", "Flaky scenarios"),
    ("infra", "Infra errors"),
    ("worst", "Worst scenarios"),
)


def _no_data(message: str) -> str:
    return f'<p class="no-data">{esc(message)}</p>'


def _section(section_id: str, title: str, lede: str, body: str) -> str:
    return (
        f'<section class="block" id="{section_id}" data-section="{section_id}"><h2>{esc(title)}</h2>'
        f'<p class="lede">{lede}</p>{body}</section>'
    )


def _date_range(start: pd.Timestamp, end: pd.Timestamp) -> str:
    if start == end:
        return f"{start:%b %-d, %Y}"
    if start.year == end.year:
        return f"{start:%b %-d} – {end:%b %-d, %Y}"
    return f"{start:%b %-d, %Y} – {end:%b %-d, %Y}"


def _p_value(p: float) -> str:
    if not math.isfinite(p):
        return "–"
    return "&lt; 0.001" if p < 0.001 else f"{p:.3f}"


def _n(value: float) -> str:
    return f"{int(value):,}" if math.isfinite(value) else "–"


def _when(value: object) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "–"
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return "–"
    return f"{ts:%Y-%m-%d %H:%M}" if (ts.hour or ts.minute) else f"{ts:%Y-%m-%d}"


# --------------------------------------------------------------------------------------------- summary


def _card(metric: str, label: str, value: str, detail: str, raw: float | int | str) -> str:
    return (
        f'<div class="card" data-metric="{metric}" data-value="{esc(raw)}"><div class="label">{esc(label)}</div>'
        f'<div class="value">{value}</div><div class="detail">{detail}</div></div>'
    )


def summary_section(summary: stats.Summary) -> str:
    if summary.start is None or summary.end is None:
        body = _no_data(
            "No runs in the warehouse for this period yet: run a batch, then regenerate the report."
        )
        cards = ""
    else:
        body = ""
        low, high = summary.interval
        sev = "".join(
            f'<span class="badge {s}">{summary.by_severity.get(s, 0)} {s}</span>'
            for s in SEVERITIES
            if summary.by_severity.get(s)
        )
        cards = "".join(
            [
                _card(
                    "period",
                    "Period",
                    f"{summary.days} day{'' if summary.days == 1 else 's'}",
                    esc(_date_range(summary.start, summary.end)),
                    f"{summary.start:%Y-%m-%d}/{summary.end:%Y-%m-%d}",
                ),
                _card("runs", "Runs", f"{summary.runs:,}", f"{summary.evaluated:,} evaluated", summary.runs),
                _card(
                    "overall-rate",
                    "Success rate",
                    pct(summary.rate),
                    f"{summary.passed:,} / {summary.evaluated:,} passed<br>95% CI {pct(low)} – {pct(high)}",
                    f"{summary.rate:.6f}" if math.isfinite(summary.rate) else "",
                ),
                _card(
                    "agents",
                    "Agents · scenarios",
                    f"{summary.agents} · {summary.scenarios}",
                    "agent × scenario pairs with runs",
                    summary.agents,
                ),
                _card(
                    "infra-rate",
                    "Infra loss",
                    pct(summary.infra_rate),
                    f"{summary.infra_errors:,} infra errors<br>{summary.timeouts:,} timeouts",
                    f"{summary.infra_rate:.6f}" if math.isfinite(summary.infra_rate) else "",
                ),
                _card(
                    "regressions",
                    "Regressions",
                    f"{summary.regressions:,}",
                    f'<span class="badges">{sev}</span>' if sev else "none flagged",
                    summary.regressions,
                ),
            ]
        )
    return f'<section id="summary" data-section="summary" class="summary"><div class="cards">{cards}</div>{body}</section>'


# ------------------------------------------------------------------------------------- success rate


def _legend_success() -> str:
    return (
        '<div class="legend">'
        '<span class="key"><svg width="14" height="14"><circle cx="7" cy="7" r="4" fill="#0072B2" stroke="#fff"/></svg>'
        "daily success rate (agent colour)</span>"
        '<span class="key"><svg width="22" height="14"><rect y="2" width="22" height="10" fill="#0072B2" '
        'fill-opacity="0.16"/></svg>Wilson 95% interval</span>'
        f'<span class="key"><svg width="26" height="14"><path d="M1,7L25,7" stroke="{INK}" stroke-width="2" '
        'stroke-dasharray="6 3"/></svg>rolling 7-day rate</span>'
        f'<span class="key"><svg width="14" height="14"><path d="M7,2L2,12L12,12Z" fill="{INK}"/></svg>'
        "regression flagged</span></div>"
    )


def success_section(daily: pd.DataFrame, regressions: pd.DataFrame, window_days: int) -> str:
    lede = (
        "Share of evaluated runs that passed, per agent and day (counts summed over scenarios). The band is the "
        "Wilson 95% interval: wide on quiet days, narrow on busy ones. Runs lost to infra errors or timeouts are "
        "not counted against the agent."
    )
    if len(daily) == 0:
        return _section("success-rate", "Success rate per agent", lede, _no_data("No runs to chart yet."))
    points = stats.agent_daily(daily)
    rolling = stats.rolling_by_agent(daily, window_days)
    start, end = daily["run_date"].min(), daily["run_date"].max()
    days = int((end - start).days) + 1
    # Zoom on the rates themselves; a wide band on a quiet day is clipped rather than flattening every panel.
    y_low = rate_floor([*points["rate"].tolist(), *rolling["rate_roll"].tolist()])
    reg_days: dict[str, dict[pd.Timestamp, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in regressions.itertuples(index=False):
        if r.run_date is not pd.NaT and not pd.isna(r.run_date):
            sev = f" ({r.severity})" if r.severity else ""
            reg_days[r.agent_id][r.run_date].append(f"{r.scenario_name}{sev}")
    totals = points.groupby("agent_id")[["passed", "evaluated"]].sum()
    figures = []
    order = points.drop_duplicates("agent_id")[["agent_id", "agent_name"]]
    for i, (agent_id, agent_name) in enumerate(order.itertuples(index=False, name=None)):
        color = CATEGORICAL[i % len(CATEGORICAL)]
        mine = points[points["agent_id"] == agent_id]
        roll = rolling[rolling["agent_id"] == agent_id]
        passed, evaluated = (int(v) for v in totals.loc[agent_id])
        last = roll.sort_values("run_date").iloc[-1]
        label = str(agent_name)
        svg = charts.success_rate_panel(
            mine,
            roll,
            agent_label=label,
            color=color,
            start=start,
            days=days,
            y_low=y_low,
            regression_days=reg_days.get(agent_id, {}),
            window_days=window_days,
            uid=f"agent{i}",
        )
        rate = passed / evaluated if evaluated else math.nan
        figures.append(
            f'<figure data-agent-id="{esc(agent_id)}"><figcaption>'
            f'<span class="swatch" style="background:{color}"></span><span class="name">{esc(label)}</span>'
            f'<span class="stat">id {esc(agent_id)} · period <b>{pct(rate)}</b> ({passed:,}/{evaluated:,}) · '
            f"last {window_days} days <b>{pct(float(last['rate_roll']))}</b></span>"
            f"</figcaption>{svg}</figure>"
        )
    body = _legend_success() + f'<div class="panels">{"".join(figures)}</div>'
    return _section("success-rate", "Success rate per agent", lede, body)


# ------------------------------------------------------------------------------------------ heat-map


def _ramp_legend() -> str:
    steps = [0.5, 0.7, 0.8, 0.88, 0.94, 0.98, 1.0]
    ramp = "".join(
        f'<span class="step"><i style="background:{rate_color(s)}"></i>{pct(s, 0)}</span>' for s in steps
    )
    return (
        f'<div class="legend"><span class="key">success rate <span class="ramp">{ramp}</span></span>'
        '<span class="key"><span class="swatch" style="background:#f3f4f6"></span>no runs</span>'
        '<span class="key"><span class="swatch" style="background:#9aa5b1"></span>runs, none evaluated</span>'
        f'<span class="key"><span class="swatch" style="background:{rate_color(0.94)};border:2px solid {INK}">'
        "</span>regression flagged</span></div>"
    )


def heatmap_section(daily: pd.DataFrame, regressions: pd.DataFrame, max_days: int, max_rows: int) -> str:
    lede = (
        "One row per scenario, one column per day; colour is the day's success rate (red = failing, blue = "
        "healthy). Hover a cell for its counts. The right column is the rate over the whole period."
    )
    if len(daily) == 0:
        return _section("heatmap", "Scenarios by day", lede, _no_data("No scenario runs to map yet."))
    end = daily["run_date"].max()
    start = max(daily["run_date"].min(), end - pd.Timedelta(days=max_days - 1))
    days = int((end - start).days) + 1
    window = daily[daily["run_date"] >= start]
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
    cell_frame = stats.scenario_daily(window)
    flagged = {
        (a, s, d)
        for a, s, d in zip(
            regressions["agent_id"], regressions["scenario_id"], regressions["run_date"], strict=True
        )
        if not pd.isna(d)
    }
    total_map = {
        (a, s): (rate, int(n))
        for a, s, rate, n in zip(
            totals["agent_id"], totals["scenario_id"], totals["rate"], totals["evaluated"], strict=True
        )
    }
    svg = charts.heatmap(rows, cell_frame, total_map, start=start, days=days, flagged=flagged)
    note = f'<p class="note">{" ".join(esc(n) for n in notes)}</p>' if notes else ""
    return _section(
        "heatmap", "Scenarios by day", lede, _ramp_legend() + f'<div class="scroll">{svg}</div>' + note
    )


# --------------------------------------------------------------------------------------- regressions

_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def regressions_section(regressions: pd.DataFrame, limit: int) -> str:
    lede = (
        "Scenarios whose recent success rate fell significantly below their baseline window, newest first. "
        "Drop is in percentage points; a small p-value means the drop is unlikely to be noise."
    )
    if len(regressions) == 0:
        return _section("regressions", "Latest regressions", lede, _no_data("No regressions detected."))
    frame = regressions.assign(_rank=regressions["severity"].map(lambda s: _SEVERITY_RANK.get(s, 9)))
    frame = frame.sort_values(
        ["run_date", "_rank", "drop"], ascending=[False, True, False], na_position="last"
    )
    shown = frame.head(limit)
    rows = []
    for r in shown.itertuples(index=False):
        sev = r.severity if r.severity in _SEVERITY_RANK else "unknown"
        sev_label = r.severity or "unrated"
        drop = f"−{r.drop * 100:.1f} pts" if math.isfinite(r.drop) else "–"
        rows.append(
            "<tr>"
            f'<td>{esc(_when(r.run_date))}</td><td><span class="badge {sev}">{esc(sev_label)}</span></td>'
            f'<td class="name">{esc(r.agent_name)}</td><td class="name">{esc(r.scenario_name)}</td>'
            f'<td class="num">{pct(r.baseline_rate)}<span class="sub">n={_n(r.baseline_n)}</span></td>'
            f'<td class="num">{pct(r.current_rate)}<span class="sub">n={_n(r.current_n)}</span></td>'
            f'<td class="num drop">{drop}</td><td class="num">{_p_value(r.p_value)}</td>'
            f"<td>{esc(_when(r.detected_at))}</td></tr>"
        )
    head = (
        "<tr><th>Day</th><th>Severity</th><th>Agent</th><th>Scenario</th><th class='num'>Baseline</th>"
        "<th class='num'>Current</th><th class='num'>Drop</th><th class='num'>p-value</th><th>Detected</th></tr>"
    )
    note = (
        f'<p class="note">Showing the latest {limit} of {len(regressions)} regressions.</p>'
        if len(regressions) > limit
        else ""
    )
    table = f'<div class="scroll"><table class="regressions"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'
    return _section("regressions", "Latest regressions", lede, table + note)


# --------------------------------------------------------------------------------------------- flaky


def flaky_section(flaky: pd.DataFrame, limit: int) -> str:
    lede = (
        "Scenarios that both passed and failed when repeated within one batch: the agent (or the evaluation) "
        "is not deterministic here, so a single failure says little."
    )
    if len(flaky) == 0:
        return _section("flaky", "Flaky scenarios", lede, _no_data("No flaky scenarios: repeats agreed."))
    frame = flaky.assign(
        _share=flaky["failed"] / (flaky["passed"] + flaky["failed"]).where(lambda s: s > 0),
    ).sort_values(["last_seen", "runs", "_share"], ascending=[False, False, False], na_position="last")
    rows = []
    for r in frame.head(limit).itertuples(index=False):
        decided = int(r.passed) + int(r.failed)
        p_w = 100 * r.passed / decided if decided else 0
        f_w = 100 * r.failed / decided if decided else 0
        rows.append(
            "<tr>"
            f'<td class="name">{esc(r.agent_name)}</td><td class="name">{esc(r.scenario_name)}</td>'
            f"<td>{esc(r.result_id) or '–'}</td><td class='num'>{int(r.runs):,}</td>"
            f"<td class='num'>{int(r.passed):,}</td><td class='num'>{int(r.failed):,}</td>"
            f'<td><span class="split" title="{int(r.passed)} passed, {int(r.failed)} failed">'
            f'<span class="pass" style="width:{p_w:.1f}%"></span><span class="fail" style="width:{f_w:.1f}%"></span>'
            f"</span>{pct(r.passed / decided if decided else math.nan, 0)} pass</td>"
            f"<td>{esc(_when(r.last_seen))}</td></tr>"
        )
    head = (
        "<tr><th>Agent</th><th>Scenario</th><th>Batch</th><th class='num'>Runs</th><th class='num'>Passed</th>"
        "<th class='num'>Failed</th><th>Split</th><th>Last seen</th></tr>"
    )
    note = (
        f'<p class="note">Showing {limit} of {len(flaky)} flaky scenario batches.</p>'
        if len(flaky) > limit
        else ""
    )
    table = f'<div class="scroll"><table class="flaky"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'
    return _section("flaky", "Flaky scenarios", lede, table + note)


# --------------------------------------------------------------------------------------------- infra


def infra_section(daily: pd.DataFrame) -> str:
    lede = (
        "Share of all runs per day that ended in an infrastructure error or a timeout (room, telephony or "
        "provider trouble rather than the agent's answers). Hover a bar for counts."
    )
    if len(daily) == 0:
        return _section("infra", "Infra errors", lede, _no_data("No runs, so no infra errors to chart."))
    frame = stats.infra_daily(daily)
    start, end = frame["run_date"].min(), frame["run_date"].max()
    days = int((end - start).days) + 1
    legend = (
        '<div class="legend">'
        '<span class="key"><span class="swatch" style="background:#D55E00"></span>infra errors</span>'
        '<span class="key"><span class="swatch" style="background:#E69F00"></span>timeouts</span></div>'
    )
    svg = charts.infra_chart(frame, start=start, days=days)
    return _section("infra", "Infra errors", lede, legend + f'<div class="scroll">{svg}</div>')


# --------------------------------------------------------------------------------------------- worst


def worst_section(daily: pd.DataFrame, min_runs: int, limit: int) -> str:
    lede = (
        f"Lowest success rates over the period among scenarios with at least {min_runs} evaluated runs, with the "
        "Wilson 95% interval (bar) and the rate (dot); the bars share one scale, with a tick every 10 points."
    )
    if len(daily) == 0:
        return _section("worst", "Worst scenarios", lede, _no_data("No runs yet."))
    worst = stats.worst_scenarios(daily, min_runs, limit)
    if len(worst) == 0:
        return _section(
            "worst",
            "Worst scenarios",
            lede,
            _no_data(f"No scenario has {min_runs} evaluated runs yet; rates on fewer runs would be noise."),
        )
    axis_low = rate_floor(worst["wilson_low"].tolist())
    rows = []
    for rank, r in enumerate(worst.itertuples(index=False), start=1):
        rows.append(
            "<tr>"
            f"<td class='num'>{rank}</td><td class='name'>{esc(r.agent_name)}</td>"
            f"<td class='name'>{esc(r.scenario_name)}</td><td class='num'>{int(r.evaluated):,}</td>"
            f"<td class='num'>{int(r.passed):,}</td><td class='num'><b>{pct(r.rate)}</b></td>"
            f"<td class='num'>{pct(r.wilson_low)} – {pct(r.wilson_high)}</td>"
            f"<td>{charts.interval_bar(r.rate, r.wilson_low, r.wilson_high, axis_low=axis_low)}</td>"
            f"<td class='num'>{int(r.infra_errors) + int(r.timeouts):,}</td></tr>"
        )
    head = (
        f"<tr><th class='num'>#</th><th>Agent</th><th>Scenario</th><th class='num'>Evaluated</th>"
        f"<th class='num'>Passed</th><th class='num'>Success</th><th class='num'>Wilson 95%</th><th>{pct(axis_low, 0)} – 100%</th>"
        "<th class='num'>Infra + timeouts</th></tr>"
    )
    table = f'<div class="scroll"><table class="worst"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'
    return _section("worst", "Worst scenarios", lede, table)


# ---------------------------------------------------------------------------------------------- page


def build_report_html(
    daily: pd.DataFrame | None,
    regressions: pd.DataFrame | None,
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
    regressions_n = normalize_regressions(regressions)
    flaky_n = normalize_flaky(flaky)
    when = generated_at or datetime.now(UTC)
    when_text = f"{when:%Y-%m-%d %H:%M} {when.tzname() or ''}".strip()
    summary = stats.summarize(daily_n, regressions_n)
    period = (
        f"{_date_range(summary.start, summary.end)} · {summary.agents} agents · {summary.scenarios} scenarios"
        if summary.start is not None and summary.end is not None
        else "no runs yet"
    )
    toc = "".join(f'<a href="#{sid}">{esc(label)}</a>' for sid, label in SECTIONS)
    parts = [
        summary_section(summary),
        success_section(daily_n, regressions_n, window_days),
        heatmap_section(daily_n, regressions_n, heatmap_max_days, heatmap_max_rows),
        regressions_section(regressions_n, table_limit),
        flaky_section(flaky_n, table_limit),
        infra_section(daily_n),
        worst_section(daily_n, worst_min_runs, worst_limit),
    ]
    footer = (
        "<footer><dl>"
        "<dt>Success rate</dt><dd>passed ÷ (passed + failed evaluation), from counts summed over the rows shown; "
        "infra errors, timeouts and cancelled runs are excluded.</dd>"
        "<dt>Wilson 95%</dt><dd>score interval for a proportion (z = 1.96); honest at small n and near 0% / 100%.</dd>"
        f"<dt>Rolling rate</dt><dd>summed passed ÷ summed evaluated over the trailing {window_days} calendar days.</dd>"
        f"</dl><p>Generated {esc(when_text)} by airflow-provider-cekura-livekit {esc(__version__)}.</p></footer>"
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="airflow-provider-cekura-livekit {esc(__version__)}">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f'<header class="report-header"><div><h1>{esc(title)}</h1><div class="subtitle">{esc(period)}</div></div>'
        f'<div class="generated" data-generated="{esc(when.isoformat())}">Generated {esc(when_text)}</div></header>'
        f'<nav class="toc">{toc}</nav>{"".join(parts)}{footer}</main></body></html>\n'
    )
