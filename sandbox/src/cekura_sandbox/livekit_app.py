"""The LiveKit stand-in: the Twirp RoomService and AgentDispatchService subset the project uses.

Bodies are the real `livekit.protocol` messages (protobuf, or Twirp's JSON form), every call carries a
JWT signed with the API secret, and each method checks the grant the real server checks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import jwt
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit import api
from livekit.api.access_token import Claims
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cekura_sandbox.livekit_state import (
    MAX_METADATA_SIZE,
    MAX_ROOM_NAME_LENGTH,
    DispatchInfo,
    LiveKitState,
    Participant,
    RoomInfo,
)

_STATUS = {
    "invalid_argument": 400,
    "malformed": 400,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "resource_exhausted": 429,
    "internal": 500,
    "unavailable": 503,
}


class TwirpFailure(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


class BadToken(Exception):
    """Rejected by livekit-server's auth middleware, before Twirp: a plain-text 401 body, not Twirp JSON."""


def _twirp_error(code: str, msg: str) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg}, status_code=_STATUS.get(code, 500))


def _room_pb(room: RoomInfo, now: datetime) -> api.Room:
    present = room.present(now)
    return api.Room(
        sid=room.sid,
        name=room.name,
        empty_timeout=room.empty_timeout,
        departure_timeout=room.departure_timeout,
        max_participants=room.max_participants,
        creation_time=room.created,
        creation_time_ms=int(room.created_at.timestamp() * 1000),
        metadata=room.metadata,
        num_participants=sum(1 for p in present if not p.agent),
        num_publishers=sum(1 for p in present if not p.agent),
        active_recording=False,
    )


def _participant_pb(p: Participant) -> api.ParticipantInfo:
    return api.ParticipantInfo(
        sid=p.sid,
        identity=p.identity,
        state=api.ParticipantInfo.State.ACTIVE,
        joined_at=int(p.joined_at.timestamp()),
        kind=api.ParticipantInfo.Kind.AGENT if p.agent else api.ParticipantInfo.Kind.STANDARD,
    )


def _dispatch_pb(d: DispatchInfo) -> api.AgentDispatch:
    """`state.jobs` holds the job a worker took; a dispatch no worker served has none (pkg/rtc/room.go
    `handleNewJobs` only records jobs that `LaunchJob` returned)."""
    jobs = []
    if d.job_id:
        jobs.append(
            api.Job(
                id=d.job_id,
                dispatch_id=d.id,
                type=api.JobType.JT_ROOM,
                agent_name=d.agent_name,
                metadata=d.metadata,
                state=api.JobState(status=api.JobStatus.JS_RUNNING, started_at=d.created_at),
            )
        )
    return api.AgentDispatch(
        id=d.id,
        agent_name=d.agent_name,
        room=d.room,
        metadata=d.metadata,
        state=api.AgentDispatchState(jobs=jobs, created_at=d.created_at),
    )


def _check_metadata(metadata: str) -> None:
    """pkg/service/roomservice.go / agent_dispatch_service.go: metadata over `limit.max_metadata_size`."""
    if len(metadata.encode()) > MAX_METADATA_SIZE:
        raise TwirpFailure("invalid_argument", f"metadata size exceeds limits {MAX_METADATA_SIZE}")


Handler = Callable[[Message, Claims], Message]


