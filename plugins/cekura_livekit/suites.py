"""Regression suites declared in YAML (`include/suites/*.yaml`): one DAG per suite.

A suite file is configuration written by people, so every problem is reported as
"<file>: key '<key>': <problem>" with the fix, never as a stack trace from deep inside.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from cekura_livekit.models import FAIL_ON_CHOICES as FAIL_ON
from cekura_livekit.models import MODES

_SUITE_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")


class SuiteConfigError(ValueError):
    """A suite file is malformed; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Suite:
    """One validated regression suite."""

    suite: str
    source: str
    agent: int
    scenarios: tuple[int, ...]
    mode: str = "managed"
    description: str = ""
    frequency: int = 1
    schedule: str | None = "@daily"
    start_date: date = date(2026, 1, 1)
    min_success_rate: float | None = None
    fail_on: tuple[str, ...] = FAIL_ON
    tags: tuple[str, ...] = ()
    owners: tuple[str, ...] = ("cekura",)
    poll_interval: float = 30.0
    timeout_minutes: int = 120
    retries: int = 2
    livekit_agent_name: str | None = None
    personality_ids: tuple[int, ...] = ()
    test_profile_ids: tuple[int, ...] = ()
    cekura_conn_id: str = "cekura_default"
    livekit_conn_id: str = "livekit_default"
    #: None: the deployment-wide warehouse (CEKURA_WAREHOUSE_CONN_ID, default cekura_warehouse).
    warehouse_conn_id: str | None = None
    scenario_groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def dag_id(self) -> str:
        return f"cekura_regression_{self.suite}"


#: Keys a suite file may use: exactly the Suite fields a person writes (`source` is the file name).
_KNOWN_KEYS = frozenset(f.name for f in fields(Suite)) - {"source"}


def _fail(source: str, key: str, problem: str) -> SuiteConfigError:
    return SuiteConfigError(f"{source}: key '{key}': {problem}")


