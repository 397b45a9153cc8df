"""The same flow on Airflow's distributed executor: CeleryExecutor, the local Redis as broker, the result backend
on PostgreSQL, two Celery workers with distinct hostnames. Tasks of one run spread over the workers, the wait
still goes to the triggerer, and the sandbox saw exactly one submit."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import REGRESSION_DAG, SANDBOX_API_KEY, AirflowStack, RegressionRun

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]

REDIS = ("127.0.0.1", 6379)
WORKERS = ["worker-a", "worker-b"]


def _require_redis() -> None:
    import redis

    try:
        redis.Redis(*REDIS, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS[0]}:{REDIS[1]} is needed as the Celery broker: {exc}")


@pytest.fixture(scope="module")
def celery_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    from tests.support.warehouse import require_postgres

    require_postgres()
    _require_redis()
    # A private queue name and Redis db keep parallel runs of this test from taking each other's tasks.
    queue = f"cekura_e2e_{secrets.token_hex(3)}"
    stack = AirflowStack(
        home=Path(tmp_path_factory.mktemp("e2e-celery")),
        label="celery",
        workers=WORKERS[:1],
        sandbox_speed=15.0,  # the batch outlasts the trigger's start: its webhook wakes the wait
    )
    stack.extra_env = {
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/7",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://postgres@127.0.0.1:5432/{stack.db_name}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__CELERY__DEFAULT_QUEUE": queue,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
    }
    stack.executor = "CeleryExecutor"
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def celery_run(celery_stack: AirflowStack) -> RegressionRun:
    """worker-a takes the submit; while the batch waits in the triggerer, worker-b joins and worker-a leaves,
    so the resumed task and the load run on worker-b: a wait holds no worker and survives losing one."""

    def hand_over() -> None:
        celery_stack.spawn_worker(WORKERS[1])
        celery_stack.stop_proc(f"worker-{WORKERS[0]}")

    return celery_stack.run_regression(on_deferred=hand_over)


def test_tasks_of_one_run_land_on_both_workers(celery_stack: AirflowStack, celery_run: RegressionRun) -> None:
    assert celery_run.state == "success", celery_stack.tail("scheduler")
    tis = celery_stack.api("GET", f"/dags/{REGRESSION_DAG}/dagRuns/{celery_run.run_id}/taskInstances")
    hosts = {ti["task_id"]: ti["hostname"] for ti in tis["task_instances"] if ti["state"] == "success"}
    print(f"[celery] task hostnames: {hosts}")
    assert hosts["run_scenarios"] == hosts["load_results"] == WORKERS[1], hosts
    # ...and the first half of run_scenarios (the submit, up to the deferral) ran on worker-a.
    worker_a_log = (celery_stack.home / f"worker-{WORKERS[0]}.log").read_text(errors="replace")
    assert "run_scenarios" in worker_a_log, worker_a_log[-3000:]
    assert "load_results" not in worker_a_log


def test_wait_went_to_the_triggerer(celery_stack: AirflowStack, celery_run: RegressionRun) -> None:
    assert "deferred" in celery_run.run_scenarios_states, celery_run.run_scenarios_states
    logs = celery_stack.home / "logs" / f"dag_id={REGRESSION_DAG}" / f"run_id={celery_run.run_id}"
    text = "\n".join(p.read_text(errors="replace") for p in logs.rglob("task_id=run_scenarios/*trigger*"))
    assert "trigger completed" in text, text[-3000:]


def test_the_wait_was_woken_by_the_sandbox_webhook(
    celery_stack: AirflowStack, celery_run: RegressionRun
) -> None:
    celery_stack.assert_woken_by_webhook(celery_run.run_id)


def test_sandbox_saw_exactly_one_submit(celery_stack: AirflowStack, celery_run: RegressionRun) -> None:
    resp = httpx.get(
        f"{celery_stack.sandbox_url}/_sandbox/requests", headers={"X-CEKURA-API-KEY": SANDBOX_API_KEY}
    )
    resp.raise_for_status()
    requests = resp.json()
    submits = [r for r in requests if r["method"] == "POST" and "run_scenarios" in r["path"]]
    assert len(submits) == 1, [(r["method"], r["path"]) for r in requests]