class LiveKitTwirp:
    """Twirp routing plus auth for the stand-in; state lives in `LiveKitState`."""

    def __init__(self, state: LiveKitState, api_key: str, api_secret: str) -> None:
        self.state = state
        self.verifier = api.TokenVerifier(api_key, api_secret)
        self.methods: dict[str, tuple[type[Message], Handler]] = {
            "livekit.RoomService/CreateRoom": (api.CreateRoomRequest, self.create_room),
            "livekit.RoomService/ListRooms": (api.ListRoomsRequest, self.list_rooms),
            "livekit.RoomService/DeleteRoom": (api.DeleteRoomRequest, self.delete_room),
            "livekit.RoomService/UpdateRoomMetadata": (api.UpdateRoomMetadataRequest, self.update_metadata),
            "livekit.RoomService/ListParticipants": (api.ListParticipantsRequest, self.list_participants),
            "livekit.AgentDispatchService/CreateDispatch": (
                api.CreateAgentDispatchRequest,
                self.create_dispatch,
            ),
            "livekit.AgentDispatchService/ListDispatch": (api.ListAgentDispatchRequest, self.list_dispatch),
            "livekit.AgentDispatchService/DeleteDispatch": (
                api.DeleteAgentDispatchRequest,
                self.delete_dispatch,
            ),
        }

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/twirp/{method:path}", self.endpoint, methods=["GET", "POST", "PUT", "DELETE"])]
        )

    async def endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.method != "POST":
            return _twirp_error("bad_route", f"unsupported method {request.method} (only POST is allowed)")
        entry = self.methods.get(method)
        if entry is None:
            return _twirp_error("bad_route", f"no handler for path /twirp/{method}")
        req_cls, handler = entry
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        body = await request.body()
        try:
            claims = self._authenticate(request)
            message = self._decode(req_cls, ctype, body)
            reply = handler(message, claims)
        except BadToken as exc:
            return PlainTextResponse(str(exc), status_code=401)
        except TwirpFailure as exc:
            return _twirp_error(exc.code, exc.msg)
        if ctype == "application/json":
            return Response(json_format.MessageToJson(reply), media_type="application/json")
        return Response(reply.SerializeToString(), media_type="application/protobuf")

    def _authenticate(self, request: Request) -> Claims:
        """Like livekit-server's middleware (pkg/service/auth.go `APIKeyAuthMiddleware.ServeHTTP`): no header
        → no grants (the method then denies permission); a header not starting with the case-sensitive
        `Bearer ` → a plain-text 401; a token that does not verify → a plain-text 401, before any Twirp
        handling. Verification allows the server's clock-skew leeway on `nbf`/`exp` (go-jose's one minute,
        as `TokenVerifier`'s 60 s)."""
        header = request.headers.get("authorization", "")
        if not header:
            return Claims()
        if not header.startswith("Bearer "):
            raise BadToken("invalid authorization header. Must start with Bearer ")
        if not header[7:].strip():
            return Claims()
        try:
            return self.verifier.verify(header[7:].strip())
        except (jwt.PyJWTError, ValueError) as exc:
            raise BadToken(f"invalid authorization token: {type(exc).__name__}") from None

    @staticmethod
    def _decode(req_cls: type[Message], ctype: str, body: bytes) -> Message:
        try:
            if ctype == "application/json":
                return json_format.Parse(body or b"{}", req_cls())
            if ctype != "application/protobuf":
                raise TwirpFailure("bad_route", f"unexpected Content-Type: {ctype!r}")
            return req_cls.FromString(body)
        except (DecodeError, json_format.ParseError) as exc:
            raise TwirpFailure("malformed", f"the request could not be decoded: {exc}") from None

    # ---- grants ---------------------------------------------------------------------------------
    @staticmethod
    def _need(claims: Claims, grant: str, room: str | None = None) -> None:
        # livekit-server answers every permission problem with `unauthenticated` (401), not 403.
        video = claims.video
        if video is None or not getattr(video, grant, False):
            raise TwirpFailure("unauthenticated", "permissions denied")
        if room is not None and video.room != room:
            raise TwirpFailure("unauthenticated", "permissions denied")

    # ---- RoomService ----------------------------------------------------------------------------
    def create_room(self, req: Any, claims: Claims) -> Message:
        self._need(claims, "room_create")
        if not req.name:
            raise TwirpFailure("invalid_argument", "room name is required")
        if len(req.name.encode()) > MAX_ROOM_NAME_LENGTH:  # roomservice.go CheckRoomNameLength
            raise TwirpFailure(
                "invalid_argument", f"room name length exceeds limits: max length {MAX_ROOM_NAME_LENGTH}"
            )
        _check_metadata(req.metadata)
        room = self.state.create_room(
            req.name,
            metadata=req.metadata,
            empty_timeout=req.empty_timeout,
            departure_timeout=req.departure_timeout,
            max_participants=req.max_participants,
        )
        return _room_pb(room, self.state.now())

    def list_rooms(self, req: Any, claims: Claims) -> Message:
        self._need(claims, "room_list")
        rooms = self.state.list_rooms(list(req.names))
        now = self.state.now()
        return api.ListRoomsResponse(rooms=[_room_pb(r, now) for r in rooms])

    def delete_room(self, req: Any, claims: Claims) -> Message:
        self._need(claims, "room_create")
        if not self.state.delete_room(req.room):
            raise TwirpFailure("not_found", "requested room does not exist")
        return api.DeleteRoomResponse()

    def update_metadata(self, req: Any, claims: Claims) -> Message:
        self._need(claims, "room_admin", req.room)
        _check_metadata(req.metadata)
        room = self.state.update_metadata(req.room, req.metadata)
        if room is None:
            raise TwirpFailure("not_found", "requested room does not exist")
        return _room_pb(room, self.state.now())

    def list_participants(self, req: Any, claims: Claims) -> Message:
        self._need(claims, "room_admin", req.room)
        found = self.state.participants(req.room)
        if found is None:
            raise TwirpFailure("not_found", "requested room does not exist")
        return api.ListParticipantsResponse(participants=[_participant_pb(p) for p in found])

    # ---- AgentDispatchService -------------------------------------------------------------------
    def create_dispatch(self, req: Any, claims: Claims) -> Message:
        self._need(claims, "room_admin", req.room)
        if not req.room:
            raise TwirpFailure("invalid_argument", "room is required")
        _check_metadata(req.metadata)
        return _dispatch_pb(self.state.create_dispatch(req.agent_name, req.room, req.metadata))

    def list_dispatch(self, req: Any, claims: Claims) -> Message:
        self._need(claims, "room_admin", req.room)
        found = self.state.list_dispatches(req.room, req.dispatch_id)
        return api.ListAgentDispatchResponse(agent_dispatches=[_dispatch_pb(d) for d in found])

    def delete_dispatch(self, req: Any, claims: Claims) -> Message:
        self._need(claims, "room_admin", req.room)
        found = self.state.delete_dispatch(req.room, req.dispatch_id)
        if found is None:
            raise TwirpFailure("not_found", "dispatch not found")
        return _dispatch_pb(found)
