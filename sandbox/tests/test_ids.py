"""Ids can start anywhere, so consecutive sandbox sessions (the demo) never reuse a result or run id."""

from __future__ import annotations

import httpx
import pytest

from cekura_sandbox import Sandbox


def test_first_ids_are_configurable() -> None:
    with Sandbox(first_result_id=7001, first_run_id=90001) as sb:
        response = httpx.post(
            f"{sb.cekura_url}/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/",
            headers={"X-CEKURA-API-KEY": sb.api_key},
            json={"scenarios": [{"scenario": 2001}], "agent": 101, "frequency": 2},
        )
    body = response.json()
    assert body["id"] == 7001
    assert [r["id"] for r in body["runs"]] == [90001, 90002]


def test_first_ids_must_be_positive() -> None:
    with pytest.raises(ValueError, match="first ids must be positive"):
        Sandbox(first_result_id=0)
