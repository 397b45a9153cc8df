"""What a batch costs in Cekura credits: the estimate before submitting, the guard that refuses a batch
over budget or over the account's balance, and the credits of one finished run (for the warehouse).

Cekura prices in credits. Its documented rates (docs.cekura.ai, FAQ "How do credits work in Cekura,
including pricing for testing, monitoring, and overages?"): voice testing 5 credits per minute of a voice
run; chat testing 0.5 credits per message sent by the testing agent; evaluation 0.2 credits per metric run
on a conversation. Overages, where enabled, are billed at 2x the committed rate: this module counts credits,
not money, so the multiplier never enters. The balance comes from `GET /test_framework/billing/info/`
(`credits_remaining`, a decimal string), which answers only organisation-scoped API keys.

Why an estimate and not a price: a run's length is known only once it ended. The estimate takes an expected
length per run (EXPECTED_VOICE_MINUTES, EXPECTED_CHAT_MESSAGES) and metric count (EXPECTED_METRICS): the
guard catches a batch that is wrong by orders of magnitude (a frequency of 100 on 40 scenarios), not by 10 %.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the warehouse's extract imports the rates: keep the spec's validators out of it
    from cekura_livekit.batch.spec import BatchSpec

log = logging.getLogger(__name__)

#: Cekura's documented rates (FAQ, see the module docstring).
VOICE_CREDITS_PER_MINUTE = 5.0
CHAT_CREDITS_PER_MESSAGE = 0.5
CREDITS_PER_METRIC = 0.2
#: What the estimate assumes one run is: a 3-minute voice call, or 10 tester messages in chat, scored by
#: 5 metrics. Typical of the scenario catalogues this provider runs; a long-call suite sets `max_credits`
#: with that in mind.
EXPECTED_VOICE_MINUTES = 3.0
EXPECTED_CHAT_MESSAGES = 10
EXPECTED_METRICS = 5
#: XCom key of the run operator's estimate (`CostEstimate.to_xcom()`).
ESTIMATE_KEY = "estimated_credits"
#: The speaker label of the testing agent in Cekura's `transcript_object`.
TESTING_AGENT = "testing agent"


def run_credits(
    *,
    duration_s: float | None,
    run_as_text: bool | None,
    tester_messages: int | None,
    metrics: int,
) -> float | None:
    """Credits one run consumed by the documented rates; None when what it depends on is not known
    (a voice run without a duration, a chat run without a transcript)."""
    if run_as_text:
        if tester_messages is None:
            return None
        usage = tester_messages * CHAT_CREDITS_PER_MESSAGE
    else:
        if duration_s is None:
            return None
        usage = duration_s / 60.0 * VOICE_CREDITS_PER_MINUTE
    return round(usage + metrics * CREDITS_PER_METRIC, 4)


@dataclass(frozen=True)
class CostEstimate:
    """A batch's expected credits, with what it assumed (logged and pushed to XCom, JSON-safe)."""

    runs: int
    credits_per_run: float
    estimated_credits: float
    basis: str

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)


def estimate(spec: BatchSpec) -> CostEstimate:
    """The batch's expected credits: runs x (expected usage + expected metrics)."""
    metrics = EXPECTED_METRICS * CREDITS_PER_METRIC
    if spec.submission_mode.text:
        per_run = EXPECTED_CHAT_MESSAGES * CHAT_CREDITS_PER_MESSAGE + metrics
        basis = (
            f"{EXPECTED_CHAT_MESSAGES} tester messages x {CHAT_CREDITS_PER_MESSAGE:g} + "
            f"{EXPECTED_METRICS} metrics x {CREDITS_PER_METRIC:g} credits per chat run"
        )
    else:
        per_run = EXPECTED_VOICE_MINUTES * VOICE_CREDITS_PER_MINUTE + metrics
        basis = (
            f"{EXPECTED_VOICE_MINUTES:g} min x {VOICE_CREDITS_PER_MINUTE:g} + {EXPECTED_METRICS} metrics x "
            f"{CREDITS_PER_METRIC:g} credits per voice run"
        )
    runs = spec.run_count
    return CostEstimate(runs, round(per_run, 4), round(runs * per_run, 2), basis)


def check_budget(spec: BatchSpec, cost: CostEstimate) -> None:
    """Refuse a batch whose estimate exceeds the spec's `max_credits` (permanent: nothing submitted)."""
    limit = spec.max_credits
    if limit is not None and cost.estimated_credits > limit:
        raise ValueError(
            f"This batch is estimated at {cost.estimated_credits:g} Cekura credits ({cost.runs} runs; "
            f"{cost.basis}), more than max_credits={limit:g}: run fewer scenarios or a lower frequency, or "
            "raise max_credits (operator argument or suite key) if the spend is intended. Nothing was submitted."
        )


def credits_remaining(billing: dict[str, Any]) -> float | None:
    """`credits_remaining` of a billing/info answer as a number (Cekura sends a decimal string)."""
    raw = billing.get("credits_remaining")
    try:
        return None if raw is None or isinstance(raw, bool) else float(raw)
    except (TypeError, ValueError):
        return None


def check_balance(hook: Any, cost: CostEstimate) -> float | None:
    """Refuse a batch the account cannot pay for, where Cekura's billing endpoint answers.

    Returns the balance read (None when the endpoint does not answer: a project-scoped key gets 403, an
    organisation without billing record 404, an outage; the guard then leaves the decision to the submit).
    """
    from cekura_livekit.hooks.errors import CekuraError

    try:
        remaining = credits_remaining(hook.get_billing_info())
    except CekuraError as exc:
        log.info("Cekura's billing/info did not answer (%s): the balance is not checked before submit.", exc)
        return None
    if remaining is not None and cost.estimated_credits > remaining:
        raise ValueError(
            f"This batch needs about {cost.estimated_credits:g} Cekura credits ({cost.runs} runs; {cost.basis}) "
            f"but the account has {remaining:g} credits remaining (GET /test_framework/billing/info/): add "
            "credits to the Cekura organisation (or enable overages), or run fewer scenarios or a lower "
            "frequency. Nothing was submitted."
        )
    return remaining
