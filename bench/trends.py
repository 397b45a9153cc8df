"""Benchmark 4, trends: the daily success-rate table over the largest loaded runs table.

Full recompute (every day) and a one-day incremental refresh (the latest day, whose 7- and 28-day windows
still read 27 days back), on PostgreSQL and SQLite through the package's `recompute_daily`, vs the same
aggregation in pandas on a frame already in memory (group by day × agent × scenario, rolling day windows).
"""

from __future__ import annotations

import statistics

import pandas as pd

from bench.common import Section, Target, airflow_env, drop_schema, repeat


def pandas_daily(runs: pd.DataFrame) -> pd.DataFrame:
    """The daily table's counts and 7/28-day rolling sums, in memory."""
    frame = runs[["run_date", "agent_id", "scenario_id", "outcome"]].copy()
    frame["run_date"] = pd.to_datetime(frame["run_date"])
    frame["passed"] = frame["outcome"].eq("passed")
    frame["evaluated"] = frame["outcome"].isin(["passed", "failed_evaluation"])
    daily = (
        frame.groupby(["agent_id", "scenario_id", "run_date"], sort=True)
        .agg(runs=("outcome", "size"), passed=("passed", "sum"), evaluated=("evaluated", "sum"))
        .reset_index()
    )
    rolled = []
    for days in (7, 28):
        r = (
            daily.set_index("run_date")
            .groupby(["agent_id", "scenario_id"])[["passed", "evaluated"]]
            .rolling(f"{days}D")
            .sum()
            .reset_index(drop=True)
        )
        rolled.append(r.add_suffix(f"_{days}d"))
    out = pd.concat([daily.reset_index(drop=True), *rolled], axis=1)
    out["success_rate"] = out["passed"] / out["evaluated"].where(out["evaluated"] > 0)
    return out


def run(smoke: bool = False) -> Section:
    airflow_env()
    from bench import loading
    from cekura_livekit.warehouse.trends import recompute_daily

    section = Section(
        "4. Trends",
        "The runs loaded by benchmark 3 at its largest size (60 days × 3 agents × 50 scenarios).",
    )
    if "pg_schema" not in loading.LOADED:
        loading.run(smoke=smoke)
    frame: pd.DataFrame = loading.LOADED["frame"]
    pg, lite = loading.LOADED["pg_schema"], loading.LOADED["sqlite_schema"]
    n = len(frame)
    first = frame["run_date"].min()
    last = frame["run_date"].max()
    reps = 2 if smoke else 5
    results: dict[str, float] = {}
    try:
        for name, conn, schema in (("PostgreSQL", "bench_pg", pg), ("SQLite", "bench_sqlite", lite)):
            full = repeat(lambda c=conn, s=schema: recompute_daily(c, first, s), reps)
            inc = repeat(lambda c=conn, s=schema: recompute_daily(c, last, s), reps)
            results[f"{name} full"] = statistics.median(full)
            results[f"{name} inc"] = statistics.median(inc)
            section.add(f"{name}: full recompute", n, full, "s")
            section.add(f"{name}: one-day incremental", n, inc, "s")
    finally:
        drop_schema(pg)
        loading.LOADED.pop("pg_schema", None)
    mem = repeat(lambda: pandas_daily(frame), reps)
    section.add(
        "pandas in memory: same aggregation",
        n,
        mem,
        "s",
        ratio=f"PostgreSQL is {results['PostgreSQL full'] / statistics.median(mem):.2f}× pandas",
    )
    size = f"{n:,} runs"
    section.targets.append(
        Target(
            "PostgreSQL full recompute of 1M < 3 s",
            f"{results['PostgreSQL full']:.2f} s ({size})",
            results["PostgreSQL full"] < 3 if n >= 1_000_000 else None,
        )
    )
    section.targets.append(
        Target(
            "one-day incremental < 0.5 s",
            f"{results['PostgreSQL inc']:.2f} s PostgreSQL, {results['SQLite inc']:.2f} s SQLite ({size})",
            results["PostgreSQL inc"] < 0.5 if n >= 1_000_000 else None,
        )
    )
    return section
