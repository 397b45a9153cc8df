"""The stand-in's outbound webhooks: `result.completed` as Cekura sends it, with faults to inject.

Cekura posts `{"event_type": "result.completed", "data": <the result detail>}` with the organisation's
secret in `X-CEKURA-SECRET` to the URL configured for the project (here: per project id, or for every
project), once, without signing, retrying or logging it. The sender watches the store for results that
became terminal since it was configured and posts each one once from the sandbox's own event loop.

Faults (`add_fault`), each for the next `times` deliveries (optionally only of one result):
`drop` (never sent), `delay` (sent `delay` s late), `duplicate` (sent twice), `reorder` (held back until
the next delivery went out, or `delay` s), `wrong_secret` (sent with a wrong header). A receiver that is
down is just an unreachable URL: the attempt is logged with its error and, as with Cekura, not retried.

Configured from Python (`Sandbox.webhooks.configure(url, secret)`) or, for the CLI and docker-compose,
from `SANDBOX_WEBHOOK_URL` / `SANDBOX_WEBHOOK_SECRET` at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from cekura_sandbox.lifecycle import TERMINAL

FAULT_KINDS = frozenset({"drop", "delay", "duplicate", "reorder", "wrong_secret"})
#: How often the sender looks for newly finished results (real seconds).
SCAN_SECONDS = 0.05


@dataclass
class WebhookFault:
    kind: str
    times: int = 1
    delay: float = 2.0
    result_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"webhook fault kind {self.kind!r} is not one of {sorted(FAULT_KINDS)}")


@dataclass(frozen=True)
class Delivery:
    """One attempt, as the tests see it (the secret itself is never kept)."""

    result_id: int
    url: str
    event_type: str
    status_code: int | None
    error: str | None
    sent_at: float
    fault: str | None = None


@dataclass
class _Target:
    url: str
    secret: str = field(repr=False)


class WebhookSender:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.targets: dict[int | None, _Target] = {}
        self.faults: list[WebhookFault] = []
        self.deliveries: list[Delivery] = []
        self._announced: set[int] = set()
        self._held: list[Callable[[], Any]] = []
        self._client: httpx.AsyncClient | None = None
        self._last_scan = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        url, secret = os.environ.get("SANDBOX_WEBHOOK_URL"), os.environ.get("SANDBOX_WEBHOOK_SECRET")
        if url and secret:
            self.configure(url, secret)

    # ---- controls -------------------------------------------------------------------------------
    def configure(self, url: str, secret: str, project_id: int | None = None) -> None:
        """Post the project's (None: every project's) results to `url`; results already finished are
        not announced (Cekura sends only what completes after the webhook was set)."""
        if not url.startswith(("http://", "https://")) or not secret:
            raise ValueError("a webhook needs an http(s) URL and a non-empty secret")
        with self.lock:
            self.targets[project_id] = _Target(url, secret)
            self._announced |= self._finished_ids()

    def disable(self) -> None:
        with self.lock:
            self.targets.clear()

    def add_fault(
        self, kind: str, times: int = 1, delay: float = 2.0, result_id: int | None = None
    ) -> WebhookFault:
        fault = WebhookFault(kind, times, delay, result_id)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def sent(self, result_id: int | None = None) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if result_id is None or d.result_id == result_id]

    # ---- the watch --------------------------------------------------------------------------------
    def _finished_ids(self) -> set[int]:
        """Results (not yet announced) whose every run is terminal now."""
        with self.store.lock:
            now = self.store.clock.now()
            return {
                rid
                for rid in self.store.results.keys() - self._announced
                if (runs := self.store.results[rid].run_ids)
                and all(self.store.runs[i].status(now) in TERMINAL for i in runs)
            }

    def _target_for(self, result_id: int) -> _Target | None:
        with self.store.lock:
            agent = self.store.catalogue.agents[self.store.results[result_id].agent_id]
        return self.targets.get(agent.project) or self.targets.get(None)

    def scan(self) -> None:
        """Called from the sandbox's loop: start a delivery for every result that finished since last time."""
        if not self.targets:
            return
        now = time.monotonic()
        if now - self._last_scan < SCAN_SECONDS:
            return
        self._last_scan = now
        with self.lock:
            fresh = sorted(self._finished_ids())
            self._announced.update(fresh)
        for result_id in fresh:
            target = self._target_for(result_id)
            if target is not None:
                self._spawn(self._deliver(result_id, target))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take_fault(self, result_id: int) -> WebhookFault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.result_id in (None, result_id):
                    fault.times -= 1
                    return fault
        return None

    async def _deliver(self, result_id: int, target: _Target) -> None:
        body = json.dumps({"event_type": "result.completed", "data": self.store.result(result_id)})
        fault = self._take_fault(result_id)
        kind = fault.kind if fault else None
        if kind == "drop":
            self._log(Delivery(result_id, target.url, "result.completed", None, "dropped", time.time(), kind))
            return
        if kind == "delay" and fault is not None:
            await asyncio.sleep(fault.delay)
        if kind == "reorder" and fault is not None:
            released = asyncio.Event()
            self._held.append(released.set)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), fault.delay)
        secret = "not-the-secret" if kind == "wrong_secret" else target.secret
        for _ in range(2 if kind == "duplicate" else 1):
            await self._post(result_id, target.url, secret, body, kind)
        if kind != "reorder":
            held, self._held = self._held, []
            for release in held:
                release()

    async def _post(self, result_id: int, url: str, secret: str, body: str, kind: str | None) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        headers = {"Content-Type": "application/json", "X-CEKURA-SECRET": secret}
        try:
            response = await self._client.post(url, content=body, headers=headers)
            status, error = response.status_code, None
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        self._log(Delivery(result_id, url, "result.completed", status, error, time.time(), kind))

    def _log(self, delivery: Delivery) -> None:
        with self.lock:
            self.deliveries.append(delivery)
