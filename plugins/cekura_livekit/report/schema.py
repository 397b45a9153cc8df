"""Input frames of the report, with the warehouse's own column names: what is required, optional, coerced.

The frames are what `warehouse.read` returns (the table named beside each); the report uses their names
as they are, so a column means the same in the warehouse, a notebook and the page. The report must still
render when a column it can live without is missing (an older warehouse, a hand-made frame), and fail early
and clearly when a column it cannot live without is missing. Rates are never trusted from the input: the
report re-aggregates counts, so only counts are required.

``daily`` (`cekura_success_rate_daily`: one row per run_date × agent × scenario × mode × suite)
    required: run_date (date / datetime64 / ISO string), agent_id, passed, failed_evaluation
    optional: agent_name, scenario_id, scenario_name, mode, suite, runs, infra_errors, timeouts, cancelled,
              dashboard_url (the series' latest result page)
    ignored:  success_rate, wilson_low, wilson_high, rate_7d, rate_28d (recomputed from summed counts)

``episodes`` (`cekura_regression_episodes`: one row per regression episode)
    required: agent_id, scenario_id
    optional: started_on, flagged_on, last_seen, agent_name, scenario_name, mode, suite, baseline_rate, baseline_n,
              current_rate, current_n, peak_drop (0–1; else baseline − current), q_value, severity
              (critical / major / minor), state (open / resolved; missing = open), resolved_on, quarantined,
              dashboard_url

``flaky`` (`cekura_flaky_scenarios`: one row per agent × scenario × mode × suite)
    required: agent_id, scenario_id
    optional: agent_name, scenario_name, mode, suite, runs, passed, failed_evaluation, score, status,
              first_seen (flaky since), dashboard_url

Empty frames (even with no columns at all) and ``None`` mean "no data" and never raise.
"""

from __future__ import annotations

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
EPISODES_REQUIRED: tuple[str, ...] = ("agent_id", "scenario_id")
FLAKY_REQUIRED: tuple[str, ...] = ("agent_id", "scenario_id")
SEVERITIES: tuple[str, ...] = ("critical", "major", "minor")


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


def _as_text(values: pd.Series) -> pd.Series:
    """Each value as text, '' where missing (None, NaN, NA): column-wise for the warehouse's typed columns
    (integers, text), one value at a time only for anything else (a mapped lambda per row cost ~2 s at 3M runs)."""
    dtype = values.dtype
    if pd.api.types.is_integer_dtype(dtype) or (
        pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)
    ):
        return values.astype("string").fillna("").astype(object)
    return values.map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))


def _ids(values: pd.Series) -> pd.Series:
    """Ids become strings: they are only labels and join keys here, and may be ints, Int64 with NA, or UUIDs."""
    return _as_text(values)


def _names(frame: pd.DataFrame, name_col: str, ids: pd.Series, kind: str) -> pd.Series:
    fallback = (f"{kind} " + ids).where(ids != "", f"unknown {kind}")
    if name_col not in frame.columns:
        return fallback
    names = _as_text(frame[name_col])
    return names.where(names.str.strip() != "", fallback)


def _empty(frame: pd.DataFrame | None) -> bool:
    return frame is None or len(frame) == 0


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A text column ('' where missing or NA): mode, suite, state, severity."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="object")
    return _as_text(frame[column])


def _urls(frame: pd.DataFrame) -> pd.Series:
    """Dashboard links: only http(s) URLs survive (anything else is not turned into a link)."""
    return _text(frame, "dashboard_url").map(lambda u: u if u.startswith(("https://", "http://")) else None)


