"""Runs every case behind docs/reliability.md and writes its tables (artifacts/reliability.md).

`CEKURA_WRITE_RELIABILITY_DOC=1 make test PYTEST_ARGS="tests/reliability"` also rewrites docs/reliability.md,
so the published figures are exactly what this run measured. The assertions are the invariants the
figures must keep (no unclear operator/suite input, no orphaned batch, no secret anywhere).
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cekura_sandbox import Sandbox
from tests.conftest import ARTIFACTS
from tests.reliability.inventory import CLASSES, Env, Outcome, all_cases, classify, stressed_keys

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]
ROOT = Path(__file__).resolve().parents[2]
V2 = "run_scenarios_livekit_v2"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    esc = [[str(c).replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
    return "\n".join(
        [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in esc),
        ]
    )


# ------------------------------------------------------------------------------------------ fault matrix
FAULTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    # (label, DAG case in tests/dag_files/fail_fast_flow.py, sandbox fault, expected)
    ("foreign scenario id (Cekura 400)", "foreign_scenario", None, "failed after 1 try"),
    ("rejected API key (401)", "wrong_key", None, "failed after 1 try"),
    ("missing Cekura connection", "missing_conn", None, "failed after 1 try"),
    ("unknown warehouse connection", "missing_warehouse", None, "failed after 1 try"),
    ("unsupported warehouse (mysql)", "mysql_warehouse", None, "failed after 1 try"),
    ("rendered batch above max_runs", "too_big", None, "failed after 1 try"),
    ("503 at submit", "outage", {"path_contains": V2, "kind": "503"}, "success after 2 tries"),
    (
        "200 with a truncated body at submit",
        "malformed",
        {"path_contains": V2, "kind": "malformed"},
        "success",
    ),
    (
        "submit answer lost (connection dropped)",
        "lost_answer",
        {"path_contains": V2, "kind": "drop"},
        "success",
    ),
    (
        "429 ×3 on result reads (name lookup, polls; deferred)",
        "poll_429",
        {"path_contains": "/results/", "kind": "429", "times": 3, "method": "GET", "retry_after": 0},
        "success",
    ),
    (
        "500 ×4 on result reads (name lookup, polls)",
        "poll_500",
        {"path_contains": "/results/", "kind": "500", "times": 4, "method": "GET"},
        "success",
    ),
]


def _fault_row(sandbox: Sandbox, label: str, case: str, fault: dict[str, Any] | None) -> list[Any]:
    from tests.dag_files.fail_fast_flow import dags

    sandbox.clear_requests()
    before = set(sandbox.store.results)
    if fault:
        sandbox.inject_fault(**{"times": 1, **fault})
    dr = dags[case].test()
    sandbox.clear_faults()
    (ti,) = dr.get_task_instances()
    created = set(sandbox.store.results) - before
    pushed = ti.xcom_pull(task_ids="run_scenarios", key="result_id")
    reason = ti.xcom_pull(task_ids="run_scenarios", key="failure_reason") or {}
    orphans = len(created - {pushed})
    did = f"{ti.state} after {ti.try_number} {'try' if ti.try_number == 1 else 'tries'}"
    if reason:
        did += f" ({reason.get('kind')}: {reason.get('message', '')[:90]})"
    return [
        label,
        did,
        sandbox.count("POST", V2),
        len(created),
        "yes" if pushed in created else "no",
        orphans,
    ]


# ------------------------------------------------------------------------------------------ load cases
def _load_case(label: str, target: Any, n: int, result_id: int) -> list[Any]:
    from cekura_livekit.results.frames import extract
    from cekura_livekit.warehouse.writer import load_extract
    from tests.support.warehouse import make_result, synthetic_runs

    tracemalloc.start()
    start = time.perf_counter()
    frames = extract(make_result(result_id, [], agent=1), synthetic_runs(n, result_id=result_id))
    load_extract(target.conn_id, frames, target.schema)
    wall = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return [label, f"{n:,}", f"{wall:.2f} s", f"{peak / 2**20:.0f} MiB", _count_runs(target, result_id)]


def _count_runs(target: Any, result_id: int) -> int:
    from cekura_livekit.warehouse.connection import open_warehouse
    from cekura_livekit.warehouse.tables import RUNS

    with open_warehouse(target.conn_id, target.schema) as wh:
        _, rows = wh.query(
            f"SELECT COUNT(*) FROM {wh.dialect.table(RUNS)} WHERE result_id = {wh.dialect.param}", [result_id]
        )
    return int(rows[0][0])


def _concurrent_loads(target: Any, loads: int, n: int) -> list[Any]:
    """`loads` loads at once into the same agent/scenario/day keys (each a different result)."""
    from cekura_livekit.results.frames import extract
    from cekura_livekit.warehouse.writer import load_extract
    from tests.support.warehouse import make_result, make_run

    errors: list[BaseException] = []

    def one(k: int) -> None:
        runs = [make_run(5_000_000 + k * n + i, day=date(2026, 11, 1), result_id=900 + k) for i in range(n)]
        try:
            load_extract(target.conn_id, extract(make_result(900 + k, runs)), target.schema)
        except BaseException as exc:
            errors.append(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(k,)) for k in range(loads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    rows = sum(_count_runs(target, 900 + k) for k in range(loads))
    label = f"{loads} concurrent loads, same keys ({target.dialect})"
    return [
        label,
        f"{loads} × {n}",
        f"{wall:.2f} s",
        "—",
        f"{rows} (expected {loads * n}; errors {len(errors)})",
    ]


# ------------------------------------------------------------------------------------------ secrets sweep
def _secret_values(sandbox: Sandbox, env: Env) -> dict[str, list[str]]:
    tokens = [r.access_token for r in sandbox.store.runs.values() if getattr(r, "access_token", None)]
    secrets = {
        "Cekura API key": [sandbox.api_key],
        "LiveKit API secret": [sandbox.livekit_api_secret, sandbox.livekit_api_secret + "\n"],
        "minted LiveKit join tokens": tokens,
    }
    secrets |= {f"Cekura API key stored {k}": [v] for k, v in stressed_keys(env).items()}
    return secrets


#: Secrets whose leak is an open issue: reported in the doc, not yet asserted (drop an entry once it is fixed).
#: Empty since issue 24.1 landed (credentials are normalised and every printed form is redacted).
OPEN_LEAKS: dict[str, str] = {}


def _inventory_summary(outcomes: list[Outcome]) -> str:
    """Counts per area and class, then per open issue item and class."""
    counts = Counter(o.klass for o in outcomes)
    by_area = Counter((o.case.area, o.klass) for o in outcomes)
    areas = list(dict.fromkeys(o.case.area for o in outcomes))
    by_issue = Counter((o.case.issue, o.klass) for o in outcomes if o.case.issue)
    issues = sorted(
        {o.case.issue for o in outcomes if o.case.issue}, key=lambda i: [int(p) for p in i.split(".")]
    )
    rows = [[a, *(by_area[(a, k)] for k in CLASSES), sum(by_area[(a, k)] for k in CLASSES)] for a in areas]
    return (
        _table(
            ["area", *CLASSES, "cases"], [*rows, ["**all**", *(counts[k] for k in CLASSES), len(outcomes)]]
        )
        + "\n\nCases that measure an open issue item (`issue` in the case), by class: once the item is fixed "
        "they leave *accepted* and *unclear*.\n\n"
        + _table(["issue item", *CLASSES], [[i, *(by_issue[(i, k)] for k in CLASSES)] for i in issues])
    )


def _inventory_lists(outcomes: list[Outcome]) -> str:
    """The accepted inputs with their justification, then every case."""
    accepted = [o for o in outcomes if o.klass == "accepted"]
    return (
        "### Accepted inputs\n\nEach with the reason written into its case definition (`accepted_ok`), or "
        "the open issue that says it should be refused.\n\n"
        + _table(
            ["area", "input", "became", "why accepted"],
            [
                [o.case.area, o.case.name, o.message, o.justification or "**unaccounted for**"]
                for o in accepted
            ],
        )
        + "\n\n### Every case\n\n"
        + _table(
            ["area", "input", "class", "issue", "message (first line)"],
            [[o.case.area, o.case.name, o.klass, o.case.issue, o.message] for o in outcomes],
        )
    )


def _stress_newline_key(sandbox: Sandbox, key: str, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Issue 24.1's run: a real task run (retries=2) whose connection holds an API key with a trailing newline."""
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_WRONG_KEY",
        json.dumps({"conn_type": "cekura", "host": sandbox.cekura_url, "password": key}),
    )
    return _fault_row(sandbox, "API key stored with a trailing newline (sweep stress)", "wrong_key", None)


