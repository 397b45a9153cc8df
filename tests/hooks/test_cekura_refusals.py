"""Cekura's account refusals (issue 21.9) as the sandbox answers them, classified with their fixes.

The sandbox gives the real status and body (sandbox/src/cekura_sandbox/limits.py, with its sources);
`hooks.errors.refusal_for` turns each into a typed error whose message names the field, the value and the fix.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cekura_livekit.batch.errors import is_permanent
from cekura_livekit.hooks.errors import (
    CekuraAuthError,
    CekuraBillingError,
    CekuraValidationError,
    refusal_for,
)
from cekura_sandbox import Sandbox
from cekura_sandbox.limits import insufficient_balance

V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"
BODY = {"scenarios": [{"scenario": 2001}], "agent": 101}


def _refusal(sb: Sandbox) -> tuple[httpx.Response, Any]:
    with httpx.Client(base_url=sb.cekura_url, headers={"X-CEKURA-API-KEY": sb.api_key}) as client:
        response = client.post(V2, json=BODY)
    error = refusal_for(
        response.status_code,
        response.json(),
        endpoint="submit",
        conn_id="cekura_default",
        prefix=f"Cekura submit returned {response.status_code}",
    )
    return response, error


def test_insufficient_balance_is_permanent_and_says_add_credits(cekura_sandbox: Sandbox) -> None:
    def broke(agent_id: int, runs: int) -> None:
        raise insufficient_balance()

    cekura_sandbox.store.limits.submit_guards.append(broke)
    response, error = _refusal(cekura_sandbox)
    assert response.status_code == 402
    assert isinstance(error, CekuraBillingError)
    assert is_permanent(error)
    assert "Insufficient balance for this operation" in str(error)
    assert "Add Credits" in str(error)


def test_project_scoped_key_names_the_connection_and_the_fix(cekura_sandbox: Sandbox) -> None:
    cekura_sandbox.store.limits.key_projects[cekura_sandbox.api_key] = {99}
    response, error = _refusal(cekura_sandbox)
    assert response.status_code == 403
    assert isinstance(error, CekuraAuthError)
    assert is_permanent(error)
    assert "project-scoped keys cannot access other projects" in str(error)
    assert "'cekura_default'" in str(error)
    assert cekura_sandbox.api_key not in str(error)


def test_managed_submit_without_livekit_credentials_says_where_to_add_them(cekura_sandbox: Sandbox) -> None:
    cekura_sandbox.store.limits.agents_without_livekit.add(101)
    response, error = _refusal(cekura_sandbox)
    assert response.status_code == 400
    assert isinstance(error, CekuraValidationError)
    assert is_permanent(error)
    assert error.field_errors["agent"][0].startswith("Agent must have LiveKit credentials")
    assert "bring_your_own_rooms" in str(error)


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (429, {"detail": "Request was throttled. Expected available in 3 seconds."}),
        (400, {"scenarios": ["x"]}),
    ],
)
def test_other_answers_keep_the_generic_mapping(status: int, payload: dict) -> None:
    assert refusal_for(status, payload, endpoint="e", conn_id="c", prefix="p") is None


def test_rate_limited_reads_wait_for_retry_after_and_succeed(
    cekura_sandbox: Sandbox, cekura_sandbox_connections: dict
) -> None:
    """The sandbox's 429 + Retry-After (DRF throttle): the hook's reads obey it and get through."""
    from cekura_livekit.hooks.cekura import CekuraHook
    from cekura_sandbox.limits import RateLimit

    with httpx.Client(
        base_url=cekura_sandbox.cekura_url, headers={"X-CEKURA-API-KEY": cekura_sandbox.api_key}
    ) as c:
        result_id = c.post(V2, json=BODY).json()["id"]
    cekura_sandbox.store.limits.rate = RateLimit(requests=2, window=1.0)
    hook = CekuraHook("cekura_default")
    results = [hook.get_result(result_id) for _ in range(4)]
    assert [r["id"] for r in results] == [result_id] * 4
    statuses = [r.status for r in cekura_sandbox.requests if f"results/{result_id}" in r.path]
    assert 429 in statuses
    assert statuses.count(200) == 4
