"""Cekura result payloads → tidy pandas frames with a fixed, documented schema.

Why a fixed schema: the warehouse tables, the trend SQL and the report all read these columns by name and
type, and the API's payloads vary (runs as dict or list, counters as strings, `scenario` as int, object or
null, optional fields missing). Every variation is absorbed here, once, and a run that cannot be parsed is
reported by id and reason instead of being dropped.

Frames are built in chunks (`chunk_size` runs at a time) from an iterable, so 100,000 runs never exist
as an intermediate list of rows next to the final frame: memory stays bounded by the columns. Within a
chunk, values of the expected type skip the validating parsers and each column is converted once (see
"row builders"); `tests/results/test_frames_parity.py` holds this to the row-at-a-time build it replaced.

Run frame columns (``RUN_COLUMNS``):
    run_id Int64 (key) · result_id Int64 · agent_id Int64 · agent_name str · scenario_id Int64 ·
    scenario_name str · personality_id Int64 · personality_name str · status str (lower-case, as sent) ·
    success boolean · evaluation_status str · outcome str (``models.run_outcome``: passed / failed_evaluation /
    infra_error / timeout / cancelled; <NA> while the run is not terminal) · error_message str ·
    ended_reason str · duration_s Float64 · expected_outcome_score Float64 · started_at datetime64[us, UTC] ·
    run_date datetime64[us] (UTC calendar day of started_at, midnight: the type the warehouse readers return) · run_as_text boolean · mode str
    (``grain_mode``: ``voice/managed``, ``chat/byo`` …) · suite str (suite id, '' when unknown) · trace_id str ·
    dag_id str · dag_run_id str
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from json.encoder import encode_basestring
from typing import Any

import pandas as pd

from cekura_livekit.models import grain_mode, parse_count, parse_status, run_outcome, runs_of
from cekura_livekit.results.schema import (
    DAY,
    METRIC_COLUMNS,
    RESULT_COLUMNS,
    RUN_COLUMNS,
    TS,
)
from cekura_livekit.results.source import resolve_source

DEFAULT_CHUNK_SIZE = 10_000
#: Metric problems named in the log of one extract (all are counted; `Extract` keeps KEPT_METRIC_PROBLEMS).
LOGGED_METRIC_PROBLEMS = 10
#: Metric problems an `Extract` keeps by name: bounded, because a payload whose every metric has an unknown
#: shape (100k runs × metrics) must not hold a problem object per metric in memory.
KEPT_METRIC_PROBLEMS = 100

log = logging.getLogger(__name__)


class UnparseableRunsError(ValueError):
    """Some runs could not be parsed; `problems` lists (run id or position, reason) for each."""

    def __init__(self, problems: Sequence[RunProblem]) -> None:
        self.problems = list(problems)
        shown = "; ".join(f"run {p.run_id}: {p.reason}" for p in self.problems[:10])
        more = f" (and {len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
        super().__init__(
            f"{len(self.problems)} run(s) could not be parsed: {shown}{more}. Fix the payload, or pass "
            "skip_unparseable=True to load the other runs and report these."
        )


@dataclass(frozen=True)
class RunProblem:
    run_id: str
    reason: str


@dataclass(frozen=True)
class MetricProblem:
    """A metric loaded but not understood: its row is kept (values as sent, untyped), never dropped, and
    it is reported, because a silently untyped binary metric loses its pass rate."""

    run_id: str
    metric_id: str
    reason: str


@dataclass
class Extract:
    """The frames of one result, plus the runs that were skipped (only when told to skip)."""

    results: pd.DataFrame
    runs: pd.DataFrame
    metrics: pd.DataFrame
    problems: list[RunProblem] = field(default_factory=list)
    #: Metrics of a shape neither Cekura format explains (their rows are loaded, untyped): the first
    #: KEPT_METRIC_PROBLEMS by name, and how many there were in all.
    metric_problems: list[MetricProblem] = field(default_factory=list)
    metric_problem_count: int = 0


# ---------------------------------------------------------------- field parsers (raise ValueError)


def _int_or_none(raw: object, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    return parse_count(raw, field=name)


def _ref(raw: object, name: str) -> tuple[int | None, str | None]:
    """An id reference sent as an int, a numeric string or an object {id, name}."""
    if isinstance(raw, Mapping):
        ident = _int_or_none(raw.get("id"), f"{name}.id")
        label = raw.get("name")
        return ident, None if label is None else str(label)
    return _int_or_none(raw, name), None


def _float_or_none(raw: object, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValueError(f"{name}={raw!r} is a boolean, expected a number")
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}={raw!r} is not a finite number")
    return value


def _bool_or_none(raw: object, name: str) -> bool | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in {"true", "t", "yes", "1"}:
        return True
    if text in {"false", "f", "no", "0"}:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean")


def _str_or_none(raw: object) -> str | None:
    if raw is None:
        return None
    return raw if isinstance(raw, str) else str(raw)


_DURATION = re.compile(r"^\s*(?:(\d+):)?(\d+):(\d{1,2}(?:\.\d+)?)\s*$")


def parse_duration(raw: object) -> float | None:
    """Seconds from "MM:SS", "HH:MM:SS", a number of seconds, or null."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValueError(f"duration={raw!r} is a boolean; expected 'MM:SS', 'HH:MM:SS' or seconds")
    if isinstance(raw, int | float):
        if not math.isfinite(raw) or raw < 0:
            raise ValueError(f"duration={raw!r} is not a non-negative number of seconds")
        return float(raw)
    text = str(raw)
    match = _DURATION.match(text)
    if match:
        hours, minutes, seconds = match.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    try:
        return parse_duration(float(text))
    except ValueError:
        raise ValueError(f"duration={raw!r} is not 'MM:SS', 'HH:MM:SS' or a number of seconds") from None