def _day_column(frame: pd.DataFrame, name: str, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return _dates(frame[column], name, column)


def normalize_daily(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Return a clean daily frame (one row per input row) with every column the report uses."""
    cols = [
        "run_date",
        "agent_id",
        "agent_name",
        "scenario_id",
        "scenario_name",
        "mode",
        "suite",
        *DAILY_COUNTS,
        "evaluated",
        "dashboard_url",
    ]
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
    out["mode"], out["suite"] = _text(frame, "mode"), _text(frame, "suite")
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
    out["dashboard_url"] = _urls(frame)
    too_many = out["passed"] > out["runs"]
    if too_many.any():
        row = out[too_many].iloc[0]
        raise ValueError(
            f"report input 'daily' has passed={row['passed']} > runs={row['runs']} for agent {row['agent_id']!r}, "
            f"scenario {row['scenario_id']!r} on {row['run_date'].date()}; runs must count every run of the day."
        )
    return out.reset_index(drop=True)[cols]


EPISODE_COLUMNS = [
    "started_on",
    "flagged_on",
    "last_seen",
    "agent_id",
    "agent_name",
    "scenario_id",
    "scenario_name",
    "mode",
    "suite",
    "baseline_rate",
    "baseline_n",
    "current_rate",
    "current_n",
    "peak_drop",
    "q_value",
    "severity",
    "state",
    "resolved_on",
    "quarantined",
    "dashboard_url",
]


def normalize_episodes(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Return clean `cekura_regression_episodes` rows; an episode without a `state` is open."""
    if _empty(frame):
        return pd.DataFrame(columns=EPISODE_COLUMNS)
    assert frame is not None
    _require(frame, "episodes", EPISODES_REQUIRED)
    out = pd.DataFrame(index=frame.index)
    out["started_on"] = _day_column(frame, "episodes", "started_on")
    out["flagged_on"] = _day_column(frame, "episodes", "flagged_on")
    out["last_seen"] = _day_column(frame, "episodes", "last_seen")
    out["resolved_on"] = _day_column(frame, "episodes", "resolved_on")
    out["agent_id"] = _ids(frame["agent_id"])
    out["agent_name"] = _names(frame, "agent_name", out["agent_id"], "agent")
    out["scenario_id"] = _ids(frame["scenario_id"])
    out["scenario_name"] = _names(frame, "scenario_name", out["scenario_id"], "scenario")
    out["mode"], out["suite"] = _text(frame, "mode"), _text(frame, "suite")
    out["dashboard_url"] = _urls(frame)
    for col in ("baseline_rate", "baseline_n", "current_rate", "current_n", "q_value", "peak_drop"):
        out[col] = _floats(frame, col)
    out["peak_drop"] = out["peak_drop"].fillna(out["baseline_rate"] - out["current_rate"])
    out["severity"] = _text(frame, "severity").str.strip().str.lower()
    out["state"] = _text(frame, "state").str.strip().str.lower().replace("", "open")
    quarantined = (
        frame["quarantined"] if "quarantined" in frame.columns else pd.Series(False, index=frame.index)
    )
    out["quarantined"] = quarantined.map(lambda v: bool(v) if not pd.isna(v) else False)
    return out.reset_index(drop=True)[EPISODE_COLUMNS]


def normalize_flaky(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Return clean `cekura_flaky_scenarios` rows."""
    cols = [
        "agent_id",
        "agent_name",
        "scenario_id",
        "scenario_name",
        "mode",
        "suite",
        "runs",
        "passed",
        "failed_evaluation",
        "first_seen",
        "score",
        "status",
        "dashboard_url",
    ]
    if _empty(frame):
        return pd.DataFrame(columns=cols)
    assert frame is not None
    _require(frame, "flaky", FLAKY_REQUIRED)
    out = pd.DataFrame(index=frame.index)
    out["agent_id"] = _ids(frame["agent_id"])
    out["agent_name"] = _names(frame, "agent_name", out["agent_id"], "agent")
    out["scenario_id"] = _ids(frame["scenario_id"])
    out["scenario_name"] = _names(frame, "scenario_name", out["scenario_id"], "scenario")
    out["mode"], out["suite"] = _text(frame, "mode"), _text(frame, "suite")
    for col in ("passed", "failed_evaluation"):
        out[col] = _counts(frame[col], "flaky", col) if col in frame.columns else 0
    out["runs"] = (
        _counts(frame["runs"], "flaky", "runs")
        if "runs" in frame.columns
        else out["passed"] + out["failed_evaluation"]
    )
    out["first_seen"] = _day_column(frame, "flaky", "first_seen")
    out["score"] = _floats(frame, "score")
    out["status"] = _text(frame, "status")
    out["dashboard_url"] = _urls(frame)
    return out.reset_index(drop=True)[cols]
