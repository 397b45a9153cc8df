"""The cost guard (issue 19 item 4): the estimate in the log and XCom, `max_credits`, and a batch the account
cannot pay for refused before submit where Cekura's billing endpoint answers (the sandbox serves it)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cekura_livekit.batch.cost import (
    ESTIMATE_KEY,
    check_budget,
    credits_remaining,
    estimate,
    run_credits,
)
from cekura_livekit.batch.spec import build_spec
from cekura_livekit.compat import AirflowFailException
from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_sandbox import Sandbox
from tests.support.task_context import MemoryStateStore, make_context

SUBMIT_V2 = "run_scenarios_livekit_v2"


def _spec(**raw: Any) -> Any:
    return build_spec({"agent": 101, "scenarios": [1, 2], **raw}, strict=True)


def test_the_estimate_uses_the_documented_rates() -> None:
    voice = estimate(_spec(frequency=3))
    assert voice.runs == 6
    assert voice.credits_per_run == pytest.approx(3 * 5 + 5 * 0.2)  # 3 min x 5 + 5 metrics x 0.2
    assert voice.estimated_credits == pytest.approx(6 * 16)
    chat = estimate(
        _spec(mode="chat", livekit_conn_id="livekit_default", livekit_agent_name="a", frequency=1)
    )
    assert chat.credits_per_run == pytest.approx(10 * 0.5 + 5 * 0.2)
    # Cekura's worked example: a 2-minute voice test with 5 metrics costs 11 credits.
    assert run_credits(duration_s=120, run_as_text=False, tester_messages=None, metrics=5) == pytest.approx(
        11
    )
    assert run_credits(duration_s=None, run_as_text=False, tester_messages=None, metrics=5) is None
    assert run_credits(duration_s=None, run_as_text=True, tester_messages=4, metrics=10) == pytest.approx(4)
    assert credits_remaining({"credits_remaining": "7436.08"}) == pytest.approx(7436.08)
    assert credits_remaining({"credits_remaining": "n/a"}) is None


def test_max_credits_refuses_an_expensive_batch_naming_the_numbers() -> None:
    spec = _spec(frequency=10, max_credits="100")
    with pytest.raises(ValueError, match=r"estimated at 320 Cekura credits \(20 runs.*max_credits=100"):
        check_budget(spec, estimate(spec))
    check_budget(_spec(max_credits=1000), estimate(_spec(max_credits=1000)))
    for bad in (0, -1, "lots", float("nan"), True):
        with pytest.raises(ValueError, match=r"max_credits=.* must be a positive number of Cekura credits"):
            _spec(max_credits=bad)


def _op(**kwargs: Any) -> CekuraRunLiveKitScenariosOperator:
    defaults: dict[str, Any] = {
        "task_id": "run_suite",
        "scenarios": [2001, 2002],
        "agent": 101,
        "poll_interval": 0.1,
        "deferrable": False,
        "hook_params": {"retry_delay": 0.05, "retry_max_delay": 0.2},
    }
    return CekuraRunLiveKitScenariosOperator(**{**defaults, **kwargs})


def test_the_estimate_is_logged_and_pushed_before_the_submit(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_context(store=MemoryStateStore())
    with caplog.at_level(logging.INFO):
        _op(wait_for_completion=False, frequency=2).execute(ctx)
    pushed = ctx["ti"].xcoms[ESTIMATE_KEY]
    assert pushed["runs"] == 4
    assert pushed["estimated_credits"] == pytest.approx(64)
    assert "Estimated Cekura cost of this batch: 64 credits (4 runs" in caplog.text
    assert "credits remaining" in caplog.text
    assert cekura_sandbox.count("GET", "/billing/info/") == 1


def test_a_batch_the_account_cannot_pay_for_fails_before_submit(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    cekura_sandbox.set_credits(50.0)
    with pytest.raises(AirflowFailException) as caught:
        _op(frequency=2).execute(make_context(store=MemoryStateStore()))
    message = str(caught.value)
    assert "needs about 64 Cekura credits" in message
    assert "has 50 credits remaining" in message
    assert "add credits" in message
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 0


def test_without_a_billing_answer_the_batch_is_submitted(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    cekura_sandbox.set_credits(None)  # billing/info answers 404: e.g. no billing record
    summary = _op(wait_for_completion=False).execute(make_context(store=MemoryStateStore()))
    assert summary["result_id"]
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 1


def test_max_credits_fails_the_operator_before_any_call(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    with pytest.raises(AirflowFailException, match="max_credits=10"):
        _op(max_credits=10).execute(make_context(store=MemoryStateStore()))
    assert cekura_sandbox.count("POST", SUBMIT_V2) == 0
