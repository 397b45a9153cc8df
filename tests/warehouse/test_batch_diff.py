"""Batch diff on a hand-built pair of batches of one suite (SQLite and PostgreSQL), logged by the load."""

from __future__ import annotations

import logging
from typing import Any

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.tables import BATCH_DIFFS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run


def _batch(result_id: int, plan: dict[int, list[str]], first_id: int) -> dict[str, Any]:
    runs = []
    for scenario, outcomes in plan.items():
        for outcome in outcomes:
            runs.append(
                make_run(
                    first_id + len(runs),
                    day="2024-05-01",
                    outcome=outcome,
                    scenario=scenario,
                    result_id=result_id,
                )
            )
    return make_result(result_id, runs)


def _load(target: WarehouseTarget, result: dict[str, Any], suite: str) -> Any:
    return load_extract(target.conn_id, extract(result, mode="managed", suite=suite), target.schema)


def test_batch_diff_against_the_previous_batch_of_the_same_suite(
    warehouse: WarehouseTarget,
) -> None:
    first = _batch(
        1, {1: ["passed", "passed"], 2: ["failed_evaluation"], 3: ["failed_evaluation"], 4: ["passed"]}, 1
    )
    other_suite = _batch(
        2, {1: ["passed"], 2: ["failed_evaluation"]}, 100
    )  # another suite: never the previous
    second = _batch(
        3,
        {
            1: ["passed", "failed_evaluation"],
            2: ["passed"],
            3: ["failed_evaluation"],
            5: ["infra_error"],
            6: ["passed"],
        },
        200,
    )
    assert _load(warehouse, first, "nightly").batch_diff == {
        "1": {
            "newly_failing": 0,
            "fixed": 0,
            "still_failing": 0,
            "still_passing": 0,
            "new": 4,
            "not_run": 0,
            "failing_as_usual": 0,
        }
    }
    _load(warehouse, other_suite, "smoke")
    # A handler of our own: Airflow's logging setup may replace pytest's capture handlers mid-session.
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("cekura_livekit.warehouse.writer")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        summary = _load(warehouse, second, "nightly")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    logged = "\n".join(lines)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        _cols, rows = wh.query(
            f"SELECT scenario_id, change, previous_result_id FROM {wh.dialect.table(BATCH_DIFFS)} "
            "WHERE result_id = 3 ORDER BY scenario_id"
        )
    assert rows == [
        (1, "newly_failing", 1),
        (2, "fixed", 1),
        (3, "still_failing", 1),
        (4, "not_run", 1),
        (6, "new", 1),  # scenario 5 only had an infra error: not run in either batch
    ]
    assert summary.batch_diff["3"]["newly_failing"] == 1
    assert "batch diff vs result 1: newly_failing 1, fixed 1, still_failing 1, new 1, not_run 1" in logged
    assert "newly_failing: scenario-1" in logged
    # Reloading the batch rewrites its diff, it does not add to it.
    _load(warehouse, second, "nightly")
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh:
        _, again = wh.query(f"SELECT COUNT(*) FROM {wh.dialect.table(BATCH_DIFFS)} WHERE result_id = 3")
    assert again == [(5,)]
