"""Designed success-rate histories for warehouse tests of the drop detector (`detection.drops`).

Why deterministic patterns instead of random draws: a test through the load path must know what the detector
will say. A series here is a fixed share of failures spread evenly over the days (no randomness), long enough
for the detector's baseline (100 evaluated runs over 28 days) and then a step down; the expected episodes are
whatever `detect_drops` says on the same counts, which the tests also check against the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from tests.support.warehouse import make_run


def outcomes(day: int, per_day: int, pass_rate: float) -> list[str]:
    """`per_day` outcomes of day number `day` whose running share of passes tracks `pass_rate`."""
    done = day * per_day
    out = []
    for k in range(per_day):
        want = round(pass_rate * (done + k + 1)) - round(pass_rate * (done + k))
        out.append("passed" if want else "failed_evaluation")
    return out


def designed_days(first_day: date, rates: list[float], per_day: int = 6) -> Iterator[tuple[date, list[str]]]:
    """(day, outcomes) of consecutive days from `first_day`, one pass rate per day."""
    for i, rate in enumerate(rates):
        yield first_day + timedelta(days=i), outcomes(i, per_day, rate)


def step_rates(before: float, after: float, days_before: int = 40, days_after: int = 10) -> list[float]:
    return [before] * days_before + [after] * days_after


class Runs:
    """Run objects with increasing ids (one maker per warehouse, so reloads reuse ids only when asked)."""

    def __init__(self, first_id: int = 1) -> None:
        self.next_id = first_id

    def series(
        self,
        first_day: date,
        rates: list[float],
        *,
        scenario: int = 1,
        agent: int = 1,
        per_day: int = 6,
        result_id: int = 1,
    ) -> list[dict[str, Any]]:
        runs = []
        for day, day_outcomes in designed_days(first_day, rates, per_day):
            for hour, outcome in enumerate(day_outcomes):
                runs.append(
                    make_run(
                        self.next_id,
                        day=day,
                        outcome=outcome,
                        scenario=scenario,
                        agent=agent,
                        result_id=result_id,
                        hour=hour % 24,
                    )
                )
                self.next_id += 1
        return runs


def daily_counts(runs: list[dict[str, Any]]) -> tuple[list[date], list[int], list[int]]:
    """(days, passed, evaluated) of run objects, as `detect_drops` takes them."""
    per: dict[date, list[int]] = {}
    for run in runs:
        day = date.fromisoformat(str(run["timestamp"])[:10])
        if run["status"] != "completed":
            continue
        counts = per.setdefault(day, [0, 0])
        counts[0] += bool(run["success"])
        counts[1] += 1
    days = sorted(per)
    return days, [per[d][0] for d in days], [per[d][1] for d in days]
