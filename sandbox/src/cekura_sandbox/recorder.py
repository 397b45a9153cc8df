"""Request log and fault injection shared by both stand-ins, as one ASGI middleware.

Tests count calls ("exactly one submit POST") from the log and script failures (429 with Retry-After,
5xx bursts, slow or dropped responses, broken JSON, unknown statuses) on the next N matching requests.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_KINDS = frozenset(
    {"429", "500", "502", "503", "504", "slow", "drop", "drop_before", "malformed", "unknown_status"}
)
CONTROL_PREFIX = "/_sandbox"


@dataclass(frozen=True)
class RecordedRequest:
    server: str
    method: str
    path: str
    query: str
    status: int  # 0 = the connection was dropped without a complete response
    at: float = field(default_factory=time.time)


@dataclass
class Fault:
    kind: str
    path_contains: str = ""
    times: int = 1
    retry_after: int = 1
    delay: float = 2.0
    method: str | None = None
    server: str | None = None
    status_value: str = "provisioning"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind={self.kind!r} is not one of {sorted(FAULT_KINDS)}")
        if self.times < 1:
            raise ValueError(f"fault times={self.times!r} must be >= 1")
        if self.method is not None:
            self.method = self.method.upper()

    def matches(self, server: str, method: str, path: str) -> bool:
        return (
            self.path_contains in path
            and (self.method is None or self.method == method)
            and (self.server is None or self.server == server)
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Recorder:
    """Thread-safe request log and fault queue (the tests' thread and the servers' loop both use it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []

    def record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def take_fault(self, server: str, method: str, path: str) -> Fault | None:
        """The first armed fault matching this request, with one use consumed."""
        with self._lock:
            for fault in self.faults:
                if fault.matches(server, method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
            return None


class RecordingMiddleware:
    """Records every non-control request and applies the armed faults, in the server's own error dialect."""

    def __init__(self, app: ASGIApp, server: str, recorder: Recorder) -> None:
        self.app = app
        self.server = server
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        fault = self.recorder.take_fault(self.server, method, path)
        status = 0
        started: int | None = None
        recorded = False

        def record(code: int) -> None:
            nonlocal recorded
            recorded = True
            self.recorder.record(RecordedRequest(self.server, method, path, query, code))

        async def recording_send(message: Message) -> None:
            # Log the request *before* its last byte leaves: a client that has its answer must find the
            # request in the log (recording afterwards made "exactly N calls" assertions racy).
            nonlocal started
            if message["type"] == "http.response.start":
                started = int(message["status"])
                if (b"content-length", b"0") in [(k.lower(), v) for k, v in message.get("headers", [])]:
                    # No body (end_calls): the client has its complete answer with the headers.
                    record(started)
            elif message["type"] == "http.response.body" and not message.get("more_body") and not recorded:
                record(started or 0)
            await send(message)

        try:
            status = await self._serve(scope, receive, recording_send, fault)
        finally:
            if not recorded:  # dropped or failed before a complete response: logged before the close
                record(status)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, fault: Fault | None) -> int:
        if fault is None:
            return await _passthrough(self.app, scope, receive, send)
        kind = fault.kind
        if kind == "slow":
            await asyncio.sleep(fault.delay)
            return await _passthrough(self.app, scope, receive, send)
        if kind == "drop_before":
            return 0  # returning without a response makes uvicorn close the connection
        if kind in {"429", "500", "502", "503", "504"}:
            status = int(kind)
            body, ctype = self._error_body(status, fault)
            headers = [(b"content-type", ctype)]
            if status == 429:
                headers.append((b"retry-after", str(fault.retry_after).encode()))
            await _send_whole(send, status, headers, body)
            return status
        # The remaining kinds run the real handler (so a submit does create its result) and spoil the reply.
        status, headers, body = await _capture(self.app, scope, receive)
        if kind == "drop":
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": _with_length(headers, len(body) + 64),
                }
            )
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            return 0
        if kind == "malformed":
            broken = body[: max(len(body) // 2, 1)] if body else b'{"id": '
            if broken.rstrip().endswith((b"}", b"]")):
                broken = broken.rstrip()[:-1]
            await _send_whole(send, status, _with_length(headers, len(broken)), broken)
            return status
        # unknown_status
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if payload is not None:
            payload = _replace_statuses(payload, fault.status_value)
            body = json.dumps(payload).encode()
        await _send_whole(send, status, _with_length(headers, len(body)), body)
        return status

    def _error_body(self, status: int, fault: Fault) -> tuple[bytes, bytes]:
        if self.server == "livekit":
            code = {429: "resource_exhausted", 503: "unavailable"}.get(status, "internal")
            return json.dumps(
                {"code": code, "msg": f"sandbox injected {status}"}
            ).encode(), b"application/json"
        if status == 429:
            detail = f"Request was throttled. Expected available in {fault.retry_after} seconds."
            return json.dumps({"detail": detail}).encode(), b"application/json"
        return f"<h1>Server Error ({status})</h1>".encode(), b"text/html"


def _replace_statuses(payload: Any, value: str) -> Any:
    """Swap the status of a result and of every run inside it (or of each item of a list)."""
    if isinstance(payload, list):
        return [_replace_statuses(p, value) for p in payload]
    if isinstance(payload, dict):
        out = dict(payload)
        if "status" in out:
            out["status"] = value
        for key in ("runs", "results"):
            runs = out.get(key)
            if isinstance(runs, list):
                out[key] = [_replace_statuses(r, value) for r in runs]
            elif isinstance(runs, dict):
                out[key] = {k: _replace_statuses(r, value) for k, r in runs.items()}
        return out
    return payload


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k.lower() != b"content-length"] + [
        (b"content-length", str(length).encode())
    ]


async def _send_whole(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _with_length(headers, len(body))})
    await send({"type": "http.response.body", "body": body})


async def _passthrough(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> int:
    status = 0

    async def watch(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        await send(message)

    await app(scope, receive, watch)
    return status


async def _capture(
    app: ASGIApp, scope: Scope, receive: Receive
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status, headers, chunks = 500, [], []

    async def keep(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = int(message["status"]), list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return status, headers, b"".join(chunks)
