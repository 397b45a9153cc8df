"""The validated inputs of one batch: every operator argument checked before any call, by small validators.

Each field has one validator that names the field, the value and the fix; cross-field rules (what each mode
needs, what only the managed endpoint accepts) come after. At construction, values only known at run time
(Jinja strings, XComArgs) are skipped; after rendering, everything is checked again, still before any call.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cekura_livekit.batch.verdict import validate_fail_on, validate_min_success_rate
from cekura_livekit.models import (
    DEFAULT_FAIL_ON,
    MANAGED,
    SUBMISSION_MODES,
    SubmissionMode,
    submission_mode,
)

#: Options only the managed (v2) endpoint understands.
V2_ONLY: tuple[str, ...] = (
    "personality_ids",
    "test_profile_ids",
    "mock_tool_names",
    "concurrency_limit",
    "livekit_data",
)
SCENARIO_KEYS = frozenset({"scenario", "publish_data_message"})
LIVEKIT_DATA_KEYS = frozenset({"agent_name", "url", "config"})
HOOK_PARAM_KEYS = frozenset({"timeout", "retry_limit", "retry_delay", "retry_max_delay", "max_retry_after"})
#: Calls per scenario Cekura accepts (the operator, the suite files and the manual-run form all use it).
MAX_FREQUENCY = 100
#: Longest poll interval and room lifetime floor a user may set: beyond it a wait or a room outlives any batch.
TWO_DAYS = 2 * 24 * 3600
#: The largest `max_runs`: 100 scenarios × frequency 100 — Cekura's own bounds; above it is a typo.
MAX_RUNS_CEILING = 10_000
#: Default cap on the runs (paid calls) one batch may place: a typo or a manual form cannot order thousands.
DEFAULT_MAX_RUNS = 200
#: The largest id there can be: the warehouse stores ids as 64-bit integers (BIGINT).
MAX_ID = 2**63 - 1
#: Default deadline of a wait (seconds): a batch that never finishes must not hold the suite forever.
DEFAULT_TIMEOUT = 3 * 3600.0


def unrendered(value: object) -> bool:
    """True for values only known at run time: Jinja strings, XComArgs and other lazy arguments."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return hasattr(value, "resolve") or type(value).__name__ in {"ArgNotSet", "PlainXComArg", "XComArg"}


