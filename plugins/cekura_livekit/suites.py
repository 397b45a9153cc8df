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
    #: The most runs (paid calls) one batch of this suite may place, manual runs included.
    max_runs: int = 200
    livekit_agent_name: str | None = None
    personality_ids: tuple[int, ...] = ()
    test_profile_ids: tuple[int, ...] = ()
    cekura_conn_id: str = "cekura_default"
    livekit_conn_id: str = "livekit_default"
    #: None: the deployment-wide warehouse (CEKURA_WAREHOUSE_CONN_ID, default cekura_warehouse).
    warehouse_conn_id: str | None = None
    scenario_groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    #: Scenario ids that still run and are stored, but do not fail the gate or alert.
    quarantine: tuple[int, ...] = ()

    @property
    def dag_id(self) -> str:
        return f"cekura_regression_{self.suite}"


#: Keys a suite file may use: exactly the Suite fields a person writes (`source` is the file name).
_KNOWN_KEYS = frozenset(f.name for f in fields(Suite)) - {"source"}


class _Problem(ValueError):
    """One key's problem, before the file name is known to the message."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"key '{key}': {problem}")


def _int_list(key: str, value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    )
    if not ok:
        raise _Problem(key, f"{value!r} must be a list of integer ids, e.g. [1001, 1002] (ids are positive)")
    return tuple(value)


def _str_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Problem(key, f"{value!r} must be a list of non-empty strings")
    return tuple(value)


def _number(key: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> Any:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not lo <= value <= hi:
        what = "an integer" if integer else "a number"
        raise _Problem(key, f"{value!r} must be {what} between {lo:g} and {hi:g}")
    return value


def _suite_id(value: Any) -> str:
    if not isinstance(value, str) or not _SUITE_ID.match(value):
        raise _Problem("suite", f"{value!r} must be lower-case letters, digits and underscores")
    return value


def _agent(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _Problem("agent", f"{value!r} must be the Cekura agent's integer id")
    return value


def _mode(value: Any) -> str:
    if value not in MODES:
        raise _Problem("mode", f"{value!r} is not one of {', '.join(MODES)}")
    return str(value)


def _fail_on(value: Any) -> tuple[str, ...]:
    items = _str_list("fail_on", value)
    bad = [f for f in items if f not in FAIL_ON]
    if bad:
        raise _Problem("fail_on", f"{bad[0]!r} is not one of {', '.join(FAIL_ON)}")
    return items


def _schedule(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _Problem("schedule", f"{value!r} must be a cron string, a preset like '@daily', or null")
    if isinstance(value, str) and not value.startswith("@"):
        from croniter import croniter

        if not croniter.is_valid(value):
            raise _Problem(
                "schedule", f"{value!r} is not a valid cron expression, e.g. '0 3 * * *' or '@daily'"
            )
    return value


def _start_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _Problem("start_date", f"{value!r} must be a date like 2026-11-01") from None


def _groups(value: Any) -> dict[str, tuple[int, ...]]:
    if not isinstance(value, Mapping):
        raise _Problem("scenario_groups", "must map a group name to a list of scenario ids")
    return {str(name): _int_list(f"scenario_groups.{name}", ids) for name, ids in value.items()}


def _conn(key: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise _Problem(key, f"{value!r} must be an Airflow connection id, e.g. 'cekura_default'")
        return value

    return check


#: One validator per key a person writes; a key that is absent keeps the Suite default.
_FIELDS: dict[str, Any] = {
    "suite": _suite_id,
    "agent": _agent,
    "mode": _mode,
    "description": lambda v: str(v or ""),
    "frequency": lambda v: _number("frequency", v, 1, 100, integer=True),
    "schedule": _schedule,
    "start_date": _start_date,
    "min_success_rate": lambda v: None if v is None else float(_number("min_success_rate", v, 0, 1)),
    "fail_on": _fail_on,
    "tags": lambda v: _str_list("tags", v) if v else (),
    "owners": lambda v: _str_list("owners", v),
    "poll_interval": lambda v: float(_number("poll_interval", v, 0.1, 3600)),
    "timeout_minutes": lambda v: _number("timeout_minutes", v, 1, 24 * 60, integer=True),
    "retries": lambda v: _number("retries", v, 0, 10, integer=True),
    "max_runs": lambda v: _number("max_runs", v, 1, 10_000, integer=True),
    "livekit_agent_name": lambda v: None if v is None else _str_list("livekit_agent_name", v)[0],
    "personality_ids": lambda v: _int_list("personality_ids", v),
    "test_profile_ids": lambda v: _int_list("test_profile_ids", v),
    "cekura_conn_id": _conn("cekura_conn_id"),
    "livekit_conn_id": _conn("livekit_conn_id"),
    "warehouse_conn_id": lambda v: None if v is None else _conn("warehouse_conn_id")(v),
    "scenario_groups": _groups,
    "scenarios": lambda v: _int_list("scenarios", v),
    "quarantine": lambda v: _int_list("quarantine", v) if v else (),
}


def _checked_keys(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every key through its validator: (the good values, every problem) — all at once, not the first."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    unknown = sorted(set(data) - _KNOWN_KEYS)
    problems += [
        f"key '{k}': unknown key; allowed keys are: {', '.join(sorted(_KNOWN_KEYS))}" for k in unknown
    ]
    problems += [f"key '{k}': is required" for k in ("suite", "agent") if k not in data]
    for key, validate in _FIELDS.items():
        if key in data:
            try:
                values[key] = validate(data[key])
            except _Problem as exc:
                problems.append(str(exc))
    return values, problems


def _cross_checks(values: dict[str, Any]) -> list[str]:
    problems = []
    scenarios = list(values.get("scenarios", ()))
    for ids in values.get("scenario_groups", {}).values():
        scenarios.extend(i for i in ids if i not in scenarios)
    values["scenarios"] = tuple(scenarios)
    if not scenarios:
        problems.append(
            "key 'scenarios': no scenarios: give 'scenarios' or 'scenario_groups' with at least one id"
        )
    combos = len(values.get("personality_ids") or [0]) * len(values.get("test_profile_ids") or [0])
    runs = len(scenarios) * values.get("frequency", 1) * combos
    if runs > values.get("max_runs", 200):
        problems.append(
            f"key 'max_runs': the suite places {runs} runs a night, more than max_runs="
            f"{values.get('max_runs', 200)}: lower frequency or scenarios, or raise max_runs if intended"
        )
    mode = values.get("mode", "managed")
    if mode != "managed" and not values.get("livekit_agent_name"):
        problems.append(f"key 'livekit_agent_name': is required in mode {mode!r} (the agent to dispatch)")
    return problems


def parse_suite(data: Any, source: str) -> Suite:
    """Validate one suite document; raise SuiteConfigError naming the file, and every problem in it."""
    if not isinstance(data, Mapping):
        raise SuiteConfigError(f"{source}: the file must hold a mapping of keys (suite, agent, scenarios, …)")
    values, problems = _checked_keys(data)
    problems += _cross_checks(values)
    if problems:
        raise SuiteConfigError("; ".join(f"{source}: {p}" for p in problems))
    return Suite(source=source, **values)


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


def load_suites_by_file(folder: Path, pattern: str = "*.yaml") -> tuple[list[Suite], dict[Path, str]]:
    """Like `load_suites`, but each problem keyed by its file, so one bad file takes down only its own DAG."""
    suites, errors = load_suites(folder, pattern)
    by_name = {p.name: p for p in sorted(folder.glob(pattern))}
    broken: dict[Path, str] = {}
    for message in errors:
        name = message.split(":", 1)[0]
        path = by_name.get(name, folder / name)
        broken[path] = f"{broken[path]}; {message}" if path in broken else message
    return suites, broken
