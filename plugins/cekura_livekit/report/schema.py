"""Input frames of the report: which columns are required, which are optional, and how they are coerced.

The warehouse layer produces these frames; the report must still render when a column it can live without
is missing (an older warehouse, a hand-made frame in a notebook), and must fail early and clearly when a
column it cannot live without is missing. Rates are never trusted from the input: the report re-aggregates
counts, so only counts are required.

``daily`` (one row per run_date × agent × scenario)
    required: run_date (date / datetime64 / ISO string), agent_id, passed, failed_evaluation
    optional: agent_name, scenario_id, scenario_name, runs, infra_errors, timeouts, cancelled
    ignored:  success_rate, wilson_low, wilson_high, rate_7d, rate_28d (recomputed from summed counts)

``regressions`` (one row per detected regression)
    required: agent_id, scenario_id
    optional: run_date, agent_name, scenario_name, baseline_rate, baseline_n, current_rate, current_n,
              drop (baseline − current, 0–1; also read from ``rate_drop``, else computed), p_value,
              severity (critical / major / minor), detected_at

``flaky`` (one row per agent × scenario × batch with mixed outcomes on repeats)
    required: agent_id, scenario_id
    optional: agent_name, scenario_name, result_id, runs, passed, failed (also read from
              ``failed_evaluation``), last_seen (else ``run_date``)

Aliases exist because the warehouse tables name a few columns differently (``rate_drop``,
``failed_evaluation``); the report accepts both spellings so either producer plugs in unchanged.

Empty frames (even with no columns at all) and ``None`` mean "no data" and never raise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

DAILY_REQUIRED: tuple[str, ...] = ("run_date", "agent_id", "passed", "failed_evaluation")
DAILY_COUNTS: tuple[str, ...] = (
    "runs",
    "passed",
    "failed_evaluation",
    "infra_errors",
    "timeouts",
    "cancelled",
)
REGRESSIONS_REQUIRED: tuple[str, ...] = ("agent_id", "scenario_id")
FLAKY_REQUIRED: tuple[str, ...] = ("agent_id", "scenario_id")
SEVERITIES: tuple[str, ...] = ("critical", "major", "minor")


#: report column -> other spellings accepted for it (first present wins), per input frame.
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "regressions": {"drop": ("rate_drop",)},
    "flaky": {"failed": ("failed_evaluation",), "last_seen": ("run_date",)},
}


def _aliased(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    renames = {}
    for column, others in ALIASES.get(name, {}).items():
        if column not in frame.columns:
            found = next((o for o in others if o in frame.columns), None)
            if found is not None:
                renames[found] = column
    return frame.rename(columns=renames) if renames else frame


def _require(frame: pd.DataFrame, name: str, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(
            f"report input {name!r} is missing required column(s) {missing}; it has {list(frame.columns)}. "
            f"Pass the frame produced by the warehouse layer, or add the column(s) "
            f"(an empty frame is fine when there is no data)."
        )


def _dates(values: pd.Series, frame: str, column: str) -> pd.Series:
    """Coerce dates / datetimes / ISO strings to tz-naive midnight timestamps, so days compare and group."""
    try:
        out = pd.to_datetime(values, errors="raise", utc=False)
    except (ValueError, TypeError) as exc:
        bad = next((v for v in values if _not_date(v)), values.iloc[0] if len(values) else None)
        raise ValueError(
            f"report input {frame!r} column {column!r} holds a value that is not a date: {bad!r}; "
            f"use dates, datetimes or ISO strings like '2024-03-01'."
        ) from exc
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.dt.normalize()


def _not_date(value: object) -> bool:
    try:
        pd.Timestamp(value)
    except (ValueError, TypeError):
        return True
    return False


def _counts(values: pd.Series, frame: str, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[numbers.isna() & values.notna()]
    if len(bad):
        raise ValueError(
            f"report input {frame!r} column {column!r} must hold counts; got {bad.iloc[0]!r}. "
            f"Use integers (missing values are read as 0)."
        )
    numbers = numbers.fillna(0)
    if (numbers < 0).any():
        raise ValueError(
            f"report input {frame!r} column {column!r} has a negative count ({numbers.min()!r}); "
            f"counts must be >= 0."
        )
    return numbers.astype("int64")


def _floats(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(float("nan"), index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _ids(values: pd.Series) -> pd.Series:
    """Ids become strings: they are only labels and join keys here, and may be ints, Int64 with NA, or UUIDs."""
    return values.map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))


def _names(frame: pd.DataFrame, name_col: str, ids: pd.Series, kind: str) -> pd.Series:
    fallback = ids.map(lambda i: f"{kind} {i}" if i else f"unknown {kind}")
    if name_col not in frame.columns:
        return fallback
    names = frame[name_col].map(
        lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
    )
    return names.where(names.str.strip() != "", fallback)


def _empty(frame: pd.DataFrame | None) -> bool:
    return frame is None or len(frame) == 0


def normalize_daily(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Return a clean daily frame (one row per input row) with every column the report uses."""
    cols = ["run_date", "agent_id", "agent_name", "scenario_id", "scenario_name", *DAILY_COUNTS, "evaluated"]
    if _empty(frame):
        return pd.DataFrame(columns=cols)
    assert frame is not None
    _require(frame, "daily", DAILY_REQUIRED)
    out = pd.DataFrame(index=frame.index)
    out["run_date"] = _dates(frame["run_date"], "daily", "run_date")
    if out["run_date"].isna().any():
        raise ValueError(
            f"report input 'daily' has {int(out['run_date'].isna().sum())} row(s) without a run_date; "
            f"every daily row needs its day (drop or fill them before building the report)."
        )
    out["agent_id"] = _ids(frame["agent_id"])
    out["agent_name"] = _names(frame, "agent_name", out["agent_id"], "agent")
    out["scenario_id"] = _ids(frame["scenario_id"]) if "scenario_id" in frame.columns else ""
    out["scenario_name"] = _names(frame, "scenario_name", out["scenario_id"], "scenario")
    for col in DAILY_COUNTS:
        if col in frame.columns:
            out[col] = _counts(frame[col], "daily", col)
        elif col != "runs":
            out[col] = 0
    if "runs" not in out.columns:
        out["runs"] = out[["passed", "failed_evaluation", "infra_errors", "timeouts", "cancelled"]].sum(
            axis=1
        )
    out["evaluated"] = out["passed"] + out["failed_evaluation"]
    too_many = out["passed"] > out["runs"]
    if too_many.any():
        row = out[too_many].iloc[0]
        raise ValueError(
            f"report input 'daily' has passed={row['passed']} > runs={row['runs']} for agent {row['agent_id']!r}, "
            f"scenario {row['scenario_id']!r} on {row['run_date'].date()}; runs must count every run of the day."
        )
    return out.reset_index(drop=True)[cols]


