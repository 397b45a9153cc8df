"""Benchmark of the sandbox: how fast a 1,000-run batch reaches terminal, and polling throughput.

Prints numbers; asserts nothing. Run: `.venv/bin/python bench/sandbox_bench.py`.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from cekura_sandbox import Sandbox

V2 = "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/"


async def main() -> None:
    with Sandbox(seed=1, speed=20000.0) as sb:
        headers = {"X-CEKURA-API-KEY": sb.api_key}
        limits = httpx.Limits(max_connections=250)
        async with httpx.AsyncClient(
            base_url=sb.cekura_url, headers=headers, timeout=120, limits=limits
        ) as c:
            body = {
                "scenarios": [{"scenario": s} for s in (2001, 2002, 2003, 2004, 2006)],
                "frequency": 100,
                "personality_ids": [1, 2],
            }
            t0 = time.perf_counter()
            submitted = (await c.post(V2, json=body)).json()
            print(f"submit 1000 runs: {1000 * (time.perf_counter() - t0):.1f} ms")
            rid = submitted["id"]
            t0 = time.perf_counter()
            for _ in range(6000):
                status = (await c.get(f"/test_framework/v1/results/{rid}/")).json()["status"]
                if status in {"completed", "failed"}:
                    break
                await asyncio.sleep(0.1)
            print(f"1000-run batch terminal after {time.perf_counter() - t0:.2f} s real at speed 20000x")
            t0 = time.perf_counter()
            detail = await c.get(f"/test_framework/v1/results/{rid}/")
            print(
                f"result detail with 1000 runs: {1000 * (time.perf_counter() - t0):.1f} ms, {len(detail.content)} bytes"
            )

            small = (await c.post(V2, json={"scenarios": [{"scenario": 2001}], "frequency": 20})).json()
            ids = ",".join(str(r["id"]) for r in small["runs"])

            async def poll(i: int) -> int:
                if i % 2:
                    return (await c.get(f"/test_framework/v1/results/{small['id']}/")).status_code
                return (await c.get("/test_framework/v1/runs/bulk/", params={"run_ids": ids})).status_code

            t0 = time.perf_counter()
            codes = await asyncio.gather(*(poll(i) for i in range(1000)))
            elapsed = time.perf_counter() - t0
            errors = sum(code != 200 for code in codes)
            print(
                f"1000 polls from 200-way concurrency (20-run batch): {elapsed:.2f} s, "
                f"{1000 / elapsed:.0f} req/s, {errors} errors"
            )


if __name__ == "__main__":
    asyncio.run(main())
