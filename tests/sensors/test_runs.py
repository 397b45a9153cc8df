"""CekuraRunsSensor against the sandbox: poke returns the summary, failures do not retry, timeouts soft-fail."""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow.sdk import PokeReturnValue

from cekura_livekit.compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.sensors.runs import CekuraRunsSensor
from cekura_livekit.triggers.runs import CekuraRunsTrigger
from cekura_sandbox import Sandbox
from tests.support.task_context import make_context


def _submit(scenarios: list[int], frequency: int = 1) -> dict[str, Any]:
    return CekuraHook().submit_managed(
        {"scenarios": [{"scenario": s} for s in scenarios], "agent": 101, "frequency": frequency}
    )


def _poke_until_done(sensor: CekuraRunsSensor) -> PokeReturnValue:
    """Poke until the batch is done: bounded by time, not by a count of pokes (a loaded machine pokes slower
    than the sandbox's clock runs, and 200 quick pokes were sometimes not enough)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        value = sensor.poke(make_context())
        if value:
            assert isinstance(value, PokeReturnValue)
            return value
        time.sleep(0.02)
    raise AssertionError("batch never finished within 60 s")


def test_poke_returns_summary_when_batch_passes(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    result = _submit([2001, 2005])
    sensor = CekuraRunsSensor(task_id="wait", result_id=str(result["id"]), poke_interval=0.1)
    value = _poke_until_done(sensor)
    assert value.xcom_value["result_id"] == result["id"]
    assert value.xcom_value["status"] == "completed"


def test_accepts_the_operators_whole_return_value(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    result = _submit([2001])
    sensor = CekuraRunsSensor(task_id="wait", result_id={"result_id": result["id"], "status": "pending"})
    assert _poke_until_done(sensor).xcom_value["result_id"] == result["id"]


def test_run_ids_mode(cekura_sandbox: Sandbox, cekura_sandbox_connections: dict) -> None:
    result = _submit([2001, 2005])
    ids = ",".join(str(r["id"]) for r in result["runs"])
    value = _poke_until_done(CekuraRunsSensor(task_id="wait", run_ids=ids))
    assert value.xcom_value["total"] == 2


def test_failed_batch_fails_without_retry(cekura_sandbox: Sandbox, cekura_sandbox_connections: dict) -> None:
    result = _submit([2006, 2003], frequency=8)
    sensor = CekuraRunsSensor(task_id="wait", result_id=result["id"])
    with pytest.raises(AirflowFailException, match="did not pass"):
        _poke_until_done(sensor)


def test_policy_can_accept_partial_batches(cekura_sandbox: Sandbox, cekura_sandbox_connections: dict) -> None:
    result = _submit([2006, 2003], frequency=8)
    sensor = CekuraRunsSensor(task_id="wait", result_id=result["id"], min_success_rate=0.0, fail_on=[])
    assert _poke_until_done(sensor).xcom_value["total"] == 16


def test_deferrable_defers_while_the_batch_runs(cekura_slow_sandbox: Sandbox) -> None:
    """Real-time sandbox: the batch cannot have finished at the first check, whatever the machine's load."""
    result = _submit([2001])
    sensor = CekuraRunsSensor(
        task_id="wait", result_id=result["id"], deferrable=True, poke_interval=7, timeout=60
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(make_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, CekuraRunsTrigger)
    assert trigger.poll_interval == 7
    assert trigger.result_id == result["id"]
    assert trigger.end_calls_on_deadline is False  # a sensor only watches


def test_deferrable_checks_before_deferring(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """A finished batch needs no triggerer round-trip: execute returns the verdict at once."""
    result = _submit([2001])
    _poke_until_done(CekuraRunsSensor(task_id="w2", result_id=result["id"]))
    sensor = CekuraRunsSensor(
        task_id="wait", result_id=result["id"], deferrable=True, poke_interval=7, timeout=60
    )
    summary = sensor.execute(make_context())
    assert summary["status"] == "completed"


def test_timeout_and_soft_fail(cekura_slow_sandbox: Sandbox) -> None:
    result = _submit([2001])
    with pytest.raises(AirflowSensorTimeout):
        CekuraRunsSensor(task_id="w", result_id=result["id"], poke_interval=0.1, timeout=0.3).execute(
            make_context()
        )
    with pytest.raises(AirflowSkipException):
        CekuraRunsSensor(
            task_id="w", result_id=result["id"], poke_interval=0.1, timeout=0.3, soft_fail=True
        ).execute(make_context())
    # Deferrable timeout event → sensor timeout.
    sensor = CekuraRunsSensor(task_id="w", result_id=result["id"], deferrable=True)
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete(make_context(), {"status": "timeout", "message": "deadline"})
    assert cekura_slow_sandbox.count("POST", "end_calls") == 0


def test_needs_something_to_wait_on() -> None:
    with pytest.raises(ValueError, match="result_id"):
        CekuraRunsSensor(task_id="w")


def test_execute_complete_reads_the_typed_event(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """The trigger's real payload (via `WaitEvent.to_payload`) is judged; an error payload of an older
    trigger (no `permanent` key) stays retryable; a payload that is not a wait event fails clearly."""
    import asyncio

    from cekura_livekit.batch.event import MalformedEventError
    from cekura_livekit.compat import AirflowException

    result = _submit([2001])
    sensor = CekuraRunsSensor(task_id="w", result_id=result["id"], deferrable=True)
    trigger = CekuraRunsTrigger(result_id=result["id"], poll_interval=0.1)

    async def first_event() -> dict[str, Any]:
        (event,) = [e.payload async for e in trigger.run()]  # exactly one event
        return event

    payload = asyncio.run(first_event())
    summary = sensor.execute_complete(make_context(), payload)
    assert summary["result_id"] == result["id"]
    assert summary["status"] == "completed"
    with pytest.raises(AirflowException) as err:
        sensor.execute_complete(make_context(), {"status": "error", "result_id": None, "message": "503s"})
    assert not isinstance(err.value, AirflowFailException)
    with pytest.raises(MalformedEventError, match="status='finished'"):
        sensor.execute_complete(make_context(), {"status": "finished"})
