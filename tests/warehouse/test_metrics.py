"""Typed metric values, the daily metric table against hand-computed percentiles, and metric shifts (per metric,
`detection.metric_shift`) found as episodes on seeded latency drift and not on noise, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.stats import shift_test
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.tables import (
    CALL_DURATION_METRIC_ID,
    METRIC_DAILY,
)
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run


def _latency(value: float | str | None, *, p50: float | None = None) -> dict[str, Any]:
    metric: dict[str, Any] = {"id": 7, "name": "Latency", "type": "numeric", "score": 90, "value": value}
    metric["extra"] = {"unit": "ms", **({"percentiles": {"p50": p50}} if p50 is not None else {})}
    return metric


def _run(run_id: int, day: str, metrics: list[dict[str, Any]], outcome: str = "passed", **kw: Any) -> dict:
    run = make_run(run_id, day=day, outcome=outcome, **kw)
    run["evaluation"] = {"metrics": metrics}
    return run


def test_metric_values_are_typed_by_cekuras_output_types() -> None:
    run = _run(
        1,
        "2024-05-01",
        [
            _latency("812"),
            {
                "id": 8,
                "name": "Followed script",
                "type": "binary_workflow_adherence",
                "score": 100,
                "value": True,
            },
            {"id": 9, "name": "Politeness", "type": "continuous_qualitative", "score": 73.5, "value": "73.5"},
            {"id": 10, "name": "Call topic", "type": "enum", "score": 0, "enum": "billing"},
            {
                "id": 11,
                "name": "Interruptions",
                "type": "numeric",
                "score": 0,
                "value": None,
                "extra": {"percentiles": {"p50": 2}},
            },
            {"id": 12, "name": "Latency 2", "type": "numeric", "value": "n/a"},
        ],
    )
    metrics = extract(make_result(1, [run])).metrics.set_index("metric_id")
    assert (metrics.loc[7, "metric_kind"], metrics.loc[7, "value_num"], metrics.loc[7, "unit"]) == (
        "numeric",
        812.0,
        "ms",
    )
    assert metrics.loc[8, "metric_kind"] == "binary"
    assert (metrics.loc[9, "metric_kind"], metrics.loc[9, "rating"]) == ("rating", 73.5)
    assert (metrics.loc[10, "metric_kind"], metrics.loc[10, "value_enum"]) == ("enum", "billing")
    assert metrics.loc[11, "value_num"] == 2.0  # no value: the reported p50
    assert metrics["value_num"].isna()[12]  # not a number: NULL, the run still loads
    assert str(metrics["value_num"].dtype) == "Float64"


def _rows(target: WarehouseTarget, table: Any) -> list[dict[str, Any]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        cols, rows = wh.query(
            f"SELECT * FROM {wh.dialect.table(table)} ORDER BY {table.key[0]}, scenario_id, metric_id"
        )
    return [dict(zip(cols, r, strict=True)) for r in rows]


def test_metric_daily_matches_hand_computed_percentiles_and_wilson(warehouse: WarehouseTarget) -> None:
    runs = []
    for i in range(10):  # latencies 100 … 1000 ms; the binary metric passes 9 of 10
        binary = {
            "id": 8,
            "name": "Followed script",
            "type": "binary",
            "score": 100,
            "value": i != 3,
            "passed": i != 3,
        }
        runs.append(_run(i + 1, "2024-05-01", [_latency(100 * (i + 1)), binary]))
    runs.append(
        _run(99, "2024-05-01", [_latency(99_999)], outcome="infra_error")
    )  # not evaluated: not counted
    load_extract(
        warehouse.conn_id,
        extract(make_result(1, runs), mode="managed"),
        warehouse.schema,
        recompute_trends=True,
    )
    rows = {r["metric_id"]: r for r in _rows(warehouse, METRIC_DAILY)}
    latency = rows[7]
    assert (latency["count"], latency["unit"], latency["mode"]) == (10, "ms", "voice/managed")
    # Linear interpolation over 100 … 1000: p50 = 550, p90 = 910, p95 = 955, mean = 550.
    assert (latency["mean"], latency["p50"], latency["p90"], latency["p95"]) == pytest.approx(
        (550, 550, 910, 955)
    )
    binary = rows[8]
    assert (binary["passed"], binary["evaluated"]) == (9, 10)
    assert binary["pass_rate"] == pytest.approx(0.9)
    assert binary["wilson_low"] == pytest.approx(0.5958, abs=1e-4)
    assert binary["wilson_high"] == pytest.approx(0.9821, abs=1e-4)
    duration = rows[CALL_DURATION_METRIC_ID]  # every test run lasts 01:30
    assert (duration["metric_name"], duration["unit"], duration["count"], duration["p95"]) == (
        "call duration",
        "s",
        10,
        90,
    )


def _latency_history(drift: bool, seed: int, first_id: int, scenario: int) -> list[dict[str, Any]]:
    """80 days × 10 calls of skewed (log-normal) latency; with `drift`, the last 20 days run 40 % slower (long
    enough for a series that runs every other day: the weekly report's test alternates chat and voice)."""
    rng = random.Random(seed)
    end = date(2024, 6, 17)
    runs = []
    for back in range(79, -1, -1):
        day = (end - timedelta(days=back)).isoformat()
        for _ in range(10):
            value = rng.lognormvariate(6.6, 0.45) * (1.4 if drift and back < 20 else 1.0)
            # Run ids from first_id × 1000 on: callers spaced their first ids for shorter histories.
            runs.append(_run(first_id * 1000 + len(runs), day, [_latency(round(value))], scenario=scenario))
    return runs


def test_shift_test_hand_computed() -> None:
    # baseline 1, 2, 3 and current 4, 5: U = 6 (every current value beats every baseline value).
    test = shift_test([1, 2, 3], [4, 5])
    assert test.u == 6
    assert test.p_value is not None
    assert test.p_value < 0.1
    assert shift_test([1, 2, 3], [1, 2, 3]).p_value == pytest.approx(0.5 + 0.0, abs=0.2)
    assert shift_test([], [1]).p_value is None
