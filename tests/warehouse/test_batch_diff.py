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
            f"SELECT scenario_id, {wh.dialect.quote('change')}, previous_result_id FROM {wh.dialect.table(BATCH_DIFFS)} "
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


def _day_batch(result_id: int, day: str, plan: dict[int, list[str]]) -> dict[str, Any]:
    runs = []
    for scenario, outcomes in plan.items():
        for outcome in outcomes:
            runs.append(
                make_run(
                    1000 * result_id + len(runs),
                    day=day,
                    outcome=outcome,
                    scenario=scenario,
                    result_id=result_id,
                )
            )
    return make_result(result_id, runs)


def _changes(target: WarehouseTarget, result_id: int) -> list[tuple[Any, ...]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        _, rows = wh.query(
            f"SELECT scenario_id, {wh.dialect.quote('change')}, previous_result_id, chance FROM {wh.dialect.table(BATCH_DIFFS)} "
            f"WHERE result_id = {result_id} ORDER BY scenario_id"
        )
    return rows


def test_one_usual_failure_is_not_news_and_an_unlikely_one_is(warehouse: WarehouseTarget) -> None:
    """Issue 25.7: scenario 1 fails now and then (3 of 40 runs); one failure in a batch after a clean one is
    `failing_as_usual` (likely by chance), while scenario 2, which never failed, failing 3 of 5 is news."""
    ok, one_fail = ["passed"] * 5, ["passed"] * 4 + ["failed_evaluation"]
    for i in range(1, 9):
        plan = {1: one_fail if i in (2, 4, 6) else ok, 2: ok}
        _load(warehouse, _day_batch(i, f"2024-05-0{i}", plan), "nightly")
    _load(
        warehouse,
        _day_batch(9, "2024-05-09", {1: one_fail, 2: ["passed"] * 2 + ["failed_evaluation"] * 3}),
        "nightly",
    )
    (s1, c1, p1, chance1), (s2, c2, p2, chance2) = _changes(warehouse, 9)
    assert (s1, c1, p1) == (1, "failing_as_usual", 8)
    assert chance1 > 0.2  # ~8 % failures: one in five runs is common
    assert (s2, c2, p2) == (2, "newly_failing", 8)
    assert chance2 < 1e-4


def test_a_late_batch_re_diffs_the_batch_after_it(warehouse: WarehouseTarget) -> None:
    """Issue 25.7: batch 3 was diffed against batch 1 while batch 2 was late; when 2 lands, 3 is re-diffed."""
    _load(warehouse, _day_batch(1, "2024-05-01", {1: ["passed"]}), "nightly")
    _load(warehouse, _day_batch(3, "2024-05-03", {1: ["passed"]}), "nightly")
    assert [r[:3] for r in _changes(warehouse, 3)] == [(1, "still_passing", 1)]
    _load(warehouse, _day_batch(2, "2024-05-02", {1: ["failed_evaluation"]}), "nightly")
    assert [r[:3] for r in _changes(warehouse, 2)] == [(1, "newly_failing", 1)]
    assert [r[:3] for r in _changes(warehouse, 3)] == [(1, "fixed", 2)]
