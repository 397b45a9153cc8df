"""A TCP proxy that adds a fixed delay to every request, for benchmarks that must not only run on localhost.

Why: against the sandbox on loopback a request costs ~0.5 ms, so a bounded-concurrency phase looks free; a real
LiveKit or Cekura endpoint is 10–50 ms away, and a phase of N requests at concurrency c then costs at least
N × RTT / c. The proxy holds each client→server chunk `delay_s` before forwarding it (HTTP/1.1 sends one request
per connection at a time, so each request pays the delay once); answers flow back at once.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

_HOST_PORT = re.compile(r"http://127\.0\.0\.1:(\d+)")


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    try:
        while chunk := await reader.read(65536):
            if delay_s:
                await asyncio.sleep(delay_s)
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


class DelayProxy:
    """Listens on a free loopback port per upstream port; runs its own event loop in a thread (of the proxy's
    own process: `delayed`)."""

    def __init__(self, upstream_ports: list[int], delay_s: float) -> None:
        self.delay_s = delay_s
        self.ports: dict[int, int] = {}
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        for port in upstream_ports:
            server = asyncio.run_coroutine_threadsafe(self._listen(port), self._loop).result(10)
            self._servers.append(server)
            self.ports[port] = server.sockets[0].getsockname()[1]

    async def _listen(self, upstream: int) -> asyncio.base_events.Server:
        async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
            try:
                server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)
                await asyncio.gather(_pump(client_r, server_w, self.delay_s), _pump(server_r, client_w, 0.0))
            except (ConnectionError, asyncio.CancelledError):  # shut down with connections open: expected
                client_w.close()

        return await asyncio.start_server(handle, "127.0.0.1", 0)

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def _swap(value: str, ports: dict[int, int]) -> str:
    """`value` with every `http://127.0.0.1:<port>` pointed at the proxy's port for it."""
    return _HOST_PORT.sub(lambda m: f"http://127.0.0.1:{ports[int(m.group(1))]}", value)


def upstream_ports(env: dict[str, str]) -> list[int]:
    """The loopback ports the connections in `env` talk to (JSON connection values)."""
    ports = {int(p) for value in env.values() for p in _HOST_PORT.findall(value)}
    return sorted(ports)


def _proxy_main(conn: Connection, ports: list[int], delay_s: float) -> None:
    proxy = DelayProxy(ports, delay_s)
    conn.send(proxy.ports)
    conn.recv()  # until told to stop
    proxy.close()
    conn.send("stopped")


@contextmanager
def delayed(env: dict[str, str], delay_s: float) -> Iterator[dict[str, str]]:
    """A proxy adding `delay_s` to every request of the connections in `env`; yields the env to use.

    The proxy runs in its own process: in the client's process its forwarding would take the client's CPU
    (and its GIL), and the benchmark would time the proxy, not the client.
    """
    parent, child = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(
        target=_proxy_main, args=(child, upstream_ports(env), delay_s), daemon=True
    )
    proc.start()
    ports: dict[int, int] = parent.recv()
    try:
        yield {key: _swap(value, ports) for key, value in env.items()}
    finally:
        parent.send("stop")
        parent.recv()
        proc.join(10)
