"""LiveKitHook: rooms, join tokens and agent dispatches on a LiveKit server, for bring-your-own-room runs.

`livekit-api` is async only and its client must be built inside a running event loop, so every async
method opens one `LiveKitAPI` for its whole batch; the sync wrappers (for workers) go through `asyncio.run`.
Credentials are always passed explicitly: with none given, the client would prefer a stray
`LIVEKIT_TOKEN` environment variable over the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from airflow.sdk import BaseHook

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Room metadata is visible to every participant and capped by livekit-server's `limit.max_metadata_size`
#: (512 KiB by default, pkg/config/config.go); CreateRoom refuses more with `invalid_argument`.
MAX_ROOM_METADATA_BYTES = 512 * 1024
DEFAULT_REQUEST_TIMEOUT = 10.0
#: HTTP statuses of a LiveKit call worth another try (rate limit, server trouble); 401/404/… are final.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Attempts of one call (1 + retries) and the first backoff in seconds (doubled each time, with jitter).
CALL_ATTEMPTS = 4
RETRY_BASE_DELAY = 0.5


#: HTTP statuses with which LiveKit refuses the credentials themselves: no retry can cure them.
AUTH_STATUSES = frozenset({401, 403})
#: The room name of the credential probe (`check_credentials`): ListRooms of one name that never exists.
PROBE_ROOM = "cekura-credential-check"


class LiveKitError(Exception):
    """A LiveKit server call failed; the message names the call and the room, never a credential.

    `failed_rooms` lists every room whose call failed (for a batch of per-room calls), so a caller can
    remember what is left to clean up.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        failed_rooms: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.failed_rooms = tuple(failed_rooms)

    @property
    def permanent(self) -> bool:
        """Only a refused credential is permanent here; everything else may pass (see `transient`)."""
        return False


class LiveKitAgentUnavailableError(LiveKitError):
    """No worker took the agent's job: the name is served by no registered worker (a typo, a stopped or
    undeployed worker) or every worker of it is at capacity. livekit-server accepts such a dispatch and starts
    nothing, so every run would end `Main agent-did-not-answer`: fail before paying, never retried."""

    @property
    def permanent(self) -> bool:
        return True


class LiveKitAuthError(LiveKitError):
    """LiveKit refused the connection's API key/secret (401/403): a configuration error, never retried."""

    @property
    def permanent(self) -> bool:
        return True


def auth_error(conn_id: str, url: str, status: int | None, call: str) -> LiveKitAuthError:
    """The message of a refused credential: which connection, which server, what to fix; never the secret."""
    return LiveKitAuthError(
        f"LiveKit at {url} refused the API key/secret of connection {conn_id!r} (HTTP {status}) on {call}. "
        f"Fix the connection {conn_id!r}: login must hold the API key (it starts with 'API') and password "
        "the API secret of the same key pair of this LiveKit project (not swapped, not of another project; "
        "LiveKit Cloud: Settings → Keys). Nothing was created in LiveKit.",
        status=status,
        code="unauthenticated",
    )


#: How long a probe waits for a worker to take its job: livekit-server launches jobs asynchronously
#: (pkg/rtc/room.go `launchRoomAgents` in a goroutine), so a served name shows its job after a moment.
PROBE_WAIT_SECONDS = 10.0
PROBE_POLL_SECONDS = 0.25
#: Job metadata of the probe: the agent's entrypoint sees it (it may return at once on this key).
PROBE_METADATA = {"cekura_probe": True}
#: A served agent name is not probed again by this process for this long (dag.test() and a retry in the same
#: process run several own-room tasks back to back; a real outage in between still fails the runs visibly).
PROBE_MEMORY_SECONDS = 120.0
_served_until: dict[tuple[str, str, str], float] = {}


@dataclass(frozen=True)
class LiveKitCredentials:
    """Server URL and API key pair of a `livekit` connection. The secret never appears in repr.

    `agent_slots`: how many agent jobs the agent's workers run at once (connection extra `agent_slots`;
    LiveKit Cloud's entry tier: 5 concurrent sessions). None: not limited, every room gets its agent at submit.
    """

    url: str
    api_key: str
    api_secret: str = field(repr=False)
    agent_slots: int | None = None

    @property
    def participant_url(self) -> str:
        """The URL a participant (Cekura's tester) connects to: the ws/wss form of the server URL."""
        for http, ws in (("https://", "wss://"), ("http://", "ws://")):
            if self.url.startswith(http):
                return ws + self.url[len(http) :]
        return self.url


