"""The fast extraction equals the row-at-a-time reference: same frames, same problems, same errors.

The speed-up (issue 14) replaced per-value helper calls with type checks that fall back to the validating
parsers, per-row dicts with per-column lists, and per-row `pd.Timestamp`s with a column-wise UTC day. Each
of those could silently change a value, a dtype or which error a bad run reports, so every case here runs
both `runs_frames` and the frozen copy in `reference_frames` and compares everything they return or raise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cekura_livekit.results.frames import extract, runs_frames
from tests.results.reference_frames import reference_runs_frames
from tests.support.warehouse import make_run, synthetic_runs

Outcome = tuple[str, Any]


def _outcome(build: Callable[..., Any], runs: list[Any], **kwargs: Any) -> Outcome:
    """What one implementation returns, or the type, message and problems of what it raises."""
    try:
        runs_df, metrics_df, problems = build(runs, **kwargs)
    except Exception as exc:  # compared, not swallowed: both sides must raise the same
        return "raised", (type(exc), str(exc), list(getattr(exc, "problems", [])))
    return "frames", (runs_df, metrics_df, problems)


def assert_same(runs: list[Any], **kwargs: Any) -> None:
    """`runs_frames` and the reference agree on `runs` with these options, value for value and dtype for dtype."""
    fast = _outcome(runs_frames, runs, **kwargs)
    slow = _outcome(reference_runs_frames, runs, **kwargs)
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "raised":
        assert fast[1] == slow[1]
        return
    pd.testing.assert_frame_equal(fast[1][0], slow[1][0], check_exact=True)
    pd.testing.assert_frame_equal(fast[1][1], slow[1][1], check_exact=True)
    assert fast[1][2] == slow[1][2]


# ---------------------------------------------------------------- a hand-made payload of odd values

ODD_TIMESTAMPS: list[object] = [
    "2024-03-01T10:00:00Z",
    "2024-03-01T10:00:00z",
    "2024-03-01T10:00:00+00:00",
    "2024-03-01T01:30:00+02:00",  # the UTC day before
    "2024-03-01T23:30:00-05:30",  # the UTC day after
    "2024-03-01T10:00:00.5Z",
    "2024-03-01T10:00:00.123456+01:00",
    "2024-03-01T10:00:00.123",
    "2024-03-01 10:00:00",
    "  2024-03-01T10:00:00Z  ",
    "2024-03-01",
    "2024-03-01T10:00",
    "20240301T100000",
    1_709_287_200,
    1_709_287_200.25,
    datetime(2024, 3, 1, 10, tzinfo=UTC),
    datetime(2024, 3, 1, 10),
    datetime(2024, 3, 1, 10, tzinfo=timezone(timedelta(hours=-3))),
    None,
    "",
]


def _odd_runs() -> list[Any]:
    """Every accepted variation of every field, and a few of each kind of bad value, on numbered runs."""
    runs: list[Any] = []
    for i, stamp in enumerate(ODD_TIMESTAMPS):
        runs.append({**make_run(100 + i, day="2024-03-01", metrics=1), "timestamp": stamp})
    runs += [
        {"id": "201", "scenario": {"id": "5", "name": 7}, "agent": "4", "personality": {"id": 2.0}},
        {"id": 202.0, "scenario": "6", "scenario_name": "", "agent": {"name": "bot"}, "success": "yes"},
        {"id": 203, "status": " Completed ", "success": 1, "duration": 42, "run_as_text": "t"},
        {"id": 204, "status": "COMPLETED", "success": 0.0, "duration": 42.5, "run_as_text": 1},
        {"id": 205, "status": "running", "success": None, "duration": "1:02:03", "run_as_text": None},
        {"id": 206, "status": "brand_new", "executed_at": "2024-03-02T01:30:00+02:00", "duration": "90.5"},
        {"id": 207, "status": None, "timestamp": None, "executed_at": None, "duration": ""},
        {"id": 208, "status": 3, "agent_name": 12, "personality_name": None, "trace_id": 99},
        {"id": 209, "expected_outcome": {"score": "87.5"}, "metadata": {"ended_reason": 3}},
        {"id": 210, "expected_outcome": None, "metadata": "not an object", "evaluation": None},
        {"id": 211, "error_message": "", "evaluation_status": 1, "result_id": "12"},
        {"id": 212, "scenario": 3, "evaluation": {"metrics": []}},
        {
            "id": 213,
            "scenario": 1,
            "evaluation": {
                "metrics": [
                    {"id": 1, "type": "binary_workflow", "value": False, "passed": "false", "score": 0},
                    {"id": "2", "type": "numeric", "value": "812", "unit": "ms", "score": 1.5},
                    {
                        "id": 3,
                        "type": "numeric",
                        "value": None,
                        "extra": {"unit": "s", "percentiles": {"p50": 2}},
                    },
                    {"id": 4, "type": "numeric", "value": "n/a", "extra": {"percentiles": {"p50": "x"}}},
                    {"id": 5, "type": "numeric", "value": math.inf},
                    {"id": 6, "type": "numeric", "value": True},
                    {"id": 7, "type": "enum", "value": "happy", "passed": None},
                    {"id": 8, "type": "enum", "enum": "sad", "value": {"k": [1, 2]}},
                    {"id": 9, "type": "continuous_qualitative", "score": "73"},
                    {"id": 10, "type": " Rating ", "score": 40.0},
                    {"id": 11, "type": "text", "value": "fine", "explanation": ["naïve → ok", "two"]},
                    {"id": 12, "type": None, "value": 3, "explanation": {"why": None}},
                    {"id": 13, "type": 5, "value": 2.5, "explanation": []},
                    {"id": 14, "name": 9, "value": [True, None], "explanation": "plain text"},
                    {"id": 15.0, "passed": 1, "score": ""},
                ]
            },
        },
        {
            "id": 215,
            "scenario": 1,
            "evaluation": {
                "metrics": [
                    # Cekura's canonical binary form, alone and with the legacy fields beside it
                    {"id": 1, "name": "Greeting", "eval_type": "binary", "passed": False},
                    {
                        "id": 2,
                        "eval_type": "binary",
                        "passed": True,
                        "type": "binary_qualitative",
                        "score": 5,
                    },
                    {
                        "id": 3,
                        "eval_type": "binary",
                        "passed": "true",
                        "type": "binary_qualitative",
                        "score": 0,
                    },
                    # legacy binary without `passed`: the score says it
                    {"id": 4, "type": "binary_workflow_adherence", "score": 5, "value": "true"},
                    {"id": 5, "type": "binary_workflow_adherence", "score": "0"},
                    {"id": 6, "type": "binary_qualitative", "score": 3},
                    {"id": 7, "eval_type": "binary"},
                    # the other eval_types, and unknown ones
                    {"id": 8, "eval_type": "boolean", "passed": True},
                    {"id": 9, "eval_type": "numeric", "value": "640", "extra": {"unit": "ms"}},
                    {"id": 10, "eval_type": "continuous_qualitative", "score": 81.5},
                    {"id": 11, "eval_type": "enum", "value": "resolved"},
                    {"id": 12, "eval_type": "sentiment", "type": "enum", "value": "calm"},
                    {"id": 13, "eval_type": "sentiment", "passed": True},
                    {"id": 14, "eval_type": 3, "type": None},
                ]
            },
        },
        # the same run id twice: the last, most complete copy is kept
        {"id": 214, "status": "running"},
        {"id": 214, "status": "completed", "success": True},
        # bad runs, one per validating parser
        {"status": "completed"},
        "not a run",
        None,
        {"id": "abc"},
        {"id": True},
        {"id": 1.5},
        {"id": 301, "scenario": {"id": "x"}},
        {"id": 302, "agent": [1]},
        {"id": 303, "personality": True},
        {"id": 304, "success": "maybe"},
        {"id": 305, "success": 2},
        {"id": 306, "timestamp": "yesterday"},
        {"id": 307, "executed_at": "later"},
        {"id": 308, "timestamp": "2024-03-01T10:00:00Z", "executed_at": "later"},  # executed_at unread
        {"id": 309, "result_id": "1.5"},
        {"id": 310, "duration": "soon"},
        {"id": 311, "duration": -1},
        {"id": 312, "duration": True},
        {"id": 313, "expected_outcome": {"score": "high"}},
        {"id": 314, "expected_outcome": {"score": math.nan}},
        {"id": 315, "run_as_text": "perhaps"},
        {"id": 316, "evaluation": {"metrics": ["not a metric"]}},
        {"id": 317, "evaluation": {"metrics": [{"name": "no id"}]}},
        {"id": 318, "evaluation": {"metrics": [{"id": 1}, {"id": 2, "score": "bad"}]}},
        {"id": 319, "evaluation": {"metrics": [{"id": 1, "passed": "sometimes"}]}},
        {"id": 320, "evaluation": {"metrics": [{"id": 1, "score": True}]}},
        {"id": 321, "success": "maybe", "duration": "soon"},  # the first bad field is the one reported
        {"id": 322, "evaluation": {"metrics": [{"id": 1, "score": math.inf}]}},
        {"id": 323, "evaluation": {"metrics": [{"id": 1, "score": math.nan, "type": "rating"}]}},
        {"id": 324, "expected_outcome": {"score": -math.inf}},
        {"id": "", "scenario": "x"},
    ]
    # Bad from the k-th validated field on: the reported error pins the order the fields are read in.
    for k in range(len(BAD_FIELDS)):
        runs.append({"id": 400 + k, **dict(BAD_FIELDS[k:])})
    return runs


#: One bad value per validated field, in the order the reference reads them.
BAD_FIELDS: list[tuple[str, object]] = [
    ("scenario", {"id": "x"}),
    ("agent", "y"),
    ("personality", [1]),
    ("success", "maybe"),
    ("timestamp", "yesterday"),
    ("result_id", 1.5),
    ("duration", "soon"),
    ("expected_outcome", {"score": "high"}),
    ("run_as_text", "perhaps"),
    ("evaluation", {"metrics": [{"id": 1, "score": "bad", "passed": "x"}]}),
]


@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("chunk_size", [1, 7, 10_000])
def test_odd_payload_gives_the_reference_frames_problems_and_errors(skip: bool, chunk_size: int) -> None:
    assert_same(_odd_runs(), skip_unparseable=skip, chunk_size=chunk_size)


@pytest.mark.parametrize(
    "context",
    [
        {},
        {
            "mode": "managed",
            "suite": "nightly",
            "dag_id": "d",
            "dag_run_id": "r",
            "dashboard_url": "https://x",
        },
        {"mode": "chat", "quarantine": [1, 3, 5]},
        {"mode": "byo", "quarantine": ["2"]},
        {"result": {"id": 9, "agent": {"id": 4, "name": "bot"}, "created_at": "2024-02-29T23:00:00-02:00"}},
        {"result": {"id": "9", "agent": 4, "agent_name": "agent-4", "run_as_text": True}, "mode": "managed"},
    ],
)
def test_result_defaults_and_context_reach_every_row_as_before(context: dict[str, Any]) -> None:
    assert_same(_odd_runs(), skip_unparseable=True, **context)


def test_only_good_runs_give_the_reference_frames_without_problems() -> None:
    good = _odd_runs()[: len(ODD_TIMESTAMPS) + 15]
    assert_same(good, chunk_size=5)
    _, metrics, problems = runs_frames(good)
    assert problems == []
    assert len(metrics) > 0


def test_synthetic_payload_in_many_chunks_equals_the_reference() -> None:
    assert_same(list(synthetic_runs(2_345, metrics=3)), chunk_size=1_000, mode="managed", quarantine=[2, 4])


def test_empty_input_equals_the_reference() -> None:
    assert_same([])
    assert_same(["only bad"], skip_unparseable=True)


def test_extract_reports_the_same_problems_through_on_problem() -> None:
    seen: list[Any] = []
    ex = extract({"id": 1}, _odd_runs(), skip_unparseable=True)
    runs_frames(_odd_runs(), skip_unparseable=True, on_problem=seen.append)
    assert seen == ex.problems
    assert len(ex.problems) == 30 + len(BAD_FIELDS)
    assert "308" not in {p.run_id for p in ex.problems}  # `executed_at` is only read without a `timestamp`


# ---------------------------------------------------------------- generated payloads

_texts = st.text(max_size=6)
_ints = st.integers(-3, 40) | st.integers(-(2**40), 2**40)
_numbers = _ints | st.floats() | st.integers(0, 400).map(str) | st.floats(0, 500).map(repr)
_bools = st.booleans() | st.sampled_from(
    ["true", "False", "yes", "no", "t", "f", "1", "0", 0, 1, 2, "", "maybe"]
)
_odd = st.none() | st.booleans() | _ints | st.floats() | _texts | st.lists(_ints, max_size=2)
_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def _timestamps(draw: st.DrawFn) -> object:
    """Timestamps in every form the parser meets: ISO with 'Z', offsets, fractions, naive, epochs, objects."""
    moment = draw(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)))
    zone = draw(st.none() | _offsets)
    aware = moment if zone is None else moment.replace(tzinfo=zone)
    form = draw(st.sampled_from(["iso", "Z", "z", "space", "seconds", "date", "pad", "epoch", "object"]))
    if form == "Z":
        return moment.isoformat() + "Z"
    if form == "z":
        return moment.isoformat(timespec="milliseconds") + "z"
    if form == "space":
        return aware.isoformat(sep=" ")
    if form == "seconds":
        return aware.isoformat(timespec="seconds")
    if form == "date":
        return moment.date().isoformat()
    if form == "pad":
        return f" {aware.isoformat()} "
    if form == "epoch":
        return draw(st.integers(0, 2**32) | st.floats(0, 2**32))
    return aware if form == "object" else aware.isoformat()


_refs = (
    _ints
    | st.integers(0, 40).map(str)
    | st.fixed_dictionaries({}, optional={"id": _ints | _odd, "name": _odd})
)
_metrics = st.fixed_dictionaries(
    {"id": st.integers(1, 4) | _odd},
    optional={
        "name": _odd,
        "type": st.sampled_from(
            ["binary", "binary_qualitative", "numeric", "enum", "rating", "text", "RATING "]
        )
        | _odd,
        "score": _numbers | st.sampled_from([0, 5, 5.0, "5", "0"]) | _odd,
        "value": _odd | st.dictionaries(_texts, _odd, max_size=2),
        "eval_type": st.sampled_from(["binary", "boolean", "numeric", "enum", "continuous_qualitative", "x"])
        | _odd,
        "passed": _bools | _odd,
        "explanation": st.lists(_texts, max_size=2) | _odd,
        "enum": _odd,
        "unit": _odd,
        "extra": st.fixed_dictionaries(
            {},
            optional={
                "unit": _odd,
                "percentiles": st.fixed_dictionaries({}, optional={"p50": _numbers | _odd}),
            },
        )
        | _odd,
    },
)
_runs = st.fixed_dictionaries(
    {"id": st.integers(1, 30) | st.integers(1, 30).map(str) | _odd},
    optional={
        "result_id": _ints | _odd,
        "scenario": _refs | _odd,
        "agent": _refs | _odd,
        "personality": _refs | _odd,
        "agent_name": _odd,
        "scenario_name": _odd,
        "personality_name": _odd,
        "status": st.sampled_from(["completed", "failed", "TIMEOUT", " cancelled", "running", "new"]) | _odd,
        "success": _bools | _odd,
        "evaluation_status": _odd,
        "error_message": _odd,
        "metadata": st.fixed_dictionaries({}, optional={"ended_reason": _odd}) | _odd,
        "duration": st.sampled_from(["00:00", "1:05", "1:02:03", "90.5", "soon", "1:2:3:4"])
        | _numbers
        | _odd,
        "expected_outcome": st.fixed_dictionaries({}, optional={"score": _numbers | _odd}) | _odd,
        "timestamp": _timestamps() | _odd,
        "executed_at": _timestamps() | _odd,
        "run_as_text": _bools | _odd,
        "trace_id": _odd,
        "evaluation": st.fixed_dictionaries({}, optional={"metrics": st.lists(_metrics, max_size=3) | _odd})
        | _odd,
    },
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_runs | _odd, max_size=8),
    st.booleans(),
    st.integers(1, 4),
    st.sampled_from([None, "managed", "byo", "chat"]),
    st.lists(st.integers(0, 40), max_size=3),
)
def test_generated_payloads_give_the_reference_outcome(
    runs: list[Any], skip: bool, chunk_size: int, mode: str | None, quarantine: list[int]
) -> None:
    assert_same(runs, skip_unparseable=skip, chunk_size=chunk_size, mode=mode, quarantine=quarantine)
