"""Benchmark 5, extract: a 100k-run payload (as fetched from the API) → typed frames, time and peak memory."""

from __future__ import annotations

import statistics

from bench.common import PeakRss, Section, Target, airflow_env
from bench.data import RESULT, run_payloads


def run(smoke: bool = False) -> Section:
    airflow_env()
    import time

    from cekura_livekit.results.frames import extract
    from tests.results.reference_frames import reference_runs_frames

    section = Section(
        "5. Extract", "Payloads are built before timing; peak is the RSS growth during `extract`."
    )
    n = 2_000 if smoke else 100_000
    payloads = list(run_payloads(n))
    times, peaks, before = [], [], []
    for _ in range(2 if smoke else 5):
        with PeakRss() as peak:
            start = time.perf_counter()
            frames = extract(RESULT, payloads)
            times.append(time.perf_counter() - start)
        peaks.append(peak.growth_mb)
        del frames
        # Interleaved, so both see the same machine load: the ratio is what counts on a busy machine.
        start = time.perf_counter()
        reference = reference_runs_frames(payloads, result=RESULT)
        before.append(time.perf_counter() - start)
        del reference
    t = section.add("extract → runs + metrics frames", n, times, "s")
    m = section.add("  peak memory growth", n, peaks, "MB")
    section.add(
        "  before: the row-at-a-time build (runs + metrics)",
        n,
        before,
        "s",
        ratio=f"{statistics.median(before) / t.median:.1f}× ours",
        note="the frozen pre-issue-14 copy the parity tests compare against",
    )
    section.targets.append(
        Target(
            "extract 100k < 3 s, < 500 MB",
            f"{t.median:.2f} s, {statistics.median(peaks):.0f} MB ({n:,} runs)",
            (t.median < 3 and m.median < 500) if n >= 100_000 else None,
        )
    )
    return section
