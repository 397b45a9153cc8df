"""Cekura result payloads → tidy pandas frames with a fixed, documented schema.

Why a fixed schema: the warehouse tables, the trend SQL and the report all read these columns by name and
type, and the API's payloads vary (runs as dict or list, counters as strings, `scenario` as int, object or
null, optional fields missing). Every variation is absorbed here, once, and a run that cannot be parsed is
reported by id and reason instead of being dropped.

Frames are built in chunks (`chunk_size` runs at a time) from an iterable, so 100,000 runs never exist
as an intermediate list of per-row dicts next to the final frame: memory stays bounded by the columns.

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
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import pandas as pd

from cekura_livekit.models import BYO, CHAT, MANAGED, parse_count, parse_status, run_outcome, runs_of
from cekura_livekit.results.schema import (
    METRIC_COLUMNS,
    RESULT_COLUMNS,
    RUN_COLUMNS,
    TS,
)

DEFAULT_CHUNK_SIZE = 10_000


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


@dataclass
class Extract:
    """The frames of one result, plus the runs that were skipped (only when told to skip)."""

    results: pd.DataFrame
    runs: pd.DataFrame
    metrics: pd.DataFrame
    problems: list[RunProblem] = field(default_factory=list)


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


def _nested(run: Mapping[str, Any], parent: str, key: str) -> Any:
    """`run[parent][key]`, or None when the parent is absent or not an object."""
    value = run.get(parent)
    return value.get(key) if isinstance(value, Mapping) else None


def _started_at(run: Mapping[str, Any], defaults: Mapping[str, Any]) -> datetime | None:
    """When the run started: `timestamp`, else `executed_at`, else the result's creation time."""
    started = parse_timestamp(run.get("timestamp"), "timestamp") or parse_timestamp(
        run.get("executed_at"), "executed_at"
    )
    return started if started is not None else defaults.get("created_at")


def _or_default(value: Any, defaults: Mapping[str, Any], key: str) -> Any:
    return value if value is not None else defaults.get(key)


