"""100,000 runs extract in bounded memory: the chunked build's transient overhead is measured, not assumed."""

from __future__ import annotations

import gc
import tracemalloc

import pandas as pd
import pytest

from cekura_livekit.results.frames import runs_frames
from tests.support.warehouse import synthetic_runs

N_RUNS = 100_000
#: Transient memory allowed on top of the frames that are returned. One 10k-run chunk of rows and its typed
#: columns fits well inside this; building all 100k rows at once needs several times more (~390 MB).
TRANSIENT_BOUND = 80 * 1024 * 1024
#: pandas 2 has no copy-on-write: building a chunk's frame and concatenating the chunks each copy the columns'
#: pointer arrays while the chunks are alive (measured: 93 MiB on pandas 2.2.3, 52 MiB on pandas 3.0 without
#: pyarrow, 43 MiB on pandas 3.1 with it). Still a quarter of what building all rows at once takes.
TRANSIENT_BOUND_PANDAS_2 = 112 * 1024 * 1024
#: Absolute peak bound for the whole extraction (the returned frames are ~80 MB of Python objects).
PEAK_BOUND = 220 * 1024 * 1024


@pytest.mark.slow
def test_extracting_100k_runs_stays_within_the_memory_bound() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        # The payloads are generated lazily, so the trace measures extraction, not a 100k-dict input list.
        runs, metrics, problems = runs_frames(synthetic_runs(N_RUNS, metrics=2), chunk_size=10_000)
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems == []
    assert len(runs) == N_RUNS
    assert len(metrics) == 2 * N_RUNS
    assert runs["run_id"].is_unique
    transient = peak - retained
    bound = TRANSIENT_BOUND if int(pd.__version__.split(".")[0]) >= 3 else TRANSIENT_BOUND_PANDAS_2
    assert transient < bound, f"transient {transient / 2**20:.0f} MiB over the returned frames"
    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.0f} MiB"
