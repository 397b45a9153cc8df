"""The operator against the sandbox over real HTTP: managed mode, verdicts, re-attach, faults, deadline."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from cekura_livekit.compat import AirflowException, AirflowFailException
from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_sandbox import Sandbox
from tests.support.task_context import FakeTI, MemoryStateStore, make_context

SUBMIT_V2 = "run_scenarios_livekit_v2"


def _op(**kwargs: Any) -> CekuraRunLiveKitScenariosOperator:
    defaults: dict[str, Any] = {
        "task_id": "run_suite",
        "scenarios": [2001, 2002, 2005],
        "agent": 101,
        "poll_interval": 0.1,
        "deferrable": False,
        "hook_params": {"retry_delay": 0.05, "retry_max_delay": 0.2},
    }
    return CekuraRunLiveKitScenariosOperator(**{**defaults, **kwargs})


def test_managed_happy_path_one_submit_xcom_before_wait(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    store = MemoryStateStore()
    ctx = make_context(store=store)
    summary = _op().execute(ctx)

    assert cekura_sandbox.count("POST", SUBMIT_V2) == 1
    assert summary["status"] == "completed"
    assert summary["total"] == 3
    assert summary["passed"] == 3
    assert summary["success_rate"] == 1.0
    assert summary["dashboard_url"] == f"https://dashboard.cekura.ai/11/results/{summary['result_id']}"
    xcoms = ctx["ti"].xcoms
    assert xcoms["result_id"] == summary["result_id"]
    assert len(xcoms["run_ids"]) == 3
    assert xcoms["dashboard_url"] == summary["dashboard_url"]
    # The result id reached the state store right after the submit.
    assert store.data["cekura_batch"]["result_id"] == summary["result_id"]
    assert [w[1]["result_id"] for w in store.writes] == [None, summary["result_id"]]
    # Small return value: no run payloads.
    assert len(json.dumps(summary)) < 600


def test_submitted_name_is_deterministic_and_carries_the_identity(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    ti = FakeTI(dag_id="nightly", task_id="suite", run_id="scheduled__2026-01-02", map_index=3)
    summary = _op(name="Support regression").execute(make_context(ti, MemoryStateStore()))
    from cekura_livekit.batch.identity import deployment_id

    expected = f"Support regression · airflow nightly.suite[3] @ scheduled__2026-01-02 · {deployment_id()}"
    assert summary["name"] == expected


def test_retry_reattaches_without_a_second_submit(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """Same task instance twice (a retry after a crash): exactly one submit, same result."""
    store = MemoryStateStore()
    first = _op(wait_for_completion=False).execute(make_context(FakeTI(), store))
    second = _op().execute(make_context(FakeTI(try_number=2), store))
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 1
    assert second["result_id"] == first["result_id"]
    assert second["status"] == "completed"


def test_retry_without_state_store_reattaches_by_name(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """dag.test()-like runs have no task state store: the deterministic name finds the batch."""
    first = _op(wait_for_completion=False).execute(make_context(FakeTI(), None))
    second = _op().execute(make_context(FakeTI(try_number=2), None))
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 1
    assert second["result_id"] == first["result_id"]


def test_crash_between_submit_and_persist_is_recovered_by_name(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """The store holds only the pre-submit marker (worker died before persisting the id)."""
    first = _op(wait_for_completion=False).execute(make_context(FakeTI(), None))
    store = MemoryStateStore()
    store.set("cekura_batch", {"name": first["name"], "attempt": 1, "result_id": None})
    second = _op().execute(make_context(FakeTI(try_number=2), store))
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 1
    assert second["result_id"] == first["result_id"]
    assert store.data["cekura_batch"]["result_id"] == first["result_id"]


def test_other_task_instances_get_their_own_batches(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    a = _op(wait_for_completion=False).execute(make_context(FakeTI(map_index=0), None))
    b = _op(wait_for_completion=False).execute(make_context(FakeTI(map_index=1), None))
    assert a["result_id"] != b["result_id"]
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 2


def test_failed_evaluations_fail_and_name_the_scenarios(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    op = _op(scenarios=[2006, 2003], frequency=8)
    ctx = make_context(store=MemoryStateStore())
    with pytest.raises(AirflowFailException) as err:
        op.execute(ctx)
    message = str(err.value)
    failing = ctx["ti"].xcoms["failing_runs"]
    assert failing, "the sandbox's flaky scenarios should fail some of 16 runs"
    first = failing[0]
    assert first["scenario_name"] in message
    assert str(first["run_id"]) in message
    assert "dashboard.cekura.ai" in message
    # Run details were fetched in bulk, once, only at the end.
    assert cekura_sandbox.count("GET", "runs/bulk") == 1


def test_min_success_rate_and_fail_on_can_accept_a_partial_batch(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    summary = _op(scenarios=[2006, 2003], frequency=8, min_success_rate=0.0, fail_on=[]).execute(
        make_context(store=MemoryStateStore())
    )
    assert summary["total"] == 16
    assert summary["passed"] < 16


def test_429_storm_and_5xx_burst_are_survived(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """More failures in a row than the hook retries (6 attempts): the wait's own budget carries on."""
    first_result = "/results/501/"  # the sandbox numbers results from 501
    cekura_sandbox.inject_fault(path_contains=first_result, kind="429", times=8, retry_after=0, method="GET")
    cekura_sandbox.inject_fault(path_contains=first_result, kind="500", times=4, method="GET")
    summary = _op().execute(make_context(store=MemoryStateStore()))
    assert summary["status"] == "completed"
    assert summary["result_id"] == 501
    statuses = [r.status for r in cekura_sandbox.requests if r.server == "cekura"]
    assert statuses.count(429) == 8
    assert statuses.count(500) == 4
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 1


