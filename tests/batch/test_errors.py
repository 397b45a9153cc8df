"""Which failures are permanent (issue 11 item 1): one classification for operator, sensor, load and trigger."""

from __future__ import annotations

from typing import Any

import pytest

from cekura_livekit.batch.errors import fail_fast, failure_record, is_permanent
from cekura_livekit.batch.event import WaitEvent
from cekura_livekit.batch.verdict import decide
from cekura_livekit.compat import AirflowException, AirflowFailException, AirflowNotFoundException
from cekura_livekit.hooks.errors import (
    CekuraAuthError,
    CekuraNotFoundError,
    CekuraRateLimitError,
    CekuraServerError,
    CekuraSubmitUncertainError,
    CekuraTransportError,
    CekuraValidationError,
)
from cekura_livekit.models import MalformedPayloadError
from cekura_livekit.triggers.runs import CekuraRunsTrigger
from cekura_livekit.warehouse.engines import UnsupportedDialectError
from tests.support.scripted_hook import ScriptedHook

E = "POST /submit"
CASES: list[tuple[str, BaseException, bool]] = [
    ("400 at submit", CekuraValidationError("scenarios: not yours", endpoint=E), True),
    ("401", CekuraAuthError("rejected", endpoint=E, status_code=401), True),
    ("403", CekuraAuthError("forbidden", endpoint=E, status_code=403), True),
    ("404 agent", CekuraNotFoundError("no agent", endpoint=E, status_code=404), True),
    ("missing connection", AirflowNotFoundException("The conn_id `x` isn't defined"), True),
    ("bad argument", ValueError("frequency=0 must be …"), True),
    ("wrong type", TypeError("unexpected keyword"), True),
    ("unsupported warehouse", UnsupportedDialectError("conn_type='mysql'"), True),
    ("503", CekuraServerError("unavailable", endpoint=E, status_code=503), False),
    ("429", CekuraRateLimitError("slow down", endpoint=E), False),
    ("transport", CekuraTransportError("reset", endpoint=E), False),
    ("lost submit answer", CekuraSubmitUncertainError("no answer", endpoint=E), False),
    ("malformed payload", MalformedPayloadError("runs are a str"), False),
    ("retryable verdict", AirflowException("no verdict yet"), False),
    ("driver error", OSError("connection refused"), False),
]


@pytest.mark.parametrize(("case", "exc", "permanent"), CASES, ids=[c[0] for c in CASES])
def test_classification(case: str, exc: BaseException, permanent: bool) -> None:
    assert is_permanent(exc) is permanent
    if permanent:
        with pytest.raises(AirflowFailException, match="not retrying") as err, fail_fast():
            raise exc
        assert err.value.__cause__ is exc
    else:
        with pytest.raises(type(exc)), fail_fast():
            raise exc


def test_failure_record_is_one_short_line() -> None:
    record = failure_record("submit", ValueError("first line\n" + "x" * 1000))
    assert record == {"stage": "submit", "kind": "permanent", "message": "first line"}
    assert len(failure_record("wait", RuntimeError("y" * 1000))["message"]) == 300


async def test_trigger_error_event_says_whether_it_is_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    async def events(hook: ScriptedHook) -> list[dict[str, Any]]:
        trigger = CekuraRunsTrigger(result_id=7, poll_interval=0.01, max_consecutive_errors=0)
        monkeypatch.setattr(trigger, "_hook", lambda: hook)
        return [e.payload async for e in trigger.run()]

    denied = CekuraAuthError("key rejected", endpoint="GET /r", status_code=401)
    (event,) = await events(ScriptedHook(get_result=[denied]))
    assert event["permanent"] is True
    down = CekuraServerError("unavailable", endpoint="GET /r", status_code=503)
    (event,) = await events(ScriptedHook(get_result=[down]))
    assert event["permanent"] is False


def test_a_permanent_error_event_is_not_retried_by_execute_complete() -> None:
    """The deferrable path: the trigger's permanent error must not become an Airflow retry."""
    event = {"status": "error", "message": "Waiting for Cekura failed: key rejected", "permanent": True}
    decision = decide(WaitEvent.from_payload(event), min_success_rate=None, fail_on=frozenset())
    assert not decision.passed
    assert decision.retryable is False
    transient = decide(
        WaitEvent.from_payload({**event, "permanent": False}), min_success_rate=None, fail_on=frozenset()
    )
    assert transient.retryable is True


def test_sensor_rejects_an_impossible_rate_at_construction() -> None:
    """Before: min_success_rate=2 was checked only after the whole wait."""
    from cekura_livekit.sensors.runs import CekuraRunsSensor

    with pytest.raises(ValueError, match="min_success_rate"):
        CekuraRunsSensor(task_id="s", result_id=7, min_success_rate=2)
    CekuraRunsSensor(task_id="s", result_id=7, min_success_rate="{{ params.rate }}")  # rendered later


def test_sensor_rejects_a_rendered_impossible_rate_before_polling() -> None:
    from cekura_livekit.sensors.runs import CekuraRunsSensor
    from tests.support.task_context import make_context

    sensor = CekuraRunsSensor(task_id="s", result_id=7, min_success_rate="{{ params.rate }}", timeout=5)
    sensor.min_success_rate = "150"  # what rendering does
    with pytest.raises(AirflowFailException, match="min_success_rate"):
        sensor.execute(make_context())  # no connection is configured: a poll would fail differently


def test_load_task_fails_fast_on_a_missing_connection() -> None:
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator
    from tests.support.task_context import FakeTI

    op = CekuraResultsToWarehouseOperator(
        task_id="load", result_id=7, cekura_conn_id="cekura_nowhere", warehouse_conn_id="wh"
    )
    ti = FakeTI(task_id="load_results")
    with pytest.raises(AirflowFailException, match="cekura_nowhere"):
        op.execute({"ti": ti})
    assert ti.xcoms["failure_reason"]["stage"] == "load"
    assert ti.xcoms["failure_reason"]["kind"] == "permanent"


class _Hook:
    """Just enough of CekuraHook for `Submitter._send`: the name lookup and the result read."""

    def __init__(self, found: list[dict[str, Any]], answer: Any = None) -> None:
        self.found = found
        self.answer = answer

    def submit(self, mode: Any, body: Any) -> Any:
        return self.answer

    def find_results_by_name(self, name: str) -> list[dict[str, Any]]:
        return self.found

    def get_result(self, result_id: int) -> dict[str, Any]:
        return {"id": result_id, "status": "running", "runs": {}}


@pytest.mark.parametrize("answer", [{}, {"id": None}, [], None, {"detail": "ok"}])
def test_a_2xx_without_a_result_id_is_an_unknown_outcome_resolved_by_name(answer: Any) -> None:
    """Issue 11 item 3: a shape-less 2xx used to fail the task and orphan the (paid) batch."""
    from cekura_livekit.batch.submit import Submitter
    from cekura_livekit.models import SUBMISSION_MODES

    managed = SUBMISSION_MODES["managed"]
    submitter = Submitter(_Hook([{"id": 41}, {"id": 42}], answer), None, None, None)  # type: ignore[arg-type]
    assert submitter._send(managed, {}, "the name")["id"] == 42
    nobody = Submitter(_Hook([], answer), None, None, None)  # type: ignore[arg-type]
    with pytest.raises(CekuraSubmitUncertainError, match="not resubmitted"):
        nobody._send(managed, {}, "the name")
