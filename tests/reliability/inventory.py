"""The bad-input inventory of docs/reliability.md: every case is run, and its class is measured, not typed in.

A case is a callable that feeds one bad value to the project the way a user would (operator argument, suite
file, connection, API payload, warehouse setting). The runner records whether it raised, whether the message
names what it must name (the field/key/connection and the value), and whether anything happened on the
outside first (a submit, a LiveKit room). Classes:

- clear-before-side-effect: refused with a message naming the field/key and value, before any call was paid.
- clear-after: the message is clear, but only after something already happened (e.g. the calls ran).
- unclear: refused, but the message does not name what to fix.
- accepted: taken without error (the table says what it became).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_RUNS = itertools.count(1)
CLASSES = ("clear-before-side-effect", "clear-after", "unclear", "accepted")


@dataclass
class Env:
    """What a case may use: the sandbox, a scratch folder, and a way to set connection env vars."""

    sandbox: Any
    tmp: Path
    setenv: Callable[[str, str], None]

    def submits(self) -> int:
        return self.sandbox.count("POST", "run_scenarios_livekit") + self.sandbox.count("POST", "CreateRoom")


@dataclass(frozen=True)
class Case:
    area: str
    name: str
    run: Callable[[Env], Any]
    #: Strings a clear message contains (the field/key/connection, usually also the value).
    names: tuple[str, ...]
    #: The case only gets to the bad value after a paid side effect (e.g. the load task after the batch).
    after_side_effect: bool = False


@dataclass(frozen=True)
class Outcome:
    case: Case
    klass: str
    message: str


def classify(case: Case, env: Env) -> Outcome:
    before = env.submits()
    try:
        value = case.run(env)
    except BaseException as exc:  # every case is expected to fail somewhere; we record how
        message = str(exc).strip() or type(exc).__name__
        cause = exc.__cause__
        text = f"{message} {cause}" if cause is not None else message
        clear = all(n.lower() in text.lower() for n in case.names)
        side_effect = case.after_side_effect or env.submits() > before
        klass = ("clear-after" if side_effect else "clear-before-side-effect") if clear else "unclear"
        return Outcome(case, klass, message.splitlines()[0][:160])
    return Outcome(case, "accepted", f"accepted as {value!r:.120}" if value is not None else "accepted")


# ------------------------------------------------------------------------------------------ operator arguments
def _operator(**kwargs: Any) -> Any:
    from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator

    return CekuraRunLiveKitScenariosOperator(**{"task_id": "t", "scenarios": [2001], "agent": 101, **kwargs})


def _execute(**kwargs: Any) -> Callable[[Env], Any]:
    """Construct with templates, then 'render' the bad values and execute against the sandbox."""

    def run(env: Env) -> Any:
        from cekura_livekit.batch.spec import TEMPLATED_ARGUMENTS
        from tests.support.task_context import FakeTI, MemoryStateStore, make_context

        rendered = {k: v for k, v in kwargs.items() if isinstance(v, str) and k in TEMPLATED_ARGUMENTS}
        op = _operator(**{**kwargs, **dict.fromkeys(rendered, "{{ params.x }}")}, wait_for_completion=False)
        for key, value in rendered.items():
            setattr(op, key, value)
        # A task instance of its own per case: the same one would re-attach to the previous case's batch.
        ti = FakeTI(run_id=f"inventory__{next(_RUNS)}")
        return op.execute(make_context(ti=ti, store=MemoryStateStore()))

    return run


def operator_cases() -> list[Case]:
    from tests.operators.test_run_scenarios_validation import CASES

    cases = [
        Case("operator argument", name, lambda env, kw=kwargs: _operator(**kw), (field,))
        for name, kwargs, field in CASES
    ]
    cases += [
        Case("operator argument", f"rendered {field}={value!r}", _execute(**{field: value}), (field,))
        for field, value in [
            ("scenarios", "[]"),
            ("scenarios", "2001, x"),
            ("frequency", "0"),
            ("frequency", "500"),
            ("agent", "acme"),
            ("min_success_rate", "1.5"),
            ("scenarios", "[2001, 2002, 2003, 2004, 2005, 2006]"),
        ]
    ]
    cases.append(
        Case(
            "operator argument",
            "rendered frequency=100 × 3 scenarios (above max_runs)",
            _execute(scenarios="[2001, 2002, 2004]", frequency="100"),
            ("max_runs", "300"),
        )
    )
    cases.append(
        Case(
            "operator argument",
            "hook_params retry_limit='5'",
            lambda env: _operator(hook_params={"retry_limit": "5"})._spec(strict=True).hook_params,
            ("retry_limit",),
        )
    )
    return cases


# ------------------------------------------------------------------------------------------ suite files
SUITE = "suite: s1\nagent: 101\nscenarios: [2001]\n"
SUITE_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("frequency 250", SUITE + "frequency: 250\n", ("s1.yaml", "frequency", "250")),
    ("invalid cron", SUITE + "schedule: '61 * * * *'\n", ("s1.yaml", "schedule", "61 * * * *")),
    ("unknown key", SUITE + "frequncy: 2\n", ("s1.yaml", "frequncy")),
    ("missing agent", "suite: s1\nscenarios: [2001]\n", ("s1.yaml", "agent")),
    ("not YAML", "suite: [s1\n", ("s1.yaml", "line")),
    ("not a mapping", "- 1\n- 2\n", ("s1.yaml",)),
    ("scenario id 0", "suite: s1\nagent: 101\nscenarios: [0]\n", ("s1.yaml", "scenarios")),
    ("fail_on typo", SUITE + "fail_on: [infra]\n", ("s1.yaml", "fail_on", "infra")),
    ("start_date garbage", SUITE + "start_date: soon\n", ("s1.yaml", "start_date", "soon")),
    ("rate 80 instead of 0.8", SUITE + "min_success_rate: 80\n", ("s1.yaml", "min_success_rate", "80")),
    ("byo without agent name", SUITE + "mode: bring_your_own_rooms\n", ("s1.yaml", "livekit_agent_name")),
    (
        "above max_runs",
        SUITE.replace("[2001]", "[2001, 2002, 2003]") + "frequency: 100\n",
        ("s1.yaml", "max_runs"),
    ),
    ("two problems at once", SUITE + "frequency: 0\nretries: -1\n", ("frequency", "retries")),
    ("upper-case suite id", "suite: S1\nagent: 101\nscenarios: [2001]\n", ("s1.yaml", "suite", "S1")),
    ("connection id with spaces", SUITE + "cekura_conn_id: ' x '\n", ("s1.yaml", "cekura_conn_id")),
]


def _suite_file(text: str) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        from cekura_livekit.suites import load_suite_file

        path = env.tmp / "s1.yaml"
        path.write_text(text)
        return load_suite_file(path).suite

    return run


def suite_cases() -> list[Case]:
    return [Case("suite file", name, _suite_file(text), names) for name, text, names in SUITE_CASES]


# ------------------------------------------------------------------------------------------ connections
def _with_conn(conn_id: str, conn: dict[str, Any] | None, **kwargs: Any) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        if conn is not None:
            env.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return (
            _execute(cekura_conn_id=conn_id, **kwargs)(env)
            if "livekit" not in conn_id
            else _execute(
                mode="bring_your_own_rooms",
                livekit_conn_id=conn_id,
                livekit_agent_name="acme-support",
                **kwargs,
            )(env)
        )

    return run


def connection_cases(env: Env) -> list[Case]:
    url, key = env.sandbox.cekura_url, env.sandbox.api_key
    host = url.split("://", 1)[1]
    lk = env.sandbox.livekit_url
    return [
        Case(
            "connection", "cekura connection missing", _with_conn("cekura_nowhere", None), ("cekura_nowhere",)
        ),
        Case(
            "connection",
            "no API key",
            _with_conn("cek_nokey", {"conn_type": "cekura", "host": url}),
            ("cek_nokey", "API key"),
        ),
        Case(
            "connection",
            "wrong API key (401)",
            _with_conn("cek_wrong", {"conn_type": "cekura", "host": url, "password": "wrong"}),
            ("cek_wrong", "rejected"),
        ),
        Case(
            "connection",
            "extra chunk_size='abc'",
            _with_conn(
                "cek_chunk",
                {"conn_type": "cekura", "host": url, "password": key, "extra": {"chunk_size": "abc"}},
            ),
            ("chunk_size", "cek_chunk"),
        ),
        Case(
            "connection",
            "extra chunk_size=500",
            _with_conn(
                "cek_chunk2",
                {"conn_type": "cekura", "host": url, "password": key, "extra": {"chunk_size": 500}},
            ),
            ("chunk_size", "cek_chunk2"),
        ),
        Case(
            "connection",
            "extra timeout='soon'",
            _with_conn(
                "cek_to", {"conn_type": "cekura", "host": url, "password": key, "extra": {"timeout": "soon"}}
            ),
            ("timeout", "cek_to"),
        ),
        Case(
            "connection",
            "host without scheme (http server)",
            _with_conn("cek_noscheme", {"conn_type": "cekura", "host": host, "password": key}),
            ("cek_noscheme", "http"),
        ),
        Case(
            "connection",
            "host with a typo'd port",
            _with_conn(
                "cek_port",
                {
                    "conn_type": "cekura",
                    "host": "http://127.0.0.1:9",
                    "password": key,
                    "extra": {"timeout": 2},
                },
                hook_params={"retry_limit": 0},
            ),
            ("cek_port", "127.0.0.1:9"),
        ),
        Case(
            "connection",
            "livekit connection missing",
            _with_conn("livekit_nowhere", None),
            ("livekit_nowhere",),
        ),
        Case(
            "connection",
            "livekit wrong secret",
            _with_conn(
                "livekit_bad",
                {
                    "conn_type": "livekit",
                    "host": lk,
                    "login": env.sandbox.livekit_api_key,
                    "password": "x" * 32,
                },
            ),
            ("livekit_bad",),
        ),
        Case(
            "connection",
            "livekit without key",
            _with_conn("livekit_nokey", {"conn_type": "livekit", "host": lk}),
            ("livekit_nokey",),
        ),
    ]


# ------------------------------------------------------------------------------------------ API payloads
def _payload(result: Any, runs: Any = None) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        from cekura_livekit.batch.wait import snapshot_of_result
        from cekura_livekit.results.frames import extract

        snapshot_of_result(result)
        frames = extract(result, runs)
        return f"{len(frames.runs)} runs"

    return run


def _run(**overrides: Any) -> dict[str, Any]:
    from tests.support.warehouse import make_run

    return {**make_run(10, day="2026-11-01"), **overrides}


def payload_cases() -> list[Case]:
    ok = {"id": 5, "status": "completed", "runs": []}
    return [
        Case("API payload", "result is a list", _payload([1, 2]), ("expected an object",)),
        Case("API payload", "result without id", _payload({"status": "completed"}), ("id",)),
        Case("API payload", "result id 'abc'", _payload({**ok, "id": "abc"}), ("id", "abc")),
        Case("API payload", "runs is a string", _payload({**ok, "runs": "lots"}), ("runs",)),
        Case("API payload", "a run is null", _payload({**ok, "runs": [None]}), ("run",)),
        Case(
            "API payload",
            "total_runs_count 'many'",
            _payload({**ok, "total_runs_count": "many"}),
            ("total_runs_count", "many"),
        ),
        Case("API payload", "unknown status 'provisioning'", _payload({**ok, "status": "provisioning"}), ()),
        Case(
            "API payload",
            "run timestamp 'yesterday'",
            _payload(ok, [_run(timestamp="yesterday")]),
            ("timestamp", "yesterday"),
        ),
        Case("API payload", "run duration '-5'", _payload(ok, [_run(duration="-5")]), ("duration", "-5")),
        Case("API payload", "run without id", _payload(ok, [_run(id=None)]), ("id",)),
        Case(
            "API payload",
            "metric is a string",
            _payload(ok, [_run(evaluation={"metrics": ["x"]})]),
            ("metric",),
        ),
        Case("API payload", "success 'maybe'", _payload(ok, [_run(success="maybe")]), ("success", "maybe")),
    ]


# ------------------------------------------------------------------------------------------ warehouse settings
def _load_op(**kwargs: Any) -> Any:
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

    return CekuraResultsToWarehouseOperator(
        **{"task_id": "load", "result_id": 1, "warehouse_conn_id": "wh", **kwargs}
    )


def _load_after_batch(conn: dict[str, Any] | None, conn_id: str = "wh_case") -> Callable[[Env], Any]:
    """The load task alone: the batch already ran (a side effect) before the warehouse is touched."""

    def run(env: Env) -> Any:
        if conn is not None:
            env.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        summary = _execute()(env)  # the batch ran (the calls were paid) before the load task starts
        return _load_op(result_id=summary["result_id"], warehouse_conn_id=conn_id).execute({})

    return run


def _preflight(conn: dict[str, Any] | None, conn_id: str = "wh_pre") -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        if conn is not None:
            env.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return _execute(warehouse_conn_id=conn_id)(env)

    return run


def warehouse_cases(env: Env) -> list[Case]:
    bad_dir = str(env.tmp / "no-such-dir" / "w.db")
    return [
        Case(
            "warehouse setting", "schema with trailing newline", lambda e: _load_op(schema="x\n"), ("schema",)
        ),
        Case("warehouse setting", "schema with a quote", lambda e: _load_op(schema='a"b'), ("schema",)),
        Case("warehouse setting", "empty schema", lambda e: _load_op(schema=""), ("schema",)),
        Case(
            "warehouse setting", "trailing_days -1", lambda e: _load_op(trailing_days=-1), ("trailing_days",)
        ),
        Case(
            "warehouse setting",
            "refresh_stale_days 'week'",
            lambda e: _load_op(refresh_stale_days="week"),
            ("refresh_stale_days",),
        ),
        Case(
            "warehouse setting",
            "unknown conn id (pre-flight)",
            _preflight(None, "wh_nowhere"),
            ("wh_nowhere",),
        ),
        Case(
            "warehouse setting",
            "mysql conn type (pre-flight)",
            _preflight({"conn_type": "mysql"}),
            ("wh_pre", "mysql"),
        ),
        Case(
            "warehouse setting",
            "unknown conn id (load task alone)",
            _load_after_batch(None, "wh_gone"),
            ("wh_gone",),
            after_side_effect=True,
        ),
        Case(
            "warehouse setting",
            "mysql conn type (load task alone)",
            _load_after_batch({"conn_type": "mysql"}),
            ("wh_case", "mysql"),
            after_side_effect=True,
        ),
        Case(
            "warehouse setting",
            "unwritable SQLite path",
            _load_after_batch({"conn_type": "sqlite", "host": bad_dir}),
            ("wh_case",),
            after_side_effect=True,
        ),
        Case(
            "warehouse setting",
            "PostgreSQL on a closed port",
            _load_after_batch(
                {
                    "conn_type": "postgres",
                    "host": "127.0.0.1",
                    "port": 9,
                    "login": "postgres",
                    "schema": "test",
                }
            ),
            ("wh_case",),
            after_side_effect=True,
        ),
    ]


def all_cases(env: Env) -> list[Case]:
    return [
        *operator_cases(),
        *suite_cases(),
        *connection_cases(env),
        *payload_cases(),
        *warehouse_cases(env),
    ]
