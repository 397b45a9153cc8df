"""The row-at-a-time extraction as it was before issue 14's speed-up: the reference the fast path must equal.

Frozen on purpose (do not "fix" or speed it up): `test_frames_parity` runs the package's `runs_frames` and this
copy on the same payloads and requires equal frames, equal problems and equal errors. The field parsers
(`parse_timestamp`, `_int_or_none` …) are shared: they are the validating slow path both call, and they have
their own unit tests in `test_frames`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from typing import Any

import pandas as pd

from cekura_livekit.models import parse_status, run_outcome
from cekura_livekit.results.frames import (
    DEFAULT_CHUNK_SIZE,
    RunProblem,
    UnparseableRunsError,
    _bool_or_none,
    _float_or_none,
    _int_or_none,
    _number,
    _ref,
    _str_or_none,
    grain_mode,
    legacy_binary_passed,
    metric_kind,
    parse_duration,
    parse_timestamp,
    result_defaults,
)
from cekura_livekit.results.schema import METRIC_COLUMNS, RUN_COLUMNS, TS
from cekura_livekit.results.source import resolve_source


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
        # Added with issue 19 (not part of the frozen fast-path parity): the result's source, per run.
        "source": defaults.get("source"),
    }
    raw_metrics = _nested(run, "evaluation", "metrics") or []
    return row, [_metric_row(run_id, index, metric) for index, metric in enumerate(raw_metrics)]


def _metric_row(run_id: int, index: int, metric: object) -> dict[str, Any]:
    where = f"evaluation.metrics[{index}]"
    if not isinstance(metric, Mapping):
        raise ValueError(f"{where} is a {type(metric).__name__}, expected an object")
    metric_id = _int_or_none(metric.get("id"), f"{where}.id")
    if metric_id is None:
        raise ValueError(f"{where} has no id")
    value = metric.get("value")
    explanation = metric.get("explanation")
    # Both metric formats (issue 19, after the speed-up): canonical eval_type/passed first, legacy type/score.
    kind = metric_kind(metric.get("eval_type")) or metric_kind(metric.get("type"))
    score = _float_or_none(metric.get("score"), f"{where}.score")
    passed = _bool_or_none(metric.get("passed"), f"{where}.passed")
    if passed is None and kind == "binary":
        passed = legacy_binary_passed(score)
    raw_type = metric.get("type") if metric.get("type") is not None else metric.get("eval_type")
    return {
        "run_id": run_id,
        "metric_id": metric_id,
        "metric_name": _str_or_none(metric.get("name")),
        "metric_type": _str_or_none(raw_type),
        "score": score,
        "value": None if value is None else value if isinstance(value, str) else json.dumps(value),
        "passed": passed,
        "explanation": None if explanation is None else json.dumps(explanation, ensure_ascii=False),
        **_typed_metric(metric, kind, score),
    }


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


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _concat(frames: list[pd.DataFrame], columns: Mapping[str, str]) -> pd.DataFrame:
    if not frames:
        return _typed_frame([], columns)
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True).astype(dict(columns))


def reference_runs_frames(
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
    source: str | None = None,
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
        source=resolve_source(source, result),
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
