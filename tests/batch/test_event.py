"""WaitEvent: the typed wait event, its trigger payload, and payloads of older trigger versions."""

from __future__ import annotations

import json

import pytest

from cekura_livekit.batch.event import EventStatus, FailingRun, MalformedEventError, WaitEvent
from cekura_livekit.batch.wait import completion_event, error_event, snapshot_of_result
from cekura_livekit.hooks.errors import CekuraAuthError
from tests.support.scripted_hook import result


def test_completion_event_round_trips_through_json() -> None:
    snap = snapshot_of_result(result("completed", [("completed", False), ("completed", True)]))
    event = completion_event(snap, [])
    assert event.terminal
    payload = event.to_payload()
    assert set(payload) == {"status", "result_id", "summary", "failing_runs", "failing_total", "message"}
    again = WaitEvent.from_payload(json.loads(json.dumps(payload)))
    assert again == event
    assert again.failing_runs[0] == FailingRun(100, 2000, "S0", "failed_evaluation", None)


def test_error_and_timeout_payloads_keep_their_extra_keys() -> None:
    denied = CekuraAuthError("key rejected", endpoint="GET /r", status_code=401)
    payload = error_event(7, denied, None).to_payload()
    assert payload["status"] == "error"
    assert payload["permanent"] is True
    assert "calls_ended" not in payload
    timeout = WaitEvent(EventStatus.TIMEOUT, 7, "late", calls_ended=False).to_payload()
    assert timeout["calls_ended"] is False
    assert "permanent" not in timeout
    assert WaitEvent.from_payload(timeout).timed_out


def test_a_payload_of_an_older_trigger_version_still_parses() -> None:
    """A task deferred before an upgrade resumes on the new worker with the old event shape:
    no failing_total, no permanent, no calls_ended, runs without error or scenario_name."""
    old = {
        "status": "terminal",
        "result_id": "7",
        "summary": {"result_id": 7, "status": "completed", "total": 2, "passed": 1, "failed_evaluation": 1},
        "failing_runs": [{"run_id": 70, "scenario_id": 2006, "outcome": "failed_evaluation"}],
        "message": "Cekura result 7 [completed]",
    }
    event = WaitEvent.from_payload(old)
    assert event.result_id == 7
    assert event.failing_total == 1
    assert event.permanent is False
    assert event.calls_ended is None
    assert event.failing_runs[0].scenario_name is None
    error = WaitEvent.from_payload({"status": "error", "result_id": None, "message": "boom"})
    assert error.summary is None
    assert error.permanent is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (None, "not an object"),
        ({"status": "done"}, "status='done'"),
        ({"status": "terminal", "result_id": "seven"}, "result_id='seven'"),
        ({"status": "terminal", "summary": [1]}, "summary=[1]"),
        ({"status": "terminal", "failing_runs": "x"}, "failing_runs='x'"),
        ({"status": "terminal", "failing_runs": [3]}, "failing_runs item 3"),
    ],
)
def test_a_malformed_payload_names_the_field(payload: object, field: str) -> None:
    with pytest.raises(MalformedEventError, match=field.replace("[", r"\[").replace("]", r"\]")):
        WaitEvent.from_payload(payload)


def test_the_event_is_frozen() -> None:
    event = WaitEvent(EventStatus.ERROR, None, "x")
    with pytest.raises(AttributeError):
        event.message = "y"  # type: ignore[misc]