@dataclass(frozen=True)
class RoomSpec:
    """One room to create: a unique name plus the limits that make abandoned rooms close themselves."""

    name: str
    empty_timeout: int = 300
    max_participants: int = 4
    metadata: str = ""


def _mask(value: str) -> None:
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    except Exception:  # outside a task there may be no masker; never fail on that
        log.debug("secret masker unavailable")


#: Any JWT: base64url header and payload (both JSON objects, so both start `eyJ`) and a signature.
JWT_PATTERN = r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"
_JWT = re.compile(JWT_PATTERN)


def redact_tokens(text: str) -> str:
    """`text` with every JWT replaced by `***`: for error messages that may echo a submitted payload."""
    return _JWT.sub("***", text)


def _mask_token(token: str) -> None:
    """Mask a minted join token without registering it with the secrets masker one by one.

    Why: the masker recompiles one alternation of *all* its patterns for every secret added (and a supervised
    task also sends each one to the supervisor, which does the same), so registering 1,000 tokens costs
    minutes. Instead the process's masker gets the JWT *shape* once: one pattern that hides this token,
    every later one and any other JWT, at the cost of a single compile. If the masker's internals are not
    what we expect (another Airflow version), fall back to registering the token itself.
    """
    if _JWT.fullmatch(token) and _install_jwt_pattern():
        return
    _mask(token)


