"""Aggregations behind the report's numbers, always from summed counts.

Rates from the warehouse are per agent × scenario × day; averaging them would weight a day with 2 runs
like a day with 200. Every figure here re-sums counts first and recomputes the rate and its Wilson
interval from the sums. Success rate = passed / (passed + failed_evaluation): runs that never got
evaluated (infra errors, timeouts, cancellations) say nothing about the agent and are tracked separately.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cekura_livekit.stats import Z95
from cekura_livekit.stats import wilson_interval as _wilson


def wilson_interval(passed: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (delegates to the reference, `cekura_livekit.stats`) with NaN bounds when ``n == 0``.

    The report draws "no data" as a gap, so it wants NaN where the warehouse helper returns None.
    """
    if n < 0 or passed < 0 or passed > n:
        raise ValueError(f"wilson_interval needs 0 <= passed <= n; got passed={passed!r}, n={n!r}.")
    if z <= 0:
        raise ValueError(f"wilson_interval needs z > 0; got z={z!r} (1.96 gives a 95% interval).")
    interval = _wilson(passed, n, z)  # type: ignore[arg-type]
    return interval if interval is not None else (math.nan, math.nan)


def wilson_arrays(passed: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`wilson_interval` for whole columns; NaN where ``n == 0``."""
    passed = np.asarray(passed, dtype="float64")
    n = np.asarray(n, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = passed / n
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def _with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["rate"] = np.where(frame["evaluated"] > 0, frame["passed"] / frame["evaluated"], np.nan)
    frame["wilson_low"], frame["wilson_high"] = wilson_arrays(
        frame["passed"].to_numpy(), frame["evaluated"].to_numpy()
    )
    return frame


AGENT_KEY = ["agent_id", "mode"]
SCENARIO_KEY = ["agent_id", "scenario_id", "mode"]
_SUMS = ["runs", "passed", "failed_evaluation", "infra_errors", "timeouts", "cancelled", "evaluated"]


@dataclass(frozen=True)
class Summary:
    """Headline numbers of the report header."""

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    days: int
    runs: int
    passed: int
    evaluated: int
    infra_errors: int
    timeouts: int
    cancelled: int
    agents: int
    modes: int
    scenarios: int
    regressions: int
    by_severity: dict[str, int]

    @property
    def rate(self) -> float:
        return self.passed / self.evaluated if self.evaluated else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.passed, self.evaluated)

    @property
    def infra_error_rate(self) -> float:
        """infra_errors / runs."""
        return self.infra_errors / self.runs if self.runs else math.nan

    @property
    def not_evaluated_rate(self) -> float:
        """(infra_errors + timeouts + cancelled) / runs."""
        return (self.infra_errors + self.timeouts + self.cancelled) / self.runs if self.runs else math.nan


def open_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    """The regressions in effect: open episodes (the one meaning of "regression" in the report)."""
    return episodes[episodes["state"] == "open"] if len(episodes) else episodes


def summarize(daily: pd.DataFrame, episodes: pd.DataFrame) -> Summary:
    in_effect = open_episodes(episodes)
    severities = in_effect["severity"].value_counts().to_dict() if len(in_effect) else {}
    if len(daily) == 0:
        start = end = None
        days = 0
    else:
        start, end = daily["run_date"].min(), daily["run_date"].max()
        days = int((end - start).days) + 1
    scenarios = daily[["agent_id", "scenario_id"]].drop_duplicates() if len(daily) else []
    modes = int(daily["mode"].nunique()) if len(daily) else 0
    return Summary(
        start=start,
        end=end,
        days=days,
        runs=int(daily["runs"].sum()),
        passed=int(daily["passed"].sum()),
        evaluated=int(daily["evaluated"].sum()),
        infra_errors=int(daily["infra_errors"].sum()),
        timeouts=int(daily["timeouts"].sum()),
        cancelled=int(daily["cancelled"].sum()),
        agents=int(daily["agent_id"].nunique()),
        modes=modes,
        scenarios=len(scenarios),
        regressions=len(in_effect),
        by_severity={str(k): int(v) for k, v in severities.items()},
    )


def agent_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """Per agent × mode × day: summed counts, the success rate and its Wilson band (the trend chart's points)."""
    cols = [*AGENT_KEY, "agent_name", "run_date", *_SUMS, "rate", "wilson_low", "wilson_high"]
    if len(daily) == 0:
        return pd.DataFrame(columns=cols)
    names = _latest_names(daily, ["agent_id"], "agent_name")
    out = _with_rates(daily.groupby([*AGENT_KEY, "run_date"], as_index=False)[_SUMS].sum())
    out["agent_name"] = out["agent_id"].map(names)
    out = out.sort_values(["agent_name", "agent_id", "mode", "run_date"], key=natural_key)
    return out.reset_index(drop=True)[cols]


def rolling_by_agent(daily: pd.DataFrame, window_days: int = 7) -> pd.DataFrame:
    """Per agent × every calendar day of its span: the trailing ``window_days`` rate from summed counts.

    sum(passed) / sum(evaluated) over the trailing calendar window; days without runs count as zero runs
    (not as missing rows), so a quiet week does not stretch the window back in time.
    """
    if len(daily) == 0:
        return pd.DataFrame(columns=[*AGENT_KEY, "run_date", "passed", "evaluated", "rate_roll"])
    sums = daily.groupby([*AGENT_KEY, "run_date"])[["passed", "evaluated"]].sum()
    parts = []
    for (agent_id, mode), part in sums.groupby(level=AGENT_KEY, sort=False):
        part = part.droplevel(AGENT_KEY).sort_index()
        full = pd.date_range(part.index.min(), part.index.max(), freq="D")
        roll = part.reindex(full, fill_value=0).rolling(window_days, min_periods=1).sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            roll["rate_roll"] = np.where(roll["evaluated"] > 0, roll["passed"] / roll["evaluated"], np.nan)
        roll["agent_id"], roll["mode"] = agent_id, mode
        parts.append(roll.reset_index(names="run_date"))
    return pd.concat(parts, ignore_index=True)


def scenario_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """Per agent × scenario × mode × day: summed counts and rate (the heat-map cells)."""
    keys = [*SCENARIO_KEY, "run_date"]
    if len(daily) == 0:
        return pd.DataFrame(columns=[*keys, *_SUMS, "rate", "wilson_low", "wilson_high"])
    return _with_rates(daily.groupby(keys, as_index=False)[_SUMS].sum())


def scenario_totals(daily: pd.DataFrame) -> pd.DataFrame:
    """Per agent × scenario × mode over the whole period, with names, first/last day seen and the latest
    dashboard link of the series (None where the warehouse has none)."""
    keys = SCENARIO_KEY
    cols = [
        *keys,
        "agent_name",
        "scenario_name",
        *_SUMS,
        "rate",
        "wilson_low",
        "wilson_high",
        "first",
        "last",
        "dashboard_url",
    ]
    if len(daily) == 0:
        return pd.DataFrame(columns=cols)
    out = daily.groupby(keys, as_index=False).agg(
        **{c: (c, "sum") for c in _SUMS}, first=("run_date", "min"), last=("run_date", "max")
    )
    agent_names = _latest_names(daily, ["agent_id"], "agent_name")
    scenario_names = _latest_names(daily, keys, "scenario_name")
    links = _latest_names(daily.dropna(subset=["dashboard_url"]), keys, "dashboard_url")
    out["agent_name"] = out["agent_id"].map(agent_names)
    triples = list(zip(out["agent_id"], out["scenario_id"], out["mode"], strict=True))
    out["scenario_name"] = [scenario_names[k] for k in triples]
    out["dashboard_url"] = [links.get(k) for k in triples]
    return _with_rates(out)[cols]


def worst_scenarios(daily: pd.DataFrame, min_runs: int, limit: int) -> pd.DataFrame:
    """Lowest success rates among scenarios with at least ``min_runs`` evaluated runs over the period."""
    totals = scenario_totals(daily)
    eligible = totals[totals["evaluated"] >= min_runs]
    return eligible.sort_values(["rate", "wilson_high", "evaluated"], ascending=[True, True, False]).head(
        limit
    )


def infra_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """All agents × day: runs, `infra_error_rate` and the timeout share (not the agent's fault)."""
    if len(daily) == 0:
        return pd.DataFrame(columns=["run_date", *_SUMS, "infra_error_rate", "timeout_rate"])
    out = daily.groupby("run_date", as_index=False)[_SUMS].sum().sort_values("run_date")
    runs = out["runs"].where(out["runs"] > 0)
    out["infra_error_rate"] = (out["infra_errors"] / runs).astype("float64")
    out["timeout_rate"] = (out["timeouts"] / runs).astype("float64")
    return out.reset_index(drop=True)


def natural_key(column: pd.Series) -> pd.Series:
    """Sort key that orders "Agent 2" before "Agent 10" (names are compared case-insensitively)."""
    if column.name not in {"agent_name", "scenario_name", "mode"}:
        return column
    return column.map(
        lambda v: tuple(
            (0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(v).lower()) if t
        )
    )


def _latest_names(daily: pd.DataFrame, keys: list[str], column: str) -> dict[object, str]:
    """The most recent name for each key: agents and scenarios get renamed, ids don't."""
    if len(daily) == 0:
        return {}
    latest = daily.sort_values("run_date").groupby(keys)[column].last()
    return latest.to_dict()


def percentile(values: pd.Series | np.ndarray | Sequence[float], share: float) -> float:
    """Exact percentile by linear interpolation over every value: numpy's default, the same definition as
    PostgreSQL's ``percentile_cont`` that fills `cekura_metric_daily` (one definition of p95 everywhere)."""
    array = np.asarray(values, dtype="float64")
    return float(np.percentile(array, share * 100)) if array.size else math.nan
