"""Validation of submit bodies, with the real API's 400 shapes: `{"field": ["message", ...]}`.

Everything is checked before anything is created, so a bad request never leaves half a batch behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cekura_sandbox.catalogue import Catalogue, Scenario
from cekura_sandbox.errors import ApiError, field_error

REQUIRED = "This field is required."
NOT_INT = "A valid integer is required."


@dataclass
class SubmitItem:
    scenario: Scenario
    livekit_room_url: str = ""
    access_token: str = field(default="", repr=False)
    publish_data_message: Any = None


@dataclass
class Submission:
    mode: str  # "v1" | "v2" | "chat"
    agent_id: int
    name: str | None
    items: list[SubmitItem]
    frequency: int = 1
    personality_ids: list[int] = field(default_factory=list)
    test_profile_ids: list[int] = field(default_factory=list)
    concurrency_limit: int | None = None
    livekit_data: dict[str, Any] = field(default_factory=dict)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _int_list(body: dict[str, Any], key: str) -> list[int]:
    raw = body.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise field_error(key, f'Expected a list of items but got type "{type(raw).__name__}".')
    out = []
    for value in raw:
        number = _as_int(value)
        if number is None:
            raise field_error(key, f"{NOT_INT} Got {value!r}.")
        out.append(number)
    return out


def parse_submission(body: Any, mode: str, catalogue: Catalogue) -> Submission:
    if not isinstance(body, dict):
        raise ApiError(400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    raw_items = body.get("scenarios")
    if raw_items is None:
        raise field_error("scenarios", REQUIRED)
    if not isinstance(raw_items, list):
        raise field_error("scenarios", f'Expected a list of items but got type "{type(raw_items).__name__}".')
    if not raw_items:
        raise field_error("scenarios", "This list may not be empty.")
    items: list[SubmitItem] = []
    errors: list[str] = []
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            errors.append(f"scenarios[{i}]: Invalid data. Expected a dictionary.")
            continue
        if "scenario" not in raw:
            errors.append(f"scenarios[{i}].scenario: {REQUIRED}")
            continue
        sid = _as_int(raw["scenario"])
        if sid is None:
            errors.append(f"scenarios[{i}].scenario: {NOT_INT}")
            continue
        scenario = catalogue.scenarios.get(sid)
        if scenario is None:
            errors.append(f'Invalid pk "{sid}" - object does not exist.')
            continue
        item = SubmitItem(scenario=scenario, publish_data_message=raw.get("publish_data_message"))
        if mode in ("v1", "chat"):
            for key in ("livekit_room_url", "access_token"):
                value = raw.get(key)
                if not isinstance(value, str) or not value.strip():
                    errors.append(
                        f"scenarios[{i}].{key}: {REQUIRED if value in (None, '') else 'Not a valid string.'}"
                    )
            item.livekit_room_url = str(raw.get("livekit_room_url") or "")
            item.access_token = str(raw.get("access_token") or "")
        items.append(item)
    if errors:
        raise field_error("scenarios", *errors)

    frequency = 1
    if mode == "v2" and body.get("frequency") is not None:
        freq = _as_int(body["frequency"])
        if freq is None:
            raise field_error("frequency", NOT_INT)
        if freq < 1:
            raise field_error("frequency", "Ensure this value is greater than or equal to 1.")
        if freq > 100:
            raise field_error("frequency", "Ensure this value is less than or equal to 100.")
        frequency = freq

    agent_id = _resolve_agent(body, items, catalogue)
    personality_ids = _int_list(body, "personality_ids")
    if body.get("personality_id") is not None:
        personality_ids.append(_as_int(body["personality_id"]) or -1)
    for pid in personality_ids:
        if pid not in catalogue.personalities:
            raise field_error("personality_ids", f'Invalid pk "{pid}" - object does not exist.')
    profile_ids = _int_list(body, "test_profile_ids")
    if body.get("test_profile_id") is not None:
        profile_ids.append(_as_int(body["test_profile_id"]) or -1)
    for tid in profile_ids:
        profile = catalogue.test_profiles.get(tid)
        if profile is None:
            raise field_error("test_profile_ids", f'Invalid pk "{tid}" - object does not exist.')
        if profile.agent is not None and profile.agent != agent_id:
            raise field_error("test_profile_ids", f"Test profile {tid} does not belong to agent {agent_id}.")
    concurrency = body.get("concurrency_limit")
    concurrency_limit = None
    if concurrency is not None:
        concurrency_limit = _as_int(concurrency)
        if concurrency_limit is None or concurrency_limit < 1:
            raise field_error("concurrency_limit", "Ensure this value is greater than or equal to 1.")
    livekit_data = body.get("livekit_data") or {}
    if not isinstance(livekit_data, dict):
        raise field_error("livekit_data", "Invalid data. Expected a dictionary.")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise field_error("name", "Not a valid string.")
    if name is not None and len(name) > 255:
        raise field_error("name", "Ensure this field has no more than 255 characters.")
    return Submission(
        mode=mode,
        agent_id=agent_id,
        name=name,
        items=items,
        frequency=frequency,
        personality_ids=personality_ids,
        test_profile_ids=profile_ids,
        concurrency_limit=concurrency_limit,
        livekit_data=livekit_data,
    )


def _resolve_agent(body: dict[str, Any], items: list[SubmitItem], catalogue: Catalogue) -> int:
    agents = {item.scenario.agent for item in items}
    raw = body.get("agent")
    if raw is None:
        if len(agents) > 1:
            raise field_error("agent", f"Scenarios belong to several agents {sorted(agents)}; pass agent.")
        return agents.pop()
    agent_id = _as_int(raw)
    if agent_id is None:
        raise field_error("agent", f"Incorrect type. Expected pk value, received {type(raw).__name__}.")
    if agent_id not in catalogue.agents:
        raise field_error("agent", f'Invalid pk "{agent_id}" - object does not exist.')
    foreign = sorted(item.scenario.id for item in items if item.scenario.agent != agent_id)
    if foreign:
        raise field_error("scenarios", f"Scenarios {foreign} do not belong to agent {agent_id}.")
    return agent_id


def parse_run_ids(raw: str | None) -> list[int]:
    """`run_ids` must be a plain comma-separated string of integers (a JSON array is a 400)."""
    if raw is None or not raw.strip():
        raise ApiError(400, ["run_ids is required: a comma-separated list of run ids, e.g. run_ids=1,2,3"])
    parts = [p.strip() for p in raw.split(",")]
    if not all(p.isdigit() for p in parts):
        raise ApiError(400, ["run_ids must be comma-separated integers"])
    return [int(p) for p in parts]