def test_a_lost_submit_response_is_not_resubmitted(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """The POST's reply is cut after Cekura created the batch: we find it by name, never POST twice."""
    cekura_sandbox.inject_fault(path_contains=SUBMIT_V2, kind="drop", times=1)
    summary = _op().execute(make_context(store=MemoryStateStore()))
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 1
    assert summary["status"] == "completed"
    assert summary["result_id"] == 501


def test_a_submit_that_never_arrived_fails_without_resubmitting(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """The connection drops before Cekura saw the POST: nothing by that name exists, so the task fails
    (a retry will submit, after looking the name up again) rather than guessing."""
    cekura_sandbox.inject_fault(path_contains=SUBMIT_V2, kind="drop_before", times=1)
    with pytest.raises(Exception, match="run_scenarios_livekit_v2"):
        _op().execute(make_context(store=MemoryStateStore()))
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 1
    assert cekura_sandbox.store.results == {}


def test_deadline_ends_the_calls_then_fails(cekura_slow_sandbox: Sandbox) -> None:
    op = _op(timeout=0.6, poll_interval=0.2)
    with pytest.raises(AirflowException, match="deadline") as err:
        op.execute(make_context(store=MemoryStateStore()))
    assert not isinstance(err.value, AirflowFailException)  # a retry may try again
    assert cekura_slow_sandbox.count("POST", "end_calls") == 1


def test_on_kill_ends_the_calls(cekura_slow_sandbox: Sandbox) -> None:
    op = _op(wait_for_completion=False)
    result = op.execute(make_context(store=MemoryStateStore()))
    op.on_kill()
    assert cekura_slow_sandbox.count("POST", f"results/{result['result_id']}/end_calls") == 1


def test_user_cancelled_batch_fails_without_retry(cekura_slow_sandbox: Sandbox) -> None:
    """A person ends the calls in Cekura while the task waits: the task fails and is not retried."""
    import threading
    import time

    from cekura_livekit.hooks.cekura import CekuraHook

    ctx = make_context(store=MemoryStateStore())
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            _op(poll_interval=0.1, timeout=60, cancel_on_kill=False).execute(ctx)
            outcome["error"] = None
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    for _ in range(200):
        if "result_id" in ctx["ti"].xcoms:
            break
        time.sleep(0.05)
    CekuraHook().end_calls(ctx["ti"].xcoms["result_id"])
    worker.join(30)
    assert isinstance(outcome["error"], AirflowFailException)
    assert "cancelled" in str(outcome["error"])
    assert cekura_slow_sandbox.count("POST", "end_calls") == 1  # only the person's, the task added none


def test_secrets_never_reach_xcom_or_logs(
    cekura_sandbox: Sandbox,
    cekura_sandbox_connections: dict,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = make_context(store=MemoryStateStore())
    cekura_sandbox.inject_fault(path_contains="/results/", kind="500", times=2, method="GET")
    _op().execute(ctx)
    out, err = capfd.readouterr()
    text = caplog.text + out + err + json.dumps(ctx["ti"].xcoms) + json.dumps(ctx["task_state_store"].data)
    assert cekura_sandbox.api_key not in text
    assert "Cekura result" in caplog.text + out + err  # the logs were captured at all


def test_request_budget_of_a_100_run_batch(cekura_sandbox: Sandbox, cekura_sandbox_connections: dict) -> None:
    """Submit to verdict for 100 runs: O(polls) requests, not O(runs). Prints the measured count."""
    op = _op(
        scenarios=[2001, 2002, 2003, 2004, 2005],
        frequency=20,
        poll_interval=1.0,
        min_success_rate=0.0,
        fail_on=[],
    )
    summary = op.execute(make_context(store=MemoryStateStore()))
    assert summary["total"] == 100
    cekura = [r for r in cekura_sandbox.requests if r.server == "cekura"]
    polls = sum(1 for r in cekura if r.method == "GET" and "/results/501/" in r.path)
    bulk = sum(1 for r in cekura if "runs/bulk" in r.path)
    print(f"\n100-run batch: {len(cekura)} Cekura requests ({polls} polls, {bulk} bulk) ")
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 1
    assert bulk <= 1  # at most 100 failing runs → one chunk
    # billing/info (cost guard), name search, submit, agent lookup, polls, details
    assert len(cekura) == 1 + 1 + 1 + 1 + polls + bulk
