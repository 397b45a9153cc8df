"""The one wait loop, driven sync and async against scripted answers: every exit, both drivers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cekura_livekit.batch.event import EventStatus
from cekura_livekit.batch.wait import (
    CountUnfinished,
    GetResult,
    Sleep,
    Wait,
    WaitTarget,
    adrive,
    deadline_for,
    drive,
)
from cekura_livekit.hooks.errors import (
    CekuraAuthError,
    CekuraRateLimitError,
    CekuraServerError,
)
from tests.support.scripted_hook import ScriptedHook, result
from tests.webhooks.support import CountingHook

RUNNING = result("running", [("running", None), ("completed", True)])
DONE = result("completed", [("completed", False), ("completed", True)])
FAILING_RUN = {"id": 100, "status": "completed", "success": False, "scenario": 2000, "scenario_name": "S0"}


class Clock:
    """Time moves only when the loop sleeps: deadlines are exact and tests never wait."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run_both(hook_factory: Any, wait_factory: Any) -> list[tuple[dict[str, Any], ScriptedHook, Clock]]:
    """The same scenario through `drive` and `adrive`; both must give the same event and requests."""
    outcomes = []
    for driver in ("sync", "async"):
        hook, clock = hook_factory(), Clock()
        wait = wait_factory(clock)
        if driver == "sync":
            event = drive(wait.run(), hook, sleep=clock.sleep)
        else:

            async def fake_sleep(seconds: float, clock: Clock = clock) -> None:
                clock.sleep(seconds)

            original = asyncio.sleep
            asyncio.sleep = fake_sleep  # type: ignore[assignment]
            try:
                event = asyncio.run(adrive(wait.run(), hook))
            finally:
                asyncio.sleep = original
        outcomes.append((event, hook, clock))
    (a, ha, ca), (b, hb, cb) = outcomes
    assert a == b
    assert ha.calls == hb.calls
    assert ca.slept == cb.slept
    return outcomes


def test_polls_until_terminal_then_fetches_only_the_runs_that_did_not_pass() -> None:
    outcomes = run_both(
        lambda: ScriptedHook(get_result=[RUNNING, RUNNING, DONE], get_runs_bulk=[[FAILING_RUN]]),
        lambda clock: Wait(WaitTarget(7), poll_interval=5, clock=clock),
    )
    event, hook, clock = outcomes[0]
    assert event.status is EventStatus.TERMINAL
    assert hook.names() == ["get_result"] * 3 + ["get_runs_bulk"]
    assert hook.calls[-1] == ("get_runs_bulk", ((100,),))
    assert clock.slept == [5, 5]
    assert event.failing_runs[0].scenario_name == "S0"
    assert event.summary["success_rate"] == 0.5


def test_transient_errors_back_off_and_the_budget_resets_after_a_good_poll() -> None:
    boom = CekuraServerError("503", endpoint="GET /r", status_code=503)
    outcomes = run_both(
        lambda: ScriptedHook(get_result=[boom, boom, RUNNING, boom, DONE], get_runs_bulk=[[FAILING_RUN]]),
        lambda clock: Wait(WaitTarget(7), poll_interval=2, clock=clock),
    )
    event, _, clock = outcomes[0]
    assert event.status is EventStatus.TERMINAL
    assert clock.slept == [2, 4, 2, 2]  # backoff 2, 4; reset after the good poll; backoff 2 again


def test_a_spent_error_budget_ends_the_wait_with_an_error_event() -> None:
    boom = CekuraServerError("503", endpoint="GET /r", status_code=503)
    outcomes = run_both(
        lambda: ScriptedHook(get_result=[RUNNING] + [boom] * 4),
        lambda clock: Wait(WaitTarget(7), poll_interval=1, max_consecutive_errors=3, clock=clock),
    )
    event, hook, _ = outcomes[0]
    assert event.status is EventStatus.ERROR
    assert "503" in event.message
    assert hook.names() == ["get_result"] * 5
    assert event.summary is not None  # the last good poll's counts travel with the error


