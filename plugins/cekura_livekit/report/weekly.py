"""The weekly read: week-over-week per agent and mode, latency trends per metric, and the latest batch diffs.

Inputs are warehouse frames with the warehouse's names (`warehouse.read`, `warehouse.metrics.metric_values`);
every section tolerates an empty frame. Chat and voice are kept apart everywhere: rows are per agent × mode,
and a latency panel shows one metric only (two metrics are never pooled, even in the same unit).

Week over week: the change comes with its 95% interval (`effect.rate_change`, Newcombe); the up/down marker
is shown only where that interval excludes 0, so week-to-week noise is not painted as a trend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from markupsafe import Markup

from cekura_livekit.effect import rate_change
from cekura_livekit.report.charts import latency_panel
from cekura_livekit.report.stats import percentile
from cekura_livekit.report.svg import pct
from cekura_livekit.warehouse.aggregates import LATENCY_UNITS, PANEL_KEY

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


@dataclass
class WeeklyInputs:
    """What the weekly sections read; None/empty frames render a 'no data' note."""

    daily: pd.DataFrame | None = None
    latency: pd.DataFrame | None = None
    batch_diffs: pd.DataFrame | None = None
    end: date | None = None
    metric_regressions: pd.DataFrame | None = None
    #: The latency panels reduced in SQL (`warehouse.aggregates`); when None, `latency` (raw values) is used.
    latency_stats: LatencyStats | None = None


def _empty(frame: pd.DataFrame | None) -> bool:
    return frame is None or len(frame) == 0


def _pts(fraction: float) -> str:
    return f"{fraction * 100:+.1f}".replace("-", "−") if math.isfinite(fraction) else "–"


def _mode_of(frame: pd.DataFrame) -> pd.Series:
    return frame["mode"].fillna("") if "mode" in frame.columns else pd.Series("", index=frame.index)


def week_over_week(daily: pd.DataFrame | None, end: date) -> list[dict[str, Any]]:
    """Per agent × mode: this week (the 7 days ending on `end`) against the 7 days before, from summed
    counts, with the change's 95% interval; `direction` is up/down only where the interval excludes 0."""
    if _empty(daily):
        return []
    assert daily is not None
    frame = daily.assign(_day=pd.to_datetime(daily["run_date"]).dt.date, mode=_mode_of(daily))
    this = frame[(frame["_day"] > end - timedelta(days=7)) & (frame["_day"] <= end)]
    last = frame[(frame["_day"] > end - timedelta(days=14)) & (frame["_day"] <= end - timedelta(days=7))]
    rows = []
    pairs = frame[["agent_id", "agent_name", "mode"]].drop_duplicates(["agent_id", "mode"])
    # One grouped sum per week (was a mask over every daily row per agent: agents × rows at scale).
    sums = ["passed", "evaluated", "runs", "infra_errors"]
    now_sums = this.groupby(["agent_id", "mode"])[sums].sum()
    before_sums = last.groupby(["agent_id", "mode"])[sums].sum()
    zero = pd.Series(0, index=sums)
    for agent_id, agent, mode in pairs.sort_values(["agent_name", "agent_id", "mode"]).itertuples(
        index=False
    ):
        key = (agent_id, mode)
        now = now_sums.loc[key] if key in now_sums.index else zero
        before = before_sums.loc[key] if key in before_sums.index else zero
        c = rate_change(
            int(before["passed"]), int(before["evaluated"]), int(now["passed"]), int(now["evaluated"])
        )
        rows.append(
            {
                "agent": agent,
                "agent_id": int(agent_id),
                "mode": mode or "unknown",
                "runs": int(now["runs"]),
                "this_week": pct(c.after),
                "last_week": pct(c.before),
                "change": f"{_pts(c.change)} pts" if math.isfinite(c.change) else "–",
                "interval": f"{_pts(c.low)} to {_pts(c.high)}" if math.isfinite(c.low) else "–",
                "direction": ("down" if c.change < 0 else "up") if c.shown else "flat",
                "infra": int(now["infra_errors"]),
            }
        )
    return rows


#: The key of one latency panel (its points are per day).
_PANEL = list(PANEL_KEY)


