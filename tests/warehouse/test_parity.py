"""Cross-engine parity: the same runs, loaded and trended on each engine, give the same derived tables as on
SQLite (the embedded reference) — daily rates, metric percentiles, regressions, episodes, flakiness, batch
diffs. One parameter per registered engine (from `ENGINE_FIXTURES`); Snowflake runs on its emulator.

Why it matters: each adapter rewrites SQL (dates, casts, percentiles, upserts); a difference that every
single-engine test tolerates — an integer division, a DECIMAL percentile, a case-insensitive key — shows
up here as a different number for the same day.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cekura_livekit.results.frames import extract
from cekura_livekit.warehouse.connection import open_warehouse
from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.tables import (
    BATCH_DIFFS,
    EPISODES,
    FLAKY_SCENARIOS,
    METRIC_DAILY,
    METRIC_REGRESSIONS,
    REGRESSIONS,
    SUCCESS_RATE_DAILY,
    Table,
)
from cekura_livekit.warehouse.writer import load_extract
from tests.support.warehouse import (
    ENGINE_FIXTURES,
    WarehouseTarget,
    _engine_params,
    make_result,
    make_run,
    synthetic_runs,
)

DERIVED: tuple[Table, ...] = (
    SUCCESS_RATE_DAILY,
    METRIC_DAILY,
    REGRESSIONS,
    EPISODES,
    METRIC_REGRESSIONS,
    FLAKY_SCENARIOS,
    BATCH_DIFFS,
)
NOW = datetime(2024, 3, 15, 12, tzinfo=UTC)
START = date(2024, 2, 1)


def _batches() -> list[Any]:
    """Three results: realistic random runs (numeric durations, both metric formats), a scenario that
    drops from passing to failing half-way (a regression and an episode), and a flaky one."""
    random_runs = list(synthetic_runs(400, start=START, days=30, agents=2, scenarios=4, metrics=2))
    # 35 days before the drop: the detector watches a series once its baseline holds 100 runs over 28 days.
    drop = [
        make_run(
            5_000_000 + (day + 15) * 10 + i,
            day=START + timedelta(days=day),
            outcome="failed_evaluation" if day >= 20 else ("infra_error" if i == 3 else "passed"),
            scenario=7,
            result_id=2,
            metrics=1,
        )
        for day in range(-15, 30)
        for i in range(6)
    ]
    flaky = [
        make_run(
            6_000_000 + day * 10 + i,
            day=START + timedelta(days=day),
            outcome="passed" if (day + i) % 2 else "failed_evaluation",
            scenario=8,
            result_id=3,
        )
        for day in range(30)
        for i in range(3)
    ]
    return [
        extract(make_result(1, random_runs), mode="managed", suite="nightly"),
        extract(make_result(2, drop), mode="managed", suite="nightly"),
        extract(make_result(3, flaky), mode="chat", suite="nightly"),
    ]


def _plain(value: Any) -> Any:
    """A value as every engine's driver would agree on it: ISO dates, rounded floats, ints, bools."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return as_date(value).isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else float(f"{value:.10g}")  # 10 significant digits
    return value


def _derived(target: WarehouseTarget) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with open_warehouse(target.conn_id, target.schema) as wh:
        q = wh.dialect.quote
        for table in DERIVED:
            cols = [c for c, t in table.columns if t != "timestamp"]
            sql = (
                f"SELECT {', '.join(q(c) for c in cols)} FROM {wh.dialect.table(table)} "
                f"ORDER BY {', '.join(q(k) for k in table.key)}"
            )
            _, rows = wh.query(sql)
            bools = [table.types[c] == "bool" for c in cols]
            out[table.name] = [
                tuple(
                    (None if v is None else bool(v)) if is_bool else _plain(v)
                    for v, is_bool in zip(row, bools, strict=True)
                )
                for row in rows
            ]
    return out


def _load_all(target: WarehouseTarget) -> dict[str, list[tuple[Any, ...]]]:
    for batch in _batches():
        load_extract(target.conn_id, batch, target.schema, recompute_trends=True, now=NOW)
    return _derived(target)


@pytest.mark.parametrize("engine", [p for p in _engine_params() if p.values[0] != "sqlite"])
def test_every_engine_derives_the_same_tables_as_sqlite(
    engine: str, request: pytest.FixtureRequest, sqlite_warehouse: WarehouseTarget
) -> None:
    target: WarehouseTarget = request.getfixturevalue(ENGINE_FIXTURES[engine])
    expected = _load_all(sqlite_warehouse)
    got = _load_all(target)
    # The data must exercise every table, or parity of empty tables would prove nothing.
    assert all(
        expected[t.name] for t in (SUCCESS_RATE_DAILY, METRIC_DAILY, REGRESSIONS, EPISODES, BATCH_DIFFS)
    )
    for table in DERIVED:
        assert len(got[table.name]) == len(expected[table.name]), table.name
        for mine, reference in zip(got[table.name], expected[table.name], strict=True):
            assert mine == reference, (table.name, mine, reference)
