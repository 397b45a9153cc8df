"""The latest-link and quarantine lookups are one GROUP BY pass and answer exactly what the old correlated
queries answered (kept here as the reference), on a warehouse with several batches, modes, suites,
quarantines and missing links."""

from __future__ import annotations

import random
from typing import Any

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.episodes import latest_links_in, quarantined_keys_in
from cekura_livekit.warehouse.tables import RUNS
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import WarehouseTarget, make_result, make_run


def _old_quarantined(dialect: Any, cur: Any) -> set[tuple[Any, ...]]:
    runs = dialect.table(RUNS)
    cur.execute(
        f"SELECT DISTINCT r.agent_id, r.scenario_id, COALESCE(r.mode, ''), COALESCE(r.suite, '') FROM {runs} r "
        f"WHERE r.quarantined = TRUE AND r.result_id = (SELECT MAX(o.result_id) FROM {runs} o "
        "WHERE o.agent_id = r.agent_id AND o.scenario_id = r.scenario_id "
        "AND COALESCE(o.suite, '') = COALESCE(r.suite, ''))"
    )
    return {(int(a), int(s), m, u) for a, s, m, u in cur.fetchall()}


def _old_links(dialect: Any, cur: Any) -> dict[tuple[Any, ...], str]:
    runs = dialect.table(RUNS)
    cur.execute(
        f"SELECT DISTINCT r.agent_id, r.scenario_id, COALESCE(r.mode, ''), COALESCE(r.suite, ''), r.dashboard_url "
        f"FROM {runs} r WHERE r.dashboard_url IS NOT NULL AND r.result_id = (SELECT MAX(o.result_id) FROM {runs} o "
        "WHERE o.agent_id = r.agent_id AND o.scenario_id = r.scenario_id "
        "AND COALESCE(o.suite, '') = COALESCE(r.suite, '') AND COALESCE(o.mode, '') = COALESCE(r.mode, ''))"
    )
    return {(int(a), int(s), m, u): url for a, s, m, u, url in cur.fetchall()}


def _seed(target: WarehouseTarget) -> None:
    rng = random.Random(3)
    run_id = 0
    for result_id in range(1, 25):
        mode = rng.choice(["managed", "bring_your_own_rooms", "chat"])
        suite = rng.choice(["nightly", "smoke", None])
        url = None if rng.random() < 0.3 else f"https://dashboard.cekura.ai/1/results/{result_id}"
        runs = []
        for _ in range(rng.randrange(1, 6)):
            run_id += 1
            run = make_run(
                run_id,
                day=f"2024-03-{1 + result_id % 20:02d}",
                outcome=rng.choice(["passed", "failed_evaluation", "infra_error"]),
                agent=rng.choice([1, 2]),
                scenario=rng.choice([1, 2, 3, None]),
                result_id=result_id,
            )
            runs.append(run)
        quarantine = rng.sample([1, 2, 3], rng.randrange(0, 3))
        frames = extract(
            make_result(result_id, runs), mode=mode, suite=suite, dashboard_url=url, quarantine=quarantine
        )
        load_extract(target.conn_id, frames, target.schema)


def test_one_pass_lookups_equal_the_correlated_ones(warehouse: WarehouseTarget) -> None:
    _seed(warehouse)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        old_q, old_links = _old_quarantined(wh.dialect, cur), _old_links(wh.dialect, cur)
        new_q, new_links = quarantined_keys_in(wh.dialect, cur), latest_links_in(wh.dialect, cur)
    assert old_q  # the data exercises both lookups
    assert old_links
    assert new_q == old_q
    assert new_links == old_links


def test_the_lookups_are_not_correlated_subqueries() -> None:
    """The quadratic form was a MAX subquery per row, correlated on `o.<col> = r.<col>`."""
    import inspect

    from cekura_livekit.warehouse import episodes

    for function in (episodes.latest_links_in, episodes.quarantined_keys_in):
        assert "(SELECT MAX(" not in inspect.getsource(function)


def test_lookups_of_some_keys_read_from_the_newest_batches_and_agree(warehouse: WarehouseTarget) -> None:
    """`latest_batches_in` (what the trends pass asks: the keys of its episodes and monitor rows only) walks
    the batches newest first in small steps and answers each key as the GROUP BY over all runs does."""
    from cekura_livekit.warehouse import episodes

    _seed(warehouse)
    with open_warehouse(warehouse.conn_id, warehouse.schema) as wh, wh.transaction() as cur:
        old_q, old_links = _old_quarantined(wh.dialect, cur), _old_links(wh.dialect, cur)
        cur.execute(
            f"SELECT DISTINCT agent_id, scenario_id, COALESCE(mode, ''), COALESCE(suite, '') "
            f"FROM {wh.dialect.table(RUNS)} WHERE agent_id IS NOT NULL AND scenario_id IS NOT NULL"
        )
        every = sorted({(int(a), int(s), m, u) for a, s, m, u in cur.fetchall()})
        unknown = (9, 9, "chat", "")  # no runs: never settled, the walk reads every batch and stops
        original, episodes.FIRST_BATCHES = episodes.FIRST_BATCHES, 2  # several steps on 24 batches
        try:
            answers = [
                (set(keys), episodes.latest_batches_in(wh.dialect, cur, [*keys, unknown]))
                for keys in (every, every[::2], every[1::3], every[-1:])
            ]
            subset_q = quarantined_keys_in(wh.dialect, cur, every[::2])
            subset_links = latest_links_in(wh.dialect, cur, every[::2])
        finally:
            episodes.FIRST_BATCHES = original
    assert len(every) >= 10
    for keys, (quarantined, links) in answers:
        assert quarantined == {k for k in old_q if k in keys}
        assert links == {k: v for k, v in old_links.items() if k in keys}
    assert answers[0][1] == (old_q, old_links)
    assert (subset_q, subset_links) == answers[1][1]