# ---------------------------------------------------------------------------------------------- scalars
def _digits(value: object) -> str:
    """The text of an int or an ASCII digit string (a leading '-' allowed); '' for anything else.

    Why ASCII only: `'²'.isdigit()` is True but `int('²')` raises, and `int('٣')` silently gives 3 —
    neither is an id or a count anyone meant to type.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        return ""
    text = str(value).strip()
    body = text[1:] if text.startswith("-") else text
    return text if body.isascii() and body.isdigit() else ""


def text_value(field_name: str, value: str) -> str:
    """A string that can be sent and stored: a lone surrogate (from a bad decode) fails every UTF-8 write, and a
    control character (NUL, a newline, an ANSI escape) truncates a C string, forges a log line or recolours a
    terminal; a name has no use for either."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{field_name}={value!r} contains a character that is not valid Unicode ({exc.reason} at "
            f"position {exc.start}): retype the value, or fix how it was decoded."
        ) from None
    control = next((i for i, c in enumerate(value) if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        raise ValueError(
            f"{field_name}={value!r} contains a control character ({value[control]!r} at position {control}): "
            "names are one line of printable text; remove it."
        )
    return value


def positive_id(field_name: str, value: object, *, fix: str) -> int:
    """A Cekura id: a positive whole number (an int or ASCII digit string); 0 and booleans are refused."""
    text = _digits(value)
    if not text or text.startswith("-") or not 1 <= int(text) <= MAX_ID:
        raise ValueError(f"{field_name}={value!r} is not a positive integer id: {fix}")
    return int(text)


def id_list(field_name: str, value: object) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError(f"{field_name}={value!r} must be a list of integer ids, e.g. {field_name}=[1, 2].")
    fix = f"pass {field_name} as a list of integer ids, e.g. [1, 2]."
    return [positive_id(field_name, v, fix=fix) for v in value]


def seconds(field_name: str, value: object, *, allow_zero: bool = False) -> float | None:
    """A duration as a number of seconds or a timedelta; None stays None."""
    if value is None:
        return None
    number = value.total_seconds() if isinstance(value, timedelta) else value
    if (
        isinstance(number, bool)
        or not isinstance(number, int | float)
        or not math.isfinite(number)  # NaN compares False to every bound below, so it passed them all
        or number < 0
        or (number == 0 and not allow_zero)
    ):
        raise ValueError(
            f"{field_name}={value!r} must be a positive, finite number of seconds or a timedelta, e.g. "
            f"{field_name}=300 or timedelta(minutes=5)"
            + (" (None means no deadline)." if field_name == "timeout" else ".")
        )
    return float(number)


def whole(field_name: str, value: object, lo: int, hi: int | None = None, *, why: str = "") -> int:
    """An int in [lo, hi]: digit strings from templates are accepted, '5' → 5; anything else is refused."""
    text = _digits(value)
    if not text or int(text) < lo or (hi is not None and int(text) > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"of at least {lo}"
        raise ValueError(f"{field_name}={value!r} must be a whole number {bound}{why}.")
    return int(text)


def flag(field_name: str, value: object) -> bool:
    """A real boolean: 'false' as a string is truthy in Python, so strings are refused, not guessed."""
    if not isinstance(value, bool):
        raise ValueError(f"{field_name}={value!r} must be True or False (a boolean, not a string).")
    return value


def conn_id(field_name: str, value: object, kind: str) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(
            f"{field_name}={value!r} is not a connection id: pass the id of a {kind!r} connection, "
            f"e.g. '{kind}_default'."
        )
    return text_value(field_name, value)


# ---------------------------------------------------------------------------------------------- fields
def parse_scenarios(value: object, mode: str | SubmissionMode) -> list[dict[str, Any]]:
    """Scenario ids (ints, digit strings, a JSON list or "1,2,3") or dicts with per-scenario extras."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p]
        except ValueError:
            raise ValueError(
                f"scenarios={value!r} is neither a JSON list nor comma-separated ids: pass e.g. [2001, 2002]."
            ) from None
    if isinstance(value, int | dict) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, bytes) or not value:
        raise ValueError(
            f"scenarios={value!r} is empty or not a list: pass at least one scenario id, e.g. scenarios=[2001]."
        )
    kind = mode if isinstance(mode, SubmissionMode) else submission_mode(mode)
    return [_scenario(item, kind) for item in value]


def _modes_where(attribute: str) -> str:
    """The modes whose `attribute` is true, for messages ("use one of these")."""
    return ", ".join(repr(m.name) for m in SUBMISSION_MODES.values() if getattr(m, attribute))


def _scenario(item: object, mode: SubmissionMode) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        fix = "pass integer scenario ids, e.g. scenarios=[2001, 2002]."
        return {"scenario": positive_id("scenarios", item, fix=fix)}
    unknown = sorted(set(item) - SCENARIO_KEYS)
    if unknown:
        raise ValueError(
            f"scenarios entry {dict(item)!r} has unknown keys {unknown}: allowed keys are {sorted(SCENARIO_KEYS)}."
        )
    if "publish_data_message" in item and not mode.accepts_publish_data_message:
        raise ValueError(
            f"scenarios entry uses publish_data_message, which mode={mode.name!r} cannot send: use mode "
            f"{_modes_where('accepts_publish_data_message')}, or drop publish_data_message."
        )
    fix = "pass each dict with 'scenario': <integer id>."
    return {**dict(item), "scenario": positive_id("scenarios", item.get("scenario"), fix=fix)}


def _agent(value: object) -> int | None:
    if value in (None, ""):
        return None
    return positive_id("agent", value, fix="pass the Cekura agent id, e.g. agent=101.")


def _frequency(value: object) -> int:
    return whole("frequency", value, 1, MAX_FREQUENCY, why=": Cekura runs each scenario 1–100 times")


def _concurrency(value: object) -> int | None:
    if value in (None, ""):
        return None
    return whole("concurrency_limit", value, 1, why=": pass a positive integer")


def _livekit_data(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - LIVEKIT_DATA_KEYS:
        raise ValueError(
            f"livekit_data={value!r} must be a dict with keys among {sorted(LIVEKIT_DATA_KEYS)}."
        )
    return dict(value)


def _mock_tools(value: object) -> list[str] | None:
    if value is None:
        return None
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or not all(isinstance(t, str) for t in value)
    ):
        raise ValueError(f"mock_tool_names={value!r} must be a list of tool names (strings).")
    return [text_value("mock_tool_names", t) for t in value]


def _room_config(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"room_config={value!r} must be a dict (it becomes room metadata JSON).")
    return dict(value)


def _name(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"name={value!r} must be a string.")
    return text_value("name", value) if value else None


def _agent_name(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or value != value.strip()):
        raise ValueError(f"livekit_agent_name={value!r} must be the agent's name as registered with LiveKit.")
    return text_value("livekit_agent_name", value) if value else None


def _hook_params(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"hook_params={value!r} must be a dict, e.g. {{'retry_limit': 5}}.")
    unknown = sorted(set(value) - HOOK_PARAM_KEYS)
    if unknown:
        raise ValueError(f"hook_params has unknown keys {unknown}: allowed are {sorted(HOOK_PARAM_KEYS)}.")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "retry_limit":
            out[key] = whole(f"hook_params['{key}']", item, 0, 20, why=" (retries after the first attempt)")
        else:
            out[key] = seconds(f"hook_params['{key}']", item, allow_zero=key != "timeout")
    return out


def _poll_interval(value: object) -> float:
    poll = seconds("poll_interval", value)
    if poll is None:
        raise ValueError("poll_interval=None: pass a positive number of seconds, e.g. 30.")
    if poll > TWO_DAYS:  # a wait that never polls again is a wait that never ends
        raise ValueError(f"poll_interval={value!r} is more than two days: pass e.g. 30 (seconds).")
    return poll


def _token_ttl(value: object) -> timedelta:
    ttl = seconds("token_ttl", value)
    if ttl is None:
        raise ValueError("token_ttl=None: pass how long a join token stays valid, e.g. timedelta(hours=2).")
    return timedelta(seconds=ttl)


def _max_credits(value: object) -> float | None:
    """A positive number of credits, or None (no budget)."""
    if value is None:
        return None
    if isinstance(value, str) and _digits(value.replace(".", "", 1)):  # a rendered template or a suite key
        value = float(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"max_credits={value!r} must be a positive number of Cekura credits, e.g. max_credits=500, or None "
            "(no budget)"
        )
    return float(value)


#: One validator per operator argument; run on every argument whose value is known.
FIELDS: dict[str, Callable[[Any], Any]] = {
    "cekura_conn_id": lambda v: conn_id("cekura_conn_id", v, "cekura"),
    "agent": _agent,
    "frequency": _frequency,
    "name": _name,
    "personality_ids": lambda v: id_list("personality_ids", v),
    "test_profile_ids": lambda v: id_list("test_profile_ids", v),
    "mock_tool_names": _mock_tools,
    "concurrency_limit": _concurrency,
    "livekit_data": _livekit_data,
    "livekit_agent_name": _agent_name,
    "room_config": _room_config,
    "room_empty_timeout": lambda v: whole(
        "room_empty_timeout", v, 1, TWO_DAYS, why=" (seconds, at most two days)"
    ),
    "room_max_participants": lambda v: whole(
        "room_max_participants", v, 2, why=": a room needs at least 2 (tester + agent)"
    ),
    "room_concurrency": lambda v: whole("room_concurrency", v, 1, 100, why=" (LiveKit calls in flight)"),
    "token_ttl": _token_ttl,
    "wait_for_completion": lambda v: flag("wait_for_completion", v),
    "deferrable": lambda v: flag("deferrable", v),
    "poll_interval": _poll_interval,
    "timeout": lambda v: seconds("timeout", v),
    "min_success_rate": validate_min_success_rate,
    "fail_on": validate_fail_on,
    "quarantine": lambda v: frozenset(id_list("quarantine", v) or ()),
    "hook_params": _hook_params,
    "cancel_on_kill": lambda v: flag("cancel_on_kill", v),
    "per_run_progress": lambda v: flag("per_run_progress", v),
    "max_runs": lambda v: whole(
        "max_runs", v, 1, MAX_RUNS_CEILING, why=": the most runs (paid calls) one batch may place"
    ),
    "warehouse_conn_id": lambda v: None if v is None else conn_id("warehouse_conn_id", v, "postgres"),
    "max_credits": _max_credits,
}
#: The operator arguments rendered by Jinja (`template_fields`): the ones a suite or a form fills at run time.
TEMPLATED_ARGUMENTS: tuple[str, ...] = (
    "scenarios",
    "agent",
    "frequency",
    "name",
    *V2_ONLY,
    "livekit_agent_name",
    "room_config",
    "min_success_rate",
)
#: Every operator argument the spec reads, in validation order (mode first: others depend on it).
SPEC_ARGUMENTS: tuple[str, ...] = ("mode", "scenarios", "livekit_conn_id", *FIELDS)


@dataclass(frozen=True)
class BatchSpec:
    """The validated, rendered inputs of one batch (None where a value is only known after rendering)."""

    mode: str
    scenarios: tuple[dict[str, Any], ...]
    agent: int | None = None
    frequency: int = 1
    name: str | None = None
    cekura_conn_id: str = "cekura_default"
    livekit_conn_id: str | None = None
    personality_ids: list[int] | None = None
    test_profile_ids: list[int] | None = None
    mock_tool_names: list[str] | None = None
    concurrency_limit: int | None = None
    livekit_data: dict[str, Any] | None = None
    livekit_agent_name: str | None = None
    room_config: dict[str, Any] | None = None
    room_empty_timeout: int = 300
    room_max_participants: int = 4
    room_concurrency: int = 10
    token_ttl: timedelta = timedelta(hours=1)
    wait_for_completion: bool = True
    deferrable: bool = False
    poll_interval: float = 30.0
    timeout: float | None = DEFAULT_TIMEOUT
    min_success_rate: float | None = None
    fail_on: frozenset[str] = field(default_factory=lambda: frozenset(DEFAULT_FAIL_ON))
    quarantine: frozenset[int] = frozenset()
    hook_params: dict[str, Any] = field(default_factory=dict)
    cancel_on_kill: bool = True
    per_run_progress: bool = False
    max_runs: int = DEFAULT_MAX_RUNS
    warehouse_conn_id: str | None = None
    #: The most Cekura credits the batch may be estimated at (`batch.cost`); None: no budget.
    max_credits: float | None = None

    @property
    def submission_mode(self) -> SubmissionMode:
        """The mode object: its endpoint, room ownership and accepted options (the rules read its fields)."""
        return submission_mode(self.mode)

    @property
    def own_rooms(self) -> bool:
        """This task creates the LiveKit rooms (bring-your-own voice, or chat)."""
        return self.submission_mode.owns_rooms

    @property
    def run_count(self) -> int:
        """Runs Cekura will place: scenarios × frequency × personalities × test profiles."""
        combos = len(self.personality_ids or [None]) * len(self.test_profile_ids or [None])
        return len(self.scenarios) * self.frequency * combos

    def wait_settings(self) -> dict[str, Any]:
        """What a wait in the triggerer needs from the spec (besides the batch and the deadline)."""
        return {
            "cekura_conn_id": self.cekura_conn_id,
            "poll_interval": self.poll_interval,
            "cancel_on_kill": self.cancel_on_kill,
            "per_run_progress": self.per_run_progress,
            "hook_params": dict(self.hook_params),
        }


def _check_size(spec: BatchSpec) -> None:
    """Refuse a batch bigger than `max_runs` before anything is created or paid for."""
    if spec.scenarios and spec.run_count > spec.max_runs:
        raise ValueError(
            f"This batch would place {spec.run_count} runs ({len(spec.scenarios)} scenarios × frequency "
            f"{spec.frequency}"
            + (
                " × personalities × test profiles"
                if spec.run_count > len(spec.scenarios) * spec.frequency
                else ""
            )
            + f"), more than max_runs={spec.max_runs}: use a lower frequency or fewer scenarios, or raise "
            "max_runs (suite key or operator argument) if this many paid calls are intended."
        )


def _check_mode(mode: object, livekit_conn_id: object) -> SubmissionMode:
    kind = submission_mode(mode)
    if kind.owns_rooms and not livekit_conn_id:
        raise ValueError(
            f"mode={mode!r} creates LiveKit rooms but livekit_conn_id={livekit_conn_id!r}: pass the id of a "
            "'livekit' connection (host = server URL, login = API key, password = API secret)."
        )
    return kind


def _check_mode_options(spec: BatchSpec, raw: Mapping[str, Any], strict: bool) -> None:
    """What the mode needs (own rooms: the agent to dispatch) and which options its endpoint accepts."""
    kind = spec.submission_mode
    agent_name = raw.get("livekit_agent_name")
    if kind.owns_rooms and (strict or not unrendered(agent_name)) and not spec.livekit_agent_name:
        raise ValueError(
            f"livekit_agent_name is required in mode {spec.mode!r} (the agent to dispatch into each room); "
            f"got {agent_name!r}: pass the name your agent registers with LiveKit (its agent_name)."
        )
    if kind.accepts_v2_options:
        return
    for opt in V2_ONLY:
        value = raw.get(opt)
        if (strict or not unrendered(value)) and value not in (None, [], (), {}):
            raise ValueError(
                f"{opt}={value!r} is only supported by mode {_modes_where('accepts_v2_options')} (Cekura's "
                f"v2 endpoint); mode={spec.mode!r} cannot send it. Remove {opt} or change the mode."
            )


def build_spec(raw: Mapping[str, Any], *, strict: bool) -> BatchSpec:
    """Validate the operator's arguments (`raw`: argument name → value) into a BatchSpec.

    With strict=False (at construction) values only known at run time are skipped.
    """
    mode = raw.get("mode", MANAGED)
    livekit_conn = raw.get("livekit_conn_id")
    kind = _check_mode(mode, livekit_conn)
    if livekit_conn is not None:
        conn_id("livekit_conn_id", livekit_conn, "livekit")
    values: dict[str, Any] = {"mode": kind.name, "livekit_conn_id": livekit_conn}
    scenarios = raw.get("scenarios")
    values["scenarios"] = (
        tuple(parse_scenarios(scenarios, kind)) if strict or not unrendered(scenarios) else ()
    )
    for name, validate in FIELDS.items():
        if name in raw and (strict or not unrendered(raw[name])):
            values[name] = validate(raw[name])
    spec = BatchSpec(**values)
    _check_mode_options(spec, raw, strict)
    _check_size(spec)
    return spec
