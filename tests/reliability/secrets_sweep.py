"""The secrets sweep of docs/reliability.md: every representation of every secret, in every place it could land.

A library that refuses a header prints it as `b'…\\n'`, a URL builder percent-encodes it, a JSON dump escapes
its newline, an auth header base64-encodes it: redacting only the exact value misses all of these (issue
24.1). So each secret is searched in each form below, in the captured task/scheduler output, Airflow's log
files, the metadata database (raw file, so XCom rows such as `failure_reason` are included), the warehouses
(raw SQLite files and every row of the PostgreSQL schemas) and the generated reports.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]


def representations(value: str) -> dict[str, str]:
    """The forms a value takes when a library prints, escapes or encodes it."""
    raw = value.encode("utf-8", "surrogatepass")
    return {
        "exact": value,
        "repr": repr(value),
        "bytes repr": repr(raw),
        "escaped (\\n as two characters)": value.encode("unicode_escape").decode("ascii"),
        "JSON string (as stored in XCom)": json.dumps(value)[1:-1],
        "URL-encoded": quote(value, safe=""),
        "base64": base64.b64encode(raw).decode("ascii"),
        "stripped": value.strip(),
    }


def _read(paths: Iterable[Path]) -> str:
    """Raw bytes as latin-1, so every byte sequence (a NUL, a lone newline) is searchable as text."""
    return "".join(p.read_bytes().decode("latin-1") for p in paths if p.is_file())


def _sqlite_rows(paths: Iterable[Path]) -> str:
    """Every row of every table, read through SQLite (read-only), so rows still in the WAL are included."""
    out = []
    for path in paths:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                out += [repr(row) for row in db.execute(f'SELECT * FROM "{table}"')]
                out += [
                    str(v) for row in db.execute(f'SELECT * FROM "{table}"') for v in row if v is not None
                ]
    return "\n".join(out)


def _postgres_rows(targets: Iterable[tuple[str, str]]) -> str:
    """Every row of every table in the given (conn_id, schema) PostgreSQL warehouses, as JSON text."""
    from cekura_livekit.warehouse.connection import open_warehouse

    out = []
    for conn_id, schema in targets:
        with open_warehouse(conn_id, schema) as wh:
            _, tables = wh.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
            )
            for (table,) in tables:
                _, rows = wh.query(f'SELECT row_to_json(t)::text FROM "{schema}"."{table}" t', [])
                out += [r[0] for r in rows]
    return "\n".join(out)


def places(
    captured: str, errors: str, scratch: Path, postgres: Iterable[tuple[str, str]], since: float
) -> dict[str, str]:
    """Where a secret could land, each as one searchable text."""
    import os

    from airflow.configuration import conf

    db_url = conf.get("database", "sql_alchemy_conn")
    db_path = Path(db_url.split("///", 1)[1]) if db_url.startswith("sqlite") else None
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    fresh_logs = [p for p in logs.rglob("*") if p.is_file() and p.stat().st_mtime >= since]
    warehouses = sorted(scratch.rglob("*.db"))
    return {
        "task and scheduler output (stdout/stderr, log records)": captured,
        "Airflow log files written during the run": _read(fresh_logs),
        "case errors (what the task would log as its failure)": errors,
        "Airflow metadata DB (every row: XCom incl. failure_reason, task instances, …)": _sqlite_rows(
            [db_path] if db_path else []
        ),
        "SQLite warehouses (every row)": _sqlite_rows(warehouses),
        "PostgreSQL warehouses (every row)": _postgres_rows(postgres),
        "generated reports (HTML)": _read(scratch.rglob("*.html")),
    }


def sweep(secrets: Mapping[str, list[str]], where: Mapping[str, str]) -> list[list[Any]]:
    """One row per (secret, representation): the hits in each place, then the total."""
    rows: list[list[Any]] = []
    for label, values in secrets.items():
        forms: dict[str, list[str]] = {}
        for value in values:
            for kind, form in representations(value).items():
                forms.setdefault(kind, []).append(form)
        for kind, found in forms.items():
            needles = sorted({f for f in found if f})
            same = kind != "exact" and needles == sorted({f for f in forms["exact"] if f})
            hits = [sum(blob.count(n) for n in needles) for blob in where.values()]
            rows.append([label, kind + (" (= exact)" if same else ""), *hits, sum(hits)])
    return rows


def git_hits(values: Iterable[str]) -> list[str]:
    """Tracked files holding any secret (the sandbox's published development defaults are expected)."""
    # A NUL cannot be passed to git (argv); such values are made fresh per run and cannot be in git anyway.
    patterns = sorted({v.strip() for v in values if v.strip() and "\x00" not in v})
    args = [a for x in patterns for a in ("-e", x)]
    return subprocess.run(
        ["git", "grep", "-I", "-l", "-F", *args, "--", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()


def started() -> float:
    """The sweep's clock: log files touched after this are part of the run."""
    return time.time() - 1
