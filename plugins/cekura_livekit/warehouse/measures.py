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

from cekura_livekit.stats import Z95

#: Outcomes that are evaluations (`models.py`): the denominator of every success rate.
EVALUATED_OUTCOMES = ("passed", "failed_evaluation")
#: Outcomes that produced no verdict.
NOT_EVALUATED_OUTCOMES = ("infra_error", "timeout", "cancelled")


def evaluated_sql(outcome: str) -> str:
    """Predicate: the run with outcome column `outcome` was evaluated."""
    return f"{outcome} IN ({', '.join(repr(o) for o in EVALUATED_OUTCOMES)})"


def ratio_sql(num: str, den: str) -> str:
    """num / den as a double, NULL when den is 0 (never a division error, never an integer division)."""
    return f"CASE WHEN {den} > 0 THEN CAST({num} AS DOUBLE PRECISION) / {den} END"


def success_rate_sql(passed: str, evaluated: str) -> str:
    """The success rate from a passed count and an evaluated count (= passed + failed_evaluation)."""
    return ratio_sql(passed, evaluated)


def infra_error_rate_sql(infra_errors: str, runs: str) -> str:
    """infra_error_rate = infra errors / all runs."""
    return ratio_sql(infra_errors, runs)


def not_evaluated_rate_sql(infra_errors: str, timeouts: str, cancelled: str, runs: str) -> str:
    """not_evaluated_rate = (infra errors + timeouts + cancellations) / all runs."""
    return ratio_sql(f"({infra_errors} + {timeouts} + {cancelled})", runs)


def wilson_sql(bound: str, passed: str, n: str) -> str:
    """Wilson score bound as a SQL expression (sqrt, CASE, DOUBLE PRECISION casts).

    The vectorised SQL form of `cekura_livekit.stats.wilson_interval` (the reference); a parity test runs
    both on a grid of (passed, n). NULL when n = 0.
    """
    if bound not in {"low", "high"}:
        raise ValueError(f"bound={bound!r} must be 'low' or 'high'")
    z = repr(Z95)
    z2 = repr(Z95 * Z95)
    p = f"(CAST({passed} AS DOUBLE PRECISION) / {n})"
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


def ranked_percentile_sql(percent: int, value: str, rank: str, count: str) -> str:
    """The same percentile as `percentile`, as an aggregate over rows ranked 1..n within their group
    (`rank` = ROW_NUMBER() ordered by `value`, `count` = the group's n): portable SQL for a view.

    With h = (n - 1) * percent / 100: the value at rank floor(h) + 1 plus the fraction of h times the step
    to the next rank. Integer arithmetic (integer columns divide as integers on every engine) keeps floor(h) exact.
    """
    if not 0 <= int(percent) <= 100:
        raise ValueError(f"percent={percent!r} must be a whole number from 0 to 100")
    h100 = f"({int(percent)} * ({count} - 1))"
    # No `%` operator: DB-API drivers with the pyformat style (psycopg) read it as a placeholder.
    rest = f"({h100} - 100 * ({h100} / 100))"
    lo = f"({h100} / 100 + 1)"
    frac = f"({rest} / 100.0)"
    at_lo = f"MAX(CASE WHEN {rank} = {lo} THEN {value} END)"
    at_hi = f"MAX(CASE WHEN {rank} = {lo} + CASE WHEN {rest} > 0 THEN 1 ELSE 0 END THEN {value} END)"
    return f"({at_lo} + MAX({frac}) * ({at_hi} - {at_lo}))"