def parse_timestamp(raw: object, name: str = "timestamp") -> datetime | None:
    """A tz-aware UTC datetime from an ISO string (naive values are taken as UTC) or epoch seconds."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        value = datetime.fromtimestamp(raw, tz=UTC)
    else:
        text = str(raw).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not an ISO 8601 datetime") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ---------------------------------------------------------------- row builders
#
# The hot path of a 100k-run extract. Each field takes a fast branch when the value already has the type
# the API normally sends (an `int` id, a `bool` flag, a `str` name: one `type(...) is` test) and otherwise
# falls back to the validating parser above, in the same order as the fields are read, so a bad run is
# reported with the same first error as before. Strings the API repeats (statuses, "MM:SS" durations, metric
# types) are parsed once per extract. Rows are tuples, turned into one list per column for pandas.


def _nested(run: Mapping[str, Any], parent: str, key: str) -> Any:
    """`run[parent][key]`, or None when the parent is absent or not an object."""
    value = run.get(parent)
    return value.get(key) if isinstance(value, Mapping) else None


def _fast_ref(raw: object, name: str) -> tuple[int | None, str | None]:
    """`_ref` for the usual shapes (an int, or an object with an int id and a str or no name)."""
    if type(raw) is int:
        return raw, None
    if type(raw) is dict:
        ident, label = raw.get("id"), raw.get("name")
        if type(ident) is int and (label is None or type(label) is str):
            return ident, label
    return _ref(raw, name)


def _fast_int(raw: object, name: str) -> int | None:
    return raw if type(raw) is int else _int_or_none(raw, name)


def _fast_bool(raw: object, name: str) -> bool | None:
    return raw if raw is True or raw is False else _bool_or_none(raw, name)


def _fast_float(raw: object, name: str) -> float | None:
    if type(raw) is int:
        return float(raw)
    if type(raw) is float and math.isfinite(raw):
        return raw
    return _float_or_none(raw, name)


def _text(raw: object) -> str | None:
    return raw if raw is None or type(raw) is str else _str_or_none(raw)


#: `json.dumps(value, ensure_ascii=False)` without building an encoder per call.
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode


def _json_text(raw: object) -> str:
    """`json.dumps(raw, ensure_ascii=False)`; a list of strings (the usual explanation) is joined directly."""
    if type(raw) is list:
        try:
            return "[" + ", ".join(map(encode_basestring, raw)) + "]"
        except TypeError:  # an element that is not a string: the encoder handles it
            pass
    return _JSON_TEXT(raw)


def _value_text(raw: object) -> str | None:
    """A metric's value as text: strings as sent, anything else JSON-encoded (`true`, `1.25`, `[1, 2]`)."""
    if raw is None or isinstance(raw, str):
        return raw
    if raw is True or raw is False:
        return "true" if raw else "false"
    return json.dumps(raw)


