"""Crashes by real signals in the real-process stack (issue 21.10): SIGKILL, no handler runs, nothing is raised.

One LocalExecutor deployment (scheduler, dag-processor, triggerer, api-server as processes; PostgreSQL metadata
and warehouse; the sandbox as Cekura and LiveKit) runs a bring-your-own-rooms suite four times, and each time
one real process is killed at the moment that hurts most, found through the sandbox's request recorder or
PostgreSQL's `pg_stat_activity`:

- the load's task process mid-COPY (the first load into an empty warehouse COPYs straight into the table; a
  row trigger makes that COPY wait on a row lock the test holds, so the kill lands inside it);
- the run task's process right after its submit request reached the sandbox;
- the triggerer mid-wait (a second triggerer takes the wait over);
- the scheduler with the batch in flight (a new scheduler takes over).

Each must end the same way: one submit per batch, every run once in the warehouse, no room left open in
LiveKit, and the true verdict (the DAG run succeeds, the verdict task has nothing to say). Retries of the
crash suite wait 1 s instead of the regression DAG's 2 minutes (a DAG file of this test sets it), so the
file stays within a few minutes; nothing else of the DAG changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from cekura_livekit.models import runs_of
from tests.e2e.stack import BIN, ROOT, SANDBOX_API_KEY, AirflowStack, wait_for
from tests.support.warehouse import require_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(420)]

SUITE = "e2e_crash"
DAG_ID = f"cekura_regression_{SUITE}"
SUITE_YAML = f"""\
suite: {SUITE}
description: SIGKILL cases (tests/e2e/test_crashes.py).
agent: 102
mode: bring_your_own_rooms
livekit_agent_name: acme-bookings
scenarios: [2101, 2102]
frequency: 2
schedule: null
start_date: 2026-11-01
min_success_rate: 0.0
fail_on: []
owners: [e2e]
poll_interval: 1
timeout_minutes: 30
retries: 3
"""
#: The regression DAG of every suite, as dags/cekura_regression_suites.py builds it, with 1 s retry delays.
DAG_FILE = """\
\"\"\"The suites' regression DAGs (airflow dag), retrying after 1 s so that a crash test recovers quickly.\"\"\"
from datetime import timedelta
from pathlib import Path
import os

from cekura_livekit.regression_dag import build_regression_dag
from cekura_livekit.suites import load_suites_by_file

_folder = Path(os.environ["CEKURA_SUITES_DIR"])
for _suite in load_suites_by_file(_folder)[0]:
    _dag = build_regression_dag(_suite, _folder)
    for _task in _dag.tasks:
        _task.retry_delay = timedelta(seconds=1)
    globals()[_dag.dag_id] = _dag
"""
SUBMIT = (
    "run_scenarios"  # every submit path of the sandbox's Cekura: …/scenarios/run_scenarios_livekit[_v2|_chat]
)
GATE = "e2e_copy_gate"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    require_postgres()
    home = Path(tmp_path_factory.mktemp("e2e-crash"))
    dags = home / "crash_dags"
    dags.mkdir()
    (dags / "cekura_crash_suites.py").write_text(DAG_FILE)
    (home / "suites").mkdir()
    (home / "suites" / f"{SUITE}.yaml").write_text(SUITE_YAML)
    stack = AirflowStack(home=home, label="crash")
    stack.extra_env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "PYTHONPATH": str(ROOT),
        # A lost triggerer's or scheduler's work is taken over once its heartbeat is this old (defaults: 30 s,
        # and orphaned tasks checked every 300 s); the kill itself is the same.
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "6",
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    }
    try:
        stack.start()
        stack.wait_for_dags(DAG_ID)
        stack.unpause(DAG_ID)
        yield stack
    finally:
        stack.stop()


# ---- finding and killing the real processes ------------------------------------------------------------
def task_process(stack: AirflowStack, run_id: str, task_id: str) -> psutil.Process | None:
    """The process running the task's code: Airflow's task runner titles itself `airflow worker -- <ti id>`
    (the LocalExecutor's supervising worker is `airflow worker -- LocalExecutor: …`)."""
    ti = stack.task_instance(DAG_ID, run_id, task_id)
    title = f"airflow worker -- {ti['id']}"
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or []).strip()
        if cmdline == title or cmdline.startswith(title + " "):
            return proc
    return None


def kill_task(stack: AirflowStack, run_id: str, task_id: str) -> int:
    proc = wait_for(f"the {task_id} task process", lambda: task_process(stack, run_id, task_id), 30, 0.05)
    proc.kill()  # SIGKILL
    print(f"[crash] SIGKILLed the {task_id} task process pid={proc.pid}", flush=True)
    return int(proc.pid)


def submits(stack: AirflowStack) -> list[dict[str, Any]]:
    return [
        r
        for r in stack.sandbox_requests()
        if r["server"] == "cekura" and r["method"] == "POST" and SUBMIT in r["path"]
    ]