@dataclass
class LatencyStats:
    """The latency panels' numbers, already reduced, per panel (metric × agent × mode) × day and per panel over
    the last 7 days: p50 / p95 = the median, across the panel's series (scenario × suite, and days for the
    week), of each series' exact daily p50 / p95 (the typical scenario), n = the values behind them; and each
    panel's names. `warehouse.aggregates.latency_panels_in` reads them from the daily metric table (no raw value
    is read); `from_values` computes the same from raw values (tests, small inputs)."""

    daily: pd.DataFrame
    week: pd.DataFrame
    labels: pd.DataFrame

    @classmethod
    def from_values(cls, values: pd.DataFrame | None) -> LatencyStats:
        """The same numbers from `metric_values` rows: exact daily percentiles per series in pandas, then the
        median across series."""
        frame = latency_values(values)
        if frame.empty:
            empty = pd.DataFrame(columns=[*_PANEL, "run_date", "n", "p50", "p95"])
            return cls(empty, empty.drop(columns="run_date"), pd.DataFrame(columns=[*_PANEL, "metric_name"]))
        series = latency_daily(frame, [*_PANEL, *_SERIES])
        stop = series["run_date"].max()
        labels = (
            frame.groupby(_PANEL, sort=False)
            .agg(
                metric_name=("metric_name", "last"), unit=("unit", "last"), agent_name=("agent_name", "last")
            )
            .reset_index()
        )
        week = series[series["run_date"] > stop - pd.Timedelta(days=7)]
        return cls(_typical(series, [*_PANEL, "run_date"]), _typical(week, _PANEL), labels)


#: What identifies one series inside a panel (the daily metric table's grain, less the panel's key).
_SERIES = ["scenario_id", "suite"]