class _Memo:
    """Parses of the strings a payload repeats on every run, kept for one extract.

    Only `str` keys are cached: `1 == 1.0 == True` as dict keys would mix values that parse differently.
    """

    __slots__ = (
        "durations",
        "kinds",
        "metric_problem_count",
        "metric_problems",
        "on_metric_problem",
        "statuses",
    )

    def __init__(self, on_metric_problem: Callable[[MetricProblem], None] | None = None) -> None:
        self.statuses: dict[str, tuple[str, str | None, str | None]] = {}
        self.durations: dict[str, float | None] = {}
        self.kinds: dict[str, str | None] = {}
        #: Metrics of an unknown shape: how many, the first few (for the log), and who else wants each.
        self.metric_problem_count = 0
        self.metric_problems: list[MetricProblem] = []
        self.on_metric_problem = on_metric_problem

    def metric_problem(self, problem: MetricProblem) -> None:
        self.metric_problem_count += 1
        if len(self.metric_problems) < LOGGED_METRIC_PROBLEMS:
            self.metric_problems.append(problem)
        if self.on_metric_problem is not None:
            self.on_metric_problem(problem)

    def status(self, raw: object, success: bool | None) -> tuple[str | None, str | None]:
        """(status as stored, outcome value) of a run; `run_outcome` reads only `success is True`."""
        if type(raw) is str:
            known = self.statuses.get(raw)
            if known is None:
                known = self.statuses[raw] = (
                    raw.strip().lower(),
                    _outcome_value(raw, True),
                    _outcome_value(raw, False),
                )
            return known[0], known[1] if success is True else known[2]
        text = str(raw).strip().lower() if raw is not None else None
        return text, _outcome_value(raw, success)

    def duration(self, raw: object) -> float | None:
        return _memo(self.durations, raw, parse_duration)

    def kind(self, raw: object) -> str | None:
        return _memo(self.kinds, raw, metric_kind)


_MISSING: Any = object()


def _memo(cache: dict[str, Any], raw: object, parse: Callable[[object], Any]) -> Any:
    """`parse(raw)`, remembered for string values only (1, 1.0 and True are equal keys but parse apart)."""
    if type(raw) is not str:
        return parse(raw)
    value = cache.get(raw, _MISSING)
    if value is _MISSING:
        value = cache[raw] = parse(raw)
    return value


def _outcome_value(status: object, success: bool | None) -> str | None:
    outcome = run_outcome(parse_status(status), success)
    return outcome.value if outcome is not None else None


#: The run columns `_run_values` fills, in its tuple's order; the others are the same for every run of an
#: extract (`_RunContext.constants`) or derived from a column (`run_date`).
_RUN_FIELDS = (
    "run_id",
    "scenario_id",
    "scenario_name",
    "agent_id",
    "agent_name",
    "personality_id",
    "personality_name",
    "success",
    "status",
    "outcome",
    "started_at",
    "result_id",
    "evaluation_status",
    "error_message",
    "ended_reason",
    "duration_s",
    "expected_outcome_score",
    "run_as_text",
    "mode",
    "quarantined",
    "trace_id",
)


@dataclass(frozen=True)
class _RunContext:
    """What every run of one extract shares: the result's defaults and the caller's context."""

    result_id: int | None
    agent_id: int | None
    agent_name: str | None
    created_at: datetime | None
    run_as_text: bool | None
    modes: tuple[str, str]  # grain_mode for (voice, chat)
    quarantine: frozenset[int]
    constants: dict[str, Any]

    @classmethod
    def of(cls, defaults: Mapping[str, Any]) -> _RunContext:
        return cls(
            result_id=defaults["result_id"],
            agent_id=defaults["agent_id"],
            agent_name=defaults["agent_name"],
            created_at=defaults["created_at"],
            run_as_text=defaults["run_as_text"],
            modes=(grain_mode(defaults.get("mode"), False), grain_mode(defaults.get("mode"), True)),
            quarantine=defaults.get("quarantine") or frozenset(),
            constants={
                "suite": defaults.get("suite") or "",
                "dashboard_url": defaults.get("dashboard_url"),
                "dag_id": defaults.get("dag_id"),
                "dag_run_id": defaults.get("dag_run_id"),
                "source": defaults.get("source"),
            },
        )


