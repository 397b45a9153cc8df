"""`Sandbox`: both stand-ins on 127.0.0.1, served by uvicorn in a background thread with its own loop.

Tests use it in-process (`with Sandbox() as sb:`); the CLI wraps the same object.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from cekura_sandbox.catalogue import Catalogue, load_catalogue, with_metric_format
from cekura_sandbox.cekura_app import CekuraApi
from cekura_sandbox.clock import SimClock
from cekura_sandbox.livekit_app import LiveKitTwirp
from cekura_sandbox.livekit_state import LiveKitState
from cekura_sandbox.recorder import Fault, RecordedRequest, Recorder, RecordingMiddleware
from cekura_sandbox.store import CekuraStore
from cekura_sandbox.webhooks import WebhookSender

DEFAULT_API_KEY = "sandbox-cekura-key"
DEFAULT_LIVEKIT_KEY = "sandbox-livekit-key"
DEFAULT_LIVEKIT_SECRET = "sandbox-livekit-secret-0123456789abcdef"
TICK_SECONDS = 0.02


class Sandbox:
    """Local Cekura + LiveKit stand-ins that the unmodified official clients accept."""

    def __init__(
        self,
        seed: int = 7,
        speed: float = 600.0,
        catalogue: str | Path | Catalogue | None = None,
        api_key: str = DEFAULT_API_KEY,
        livekit_api_key: str = DEFAULT_LIVEKIT_KEY,
        livekit_api_secret: str = DEFAULT_LIVEKIT_SECRET,
        cekura_port: int = 0,
        livekit_port: int = 0,
        start_time: datetime | None = None,
        agent_join_timeout: float = 3.0,
        host: str = "127.0.0.1",
        parallel_calls: int | None = None,
        ignore_v1_name: bool = False,
        first_result_id: int = 501,
        first_run_id: int = 1001,
        metric_format: str | None = None,
    ) -> None:
        if len(livekit_api_secret) < 32:
            raise ValueError(
                "livekit_api_secret must be at least 32 characters (PyJWT rejects shorter HS256 keys)"
            )
        if not api_key:
            raise ValueError("api_key must be a non-empty string")
        self.seed = seed
        self.api_key = api_key
        self.livekit_api_key = livekit_api_key
        self.livekit_api_secret = livekit_api_secret
        self.host = host
        self._ports = (cekura_port, livekit_port)
        self.catalogue = catalogue if isinstance(catalogue, Catalogue) else load_catalogue(catalogue)
        if (
            metric_format is not None
        ):  # every agent writes its binary metrics this way (catalogue.METRIC_FORMATS)
            self.catalogue = with_metric_format(self.catalogue, metric_format)
        self.clock = SimClock(speed, start_time)
        self.livekit = LiveKitState(self.clock.now)
        self.recorder = Recorder()
        self.store = CekuraStore(
            catalogue=self.catalogue,
            clock=self.clock,
            livekit=self.livekit,
            seed=seed,
            livekit_api_key=livekit_api_key,
            livekit_api_secret=livekit_api_secret,
            agent_join_timeout=agent_join_timeout,
            parallel_calls=parallel_calls,
            ignore_v1_name=ignore_v1_name,
            first_result_id=first_result_id,
            first_run_id=first_run_id,
        )
        #: Outbound `result.completed` webhooks (off until configured; see `cekura_sandbox.webhooks`).
        self.webhooks = WebhookSender(self.store)
        self._cekura = CekuraApi(self.store, self.recorder, self.livekit, {api_key})
        self._twirp = LiveKitTwirp(self.livekit, livekit_api_key, livekit_api_secret)
        self._thread: threading.Thread | None = None
        self._servers: list[uvicorn.Server] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.cekura_port = 0
        self.livekit_port = 0

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._thread is not None:
            return self
        sockets = [_bind(self.host, self._ports[0]), _bind(self.host, self._ports[1])]
        self.cekura_port = sockets[0].getsockname()[1]
        self.livekit_port = sockets[1].getsockname()[1]
        self.store.livekit_hosts = {f"{self.host}:{self.livekit_port}", f"localhost:{self.livekit_port}"}
        apps = [
            RecordingMiddleware(self._cekura.app(), "cekura", self.recorder),
            RecordingMiddleware(self._twirp.app(), "livekit", self.recorder),
        ]
        self._servers = [
            uvicorn.Server(
                uvicorn.Config(
                    app,
                    log_level="critical",
                    access_log=False,
                    lifespan="off",
                    timeout_keep_alive=30,
                    backlog=2048,
                )
            )
            for app in apps
        ]
        self._thread = threading.Thread(target=self._run, args=(sockets,), name="cekura-sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            self.stop()
            raise RuntimeError(f"sandbox servers did not start: {self._error!r}")
        return self

    def _run(self, sockets: list[socket.socket]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(sockets))
        except BaseException as exc:  # reported to start() / logged by the CLI
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self, sockets: list[socket.socket]) -> None:
        tasks = [
            asyncio.create_task(srv.serve(sockets=[sock]))
            for srv, sock in zip(self._servers, sockets, strict=True)
        ]
        ticker = asyncio.create_task(self._tick())
        while not all(s.started for s in self._servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.01)
        self._ready.set()
        await asyncio.gather(*tasks)
        ticker.cancel()

    async def _tick(self) -> None:
        """Resolve bring-your-own calls close to their simulated start, even when nobody polls."""
        while True:
            self.store.tick()
            self.webhooks.scan()
            await asyncio.sleep(TICK_SECONDS)

    def stop(self) -> None:
        for srv in self._servers:
            srv.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- addresses and credentials --------------------------------------------------------------
    @property
    def cekura_url(self) -> str:
        return f"http://{self.host}:{self.cekura_port}"

    @property
    def livekit_url(self) -> str:
        return f"http://{self.host}:{self.livekit_port}"

    @property
    def livekit_ws_url(self) -> str:
        return f"ws://{self.host}:{self.livekit_port}"

    def connection_env(self) -> dict[str, str]:
        """Ready-to-use `AIRFLOW_CONN_*` values (sandbox-only dev credentials)."""
        return {
            "AIRFLOW_CONN_CEKURA_DEFAULT": json.dumps(
                {"conn_type": "cekura", "host": self.cekura_url, "password": self.api_key}
            ),
            "AIRFLOW_CONN_LIVEKIT_DEFAULT": json.dumps(
                {
                    "conn_type": "livekit",
                    "host": self.livekit_url,
                    "login": self.livekit_api_key,
                    "password": self.livekit_api_secret,
                }
            ),
        }

    # ---- test controls --------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        return self.recorder.snapshot()

    def count(self, method: str | None = None, path_contains: str = "", server: str | None = None) -> int:
        return sum(
            1
            for r in self.recorder.snapshot()
            if (method is None or r.method == method.upper())
            and path_contains in r.path
            and (server is None or r.server == server)
        )

    def clear_requests(self) -> None:
        self.recorder.clear()

    def inject_fault(
        self,
        path_contains: str = "",
        kind: str = "500",
        times: int = 1,
        retry_after: int = 1,
        delay: float = 2.0,
        method: str | None = None,
        server: str | None = None,
        status_value: str = "provisioning",
    ) -> Fault:
        """Arm a fault for the next `times` requests whose path contains `path_contains`."""
        fault = Fault(kind, path_contains, times, retry_after, delay, method, server, status_value)
        self.recorder.add_fault(fault)
        return fault

    def clear_faults(self) -> None:
        self.recorder.clear_faults()

    def create_result(
        self,
        origin: str,
        agent: int,
        scenarios: list[int],
        *,
        name: str | None = None,
        at: datetime | None = None,
        frequency: int = 1,
    ) -> dict[str, Any]:
        """A result no Airflow task submitted (`origins.create_result`): cron, ci, dashboard or api."""
        from cekura_sandbox.origins import create_result

        return create_result(
            self.store,
            origin=origin,
            agent_id=agent,
            scenario_ids=list(scenarios),
            name=name,
            at=at,
            frequency=frequency,
        )

    def add_cron_job(
        self, agent: int, scenarios: list[int], every_minutes: float = 60.0, start: datetime | None = None
    ) -> None:
        """A Cekura cron job: from `start` (default now) on, one result every `every_minutes` simulated."""
        from cekura_sandbox.origins import CronJob

        job = CronJob(agent, list(scenarios), every_minutes, start or self.clock.now())
        with self.store.lock:
            self.store.cron_jobs.append(job)

    def set_time(self, now: datetime) -> None:
        self.clock.set(now)

    def now(self) -> datetime:
        return self.clock.now()

    def set_agent_version(self, agent_id: int, version: str | None) -> None:
        """Deploy another agent version: results submitted from now on report it."""
        self.store.set_agent_version(agent_id, version)

    def set_credits(self, initial_balance: float | None) -> None:
        """The organisation's credit pack (`billing/info`); None: no billing record (404)."""
        with self.store.lock:
            self.store.billing.initial_balance = initial_balance

    def credits_remaining(self) -> float | None:
        """What `billing/info` reports as remaining, as a number (None without a billing record)."""
        balance = self.store.billing.initial_balance
        return None if balance is None else balance - self.store.credits_used()

    @property
    def livekit_rooms(self) -> dict[str, dict[str, Any]]:
        with self.livekit.lock:
            self.livekit.expire()
            return {name: room.as_dict() for name, room in self.livekit.rooms.items()}

    @property
    def livekit_dispatches(self) -> list[dict[str, Any]]:
        with self.livekit.lock:
            return [d.as_dict() for d in self.livekit.dispatches]

    @property
    def livekit_deleted_rooms(self) -> list[str]:
        with self.livekit.lock:
            return list(self.livekit.deleted_rooms)

    @property
    def livekit_closed_rooms(self) -> list[tuple[str, str]]:
        """Rooms the LiveKit stand-in closed by itself: (name, "empty_timeout" | "departure_timeout")."""
        with self.livekit.lock:
            self.livekit.expire()
            return list(self.livekit.closed_rooms)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(
            f"cannot listen on {host}:{port} ({exc}); pick another port or 0 for a free one"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