def _render(m: dict[str, Any]) -> str:
    """docs/reliability.md from what this run measured."""
    return (
        "\n\n".join(
            [
                "# Reliability figures\n\nGenerated by `tests/reliability/test_reliability.py` (run it with "
                "`CEKURA_WRITE_RELIABILITY_DOC=1` to rewrite this page); every number below was measured in that "
                f"run, against the sandbox, real Airflow (`dag.test()`), SQLite and PostgreSQL ({m['total']:.0f} s).",
                "## Fault matrix\n\nEach case is a real task run (`dag.test()`, retries=2, no retry delay) with "
                "the fault armed in the sandbox. *Submits* counts POSTs to the submit endpoint (including failed "
                "ones); *batches* counts batches Cekura created; *orphans* are created batches whose id the task "
                "did not push (nobody would load or end them). The last row is the secrets sweep's stress run.\n\n"
                + _table(
                    ["case", "what the system did", "submits", "batches", "result id pushed", "orphans"],
                    m["faults"],
                ),
                "## Crash and restart\n\n" + _table(["case", "what happened", "submits"], m["crashes"]),
                "## Loads\n\nWall time includes extraction and the load transaction; peak memory is Python "
                "allocations (tracemalloc, which also slows the run).\n\n"
                + _table(["case", "runs", "wall time", "peak memory", "rows checked"], m["loads"]),
                f"## Bad-input inventory\n\n{len(m['outcomes'])} bad inputs, each fed the way a user would (operator "
                "and sensor arguments, suite files and whole suite folders through the real DAG file, "
                "connections, warehouses, report destinations as run parameters, API payloads) and classed by "
                "what happened (`tests/reliability/case.py`): *clear-before-side-effect* = refused, naming the "
                "field/key and value, before any paid call; *clear-after* = clear, but only after something "
                "happened; *unclear* = the message does not name what to fix, or the refusal took something "
                "else down (HARM); *accepted* = taken without error "
                f"({m['inventory_seconds']:.0f} s for all of them).\n\n"
                + _inventory_summary(m["outcomes"])
                + "\n\n"
                + _inventory_lists(m["outcomes"]),
                "## Secrets sweep\n\nSearched for the sandbox's Cekura API key, its LiveKit API secret (also "
                "as stored with a trailing newline), every join token minted during the run, and freshly made "
                "Cekura keys stored the ways a careless operator stores them (a trailing newline, a NUL, an "
                "escape character, …; their connection cases and a real `dag.test()` run with retries were "
                "driven through the system). Each in every representation a library may print: exact, `repr`, "
                "bytes `repr` (`b'…'`), with `\\n` escaped, URL-encoded, base64 and stripped. "
                + ", ".join(f"{k}: {len(v):,} chars" for k, v in m["where"].items())
                + ".\n\n"
                + _table(["secret", "representation", *m["where"], "total"], m["sweep"])
                + "\n\nGit-tracked files holding any of them: "
                + (", ".join(f"`{f}`" for f in m["git_files"]) or "none")
                + " (the stand-in's published development credentials — its defaults, the docker-compose demo — "
                f"not a leak). Join tokens minted: {m['tokens']}.",
            ]
        )
        + "\n"
    )