def _run_values(
    run: Mapping[str, Any], ctx: _RunContext, memo: _Memo
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """One run → (its `_RUN_FIELDS` tuple, its metric tuples). Raises ValueError naming the first bad field."""
    get = run.get
    run_id = _fast_int(get("id"), "id")
    if run_id is None:
        raise ValueError("run has no id")
    scenario_id, scenario_label = _fast_ref(get("scenario"), "scenario")
    agent_id, agent_label = _fast_ref(get("agent"), "agent")
    personality_id, personality_label = _fast_ref(get("personality"), "personality")
    success = _fast_bool(get("success"), "success")
    status, outcome = memo.status(get("status"), success)
    started = parse_timestamp(get("timestamp"), "timestamp") or parse_timestamp(
        get("executed_at"), "executed_at"
    )
    result_id = _fast_int(get("result_id"), "result_id")
    head = (
        run_id,
        scenario_id,
        _text(get("scenario_name")) or scenario_label,
        ctx.agent_id if agent_id is None else agent_id,
        _text(get("agent_name")) or agent_label or ctx.agent_name,
        personality_id,
        _text(get("personality_name")) or personality_label,
        success,
        status,
        outcome,
        ctx.created_at if started is None else started,
        ctx.result_id if result_id is None else result_id,
    )
    return head + _run_tail(run, scenario_id, ctx, memo), _run_metrics(run_id, run, memo)


def _run_tail(
    run: Mapping[str, Any], scenario_id: int | None, ctx: _RunContext, memo: _Memo
) -> tuple[Any, ...]:
    """The run's fields from `evaluation_status` on (see `_RUN_FIELDS`), read in the validation order."""
    get = run.get
    metadata, expected = get("metadata"), get("expected_outcome")
    ended = (
        metadata.get("ended_reason") if type(metadata) is dict else _nested(run, "metadata", "ended_reason")
    )
    score = expected.get("score") if type(expected) is dict else _nested(run, "expected_outcome", "score")
    evaluation_status, error_message = _text(get("evaluation_status")), _text(get("error_message"))
    duration = memo.duration(get("duration"))
    score = _fast_float(score, "expected_outcome.score")
    as_text = _fast_bool(get("run_as_text"), "run_as_text")
    return (
        evaluation_status,
        error_message,
        _text(ended),
        duration,
        score,
        as_text,
        ctx.modes[bool(ctx.run_as_text if as_text is None else as_text)],
        scenario_id in ctx.quarantine,
        _text(get("trace_id")),
    )


def _run_metrics(run_id: int, run: Mapping[str, Any], memo: _Memo) -> list[tuple[Any, ...]]:
    evaluation = run.get("evaluation")
    raw = evaluation.get("metrics") if type(evaluation) is dict else _nested(run, "evaluation", "metrics")
    rows = [_metric_values(run_id, index, metric, memo) for index, metric in enumerate(raw or [])]
    for row in rows:  # only once the whole run parsed: a skipped run reports its own problem instead
        if row[_KIND] is None or (row[_KIND] == "binary" and row[_PASSED] is None):
            memo.metric_problem(_metric_problem(row))
    return rows


_KIND, _PASSED = list(METRIC_COLUMNS).index("metric_kind"), list(METRIC_COLUMNS).index("passed")


def _metric_problem(row: tuple[Any, ...]) -> MetricProblem:
    """Why a metric row (METRIC_COLUMNS order) is not understood."""
    run_id, metric_id, name, metric_type = row[0], row[1], row[2], row[3]
    label = f"metric {metric_id}" + (f" ({name})" if name else "")
    if row[_KIND] is None:
        reason = (
            f"{label}: type {metric_type!r} is neither a Cekura eval_type nor a legacy metric type, so it "
            "loads untyped (no pass rate, value or rating)"
        )
    else:
        reason = (
            f"{label}: a binary metric with neither `passed` nor a legacy score of 5 or 0, so its pass "
            "rate cannot count it"
        )
    return MetricProblem(str(run_id), str(metric_id), reason)


def _metric_values(run_id: int, index: int, metric: object, memo: _Memo) -> tuple[Any, ...]:
    """One metric → its tuple in `METRIC_COLUMNS` order. Raises ValueError naming the metric and field."""
    if type(metric) is not dict and not isinstance(metric, Mapping):
        raise ValueError(f"evaluation.metrics[{index}] is a {type(metric).__name__}, expected an object")
    get = metric.get
    metric_id = get("id")
    if type(metric_id) is not int:
        metric_id = _int_or_none(metric_id, f"evaluation.metrics[{index}].id")
        if metric_id is None:
            raise ValueError(f"evaluation.metrics[{index}] has no id")
    value, explanation, raw_type, score = get("value"), get("explanation"), get("type"), get("score")
    eval_type = get("eval_type")
    kind = memo.kind(eval_type) or memo.kind(raw_type)  # canonical first, legacy second
    if type(score) is int:
        score = float(score)
    elif score is not None and not (type(score) is float and math.isfinite(score)):
        score = _float_or_none(score, f"evaluation.metrics[{index}].score")
    passed = get("passed")
    if passed is not None and passed is not True and passed is not False:
        passed = _bool_or_none(passed, f"evaluation.metrics[{index}].passed")
    if passed is None and kind == "binary":
        passed = legacy_binary_passed(score)
    return (
        run_id,
        metric_id,
        _text(get("name")),
        _text(raw_type if raw_type is not None else eval_type),
        score,
        _value_text(value),
        passed,
        None if explanation is None else _json_text(explanation),
        *_typed_columns(metric, kind, score),
    )


def _typed_columns(metric: Mapping[str, Any], kind: str | None, score: float | None) -> tuple[Any, ...]:
    """`metric_kind` … `rating`: only numeric, enum and rating metrics have typed values to read."""
    if kind is None or kind == "binary":
        return kind, None, None, None, None
    return _typed_metric(metric, kind, score)


#: Cekura's metric types → the four kinds the warehouse types. Canonical `eval_type` values (Cekura's metric
#: docs: binary, numeric, continuous_qualitative, enum; its CLI also writes boolean) and legacy `type`
#: values (binary_workflow_adherence, binary_qualitative … — every `binary_*` is binary —, rating).
_KINDS = {
    "binary": "binary",
    "boolean": "binary",
    "continuous_qualitative": "rating",
    "rating": "rating",
    "numeric": "numeric",
    "enum": "enum",
}
#: The legacy binary score: 5 passed, 0 failed (Cekura's webhook and metric docs).
LEGACY_BINARY_SCORES = {5.0: True, 0.0: False}


def legacy_binary_passed(score: float | None) -> bool | None:
    """A legacy binary metric's verdict from its score (5 passed, 0 failed); None for anything else.

    Cekura's metrics come in two formats: canonical (`eval_type` "binary" with a boolean `passed`) and
    legacy (`type` binary_* with `score` 5 or 0, deprecated, "will be removed"); current payloads carry
    both, older ones only the legacy fields. The extract reads the canonical fields first (`eval_type`,
    `passed`) and the legacy ones second (`type`, then this).
    """
    return LEGACY_BINARY_SCORES.get(score) if score is not None else None


def metric_kind(raw: object) -> str | None:
    """binary / rating / numeric / enum from a Cekura `eval_type` or `type` (None when absent or unknown)."""
    text = _str_or_none(raw)
    if text is None:
        return None
    text = text.strip().lower()
    return "binary" if text.startswith("binary") else _KINDS.get(text)


def _typed_metric(
    metric: Mapping[str, Any], kind: str, score: float | None
) -> tuple[str, float | None, str | None, str | None, float | None]:
    """The typed columns (`metric_kind` … `rating`): a numeric value (else the reported p50) with its unit,
    the enum choice, the rating."""
    raw_extra = metric.get("extra")
    extra: Mapping[str, Any] = raw_extra if isinstance(raw_extra, Mapping) else {}
    value_num = None
    if kind == "numeric":
        value_num = _number(metric.get("value"))
        if value_num is None:
            value_num = _number(_nested(extra, "percentiles", "p50"))
    enum = _str_or_none(metric.get("enum")) or (_str_or_none(metric.get("value")) if kind == "enum" else None)
    unit = _str_or_none(metric.get("unit")) or _str_or_none(extra.get("unit")) if kind == "numeric" else None
    return kind, value_num, unit, enum if kind == "enum" else None, score if kind == "rating" else None


def _number(raw: object) -> float | None:
    """A metric's number sent as a number or a JSON string ("812"); None (not an error: the run and its
    text value still load) when it is anything else."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _typed_frame(rows: list[dict[str, Any]], columns: Mapping[str, str]) -> pd.DataFrame:
    """Columns built one at a time with their final dtype: no object-typed intermediate frame."""
    data: dict[str, pd.Series] = {}
    for name, dtype in columns.items():
        values = [row[name] for row in rows]
        if dtype == TS:
            data[name] = pd.Series(pd.to_datetime(values, utc=True), dtype=TS)
        else:
            data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data, columns=list(columns))


def empty_frame(columns: Mapping[str, str]) -> pd.DataFrame:
    return _typed_frame([], columns)


def _column(values: Sequence[Any], dtype: str) -> pd.Series:
    """One column converted once to its final dtype (timestamps through `pd.to_datetime`, as parsed: UTC)."""
    if dtype == TS:
        return pd.Series(pd.to_datetime(values, utc=True), dtype=TS)
    return pd.Series(values, dtype=dtype)


def _utc_day(started: pd.Series) -> pd.Series:
    """The UTC calendar day of each start, as a naive midnight (what the warehouse readers return).

    Column-wise: one `pd.Timestamp(started.date())` per row was a fifth of a 100k-run extract.
    """
    return started.dt.floor("D").dt.tz_localize(None).astype(DAY)


def _tuples_frame(
    rows: list[tuple[Any, ...]],
    fields: Sequence[str],
    columns: Mapping[str, str],
    constants: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The frame of row tuples laid out as `fields`; columns not in `fields` hold a constant, or are the
    UTC day of `started_at` (`run_date`). No per-row dicts and no object-typed intermediate frame."""
    data: dict[str, pd.Series] = {}
    for name, dtype in columns.items():
        if name in fields:
            index = fields.index(name)  # a list per column: 3x faster than `zip(*rows)` over 10k rows
            data[name] = _column([row[index] for row in rows], dtype)
        elif name != "run_date":
            data[name] = _column([(constants or {})[name]] * len(rows), dtype)
    if "run_date" in columns:
        data["run_date"] = _utc_day(data["started_at"])
    return pd.DataFrame(data, columns=list(columns))


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _concat(frames: list[pd.DataFrame], columns: Mapping[str, str]) -> pd.DataFrame:
    if not frames:
        return empty_frame(columns)
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True).astype(dict(columns))