def normalize_regressions(frame: pd.DataFrame | None) -> pd.DataFrame:
    cols = [
        "run_date",
        "agent_id",
        "agent_name",
        "scenario_id",
        "scenario_name",
        "baseline_rate",
        "baseline_n",
        "current_rate",
        "current_n",
        "drop",
        "p_value",
        "severity",
        "detected_at",
        "dashboard_url",
    ]
    if _empty(frame):
        return pd.DataFrame(columns=cols)
    assert frame is not None
    frame = _aliased(frame, "regressions")
    _require(frame, "regressions", REGRESSIONS_REQUIRED)
    out = pd.DataFrame(index=frame.index)
    out["run_date"] = (
        _dates(frame["run_date"], "regressions", "run_date") if "run_date" in frame.columns else pd.NaT
    )
    out["agent_id"] = _ids(frame["agent_id"])
    out["agent_name"] = _names(frame, "agent_name", out["agent_id"], "agent")
    out["scenario_id"] = _ids(frame["scenario_id"])
    out["scenario_name"] = _names(frame, "scenario_name", out["scenario_id"], "scenario")
    out["dashboard_url"] = frame["dashboard_url"] if "dashboard_url" in frame.columns else None
    for col in ("baseline_rate", "baseline_n", "current_rate", "current_n", "p_value"):
        out[col] = _floats(frame, col)
    out["drop"] = _floats(frame, "drop")
    out["drop"] = out["drop"].fillna(out["baseline_rate"] - out["current_rate"])
    severity = frame["severity"] if "severity" in frame.columns else pd.Series("", index=frame.index)
    out["severity"] = severity.map(
        lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
    )
    out["severity"] = out["severity"].str.strip().str.lower()
    if "detected_at" in frame.columns:
        out["detected_at"] = pd.to_datetime(frame["detected_at"], errors="coerce", utc=True)
    else:
        out["detected_at"] = pd.NaT
    return out.reset_index(drop=True)[cols]


def normalize_flaky(frame: pd.DataFrame | None) -> pd.DataFrame:
    cols = [
        "agent_id",
        "agent_name",
        "scenario_id",
        "scenario_name",
        "result_id",
        "runs",
        "passed",
        "failed",
        "last_seen",
        "score",
        "status",
    ]
    if _empty(frame):
        return pd.DataFrame(columns=cols)
    assert frame is not None
    frame = _aliased(frame, "flaky")
    _require(frame, "flaky", FLAKY_REQUIRED)
    out = pd.DataFrame(index=frame.index)
    out["agent_id"] = _ids(frame["agent_id"])
    out["agent_name"] = _names(frame, "agent_name", out["agent_id"], "agent")
    out["scenario_id"] = _ids(frame["scenario_id"])
    out["scenario_name"] = _names(frame, "scenario_name", out["scenario_id"], "scenario")
    out["result_id"] = _ids(frame["result_id"]) if "result_id" in frame.columns else ""
    for col in ("passed", "failed"):
        out[col] = _counts(frame[col], "flaky", col) if col in frame.columns else 0
    out["runs"] = (
        _counts(frame["runs"], "flaky", "runs") if "runs" in frame.columns else out["passed"] + out["failed"]
    )
    if "last_seen" in frame.columns:
        out["last_seen"] = pd.to_datetime(frame["last_seen"], errors="coerce", utc=True)
    else:
        out["last_seen"] = pd.NaT
    # Scored flakiness (cekura_flaky_scenarios): the flip rate over the window and its status.
    out["score"] = _floats(frame, "score") if "score" in frame.columns else math.nan
    out["status"] = frame["status"].astype("object") if "status" in frame.columns else ""
    return out.reset_index(drop=True)[cols]
