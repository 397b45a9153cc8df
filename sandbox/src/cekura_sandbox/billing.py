"""Credits: what each run costs, the organisation's balance (`GET /test_framework/billing/info/`) and the
refusal of a submit the balance cannot start.

Rates are Cekura's documented ones (docs.cekura.ai FAQ, "How do credits work in Cekura"): 5 credits per
minute of a voice run, 0.5 per message the testing agent sends in a chat run, 0.2 per metric evaluated.
The billing record follows the `BillingInfo` schema of Cekura's API reference (organization, credits as
decimal strings, balance_expiry, subscription_status with the pack's caps).

A submit the balance cannot start is refused with the documented body (`limits.insufficient_balance`; the 402
status is inferred), before anything is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cekura_sandbox.clock import iso
from cekura_sandbox.errors import ApiError
from cekura_sandbox.limits import insufficient_balance

VOICE_CREDITS_PER_MINUTE = 5.0
CHAT_CREDITS_PER_MESSAGE = 0.5
CREDITS_PER_METRIC = 0.2
#: A trial pack's balance: enough for every test suite of the project, small enough to run out in a test.
DEFAULT_INITIAL_BALANCE = 50_000.0
TESTING_AGENT = "Testing Agent"


def run_credits(run: dict[str, Any]) -> float:
    """Credits a finished run (a Run object) consumed, by the documented rates."""
    if run.get("status") not in {"completed", "failed", "timeout", "cancelled"}:
        return 0.0
    metrics = len((run.get("evaluation") or {}).get("metrics") or [])
    if run.get("run_as_text"):
        sent = sum(1 for t in run.get("transcript_object") or [] if t.get("role") == TESTING_AGENT)
        usage = sent * CHAT_CREDITS_PER_MESSAGE
    else:
        minutes, _, seconds = str(run.get("duration") or "00:00").partition(":")
        usage = (int(minutes) * 60 + int(seconds or 0)) / 60.0 * VOICE_CREDITS_PER_MINUTE
    return round(usage + metrics * CREDITS_PER_METRIC, 2)


@dataclass
class Billing:
    """The organisation's credit record. `initial_balance` None: billing answers 404 (not found), as
    Cekura does for an organisation without a billing record."""

    initial_balance: float | None = DEFAULT_INITIAL_BALANCE
    organization: int = 1
    created_at: datetime | None = None
    max_concurrent_runs: int = 10

    def view(self, used: float, now: datetime) -> dict[str, Any]:
        if self.initial_balance is None:
            raise ApiError(404, {"detail": "Billing information not found"})
        remaining = self.initial_balance - used
        return {
            "organization": self.organization,
            "credits_remaining": f"{remaining:.2f}",
            "credits_used": f"{used:.2f}",
            "initial_balance": f"{self.initial_balance:.2f}",
            "balance_expiry": None,
            "subscription_status": {
                "status": "active" if remaining > 0 else "inactive",
                "is_active": True,
                "is_trial": False,
                "pack_name": "Sandbox",
                "expire_at": None,
                "pack": {
                    "name": "Sandbox",
                    "max_concurrent_runs_limit": self.max_concurrent_runs,
                    "max_concurrent_chat_runs_limit": self.max_concurrent_runs,
                    "billing_type": "prepaid",
                    "subscription_overage": "disabled",
                },
            },
            "created_at": iso(self.created_at or now),
            "updated_at": iso(now),
        }

    def check_can_start(self, used: float) -> None:
        """Refuse a submit when no credits are left (402, nothing created)."""
        if self.initial_balance is None:
            return
        remaining = self.initial_balance - used
        if remaining <= 0:
            raise insufficient_balance()  # the one documented refusal body (limits.py)
