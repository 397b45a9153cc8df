"""The report's charts as inline SVG strings.

Every chart is an ``<svg class="chart" data-chart="...">`` and every mark a reader may ask about carries a
``<title>`` tooltip with the underlying counts, so the numbers behind a colour or a dot are one hover away.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cekura_livekit.report.svg import (
    GRID,
    INFRA_COLOR,
    INK,
    MUTED,
    TIMEOUT_COLOR,
    DayScale,
    Linear,
    day_label,
    day_ticks,
    esc,
    nice_step,
    num,
    path_d,
    pct,
    polyline_segments,
    rate_color,
    rate_ticks,
    truncate,
)

FONT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif"'


def _open(kind: str, width: float, height: float, label: str, extra: str = "") -> str:
    return (
        f'<svg class="chart chart-{kind}" data-chart="{kind}" width="{num(width)}" height="{num(height)}" '
        f'viewBox="0 0 {num(width)} {num(height)}" role="img" aria-label="{esc(label)}" {FONT}{extra}>'
        f"<title>{esc(label)}</title>"
    )


def _x_axis(scale: DayScale, y: float, max_ticks: int) -> list[str]:
    out = [f'<line x1="{num(scale.x0)}" x2="{num(scale.x1)}" y1="{num(y)}" y2="{num(y)}" stroke="#9aa5b1"/>']
    end = scale.start + pd.Timedelta(days=scale.days - 1)
    with_year = scale.start.year != end.year
    for tick in day_ticks(scale.start, scale.days, max_ticks):
        x = scale(tick)
        out.append(f'<line x1="{num(x)}" x2="{num(x)}" y1="{num(y)}" y2="{num(y + 4)}" stroke="#9aa5b1"/>')
        out.append(
            f'<text x="{num(x)}" y="{num(y + 16)}" text-anchor="middle" font-size="11" fill="{MUTED}">'
            f"{esc(day_label(tick, with_year))}</text>"
        )
    return out


def _y_grid(scale: Linear, ticks: Sequence[float], x0: float, x1: float, digits: int = 0) -> list[str]:
    out = []
    for tick in ticks:
        y = scale(tick)
        out.append(f'<line x1="{num(x0)}" x2="{num(x1)}" y1="{num(y)}" y2="{num(y)}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{num(x0 - 6)}" y="{num(y + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{pct(tick, digits)}</text>"
        )
    return out


def success_rate_panel(
    points: pd.DataFrame,
    rolling: pd.DataFrame,
    *,
    agent_label: str,
    color: str,
    start: pd.Timestamp,
    days: int,
    y_low: float,
    regression_days: Mapping[pd.Timestamp, list[str]],
    window_days: int = 7,
    uid: str = "0",
    width: float = 580,
    height: float = 250,
) -> str:
    """One agent: daily success rate (dots), its Wilson 95% band, and the rolling ``window_days`` rate.

    ``points``: rows of :func:`stats.agent_daily` for this agent; ``rolling``: rows of
    :func:`stats.rolling_by_agent`; ``uid`` keeps the clip-path id unique in the page. All panels share
    ``start``/``days``/``y_low`` so they compare at a glance.
    """
    left, right, top, bottom = 46.0, 14.0, 12.0, 30.0
    xs = DayScale(start, days, left, width - right)
    ys = Linear(y_low, 1.0, height - bottom, top)
    out = [_open("success-rate", width, height, f"Success rate over time: {agent_label}")]
    out += _y_grid(ys, rate_ticks(y_low), left, width - right)
    clip = f"clip-{uid}"
    out.append(
        f'<clipPath id="{clip}"><rect x="{num(left)}" y="{num(top - 4)}" width="{num(width - left - right)}" '
        f'height="{num(height - bottom - top + 4)}"/></clipPath><g clip-path="url(#{clip})">'
    )

    rows = list(points.sort_values("run_date").itertuples(index=False))
    out += _wilson_band(rows, xs, ys, color)
    out.append("</g>")
    out += _daily_rate(rows, xs, ys, color, agent_label)
    out += _rolling_line(rolling, xs, ys)
    out += _regression_markers(regression_days, xs, days, height - bottom)
    out += _x_axis(xs, height - bottom, max_ticks=6)
    out.append("</svg>")
    return "".join(out)


def _band_ribbons(rows: Sequence[Any], xs: DayScale, ys: Linear) -> list[list[tuple[float, float, float]]]:
    """Runs of consecutive days with a finite Wilson band, as (x, y_high, y_low) points."""
    run: list[tuple[float, float, float]] = []
    ribbons: list[list[tuple[float, float, float]]] = []
    prev_idx: int | None = None
    for r in rows:
        idx = xs.index(r.run_date)
        lo, hi = r.wilson_low, r.wilson_high
        finite = isinstance(lo, float) and math.isfinite(lo)
        if run and (not finite or (prev_idx is not None and idx != prev_idx + 1)):
            ribbons.append(run)
            run = []
        if not finite:
            prev_idx = None
            continue
        run.append((xs(r.run_date), ys(hi), ys(lo)))
        prev_idx = idx
    if run:
        ribbons.append(run)
    return ribbons


def _wilson_band(rows: Sequence[Any], xs: DayScale, ys: Linear, color: str) -> list[str]:
    """A filled ribbon over consecutive days with evaluated runs, an error bar for lone days."""
    out = []
    for ribbon in _band_ribbons(rows, xs, ys):
        if len(ribbon) == 1:
            x, y_hi, y_lo = ribbon[0]
            out.append(
                f'<line class="band" x1="{num(x)}" x2="{num(x)}" y1="{num(y_hi)}" y2="{num(y_lo)}" '
                f'stroke="{color}" stroke-opacity="0.35" stroke-width="4"/>'
            )
            continue
        upper = [(x, y_hi) for x, y_hi, _ in ribbon]
        lower = [(x, y_lo) for x, _, y_lo in reversed(ribbon)]
        out.append(f'<path class="band" d="{path_d(upper + lower)}Z" fill="{color}" fill-opacity="0.16"/>')
    return out


def _daily_rate(rows: Sequence[Any], xs: DayScale, ys: Linear, color: str, agent_label: str) -> list[str]:
    """A thin connecting line (broken over gaps) and one dot per day with a tooltip."""
    out = []
    series = [(xs(r.run_date), ys(r.rate) if math.isfinite(r.rate) else None) for r in rows]
    for seg in polyline_segments(series):
        if len(seg) > 1:
            out.append(
                f'<path d="{path_d(seg)}" fill="none" stroke="{color}" stroke-opacity="0.45" stroke-width="1"/>'
            )
    # Dots shrink on long periods so a year of days stays a cloud, not a smear.
    radius = max(1.4, min(3.2, xs.step * 0.45))
    ring = 1.0 if radius >= 2.5 else 0.0
    for r in rows:
        if not math.isfinite(r.rate):
            continue
        tip = (
            f"{agent_label} · {r.run_date:%Y-%m-%d}\n"
            f"{pct(r.rate)} passed ({int(r.passed)} of {int(r.evaluated)} evaluated)\n"
            f"Wilson 95%: {pct(r.wilson_low)} – {pct(r.wilson_high)}\n"
            f"{int(r.runs)} runs · {int(r.infra_errors)} infra errors · {int(r.timeouts)} timeouts"
        )
        out.append(
            f'<circle class="point" cx="{num(xs(r.run_date))}" cy="{num(ys(r.rate))}" r="{num(radius)}" '
            f'fill="{color}" stroke="#fff" stroke-width="{num(ring)}"><title>{esc(tip)}</title></circle>'
        )
    return out


def _rolling_line(rolling: pd.DataFrame, xs: DayScale, ys: Linear) -> list[str]:
    roll = rolling.sort_values("run_date")
    series = [
        (xs(d), ys(v) if math.isfinite(v) else None)
        for d, v in zip(roll["run_date"], roll["rate_roll"], strict=True)
    ]
    return [
        f'<path class="rolling" d="{path_d(seg)}" fill="none" stroke="{INK}" stroke-width="2" '
        f'stroke-linejoin="round" stroke-dasharray="6 3"/>'
        for seg in polyline_segments(series)
        if len(seg) > 1
    ]


def _regression_markers(
    regression_days: Mapping[pd.Timestamp, list[str]], xs: DayScale, days: int, base: float
) -> list[str]:
    """Triangles along the bottom edge of the plot, one per day with a flagged regression."""
    out = []
    for day, scenarios in sorted(regression_days.items()):
        if not 0 <= xs.index(day) < days:
            continue
        x = xs(day)
        tip = f"Regression flagged {day:%Y-%m-%d}:\n" + "\n".join(scenarios)
        out.append(
            f'<path class="regression-marker" d="M{num(x)},{num(base - 11)}L{num(x - 5)},{num(base - 2)}'
            f'L{num(x + 5)},{num(base - 2)}Z" fill="{INK}"><title>{esc(tip)}</title></path>'
        )
    return out


def heatmap(
    rows: Sequence[tuple[str, str, str, str]],
    cells: pd.DataFrame,
    totals: Mapping[tuple[str, str], tuple[float, int]],
    *,
    start: pd.Timestamp,
    days: int,
    flagged: set[tuple[str, str, pd.Timestamp]],
    width: float = 1120,
) -> str:
    """Scenario × day grid coloured by success rate.

    ``rows``: (agent_id, scenario_id, agent_name, scenario_name) in display order; an agent header row is drawn
    whenever the agent changes. ``cells``: :func:`stats.scenario_daily` rows. ``totals``: period rate and n
    per (agent_id, scenario_id) for the right-hand column. ``flagged``: (agent, scenario, day) with a regression.
    """
    label_w, total_w, top, cell_h, gap = 250.0, 96.0, 8.0, 20.0, 2.0
    step = min(26.0, (width - label_w - total_w) / max(days, 1))
    grid_w = step * days
    width = label_w + grid_w + total_w
    by_key = {
        (a, s, d): r
        for a, s, d, r in zip(
            cells["agent_id"],
            cells["scenario_id"],
            cells["run_date"],
            cells.itertuples(index=False),
            strict=True,
        )
    }
    body: list[str] = []
    y = top
    current_agent: str | None = None
    for agent_id, scenario_id, agent_name, scenario_name in rows:
        if agent_id != current_agent:
            current_agent = agent_id
            y += 6 if y > top else 0
            body.append(
                f'<text x="4" y="{num(y + 14)}" font-size="12" font-weight="700" fill="{INK}">'
                f"{esc(truncate(agent_name, max(12, int((label_w + grid_w - 12) / 7.6))))}</text>"
            )
            y += cell_h
        full = f"{scenario_name} ({agent_name})"
        body.append(
            f'<text class="row-label" x="{num(label_w - 8)}" y="{num(y + cell_h / 2 + 4)}" text-anchor="end" '
            f'font-size="12" fill="{INK}"><title>{esc(full)}</title>{esc(truncate(scenario_name, 34))}</text>'
        )
        for i in range(days):
            day = start + pd.Timedelta(days=i)
            x = label_w + i * step
            cell = by_key.get((agent_id, scenario_id, day))
            attrs = f'x="{num(x + 1)}" y="{num(y + 1)}" width="{num(step - gap)}" height="{num(cell_h - gap)}" rx="2"'
            if cell is None:
                body.append(f'<rect class="cell empty" {attrs} fill="#f3f4f6"/>')
                continue
            evaluated = int(cell.evaluated)
            tip = (
                f"{scenario_name} · {agent_name}\n{day:%Y-%m-%d}: "
                + (
                    f"{pct(cell.rate)} passed ({int(cell.passed)} of {evaluated} evaluated)"
                    if evaluated
                    else "no evaluated runs"
                )
                + f"\n{int(cell.runs)} runs · {int(cell.infra_errors)} infra errors · {int(cell.timeouts)} timeouts"
            )
            is_flagged = (agent_id, scenario_id, day) in flagged
            if is_flagged:
                tip += "\nRegression flagged on this day"
            fill = rate_color(cell.rate) if evaluated else "#9aa5b1"
            stroke = f' stroke="{INK}" stroke-width="2"' if is_flagged else ""
            cls = "cell flagged" if is_flagged else "cell"
            body.append(
                f'<rect class="{cls}" data-rate="{cell.rate:.4f}" {attrs} fill="{fill}"{stroke}>'
                f"<title>{esc(tip)}</title></rect>"
                if evaluated
                else f'<rect class="{cls}" data-rate="" {attrs} fill="{fill}"{stroke}><title>{esc(tip)}</title></rect>'
            )
        rate, n = totals.get((agent_id, scenario_id), (math.nan, 0))
        body.append(
            f'<text x="{num(label_w + grid_w + 10)}" y="{num(y + cell_h / 2 + 4)}" font-size="12" fill="{INK}">'
            f'<tspan font-weight="600">{pct(rate, 0)}</tspan>'
            f'<tspan fill="{MUTED}" font-size="11"> n={n:,}</tspan></text>'
        )
        y += cell_h
    scale = DayScale(start, days, label_w, label_w + grid_w)
    axis = _x_axis(scale, y + 4, max_ticks=max(2, int(grid_w // 90)))
    header = (
        f'<text x="{num(label_w + grid_w + 10)}" y="{num(top - 2 + 14)}" font-size="11" fill="{MUTED}">'
        f"period</text>"
    )
    height = y + 30
    return "".join(
        [_open("heatmap", width, height, "Success rate per scenario and day"), header, *body, *axis, "</svg>"]
    )


def infra_chart(
    frame: pd.DataFrame, *, start: pd.Timestamp, days: int, width: float = 1120, height: float = 240
) -> str:
    """Stacked daily bars: share of runs lost to infra errors (bottom) and timeouts (top)."""
    left, right, top, bottom = 52.0, 14.0, 12.0, 30.0
    xs = DayScale(start, days, left, width - right)
    totals = (frame["infra_error_rate"].fillna(0) + frame["timeout_rate"].fillna(0)).tolist()
    peak = max([*totals, 0.0])
    top_value = max(0.05, math.ceil(peak / nice_step(max(peak, 0.05), 4)) * nice_step(max(peak, 0.05), 4))
    ys = Linear(0.0, top_value, height - bottom, top)
    step = nice_step(top_value, 4)
    ticks = [round(step * k, 6) for k in range(round(top_value / step) + 1)]
    digits = 0 if step >= 0.01 else 1
    out = [_open("infra-rate", width, height, "Share of runs lost to infra errors and timeouts per day")]
    out += _y_grid(ys, ticks, left, width - right, digits)
    bar_w = max(1.0, xs.step * 0.72)
    for r in frame.itertuples(index=False):
        if not r.runs:
            continue
        x = xs(r.run_date) - bar_w / 2
        infra = 0.0 if not math.isfinite(r.infra_error_rate) else r.infra_error_rate
        tout = 0.0 if not math.isfinite(r.timeout_rate) else r.timeout_rate
        tip = (
            f"{r.run_date:%Y-%m-%d}: {pct(infra + tout)} of {int(r.runs):,} runs lost\n"
            f"{int(r.infra_errors)} infra errors ({pct(infra)}) · {int(r.timeouts)} timeouts ({pct(tout)})"
        )
        y_infra = ys(infra)
        y_total = ys(infra + tout)
        out.append(f'<g class="day"><title>{esc(tip)}</title>')
        out.append(
            f'<rect class="bar infra" x="{num(x)}" y="{num(y_infra)}" width="{num(bar_w)}" '
            f'height="{num(ys(0) - y_infra)}" fill="{INFRA_COLOR}"/>'
        )
        out.append(
            f'<rect class="bar timeout" x="{num(x)}" y="{num(y_total)}" width="{num(bar_w)}" '
            f'height="{num(y_infra - y_total)}" fill="{TIMEOUT_COLOR}"/>'
        )
        # A transparent full-height hit area so small bars still show their tooltip.
        out.append(
            f'<rect x="{num(x)}" y="{num(top)}" width="{num(bar_w)}" height="{num(ys(0) - top)}" fill="transparent"/>'
        )
        out.append("</g>")
    out += _x_axis(xs, height - bottom, max_ticks=10)
    out.append("</svg>")
    return "".join(out)


def interval_bar(
    rate: float, low: float, high: float, *, axis_low: float = 0.0, width: float = 190, height: float = 20
) -> str:
    """Tiny forest-plot mark for a table cell: the Wilson interval as a bar and the rate as a dot.

    Rows of one table share ``axis_low``..100% so the marks compare down the column; light ticks every 10 points.
    """
    xs = Linear(axis_low, 1.0, 6, width - 6)
    mid = height / 2
    label = f"{pct(rate)} (95% CI {pct(low)} – {pct(high)})"
    out = [_open("interval", width, height, label)]
    out.append(
        f'<line x1="{num(xs(axis_low))}" x2="{num(xs(1))}" y1="{num(mid)}" y2="{num(mid)}" stroke="{GRID}" '
        f'stroke-width="2"/>'
    )
    for tick in rate_ticks(axis_low):
        out.append(
            f'<line x1="{num(xs(tick))}" x2="{num(xs(tick))}" y1="{num(mid - 5)}" y2="{num(mid + 5)}" '
            f'stroke="#cbd2d9"/>'
        )
    if math.isfinite(low) and math.isfinite(high):
        lo, hi = max(low, axis_low), max(high, axis_low)
        out.append(
            f'<rect x="{num(xs(lo))}" y="{num(mid - 4)}" width="{num(max(1.0, xs(hi) - xs(lo)))}" height="8" '
            f'rx="4" fill="{rate_color(rate)}" fill-opacity="0.6"/>'
        )
    if math.isfinite(rate):
        out.append(
            f'<circle cx="{num(xs(max(rate, axis_low)))}" cy="{num(mid)}" r="4.5" fill="{rate_color(rate)}" '
            f'stroke="{INK}" stroke-width="1.2"/>'
        )
    out.append("</svg>")
    return "".join(out)


def latency_panel(
    points: pd.DataFrame,
    *,
    label: str,
    color: str,
    start: pd.Timestamp,
    days: int,
    y_max: float,
    unit: str = "ms",
    width: float = 580,
    height: float = 220,
) -> str:
    """One metric of one agent × mode per day: the p50 line, the p95 line, and the band between them.

    ``points``: rows with run_date, p50, p95, n (the typical scenario's percentiles of the day, in ``unit``,
    and the values behind them: `weekly.LatencyStats`).
    """
    left, right, top, bottom = 54.0, 14.0, 12.0, 30.0
    xs = DayScale(start, days, left, width - right)
    ys = Linear(0.0, y_max, height - bottom, top)
    out = [_open("latency", width, height, f"Latency p50 and p95 over time: {label}")]
    step = nice_step(y_max, 4)
    for i in range(int(y_max // step) + 1):
        y = ys(i * step)
        out.append(
            f'<line x1="{num(left)}" x2="{num(width - right)}" y1="{num(y)}" y2="{num(y)}" stroke="{GRID}"/>'
        )
        out.append(
            f'<text x="{num(left - 6)}" y="{num(y + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{i * step:,.{_digits(step)}f} {esc(unit)}</text>"
        )
    rows = list(points.sort_values("run_date").itertuples(index=False))
    if len(rows) > 1:
        upper = [(xs(r.run_date), ys(r.p95)) for r in rows]
        lower = [(xs(r.run_date), ys(r.p50)) for r in reversed(rows)]
        out.append(f'<path class="band" d="{path_d(upper + lower)}Z" fill="{color}" fill-opacity="0.14"/>')
    for key, dash in (("p50", ""), ("p95", ' stroke-dasharray="5 3"')):
        line = [(xs(r.run_date), ys(getattr(r, key))) for r in rows]
        if len(line) > 1:
            out.append(
                f'<path class="{key}" d="{path_d(line)}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
            )
    for r in rows:
        tip = (
            f"{label} · {r.run_date:%Y-%m-%d}\np50 {r.p50:,.{_digits(y_max / 100)}f} {unit} · "
            f"p95 {r.p95:,.{_digits(y_max / 100)}f} {unit} (typical scenario; {int(r.n)} values)"
        )
        out.append(
            f'<circle class="point" cx="{num(xs(r.run_date))}" cy="{num(ys(r.p50))}" r="2.6" fill="{color}">'
            f"<title>{esc(tip)}</title></circle>"
        )
    out += _x_axis(xs, height - bottom, max_ticks=6)
    out.append("</svg>")
    return "".join(out)


def _digits(step: float) -> int:
    """Decimals that show a difference of `step` (0 for ms, 1–2 for seconds)."""
    return 0 if step >= 1 or step <= 0 else min(3, math.ceil(-math.log10(step)))
