"""Shared material for the per-engine tests: one small batch to load, and a probe table that exercises an
adapter's own SQL (its upsert's change test, its exact percentiles) without the provider's schema around it.

Each engine's test file calls these with its own fixture, so a failure names the engine that broke.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.tables import Table
from tests.support.warehouse import WarehouseTarget, make_result, make_run

#: A table of our own: an int key, a text, a float and a load stamp (left out of the change test).
PROBE = Table(
    name="probe",
    columns=(("k", "int"), ("label", "text"), ("score", "float"), ("loaded_at", "timestamp")),
    key=("k",),
)


def one_batch(result_id: int = 1) -> Any:
    """Five passed runs on 2024-03-01 as one extracted batch (the frames a load takes)."""
    runs = [make_run(result_id * 10 + i, day="2024-03-01", result_id=result_id) for i in range(5)]
    return extract(make_result(result_id, runs), mode="managed", suite="nightly")


def probe_frame(labels: list[str], scores: list[float], stamp: str = "2024-03-01T12:00:00Z") -> pd.DataFrame:
    """Rows k = 1…n of the probe table, typed as `results.frames.extract` types its frames."""
    n = len(labels)
    return pd.DataFrame(
        {
            "k": pd.array(range(1, n + 1), dtype="Int64"),
            "label": pd.Series(labels, dtype=object),
            "score": pd.array(scores, dtype="Float64"),
            "loaded_at": pd.Series([pd.Timestamp(stamp)] * n).astype("datetime64[us, UTC]"),
        }
    )


def create_probe(target: WarehouseTarget) -> None:
    with open_warehouse(target.conn_id, target.schema) as wh, wh.transaction() as cur:
        wh.dialect.ensure_schema(cur)
        for statement in wh.dialect.create_statements(PROBE):
            cur.execute(statement)


def upsert_probe(target: WarehouseTarget, frame: pd.DataFrame) -> int:
    """One upsert of `frame` into the probe table in its own transaction; the adapter's changed-row count."""
    with open_warehouse(target.conn_id, target.schema) as wh, wh.transaction() as cur:
        return int(wh.dialect.upsert(cur, PROBE, frame))


def probe_rows(target: WarehouseTarget) -> list[tuple[int, str, float]]:
    with open_warehouse(target.conn_id, target.schema) as wh:
        q = wh.dialect.quote
        _, rows = wh.query(f"SELECT {q('k')}, {q('label')}, {q('score')} FROM {wh.dialect.table(PROBE)}")
    return sorted((int(k), str(label), float(score)) for k, label, score in rows)


def assert_upsert_touches_only_changed_rows(target: WarehouseTarget) -> None:
    """A first load inserts every row; the same rows again change nothing (even with a new load stamp); one
    changed value and one new row count two, and the stored rows are the latest."""
    create_probe(target)
    assert upsert_probe(target, probe_frame(["a", "b", "c"], [0.5, 1.5, 2.5])) == 3
    assert upsert_probe(target, probe_frame(["a", "b", "c"], [0.5, 1.5, 2.5], "2024-03-02T00:00:00Z")) == 0
    assert upsert_probe(target, probe_frame(["a", "B", "c", "d"], [0.5, 1.5, 2.5, 3.5])) == 2
    assert probe_rows(target) == [(1, "a", 0.5), (2, "B", 1.5), (3, "c", 2.5), (4, "d", 3.5)]


def assert_percentiles_match_numpy(target: WarehouseTarget) -> None:
    """`value_stats` per group: count, mean, and percentiles by linear interpolation, as numpy's default."""
    rng = np.random.default_rng(7)
    scores = [round(float(x), 3) for x in rng.gamma(2.0, 30.0, size=41)]
    labels = ["even" if i % 2 == 0 else "odd" for i in range(len(scores))]
    create_probe(target)
    upsert_probe(target, probe_frame(labels, scores))
    percentiles = [0.0, 0.1, 0.5, 0.9, 0.95, 1.0]
    with open_warehouse(target.conn_id, target.schema) as wh, wh.transaction() as cur:
        q = wh.dialect.quote
        sql = f"SELECT {q('label')} AS label, {q('score')} AS value FROM {wh.dialect.table(PROBE)}"
        stats = wh.dialect.value_stats(cur, sql, ["label"], [], percentiles)
    by_group = {row[0]: row for row in stats}
    assert sorted(by_group) == ["even", "odd"]
    for group in ("even", "odd"):
        values = np.array([s for s, g in zip(scores, labels, strict=True) if g == group])
        _, count, mean, *ps = by_group[group]
        assert int(count) == len(values)
        assert abs(float(mean) - values.mean()) < 1e-9
        np.testing.assert_allclose(
            [float(p) for p in ps], np.percentile(values, [p * 100 for p in percentiles])
        )