def test_a_permanent_error_ends_the_wait_at_once() -> None:
    denied = CekuraAuthError("401 key rejected", endpoint="GET /r", status_code=401)
    outcomes = run_both(
        lambda: ScriptedHook(get_result=[denied]),
        lambda clock: Wait(WaitTarget(7), poll_interval=1, clock=clock),
    )
    event, _, clock = outcomes[0]
    assert event.status is EventStatus.ERROR
    assert "key rejected" in event.message
    assert clock.slept == []


def test_retry_after_is_honoured_by_the_wait() -> None:
    limited = CekuraRateLimitError("429", endpoint="GET /r", retry_after=42)
    outcomes = run_both(
        lambda: ScriptedHook(get_result=[limited, DONE], get_runs_bulk=[[FAILING_RUN]]),
        lambda clock: Wait(WaitTarget(7), poll_interval=1, clock=clock),
    )
    assert outcomes[0][2].slept == [42]


def test_the_deadline_ends_the_calls_and_reports_the_last_progress() -> None:
    outcomes = run_both(
        lambda: ScriptedHook(get_result=[RUNNING] * 3, end_calls=[None]),
        lambda clock: Wait(WaitTarget(7), poll_interval=4, deadline=clock() + 10, clock=clock),
    )
    event, hook, clock = outcomes[0]
    assert event.status is EventStatus.TIMEOUT
    assert event.calls_ended is True
    assert hook.names() == ["get_result"] * 3 + ["end_calls"]
    assert clock.slept == [4, 4, 2]  # the last nap is cut to the deadline
    assert "Last progress: 1/2 runs terminal" in event.message


def test_a_failed_end_calls_at_the_deadline_says_so() -> None:
    boom = CekuraServerError("500", endpoint="POST /end", status_code=500)
    outcomes = run_both(
        lambda: ScriptedHook(end_calls=[boom]),
        lambda clock: Wait(WaitTarget(7), poll_interval=4, deadline=clock() - 1, clock=clock),
    )
    event = outcomes[0][0]
    assert event.calls_ended is False
    assert "left running" in event.message


def test_failing_run_details_are_a_bonus_not_a_requirement() -> None:
    boom = CekuraServerError("502", endpoint="GET /bulk", status_code=502)
    outcomes = run_both(
        lambda: ScriptedHook(get_result=[DONE], get_runs_bulk=[boom]),
        lambda clock: Wait(WaitTarget(7), clock=clock),
    )
    event = outcomes[0][0]
    assert event.status is EventStatus.TERMINAL
    assert event.summary["failed_evaluation"] == 1


def test_explicit_run_ids_are_polled_in_bulk_and_ended_one_by_one() -> None:
    running = [{"id": 1, "status": "running"}, {"id": 2, "status": "completed", "success": True}]
    outcomes = run_both(
        lambda: ScriptedHook(get_runs_bulk=[running], end_call=[None]),
        lambda clock: Wait(WaitTarget(run_ids=(1, 2)), poll_interval=4, deadline=clock() + 1, clock=clock),
    )
    event, hook, _ = outcomes[0]
    assert event.status is EventStatus.TIMEOUT
    assert hook.calls == [("get_runs_bulk", ((1, 2),)), ("end_call", (1,))]  # run 2 had finished


def test_unexpected_errors_are_not_swallowed() -> None:
    hook = ScriptedHook(get_result=[KeyError("bug")])
    with pytest.raises(KeyError):
        drive(Wait(WaitTarget(7)).run(), hook, sleep=lambda s: None)


def test_deadline_is_the_earlier_of_timeout_and_execution_timeout() -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = start.timestamp() + 100
    assert deadline_for(None, None, None, now=now) is None
    assert deadline_for(60, None, None, now=now) == now + 60
    # Execution timeout of 1 h from the start, minus the 30 s we keep to end the calls ourselves.
    assert deadline_for(None, timedelta(hours=1), start, now=now) == start.timestamp() + 3600 - 30
    assert deadline_for(10_000, timedelta(hours=1), start, now=now) == start.timestamp() + 3570