def test_reliability_figures(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
    pg_warehouse: Any,
    sqlite_warehouse: Any,
) -> None:
    import json
    import logging

    from tests.reliability import secrets_sweep

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_WRONG_KEY",
        json.dumps({"conn_type": "cekura", "host": cekura_sandbox.cekura_url, "password": "not-the-key"}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_MYSQL_WH", json.dumps({"conn_type": "mysql", "host": "localhost"}))
    since = secrets_sweep.started()
    started = time.perf_counter()
    env = Env(
        cekura_sandbox, tmp_path, monkeypatch.setenv, {"pg": (pg_warehouse.conn_id, pg_warehouse.schema)}
    )

    # 1. fault matrix and crash/restart, through real task runs
    faults = [_fault_row(cekura_sandbox, label, case, fault) for label, case, fault, _ in FAULTS]
    stress = _stress_newline_key(cekura_sandbox, stressed_keys(env)["with a trailing newline"], monkeypatch)
    from tests.dag_files.op_cekura_flow import byo_dag, retry_dag

    cekura_sandbox.clear_requests()
    crash = retry_dag.test()
    (cti,) = crash.get_task_instances()
    rooms_before = set(cekura_sandbox.livekit_rooms)  # managed rooms stay in the stand-in by design
    byo = byo_dag.test()
    (bti,) = byo.get_task_instances()
    crashes = [
        [
            "worker dies right after a fresh submit",
            f"{cti.state} after {cti.try_number} tries; re-attached by the task state store / batch name",
            cekura_sandbox.count("POST", V2),
        ],
        [
            "bring-your-own rooms, deferred, resumed in execute_complete",
            f"{bti.state}; rooms left: {len(set(cekura_sandbox.livekit_rooms) - rooms_before)} of "
            f"{cekura_sandbox.count('POST', 'RoomService/CreateRoom', server='livekit')} created",
            cekura_sandbox.count("POST", "run_scenarios_livekit/"),
        ],
    ]

    # 2. bad inputs
    timed = time.perf_counter()
    cases = all_cases(env)
    outcomes: list[Outcome] = [classify(case, env) for case in cases]
    inventory_seconds = time.perf_counter() - timed

    # 3. loads
    loads = [
        _load_case("SQLite, one result", sqlite_warehouse, 1_000, 11),
        _load_case("SQLite, one result", sqlite_warehouse, 10_000, 12),
        _load_case("PostgreSQL, one result", pg_warehouse, 10_000, 13),
        _load_case("PostgreSQL, one big result", pg_warehouse, 50_000, 14),
        _concurrent_loads(pg_warehouse, 8, 50),
    ]

    # 4. secrets: every representation of every secret, everywhere it could land
    out, err = capfd.readouterr()
    secrets = _secret_values(cekura_sandbox, env)
    errors = "\n".join(o.detail for o in outcomes)
    where = secrets_sweep.places(out + err + caplog.text, errors, tmp_path, [env.cache["pg"]], since)
    sweep = secrets_sweep.sweep(secrets, where)
    git_files = secrets_sweep.git_hits(v for values in secrets.values() for v in values)
    total = time.perf_counter() - started

    text = _render(
        {
            "total": total,
            "faults": [*faults, stress],
            "crashes": crashes,
            "loads": loads,
            "outcomes": outcomes,
            "inventory_seconds": inventory_seconds,
            "where": where,
            "sweep": sweep,
            "git_files": git_files,
            "tokens": len(secrets["minted LiveKit join tokens"]),
        }
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "reliability.md").write_text(text)
    if os.environ.get("CEKURA_WRITE_RELIABILITY_DOC"):
        (ROOT / "docs" / "reliability.md").write_text(text)

    _assert_invariants(cases, outcomes, [*faults, stress], sweep, git_files, secrets)


def _assert_invariants(
    cases: list[Any],
    outcomes: list[Outcome],
    faults: list[list[Any]],
    sweep: list[list[Any]],
    git_files: list[str],
    secrets: dict[str, list[str]],
) -> None:
    """The invariants the published figures must keep."""
    assert len(outcomes) >= 190, len(outcomes)
    assert len({(c.area, c.name) for c in cases}) == len(cases), "two cases share a name"
    # Every accepted input is accounted for: a reason it is right, or the open issue it proves.
    assert not [o.case.name for o in outcomes if o.klass == "accepted" and not o.justification]
    # Inputs already guarded stay guarded: no unclear operator/suite input outside an open issue's cases.
    assert not [
        (o.case.name, o.message)
        for o in outcomes
        if o.case.area in ("operator argument", "suite file") and o.klass == "unclear" and not o.case.issue
    ]
    assert all(row[-1] == 0 for row in faults), faults  # no orphaned batch (the stress run included)
    assert all("failed after 1 try" in row[1] for row in faults[:6]), faults
    assert all(row[1].startswith("success") for row in faults[6:-1]), faults
    # No secret in any representation anywhere, except the open issues' (reported above, asserted once fixed).
    leaks = [row for row in sweep if row[-1] and not any(row[0].startswith(p) for p in OPEN_LEAKS.values())]
    assert not leaks, leaks
    # Only the stand-in's published development credentials (sandbox defaults, docker-compose demo) are in git.
    assert set(git_files) <= {"sandbox/src/cekura_sandbox/server.py", "docker-compose.yaml"}, git_files
    assert secrets["minted LiveKit join tokens"], "no join token was minted, so the token search was vacuous"
