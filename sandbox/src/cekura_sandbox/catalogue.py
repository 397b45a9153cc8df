"""The sandbox's world: agents, scenarios, personalities, test profiles and metrics, read from YAML.

Scenario entries carry the knobs of the simulation (pass rate, infra-failure and timeout rates, call
duration range, a dated regression), so a demo can show flaky and regressing scenarios without a real
Cekura account.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_INFRA_FAILURE_RATE = 0.01
DEFAULT_TIMEOUT_RATE = 0.01
#: How binary metric results are written (`metric_format` of an agent). Cekura's docs (webhook format, v2
#: endpoints) define the canonical form `{eval_type: "binary", passed: bool}` and say the legacy fields
#: `type: binary_*` / `score: 5|0` are still sent for compatibility and will be removed:
#: canonical = eval_type/passed only (after the removal), legacy = type/score only (older payloads),
#: both = today's payload (canonical plus the deprecated legacy fields).
METRIC_FORMATS = ("canonical", "legacy", "both")
DEFAULT_METRIC_FORMAT = "both"


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    project: int
    livekit_agent_name: str
    livekit_config: dict[str, Any] = field(default_factory=dict)
    #: This agent's own parallel-call limit (replaces the organisation's for its runs); None = organisation's.
    parallel_call_limit: int | None = None
    #: How its binary metric results are written: one of METRIC_FORMATS.
    metric_format: str = DEFAULT_METRIC_FORMAT
    #: The agent version results and runs report (`agent_version`); a test "deploys" another one with
    #: `Sandbox.set_agent_version`. None: the field is null, as for an agent without version history.
    version: str | None = None


@dataclass(frozen=True)
class Personality:
    id: int
    name: str


@dataclass(frozen=True)
class TestProfile:
    __test__ = False  # not a pytest class

    id: int
    name: str
    agent: int | None
    information: dict[str, Any]

    def as_data(self) -> dict[str, Any]:
        """`test_profile_data` of submit responses and job metadata: the profile's values, flat, e.g.
        {"user_name": "John Doe", "account_id": "ACC-12345"} (source document, SDK)."""
        return dict(self.information)

    def as_record(self) -> dict[str, Any]:
        """`test_profile_data` of a full Run object: the spec's TestProfileData `{id, name, information}`."""
        return {"id": self.id, "name": self.name, "information": dict(self.information)}


@dataclass(frozen=True)
class Metric:
    id: int
    name: str
    type: str


@dataclass(frozen=True)
class Scenario:
    id: int
    name: str
    agent: int
    personality: int
    pass_rate: float
    infra_failure_rate: float
    timeout_rate: float
    duration: tuple[int, int]
    metrics: tuple[int, ...]
    regression_from: dt.date | None = None
    regression_pass_rate: float | None = None

    def pass_rate_on(self, day: dt.date) -> float:
        """The pass probability of a run on that (simulated) date: the dated regression applies on/after."""
        if (
            self.regression_from is not None
            and self.regression_pass_rate is not None
            and day >= self.regression_from
        ):
            return self.regression_pass_rate
        return self.pass_rate


