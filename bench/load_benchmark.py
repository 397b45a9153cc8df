"""Load benchmark: upsert 100,000 runs into PostgreSQL vs a raw COPY of the same rows, and SQLite.

Run with `make bench` (or `python -m bench.load_benchmark [--runs N]`). Prints seconds; asserts nothing.
PostgreSQL: 127.0.0.1:5432 db `test` (override with BENCH_PG_HOST/PORT/USER/DB); a throw-away schema is
created and dropped. Measured: extraction (payload → frames), the warehouse upsert of the runs table alone
(COPY into a temp table + one INSERT … ON CONFLICT), the same rows by raw COPY into an empty table, a no-op
reload, and the full load_extract (results + runs + metrics + trends) for context.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _setup_airflow_home() -> None:
    home = Path(tempfile.mkdtemp(prefix="cekura-bench-"))
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def _timed(label: str, fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    took = time.perf_counter() - start
    print(f"  {label:<58} {took:7.2f} s")
    return took, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    _setup_airflow_home()

    from cekura_livekit.results.frames import extract
    from cekura_livekit.warehouse.dialects import copy_rows, open_warehouse, q
    from cekura_livekit.warehouse.tables import RUNS
    from cekura_livekit.warehouse.writer import _prepared, ensure_tables, load_extract
    from tests.support.warehouse import synthetic_runs

    host = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
    os.environ["AIRFLOW_CONN_BENCH_PG"] = json.dumps(
        {
            "conn_type": "postgres",
            "host": host,
            "port": int(os.environ.get("BENCH_PG_PORT", "5432")),
            "login": os.environ.get("BENCH_PG_USER", "postgres"),
            "schema": os.environ.get("BENCH_PG_DB", "test"),
        }
    )
    sqlite_path = Path(tempfile.mkdtemp(prefix="cekura-bench-sqlite-")) / "warehouse.db"
    os.environ["AIRFLOW_CONN_BENCH_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": str(sqlite_path)})

    print(f"Cekura warehouse load benchmark: {args.runs:,} runs (2 metrics each)")
    result = {"id": 1, "agent": 1, "agent_name": "agent-1", "status": "completed", "runs": []}
    payloads = list(synthetic_runs(args.runs, metrics=2))
    _, frames = _timed("extract (payloads -> typed frames)", lambda: extract(result, payloads))
    runs_frame = _prepared(frames.runs, RUNS, time_now())

    results: dict[str, float] = {}
    schema = f"cekura_bench_{uuid.uuid4().hex[:8]}"
    print("PostgreSQL")
    try:
        with open_warehouse("bench_pg", schema) as wh:
            dialect = wh.dialect
            with wh.transaction() as cur:
                ensure_tables(dialect, cur)
                cur.execute(f"CREATE TABLE {q(schema)}.raw_copy (LIKE {dialect.table(RUNS)} INCLUDING ALL)")

            def raw_copy() -> None:
                with wh.transaction() as cur:
                    cur.execute(f"TRUNCATE {q(schema)}.raw_copy")
                    copy_rows(cur, f"{q(schema)}.raw_copy", RUNS.column_names, dialect.rows(runs_frame, RUNS))

            def upsert() -> int:
                with wh.transaction() as cur:
                    return dialect.upsert(cur, RUNS, runs_frame)

            _timed("raw COPY of the runs rows into an empty table (warm-up)", raw_copy)
            results["pg_raw_copy"], _ = _timed("raw COPY of the runs rows into an empty table", raw_copy)
            results["pg_upsert"], _ = _timed(
                "upsert runs into an empty table (COPY temp + ON CONFLICT)", upsert
            )
            results["pg_reload"], _ = _timed("upsert the same runs again (no-op reload)", upsert)
        results["pg_full"], _ = _timed(
            "full load_extract (results+runs+metrics+trends), fresh",
            lambda: load_extract("bench_pg", frames, schema + "_full"),
        )
    finally:
        import psycopg

        dsn = f"host={host} user={os.environ.get('BENCH_PG_USER', 'postgres')} dbname={os.environ.get('BENCH_PG_DB', 'test')}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {q(schema)} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {q(schema + '_full')} CASCADE")

    print("SQLite")
    with open_warehouse("bench_sqlite") as wh:
        with wh.transaction() as cur:
            ensure_tables(wh.dialect, cur)

        def sqlite_upsert() -> int:
            with wh.transaction() as cur:
                return wh.dialect.upsert(cur, RUNS, runs_frame)

        results["sqlite_upsert"], _ = _timed(
            "upsert runs into an empty table (batched ON CONFLICT)", sqlite_upsert
        )
        results["sqlite_reload"], _ = _timed("upsert the same runs again (no-op reload)", sqlite_upsert)
    sqlite_path.unlink(missing_ok=True)
    results["sqlite_full"], _ = _timed(
        "full load_extract (results+runs+metrics+trends), fresh", lambda: load_extract("bench_sqlite", frames)
    )

    ratio = results["pg_upsert"] / results["pg_raw_copy"]
    print(
        f"SUMMARY runs={args.runs} pg_upsert={results['pg_upsert']:.2f}s pg_raw_copy={results['pg_raw_copy']:.2f}s "
        f"ratio={ratio:.2f}x (target < 5 s and <= 3x) sqlite_upsert={results['sqlite_upsert']:.2f}s"
    )


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


if __name__ == "__main__":
    main()
