"""How a refresh reads the runs: through the `run_date` index or by a scan, and with what memory.

Why it needs saying: SQLite's planner has no range statistics, so it takes an index for any range and then
fetches the matching rows one at a time — measured 7× slower than a table scan when a full rebuild reads every
day. PostgreSQL's planner has the statistics to choose itself.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.dialects import Dialect
from cekura_livekit.warehouse.tables import RUNS

#: A refresh reading at most this share of the runs' days reads them through the index; wider ones scan.
INDEXED_SHARE = 0.25


def runs_since(dialect: Dialect, cur: Any, since: date, column: str = "run_date") -> str:
    """The predicate ``column >= <date param>`` for reading runs from `since` on; on SQLite, written so the
    index is skipped (a unary `+`) when more than `INDEXED_SHARE` of the stored days are read."""
    plain = f"{column} >= {dialect.date_param()}"
    if dialect.name == "postgres":
        return plain
    cur.execute(f"SELECT MIN(run_date), MAX(run_date) FROM {dialect.table(RUNS)}")
    first, last = cur.fetchone() or (None, None)
    if first is None or last is None:
        return plain
    span = (as_date(last) - as_date(first)).days + 1
    read = (as_date(last) - since).days + 1
    return plain if read <= INDEXED_SHARE * span else f"+{plain}"


#: Memory for one sort or hash of the rebuild: a full rebuild groups ~1M runs and ~2M metric rows, which
#: PostgreSQL's default 4 MB would spill to disk (measured: a 100 MB spill, several seconds).
AGGREGATION_WORK_MEM = "128MB"


def tune_for_aggregation(dialect: Dialect, cur: Any) -> None:
    """PostgreSQL settings for the rest of this transaction only (SET LOCAL).

    - `work_mem`: enough to aggregate in memory.
    - `jit = off`: the rebuild's large cost estimates make PostgreSQL spend seconds compiling expressions for
      queries that then run in about as long (measured: 2.7 s of JIT in a 12.8 s query).
    - `random_page_cost = 1.1` (SSD-like): a one-day refresh joins the day's runs to their metrics by key;
      at the default 4 (spinning disks) PostgreSQL preferred scanning every metric row ever loaded (2M rows,
      ~0.4 s) to ~14k index probes (~0.03 ms each).
    """
    if dialect.name == "postgres":
        cur.execute(f"SET LOCAL work_mem = '{AGGREGATION_WORK_MEM}'")
        cur.execute("SET LOCAL jit = off")
        cur.execute("SET LOCAL random_page_cost = 1.1")
