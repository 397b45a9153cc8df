"""CekuraHook: the one client of the Cekura API, sync for workers and async for triggers.

Reads are retried (408, 429, 5xx, transport errors) with backoff and `Retry-After`; submits never are,
because a lost response may already have created a batch (see ../shared/cekura-api.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import math
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import httpx
from airflow.sdk import BaseHook

from cekura_livekit import USER_AGENT
from cekura_livekit.hooks.errors import (
    CekuraAuthError,
    CekuraConnectionError,
    CekuraError,
    CekuraNotFoundError,
    CekuraRateLimitError,
    CekuraServerError,
    CekuraSubmitUncertainError,
    CekuraTransportError,
    CekuraValidationError,
    Redactor,
    refusal_for,
)
from cekura_livekit.hooks.livekit import redact_tokens
from cekura_livekit.hooks.retry import RetryPolicy, parse_retry_after
from cekura_livekit.models import NON_TERMINAL_STATUSES, RunStatus, SubmissionMode

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.cekura.ai"
DEFAULT_DASHBOARD_URL = "https://dashboard.cekura.ai"
DEFAULT_TIMEOUT = 30.0
MAX_CHUNK_SIZE = 100

#: Every path the client calls, in one place. Reads use the v2 family: the spec marks the v1 GETs of result
#: detail, results list, runs list and runs/bulk deprecated and names these as their replacements (same
#: parameters: `run_ids` for bulk, `result_id`/`status__in`/`page`/`page_size` for runs, `search`/`agent_id`
#: for results; same shapes: ResultDetailV2, PaginatedResultList, PaginatedRunListList, a bare Run array).
#: Submits, end_calls/end_call and the shareable link stay v1: the spec documents the LiveKit submits only
#: there and does not deprecate the others.
API_PATHS: dict[str, str] = {
    "submit_byo_rooms": "/test_framework/v1/scenarios-external/run_scenarios_livekit/",
    "submit_managed": "/test_framework/v1/scenarios-external/run_scenarios_livekit_v2/",
    "submit_chat": "/test_framework/v1/scenarios-external/run_scenarios_livekit_chat/",
    "result": "/test_framework/v2/results/{result_id}/",
    "results": "/test_framework/v2/results/",
    "runs": "/test_framework/v2/runs/",
    "runs_bulk": "/test_framework/v2/runs/bulk/",
    "end_calls": "/test_framework/v1/results/{result_id}/end_calls/",
    "end_call": "/test_framework/v1/runs/{run_id}/end_call/",
    "agent": "/test_framework/v2/aiagents/{agent_id}/",
    "shareable_link": "/test_framework/v1/results/{result_id}/create_shareable_link_token/",
    # v1 only in the spec ("Rerun Results"): no body; answers the Result object.
    "rerun": "/test_framework/v1/results/{result_id}/rerun/",
    # Cekura's "Get billing information" (organization): not versioned like the rest.
    "billing_info": "/test_framework/billing/info/",
}


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """The process's one TLS context: building it (loading the CA bundle) costs ~35 ms, so once is enough.

    Every client (sync or async, every hook, every sensor poke and trigger start) passes it as `verify=`.
    """
    return httpx.create_ssl_context()


#: The shared pool's size: enough for hundreds of waiting triggers polling at once on one loop.
SHARED_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=50)
#: Requests in flight on one shared client. Why a gate below the pool size: requests queued *inside*
#: httpcore's async pool cost CPU per queued request on every connection hand-over (500 waiting triggers:
#: ~20 ms CPU a poll, falling 5× behind schedule); queued on a semaphore they cost nothing (~4 ms a poll).
SHARED_IN_FLIGHT = 50
DEFAULT_LIMITS = httpx.Limits()


class _SharedAsyncClients:
    """One `AsyncClient` per (event loop, base URL, timeout), reference counted.

    Why: a triggerer runs hundreds of triggers on one loop; a client each would hold hundreds of pools and
    SSL states (~1 MB each). Clients carry no credentials (the API key goes with each request), so
    triggers of different connections to the same API share one pool. A client is closed when its last
    user leaves, and per loop, because an `AsyncClient` must not cross event loops.
    """

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, float], tuple[httpx.AsyncClient, int]]
        ] = weakref.WeakKeyDictionary()
        self._gates: weakref.WeakKeyDictionary[httpx.AsyncClient, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self.created = 0  # how many clients were ever built (tests and benchmarks read it)

    def acquire(self, base_url: str, timeout: float) -> httpx.AsyncClient:
        clients = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        key = (base_url, timeout)
        client, users = clients.get(key) or (None, 0)
        if client is None or client.is_closed:
            client, users = _new_async_client(base_url, timeout, None, None, SHARED_LIMITS), 0
            self.created += 1
        clients[key] = (client, users + 1)
        return client

    def gate(self, client: httpx.AsyncClient) -> asyncio.Semaphore:
        """The semaphore bounding requests in flight on a shared client (see SHARED_IN_FLIGHT)."""
        gate = self._gates.get(client)
        if gate is None:
            gate = self._gates[client] = asyncio.Semaphore(SHARED_IN_FLIGHT)
        return gate

    async def release(self, client: httpx.AsyncClient) -> None:
        clients = self._by_loop.get(asyncio.get_running_loop(), {})
        for key, (held, users) in list(clients.items()):
            if held is client:
                if users > 1:
                    clients[key] = (held, users - 1)
                    return
                del clients[key]
                break
        await client.aclose()

    def users(self) -> int:
        """Hooks currently holding a shared client on the running loop."""
        return sum(n for _, n in self._by_loop.get(asyncio.get_running_loop(), {}).values())


def _new_async_client(
    base_url: str,
    timeout: float,
    headers: Mapping[str, str] | None,
    transport: httpx.AsyncBaseTransport | None,
    limits: httpx.Limits = DEFAULT_LIMITS,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        transport=transport,
        verify=ssl_context(),
        limits=limits,
    )


shared_async_clients = _SharedAsyncClients()


def _mask(forms: Sequence[str]) -> None:
    """Register every printable form of the key with Airflow's secrets masker (task logs, XCom, UI)."""
    try:
        from airflow.sdk.log import mask_secret

        for form in forms:
            mask_secret(form)
    except Exception:  # masking is best-effort outside a task (e.g. plain scripts)
        log.debug("secret masker unavailable")