def _typical(series: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per `keys`: the median of the series' daily p50 and of their daily p95, the values behind them, and
    how many series × days they come from (`latency_panels_in`'s definition)."""
    return (
        series.groupby(keys)
        .agg(
            p50=("p50", lambda v: percentile(v, 0.5)),
            p95=("p95", lambda v: percentile(v, 0.5)),
            n=("n", "sum"),
            series=("n", "count"),
        )
        .reset_index()
    )


def latency_values(values: pd.DataFrame | None) -> pd.DataFrame:
    """The time-valued numeric metric values (`metric_values` rows) the latency panels are drawn from."""
    if _empty(values):
        return pd.DataFrame(columns=["run_date", "agent_id", "agent_name", "mode", "metric_id", "value"])
    assert values is not None
    keep = (values["metric_kind"] == "numeric") & values["unit"].isin(LATENCY_UNITS) & values["value"].notna()
    frame = values[keep]
    return frame.assign(run_date=pd.to_datetime(frame["run_date"]), mode=_mode_of(frame))


def _percentiles(values: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return (
        values.groupby(keys)["value"]
        .agg(p50=lambda v: percentile(v, 0.5), p95=lambda v: percentile(v, 0.95), n="count")
        .reset_index()
    )


def latency_daily(values: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per `keys` × day: exact p50 / p95 (`stats.percentile`, linear interpolation like percentile_cont), as
    `cekura_metric_daily` holds them at its grain."""
    return _percentiles(values, [*keys, "run_date"])


def _week_text(week: dict[tuple[Any, ...], Any], key: tuple[Any, ...], column: str, unit: str) -> str:
    row = week.get(key)
    if row is None or not math.isfinite(float(row[column])):
        return "–"
    fmt = ",.0f" if unit == "ms" else ",.2f"
    return f"{float(row[column]):{fmt}} {unit}"


def latency_figures(
    values: pd.DataFrame | None = None, *, stats: LatencyStats | None = None
) -> list[dict[str, Any]]:
    """One chart per metric × agent × mode (never two metrics pooled): per day, the typical scenario's p50 and
    p95 (`LatencyStats`); panels of one metric share a scale.

    From `stats` (reduced in SQL by `warehouse.aggregates`) or, for small inputs, raw `values`."""
    stats = stats if stats is not None else LatencyStats.from_values(values)
    daily = stats.daily
    if len(daily) == 0:
        return []
    daily = daily.assign(run_date=pd.to_datetime(daily["run_date"]), mode=daily["mode"].fillna(""))
    start, stop = daily["run_date"].min(), daily["run_date"].max()
    days = int((stop - start).days) + 1
    y_top = daily.groupby("metric_id")["p95"].max()
    labels = {
        tuple(k): r
        for k, r in zip(
            stats.labels[_PANEL].itertuples(index=False, name=None),
            stats.labels.to_dict("records"),
            strict=True,
        )
    }
    week = {
        tuple(k): r
        for k, r in zip(
            stats.week[_PANEL].itertuples(index=False, name=None), stats.week.to_dict("records"), strict=True
        )
    }
    figures = []
    for i, (key, points) in enumerate(daily.groupby(_PANEL, sort=True)):
        metric_id, _, mode = key
        names = labels.get(tuple(key), {})
        metric, unit = str(names.get("metric_name") or f"metric {metric_id}"), str(names.get("unit") or "")
        label = f"{metric} · {names.get('agent_name') or key[1]} · {mode or 'unknown'}"
        y_max = float(y_top.loc[metric_id]) * 1.1 or 1.0
        color = PALETTE[i % len(PALETTE)]
        figures.append(
            {
                "label": label,
                "metric": metric,
                "metric_id": int(metric_id),
                "color": color,
                "p50": _week_text(week, tuple(key), "p50", unit),
                "p95": _week_text(week, tuple(key), "p95", unit),
                # Our own SVG markup, every API-provided name inside it escaped by `latency_panel`.
                "svg": Markup(
                    latency_panel(
                        points, label=label, color=color, start=start, days=days, y_max=y_max, unit=unit
                    )
                ),
            }
        )
    return figures


def batch_diff_rows(diffs: pd.DataFrame | None, limit: int = 12) -> list[dict[str, Any]]:
    """The latest batches (newest first): counts per change, and the scenarios that newly fail or got fixed."""
    if _empty(diffs):
        return []
    assert diffs is not None
    rows = []
    for result_id in list(dict.fromkeys(diffs["result_id"].tolist()))[:limit]:
        batch = diffs[diffs["result_id"] == result_id]
        first = batch.iloc[0]
        names = {
            change: ", ".join(
                str(n) for n in batch.loc[batch["change"] == change, "scenario_name"].fillna("?")
            )
            for change in ("newly_failing", "fixed", "still_failing", "new", "not_run")
        }
        rows.append(
            {
                "result_id": int(result_id),
                "previous": "–" if pd.isna(first["previous_result_id"]) else int(first["previous_result_id"]),
                "suite": first["suite"] or "–",
                "agent": first["agent_name"],
                "mode": first["mode"],
                "created": f"{pd.Timestamp(first['created_at']):%Y-%m-%d %H:%M}"
                if pd.notna(first["created_at"])
                else "–",
                "dashboard_url": first["dashboard_url"]
                if str(first["dashboard_url"] or "").startswith("http")
                else None,
                **names,
            }
        )
    return rows


def metric_regression_rows(found: pd.DataFrame | None, limit: int = 10) -> list[dict[str, Any]]:
    """Metric shifts in effect (`cekura_metric_regressions`: one row per day an episode of
    `cekura_metric_episodes` was in effect): the newest row per agent × scenario × mode × suite × metric."""
    if _empty(found):
        return []
    assert found is not None
    latest = found.drop_duplicates(["agent_id", "scenario_id", "mode", "suite", "metric_id"], keep="first")
    return [
        {
            "day": f"{pd.Timestamp(r.run_date):%Y-%m-%d}",
            "since": _day(getattr(r, "started_on", None)),
            "agent": r.agent_name,
            "scenario": r.scenario_name,
            "mode": r.mode or "–",
            "metric": r.metric_name,
            "change": f"{r.baseline_median:,.0f} → {r.current_median:,.0f} {r.unit or ''}".strip(),
            "shift": f"+{r.relative_shift * 100:.0f} %",
            "dashboard_url": _web(getattr(r, "dashboard_url", None)),
        }
        for r in latest.head(limit).itertuples(index=False)
    ]


def _day(value: object) -> str:
    return "–" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def _web(url: object) -> str | None:
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def weekly_context(inputs: WeeklyInputs | None) -> dict[str, Any] | None:
    if inputs is None:
        return None
    end = inputs.end
    if end is None and not _empty(inputs.daily):
        assert inputs.daily is not None
        end = pd.to_datetime(inputs.daily["run_date"]).max().date()
    return {
        "end": end.isoformat() if end else "",
        "wow": week_over_week(inputs.daily, end) if end else [],
        "latency": latency_figures(inputs.latency, stats=inputs.latency_stats),
        "diffs": batch_diff_rows(inputs.batch_diffs),
        "metric_regressions": metric_regression_rows(inputs.metric_regressions),
    }
