"""The weekly read: week-over-week per agent and mode, latency trends, and the latest batch diffs.

Inputs are warehouse frames (`warehouse.read`); every section tolerates an empty frame. Chat and voice are
kept apart everywhere: rows are per agent × mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from markupsafe import Markup

from cekura_livekit.report.charts import latency_panel
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


def _rate(passed: float, evaluated: float) -> float:
    return passed / evaluated if evaluated else math.nan


def week_over_week(daily: pd.DataFrame | None, end: date) -> list[dict[str, Any]]:
    """Per agent × mode: this week (the 7 days ending on `end`) against the 7 days before, from summed counts."""
    if _empty(daily):
        return []
    assert daily is not None
    days = pd.to_datetime(daily["run_date"]).dt.date
    this = daily[(days > end - timedelta(days=7)) & (days <= end)]
    last = daily[(days > end - timedelta(days=14)) & (days <= end - timedelta(days=7))]
    rows = []
    pairs = daily[["agent_name", "mode"]].drop_duplicates().sort_values(["agent_name", "mode"])
    for agent, mode in pairs.itertuples(index=False):
        now = this[(this["agent_name"] == agent) & (this["mode"] == mode)]
        before = last[(last["agent_name"] == agent) & (last["mode"] == mode)]
        rate_now = _rate(now["passed"].sum(), now["evaluated"].sum())
        rate_before = _rate(before["passed"].sum(), before["evaluated"].sum())
        change = (rate_now - rate_before) * 100
        rows.append(
            {
                "agent": agent,
                "mode": mode or "unknown",
                "runs": int(now["runs"].sum()),
                "this_week": pct(rate_now),
                "last_week": pct(rate_before),
                "change": f"{change:+.1f} pts" if math.isfinite(change) else "–",
                "direction": "down" if change < -0.05 else "up" if change > 0.05 else "flat",
                "infra": int(now["infra_errors"].sum()),
            }
        )
    return rows


def _exact(values: pd.Series, share: float) -> float:
    return float(values.quantile(share))  # linear interpolation over every value: exact


def latency_figures(latency: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One chart per agent × mode: daily exact p50 / p95 of every latency value."""
    if _empty(latency):
        return []
    assert latency is not None
    frame = latency.assign(run_date=pd.to_datetime(latency["run_date"]))
    start, stop = frame["run_date"].min(), frame["run_date"].max()
    days = int((stop - start).days) + 1
    daily = (
        frame.groupby(["agent_name", "mode", "run_date"])["value"]
        .agg(p50=lambda v: _exact(v, 0.5), p95=lambda v: _exact(v, 0.95), n="count")
        .reset_index()
    )
    y_max = float(daily["p95"].max()) * 1.1 or 1.0
    figures = []
    for i, ((agent, mode), points) in enumerate(daily.groupby(["agent_name", "mode"], sort=True)):
        label = f"{agent} · {mode or 'unknown'}"
        color = PALETTE[i % len(PALETTE)]
        mine = frame[(frame["agent_name"] == agent) & (frame["mode"] == mode)]
        week = mine.loc[mine["run_date"] > stop - pd.Timedelta(days=7), "value"]
        figures.append(
            {
                "label": label,
                "color": color,
                "p50": f"{_exact(week, 0.5):,.0f} ms" if len(week) else "–",
                "p95": f"{_exact(week, 0.95):,.0f} ms" if len(week) else "–",
                # Our own SVG markup, every API-provided name inside it escaped by `latency_panel`.
                "svg": Markup(
                    latency_panel(points, label=label, color=color, start=start, days=days, y_max=y_max)
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
            "scenario": f"{r.scenario_name} [{r.mode}]",
            "metric": r.metric_name,
            "change": f"{r.baseline_median:,.0f} → {r.current_median:,.0f} {r.unit or ''}".strip(),
            "shift": f"+{r.relative_shift * 100:.0f} %",
            "q": f"{r.q_value:.2g}",
        }
        for r in latest.head(limit).itertuples(index=False)
    ]


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