def _run_row(
    run: Mapping[str, Any], defaults: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One run → (run row, metric rows). Raises ValueError naming the field on bad input."""
    run_id = _int_or_none(run.get("id"), "id")
    if run_id is None:
        raise ValueError("run has no id")
    scenario_id, scenario_label = _ref(run.get("scenario"), "scenario")
    agent_id, agent_label = _ref(run.get("agent"), "agent")
    personality_id, personality_label = _ref(run.get("personality"), "personality")
    status_raw = run.get("status")
    success = _bool_or_none(run.get("success"), "success")
    outcome = run_outcome(parse_status(status_raw), success)
    started = _started_at(run, defaults)
    row = {
        "run_id": run_id,
        "result_id": _or_default(_int_or_none(run.get("result_id"), "result_id"), defaults, "result_id"),
        "agent_id": _or_default(agent_id, defaults, "agent_id"),
        "agent_name": _str_or_none(run.get("agent_name")) or agent_label or defaults.get("agent_name"),
        "scenario_id": scenario_id,
        "scenario_name": _str_or_none(run.get("scenario_name")) or scenario_label,
        "personality_id": personality_id,
        "personality_name": _str_or_none(run.get("personality_name")) or personality_label,
        "status": str(status_raw).strip().lower() if status_raw is not None else None,
        "success": success,
        "evaluation_status": _str_or_none(run.get("evaluation_status")),
        "outcome": outcome.value if outcome is not None else None,
        "error_message": _str_or_none(run.get("error_message")),
        "ended_reason": _str_or_none(_nested(run, "metadata", "ended_reason")),
        "duration_s": parse_duration(run.get("duration")),
        "expected_outcome_score": _float_or_none(
            _nested(run, "expected_outcome", "score"), "expected_outcome.score"
        ),
        "started_at": started,
        "run_date": pd.Timestamp(started.date()) if started is not None else None,
        "run_as_text": _bool_or_none(run.get("run_as_text"), "run_as_text"),
        "mode": grain_mode(
            defaults.get("mode"),
            _or_default(_bool_or_none(run.get("run_as_text"), "run_as_text"), defaults, "run_as_text"),
        ),
        "suite": defaults.get("suite") or "",
        "dashboard_url": defaults.get("dashboard_url"),
        "quarantined": scenario_id in (defaults.get("quarantine") or ()),
        "trace_id": _str_or_none(run.get("trace_id")),
        "dag_id": defaults.get("dag_id"),
        "dag_run_id": defaults.get("dag_run_id"),
    }
    raw_metrics = _nested(run, "evaluation", "metrics") or []
    return row, [_metric_row(run_id, index, metric) for index, metric in enumerate(raw_metrics)]


_ROOMS = {MANAGED: "managed", BYO: "byo", CHAT: "byo"}


def grain_mode(submission_mode: str | None, run_as_text: bool | None) -> str:
    """The mode a rate is kept apart by: ``<voice|chat>/<managed|byo|unknown>``.

    Voice or chat: the run's (else its result's) `run_as_text`, or the `chat` submission mode; rooms: who
    created them (`managed` by Cekura, `byo` = this project's own rooms incl. chat), `unknown` for loads
    that did not say (library users calling `extract` without `mode`).
    """
    channel = "chat" if run_as_text or submission_mode == CHAT else "voice"
    return f"{channel}/{_ROOMS.get(submission_mode or '', 'unknown')}"


def _metric_row(run_id: int, index: int, metric: object) -> dict[str, Any]:
    where = f"evaluation.metrics[{index}]"
    if not isinstance(metric, Mapping):
        raise ValueError(f"{where} is a {type(metric).__name__}, expected an object")
    metric_id = _int_or_none(metric.get("id"), f"{where}.id")
    if metric_id is None:
        raise ValueError(f"{where} has no id")
    value = metric.get("value")
    explanation = metric.get("explanation")
    kind = metric_kind(metric.get("type"))
    score = _float_or_none(metric.get("score"), f"{where}.score")
    return {
        "run_id": run_id,
        "metric_id": metric_id,
        "metric_name": _str_or_none(metric.get("name")),
        "metric_type": _str_or_none(metric.get("type")),
        "score": score,
        "value": None if value is None else value if isinstance(value, str) else json.dumps(value),
        "passed": _bool_or_none(metric.get("passed"), f"{where}.passed"),
        "explanation": None if explanation is None else json.dumps(explanation, ensure_ascii=False),
        **_typed_metric(metric, kind, score),
    }


#: Cekura's metric output types → the four kinds the warehouse types (`binary_*` variants are binary).
_KINDS = {
    "binary": "binary",
    "continuous_qualitative": "rating",
    "rating": "rating",
    "numeric": "numeric",
    "enum": "enum",
}


def metric_kind(raw: object) -> str | None:
    """binary / rating / numeric / enum from Cekura's `type` (None when absent or unknown)."""
    text = _str_or_none(raw)
    if text is None:
        return None
    text = text.strip().lower()
    return "binary" if text.startswith("binary") else _KINDS.get(text)


def _typed_metric(metric: Mapping[str, Any], kind: str | None, score: float | None) -> dict[str, Any]:
    """The typed columns: a numeric value (else the reported p50) with its unit, the enum choice, the rating."""
    raw_extra = metric.get("extra")
    extra: Mapping[str, Any] = raw_extra if isinstance(raw_extra, Mapping) else {}
    value_num = None
    if kind == "numeric":
        value_num = _number(metric.get("value"))
        if value_num is None:
            value_num = _number(_nested(extra, "percentiles", "p50"))
    enum = _str_or_none(metric.get("enum")) or (_str_or_none(metric.get("value")) if kind == "enum" else None)
    return {
        "metric_kind": kind,
        "value_num": value_num,
        "unit": _str_or_none(metric.get("unit")) or _str_or_none(extra.get("unit"))
        if kind == "numeric"
        else None,
        "value_enum": enum if kind == "enum" else None,
        "rating": score if kind == "rating" else None,
    }


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
) -> tuple[pd.DataFrame, pd.DataFrame, list[RunProblem]]:
    """(runs frame, metrics frame, problems) from any iterable of run objects, built chunk by chunk.

    Raises `UnparseableRunsError` listing every bad run unless `skip_unparseable` is true.
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
    )
    run_parts: list[pd.DataFrame] = []
    metric_parts: list[pd.DataFrame] = []
    problems: list[RunProblem] = []
    position = 0
    for chunk in _chunks(runs, chunk_size):
        run_rows: list[dict[str, Any]] = []
        metric_rows: list[dict[str, Any]] = []
        for run in chunk:
            position += 1
            if not isinstance(run, Mapping):
                problem = RunProblem(f"#{position}", f"is a {type(run).__name__}, expected an object")
            else:
                try:
                    row, metrics = _run_row(run, defaults)
                except ValueError as exc:
                    problem = RunProblem(str(run.get("id", f"#{position}")), str(exc))
                else:
                    run_rows.append(row)
                    metric_rows.extend(metrics)
                    continue
            problems.append(problem)
            if on_problem is not None:
                on_problem(problem)
        run_parts.append(_typed_frame(run_rows, RUN_COLUMNS))
        if metric_rows:
            metric_parts.append(_typed_frame(metric_rows, METRIC_COLUMNS))
        del run_rows, metric_rows, chunk
    if problems and not skip_unparseable:
        raise UnparseableRunsError(problems)
    runs_df = _concat(run_parts, RUN_COLUMNS)
    metrics_df = _concat(metric_parts, METRIC_COLUMNS)
    # A run listed twice (detail view plus runs list) keeps its last, most complete copy.
    runs_df = runs_df.drop_duplicates("run_id", keep="last", ignore_index=True)
    metrics_df = metrics_df.drop_duplicates(["run_id", "metric_id"], keep="last", ignore_index=True)
    return runs_df, metrics_df, problems


def results_frame(
    results: Iterable[Mapping[str, Any]],
    *,
    mode: str | None = None,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    suite: str | None = None,
    dashboard_url: str | None = None,
) -> pd.DataFrame:
    """One row per submitted batch. Counters are parsed defensively; `success_rate` is not trusted."""
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
) -> Extract:
    """All three frames of one finished result; `runs` defaults to the runs embedded in the result."""
    results_df = results_frame(
        [result], mode=mode, dag_id=dag_id, dag_run_id=dag_run_id, suite=suite, dashboard_url=dashboard_url
    )
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
    )
    return Extract(results=results_df, runs=runs_df, metrics=metrics_df, problems=problems)
