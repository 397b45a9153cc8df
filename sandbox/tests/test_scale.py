"""200 concurrent polling clients get answers without errors."""

from __future__ import annotations

import asyncio

import httpx

from cekura_sandbox import Sandbox

V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"


async def test_200_concurrent_pollers(cekura_sandbox: Sandbox) -> None:
    headers = {"X-CEKURA-API-KEY": cekura_sandbox.api_key}
    limits = httpx.Limits(max_connections=250)
    async with httpx.AsyncClient(
        base_url=cekura_sandbox.cekura_url, headers=headers, timeout=60, limits=limits
    ) as c:
        submitted = (
            await c.post(V2, json={"scenarios": [{"scenario": 2001}, {"scenario": 2003}], "frequency": 10})
        ).json()
        rid = submitted["id"]
        ids = ",".join(str(r["id"]) for r in submitted["runs"])

        async def poller(i: int) -> list[int]:
            codes = []
            for j in range(3):
                if (i + j) % 2:
                    resp = await c.get(f"/test_framework/v1/results/{rid}/")
                    assert len(resp.json()["runs"]) == 20
                else:
                    resp = await c.get("/test_framework/v1/runs/bulk/", params={"run_ids": ids})
                    assert len(resp.json()) == 20
                codes.append(resp.status_code)
            return codes

        results = await asyncio.gather(*(poller(i) for i in range(200)))
    assert all(code == 200 for codes in results for code in codes)
    assert cekura_sandbox.count("GET") == 600