# ---------------------------------------------------------------------------------------------- light polls
# and webhook wake-ups (issues 26.4 and 22)


def test_light_polls_count_unfinished_runs_and_read_the_detail_once_at_the_end() -> None:
    outcomes = run_both(
        lambda: CountingHook(
            get_result=[RUNNING, DONE], count_unfinished_runs=[2, 1, 0], get_runs_bulk=[[FAILING_RUN]]
        ),
        lambda clock: Wait(WaitTarget(7), poll_interval=5, clock=clock, light_polls=True),
    )
    event, hook, clock = outcomes[0]
    assert event.status is EventStatus.TERMINAL
    assert hook.names() == ["get_result"] + ["count_unfinished_runs"] * 3 + ["get_result", "get_runs_bulk"]
    assert clock.slept == [5, 5, 5]
    assert event.summary["success_rate"] == 0.5


def test_a_zero_count_the_detail_contradicts_keeps_waiting() -> None:
    """The count is only a hint (a status this version does not know is not counted): the detail decides."""
    outcomes = run_both(
        lambda: CountingHook(
            get_result=[RUNNING, RUNNING, DONE], count_unfinished_runs=[0, 0], get_runs_bulk=[[FAILING_RUN]]
        ),
        lambda clock: Wait(WaitTarget(7), poll_interval=5, clock=clock, light_polls=True),
    )
    event, hook, _ = outcomes[0]
    assert event.status is EventStatus.TERMINAL
    assert hook.names()[:5] == [
        "get_result",
        "count_unfinished_runs",
        "get_result",
        "count_unfinished_runs",
        "get_result",
    ]


def test_per_run_progress_always_reads_the_detail() -> None:
    steps = WaitTarget(7, (100, 101), per_run_progress=True).poll(light=True)
    assert next(steps) == GetResult(7)
    assert next(WaitTarget(7).poll(light=True)) == CountUnfinished(7)


class FakeWake:
    """A webhook subscription that fires on the given sleeps (0-based) and records what it was asked."""

    def __init__(self, fire_on: set[int]) -> None:
        self.fire_on = fire_on
        self.asked: list[float] = []

    async def wait(self, seconds: float) -> bool:
        self.asked.append(seconds)
        return len(self.asked) - 1 in self.fire_on


def test_a_webhook_ends_the_safety_sleep_and_the_detail_is_read_at_once() -> None:
    hook = CountingHook(get_result=[RUNNING, DONE], get_runs_bulk=[[FAILING_RUN]])
    wake = FakeWake(fire_on={0})
    wait = Wait(WaitTarget(7), poll_interval=5, safety_interval=600, light_polls=True)
    event = asyncio.run(adrive(wait.run(), hook, wake))
    assert event.status is EventStatus.TERMINAL
    assert wake.asked == [600]  # slept at the safety interval, woken by the webhook
    assert hook.names() == ["get_result", "get_result", "get_runs_bulk"]  # no count between


def test_without_a_webhook_the_safety_poll_still_finishes_the_wait() -> None:
    hook = CountingHook(
        get_result=[RUNNING, DONE], count_unfinished_runs=[1, 0], get_runs_bulk=[[FAILING_RUN]]
    )
    wake = FakeWake(fire_on=set())
    wait = Wait(WaitTarget(7), poll_interval=5, safety_interval=600, light_polls=True)
    event = asyncio.run(adrive(wait.run(), hook, wake))
    assert event.status is EventStatus.TERMINAL
    assert wake.asked == [600, 600]
    assert hook.names() == [
        "get_result",
        "count_unfinished_runs",
        "count_unfinished_runs",
        "get_result",
        "get_runs_bulk",
    ]


def test_the_deadline_caps_the_safety_sleep_and_backoffs_are_not_wakeable() -> None:
    clock = Clock()
    wait = Wait(WaitTarget(7), poll_interval=5, deadline=clock.now + 50, clock=clock, safety_interval=600)
    steps = wait.run()
    assert next(steps) is not None  # the first detail
    nap = steps.send(RUNNING)
    assert nap == Sleep(50, wakeable=True)
    boom = CekuraServerError("503", endpoint="GET /r", status_code=503)
    steps = Wait(WaitTarget(7), poll_interval=5, clock=clock).run()
    next(steps)
    assert steps.throw(boom) == Sleep(5, wakeable=False)