@dataclass(frozen=True)
class _Settings:
    """What the hook needs from the Airflow connection, resolved once."""

    base_url: str
    api_key: str
    timeout: float
    chunk_size: int
    dashboard_url: str
    #: A hint appended to transport errors (e.g. the scheme we assumed for a host written without one).
    note: str = ""
    #: Hides every printable form of the API key (see `errors.secret_forms`) in errors and logs.
    redact: Redactor = field(default_factory=Redactor)


@dataclass(frozen=True)
class _Call:
    """One API request, described once so the sync and async paths share everything but the I/O."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    body: Any = None
    idempotent: bool = True

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"


def created_at_of(result: Mapping[str, Any]) -> datetime | None:
    """A result's `created_at` as an aware datetime (Cekura writes ISO 8601 with `Z`); None if unreadable."""
    raw = result.get("created_at")
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _int_id(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise ValueError(f"{field}={value!r} is not a valid id: pass a positive integer (e.g. {field}=123)")
    return int(value)


class CekuraHook(BaseHook):
    """Talks to the Cekura API with the key and base URL of an Airflow connection.

    Connection: password = API key, host = API base URL (default https://api.cekura.ai),
    extra = {"timeout": seconds, "chunk_size": run ids per bulk call (≤ 100), "dashboard_url": …}.
    Use `async with CekuraHook(...) as hook:` in triggers so one connection pool serves the whole wait.
    """

    conn_name_attr = "cekura_conn_id"
    default_conn_name = "cekura_default"
    conn_type = "cekura"
    hook_name = "Cekura"
    paths: ClassVar[dict[str, str]] = API_PATHS

    def __init__(
        self,
        cekura_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_limit: int = 5,
        retry_delay: float = 1.0,
        retry_max_delay: float = 30.0,
        max_retry_after: float = 300.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.cekura_conn_id = cekura_conn_id
        self.timeout_override = timeout
        self.retry_policy = RetryPolicy(
            limit=retry_limit,
            base_delay=retry_delay,
            max_delay=retry_max_delay,
            max_retry_after=max_retry_after,
        )
        self._transport = transport
        self._async_transport = async_transport
        self._sleep = sleep
        self._settings: _Settings | None = None
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._shared = False

    # ------------------------------------------------------------------ connection
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the generic form so it explains itself (also declared in get_provider_info)."""
        return {
            "hidden_fields": ["schema", "port", "login"],
            "relabeling": {"host": "Cekura API base URL", "password": "Cekura API key"},
            "placeholders": {
                "host": DEFAULT_BASE_URL,
                "password": "X-CEKURA-API-KEY value from the Cekura dashboard",
                "extra": '{"timeout": 30, "chunk_size": 100, "dashboard_url": "https://dashboard.cekura.ai"}',
            },
        }

    def _settings_from(self, conn: Any) -> _Settings:
        extra = self._extra(conn)
        host = (conn.host or "").strip()
        note = ""
        if host and "://" not in host:
            host = f"{conn.schema or 'https'}://{host}"
            note = (
                f" Connection {self.cekura_conn_id!r} has a host without a scheme, so {host.split('://')[0]}:// "
                "was assumed: write the full URL (https://… , or http://… for a plain-HTTP server)."
            )
        if host and conn.port and f":{conn.port}" not in host.split("://", 1)[1]:
            host = f"{host}:{conn.port}"
        if "@" in host.split("://", 1)[-1].split("/", 1)[0]:  # user:secret@host: a credential in plain sight
            raise CekuraConnectionError(
                f"Connection {self.cekura_conn_id!r}: the host holds credentials (user:…@host), which would be "
                "logged with every request URL. Put only the API base URL in the host (e.g. "
                f"{DEFAULT_BASE_URL}) and the API key in the password field."
            )
        raw_key = conn.password or extra.get("api_key") or ""
        redact = Redactor.of(str(raw_key))
        api_key = self._normalised_key(str(raw_key))
        timeout = float(self.timeout_override or self._number(extra, "timeout", DEFAULT_TIMEOUT))
        chunk_size = int(self._number(extra, "chunk_size", MAX_CHUNK_SIZE))
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(
                f"Connection {self.cekura_conn_id!r}: extra chunk_size={chunk_size} must be between 1 and "
                f"{MAX_CHUNK_SIZE} (the bulk runs endpoint takes at most {MAX_CHUNK_SIZE} ids a call)."
            )
        _mask(redact.forms)
        return _Settings(
            base_url=(host or DEFAULT_BASE_URL).rstrip("/"),
            api_key=api_key,
            timeout=timeout,
            chunk_size=chunk_size,
            dashboard_url=self._dashboard_base(extra.get("dashboard_url")),
            note=note,
            redact=redact,
        )

    def _normalised_key(self, raw: str) -> str:
        """The key as an HTTP header can carry it: surrounding whitespace (a trailing newline from a secrets
        file) stripped; anything else that is not visible ASCII refused at once, naming where, never what."""
        key = raw.strip()
        if not key:
            raise CekuraConnectionError(
                f"Connection {self.cekura_conn_id!r} has no API key: put the Cekura API key in its password field."
            )
        bad = next((i for i, c in enumerate(key) if not "!" <= c <= "~"), None)
        if bad is not None:
            raise CekuraConnectionError(
                f"Connection {self.cekura_conn_id!r}: the API key in its password field has a character that "
                f"an HTTP header cannot carry (a control character, space or non-ASCII character) at position "
                f"{bad + 1} of {len(key)}. Paste the key again as one line, exactly as the Cekura dashboard "
                "shows it."
            )
        return key

    def _dashboard_base(self, raw: object) -> str:
        """The `dashboard_url` extra, which becomes the task's link: only an http(s) URL with a host."""
        if raw is None or raw == "":
            return DEFAULT_DASHBOARD_URL
        text = raw.strip() if isinstance(raw, str) else ""
        try:
            parts = urlsplit(text)
            ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        except ValueError:  # e.g. an unbalanced IPv6 bracket
            ok = False
        # Printable ASCII only, and none of the characters that end an HTML attribute or tag: it is a link.
        unsafe = any(not "!" <= c <= "~" or c in "\"'<>`\\" for c in text)
        if not ok or parts.query or parts.fragment or parts.username or unsafe:
            raise CekuraConnectionError(
                f"Connection {self.cekura_conn_id!r}: extra dashboard_url={raw!r:.80} is not an http(s) URL "
                "with a host (it becomes the task's link, so nothing else is accepted). Write the dashboard's "
                f'address, e.g. "dashboard_url": "{DEFAULT_DASHBOARD_URL}", or remove the key for that default.'
            )
        return text.rstrip("/")

    def _extra(self, conn: Any) -> dict[str, Any]:
        """The connection's extra as a dict; text that is not a JSON object is refused, not silently ignored."""
        raw = conn.extra
        if not raw:
            return {}
        try:
            extra = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            # The text itself is not shown: it may hold an `api_key`.
            raise CekuraConnectionError(
                f"Connection {self.cekura_conn_id!r}: extra is not valid JSON ({getattr(exc, 'msg', 'unreadable')} "
                f"at character {getattr(exc, 'pos', '?')}); write e.g. "
                '{"timeout": 30, "chunk_size": 100}.'
            ) from None
        if not isinstance(extra, Mapping):
            raise CekuraConnectionError(
                f"Connection {self.cekura_conn_id!r}: extra must be a JSON object, got a "
                f"{type(extra).__name__}."
            )
        return dict(extra)

    def _number(self, extra: Mapping[str, Any], key: str, default: float) -> float:
        value = extra.get(key)
        if value in (None, ""):
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not number > 0 or not math.isfinite(number):
            raise ValueError(
                f"Connection {self.cekura_conn_id!r}: extra {key}={value!r} must be a positive, finite number "
                f"(e.g. {default:g})."
            )
        return number

    @property
    def settings(self) -> _Settings:
        if self._settings is None:
            self._settings = self._settings_from(self.get_connection(self.cekura_conn_id))
        return self._settings

    def _headers(self, settings: _Settings) -> dict[str, str]:
        return {
            "X-CEKURA-API-KEY": settings.api_key,
            "Accept": "application/json",
            "User-Agent": f"{USER_AGENT} httpx/{httpx.__version__}",
        }

    def get_conn(self) -> httpx.Client:
        """The sync client, created on first use and reused (one pool per hook)."""
        if self._client is None:
            s = self.settings
            self._client = httpx.Client(
                base_url=s.base_url,
                headers=self._headers(s),
                timeout=s.timeout,
                transport=self._transport,
                verify=ssl_context(),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def __aenter__(self) -> Self:
        if self._settings is None:
            self._settings = self._settings_from(await BaseHook.aget_connection(self.cekura_conn_id))
        s = self._settings
        if self._async_transport is None:  # the common case: the loop's shared pool for this API
            self._aclient = shared_async_clients.acquire(s.base_url, s.timeout)
            self._shared = True
        else:  # an injected transport (tests) gets a client of its own
            self._aclient = _new_async_client(s.base_url, s.timeout, None, self._async_transport)
            self._shared = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._aclient = self._aclient, None
        if client is None:
            return
        if self._shared:
            await shared_async_clients.release(client)
        else:
            await client.aclose()

    @asynccontextmanager
    async def _async_client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The pool of `async with hook:`, or a short-lived one for a single call outside it."""
        if self._aclient is not None:
            yield self._aclient
            return
        async with self:
            assert self._aclient is not None
            yield self._aclient

    # ------------------------------------------------------------------ request core
    def _redact(self, text: str) -> str:
        """No API key in any printed form and no join token (a 4xx may echo the submitted payload): the one
        redaction step of every error message and log line the hook writes."""
        redact = self._settings.redact if self._settings else Redactor()
        return redact_tokens(redact(text))

    def _error_for(self, call: _Call, response: httpx.Response) -> CekuraError:
        status = response.status_code
        body = self._redact(response.text[:500])
        try:
            payload: Any = response.json()
        except ValueError:
            payload = None
        prefix = f"Cekura {call.endpoint} returned {status} {response.reason_phrase}"
        refusal = refusal_for(
            status, payload, endpoint=call.endpoint, conn_id=self.cekura_conn_id, prefix=self._redact(prefix)
        )
        if refusal is not None:  # documented account refusals (balance, project scope, agent setup)
            return refusal
        if status in (401, 403):
            return CekuraAuthError(
                f"{prefix}: the API key of connection {self.cekura_conn_id!r} was rejected; "
                "check the connection's password.",
                endpoint=call.endpoint,
                status_code=status,
            )
        if status == 404:
            return CekuraNotFoundError(f"{prefix}: {body}", endpoint=call.endpoint, status_code=status)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            wait = f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""
            return CekuraRateLimitError(
                f"{prefix}{wait}", endpoint=call.endpoint, status_code=status, retry_after=retry_after
            )
        if status == 408 or status >= 500:
            return CekuraServerError(f"{prefix}: {body}", endpoint=call.endpoint, status_code=status)
        field_errors: dict[str, list[str]] = {}
        if isinstance(payload, Mapping):
            field_errors = {
                str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in payload.items()
            }
        elif isinstance(payload, list):
            field_errors = {"non_field_errors": [str(m) for m in payload]}
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in field_errors.items()) or body
        return CekuraValidationError(
            f"{prefix}: {self._redact(details)}",
            endpoint=call.endpoint,
            status_code=status,
            field_errors=field_errors,
        )

    def _decode(self, call: _Call, response: httpx.Response) -> Any:
        if not response.is_success:
            raise self._error_for(call, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CekuraTransportError(
                f"Cekura {call.endpoint} returned {response.status_code} with a body that is not JSON: "
                f"{self._redact(response.text[:200])!r}",
                endpoint=call.endpoint,
                status_code=response.status_code,
            ) from None

    def _transport_error(self, call: _Call, exc: httpx.HTTPError) -> CekuraError:
        reason = self._redact(f"{type(exc).__name__}: {exc}")
        if self._settings is not None:
            reason = f"{reason} (connection {self.cekura_conn_id!r}, {self._settings.base_url}).{self._settings.note}"
        if not call.idempotent:
            return CekuraSubmitUncertainError(
                f"Cekura {call.endpoint} got no answer ({reason}); the batch may or may not exist. "
                "It was not resubmitted: look it up by its name before trying again.",
                endpoint=call.endpoint,
            )
        return CekuraTransportError(f"Cekura {call.endpoint} failed: {reason}", endpoint=call.endpoint)

    def _next_wait(self, call: _Call, error: CekuraError, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None to give up and raise."""
        if not call.idempotent or not self.retry_policy.should_retry(error, attempt):
            return None
        wait = self.retry_policy.delay(error, attempt)
        log.warning(
            "%s; retrying in %.1f s (attempt %d of %d).",
            error,
            wait,
            attempt + 1,
            self.retry_policy.limit + 1,
        )
        return wait

    def _settle(
        self, call: _Call, attempt: int, outcome: httpx.Response | httpx.HTTPError
    ) -> tuple[bool, Any]:
        """One attempt's outcome: (True, decoded body), or (False, seconds to wait before retrying).

        Raises the typed error when the call must not or may no longer be retried. Shared by the sync and
        async paths so both follow exactly the same policy.
        """
        try:
            if isinstance(outcome, httpx.HTTPError):
                raise self._transport_error(call, outcome)
            return True, self._decode(call, outcome)
        except CekuraError as error:
            wait = self._next_wait(call, error, attempt)
            if wait is None:
                raise
            return False, wait

    def _request(self, call: _Call) -> Any:
        client = self.get_conn()
        for attempt in itertools.count(1):
            try:
                outcome: httpx.Response | httpx.HTTPError = client.request(
                    call.method, call.path, params=call.params, json=call.body
                )
            except httpx.HTTPError as exc:
                outcome = exc
            done, value = self._settle(call, attempt, outcome)
            if done:
                return value
            self._sleep(value)
        raise AssertionError("unreachable")

    async def _arequest(self, call: _Call) -> Any:
        async with self._async_client() as client:
            assert self._settings is not None
            headers = self._headers(self._settings)  # per request: the pooled client is shared
            gate = shared_async_clients.gate(client) if self._shared else contextlib.nullcontext()
            for attempt in itertools.count(1):
                try:
                    async with gate:
                        outcome: httpx.Response | httpx.HTTPError = await client.request(
                            call.method, call.path, params=call.params, json=call.body, headers=headers
                        )
                except httpx.HTTPError as exc:
                    outcome = exc
                done, value = self._settle(call, attempt, outcome)
                if done:
                    return value
                await asyncio.sleep(value)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ calls, described once
    def _submit_call(self, kind: str, payload: Mapping[str, Any]) -> _Call:
        if not isinstance(payload, Mapping) or not payload.get("scenarios"):
            raise ValueError(f"{kind} payload needs a non-empty 'scenarios' list; got {payload!r:.200}")
        return _Call("POST", self.paths[kind], body=dict(payload), idempotent=False)

    def _result_call(self, result_id: object) -> _Call:
        return _Call("GET", self.paths["result"].format(result_id=_int_id(result_id, "result_id")))

    def _bulk_calls(self, run_ids: Sequence[object], size: int) -> list[_Call]:
        ids = [_int_id(r, "run_ids") for r in run_ids]
        return [
            _Call("GET", self.paths["runs_bulk"], params={"run_ids": ",".join(map(str, ids[i : i + size]))})
            for i in range(0, len(ids), size)
        ]

    def _end_calls_call(self, result_id: object) -> _Call:
        return _Call("POST", self.paths["end_calls"].format(result_id=_int_id(result_id, "result_id")))

    def _end_call_call(self, run_id: object) -> _Call:
        return _Call("POST", self.paths["end_call"].format(run_id=_int_id(run_id, "run_id")))

    # ------------------------------------------------------------------ sync API
    def submit(self, mode: SubmissionMode, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Submit a batch through the endpoint of `mode` (see `models.SUBMISSION_MODES`). Never retried."""
        return dict(self._request(self._submit_call(mode.submit_endpoint, payload)))

    def submit_managed(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Cekura-managed rooms (v2): Cekura creates the rooms and dispatches the agent. Never retried."""
        return dict(self._request(self._submit_call("submit_managed", payload)))

    def submit_byo_rooms(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Bring-your-own rooms (v1): one element per run with room URL + join token. Never retried."""
        return dict(self._request(self._submit_call("submit_byo_rooms", payload)))

    def submit_chat(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Text-mode runs in your own rooms. Never retried."""
        return dict(self._request(self._submit_call("submit_chat", payload)))

    def get_result(self, result_id: int) -> dict[str, Any]:
        """Result detail view: counters plus `runs` keyed by run id (as a string)."""
        return dict(self._request(self._result_call(result_id)))

    def get_runs_bulk(self, run_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Full run objects by id, ≤ chunk_size ids a call; unknown ids are simply absent."""
        runs: list[dict[str, Any]] = []
        for call in self._bulk_calls(run_ids, self.settings.chunk_size):
            runs.extend(self._request(call) or [])
        return runs

    def _paginate(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            data = self._request(_Call("GET", path, params={**params, "page": page}))
            if isinstance(data, list):  # an unpaginated answer: everything at once
                yield from data
                return
            yield from data.get("results") or []
            if not data.get("next"):
                return
            page += 1

    def iter_runs(
        self,
        *,
        result_id: int | None = None,
        status_in: Sequence[str] | None = None,
        page_size: int = 100,
        **filters: Any,
    ) -> Iterator[dict[str, Any]]:
        """Runs list with the contract's filters, following pagination."""
        params: dict[str, Any] = {"page_size": page_size, **filters}
        if result_id is not None:
            params["result_id"] = _int_id(result_id, "result_id")
        if status_in:
            params["status__in"] = ",".join(status_in)
        return self._paginate(self.paths["runs"], params)

    def iter_results(self, *, page_size: int = 100, **filters: Any) -> Iterator[dict[str, Any]]:
        """Results list (newest first), following pagination lazily: take what you need and stop."""
        return self._paginate(self.paths["results"], {"page_size": page_size, **filters})

    def find_results_by_name(self, name: str, *, agent_id: int | None = None) -> list[dict[str, Any]]:
        """Results whose name is exactly `name` (the search is a substring match, so filter again)."""
        if not name:
            raise ValueError("name must be a non-empty string to look a result up by name")
        params: dict[str, Any] = {"search": name, "page_size": 100}
        if agent_id is not None:
            params["agent_id"] = agent_id
        return [r for r in self._paginate(self.paths["results"], params) if r.get("name") == name]

    def end_calls(self, result_id: int) -> None:
        """End every call of a result; runs not yet finished end as `cancelled`. Safe to repeat."""
        self._request(self._end_calls_call(result_id))

    def end_call(self, run_id: int) -> None:
        """End one run's call. Safe to repeat."""
        self._request(self._end_call_call(run_id))

    def get_agent_project_id(self, agent_id: int) -> int | None:
        """The project an agent belongs to: needed for dashboard links."""
        agent = self._request(
            _Call("GET", self.paths["agent"].format(agent_id=_int_id(agent_id, "agent_id")))
        )
        project = (agent or {}).get("project")
        if isinstance(project, Mapping):
            project = project.get("id")
        return int(project) if project is not None and str(project).isdigit() else None

    def create_shareable_link(self, result_id: int) -> str | None:
        """A link to the result that works without a Cekura login."""
        call = _Call(
            "POST",
            self.paths["shareable_link"].format(result_id=_int_id(result_id, "result_id")),
            idempotent=True,
        )
        return (self._request(call) or {}).get("shareable_link")

    def dashboard_url(self, result_id: int, project_id: int | None) -> str:
        """The result's page in the Cekura dashboard (project-scoped when the project is known)."""
        base = self._settings.dashboard_url if self._settings else DEFAULT_DASHBOARD_URL
        return f"{base}/{project_id}/results/{result_id}" if project_id else f"{base}/results/{result_id}"

    # ------------------------------------------------------------------ sync and re-run (issue 19 items 2, 6)
    def iter_results_created(
        self,
        since: datetime | None,
        until: datetime | None = None,
        *,
        agent_id: int | None = None,
        project_id: int | None = None,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Results created in [since, until) (either end open when None), newest first, of one agent, one
        project, or every result the key can see.

        The results list has no time filter (spec: agent_id, project_id, search, scenarios) but is ordered
        newest first, so paging stops after the first page that reaches a result older than `since` (that
        page is read whole, in case of ties or small disorder): a sync of the last hour reads one page, not
        the whole history. A result without a readable
        `created_at` is yielded (a load that cannot be placed in time is better than one silently lost).
        """
        params: dict[str, Any] = {"page_size": page_size}
        if agent_id is not None:
            params["agent_id"] = _int_id(agent_id, "agent_id")
        if project_id is not None:
            params["project_id"] = _int_id(project_id, "project_id")
        page = 1
        while True:
            data = self._request(_Call("GET", self.paths["results"], params={**params, "page": page}))
            items = data if isinstance(data, list) else (data or {}).get("results") or []
            older = 0
            for result in items:
                created = created_at_of(result)
                if created is not None and since is not None and created < since:
                    older += 1
                    continue
                if created is not None and until is not None and created >= until:
                    continue
                yield result
            if isinstance(data, list) or not data.get("next") or older:
                return
            page += 1

    def _rerun_call(self, result_id: object) -> _Call:
        # Not idempotent: a lost answer may already have started the calls (and cost credits).
        path = self.paths["rerun"].format(result_id=_int_id(result_id, "result_id"))
        return _Call("POST", path, idempotent=False)

    def rerun_failed(self, result_id: int) -> dict[str, Any]:
        """Re-run the failed runs of a finished result (new run ids; the failed originals are kept). The
        answer is the Result; never retried (see `batch.rerun` for how a lost answer is resolved)."""
        return dict(self._request(self._rerun_call(result_id)) or {})

    async def arerun_failed(self, result_id: int) -> dict[str, Any]:
        """Async twin of `rerun_failed`."""
        return dict(await self._arequest(self._rerun_call(result_id)) or {})

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call: list one result."""
        try:
            self._request(_Call("GET", self.paths["results"], params={"page_size": 1}))
        except (CekuraError, ValueError) as exc:
            return False, str(exc)
        return True, f"Connected to Cekura at {self.settings.base_url}; the API key was accepted."

    # ------------------------------------------------------------------ billing (the cost guard, issue 19.4)
    def get_billing_info(self) -> dict[str, Any]:
        """The organisation's credits (`credits_remaining`, `credits_used`, `initial_balance`, decimal
        strings) and plan caps (`subscription_status.pack.max_concurrent_runs_limit`). A project-scoped
        API key gets 403 (CekuraAuthError) and an organisation without billing record 404."""
        return dict(self._request(_Call("GET", self.paths["billing_info"])) or {})

    async def aget_billing_info(self) -> dict[str, Any]:
        """`get_billing_info` for async callers."""
        return dict(await self._arequest(_Call("GET", self.paths["billing_info"])) or {})

    # ------------------------------------------------------------------ "is it finished?" (issue 26.4)
    def _unfinished_count_call(self, result_id: object) -> _Call:
        """The lightest answer to "is the batch finished?": a runs-list count of the result's runs that are
        not terminal, one item a page (~0.8 KB against ~24 KB for the detail view of a 20-run batch)."""
        statuses = ",".join(sorted(s.value for s in NON_TERMINAL_STATUSES if s is not RunStatus.UNKNOWN))
        params = {"result_id": _int_id(result_id, "result_id"), "status__in": statuses, "page_size": 1}
        return _Call("GET", self.paths["runs"], params=params)

    def count_unfinished_runs(self, result_id: int) -> int:
        """How many runs of the result are not terminal yet (0: fetch the detail once, it is finished)."""
        call = self._unfinished_count_call(result_id)
        return self._count_of(self._request(call), call.endpoint)

    async def acount_unfinished_runs(self, result_id: int) -> int:
        call = self._unfinished_count_call(result_id)
        return self._count_of(await self._arequest(call), call.endpoint)

    @staticmethod
    def _count_of(page: Any, endpoint: str) -> int:
        """`count` of a DRF page (a bare list counts its items); anything else is a contract change."""
        if isinstance(page, list):
            return len(page)
        if isinstance(page, Mapping) and isinstance(page.get("count"), int):
            return int(page["count"])
        raise CekuraError(f"The runs list answered without a count: {page!r:.200}", endpoint=endpoint)

    # ------------------------------------------------------------------ async API (triggers)
    async def aget_result(self, result_id: int) -> dict[str, Any]:
        return dict(await self._arequest(self._result_call(result_id)))

    async def aget_runs_bulk(self, run_ids: Sequence[int]) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        async with self._async_client():  # resolves the connection without blocking the loop
            assert self._settings is not None
            for call in self._bulk_calls(run_ids, self._settings.chunk_size):
                runs.extend(await self._arequest(call) or [])
        return runs

    async def aend_calls(self, result_id: int) -> None:
        await self._arequest(self._end_calls_call(result_id))

    async def aend_call(self, run_id: int) -> None:
        await self._arequest(self._end_call_call(run_id))
