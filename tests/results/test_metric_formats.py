"""Both of Cekura's metric formats reach the warehouse typed; a metric of neither is reported, never lost.

Cekura's current binary metrics are `{eval_type: "binary", passed: bool}`; the legacy `type: binary_*` /
`score: 5|0` fields are still sent beside them "and will be removed". The extract used to read only `type`, so
a canonical-only metric got `metric_kind = None` and its pass rate vanished without a word (issue 19).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import pytest

from cekura_livekit.results.frames import (
    KEPT_METRIC_PROBLEMS,
    MetricProblem,
    extract,
    legacy_binary_passed,
    metric_kind,
    runs_frames,
)
from tests.support.warehouse import make_result, make_run


def _metrics(*metrics: dict[str, Any]) -> pd.DataFrame:
    run = make_run(1, day="2024-03-01")
    run["evaluation"]["metrics"] = list(metrics)
    _, frame, _ = runs_frames([run])
    return frame.set_index("metric_id")


def test_a_canonical_binary_metric_is_binary_with_its_verdict() -> None:
    m = _metrics(
        {"id": 1, "name": "Greeting", "eval_type": "binary", "passed": False, "explanation": ["no hello"]},
        {"id": 2, "name": "Tone", "eval_type": "binary", "passed": True},
    )
    assert m.loc[1, "metric_kind"] == "binary"
    assert bool(m.loc[1, "passed"]) is False
    assert m.loc[1, "metric_type"] == "binary"
    assert pd.isna(m.loc[1, "score"])
    assert bool(m.loc[2, "passed"]) is True


def test_a_legacy_binary_metric_without_passed_takes_its_verdict_from_the_score() -> None:
    m = _metrics(
        {"id": 1, "type": "binary_workflow_adherence", "score": 5},
        {"id": 2, "type": "binary_qualitative", "score": "0"},
    )
    assert list(m["metric_kind"]) == ["binary", "binary"]
    assert list(m["passed"]) == [True, False]
    assert list(m["metric_type"]) == ["binary_workflow_adherence", "binary_qualitative"]
    assert list(m["score"]) == [5.0, 0.0]


def test_with_both_forms_the_canonical_fields_win() -> None:
    m = _metrics({"id": 1, "eval_type": "binary", "passed": False, "type": "binary_qualitative", "score": 5})
    assert m.loc[1, "metric_kind"] == "binary"
    assert bool(m.loc[1, "passed"]) is False
    assert m.loc[1, "metric_type"] == "binary_qualitative"  # the legacy label is kept while it is sent


@pytest.mark.parametrize(
    ("eval_type", "kind"),
    [
        ("binary", "binary"),
        ("boolean", "binary"),  # what Cekura's CLI writes
        ("binary_qualitative", "binary"),
        ("numeric", "numeric"),
        ("continuous_qualitative", "rating"),
        ("enum", "enum"),
        (" Numeric ", "numeric"),
        ("sentiment", None),
        (None, None),
        (3, None),
    ],
)
def test_every_documented_eval_type_maps_to_a_kind(eval_type: object, kind: str | None) -> None:
    assert metric_kind(eval_type) == kind


def test_canonical_eval_types_fill_the_typed_columns() -> None:
    m = _metrics(
        {"id": 1, "eval_type": "numeric", "value": "640", "extra": {"unit": "ms"}},
        {"id": 2, "eval_type": "continuous_qualitative", "score": 81.5},
        {"id": 3, "eval_type": "enum", "value": "resolved"},
    )
    assert m.loc[1, "value_num"] == 640.0
    assert m.loc[1, "unit"] == "ms"
    assert m.loc[2, "rating"] == 81.5
    assert m.loc[3, "value_enum"] == "resolved"


@pytest.mark.parametrize(
    ("score", "passed"), [(5.0, True), (0.0, False), (2.5, None), (100.0, None), (None, None)]
)
def test_legacy_binary_scores(score: float | None, passed: bool | None) -> None:
    assert legacy_binary_passed(score) is passed


def test_a_metric_of_unknown_shape_is_loaded_reported_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    run = make_run(4, day="2024-03-01")
    run["evaluation"]["metrics"] = [
        {"id": 1, "name": "Greeting", "eval_type": "binary", "passed": True},
        {"id": 2, "name": "Mood", "eval_type": "sentiment", "value": "calm"},
        {"id": 3, "name": "Escalation", "eval_type": "binary"},
        {"id": 4, "name": "Legacy odd", "type": "binary_qualitative", "score": 3},
    ]
    with caplog.at_level(logging.WARNING, logger="cekura_livekit.results.frames"):
        ex = extract(make_result(9, [run]))
    assert sorted(ex.metrics["metric_id"]) == [1, 2, 3, 4]  # nothing dropped
    assert ex.problems == []  # the run itself is fine
    assert ex.metric_problem_count == 3
    assert [(p.run_id, p.metric_id) for p in ex.metric_problems] == [("4", "2"), ("4", "3"), ("4", "4")]
    assert (
        "'sentiment' is neither a Cekura eval_type nor a legacy metric type" in ex.metric_problems[0].reason
    )
    assert "binary metric with neither `passed` nor a legacy score" in ex.metric_problems[1].reason
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "result 9: 3 metric result(s) of an unknown shape" in logged
    for name in ("metric 2 (Mood)", "metric 3 (Escalation)", "metric 4 (Legacy odd)"):
        assert name in logged


def test_metric_problems_are_counted_all_but_kept_bounded() -> None:
    runs = []
    for i in range(KEPT_METRIC_PROBLEMS + 30):
        run = make_run(100 + i, day="2024-03-01")
        run["evaluation"]["metrics"] = [{"id": 1, "type": "mystery"}]
        runs.append(run)
    seen: list[MetricProblem] = []
    _, metrics, _ = runs_frames(runs, on_metric_problem=seen.append)
    assert len(seen) == len(metrics) == KEPT_METRIC_PROBLEMS + 30
    ex = extract(make_result(1, runs))
    assert ex.metric_problem_count == KEPT_METRIC_PROBLEMS + 30
    assert len(ex.metric_problems) == KEPT_METRIC_PROBLEMS


def test_a_skipped_run_reports_its_own_problem_not_its_metrics() -> None:
    run = make_run(5, day="2024-03-01")
    run["evaluation"]["metrics"] = [{"id": 1, "type": "mystery"}, {"id": 2, "passed": "sometimes"}]
    ex = extract(make_result(1, [run]), skip_unparseable=True)
    assert [p.run_id for p in ex.problems] == ["5"]
    assert ex.metric_problem_count == 0