def _int_list(source: str, key: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise _fail(source, key, f"{value!r} must be a list of integer ids, e.g. [1001, 1002]")
    return tuple(value)


def _str_list(source: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(source, key, f"{value!r} must be a list of non-empty strings")
    return tuple(value)


def _number(source: str, key: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> Any:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not lo <= value <= hi:
        what = "an integer" if integer else "a number"
        raise _fail(source, key, f"{value!r} must be {what} between {lo:g} and {hi:g}")
    return value


def parse_suite(data: Any, source: str) -> Suite:
    """Validate one suite document; raise SuiteConfigError naming the first problem found."""
    if not isinstance(data, Mapping):
        raise SuiteConfigError(f"{source}: the file must hold a mapping of keys (suite, agent, scenarios, …)")
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise _fail(source, unknown[0], f"unknown key; allowed keys are: {', '.join(sorted(_KNOWN_KEYS))}")
    for required in ("suite", "agent"):
        if required not in data:
            raise _fail(source, required, "is required")
    suite_id = data["suite"]
    if not isinstance(suite_id, str) or not _SUITE_ID.match(suite_id):
        raise _fail(source, "suite", f"{suite_id!r} must be lower-case letters, digits and underscores")
    agent = data["agent"]
    if isinstance(agent, bool) or not isinstance(agent, int) or agent <= 0:
        raise _fail(source, "agent", f"{agent!r} must be the Cekura agent's integer id")

    groups = {}
    raw_groups = data.get("scenario_groups") or {}
    if not isinstance(raw_groups, Mapping):
        raise _fail(source, "scenario_groups", "must map a group name to a list of scenario ids")
    for name, ids in raw_groups.items():
        groups[str(name)] = _int_list(source, f"scenario_groups.{name}", ids)
    scenarios = list(_int_list(source, "scenarios", data["scenarios"])) if "scenarios" in data else []
    for ids in groups.values():
        scenarios.extend(i for i in ids if i not in scenarios)
    if not scenarios:
        raise _fail(
            source, "scenarios", "no scenarios: give 'scenarios' or 'scenario_groups' with at least one id"
        )

    mode = data.get("mode", "managed")
    if mode not in MODES:
        raise _fail(source, "mode", f"{mode!r} is not one of {', '.join(MODES)}")
    if mode != "managed" and not data.get("livekit_agent_name"):
        raise _fail(source, "livekit_agent_name", f"is required in mode {mode!r} (the agent to dispatch)")
    frequency = _number(source, "frequency", data.get("frequency", 1), 1, 100, integer=True)
    rate = data.get("min_success_rate")
    if rate is not None:
        rate = float(_number(source, "min_success_rate", rate, 0, 1))
    fail_on = _str_list(source, "fail_on", data.get("fail_on", list(FAIL_ON)))
    bad = [f for f in fail_on if f not in FAIL_ON]
    if bad:
        raise _fail(source, "fail_on", f"{bad[0]!r} is not one of {', '.join(FAIL_ON)}")
    schedule = data.get("schedule", "@daily")
    if schedule is not None and not isinstance(schedule, str):
        raise _fail(
            source, "schedule", f"{schedule!r} must be a cron string, a preset like '@daily', or null"
        )
    start = data.get("start_date", date(2026, 1, 1))
    if isinstance(start, datetime):
        start = start.date()
    if not isinstance(start, date):
        try:
            start = date.fromisoformat(str(start))
        except ValueError:
            raise _fail(source, "start_date", f"{start!r} must be a date like 2026-11-01") from None

    return Suite(
        suite=suite_id,
        source=source,
        agent=agent,
        scenarios=tuple(scenarios),
        mode=mode,
        description=str(data.get("description") or ""),
        frequency=frequency,
        schedule=schedule,
        start_date=start,
        min_success_rate=rate,
        fail_on=fail_on,
        tags=_str_list(source, "tags", data.get("tags", [])) if data.get("tags") else (),
        owners=_str_list(source, "owners", data.get("owners", ["cekura"])),
        poll_interval=float(_number(source, "poll_interval", data.get("poll_interval", 30), 0.1, 3600)),
        timeout_minutes=_number(
            source, "timeout_minutes", data.get("timeout_minutes", 120), 1, 24 * 60, integer=True
        ),
        retries=_number(source, "retries", data.get("retries", 2), 0, 10, integer=True),
        livekit_agent_name=data.get("livekit_agent_name"),
        personality_ids=_int_list(source, "personality_ids", data["personality_ids"])
        if "personality_ids" in data
        else (),
        test_profile_ids=_int_list(source, "test_profile_ids", data["test_profile_ids"])
        if "test_profile_ids" in data
        else (),
        cekura_conn_id=str(data.get("cekura_conn_id", "cekura_default")),
        livekit_conn_id=str(data.get("livekit_conn_id", "livekit_default")),
        warehouse_conn_id=str(data["warehouse_conn_id"]) if data.get("warehouse_conn_id") else None,
        scenario_groups=groups,
    )


def load_suite_file(path: Path) -> Suite:
    source = path.name
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SuiteConfigError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_suite(data, source)


def load_suites(folder: Path, pattern: str = "*.yaml") -> tuple[list[Suite], list[str]]:
    """Every suite in `folder`, plus one message per malformed file (so all problems show at once)."""
    suites: list[Suite] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob(pattern)):
        try:
            suite = load_suite_file(path)
        except SuiteConfigError as exc:
            errors.append(str(exc))
            continue
        if suite.suite in seen:
            errors.append(f"{path.name}: key 'suite': {suite.suite!r} is already used by {seen[suite.suite]}")
            continue
        seen[suite.suite] = path.name
        suites.append(suite)
    return suites, errors


def raise_for_errors(errors: Iterable[str]) -> None:
    problems = list(errors)
    if problems:
        raise SuiteConfigError("Malformed suite file(s):\n  " + "\n  ".join(problems))
