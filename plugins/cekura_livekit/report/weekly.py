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

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


@dataclass
class WeeklyInputs:
    """What the weekly sections read; None/empty frames render a 'no data' note."""

    daily: pd.DataFrame | None = None
    latency: pd.DataFrame | None = None
    batch_diffs: pd.DataFrame | None = None
    end: date | None = None
    metric_regressions: pd.DataFrame | None = None


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
    for agent_id, agent, mode in pairs.sort_values(["agent_name", "agent_id", "mode"]).itertuples(
        index=False
    ):
        now = this[(this["agent_id"] == agent_id) & (this["mode"] == mode)]
        before = last[(last["agent_id"] == agent_id) & (last["mode"] == mode)]
        c = rate_change(
            int(before["passed"].sum()),
            int(before["evaluated"].sum()),
            int(now["passed"].sum()),
            int(now["evaluated"].sum()),
        )
        rows.append(
            {
                "agent": agent,
                "agent_id": int(agent_id),
                "mode": mode or "unknown",
                "runs": int(now["runs"].sum()),
                "this_week": pct(c.after),
                "last_week": pct(c.before),
                "change": f"{_pts(c.change)} pts" if math.isfinite(c.change) else "–",
                "interval": f"{_pts(c.low)} to {_pts(c.high)}" if math.isfinite(c.low) else "–",
                "direction": ("down" if c.change < 0 else "up") if c.shown else "flat",
                "infra": int(now["infra_errors"].sum()),
            }
        )
    return rows


#: Metrics drawn as latency panels: numeric metrics measured in time (call duration is metric 0, in s).
LATENCY_UNITS = ("ms", "s")


def latency_values(values: pd.DataFrame | None) -> pd.DataFrame:
    """The time-valued numeric metric values (`metric_values` rows) the latency panels are drawn from."""
    if _empty(values):
        return pd.DataFrame(columns=["run_date", "agent_id", "agent_name", "mode", "metric_id", "value"])
    assert values is not None
    keep = (values["metric_kind"] == "numeric") & values["unit"].isin(LATENCY_UNITS) & values["value"].notna()
    frame = values[keep]
    return frame.assign(run_date=pd.to_datetime(frame["run_date"]), mode=_mode_of(frame))


def latency_daily(values: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per `keys` × day: exact p50 / p95 (`stats.percentile`, linear interpolation like percentile_cont)."""
    return (
        values.groupby([*keys, "run_date"])["value"]
        .agg(p50=lambda v: percentile(v, 0.5), p95=lambda v: percentile(v, 0.95), n="count")
        .reset_index()
    )


def latency_figures(values: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One chart per metric × agent × mode: daily exact p50 / p95; panels of one metric share a scale."""
    frame = latency_values(values)
    if frame.empty:
        return []
    start, stop = frame["run_date"].min(), frame["run_date"].max()
    days = int((stop - start).days) + 1
    keys = ["metric_id", "agent_id", "mode"]
    daily = latency_daily(frame, keys)
    figures = []
    for i, ((metric_id, agent_id, mode), points) in enumerate(daily.groupby(keys, sort=True)):
        mine = frame[
            (frame["metric_id"] == metric_id) & (frame["agent_id"] == agent_id) & (frame["mode"] == mode)
        ]
        metric, unit = str(mine["metric_name"].iloc[-1]), str(mine["unit"].iloc[-1])
        label = f"{metric} · {mine['agent_name'].iloc[-1]} · {mode or 'unknown'}"
        y_max = float(daily.loc[daily["metric_id"] == metric_id, "p95"].max()) * 1.1 or 1.0
        color = PALETTE[i % len(PALETTE)]
        week = mine.loc[mine["run_date"] > stop - pd.Timedelta(days=7), "value"]
        fmt = ",.0f" if unit == "ms" else ",.2f"
        figures.append(
            {
                "label": label,
                "metric": metric,
                "metric_id": int(metric_id),
                "color": color,
                "p50": f"{percentile(week, 0.5):{fmt}} {unit}" if len(week) else "–",
                "p95": f"{percentile(week, 0.95):{fmt}} {unit}" if len(week) else "–",
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
    """The newest detection per agent × scenario × mode × suite × metric (a drift shows on several days)."""
    if _empty(found):
        return []
    assert found is not None
    latest = found.drop_duplicates(["agent_id", "scenario_id", "mode", "suite", "metric_id"], keep="first")
    return [
        {
            "day": f"{pd.Timestamp(r.run_date):%Y-%m-%d}",
            "agent": r.agent_name,
            "scenario": r.scenario_name,
            "mode": r.mode or "–",
            "metric": r.metric_name,
            "change": f"{r.baseline_median:,.0f} → {r.current_median:,.0f} {r.unit or ''}".strip(),
            "shift": f"+{r.relative_shift * 100:.0f} %",
            "q": f"{r.q_value:.2g}",
            "dashboard_url": _web(getattr(r, "dashboard_url", None)),
        }
        for r in latest.head(limit).itertuples(index=False)
    ]


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
        "latency": latency_figures(inputs.latency),
        "diffs": batch_diff_rows(inputs.batch_diffs),
        "metric_regressions": metric_regression_rows(inputs.metric_regressions),
    }
