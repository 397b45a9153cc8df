"""The Cekura stand-in's HTTP surface: every path family of the contract, with and without trailing slash.

Routing is by regular expression over the path so `/v1/` and `/v2/`, `results/` and `results-external/`
and the optional trailing slash all reach the same handler (the official SDK sends no trailing slash,
the project's client always sends one).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cekura_sandbox.errors import ApiError, not_found
from cekura_sandbox.livekit_state import LiveKitState
from cekura_sandbox.recorder import Fault, Recorder
from cekura_sandbox.store import CekuraStore
from cekura_sandbox.validation import Submission, parse_run_ids, parse_submission

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000

_V = r"/test_framework/v[12]"
#: Handlers return this for endpoints the spec documents as "No response body" (end_calls, end_call).
NO_BODY: Any = object()
Handler = Callable[[Request, "re.Match[str]"], Awaitable[Any]]


class CekuraApi:
    def __init__(
        self, store: CekuraStore, recorder: Recorder, livekit: LiveKitState, api_keys: set[str]
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.livekit = livekit
        self.api_keys = api_keys
        self.routes: list[tuple[str, str, Handler]] = [
            ("POST", rf"{_V}/scenarios(?:-external)?/run_scenarios_livekit", self.submit_v1),
            ("POST", rf"{_V}/scenarios(?:-external)?/run_scenarios_livekit_v2", self.submit_v2),
            ("POST", rf"{_V}/scenarios(?:-external)?/run_scenarios_livekit_chat", self.submit_chat),
            ("GET", rf"{_V}/results(?:-external)?", self.list_results),
            ("GET", rf"{_V}/results(?:-external)?/(?P<id>[^/]+)", self.result_detail),
            ("POST", rf"{_V}/results(?:-external)?/(?P<id>[^/]+)/end_calls", self.end_calls),
            ("POST", rf"{_V}/results(?:-external)?/(?P<id>[^/]+)/create_shareable_link_token", self.share),
            ("POST", rf"{_V}/results(?:-external)?/(?P<id>[^/]+)/rerun", self.rerun),
            ("GET", rf"{_V}/runs(?:-external)?", self.list_runs),
            ("GET", rf"{_V}/runs(?:-external)?/bulk", self.runs_bulk),
            ("GET", rf"{_V}/runs(?:-external)?/(?P<id>[^/]+)", self.run_detail),
            ("POST", rf"{_V}/runs(?:-external)?/(?P<id>[^/]+)/end_call", self.end_call),
            ("GET", rf"{_V}/aiagents", self.list_agents),
            ("GET", rf"{_V}/aiagents/(?P<id>[^/]+)", self.agent_detail),
            ("GET", rf"{_V}/scenarios(?:-external)?", self.list_scenarios),
            ("GET", r"/test_framework/billing/info", self.billing_info),
            ("GET", r"/_sandbox/requests", self.ctl_requests),
            ("DELETE", r"/_sandbox/requests", self.ctl_clear_requests),
            ("GET", r"/_sandbox/faults", self.ctl_faults),
            ("POST", r"/_sandbox/faults", self.ctl_add_fault),
            ("DELETE", r"/_sandbox/faults", self.ctl_clear_faults),
            ("GET", r"/_sandbox/clock", self.ctl_clock),
            ("POST", r"/_sandbox/clock", self.ctl_set_clock),
            ("GET", r"/_sandbox/livekit/rooms", self.ctl_rooms),
            ("POST", r"/_sandbox/results", self.ctl_create_result),
            ("POST", r"/_sandbox/cron", self.ctl_add_cron_job),
            ("GET", r"/_sandbox/limits", self.ctl_limits),
            ("POST", r"/_sandbox/limits", self.ctl_set_limits),
        ]
        self._compiled = [(m, re.compile(pattern + r"/?$"), h) for m, pattern, h in self.routes]

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", self.dispatch, methods=methods)])

    async def dispatch(self, request: Request) -> Response:
        path = request.url.path
        if path.rstrip("/") == "/_sandbox/health":
            return JSONResponse({"ok": True})
        allowed: list[str] = []
        for method, pattern, handler in self._compiled:
            match = pattern.match(path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            try:
                key = self._authenticate(request)
                if not path.startswith("/_sandbox/"):
                    self.store.limits.admit(key)
                body = await handler(request, match)
            except ApiError as exc:
                return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
            if body is NO_BODY:
                return Response(status_code=200)
            return JSONResponse(body)
        if allowed:
            return JSONResponse({"detail": f'Method "{request.method}" not allowed.'}, status_code=405)
        return JSONResponse({"detail": "Not found."}, status_code=404)

    def _authenticate(self, request: Request) -> str:
        key = request.headers.get("x-cekura-api-key")
        if not key:
            raise ApiError(401, {"detail": "Authentication credentials were not provided."})
        if key not in self.api_keys:
            raise ApiError(401, {"detail": "Invalid API key."})
        return key

    def _scoped(self, request: Request, project: int | None) -> None:
        """A project-scoped key sees nothing of another project: DRF's filtered queryset answers 404."""
        key = request.headers.get("x-cekura-api-key", "")
        if project is not None and not self.store.limits.may_use(key, project):
            raise not_found()

    # ---- submit ---------------------------------------------------------------------------------
    async def _submit(self, request: Request, mode: str) -> Any:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(
                400, {"detail": "JSON parse error - Expecting value: line 1 column 1 (char 0)"}
            ) from None
        submission = parse_submission(body, mode, self.store.catalogue)
        agent = self.store.catalogue.agents[submission.agent_id]
        self.store.limits.check_submit(
            request.headers.get("x-cekura-api-key", ""),
            agent_id=agent.id,
            project=agent.project,
            mode=mode,
            runs=_run_count(submission),
        )
        return self.store.submit(submission)

    async def submit_v1(self, request: Request, match: re.Match[str]) -> Any:
        return await self._submit(request, "v1")

    async def submit_v2(self, request: Request, match: re.Match[str]) -> Any:
        return await self._submit(request, "v2")

    async def submit_chat(self, request: Request, match: re.Match[str]) -> Any:
        return await self._submit(request, "chat")

    # ---- billing --------------------------------------------------------------------------------
    async def billing_info(self, request: Request, match: re.Match[str]) -> Any:
        return self.store.billing_info()

    # ---- reads ----------------------------------------------------------------------------------
    async def result_detail(self, request: Request, match: re.Match[str]) -> Any:
        self._scoped(request, self.store.project_of_result(_path_id(match)))
        return self.store.result(_path_id(match))

    async def list_results(self, request: Request, match: re.Match[str]) -> Any:
        q = request.query_params
        items = self.store.list_results(
            agent_id=_query_int(q.get("agent_id"), "agent_id"),
            project_id=_query_int(q.get("project_id"), "project_id"),
            search=q.get("search") or None,
        )
        return _paginate(request, items)

    async def list_runs(self, request: Request, match: re.Match[str]) -> Any:
        q = request.query_params
        status_in = q.get("status__in")
        success = q.get("success")
        filters: dict[str, Any] = {
            "result_id": _query_int(q.get("result_id"), "result_id"),
            "agent_id": _query_int(q.get("agent_id") or q.get("result__agent_id"), "agent_id"),
            "project_id": _query_int(q.get("project_id"), "project_id"),
            "status": q.get("status") or None,
            "status__in": [s.strip() for s in status_in.split(",") if s.strip()] if status_in else None,
            "success": None if success in (None, "") else success.lower() in ("true", "1"),
            "scenario__id__in": _query_ints(q.get("scenario__id__in"), "scenario__id__in"),
            "id__in": _query_ints(q.get("id__in"), "id__in"),
            "timestamp__gte": _query_time(q.get("timestamp__gte"), "timestamp__gte"),
            "timestamp__lte": _query_time(q.get("timestamp__lte"), "timestamp__lte"),
        }
        return _paginate(request, self.store.list_runs(filters))

    async def runs_bulk(self, request: Request, match: re.Match[str]) -> Any:
        # The spec's parameter is `run_ids`; the official SDK's `results.get_runs` sends `ids` (its bug):
        # like the real API, that is a request without run_ids.
        return self.store.runs_bulk(parse_run_ids(request.query_params.get("run_ids")))

    async def run_detail(self, request: Request, match: re.Match[str]) -> Any:
        return self.store.run(_path_id(match))

    async def agent_detail(self, request: Request, match: re.Match[str]) -> Any:
        agent = self.store.catalogue.agents.get(_path_id(match))
        self._scoped(request, agent.project if agent is not None else None)
        return self.store.agent(_path_id(match))

    async def list_agents(self, request: Request, match: re.Match[str]) -> Any:
        q = request.query_params
        return _paginate(request, self.store.list_agents(_query_int(q.get("project_id"), "project_id")))

    async def list_scenarios(self, request: Request, match: re.Match[str]) -> Any:
        q = request.query_params
        items = self.store.list_scenarios(
            _query_int(q.get("agent_id"), "agent_id"), _query_int(q.get("project_id"), "project_id")
        )
        return _paginate(request, items)

    # ---- actions --------------------------------------------------------------------------------
    async def end_calls(self, request: Request, match: re.Match[str]) -> Any:
        self.store.end_calls(_path_id(match))
        return NO_BODY

    async def end_call(self, request: Request, match: re.Match[str]) -> Any:
        self.store.end_call(_path_id(match))
        return NO_BODY

    async def share(self, request: Request, match: re.Match[str]) -> Any:
        return self.store.shareable_link(_path_id(match), str(request.base_url).rstrip("/"))

    async def rerun(self, request: Request, match: re.Match[str]) -> Any:
        from cekura_sandbox.rerun import rerun_failed

        return rerun_failed(self.store, _path_id(match))

    # ---- sandbox controls -----------------------------------------------------------------------
    async def ctl_create_result(self, request: Request, match: re.Match[str]) -> Any:
        """A result no Airflow task submitted: {origin: cron|ci|dashboard|api, agent, scenarios, name?, at?}."""
        from cekura_sandbox.origins import create_result

        body = await _json_object(request)
        return create_result(
            self.store,
            origin=str(body.get("origin", "api")),
            agent_id=_body_int(body, "agent"),
            scenario_ids=[int(s) for s in body.get("scenarios") or []],
            name=body.get("name"),
            at=_body_time(body.get("at")),
            frequency=int(body.get("frequency") or 1),
        )

    async def ctl_add_cron_job(self, request: Request, match: re.Match[str]) -> Any:
        """A Cekura cron job: {agent, scenarios, every_minutes, start?}; its results appear as time passes."""
        from cekura_sandbox.origins import CronJob

        body = await _json_object(request)
        job = CronJob(
            agent_id=_body_int(body, "agent"),
            scenario_ids=[int(s) for s in body.get("scenarios") or []],
            every_minutes=float(body.get("every_minutes") or 60),
            start=_body_time(body.get("start")) or self.store.clock.now(),
        )
        with self.store.lock:
            self.store.cron_jobs.append(job)
        return {"cron_jobs": len(self.store.cron_jobs)}

    async def ctl_requests(self, request: Request, match: re.Match[str]) -> Any:
        return [r.__dict__ for r in self.recorder.snapshot()]

    async def ctl_clear_requests(self, request: Request, match: re.Match[str]) -> Any:
        self.recorder.clear()
        return {"cleared": True}

    async def ctl_faults(self, request: Request, match: re.Match[str]) -> Any:
        return [f.as_dict() for f in self.recorder.faults]

    async def ctl_add_fault(self, request: Request, match: re.Match[str]) -> Any:
        try:
            body = await request.json()
            fault = Fault(**body)
        except (ValueError, TypeError) as exc:
            raise ApiError(400, {"detail": f"bad fault: {exc}"}) from None
        self.recorder.add_fault(fault)
        return fault.as_dict()

    async def ctl_clear_faults(self, request: Request, match: re.Match[str]) -> Any:
        self.recorder.clear_faults()
        return {"cleared": True}

    async def ctl_clock(self, request: Request, match: re.Match[str]) -> Any:
        return {"now": self.store.clock.now().isoformat(), "speed": self.store.clock.speed}

    async def ctl_set_clock(self, request: Request, match: re.Match[str]) -> Any:
        try:
            body = await request.json()
            self.store.clock.set(datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(400, {"now": [f"expected an ISO 8601 datetime with timezone ({exc})"]}) from None
        return await self.ctl_clock(request, match)

    async def ctl_limits(self, request: Request, match: re.Match[str]) -> Any:
        return self.store.limits.as_dict()

    async def ctl_set_limits(self, request: Request, match: re.Match[str]) -> Any:
        try:
            self.store.limits.configure(await request.json())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ApiError(400, {"detail": f"bad limits: {exc}"}) from None
        return self.store.limits.as_dict()

    async def ctl_rooms(self, request: Request, match: re.Match[str]) -> Any:
        with self.livekit.lock:
            return {
                "rooms": {name: r.as_dict() for name, r in self.livekit.rooms.items()},
                "dispatches": [d.as_dict() for d in self.livekit.dispatches],
                "deleted_rooms": list(self.livekit.deleted_rooms),
                "closed_rooms": [{"room": n, "reason": r} for n, r in self.livekit.closed_rooms],
                "workers": self.livekit.workers,
                "unserved_dispatches": [
                    {"agent_name": a, "room": room, "why": why} for a, room, why in self.livekit.unserved
                ],
            }


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, {"detail": "JSON parse error"}) from None
    if not isinstance(body, dict):
        raise ApiError(400, {"detail": "expected a JSON object"})
    return body


