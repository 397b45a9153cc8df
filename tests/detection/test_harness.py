"""The detection harness at quick sizes (the full table is `python -m bench.detection`): it runs, the new detector
keeps the false-alarm budget at every volume and base rate it covers, reaches the floor where the data allows, and
today's rule re-implemented in the harness agrees with the warehouse's own functions."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bench import detection as harness
from cekura_livekit.stats import bh_adjust


def test_vectorised_bh_matches_the_warehouse_bh() -> None:
    rng = np.random.default_rng(9)
    p = rng.random((3, 25, 4))
    p[rng.random(p.shape) < 0.3] = np.nan
    q = harness.bh_q(p)
    for f in range(3):
        for day in range(4):
            column = [None if np.isnan(v) else float(v) for v in p[f, :, day]]
            want = [np.nan if v is None else v for v in bh_adjust(column)]
            assert q[f, :, day] == pytest.approx(want, nan_ok=True)


def test_the_oracle_cusum_restarts_after_each_alarm() -> None:
    n = np.full((1, 6), 10.0)
    x = np.array([[0.0, 0, 0, 0, 0, 0]])
    alarms = harness.oracle_cusum(x, n, 0.9, 0.5, 5.0)
    assert alarms.tolist() == [[True] * 6]  # each all-fail day alone is log(0.5/0.1)*10 ≈ 16 > 5


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_harness_table() -> None:
    text = harness.run(quick=True)
    false_rows = re.findall(r"^\| (\d+) \| (.+) \|$", text.split("### Steps")[0], re.MULTILINE)
    assert len(false_rows) == len(harness.QUICK.volumes_false)
    ours = [float(cell.split(" / ")[0]) for _, cells in false_rows for cell in cells.split(" | ")]
    assert max(ours) <= 1.0, ours  # the budget: 1 false episode per 100 scenario-months, every cell
    steps = re.findall(r"^\| (\d+) pts \| (\d+) \| .*? \| ([\d.]+) \| \d+% \|", text, re.MULTILINE)
    ratio = {(int(d), int(v)): float(r) for d, v, r in steps}
    assert len(ratio) == 9
    assert ratio[(20, 20)] <= 1.3
    assert ratio[(30, 20)] <= 1.3
    assert ratio[(30, 5)] <= 1.3
    early = re.findall(r"^\| (\d+) runs/day \| \d+% \| (\d+)% \|", text, re.MULTILINE)
    assert len(early) == 3
    assert all(int(share) <= 5 for v, share in early if v != "1"), early  # was 22-49 % at full size
    year = text.split("### A designed year", 1)[1].split("###", 1)[0]
    assert "missed" not in year
    assert "new **1.00 /" in text  # no independent or clustered series is called flaky
    assert "Week-long outage: freshness" in text
    assert "58 % infra errors: infra" in text


def test_the_harness_erfc_matches_math_erfc() -> None:
    import math

    xs = np.linspace(-6, 8, 301)
    assert harness.erfc(xs) == pytest.approx([math.erfc(v) for v in xs], rel=2e-7, abs=1e-300)