@dataclass(frozen=True)
class Catalogue:
    agents: dict[int, Agent]
    scenarios: dict[int, Scenario]
    personalities: dict[int, Personality]
    test_profiles: dict[int, TestProfile]
    metrics: dict[int, Metric]
    #: The organisation's parallel-call limit (`organisation: {parallel_call_limit: N}`); None = default.
    parallel_call_limit: int | None = None


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load a catalogue file, or the packaged default when `path` is None."""
    if path is None:
        text = resources.files("cekura_sandbox").joinpath("default_catalogue.yaml").read_text("utf-8")
        where = "default_catalogue.yaml"
    else:
        p = Path(path)
        if not p.is_file():
            raise ValueError(
                f"catalogue={str(path)!r} is not a file; pass a YAML catalogue path or None for the default"
            )
        text, where = p.read_text("utf-8"), str(p)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"catalogue {where}: top level must be a mapping with agents/scenarios")
    return parse_catalogue(data, where=where)


def parse_catalogue(data: dict[str, Any], *, where: str = "catalogue") -> Catalogue:
    agents = {}
    for raw in _items(data, "agents", where, required=True):
        lk = raw.get("livekit") or {}
        agent = Agent(
            id=_int(raw, "id", where),
            name=str(raw.get("name") or f"Agent {raw.get('id')}"),
            project=_int(raw, "project", where, default=1),
            livekit_agent_name=str(lk.get("agent_name") or ""),
            livekit_config=dict(lk.get("config") or {}),
            parallel_call_limit=_limit(raw, where),
            metric_format=_metric_format(raw, where),
            version=_version(raw),
        )
        agents[agent.id] = agent
    personalities = {
        p.id: p
        for p in (
            Personality(id=_int(r, "id", where), name=str(r.get("name", "")))
            for r in _items(data, "personalities", where)
        )
    }
    if not personalities:
        personalities = {1: Personality(1, "Normal Male")}
    metrics = {
        m.id: m
        for m in (
            Metric(
                id=_int(r, "id", where),
                name=str(r.get("name", "")),
                type=str(r.get("type", "binary_qualitative")),
            )
            for r in _items(data, "metrics", where)
        )
    }
    profiles = {}
    for r in _items(data, "test_profiles", where):
        agent_ref = r.get("agent")
        profiles[_int(r, "id", where)] = TestProfile(
            id=_int(r, "id", where),
            name=str(r.get("name", "")),
            agent=int(agent_ref) if agent_ref is not None else None,
            information=dict(r.get("information") or {}),
        )
    scenarios = {}
    default_personality = min(personalities)
    for r in _items(data, "scenarios", where, required=True):
        sid = _int(r, "id", where)
        agent_id = _int(r, "agent", where)
        if agent_id not in agents:
            raise ValueError(f"{where}: scenario {sid} names agent {agent_id}, which is not in agents")
        duration = r.get("duration", [30, 120])
        if not (
            isinstance(duration, list) and len(duration) == 2 and 0 < int(duration[0]) <= int(duration[1])
        ):
            raise ValueError(f"{where}: scenario {sid} duration={duration!r}; use [min_seconds, max_seconds]")
        metric_ids = tuple(int(m) for m in r.get("metrics", []))
        unknown = [m for m in metric_ids if m not in metrics]
        if unknown:
            raise ValueError(
                f"{where}: scenario {sid} uses unknown metric ids {unknown}; declare them under metrics"
            )
        regression = r.get("regression") or {}
        reg_from = regression.get("from")
        if isinstance(reg_from, str):
            reg_from = dt.date.fromisoformat(reg_from)
        scenarios[sid] = Scenario(
            id=sid,
            name=str(r.get("name", f"Scenario {sid}")),
            agent=agent_id,
            personality=_int(r, "personality", where, default=default_personality),
            pass_rate=_rate(r, "pass_rate", where, 0.95),
            infra_failure_rate=_rate(r, "infra_failure_rate", where, DEFAULT_INFRA_FAILURE_RATE),
            timeout_rate=_rate(r, "timeout_rate", where, DEFAULT_TIMEOUT_RATE),
            duration=(int(duration[0]), int(duration[1])),
            metrics=metric_ids,
            regression_from=reg_from,
            regression_pass_rate=_rate(regression, "pass_rate", where, 0.0) if regression else None,
        )
    org = data.get("organisation") or {}
    if not isinstance(org, dict):
        raise ValueError(f"{where}: 'organisation' must be a mapping, e.g. {{parallel_call_limit: 10}}")
    return Catalogue(agents, scenarios, personalities, profiles, metrics, _limit(org, where))


def with_metric_format(catalogue: Catalogue, metric_format: str) -> Catalogue:
    """The catalogue with every agent writing binary metrics as `metric_format` (one of METRIC_FORMATS)."""
    _metric_format({"metric_format": metric_format, "id": "*"}, "metric_format")
    agents = {i: dataclasses.replace(a, metric_format=metric_format) for i, a in catalogue.agents.items()}
    return dataclasses.replace(catalogue, agents=agents)


def _version(raw: dict[str, Any]) -> str | None:
    """An agent's `version` as text (YAML may read `2.1` as a number), None when absent."""
    value = raw.get("version")
    return None if value is None else str(value)


def _metric_format(raw: dict[str, Any], where: str) -> str:
    value = raw.get("metric_format", DEFAULT_METRIC_FORMAT)
    if value not in METRIC_FORMATS:
        raise ValueError(
            f"{where}: agent {raw.get('id')} metric_format={value!r} must be one of {', '.join(METRIC_FORMATS)}"
        )
    return str(value)


def _limit(raw: dict[str, Any], where: str) -> int | None:
    if raw.get("parallel_call_limit") is None:
        return None
    value = _int(raw, "parallel_call_limit", where)
    if value < 1:
        raise ValueError(f"{where}: parallel_call_limit={value} must be at least 1")
    return value


def _items(data: dict[str, Any], key: str, where: str, *, required: bool = False) -> list[dict[str, Any]]:
    items = data.get(key) or []
    if required and not items:
        raise ValueError(f"{where}: '{key}' must list at least one entry")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"{where}: '{key}' must be a list of mappings")
    return items


def _int(raw: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = raw.get(key, default)
    if value is None or isinstance(value, bool):
        raise ValueError(f"{where}: {key}={value!r} in {raw!r}; an integer is required")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key}={value!r} in {raw!r} is not an integer") from None


def _rate(raw: dict[str, Any], key: str, where: str, default: float) -> float:
    value = float(raw.get(key, default))
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{where}: {key}={value!r} must be a probability between 0 and 1")
    return value
