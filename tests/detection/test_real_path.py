"""The detectors through the real path (issue 25.8): a designed half-year loaded with `load_extract` fortnight by fortnight
(one batch held back and loaded late, one loaded twice), each load followed by the `cekura_trends` task bodies
(`refresh_trends` + `detect_and_alert`), on PostgreSQL. The warehouse's episodes must equal what the pure
functions give on the same counts, and no drop may be alerted twice although late data moves things."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cekura_livekit.detection.drops import detect_drops_many
from cekura_livekit.results.frames import extract
from cekura_livekit.tasks.alerting import detect_and_alert
from cekura_livekit.tasks.trends import refresh_trends
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.read import read_episodes
from cekura_livekit.warehouse.tables import ALERTS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.detection import daily_counts
from tests.support.warehouse import WarehouseTarget, make_result, make_run

FIRST = date(2025, 1, 6)
DAYS, PER_DAY, BATCH_DAYS = 182, 5, 14


def _rates() -> dict[int, np.ndarray]:
    """Designed truths per scenario: stationary, steps, a drop that recovers, a slow drift."""
    t = np.arange(DAYS)
    return {
        1: np.full(DAYS, 0.9),
        2: np.full(DAYS, 0.7),
        3: np.where(t < 80, 0.9, 0.7),  # a 20-point step
        4: np.where((t >= 70) & (t < 130), 0.55, 0.85),  # a 30-point drop that recovers
        5: np.clip(0.9 - 0.3 * np.clip((t - 60) / 90, 0, 1), 0, 1),  # 90 % → 60 % over 90 days
        6: np.where(t < 100, 0.95, 0.85),  # a 10-point step at a high rate
    }


def _history(seed: int = 25) -> dict[int, list[dict[str, Any]]]:
    """Fortnightly batches (result id = fortnight + 1) of every scenario's runs."""
    rng = np.random.default_rng(seed)
    batches: dict[int, list[dict[str, Any]]] = {}
    run_id = 1
    for scenario, rate in _rates().items():
        for day in range(DAYS):
            for call in range(PER_DAY):
                outcome = "passed" if rng.random() < rate[day] else "failed_evaluation"
                week = day // BATCH_DAYS
                batches.setdefault(week + 1, []).append(
                    make_run(
                        run_id,
                        day=FIRST + timedelta(days=day),
                        outcome=outcome,
                        scenario=scenario,
                        result_id=week + 1,
                        hour=call,
                    )
                )
                run_id += 1
    return batches


def _load(target: WarehouseTarget, result_id: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    frames = extract(make_result(result_id, runs), mode="managed", suite="nightly")
    summary = load_extract(target.conn_id, frames, target.schema)
    refreshed = refresh_trends(target.conn_id, target.schema, touched=summary.run_dates)
    return detect_and_alert(target.conn_id, target.schema, regression_days=refreshed["regression_days"])


def test_the_trends_pass_equals_the_pure_detector_through_late_and_duplicated_loads(
    pg_warehouse: WarehouseTarget,
) -> None:
    batches = _history()
    late, twice = 6, 9  # batch 6 (the step of scenario 3) lands after batch 8; batch 9 is loaded twice
    order = [w for w in sorted(batches) if w != late]
    order.insert(order.index(8) + 1, late)
    order.insert(order.index(twice) + 1, twice)
    outcomes = [_load(pg_warehouse, week, batches[week]) for week in order]

    every = [run for week in sorted(batches) for run in batches[week]]
    by_scenario = {s: [r for r in every if r["scenario"] == s] for s in _rates()}
    want = detect_drops_many({s: daily_counts(runs) for s, runs in by_scenario.items()})
    got = read_episodes(pg_warehouse.conn_id, schema=pg_warehouse.schema)
    expected = sorted(
        (s, e.started_on, e.flagged_on, e.resolved_on, e.post_n) for s, eps in want.items() for e in eps
    )
    stored = sorted(
        (
            int(r.scenario_id),
            r.started_on.date(),
            r.flagged_on.date(),
            None if pd.isna(r.resolved_on) else r.resolved_on.date(),
            int(r.post_n),
        )
        for r in got.itertuples()
    )
    assert stored == expected
    # The designed drops are all there; the stationary series raised nothing.
    assert {3, 4, 5} <= {s for s, *_ in stored}
    assert not {1, 2} & {s for s, *_ in stored}
    # Alert once: every alert is a distinct episode, and no more alerts than episodes.
    with open_warehouse(pg_warehouse.conn_id, pg_warehouse.schema) as wh:
        _, rows = wh.query(f"SELECT episode_id FROM {wh.dialect.table(ALERTS)} WHERE kind = ''")
    alerted = [r[0] for r in rows]
    assert len(alerted) == len(set(alerted)) == sum(o["new_alerts"] for o in outcomes)
    assert len(alerted) <= len(stored)
    assert set(alerted) <= set(got["episode_id"])
