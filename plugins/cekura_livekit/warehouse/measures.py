"""Every measure the warehouse states in SQL, defined once (engine-neutral SQL text builders).

The rules are `cekura_livekit.models`' (outcomes) and `cekura_livekit.stats`' (Wilson, percentiles); this
module is their one SQL restatement, used by the daily table (`trends`), the metric table (`metrics`), the
analyst views (`views`) and the reads (`read`), so a view, a table and a frame cannot disagree.

- success rate = passed / (passed + failed_evaluation) = passed / evaluated (`models.py`): infra errors,
  timeouts and cancellations are not evaluations; NULL when nothing was evaluated.
- infra_error_rate = infra_error / runs (the infrastructure's own failures).
- not_evaluated_rate = (infra_error + timeout + cancelled) / runs (every run that produced no verdict).
- percentiles: exact, linear interpolation between the closest ranks (h = (n - 1) p): PostgreSQL's
  percentile_cont and numpy/pandas' default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from typing import Any

from cekura_livekit.stats import Z95

#: Outcomes that are evaluations (`models.py`): the denominator of every success rate.
EVALUATED_OUTCOMES = ("passed", "failed_evaluation")
#: Outcomes that produced no verdict.
NOT_EVALUATED_OUTCOMES = ("infra_error", "timeout", "cancelled")


def evaluated_sql(outcome: str) -> str:
    """Predicate: the run with outcome column `outcome` was evaluated."""
    return f"{outcome} IN ({', '.join(repr(o) for o in EVALUATED_OUTCOMES)})"


#: How an expression becomes a double: the engine adapter's `Dialect.as_double` (the type name differs:
#: `DOUBLE PRECISION` on PostgreSQL, `DOUBLE` on MariaDB and DuckDB, `FLOAT` on Snowflake, `REAL` on SQLite).
#: Required, never defaulted: a default that one engine cannot parse is how a call site silently breaks it.
ToDouble = Callable[[str], str]


def ratio_sql(num: str, den: str, *, to_double: ToDouble) -> str:
    """num / den as a double, NULL when den is 0 (never a division error, never an integer division)."""
    return f"CASE WHEN {den} > 0 THEN {to_double(num)} / {den} END"


def success_rate_sql(passed: str, evaluated: str, *, to_double: ToDouble) -> str:
    """The success rate from a passed count and an evaluated count (= passed + failed_evaluation)."""
    return ratio_sql(passed, evaluated, to_double=to_double)


def infra_error_rate_sql(infra_errors: str, runs: str, *, to_double: ToDouble) -> str:
    """infra_error_rate = infra errors / all runs."""
    return ratio_sql(infra_errors, runs, to_double=to_double)


def not_evaluated_rate_sql(
    infra_errors: str, timeouts: str, cancelled: str, runs: str, *, to_double: ToDouble
) -> str:
    """not_evaluated_rate = (infra errors + timeouts + cancellations) / all runs."""
    return ratio_sql(f"({infra_errors} + {timeouts} + {cancelled})", runs, to_double=to_double)


def wilson_sql(bound: str, passed: str, n: str, *, to_double: ToDouble) -> str:
    """Wilson score bound as a SQL expression (sqrt, CASE, casts to double).

    The vectorised SQL form of `cekura_livekit.stats.wilson_interval` (the reference); a parity test runs
    both on a grid of (passed, n). NULL when n = 0.
    """
    if bound not in {"low", "high"}:
        raise ValueError(f"bound={bound!r} must be 'low' or 'high'")
    z = repr(Z95)
    z2 = repr(Z95 * Z95)
    p = f"({to_double(passed)} / {n})"
    sign = "-" if bound == "low" else "+"
    expr = (
        f"(({p} + {z2} / (2.0 * {n})) {sign} {z} * sqrt({p} * (1 - {p}) / {n} + {z2} / (4.0 * {n} * {n})))"
        f" / (1 + {z2} / {n})"
    )
    return f"CASE WHEN {n} > 0 THEN {expr} END"


def percentile(ordered: list[float], p: float) -> float:
    """Linear interpolation between the closest ranks of sorted values: position h = (n - 1) * p, the
    definition of PostgreSQL's percentile_cont and pandas' default quantile."""
    h = (len(ordered) - 1) * p
    lo = math.floor(h)
    hi = math.ceil(h)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def sorted_group_stats(
    rows: Iterable[Sequence[Any]], width: int, percentiles: Sequence[float]
) -> list[tuple[Any, ...]]:
    """(key…, count, mean, p…) per group from rows (key…, value) sorted by key and value: one streaming
    pass, exact by `percentile`. For engines without an exact percentile aggregate (SQLite, MariaDB)."""
    out = []
    for group_key, group in groupby(rows, key=lambda row: tuple(row[:width])):
        ordered = [float(row[width]) for row in group]
        pcts = [percentile(ordered, p) for p in percentiles]
        out.append((*group_key, len(ordered), math.fsum(ordered) / len(ordered), *pcts))
    return out


def ranked_percentile_sql(percent: int, value: str, rank: str, count: str) -> str:
    """The same percentile as `percentile`, as an aggregate over rows ranked 1..n within their group
    (`rank` = ROW_NUMBER() ordered by `value`, `count` = the group's n): portable SQL for a view.

    With h = (n - 1) * percent / 100: the value at rank floor(h) + 1 plus the fraction of h times the step
    to the next rank (ceil(h) + 1). No integer division: `/` of two integers truncates on PostgreSQL and
    SQLite but not on DuckDB or Snowflake (and MariaDB spells it DIV), so the ranks are found by comparing
    100 * h with multiples of 100, which is exact integer arithmetic everywhere.
    """
    if not 0 <= int(percent) <= 100:
        raise ValueError(f"percent={percent!r} must be a whole number from 0 to 100")
    h100 = f"({int(percent)} * ({count} - 1))"
    # No `%` operator: DB-API drivers with the pyformat style (psycopg) read it as a placeholder.
    lo_row = f"(100 * ({rank} - 1) <= {h100} AND {h100} < 100 * {rank})"  # rank = floor(h) + 1
    hi_row = f"(100 * ({rank} - 2) < {h100} AND {h100} <= 100 * ({rank} - 1))"  # rank = ceil(h) + 1
    frac = f"MAX(CASE WHEN {lo_row} THEN ({h100} - 100 * ({rank} - 1)) / 100.0 END)"
    at_lo = f"MAX(CASE WHEN {lo_row} THEN {value} END)"
    at_hi = f"MAX(CASE WHEN {hi_row} THEN {value} END)"
    return f"({at_lo} + {frac} * ({at_hi} - {at_lo}))"