def _install_jwt_pattern() -> bool:
    """Add JWT_PATTERN to this process's secrets masker (once; again after a masker reset)."""
    try:
        from airflow.sdk.log import _secrets_masker

        masker = _secrets_masker()
        patterns = masker.patterns
        if not isinstance(patterns, set):
            return False
        if JWT_PATTERN not in patterns:
            patterns.add(JWT_PATTERN)
            masker.replacer = re.compile("|".join(patterns))
        return True
    except Exception:  # no masker here (plain scripts) or a different masker: register tokens instead
        log.debug("secret masker patterns unavailable")
        return False


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def transient(exc: BaseException) -> bool:
    """A LiveKit failure another attempt may cure: transport errors, timeouts, 408/429/5xx."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
        return True
    return _status_of(exc) in TRANSIENT_STATUSES


async def with_retries(call: Callable[[], Awaitable[T]], what: str, *, attempts: int = CALL_ATTEMPTS) -> T:
    """Await `call()`; on a transient failure wait (exponential backoff with jitter) and try again."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as exc:
            if attempt >= attempts or not transient(exc):
                raise
            delay = RETRY_BASE_DELAY * 2 ** (attempt - 1)
            delay = delay / 2 + random.uniform(0, delay / 2)
            log.warning("LiveKit %s failed (%s); retry %d in %.1f s.", what, exc, attempt, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_if_failed(rooms: Sequence[str], outcomes: Sequence[object], call: str, hint: str) -> None:
    """One LiveKitError for a batch of per-room calls: how many failed, the first failure, every failed room."""
    failures = [(room, o) for room, o in zip(rooms, outcomes, strict=True) if isinstance(o, BaseException)]
    if failures:
        room, exc = failures[0]
        assert isinstance(exc, BaseException)
        raise LiveKitError(
            f"LiveKit {call} failed for {len(failures)} of {len(rooms)} rooms (first: {room!r}: {exc}){hint}",
            status=_status_of(exc),
            failed_rooms=[r for r, _ in failures],
        ) from exc


class LiveKitHook(BaseHook):
    """Manages rooms, tokens and agent dispatches with the credentials of a `livekit` connection.

    Connection: host = server URL (`wss://my-project.livekit.cloud`, `https://…` or `http://…`),
    login = API key, password = API secret.
    """

    conn_name_attr = "livekit_conn_id"
    default_conn_name = "livekit_default"
    conn_type = "livekit"
    hook_name = "LiveKit"

    def __init__(
        self,
        livekit_conn_id: str = default_conn_name,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        super().__init__()
        self.livekit_conn_id = livekit_conn_id
        self.request_timeout = request_timeout
        self._credentials: LiveKitCredentials | None = None

    # ------------------------------------------------------------------ connection
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the generic form so the three fields that matter explain themselves."""
        return {
            "hidden_fields": ["schema", "port"],
            "relabeling": {
                "host": "LiveKit server URL",
                "login": "API key",
                "password": "API secret",
                "extra": "Extra (JSON; agent_slots: concurrent jobs the agent's workers take)",
            },
            "placeholders": {
                "host": "wss://my-project.livekit.cloud",
                "login": "APIxxxxxxxxxxxx (Settings → Keys in LiveKit Cloud)",
                "password": "the secret shown once when the key was created",
            },
        }

    def _credentials_from(self, conn: Any) -> LiveKitCredentials:
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            raise ValueError(
                f"Connection {self.livekit_conn_id!r} has no host: set it to the LiveKit server URL, "
                "e.g. wss://my-project.livekit.cloud."
            )
        if "://" not in host:
            host = f"{conn.schema or 'https'}://{host}"
        if conn.port and ":" not in host.split("://", 1)[1]:
            host = f"{host}:{conn.port}"
        if not conn.login or not conn.password:
            raise ValueError(
                f"Connection {self.livekit_conn_id!r} needs the LiveKit API key in its login field and the "
                "API secret in its password field."
            )
        _mask(conn.password)
        return LiveKitCredentials(
            url=host, api_key=conn.login, api_secret=conn.password, agent_slots=self._agent_slots(conn)
        )

    def _agent_slots(self, conn: Any) -> int | None:
        """The connection extra's `agent_slots` (a positive integer), None when absent."""
        raw = getattr(conn, "extra_dejson", None) or {}
        value = raw.get("agent_slots") if isinstance(raw, Mapping) else None
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
            raise ValueError(
                f"Connection {self.livekit_conn_id!r} extra agent_slots={value!r} is not a whole number: set it "
                "to how many agent jobs your workers run at once (e.g. 5 on LiveKit Cloud's entry tier), or "
                "remove it."
            )
        if int(value) < 1:
            raise ValueError(
                f"Connection {self.livekit_conn_id!r} extra agent_slots={value!r} must be at least 1 (or absent)."
            )
        return int(value)

    @property
    def credentials(self) -> LiveKitCredentials:
        """Resolved once per hook from the Airflow connection (blocking: workers only)."""
        if self._credentials is None:
            self._credentials = self._credentials_from(self.get_connection(self.livekit_conn_id))
        return self._credentials

    async def acredentials(self) -> LiveKitCredentials:
        """Like `credentials`, without blocking the event loop (triggers)."""
        if self._credentials is None:
            self._credentials = self._credentials_from(await BaseHook.aget_connection(self.livekit_conn_id))
        return self._credentials

    def get_conn(self) -> LiveKitCredentials:
        return self.credentials

    # ------------------------------------------------------------------ tokens
    def mint_join_token(self, room: str, *, identity: str, ttl: timedelta, name: str | None = None) -> str:
        """A short-lived JWT that lets one participant join one room. Masked as soon as it exists.

        Minting is O(1) a token: the masker learns the JWT shape once (see `_mask_token`), not each token.
        """
        from livekit.api import AccessToken, VideoGrants

        creds = self.credentials
        token = (
            AccessToken(creds.api_key, creds.api_secret)
            .with_identity(identity)
            .with_name(name or identity)
            .with_ttl(ttl)
            .with_grants(VideoGrants(room_join=True, room=room))
            .to_jwt()
        )
        _mask_token(token)
        return token

    # ------------------------------------------------------------------ async API
    @asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        """One `LiveKitAPI` (one aiohttp session) for a whole batch, built inside the running loop.

        A refused credential on any call inside becomes `LiveKitAuthError` (permanent, naming the connection),
        whether it surfaced bare or wrapped in a per-room batch error."""
        import aiohttp
        from livekit.api import LiveKitAPI

        creds = await self.acredentials()
        lk = LiveKitAPI(
            creds.url,
            creds.api_key,
            creds.api_secret,
            timeout=aiohttp.ClientTimeout(total=self.request_timeout),
        )
        try:
            yield lk
        finally:
            await lk.aclose()

    def _refused(self, exc: BaseException, call: str) -> LiveKitAuthError | None:
        """The permanent error for `exc` when LiveKit refused the credentials, else None."""
        if isinstance(exc, LiveKitAuthError):
            return exc
        if _status_of(exc) not in AUTH_STATUSES:
            return None
        url = self._credentials.url if self._credentials is not None else "?"
        return auth_error(self.livekit_conn_id, url, _status_of(exc), call)

    def _raise_if_refused(self, outcomes: Sequence[object], call: str) -> None:
        """A per-room batch where LiveKit refused the credentials fails as one `LiveKitAuthError`."""
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and (refused := self._refused(outcome, call)) is not None:
                raise refused from None

    async def _guarded(self, call: str, make: Callable[[], Awaitable[T]]) -> T:
        """Await `make()`; a refused credential is re-raised as `LiveKitAuthError` (never retried)."""
        try:
            return await make()
        except Exception as exc:
            refused = self._refused(exc, call)
            if refused is not None and refused is not exc:
                raise refused from None  # the library's error may echo request details: not chained
            raise

    async def acheck_credentials(self) -> None:
        """One cheap call (ListRooms of a name that never exists) proving the URL answers and the key pair
        is accepted: run before any room is created or any batch submitted."""
        from livekit.api import ListRoomsRequest

        async def probe() -> None:
            async with self._client() as lk:
                await with_retries(
                    lambda: lk.room.list_rooms(ListRoomsRequest(names=[PROBE_ROOM])), "ListRooms (check)"
                )

        await self._guarded("ListRooms", probe)

    @staticmethod
    async def _bounded(
        items: Sequence[T], call: Callable[[T], Awaitable[Any]], concurrency: int
    ) -> list[Any | BaseException]:
        """Run `call` over items with at most `concurrency` in flight; results (or errors) in order."""
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(item: T) -> Any:
            async with gate:
                return await call(item)

        return list(await asyncio.gather(*(one(i) for i in items), return_exceptions=True))

    async def acreate_rooms(self, rooms: Sequence[RoomSpec], *, concurrency: int = 10) -> list[str]:
        """Create every room (an existing name is returned as is, so this is safe to repeat); sids in order."""
        from livekit.api import CreateRoomRequest

        for spec in rooms:
            if len(spec.metadata.encode()) > MAX_ROOM_METADATA_BYTES:
                raise ValueError(
                    f"room_config for room {spec.name!r} is {len(spec.metadata.encode())} bytes; LiveKit "
                    f"room metadata holds at most {MAX_ROOM_METADATA_BYTES}. Shrink the room config."
                )
        async with self._client() as lk:

            async def create(spec: RoomSpec) -> str:
                request = CreateRoomRequest(
                    name=spec.name,
                    empty_timeout=spec.empty_timeout,
                    max_participants=spec.max_participants,
                    metadata=spec.metadata,
                )
                # CreateRoom of an existing name returns that room: safe to repeat.
                room = await with_retries(lambda: lk.room.create_room(request), f"CreateRoom {spec.name!r}")
                return str(room.sid)

            outcomes = await self._bounded(rooms, create, concurrency)
        self._raise_if_refused(outcomes, "CreateRoom")
        _raise_if_failed(
            [s.name for s in rooms],
            outcomes,
            "CreateRoom",
            f". Check the LiveKit connection {self.livekit_conn_id!r} (URL, key, secret).",
        )
        return [str(o) for o in outcomes]

    async def adelete_rooms(self, names: Sequence[str], *, concurrency: int = 10) -> int:
        """Delete rooms; a room already gone (404) counts as done. Returns how many were deleted now."""
        from livekit.api import DeleteRoomRequest

        async with self._client() as lk:

            async def delete(name: str) -> bool:
                try:
                    await with_retries(
                        lambda: lk.room.delete_room(DeleteRoomRequest(room=name)), f"DeleteRoom {name!r}"
                    )
                except Exception as exc:
                    if _status_of(exc) == 404:
                        return False
                    raise
                return True

            outcomes = await self._bounded(names, delete, concurrency)
        self._raise_if_refused(outcomes, "DeleteRoom")
        _raise_if_failed(
            names, outcomes, "DeleteRoom", "; they close by themselves after their empty_timeout."
        )
        return sum(1 for o in outcomes if o is True)

    async def adispatch_agents(
        self,
        agent_name: str,
        dispatches: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        concurrency: int = 10,
    ) -> list[str]:
        """Dispatch the agent into each room with its job metadata (JSON); dispatch ids in order."""
        from livekit.api import CreateAgentDispatchRequest

        async with self._client() as lk:

            async def dispatch(item: tuple[str, Mapping[str, Any]]) -> str:
                room, metadata = item
                request = CreateAgentDispatchRequest(
                    agent_name=agent_name, room=room, metadata=json.dumps(metadata)
                )
                tried = False

                async def once() -> Any:
                    # CreateDispatch is not idempotent by itself: after a failed attempt whose request
                    # may have landed, look for our dispatch before creating a second agent in the room.
                    nonlocal tried
                    if tried:
                        for existing in await lk.agent_dispatch.list_dispatch(room_name=room):
                            if existing.agent_name == agent_name and existing.metadata == request.metadata:
                                return existing
                    tried = True
                    return await lk.agent_dispatch.create_dispatch(request)

                done = await with_retries(once, f"CreateAgentDispatch into {room!r}")
                return str(done.id)

            outcomes = await self._bounded(dispatches, dispatch, concurrency)
        self._raise_if_refused(outcomes, "CreateAgentDispatch")
        _raise_if_failed(
            [d[0] for d in dispatches], outcomes, f"CreateAgentDispatch of agent {agent_name!r}", "."
        )
        return [str(o) for o in outcomes]

    async def alist_dispatched_rooms(self, rooms: Sequence[str], *, concurrency: int = 10) -> set[str]:
        """The rooms among `rooms` that already have at least one agent dispatch (for re-attaching)."""
        async with self._client() as lk:

            async def has_dispatch(room: str) -> bool:
                found = await with_retries(
                    lambda: lk.agent_dispatch.list_dispatch(room_name=room), f"ListDispatch {room!r}"
                )
                return bool(found)

            outcomes = await self._bounded(rooms, has_dispatch, concurrency)
        self._raise_if_refused(outcomes, "ListDispatch")
        return {r for r, o in zip(rooms, outcomes, strict=True) if o is True}

    async def aprobe_agent(
        self,
        agent_name: str,
        room: str,
        *,
        wait: float | None = None,
        poll: float = PROBE_POLL_SECONDS,
    ) -> None:
        """Prove a worker serves `agent_name` before anything is paid: dispatch it into a throw-away room, wait
        until the dispatch shows a job (`ListDispatch` → `state.jobs`), delete the room either way.

        Why a probe: livekit-server accepts a dispatch for any name and starts no job when no worker registered
        it (pkg/agent/client.go `LaunchJob`), and its API lists no workers. Costs one short agent job, whose
        metadata is `PROBE_METADATA`. Raises `LiveKitAgentUnavailableError` when no job appears in `wait`."""
        from livekit.api import CreateAgentDispatchRequest, CreateRoomRequest, DeleteRoomRequest

        wait = PROBE_WAIT_SECONDS if wait is None else wait
        creds = await self.acredentials()
        memo = (creds.url, creds.api_key, agent_name)
        if _served_until.get(memo, 0.0) > time.monotonic():
            return

        async def probe() -> bool:
            async with self._client() as lk:
                await with_retries(
                    lambda: lk.room.create_room(
                        CreateRoomRequest(name=room, empty_timeout=60, max_participants=1)
                    ),
                    f"CreateRoom {room!r} (agent probe)",
                )
                try:
                    request = CreateAgentDispatchRequest(
                        agent_name=agent_name, room=room, metadata=json.dumps(PROBE_METADATA)
                    )
                    await with_retries(
                        lambda: lk.agent_dispatch.create_dispatch(request), f"CreateAgentDispatch {room!r}"
                    )
                    loop = asyncio.get_running_loop()
                    until = loop.time() + wait
                    while True:
                        found = await with_retries(
                            lambda: lk.agent_dispatch.list_dispatch(room_name=room), f"ListDispatch {room!r}"
                        )
                        if any(len(d.state.jobs) for d in found):
                            return True
                        if loop.time() >= until:
                            return False
                        await asyncio.sleep(poll)
                finally:
                    try:
                        await lk.room.delete_room(DeleteRoomRequest(room=room))
                    except Exception as exc:  # it closes by itself after its empty_timeout
                        log.warning("Could not delete the agent probe room %r (%s).", room, exc)

        try:
            served = await self._guarded("CreateAgentDispatch", probe)
        except LiveKitError:
            raise
        except (
            Exception
        ) as exc:  # the probe's own calls failed: say so (transient unless the key was refused)
            raise LiveKitError(
                f"LiveKit agent probe for {agent_name!r} (CreateRoom/CreateAgentDispatch/ListDispatch in room "
                f"{room!r}) failed: {exc}",
                status=_status_of(exc),
            ) from exc
        if served:
            _served_until[memo] = time.monotonic() + PROBE_MEMORY_SECONDS
        else:
            raise LiveKitAgentUnavailableError(
                f"No LiveKit agent worker took a job for agent name {agent_name!r} within {wait:g} s (LiveKit "
                f"at {self._credentials.url if self._credentials else '?'}, connection "
                f"{self.livekit_conn_id!r}): LiveKit accepts the dispatch but starts nothing, so every run would "
                "end 'Main agent-did-not-answer'. Fix: check livekit_agent_name against the agent_name your "
                "worker registers (WorkerOptions(agent_name=...)), and that a worker for it is running and "
                "connected to this LiveKit project with free capacity. Nothing was submitted to Cekura.",
                code="agent_unavailable",
            )

    async def alist_rooms(self, names: Sequence[str] | None = None) -> list[str]:
        """Names of the server's active rooms (optionally only among `names`)."""
        from livekit.api import ListRoomsRequest

        async def listed() -> Any:
            async with self._client() as lk:
                return await lk.room.list_rooms(ListRoomsRequest(names=list(names or [])))

        response = await self._guarded("ListRooms", listed)
        return [r.name for r in response.rooms]

    # ------------------------------------------------------------------ sync wrappers (workers)
    def _run(self, call: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run one async batch call to the end; a refused credential surfaces as `LiveKitAuthError`."""
        _ = self.credentials  # resolve the connection synchronously, outside the loop
        return asyncio.run(self._guarded(call, make))

    def check_credentials(self) -> None:
        """See `acheck_credentials`: the cheap call that makes a wrong key/secret fail before any side effect."""
        self._run("ListRooms", self.acheck_credentials)

    def create_rooms(self, rooms: Sequence[RoomSpec], *, concurrency: int = 10) -> list[str]:
        return self._run("CreateRoom", lambda: self.acreate_rooms(rooms, concurrency=concurrency))

    def delete_rooms(self, names: Sequence[str], *, concurrency: int = 10) -> int:
        return self._run("DeleteRoom", lambda: self.adelete_rooms(names, concurrency=concurrency))

    def dispatch_agents(
        self, agent_name: str, dispatches: Sequence[tuple[str, Mapping[str, Any]]], *, concurrency: int = 10
    ) -> list[str]:
        return self._run(
            "CreateAgentDispatch",
            lambda: self.adispatch_agents(agent_name, dispatches, concurrency=concurrency),
        )

    def list_dispatched_rooms(self, rooms: Sequence[str], *, concurrency: int = 10) -> set[str]:
        return self._run("ListDispatch", lambda: self.alist_dispatched_rooms(rooms, concurrency=concurrency))

    def list_rooms(self, names: Sequence[str] | None = None) -> list[str]:
        return self._run("ListRooms", lambda: self.alist_rooms(names))

    def probe_agent(self, agent_name: str, room: str, *, wait: float | None = None) -> None:
        """See `aprobe_agent`."""
        self._run("CreateAgentDispatch", lambda: self.aprobe_agent(agent_name, room, wait=wait))

    def test_connection(self) -> tuple[bool, str]:
        """List rooms: proves the URL answers and the key/secret pair is accepted."""
        try:
            rooms = self.list_rooms()
        except LiveKitAuthError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"LiveKit ListRooms failed: {type(exc).__name__}: {exc}"
        return True, f"Connected to LiveKit at {self.credentials.url}; {len(rooms)} active rooms."