# ---------------------------------------------------------------------------------------------- agent refill
# of a capped own-room batch (issue 21.6)


class FakeRooms:
    """A room session that records each refill (sync or async) and raises the scripted errors in turn."""

    def __init__(self, *errors: BaseException | None) -> None:
        self.errors = list(errors)
        self.payloads: list[list[int]] = []

    def refill(self, payload: Any) -> int:
        self.payloads.append(sorted(int(r["id"]) for r in payload["runs"]))
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return 1

    async def arefill(self, payload: Any) -> int:
        return self.refill(payload)


def test_a_capped_batch_refills_after_every_detail_read_every_poll() -> None:
    """Light polls would answer "still 2 unfinished" and never say which runs ended: with refill on, the
    detail is read every poll (no count), at `poll_interval` even when a webhook channel is there."""
    rooms: list[FakeRooms] = []

    def wait(clock: Clock) -> Wait:
        rooms.append(FakeRooms())
        return Wait(
            WaitTarget(7),
            poll_interval=5,
            clock=clock,
            light_polls=True,
            safety_interval=600,
            rooms=rooms[-1],
        )

    outcomes = run_both(
        lambda: CountingHook(get_result=[RUNNING, RUNNING, DONE], get_runs_bulk=[[FAILING_RUN]]), wait
    )
    event, hook, clock = outcomes[0]
    assert event.status is EventStatus.TERMINAL
    assert hook.names() == ["get_result"] * 3 + ["get_runs_bulk"]
    assert clock.slept == [5, 5]
    for session in rooms:  # sync and async: one refill per running detail, with its runs; none at the end
        assert session.payloads == [[100, 101], [100, 101]]


def test_a_transient_livekit_failure_in_refill_is_logged_and_the_wait_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cekura_livekit.hooks.livekit import LiveKitError

    rooms: list[FakeRooms] = []

    def wait(clock: Clock) -> Wait:
        rooms.append(
            FakeRooms(LiveKitError("LiveKit CreateAgentDispatch failed for 1 of 2 rooms", status=503))
        )
        return Wait(WaitTarget(7), poll_interval=5, clock=clock, rooms=rooms[-1])

    outcomes = run_both(
        lambda: ScriptedHook(get_result=[RUNNING, RUNNING, DONE], get_runs_bulk=[[FAILING_RUN]]), wait
    )
    event = outcomes[0][0]
    assert event.status is EventStatus.TERMINAL
    assert all(len(session.payloads) == 2 for session in rooms)  # the failed refill was tried again
    assert "CreateAgentDispatch failed" in caplog.text


def test_a_refused_livekit_key_in_refill_ends_the_calls_and_the_wait_for_good() -> None:
    from cekura_livekit.hooks.livekit import auth_error

    def wait(clock: Clock) -> Wait:
        refused = auth_error("livekit_default", "http://lk", 401, "CreateAgentDispatch")
        return Wait(WaitTarget(7), poll_interval=5, clock=clock, rooms=FakeRooms(refused))

    outcomes = run_both(lambda: ScriptedHook(get_result=[RUNNING], end_calls=[None]), wait)
    event, hook, clock = outcomes[0]
    assert event.status is EventStatus.ERROR
    assert event.permanent is True
    assert "refused the API key/secret of connection 'livekit_default'" in event.message
    assert hook.names() == ["get_result", "end_calls"]  # no run still waiting can get its agent
    assert clock.slept == []


def test_without_a_room_session_nothing_is_refilled_and_light_polls_stay() -> None:
    wait = Wait(WaitTarget(7), poll_interval=5, light_polls=True)
    steps = wait.run()
    assert next(steps) == GetResult(7)
    assert isinstance(steps.send(RUNNING), Sleep)  # straight to the nap: no Refill step
    assert steps.send(False) == CountUnfinished(7)
