"""Property-based: any JSON shape from the API yields a frame/snapshot or the project's own typed error.

Cekura's answers are parsed in three places (the wait loop's snapshots, the status models, the warehouse
frames). Whatever JSON arrives — a list where an object was expected, a string id, a nested null — the
result must be a value or a `ValueError` with our message (`MalformedPayloadError`, `UnparseableRunsError`),
never a KeyError/TypeError/AttributeError from deep inside that a task would report as a crash.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cekura_livekit.batch.wait import completion_event, snapshot_of_result, snapshot_of_runs
from cekura_livekit.models import (
    BatchProgress,
    ResultSummary,
    parse_count,
    parse_status,
    run_outcome,
    runs_of,
)
from cekura_livekit.results.frames import extract

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
#: Plausible keys with arbitrary values: most examples get past the first `isinstance` check.
RUN_KEYS = [
    "id",
    "status",
    "success",
    "scenario",
    "scenario_id",
    "scenario_name",
    "agent",
    "duration",
    "timestamp",
    "created_at",
    "metrics",
    "evaluation",
    "error",
    "result",
]
RESULT_KEYS = ["id", "name", "status", "runs", "total_runs_count", "agent", "success_rate", "created_at"]


def _shaped(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=dict.fromkeys(keys, json_values))


runs = st.lists(_shaped(RUN_KEYS) | json_values, max_size=5)
results = _shaped(RESULT_KEYS) | st.fixed_dictionaries(
    {"id": st.integers(1, 10**6)}, optional=dict.fromkeys(RESULT_KEYS[1:], json_values)
)
results = results | st.fixed_dictionaries(
    {"id": st.integers(1, 10**6), "runs": st.dictionaries(st.text(max_size=4), _shaped(RUN_KEYS), max_size=4)}
)


def _typed(exc: BaseException) -> None:
    """The only acceptable failure: our ValueError, with a message a person can act on."""
    assert isinstance(exc, ValueError), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip()


@SETTINGS
@given(results)
def test_result_snapshots_parse_or_raise_typed(result: dict[str, Any]) -> None:
    try:
        snap = snapshot_of_result(result)
    except Exception as exc:
        _typed(exc)
        return
    summary = snap.summary()
    assert summary["total"] >= 0
    completion_event(snap, [])  # the event the trigger sends must build from any snapshot


@SETTINGS
@given(runs, st.lists(st.integers(1, 10**6), min_size=1, max_size=5))
def test_run_snapshots_parse_or_raise_typed(items: list[Any], run_ids: list[int]) -> None:
    try:
        snap = snapshot_of_runs(items, run_ids)
    except Exception as exc:
        _typed(exc)
        return
    assert snap.progress.total >= 0


@SETTINGS
@given(json_values)
def test_models_parse_any_value_or_raise_typed(value: Any) -> None:
    parse_status(value)  # unknown statuses map to a status, never raise
    run_outcome(parse_status(value), value)
    try:
        parse_count(value)
    except Exception as exc:
        _typed(exc)
    for payload in ({"runs": value}, {"id": value, "runs": []}):
        try:
            runs_of(payload)
            ResultSummary.from_result(payload)
        except Exception as exc:
            _typed(exc)
    try:
        BatchProgress.from_runs(value if isinstance(value, list) else [value], total=None)
    except Exception as exc:
        _typed(exc)


@pytest.mark.slow
@SETTINGS
@given(results, runs, st.booleans())
def test_frames_extract_any_payload_or_raise_typed(
    result: dict[str, Any], items: list[Any], skip: bool
) -> None:
    try:
        frames = extract(result, items, skip_unparseable=skip)
    except Exception as exc:
        _typed(exc)
        return
    assert len(frames.results) <= 1
    assert len(frames.runs) + len(frames.problems) <= len(items)