def wait_submit(stack: AirflowStack, before: int) -> None:
    wait_for("the submit to reach the sandbox", lambda: len(submits(stack)) > before, 120, 0.05)


# ---- the end every case must reach -----------------------------------------------------------------------
def finish(stack: AirflowStack, run_id: str, submits_before: int) -> dict[str, dict[str, Any]]:
    """Wait for the DAG run; check the four outcomes; return the task instances by task id."""
    state = stack.wait_run(DAG_ID, run_id, 240)
    tis = {
        ti["task_id"]: ti
        for ti in stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
    }
    summary = {k: (v["state"], v["try_number"]) for k, v in tis.items()}
    print(f"[crash] {run_id}: {state} {summary}", flush=True)
    # The true verdict: every run was evaluated (min_success_rate 0), so the run succeeds and the verdict
    # task, which speaks only when something failed, is skipped.
    assert state == "success", (summary, stack.tail("scheduler"))
    assert tis["run_scenarios"]["state"] == tis["load_results"]["state"] == "success", summary
    assert tis["verdict"]["state"] == "skipped", summary
    # One submit per batch: a batch that died while its task was down (the agent never joined its rooms) is
    # replaced by a fresh one, under its own name; never the same batch twice.
    batches = batches_of(stack, run_id)
    names = [str(b["name"]) for b in batches]
    assert len(names) == len(set(names)), names
    assert len(submits(stack)) - submits_before == len(batches), names
    result_id = int(stack.xcom(DAG_ID, run_id, "run_scenarios", "result_id"))
    assert result_id == max(int(b["id"]) for b in batches)
    # Every run of every batch (the replaced ones were paid for too) once in the warehouse, with the status
    # Cekura reports.
    for batch in batches:
        result = httpx.get(
            f"{stack.sandbox_url}/test_framework/v1/results/{batch['id']}",
            headers={"X-CEKURA-API-KEY": SANDBOX_API_KEY},
            timeout=10,
        ).json()
        truth = {int(r["id"]): str(r["status"]) for r in runs_of(result)}
        assert len(truth) == 4, result
        stored = warehouse_runs(stack, int(batch["id"]))
        assert {k: v[0] for k, v in stored.items()} == truth, batch["id"]
        assert {v[1] for v in stored.values()} == {1}
    # No room left open in LiveKit (bring your own rooms: the task created one per run).
    rooms = stack.livekit_rooms()
    assert rooms["rooms"] == {}, rooms["rooms"]
    assert len(rooms["deleted_rooms"]) + len(rooms["closed_rooms"]) >= 4 * len(batches)
    return tis


def batches_of(stack: AirflowStack, run_id: str) -> list[dict[str, Any]]:
    """The sandbox's results whose batch name carries this DAG run (every attempt's batch)."""
    resp = httpx.get(
        f"{stack.sandbox_url}/test_framework/v1/results",
        params={"search": run_id, "page_size": 100},
        headers={"X-CEKURA-API-KEY": SANDBOX_API_KEY},
        timeout=10,
    )
    resp.raise_for_status()
    body = resp.json()
    items = body.get("results", []) if isinstance(body, dict) else body
    return [r for r in items if run_id in str(r.get("name") or "")]


def warehouse_runs(stack: AirflowStack, result_id: int) -> dict[int, tuple[str, int]]:
    """run_id → (status, copies) of one batch in the warehouse."""
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={stack.db_name}") as conn:
        rows = conn.execute(
            f'SELECT run_id, min(status), count(*) FROM "{stack.warehouse_schema}".cekura_runs '
            "WHERE result_id = %s GROUP BY run_id",
            (result_id,),
        ).fetchall()
    return {int(r[0]): (str(r[1]), int(r[2])) for r in rows}


# ---- the load, mid-COPY ----------------------------------------------------------------------------------
def prepare_copy_gate(stack: AirflowStack) -> None:
    """Create the warehouse tables empty (what the first load does), and a row trigger on the results table
    that takes a share lock on the gate row: while the test holds that row FOR UPDATE, the load's first COPY
    (straight into the empty table) stops after its first row, inside the load transaction."""
    from cekura_livekit.warehouse.ddl import ensure_tables
    from cekura_livekit.warehouse.engines.postgres import PostgresDialect

    dialect = PostgresDialect(stack.warehouse_schema)
    results = f'"{stack.warehouse_schema}".cekura_results'
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={stack.db_name}") as conn:
        with conn.cursor() as cur:
            ensure_tables(dialect, cur)
        conn.execute(f"CREATE TABLE public.{GATE} (id int PRIMARY KEY)")
        conn.execute(f"INSERT INTO public.{GATE} VALUES (1)")
        conn.execute(
            f"CREATE FUNCTION public.{GATE}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"PERFORM 1 FROM public.{GATE} WHERE id = 1 FOR SHARE; RETURN NEW; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER {GATE} BEFORE INSERT ON {results} FOR EACH ROW EXECUTE FUNCTION public.{GATE}()"
        )


