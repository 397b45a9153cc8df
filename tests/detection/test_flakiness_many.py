"""`flaky_status_many` (every series at once, from counts) gives the rows `flaky_status` gives series by series:
the scalar function is the reference, compared on many random series (lengths, rates, alternation, hysteresis)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from cekura_livekit.detection.flakiness import FlakinessPolicy, flaky_status, flaky_status_many


def _series(rng: random.Random) -> list[bool]:
    n = rng.choice([0, 1, 2, 3, 5, 19, 20, 21, 40, 112, 280, rng.randrange(0, 600)])
    kind = rng.random()
    if kind < 0.2:  # alternating, with some noise
        return [bool(i % 2) != (rng.random() < 0.05) for i in range(n)]
    if kind < 0.35:  # blocks (an outage)
        cut = rng.randrange(0, n + 1)
        return [True] * cut + [False] * (n - cut)
    p = rng.choice([0.0, 0.5, 0.7, 0.9, 0.99, 1.0, rng.random()])
    return [rng.random() < p for _ in range(n)]


def _counts(outcomes: list[bool]) -> tuple[int, int, int]:
    runs = 1 + sum(1 for a, b in itertools.pairwise(outcomes) if a != b) if outcomes else 0
    return len(outcomes), sum(outcomes), runs


@pytest.mark.parametrize("seed", range(4))
def test_the_vectorised_scoring_equals_the_scalar_one(seed: int) -> None:
    rng = random.Random(seed)
    policy = FlakinessPolicy() if seed % 2 else FlakinessPolicy(min_runs=5, min_failures=1, enter_z=2.0)
    series = [_series(rng) for _ in range(800)]
    previous = [rng.choice([None, "flaky", "stable", "regressed"]) for _ in series]
    n, passes, runs = (np.array(c) for c in zip(*(_counts(s) for s in series), strict=True))
    many = flaky_status_many(n, passes, runs, np.array([p == "flaky" for p in previous]), policy)
    statuses = set()
    for i, (outcomes, prev) in enumerate(zip(series, previous, strict=True)):
        one = flaky_status(outcomes, prev, policy)
        assert {c: many[c][i] for c in one} == one, (i, outcomes)
        statuses.add(one["status"])
    assert statuses == {"flaky", "clustered", "stable", "insufficient"}  # every branch compared


def test_no_series_scores_nothing() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert flaky_status_many(empty, empty, empty)["status"] == []
