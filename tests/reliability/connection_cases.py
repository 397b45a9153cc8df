"""Bad connections: Cekura (API key forms, hosts, extras), LiveKit (secrets, keys, hosts) and warehouses
(unknown, unsupported, unreachable, ambiguous SQLite paths), each driven through the operator against the
sandbox, so a connection that is only found wrong after the submit shows as such.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from tests.reliability.argument_cases import execute, operator
from tests.reliability.case import RUNS, Case, Env

AREA = "connection"
WAREHOUSE = "warehouse setting"
#: Fail at once instead of spending the retry budget (the class, not the retry count, is measured here).
NO_RETRY = {"hook_params": {"retry_limit": 0}}


def _with_conn(conn_id: str, conn: dict[str, Any] | None, **kwargs: Any) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        if conn is not None:
            env.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        if "livekit" not in conn_id:
            return execute(cekura_conn_id=conn_id, **kwargs)(env)
        return execute(
            mode="bring_your_own_rooms", livekit_conn_id=conn_id, livekit_agent_name="acme-support", **kwargs
        )(env)

    return run


def _pushed_link(conn_id: str, conn: dict[str, Any]) -> Callable[[Env], Any]:
    """Submit, and return the dashboard link the task pushed (what its 'Cekura result' button opens)."""

    def run(env: Env) -> Any:
        from tests.support.task_context import FakeTI, MemoryStateStore, make_context

        env.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        ti = FakeTI(run_id=f"inventory__{next(RUNS)}")
        op = operator(cekura_conn_id=conn_id, wait_for_completion=False)
        op.execute(make_context(ti=ti, store=MemoryStateStore()))
        return f"link {ti.xcoms.get('dashboard_url')!r}"

    return run


def stressed_keys(env: Env) -> dict[str, str]:
    """API keys in the forms a careless operator stores them, made up fresh each run (never in git).

    They are not the sandbox's key: a library that prints one of them (issue 24.1) must not turn the real
    key's sweep red, and the sweep searches every representation of each of them separately.
    """
    if "stressed_keys" not in env.cache:
        made = f"sk-rel-{secrets.token_hex(12)}"
        env.cache["stressed_keys"] = {
            "with a trailing newline": f"{made}-nl\n",
            "with a trailing space": f"{made}-sp ",
            "with a NUL inside": f"{made[:6]}\x00{made[6:]}-nul",
            "with an escape character": f"\x1b[2J{made}-esc",
            "with a non-ASCII letter": f"{made}-é",
            "in the host URL (user:key@host)": f"{made}-userinfo",
        }
    return dict(env.cache["stressed_keys"])


def cekura_cases(env: Env) -> list[Case]:
    url, key = env.sandbox.cekura_url, env.sandbox.api_key
    bad = stressed_keys(env)
    host = url.split("://", 1)[1]
    cek = {"conn_type": "cekura", "host": url}

    def conn(
        conn_id: str, names: tuple[str, ...], **fields: Any
    ) -> tuple[str, dict[str, Any], tuple[str, ...]]:
        return conn_id, {**cek, **fields}, names

    simple = [
        ("no API key", "cek_nokey", cek, ("cek_nokey", "API key"), ""),
        ("wrong API key (401)", *conn("cek_wrong", ("cek_wrong", "rejected"), password="wrong"), ""),
        (
            "extra chunk_size='abc'",
            *conn("cek_chunk", ("chunk_size", "cek_chunk"), password=key, extra={"chunk_size": "abc"}),
            "",
        ),
        (
            "extra chunk_size=500",
            *conn("cek_chunk2", ("chunk_size", "cek_chunk2"), password=key, extra={"chunk_size": 500}),
            "",
        ),
        (
            "extra timeout='soon'",
            *conn("cek_to", ("timeout", "cek_to"), password=key, extra={"timeout": "soon"}),
            "",
        ),
        (
            "host without scheme (http server)",
            "cek_noscheme",
            {"conn_type": "cekura", "host": host, "password": key},
            ("cek_noscheme", "http"),
            "",
        ),
        (
            "API key with a trailing newline",
            *conn("cek_nl", ("cek_nl", "API key"), password=bad["with a trailing newline"]),
            "24.1",
        ),
        (
            "API key with a trailing space",
            *conn("cek_sp", ("cek_sp", "API key"), password=bad["with a trailing space"]),
            "24.1",
        ),
        (
            "API key with a NUL inside",
            *conn("cek_nul", ("cek_nul", "API key"), password=bad["with a NUL inside"]),
            "24.1",
        ),
        (
            "API key with an escape character",
            *conn("cek_esc", ("cek_esc", "API key"), password=bad["with an escape character"]),
            "24.1",
        ),
        (
            "API key with a non-ASCII letter",
            *conn("cek_utf", ("cek_utf", "API key"), password=bad["with a non-ASCII letter"]),
            "24.1",
        ),
        ("empty password", *conn("cek_empty", ("cek_empty", "API key"), password=""), ""),
        ("whitespace-only password", *conn("cek_blank", ("cek_blank", "API key"), password="   "), "24.1"),
        (
            "extra is not JSON",
            "cek_badextra",
            {"conn_type": "cekura", "host": url, "password": key, "extra": "timeout=30"},
            ("cek_badextra", "extra"),
            "",
        ),
        (
            "extra timeout=NaN",
            *conn("cek_nan", ("cek_nan", "timeout"), password=key, extra={"timeout": "NaN"}),
            "",
        ),
        (
            "extra timeout=Infinity",
            *conn("cek_inf", ("cek_inf", "timeout"), password=key, extra={"timeout": "Infinity"}),
            "24.7",
        ),
        (
            "host with an unsupported scheme (ftp://)",
            *conn("cek_ftp", ("cek_ftp", "ftp"), host="ftp://" + host, password=key),
            "",
        ),
        (
            "host with credentials in the URL",
            *conn(
                "cek_userinfo",
                ("cek_userinfo", "host"),
                host=f"http://user:{bad['in the host URL (user:key@host)']}@{host}",
                password=key,
            ),
            "24.1",
        ),
    ]
    cases = [
        Case(AREA, name, _with_conn(cid, c, **NO_RETRY), names, issue=issue)
        for name, cid, c, names, issue in simple
    ]
    cases += [
        Case(AREA, "cekura connection missing", _with_conn("cekura_nowhere", None), ("cekura_nowhere",)),
        Case(
            AREA,
            "host with a typo'd port",
            _with_conn(
                "cek_port",
                {**cek, "host": "http://127.0.0.1:9", "password": key, "extra": {"timeout": 2}},
                **NO_RETRY,
            ),
            ("cek_port", "127.0.0.1:9"),
        ),
    ]
    cases += [
        Case(
            AREA,
            f"extra dashboard_url={link!r}",
            _pushed_link(cid, {**cek, "password": key, "extra": {"dashboard_url": link}}),
            (cid, "dashboard_url"),
            issue="24.7",
        )
        for cid, link in [
            ("cek_js", "javascript:alert(1)"),
            ("cek_data", "data:text/html,<script>alert(1)</script>"),
            ("cek_dash_quote", 'https://dash.example/"><script>alert(1)</script>'),
        ]
    ]
    return cases


def livekit_cases(env: Env) -> list[Case]:
    lk, lk_key, lk_secret = (
        env.sandbox.livekit_url,
        env.sandbox.livekit_api_key,
        env.sandbox.livekit_api_secret,
    )
    base = {"conn_type": "livekit", "host": lk, "login": lk_key, "password": lk_secret}
    rows = [
        ("livekit wrong secret", "livekit_bad", {**base, "password": "x" * 32}, ("livekit_bad",), "20.7"),
        (
            "livekit without key",
            "livekit_nokey",
            {"conn_type": "livekit", "host": lk},
            ("livekit_nokey",),
            "",
        ),
        (
            "livekit key and secret swapped",
            "livekit_swapped",
            {**base, "login": lk_secret, "password": lk_key},
            ("livekit_swapped",),
            "20.7",
        ),
        (
            "livekit secret with a trailing newline",
            "livekit_nl",
            {**base, "password": lk_secret + "\n"},
            ("livekit_nl", "secret"),
            "24.1",
        ),
        (
            "livekit key with a control character",
            "livekit_ctl",
            {**base, "login": lk_key + "\x07"},
            ("livekit_ctl", "key"),
            "24.1",
        ),
        (
            "livekit host on a closed port",
            "livekit_port",
            {**base, "host": "http://127.0.0.1:9"},
            ("livekit_port", "127.0.0.1:9"),
            "",
        ),
        (
            "livekit host with an unsupported scheme",
            "livekit_ftp",
            {**base, "host": "ftp://" + lk.split("://", 1)[1]},
            ("livekit_ftp", "ftp"),
            "",
        ),
    ]
    cases = [Case(AREA, name, _with_conn(cid, c), names, issue=issue) for name, cid, c, names, issue in rows]
    cases.append(
        Case(AREA, "livekit connection missing", _with_conn("livekit_nowhere", None), ("livekit_nowhere",))
    )
    return cases


# ------------------------------------------------------------------------------------------ warehouses
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
        summary = execute()(env)  # the batch ran (the calls were paid) before the load task starts
        loaded = _load_op(result_id=summary["result_id"], warehouse_conn_id=conn_id).execute({})
        return {k: loaded[k] for k in list(loaded)[:4]} if isinstance(loaded, dict) else loaded

    return run


def _read_back_after_load(conn: dict[str, Any], conn_id: str) -> Callable[[Env], Any]:
    """Load through the connection, then read the runs back through the same connection (issue 24.5)."""

    def run(env: Env) -> Any:
        from cekura_livekit.warehouse.connection import open_warehouse
        from cekura_livekit.warehouse.tables import RUNS as RUNS_TABLE

        _load_after_batch(conn, conn_id)(env)
        with open_warehouse(conn_id, "cekura") as wh:
            _, rows = wh.query(f"SELECT COUNT(*) FROM {wh.dialect.table(RUNS_TABLE)}", [])
        return f"{rows[0][0]} runs read back"

    return run


def _preflight(conn: dict[str, Any] | None, conn_id: str = "wh_pre") -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        if conn is not None:
            env.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return execute(warehouse_conn_id=conn_id)(env)

    return run


def warehouse_cases(env: Env) -> list[Case]:
    bad_dir = str(env.tmp / "no-such-dir" / "w.db")
    closed_pg = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 9,
        "login": "postgres",
        "schema": "test",
    }
    no_db = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "login": "postgres",
        "schema": "nodb_x",
    }
    cases = [
        Case(WAREHOUSE, "schema with trailing newline", lambda e: _load_op(schema="x\n"), ("schema",)),
        Case(WAREHOUSE, "schema with a quote", lambda e: _load_op(schema='a"b'), ("schema",)),
        Case(WAREHOUSE, "empty schema", lambda e: _load_op(schema=""), ("schema",)),
        Case(WAREHOUSE, "trailing_days -1", lambda e: _load_op(trailing_days=-1), ("trailing_days",)),
        Case(
            WAREHOUSE,
            "refresh_stale_days 'week'",
            lambda e: _load_op(refresh_stale_days="week"),
            ("refresh_stale_days",),
        ),
        Case(WAREHOUSE, "unknown conn id (pre-flight)", _preflight(None, "wh_nowhere"), ("wh_nowhere",)),
        Case(
            WAREHOUSE, "mysql conn type (pre-flight)", _preflight({"conn_type": "mysql"}), ("wh_pre", "mysql")
        ),
        Case(
            WAREHOUSE,
            "PostgreSQL on a closed port (pre-flight)",
            _preflight(closed_pg, "wh_pre_port"),
            ("wh_pre_port",),
            issue="20.3",
        ),
        Case(
            WAREHOUSE,
            "PostgreSQL database missing (pre-flight)",
            _preflight(no_db, "wh_pre_nodb"),
            ("wh_pre_nodb", "nodb_x"),
            issue="20.3",
        ),
        Case(
            WAREHOUSE,
            "SQLite in a missing folder (pre-flight)",
            _preflight({"conn_type": "sqlite", "host": bad_dir}, "wh_pre_dir"),
            ("wh_pre_dir",),
            issue="20.3",
        ),
        Case(
            WAREHOUSE,
            "SQLite with an empty host (pre-flight)",
            _preflight({"conn_type": "sqlite", "host": ""}, "wh_pre_empty"),
            ("wh_pre_empty", "host"),
            issue="24.5",
        ),
        Case(
            WAREHOUSE,
            "unknown conn id (load task alone)",
            _load_after_batch(None, "wh_gone"),
            ("wh_gone",),
            after_side_effect=True,
        ),
        Case(
            WAREHOUSE,
            "mysql conn type (load task alone)",
            _load_after_batch({"conn_type": "mysql"}),
            ("wh_case", "mysql"),
            after_side_effect=True,
        ),
        Case(
            WAREHOUSE,
            "unwritable SQLite path",
            _load_after_batch({"conn_type": "sqlite", "host": bad_dir}),
            ("wh_case",),
            after_side_effect=True,
        ),
        Case(
            WAREHOUSE,
            "PostgreSQL on a closed port",
            _load_after_batch(closed_pg),
            ("wh_case",),
            after_side_effect=True,
        ),
        Case(
            WAREHOUSE,
            "SQLite with an empty host: load, then read back",
            _read_back_after_load({"conn_type": "sqlite", "host": ""}, "wh_empty_host"),
            ("wh_empty_host", "host"),
            after_side_effect=True,
            issue="24.5",
        ),
    ]
    return cases


def connection_cases(env: Env) -> list[Case]:
    return [*cekura_cases(env), *livekit_cases(env), *warehouse_cases(env)]