def _body_int(body: dict[str, Any], name: str) -> int:
    raw = body.get(name)
    if isinstance(raw, bool) or not str(raw).isdigit():
        raise ApiError(400, {name: ["A valid integer is required."]})
    return int(str(raw))


def _body_time(raw: Any) -> datetime | None:
    if raw in (None, ""):
        return None
    return _query_time(str(raw), "at")


def _run_count(sub: Submission) -> int:
    return (
        len(sub.items) * sub.frequency * max(len(sub.personality_ids), 1) * max(len(sub.test_profile_ids), 1)
    )


def _path_id(match: re.Match[str]) -> int:
    raw = match.group("id")
    if not raw.isdigit():
        raise not_found()
    return int(raw)


def _query_int(raw: str | None, name: str) -> int | None:
    if raw in (None, ""):
        return None
    if not raw.strip().isdigit():
        raise ApiError(400, {name: ["Enter a whole number."]})
    return int(raw)


def _query_ints(raw: str | None, name: str) -> list[int] | None:
    if raw in (None, ""):
        return None
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise ApiError(400, {name: ["Enter a whole number."]})
    return [int(p) for p in parts]


def _query_time(raw: str | None, name: str) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, {name: ["Enter a valid date/time."]}) from None
    if value.tzinfo is None:
        raise ApiError(400, {name: ["Enter a valid date/time with a timezone."]})
    return value


def _paginate(request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """DRF page-number pagination: `{count, next, previous, results}` with absolute next/previous URLs."""
    q = request.query_params
    try:
        page = int(q.get("page") or 1)
        size = min(max(int(q.get("page_size") or DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
    except ValueError:
        raise ApiError(404, {"detail": "Invalid page."}) from None
    pages = max((len(items) + size - 1) // size, 1)
    if page < 1 or page > pages:
        raise ApiError(404, {"detail": "Invalid page."})

    def link(number: int) -> str:
        params = dict(q)
        params["page"] = str(number)
        return f"{str(request.url).split('?')[0]}?{urlencode(params)}"

    return {
        "count": len(items),
        "next": link(page + 1) if page < pages else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": items[(page - 1) * size : page * size],
    }
