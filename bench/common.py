"""What every benchmark shares: repeated timing, results rows, the machine, memory sampling, a sandbox process.

Benchmarks measure and report; they assert nothing about speed (targets are judged in BENCHMARKS.md).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
PG_DSN = "host={host} port={port} user={user} dbname={db}".format(
    host=os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
    port=os.environ.get("BENCH_PG_PORT", "5432"),
    user=os.environ.get("BENCH_PG_USER", "postgres"),
    db=os.environ.get("BENCH_PG_DB", "test"),
)


@dataclass
class Stat:
    """Median of repeated samples with their spread."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)


@dataclass
class Row:
    """One line of a results table: a case at a size, its measure and how it compares."""

    case: str
    size: str
    stat: Stat
    unit: str
    ratio: str = ""
    note: str = ""


@dataclass
class Target:
    """One of the issue's targets: what was asked, what was measured, met or not."""

    goal: str
    measured: str
    met: bool | None
    why: str = ""


@dataclass
class Section:
    """The outcome of one benchmark: a table and the targets it judges."""

    title: str
    intro: str
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    seconds: float = 0.0

    def add(
        self, case: str, size: object, samples: list[float], unit: str, ratio: str = "", note: str = ""
    ) -> Stat:
        stat = Stat(list(samples))
        self.rows.append(Row(case, str(size), stat, unit, ratio, note))
        return stat


def repeat(fn: Callable[[], Any], reps: int, setup: Callable[[], Any] | None = None) -> list[float]:
    """Wall seconds of `fn` over `reps` runs (each after an untimed `setup`)."""
    out = []
    for _ in range(reps):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


class PeakRss:
    """The process's peak resident memory while a block runs, sampled every 10 ms in a thread."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(0.01)

    def __enter__(self) -> PeakRss:
        self.base = self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """The machine and software the numbers belong to."""
    packages = (
        "apache-airflow",
        "apache-airflow-task-sdk",
        "airflow-provider-cekura-livekit",
        "cekura",
        "httpx",
        "psycopg",
        "pandas",
        "numpy",
        "livekit-api",
        "SQLAlchemy",
    )
    return {
        "CPU": _cpu_model(),
        "cores": f"{psutil.cpu_count(logical=True)} logical ({psutil.cpu_count(logical=False)} physical)",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "PostgreSQL": _pg_version(),
        "SQLite": __import__("sqlite3").sqlite_version,
        "packages": ", ".join(f"{p} {_version(p)}" for p in packages),
    }


def _pg_version() -> str:
    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"
    except Exception as exc:
        return f"unavailable ({type(exc).__name__})"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def airflow_env() -> None:
    """A throw-away Airflow home and the benchmark's connections (PostgreSQL, SQLite), set once."""
    if os.environ.get("CEKURA_BENCH_HOME"):
        return
    home = Path(tempfile.mkdtemp(prefix="cekura-bench-"))
    os.environ["CEKURA_BENCH_HOME"] = str(home)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    parts = dict(p.split("=", 1) for p in PG_DSN.split())
    os.environ["AIRFLOW_CONN_BENCH_PG"] = json.dumps(
        {
            "conn_type": "postgres",
            "host": parts["host"],
            "port": int(parts["port"]),
            "login": parts["user"],
            "schema": parts["dbname"],
        }
    )
    os.environ["AIRFLOW_CONN_BENCH_SQLITE"] = json.dumps(
        {"conn_type": "sqlite", "host": str(home / "warehouse.db")}
    )


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def sandbox_class() -> Any:
    """The sandbox's `Sandbox` class, wherever the restructure put it."""
    try:
        from cekura_livekit.sandbox import Sandbox
    except ImportError:
        from cekura_sandbox import Sandbox
    return Sandbox


def _sandbox_main(conn: Any, speed: float, seed: int) -> None:
    Sandbox = sandbox_class()
    with Sandbox(seed=seed, speed=speed) as sb:
        conn.send({"env": sb.connection_env(), "url": sb.cekura_url, "api_key": sb.api_key})
        while True:
            command = conn.recv()
            if command == "count":
                conn.send(len(sb.requests))
            elif command == "clear":
                sb.clear_requests()
                conn.send(True)
            else:
                conn.send(True)
                return


class SandboxProcess:
    """The sandbox in its own process, so its CPU is never counted as the client's."""

    def __init__(self, speed: float, seed: int = 7) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_sandbox_main, args=(child, speed, seed), daemon=True)
        self._proc.start()
        info = self._conn.recv()
        self.env: dict[str, str] = info["env"]
        self.url: str = info["url"]
        self.api_key: str = info["api_key"]

    def count(self) -> int:
        self._conn.send("count")
        return int(self._conn.recv())

    def clear(self) -> None:
        self._conn.send("clear")
        self._conn.recv()

    def close(self) -> None:
        try:
            self._conn.send("stop")
            self._conn.recv()
        finally:
            self._proc.join(10)


@contextmanager
def sandbox_process(speed: float, seed: int = 7) -> Iterator[SandboxProcess]:
    sb = SandboxProcess(speed, seed)
    old = {k: os.environ.get(k) for k in sb.env}
    os.environ.update(sb.env)
    try:
        yield sb
    finally:
        sb.close()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def fmt(value: float, unit: str, with_unit: bool = True) -> str:
    """A number for the tables: seconds below 0.1 as ms, ratios as ×, large counts with separators."""
    if with_unit and unit == "s" and value < 0.1:
        value, unit = value * 1000, "ms"
    if unit == "s":
        text = f"{value:.2f}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}" if with_unit else text