def result_defaults(result: Mapping[str, Any] | None, **context: Any) -> dict[str, Any]:
    """What a run inherits from its result when it does not say itself (ids, agent, creation time)."""
    result = result or {}
    agent_id, agent_label = _ref(result.get("agent"), "agent")
    return {
        "result_id": _int_or_none(result.get("id"), "result.id"),
        "agent_id": agent_id,
        "agent_name": _str_or_none(result.get("agent_name")) or agent_label,
        "created_at": parse_timestamp(result.get("created_at"), "result.created_at"),
        "run_as_text": _bool_or_none(result.get("run_as_text"), "result.run_as_text"),
        **context,
    }


def _chunk_rows(
    chunk: list[Any],
    position: int,
    ctx: _RunContext,
    memo: _Memo,
    problems: list[RunProblem],
    on_problem: Callable[[RunProblem], None] | None,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(run tuples, metric tuples) of one chunk; each bad run goes to `problems` (and `on_problem`) instead,
    named by its id, else by its 1-based position in the input."""
    run_rows: list[tuple[Any, ...]] = []
    metric_rows: list[tuple[Any, ...]] = []
    for position, run in enumerate(chunk, start=position + 1):  # noqa: B020 - continues the count
        if type(run) is not dict and not isinstance(run, Mapping):
            problem = RunProblem(f"#{position}", f"is a {type(run).__name__}, expected an object")
        else:
            try:
                row, metrics = _run_values(run, ctx, memo)
            except ValueError as exc:
                problem = RunProblem(str(run.get("id", f"#{position}")), str(exc))
            else:
                run_rows.append(row)
                metric_rows.extend(metrics)
                continue
        problems.append(problem)
        if on_problem is not None:
            on_problem(problem)
    return run_rows, metric_rows


def runs_frames(
    runs: Iterable[Mapping[str, Any] | Any],
    *,
    result: Mapping[str, Any] | None = None,
    skip_unparseable: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    on_problem: Callable[[RunProblem], None] | None = None,
    mode: str | None = None,
    suite: str | None = None,
    dashboard_url: str | None = None,
    quarantine: Iterable[int] | None = None,
    on_metric_problem: Callable[[MetricProblem], None] | None = None,
    source: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[RunProblem]]:
    """(runs frame, metrics frame, problems) from any iterable of run objects, built chunk by chunk.

    Raises `UnparseableRunsError` listing every bad run unless `skip_unparseable` is true. Metrics of an
    unknown shape are loaded as sent, logged by name, and passed to `on_metric_problem`.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive number of runs")
    defaults = result_defaults(
        result,
        dag_id=dag_id,
        dag_run_id=dag_run_id,
        mode=mode,
        suite=suite,
        dashboard_url=dashboard_url,
        quarantine=frozenset(int(i) for i in quarantine or ()),
        source=resolve_source(source, result),
    )
    ctx, memo = _RunContext.of(defaults), _Memo(on_metric_problem)
    run_parts: list[pd.DataFrame] = []
    metric_parts: list[pd.DataFrame] = []
    problems: list[RunProblem] = []
    position = 0
    for chunk in _chunks(runs, chunk_size):
        run_rows, metric_rows = _chunk_rows(chunk, position, ctx, memo, problems, on_problem)
        position += len(chunk)
        run_parts.append(_tuples_frame(run_rows, _RUN_FIELDS, RUN_COLUMNS, ctx.constants))
        if metric_rows:
            metric_parts.append(_tuples_frame(metric_rows, list(METRIC_COLUMNS), METRIC_COLUMNS))
        del run_rows, metric_rows, chunk
    if problems and not skip_unparseable:
        raise UnparseableRunsError(problems)
    _log_metric_problems(memo, ctx.result_id)
    runs_df = _concat(run_parts, RUN_COLUMNS)
    metrics_df = _concat(metric_parts, METRIC_COLUMNS)
    # A run listed twice (detail view plus runs list) keeps its last, most complete copy.
    runs_df = runs_df.drop_duplicates("run_id", keep="last", ignore_index=True)
    metrics_df = metrics_df.drop_duplicates(["run_id", "metric_id"], keep="last", ignore_index=True)
    return runs_df, metrics_df, problems


def _log_metric_problems(memo: _Memo, result_id: int | None) -> None:
    """Name the metrics no format explains in the log: how many, and the first LOGGED_METRIC_PROBLEMS."""
    if not memo.metric_problem_count:
        return
    shown = "; ".join(f"run {p.run_id}: {p.reason}" for p in memo.metric_problems)
    more = memo.metric_problem_count - len(memo.metric_problems)
    log.warning(
        "result %s: %d metric result(s) of an unknown shape were loaded untyped: %s%s",
        result_id,
        memo.metric_problem_count,
        shown,
        f" (and {more} more)" if more else "",
    )


def results_frame(
    results: Iterable[Mapping[str, Any]],
    *,
    mode: str | None = None,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    suite: str | None = None,
    dashboard_url: str | None = None,
    source: str | None = None,
    quarantine: Iterable[int] | None = None,
) -> pd.DataFrame:
    """One row per submitted batch. Counters are parsed defensively; `success_rate` is not trusted.

    `source` and `quarantine` None mean "not given": the writer then keeps what an earlier load stored.
    """
    quarantine_text = None if quarantine is None else json.dumps(sorted({int(i) for i in quarantine}))
    rows = []
    for result in results:
        result_id = _int_or_none(result.get("id"), "result.id")
        if result_id is None:
            raise ValueError("result payload has no id; pass the detail view of GET /results/{id}/")
        agent_id, agent_label = _ref(result.get("agent"), "result.agent")
        status = result.get("status")
        rows.append(
            {
                "result_id": result_id,
                "agent_id": agent_id,
                "agent_name": _str_or_none(result.get("agent_name")) or agent_label,
                "name": _str_or_none(result.get("name")),
                "mode": mode,
                "status": str(status).strip().lower() if status is not None else None,
                "total_runs": _int_or_none(result.get("total_runs_count"), "total_runs_count"),
                "completed_runs": _int_or_none(result.get("completed_runs_count"), "completed_runs_count"),
                "success_runs": _int_or_none(result.get("success_runs_count"), "success_runs_count"),
                "failed_runs": _int_or_none(result.get("failed_runs_count"), "failed_runs_count"),
                "run_as_text": _bool_or_none(result.get("run_as_text"), "run_as_text"),
                "is_cronjob": _bool_or_none(result.get("is_cronjob"), "is_cronjob"),
                "suite": suite or "",
                "dashboard_url": dashboard_url,
                "created_at": parse_timestamp(result.get("created_at"), "created_at"),
                "updated_at": parse_timestamp(result.get("updated_at"), "updated_at"),
                "dag_id": dag_id,
                "dag_run_id": dag_run_id,
                "source": resolve_source(source, result),
                "quarantine": quarantine_text,
            }
        )
    return _typed_frame(rows, RESULT_COLUMNS).drop_duplicates("result_id", keep="last", ignore_index=True)


def extract(
    result: Mapping[str, Any],
    runs: Iterable[Mapping[str, Any]] | None = None,
    *,
    mode: str | None = None,
    skip_unparseable: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    suite: str | None = None,
    dashboard_url: str | None = None,
    quarantine: Iterable[int] | None = None,
    source: str | None = None,
) -> Extract:
    """All three frames of one finished result; `runs` defaults to the runs embedded in the result.

    The load context (`suite`, `quarantine`, `dashboard_url`, `dag_id`, `dag_run_id`, `source`) left None
    means "not given": `warehouse.writer.load_extract` then takes it from the stored result row, so a reload
    without it (stale refresh, sync, backfill) keeps the grain. `source` is one of `results.source.SOURCES`;
    None lets Cekura's fields tell (`is_cronjob` → cron).
    """
    quarantine = None if quarantine is None else [int(i) for i in quarantine]
    results_df = results_frame(
        [result],
        mode=mode,
        dag_id=dag_id,
        dag_run_id=dag_run_id,
        suite=suite,
        dashboard_url=dashboard_url,
        source=source,
        quarantine=quarantine,
    )
    metric_problems: list[MetricProblem] = []
    count = 0

    def keep(problem: MetricProblem) -> None:
        nonlocal count
        count += 1
        if len(metric_problems) < KEPT_METRIC_PROBLEMS:
            metric_problems.append(problem)

    runs_df, metrics_df, problems = runs_frames(
        runs_of(result) if runs is None else runs,
        result=result,
        skip_unparseable=skip_unparseable,
        chunk_size=chunk_size,
        dag_id=dag_id,
        dag_run_id=dag_run_id,
        mode=mode,
        suite=suite,
        dashboard_url=dashboard_url,
        quarantine=quarantine,
        on_metric_problem=keep,
        source=source,
    )
    return Extract(
        results=results_df,
        runs=runs_df,
        metrics=metrics_df,
        problems=problems,
        metric_problems=metric_problems,
        metric_problem_count=count,
    )
