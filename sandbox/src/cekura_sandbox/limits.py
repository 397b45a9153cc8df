"""Cekura's account limits in the stand-in: per-plan rate limits, project-scoped keys, billing refusals and
managed submits for agents without LiveKit credentials — each with the real status and body.

Sources (cekura-ai/docs): `cli-sdk/sdk.mdx` and `cli-sdk/cli.mdx` ("Rate limited (429)": the platform enforces
per-plan rate limits; check Settings → API Usage); `documentation/advanced/enterprise-setup.mdx` (Project API
keys "cannot access other projects"); `documentation/integrations/agora.mdx` (error bodies of a sibling run
endpoint: `{"detail": "Insufficient balance for this operation"}` and `{"agent": ["Agent must have … credentials
configured …"]}`); `api-reference/test_framework/run-evaluator-livekit-v2.mdx` ("Requires LiveKit credentials
configured on the agent or project"). Cekura's API is Django REST framework, so a throttled request gets DRF's
429 body with `Retry-After`, and a permission failure DRF's 403 body.

Inferred (no source states it): the numeric limits (none are published: every limit here is off until a test
or the control endpoint sets it), the status of the balance refusal (402 Payment Required), and the LiveKit
wording of the missing-credentials message (the Agora one with "LiveKit").

Billing itself (balances, charges) belongs to the billing model: it plugs in through `submit_guards`, the one
hook point here, by raising `insufficient_balance()` from a guard.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cekura_sandbox.errors import ApiError

#: DRF's `PermissionDenied` default detail: what a project-scoped key gets for another project's agent.
PERMISSION_DENIED = "You do not have permission to perform this action."
#: The balance refusal of Cekura's run endpoints (documented on the Agora run endpoint).
INSUFFICIENT_BALANCE = "Insufficient balance for this operation"
#: The managed (v2) submit for an agent with no LiveKit credentials (inferred from the Agora wording).
NO_LIVEKIT_CREDENTIALS = (
    "Agent must have LiveKit credentials configured (livekit url, api key and api secret on the agent or "
    "project)."
)


def throttled(wait: float) -> ApiError:
    """DRF's throttled response: 429, `Retry-After` in whole seconds, the wait in the detail."""
    seconds = max(1, math.ceil(wait))
    return ApiError(
        429,
        {"detail": f"Request was throttled. Expected available in {seconds} seconds."},
        {"Retry-After": str(seconds)},
    )


def permission_denied() -> ApiError:
    return ApiError(403, {"detail": PERMISSION_DENIED})


def insufficient_balance() -> ApiError:
    """For billing guards (`Limits.submit_guards`): the refusal of a submit the balance cannot pay."""
    return ApiError(402, {"detail": INSUFFICIENT_BALANCE})


def no_livekit_credentials() -> ApiError:
    return ApiError(400, {"agent": [NO_LIVEKIT_CREDENTIALS]})


@dataclass(frozen=True)
class RateLimit:
    """`requests` per `window` seconds for one API key (a sliding window, like DRF's SimpleRateThrottle)."""

    requests: int
    window: float = 60.0

    def __post_init__(self) -> None:
        if self.requests < 1 or self.window <= 0:
            raise ValueError(f"rate limit {self.requests}/{self.window}s: need requests >= 1 and window > 0")


#: A submit guard sees the agent id and the run count of a valid submit, before anything is created.
SubmitGuard = Callable[[int, int], None]


@dataclass
class Limits:
    """What the organisation's plan and keys allow; everything off by default."""

    #: Per-key request rate (None: unlimited). Real time, not the simulated clock: it limits clients.
    rate: RateLimit | None = None
    #: Project-scoped keys → the projects they may use; a key not listed is organisation-wide.
    key_projects: dict[str, set[int]] = field(default_factory=dict)
    #: Agents with no LiveKit credentials configured: managed (v2) submits for them are refused.
    agents_without_livekit: set[int] = field(default_factory=set)
    #: Billing hook point: each guard may raise `insufficient_balance()` (or any ApiError) to refuse.
    submit_guards: list[SubmitGuard] = field(default_factory=list)
    _hits: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def admit(self, key: str, now: float | None = None) -> None:
        """Count one request of `key`; raise the 429 when it exceeds the rate. Refused requests are not
        counted (DRF's SimpleRateThrottle records only admitted ones), so a client that obeys `Retry-After`
        gets through."""
        rate = self.rate
        if rate is None:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - rate.window:
                hits.popleft()
            if len(hits) >= rate.requests:
                raise throttled(hits[0] + rate.window - now)
            hits.append(now)

    def may_use(self, key: str, project: int) -> bool:
        scope = self.key_projects.get(key)
        return scope is None or project in scope

    def check_submit(self, key: str, *, agent_id: int, project: int, mode: str, runs: int) -> None:
        """Refuse a valid submit the key, the agent's setup or the balance does not allow, in the order the
        API checks them: permission, the agent's configuration, then the balance."""
        if not self.may_use(key, project):
            raise permission_denied()
        if mode == "v2" and agent_id in self.agents_without_livekit:
            raise no_livekit_credentials()
        for guard in list(self.submit_guards):
            guard(agent_id, runs)

    def configure(self, body: dict[str, Any]) -> None:
        """Set limits from the control endpoint's JSON (`rate`: {requests, window} | null, `key_projects`:
        {key: [project, …]}, `agents_without_livekit`: [agent id, …]); keys absent stay as they are."""
        if "rate" in body:
            raw = body["rate"]
            self.rate = None if raw is None else RateLimit(int(raw["requests"]), float(raw.get("window", 60)))
            self._hits.clear()
        if "key_projects" in body:
            self.key_projects = {str(k): {int(p) for p in v} for k, v in dict(body["key_projects"]).items()}
        if "agents_without_livekit" in body:
            self.agents_without_livekit = {int(a) for a in body["agents_without_livekit"]}

    def as_dict(self) -> dict[str, Any]:
        rate = None if self.rate is None else {"requests": self.rate.requests, "window": self.rate.window}
        return {
            "rate": rate,
            "scoped_keys": len(self.key_projects),  # never the keys themselves
            "agents_without_livekit": sorted(self.agents_without_livekit),
            "submit_guards": len(self.submit_guards),
        }
