"""How a refresh reads the runs: through the `run_date` index or by a scan, and with what memory.

Why it needs saying: an engine whose planner has no range statistics (SQLite) takes an index for any range
and then fetches the matching rows one at a time — measured 7× slower than a table scan when a full rebuild
reads every day. Each adapter writes the predicate its planner reads fastest (`Dialect.runs_from`) and sets
what large aggregations need (`Dialect.tune_for_aggregation`); these are the engine-neutral entry points.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.engines.base import Dialect
from cekura_livekit.warehouse.tables import RUNS


def runs_since(dialect: Dialect, cur: Any, since: date, column: str = "run_date") -> str:
    """The predicate ``column >= <date param>`` for reading runs from `since` on."""
    return dialect.runs_from(cur, dialect.table(RUNS), since, column)


def tune_for_aggregation(dialect: Dialect, cur: Any) -> None:
    """Settings for the rest of this transaction that a large aggregation needs (the adapter's)."""
    dialect.tune_for_aggregation(cur)


def runs_on(dialect: Dialect, days: Iterable[date | str], column: str = "run_date") -> tuple[str, list[str]]:
    """The predicate ``column IN (<date params>)`` for exactly `days`, and its params (ISO dates): what an
    incremental refresh reads. Every engine answers a short list through the `run_date` index."""
    isos = sorted({as_date(d).isoformat() for d in days})
    return f"{column} IN ({', '.join(dialect.date_param() for _ in isos)})", isos
