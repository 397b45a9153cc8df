"""Payload → DataFrame extraction: schema, dtypes, payload variations, and no silent drops."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cekura_livekit.results.frames import (
    METRIC_COLUMNS,
    RESULT_COLUMNS,
    RUN_COLUMNS,
    UnparseableRunsError,
    extract,
    parse_duration,
    parse_timestamp,
    runs_frames,
)
from tests.support.warehouse import make_result, make_run, synthetic_runs


def _dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in frame.dtypes.items()}


def test_frames_have_the_documented_schema_and_dtypes() -> None:
    runs = [make_run(1, day="2024-03-01", metrics=2), make_run(2, day="2024-03-02", outcome="infra_error")]
    ex = extract(make_result(7, runs))
    assert _dtypes(ex.runs) == RUN_COLUMNS
    assert _dtypes(ex.metrics) == METRIC_COLUMNS
    assert _dtypes(ex.results) == RESULT_COLUMNS
    assert str(ex.runs["started_at"].dt.tz) == "UTC"
    assert ex.results.loc[0, "total_runs"] == 2  # counter sent as the string "2"


def test_empty_result_gives_empty_frames_with_the_same_dtypes() -> None:
    ex = extract({"id": 3, "status": "completed", "runs": {}})
    assert ex.runs.empty
    assert ex.metrics.empty
    assert _dtypes(ex.runs) == RUN_COLUMNS
    assert _dtypes(ex.metrics) == METRIC_COLUMNS


def test_runs_as_dict_or_list_give_the_same_frame() -> None:
    runs = [make_run(i, day="2024-03-01", scenario=i % 2 + 1) for i in range(1, 6)]
    by_dict = extract(make_result(1, runs, as_dict=True)).runs
    by_list = extract(make_result(1, runs, as_dict=False)).runs
    pd.testing.assert_frame_equal(by_dict, by_list)


@pytest.mark.parametrize(
    ("outcome", "status", "success"),
    [
        ("passed", "completed", True),
        ("failed_evaluation", "completed", False),
        ("infra_error", "failed", False),
        ("timeout", "timeout", False),
        ("cancelled", "cancelled", False),
    ],
)
def test_outcome_follows_the_status_model(outcome: str, status: str, success: bool) -> None:
    run = make_run(1, day="2024-03-01", outcome=outcome)
    assert (run["status"], run["success"]) == (status, success)
    frame, _, _ = runs_frames([run])
    assert frame.loc[0, "outcome"] == outcome


def test_payload_variations_are_absorbed() -> None:
    runs = [
        # scenario as object, counters and ids as strings, success as a string, naive timestamp
        {
            "id": "10",
            "scenario": {"id": "5", "name": "Refund"},
            "status": "COMPLETED",
            "success": "true",
            "timestamp": "2024-03-01T23:30:00",
            "duration": "1:02:03",
            "agent": "4",
        },
        # scenario null, no optional fields at all, unknown status, offset timestamp
        {
            "id": 11,
            "scenario": None,
            "status": "brand_new_status",
            "executed_at": "2024-03-02T01:30:00+02:00",
        },
        # completed without success: completed does not mean passed
        {"id": 12, "scenario": 6, "scenario_name": "Cancel", "status": "completed", "duration": 42},
    ]
    frame, metrics, problems = runs_frames(runs, result={"id": 9, "agent": {"id": 4, "name": "bot"}})
    assert problems == []
    assert metrics.empty
    row = frame.set_index("run_id")
    assert row.loc[10, "scenario_id"] == 5
    assert row.loc[10, "scenario_name"] == "Refund"
    assert row.loc[10, "outcome"] == "passed"
    assert row.loc[10, "status"] == "completed"
    assert row.loc[10, "duration_s"] == 3723.0
    assert row.loc[10, "started_at"] == pd.Timestamp("2024-03-01T23:30:00Z")
    assert row.loc[10, "agent_name"] == "bot"
    assert row.loc[10, "result_id"] == 9
    assert pd.isna(row.loc[11, "scenario_id"])
    assert pd.isna(row.loc[11, "outcome"])
    assert row.loc[11, "status"] == "brand_new_status"
    # 01:30 at +02:00 is 23:30 UTC the day before: run_date is the UTC day
    assert row.loc[11, "run_date"] == "2024-03-01"
    assert row.loc[12, "outcome"] == "failed_evaluation"
    assert row.loc[12, "duration_s"] == 42.0


def test_metrics_frame_from_evaluation() -> None:
    run = make_run(3, day="2024-03-01")
    run["evaluation"]["metrics"] = [
        {
            "id": 1,
            "name": "Greeting",
            "type": "binary",
            "score": "100",
            "value": True,
            "passed": True,
            "explanation": ["said hello"],
        },
        {"id": "2", "name": "Latency", "type": "numeric", "score": None, "value": 1.25},
        {"id": 3, "name": "Notes", "type": "text", "value": "fine"},
    ]
    _, metrics, _ = runs_frames([run])
    m = metrics.set_index("metric_id")
    assert m.loc[1, "score"] == 100.0
    assert bool(m.loc[1, "passed"]) is True
    assert m.loc[1, "explanation"] == '["said hello"]'
    assert pd.isna(m.loc[2, "score"])
    assert m.loc[2, "value"] == "1.25"
    assert pd.isna(m.loc[2, "passed"])
    assert m.loc[3, "value"] == "fine"
    assert (metrics["run_id"] == 3).all()


def test_unparseable_runs_fail_the_extract_naming_id_and_reason() -> None:
    runs = [
        make_run(1, day="2024-03-01"),
        {**make_run(2, day="2024-03-01"), "duration": "soon"},
        {"status": "completed"},  # no id
        "not a run",
        {**make_run(5, day="2024-03-01"), "timestamp": "yesterday"},
    ]
    with pytest.raises(UnparseableRunsError) as info:
        runs_frames(runs)
    problems = {p.run_id: p.reason for p in info.value.problems}
    assert set(problems) == {"2", "#3", "#4", "5"}
    assert "duration='soon'" in problems["2"]
    assert "no id" in problems["#3"]
    assert "timestamp='yesterday'" in problems["5"]
    assert "skip_unparseable=True" in str(info.value)


def test_skip_unparseable_keeps_the_good_runs_and_reports_the_bad() -> None:
    runs = [make_run(1, day="2024-03-01"), {**make_run(2, day="2024-03-01"), "success": "maybe"}]
    frame, _, problems = runs_frames(runs, skip_unparseable=True)
    assert frame["run_id"].tolist() == [1]
    assert [(p.run_id, "success='maybe'" in p.reason) for p in problems] == [("2", True)]


def test_chunked_build_equals_single_chunk_build() -> None:
    data = list(synthetic_runs(257, metrics=2))
    runs_a, metrics_a, _ = runs_frames(data, chunk_size=10)
    runs_b, metrics_b, _ = runs_frames(data, chunk_size=100_000)
    pd.testing.assert_frame_equal(runs_a, runs_b)
    pd.testing.assert_frame_equal(metrics_a, metrics_b)
    assert len(runs_a) == 257
    assert len(metrics_a) == 514


def test_duplicate_runs_keep_the_last_copy() -> None:
    first = make_run(1, day="2024-03-01", outcome="pending")
    second = make_run(1, day="2024-03-01", outcome="passed")
    frame, _, _ = runs_frames([first, second])
    assert frame["outcome"].tolist() == ["passed"]


def test_frames_are_independent_under_copy_on_write() -> None:
    ex = extract(make_result(1, [make_run(1, day="2024-03-01")]))
    view = ex.runs[ex.runs["outcome"] == "passed"]
    view.loc[:, "agent_name"] = "changed"
    assert ex.runs.loc[0, "agent_name"] == "agent-1"


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("00:00", 0.0),
        ("01:05", 65.0),
        ("12:59", 779.0),
        ("1:02:03", 3723.0),
        (90, 90.0),
        ("90.5", 90.5),
        (None, None),
    ],
)
def test_parse_duration(raw: object, seconds: float | None) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "1:2:3:4", -5, True, math.inf])
def test_parse_duration_rejects(raw: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(raw)


def test_parse_timestamp_is_utc() -> None:
    assert parse_timestamp("2024-03-01T10:00:00Z").isoformat() == "2024-03-01T10:00:00+00:00"  # type: ignore[union-attr]
    assert parse_timestamp("2024-03-01T12:00:00+02:00").hour == 10  # type: ignore[union-attr]
    assert parse_timestamp(None) is None