def copy_waiting(stack: AirflowStack) -> bool:
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={stack.db_name}") as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query ILIKE 'COPY %%cekura_results%%' "
            "AND wait_event_type = 'Lock'",
            (stack.db_name,),
        ).fetchone()
    return bool(row and row[0])


def test_load_killed_mid_copy(stack: AirflowStack) -> None:
    assert not _has_runs_table(stack), "this case needs the first load into an empty warehouse: it runs first"
    prepare_copy_gate(stack)
    before = len(submits(stack))
    gate = psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={stack.db_name}")
    try:
        gate.execute(f"SELECT id FROM public.{GATE} WHERE id = 1 FOR UPDATE")  # held until rollback
        run_id = stack.trigger(DAG_ID)
        wait_for("the load's COPY to be under way", lambda: copy_waiting(stack), 180, 0.2)
        kill_task(stack, run_id, "load_results")
    finally:
        gate.rollback()
        gate.close()
    tis = finish(stack, run_id, before)
    assert tis["load_results"]["try_number"] == 2, "the killed load was retried once"
    assert tis["run_scenarios"]["try_number"] == 1


def _has_runs_table(stack: AirflowStack) -> bool:
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={stack.db_name}") as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f'"{stack.warehouse_schema}".cekura_runs',)).fetchone()
    return bool(row and row[0])


# ---- the run task, right after its submit ----------------------------------------------------------------
def test_task_killed_right_after_the_submit_reached_the_sandbox(stack: AirflowStack) -> None:
    before = len(submits(stack))
    # The dispatch after the submit (the agent into the rooms) is held 8 s, so the task process is certainly
    # alive, between its submit and its deferral, when the signal comes. Two dispatches are held: the agent
    # probe's, before anything is paid (issue 21.5), comes first.
    stack.sandbox_fault(kind="slow", path_contains="CreateDispatch", server="livekit", delay=8.0, times=2)
    run_id = stack.trigger(DAG_ID)
    wait_submit(stack, before)
    kill_task(stack, run_id, "run_scenarios")
    tis = finish(stack, run_id, before)
    assert tis["run_scenarios"]["try_number"] == 2, "the killed task was retried and re-attached"


# ---- the triggerer, mid-wait ------------------------------------------------------------------------------
def test_triggerer_killed_mid_wait(stack: AirflowStack) -> None:
    before = len(submits(stack))
    # At the sandbox's speed a batch ends within a second; Cekura's reads say "running" until the wait has
    # moved to the second triggerer, so the kill lands mid-wait and the takeover is what ends it.
    stack.sandbox_fault(
        kind="unknown_status", status_value="running", method="GET", server="cekura", times=100_000
    )
    try:
        run_id = stack.trigger(DAG_ID)
        wait_for(
            "run_scenarios to defer",
            lambda: stack.task_instance(DAG_ID, run_id, "run_scenarios")["state"] == "deferred",
            120,
            0.2,
        )
        polls = len(stack.sandbox_requests())
        wait_for("the trigger to poll", lambda: len(stack.sandbox_requests()) > polls, 30, 0.1)
        first = _triggerer_job(stack, run_id)
        stack.crash("triggerer")
        stack.spawn("triggerer-2", [str(BIN / "airflow"), "triggerer"])
        wait_for(
            "the second triggerer to take the wait",
            lambda: _triggerer_job(stack, run_id) not in (None, first),
            90,
            0.5,
        )
    finally:
        httpx.delete(
            f"{stack.sandbox_url}/_sandbox/faults", headers={"X-CEKURA-API-KEY": SANDBOX_API_KEY}, timeout=10
        ).raise_for_status()
    tis = finish(stack, run_id, before)
    assert tis["run_scenarios"]["try_number"] == 1, "the wait was resumed, not retried"


def _triggerer_job(stack: AirflowStack, run_id: str) -> int | None:
    """The id of the triggerer job running run_scenarios' trigger (None while unassigned)."""
    trigger = stack.task_instance(DAG_ID, run_id, "run_scenarios").get("trigger") or {}
    return int(trigger["triggerer_id"]) if trigger.get("triggerer_id") is not None else None


# ---- the scheduler ---------------------------------------------------------------------------------------
def test_scheduler_killed_with_the_batch_in_flight(stack: AirflowStack) -> None:
    before = len(submits(stack))
    run_id = stack.trigger(DAG_ID)
    wait_submit(stack, before)
    stack.crash("scheduler")
    time.sleep(2)
    stack.spawn("scheduler-2", [str(BIN / "airflow"), "scheduler"])
    finish(stack, run_id, before)
