"""A real Airflow deployment on this machine for end-to-end tests: every component a separate process.

`AirflowStack` creates its own PostgreSQL database (metadata DB + a warehouse schema), a temporary
AIRFLOW_HOME, starts the sandbox with `cekura-sandbox` and the Airflow components with the `airflow` CLI, each
in its own process group so `stop()` can end the whole group by PID, also when a test fails (fixture
finalizer plus `atexit`). It talks to Airflow only through the public REST API (`/api/v2`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
SUITE_NAME = "e2e_smoke"
REGRESSION_DAG = f"cekura_regression_{SUITE_NAME}"
#: A small managed-mode suite on the sandbox's default catalogue; no schedule, so unpausing starts nothing.
SUITE_YAML = f"""\
suite: {SUITE_NAME}
description: End-to-end smoke suite (tests/e2e).
agent: 101
mode: managed
scenarios: [2001, 2002]
frequency: 2
schedule: null
start_date: 2026-11-01
min_success_rate: 0.0
fail_on: []
owners: [e2e]
poll_interval: 1
timeout_minutes: 30
retries: 0
"""
SANDBOX_API_KEY = "e2e-cekura-key"
SANDBOX_LIVEKIT_KEY = "e2e-livekit-key"
SANDBOX_LIVEKIT_SECRET = "e2e-livekit-secret-0123456789abcdef"
TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Phases:
    """Wall time of each phase, printed as it ends (pytest -s / the captured output on failure)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.times[name] = time.monotonic() - start
            print(f"[{self.label}] {name}: {self.times[name]:.1f}s", flush=True)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `probe` until it returns something truthy; fail with `what` and the last error otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # the component may not be up yet
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last!r})")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class AirflowStack:
    """Configure with the executor and its extra settings; `start()` brings everything up."""

    home: Path
    executor: str = "LocalExecutor"
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[str] = field(default_factory=list)  # Celery worker hostnames (CeleryExecutor only)
    label: str = "e2e"
    #: Simulated seconds per real second. Slow enough that a batch outlasts the trigger's start, so its wait
    #: is woken by the sandbox's webhook through the api-server's receiver rather than seen finished at once.
    sandbox_speed: float = 600.0

    def __post_init__(self) -> None:
        token = secrets.token_hex(4)
        self.db_name = f"cekura_e2e_{token}"
        self.warehouse_schema = f"wh_{token}"
        self.api_port = free_port()
        self.cekura_port = free_port()
        self.livekit_port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.procs: list[Proc] = []
        self.stopped: list[str] = []
        #: Components ended by `crash()`: dead on purpose, so `check_alive` does not report them, but their
        #: process groups (a LocalExecutor scheduler's worker processes) are still ended by `stop()`.
        self.crashed: list[str] = []
        self.phases = Phases(self.label)
        self._db_created = False
        self._token: str | None = None
        self._jwt = secrets.token_hex(16)
        self.webhook_secret = secrets.token_urlsafe(16)

    # ---- configuration ------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.cekura_port}"

    @property
    def pg_conn_uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.db_name}"

    def env(self) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "CEKURA_", "PYTEST", "LIVEKIT_")) and k != "CI"
        }
        suites = self.home / "suites"
        return {
            **base,
            "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{self.db_name}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt,  # the same in every component
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_CEKURA_DEFAULT": json.dumps(
                {"conn_type": "cekura", "host": self.sandbox_url, "password": SANDBOX_API_KEY}
            ),
            "AIRFLOW_CONN_LIVEKIT_DEFAULT": json.dumps(
                {
                    "conn_type": "livekit",
                    "host": f"http://127.0.0.1:{self.livekit_port}",
                    "login": SANDBOX_LIVEKIT_KEY,
                    "password": SANDBOX_LIVEKIT_SECRET,
                }
            ),
            "AIRFLOW_CONN_CEKURA_WAREHOUSE": self.pg_conn_uri.replace("postgresql://", "postgres://"),
            "CEKURA_WAREHOUSE_CONN_ID": "cekura_warehouse",
            "CEKURA_WAREHOUSE_SCHEMA": self.warehouse_schema,
            "CEKURA_SUITES_DIR": str(suites),
            "CEKURA_REPORT_DESTINATION": str(self.home / "reports" / "cekura_report.html"),
            "CEKURA_POLL_INTERVAL_SECONDS": "1",
            # Cekura's webhooks, as a team sets them up (docs/webhooks.md): the secret in a connection, the
            # URL of the api-server's receiver registered in Cekura (here: the sandbox's sender).
            "AIRFLOW_CONN_CEKURA_WEBHOOK_DEFAULT": json.dumps(
                {"conn_type": "cekura_webhook", "password": self.webhook_secret}
            ),
            # Where the channel is, for the triggerer (Airflow keeps trigger code off [database]): here
            # the metadata database itself.
            "AIRFLOW_CONN_CEKURA_WEBHOOK_CHANNEL": json.dumps(
                {
                    "conn_type": "postgres",
                    "host": "127.0.0.1",
                    "port": 5432,
                    "login": "postgres",
                    "schema": self.db_name,
                }
            ),
            "SANDBOX_WEBHOOK_URL": f"{self.api_url}/cekura-webhooks/",
            "SANDBOX_WEBHOOK_SECRET": self.webhook_secret,
            **self.extra_env,
        }

    # ---- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        atexit.register(self.stop)
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "suites").mkdir(exist_ok=True)
        (self.home / "suites" / f"{SUITE_NAME}.yaml").write_text(SUITE_YAML)
        (self.home / "passwords.json").write_text(json.dumps({"admin": self.password}))
        with self.phases.phase("create database"):
            with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.db_name}"')
            self._db_created = True
        with self.phases.phase("airflow db migrate"):
            subprocess.run(
                [str(BIN / "airflow"), "db", "migrate"],
                env=self.env(),
                check=True,
                stdout=(self.home / "db-migrate.log").open("wb"),
                stderr=subprocess.STDOUT,
                timeout=240,
            )
        with self.phases.phase("start components"):
            self.spawn(
                "sandbox",
                [
                    str(BIN / "cekura-sandbox"),
                    "--port",
                    str(self.cekura_port),
                    "--livekit-port",
                    str(self.livekit_port),
                    "--speed",
                    str(self.sandbox_speed),
                    "--api-key",
                    SANDBOX_API_KEY,
                    "--livekit-api-key",
                    SANDBOX_LIVEKIT_KEY,
                    "--livekit-api-secret",
                    SANDBOX_LIVEKIT_SECRET,
                ],
            )
            airflow = str(BIN / "airflow")
            self.spawn("api-server", [airflow, "api-server", "--port", str(self.api_port), "--workers", "1"])
            self.spawn("scheduler", [airflow, "scheduler"])
            self.spawn("dag-processor", [airflow, "dag-processor"])
            self.spawn("triggerer", [airflow, "triggerer"])
            for host in self.workers:
                self.spawn_worker(host)
        with self.phases.phase("components ready"):
            wait_for("the sandbox", lambda: httpx.get(f"{self.sandbox_url}/_sandbox/health").is_success, 60)
            wait_for(
                "the api-server", lambda: httpx.get(f"{self.api_url}/api/v2/monitor/health").is_success, 120
            )
            self.check_alive()

    def spawn_worker(self, host: str) -> Proc:
        argv = [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", host, "--concurrency", "1"]
        # Tasks record their hostname through tests.e2e.worker_hostname, so each worker is told apart.
        env = {
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.worker_hostname.hostname",
            "CEKURA_E2E_WORKER": host,
            "PYTHONPATH": str(ROOT),
        }
        return self.spawn(f"worker-{host}", argv, env)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.home / f"{name}.log"
        popen = subprocess.Popen(
            argv,
            env={**self.env(), **(env or {})},
            cwd=self.home,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the children (gunicorn, workers) too
        )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        print(f"[{self.label}] started {name} pid={popen.pid}", flush=True)
        return proc

    def check_alive(self) -> None:
        dead = [
            p
            for p in self.procs
            if p.popen.poll() is not None and p.name not in self.stopped and p.name not in self.crashed
        ]
        if dead:
            tails = "\n".join(f"--- {p.name} (exit {p.popen.returncode}):\n{self.tail(p.name)}" for p in dead)
            raise RuntimeError(f"components died:\n{tails}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.home / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """End every process group by PID (SIGTERM, then SIGKILL), then drop the database. Idempotent."""
        for proc in reversed(self.procs):
            if proc.name in self.stopped:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in reversed(self.procs):
            if proc.name in self.stopped:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            # Children (gunicorn/uvicorn workers, task runners) may outlive the leader: kill the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)
            self.stopped.append(proc.name)
            print(f"[{self.label}] stopped {proc.name} pid={proc.popen.pid}", flush=True)
        if self._db_created:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self._db_created = False
            print(f"[{self.label}] dropped database {self.db_name}", flush=True)

    # ---- REST API -----------------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            resp = httpx.post(
                f"{self.api_url}/auth/token",
                json={"username": "admin", "password": self.password},
                timeout=30,
            )
            resp.raise_for_status()
            self._token = str(resp.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = httpx.request(
            method,
            f"{self.api_url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
            **kwargs,
        )
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def wait_for_dags(self, *dag_ids: str, timeout: float = 180) -> None:
        for dag_id in dag_ids:
            wait_for(f"DAG {dag_id} to be parsed", lambda d=dag_id: self.api("GET", f"/dags/{d}"), timeout, 1)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str) -> str:
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return str(run["dag_run_id"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        entry = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        return entry["value"]

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        def done() -> str | None:
            self.check_alive()
            state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state if state in TERMINAL else None

        return str(wait_for(f"{dag_id} run {run_id} to finish", done, timeout, 1))

    # ---- the regression flow (shared by the LocalExecutor, Celery and browser tests) ---------------
    def stop_proc(self, name: str) -> None:
        """Stop one component (its whole process group) by PID, e.g. a worker going away mid-run."""
        proc = next(p for p in self.procs if p.name == name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGTERM)
        try:
            proc.popen.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(5)
        self.stopped.append(name)
        print(f"[{self.label}] stopped {name} pid={proc.popen.pid}", flush=True)

    # ---- crashes by real signals (tests/e2e/test_crashes.py) ---------------------------------------
    def crash(self, name: str) -> int:
        """SIGKILL the component's own process, as the kernel's OOM killer or a lost node would: no handler
        runs, its children (a scheduler's LocalExecutor workers, a triggerer's trigger runner) are left as a
        crash leaves them. Returns the PID killed."""
        proc = next(p for p in self.procs if p.name == name)
        os.kill(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait(10)
        self.crashed.append(name)
        print(f"[{self.label}] SIGKILLed {name} pid={proc.popen.pid}", flush=True)
        return proc.popen.pid

    def sandbox_requests(self) -> list[dict[str, Any]]:
        """The sandbox's request log (both stand-ins), oldest first."""
        resp = httpx.get(
            f"{self.sandbox_url}/_sandbox/requests", headers={"X-CEKURA-API-KEY": SANDBOX_API_KEY}, timeout=10
        )
        resp.raise_for_status()
        return list(resp.json())

    def sandbox_fault(self, **fault: Any) -> None:
        """Arm a sandbox fault (recorder.Fault fields) on the next matching request(s)."""
        resp = httpx.post(
            f"{self.sandbox_url}/_sandbox/faults",
            json=fault,
            headers={"X-CEKURA-API-KEY": SANDBOX_API_KEY},
            timeout=10,
        )
        resp.raise_for_status()

    def livekit_rooms(self) -> dict[str, Any]:
        """The sandbox LiveKit's rooms (still open), dispatches and deleted/closed rooms."""
        resp = httpx.get(
            f"{self.sandbox_url}/_sandbox/livekit/rooms",
            headers={"X-CEKURA-API-KEY": SANDBOX_API_KEY},
            timeout=10,
        )
        resp.raise_for_status()
        return dict(resp.json())

    def run_regression(self, on_deferred: Callable[[], None] | None = None) -> RegressionRun:
        """Unpause the chain, trigger the suite's DAG, and watch `run_scenarios` go through `deferred`."""
        with self.phases.phase("DAGs parsed"):
            self.wait_for_dags(REGRESSION_DAG, "cekura_trends", "cekura_report")
        for dag_id in ("cekura_trends", "cekura_report", REGRESSION_DAG):
            self.unpause(dag_id)
        seen: list[str] = []
        with self.phases.phase("regression run"):
            run_id = self.trigger(REGRESSION_DAG)
            deadline = time.monotonic() + 240
            state = None
            while time.monotonic() < deadline:
                self.check_alive()
                ti_state = self.task_instance(REGRESSION_DAG, run_id, "run_scenarios")["state"]
                if ti_state and (not seen or seen[-1] != ti_state):
                    seen.append(ti_state)
                    if ti_state == "deferred" and on_deferred is not None:
                        on_deferred()
                        on_deferred = None
                state = self.api("GET", f"/dags/{REGRESSION_DAG}/dagRuns/{run_id}")["state"]
                if state in TERMINAL:
                    break
                time.sleep(0.3)
            else:
                raise TimeoutError(f"run {run_id} did not finish; run_scenarios states seen: {seen}")
        print(f"[{self.label}] run_scenarios states: {seen}", flush=True)
        return RegressionRun(REGRESSION_DAG, run_id, str(state), seen)

    def webhook_deliveries(self) -> list[tuple[str, int | None]]:
        """(delivery key, result id) of every webhook the receiver recorded in the metadata database."""
        with psycopg.connect(self.pg_conn_uri, autocommit=True) as conn:
            try:
                cur = conn.execute("SELECT delivery_key, result_id FROM cekura_webhook_delivery ORDER BY id")
            except psycopg.errors.UndefinedTable:
                return []
            return [(str(k), r) for k, r in cur.fetchall()]

    def assert_woken_by_webhook(self, run_id: str) -> None:
        """The run's wait was woken by the sandbox's webhook through the api-server's receiver: the delivery
        is recorded, the trigger listened, no light poll ran in between, the secret reached no log."""
        result_id = self.xcom(REGRESSION_DAG, run_id, "run_scenarios", "result_id")
        assert (f"result.completed:{result_id}", result_id) in self.webhook_deliveries()
        task_logs = self.home / "logs" / f"dag_id={REGRESSION_DAG}" / f"run_id={run_id}"
        text = "\n".join(
            p.read_text(errors="replace") for p in task_logs.rglob("task_id=run_scenarios/*trigger*")
        )
        assert f"Waiting for Cekura result {result_id}'s webhook" in text, text[-3000:]
        reads = [
            r
            for r in self.sandbox_requests()
            if r["method"] == "GET"
            and (f"results/{result_id}" in r["path"] or f"result_id={result_id}" in r["query"])
        ]
        assert [r for r in reads if r["path"].rstrip("/").endswith("/runs")] == [], reads  # woken, not polled
        leaked = [
            p.name for p in self.home.rglob("*.log") if self.webhook_secret in p.read_text(errors="replace")
        ]
        assert leaked == [], f"the webhook secret reached {leaked}"

    def warehouse_runs(self) -> list[tuple[str, int]]:
        """(run_id, copies) for every run in the warehouse's runs table."""
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={self.db_name}") as conn:
            rows = conn.execute(
                f'SELECT run_id, count(*) FROM "{self.warehouse_schema}".cekura_runs GROUP BY run_id'
            ).fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]


@dataclass
class RegressionRun:
    dag_id: str
    run_id: str
    state: str
    run_scenarios_states: list[str]
