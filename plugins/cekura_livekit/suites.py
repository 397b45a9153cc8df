"""Regression suites declared in YAML (`include/suites/*.yaml` or `*.yml`): one DAG per suite.

A suite file is configuration written by people, so every problem is reported as
"<file>: key '<key>': <problem>" with the fix, never as a stack trace from deep inside. The rules are the
operator's own (`batch.spec.build_spec` runs on every suite), plus what only a file can get wrong: YAML,
unknown or duplicated keys, the schedule (checked by Airflow's own timetable), a suite id used twice.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from cekura_livekit.batch.spec import DEFAULT_MAX_RUNS, MAX_FREQUENCY, build_spec
from cekura_livekit.models import FAIL_ON_CHOICES as FAIL_ON
from cekura_livekit.models import MODES, submission_mode

_SUITE_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")
#: Suite file names read from the suites folder; `.yml` too: a file a person named so is meant as a suite.
SUITE_PATTERNS: tuple[str, ...] = ("*.yaml", "*.yml")
#: Presets Airflow accepts besides cron expressions (`@continuous` is refused: see `_schedule`).
SCHEDULE_PRESETS: tuple[str, ...] = (
    "@once",
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "@annually",
)


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
    max_runs: int = DEFAULT_MAX_RUNS
    #: Refuse a batch estimated above this many Cekura credits (None: no budget; batch/cost.py).
    max_credits: float | None = None
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

    def run_arguments(self) -> dict[str, Any]:
        """The run operator's arguments this suite sets: what the regression DAG passes, and what
        `build_spec` checks when the file is read (so a suite the operator would refuse is a broken file,
        not an exception while the DAG file imports)."""
        own_rooms = submission_mode(self.mode).owns_rooms
        return {
            "mode": self.mode,
            "scenarios": list(self.scenarios),
            "agent": self.agent,
            "frequency": self.frequency,
            "personality_ids": list(self.personality_ids) or None,
            "test_profile_ids": list(self.test_profile_ids) or None,
            "cekura_conn_id": self.cekura_conn_id,
            "livekit_conn_id": self.livekit_conn_id if own_rooms else None,
            "livekit_agent_name": self.livekit_agent_name,
            "deferrable": True,
            "poll_interval": self.poll_interval,
            "timeout": timedelta(minutes=self.timeout_minutes),
            "min_success_rate": self.min_success_rate,
            "fail_on": list(self.fail_on),
            "quarantine": list(self.quarantine) or None,
            "max_runs": self.max_runs,
            "max_credits": self.max_credits,
        }


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


def _text(key: str, value: str) -> str:
    """A string that can be stored: YAML's "\\udc80" escape gives a lone surrogate, which no UTF-8 write takes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Problem(
            key, f"{value!r} holds a lone surrogate (not valid Unicode): retype the text"
        ) from None
    return value


def _str_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Problem(key, f"{value!r} must be a list of non-empty strings")
    if any(unicodedata.category(c) == "Cc" for v in value for c in v):  # a newline or NUL in a tag or owner
        raise _Problem(key, f"{value!r} holds a control character (a newline, a tab, NUL): one line each")
    return tuple(_text(key, v) for v in value)


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


_SCHEDULE_FIX = f"use a cron expression like '0 3 * * *', one of {', '.join(SCHEDULE_PRESETS)}, or null"


def _schedule(value: Any) -> str | None:
    """Checked the way Airflow will check it (its own cron timetable), so a typo like '@dailly' breaks
    only this file, not the DAG file that holds every suite."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Problem("schedule", f"{value!r} is not a schedule: {_SCHEDULE_FIX}")
    if value == "@continuous":
        raise _Problem(
            "schedule",
            "'@continuous' would start a new paid batch as soon as the last one ends: " + _SCHEDULE_FIX,
        )
    if value == "@once":
        return value
    try:
        from airflow.timetables.trigger import CronTriggerTimetable

        CronTriggerTimetable(value, timezone="UTC").validate()
    except Exception as exc:
        near = difflib.get_close_matches(value, SCHEDULE_PRESETS, n=1) if value.startswith("@") else []
        hint = f"did you mean {near[0]!r}? " if near else ""
        kind = "is not a preset Airflow knows" if value.startswith("@") else "is not a valid cron expression"
        raise _Problem("schedule", f"{value!r} {kind} ({exc}): {hint}{_SCHEDULE_FIX}") from None
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
    "description": lambda v: _text("description", str(v or "")),
    "frequency": lambda v: _number("frequency", v, 1, MAX_FREQUENCY, integer=True),
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
    "max_credits": lambda v: None if v is None else float(_number("max_credits", v, 0.01, 10_000_000)),
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
    """What a file alone can get wrong across keys: no scenarios, a quarantine of scenarios it does not run."""
    problems = []
    scenarios = list(values.get("scenarios", ()))
    for ids in values.get("scenario_groups", {}).values():
        scenarios.extend(i for i in ids if i not in scenarios)
    values["scenarios"] = tuple(scenarios)
    if not scenarios:
        problems.append(
            "key 'scenarios': no scenarios: give 'scenarios' or 'scenario_groups' with at least one id"
        )
    stray = [i for i in values.get("quarantine", ()) if i not in scenarios]
    if scenarios and stray:
        problems.append(
            f"key 'quarantine': {stray} {'is' if len(stray) == 1 else 'are'} not among the suite's scenarios "
            f"{scenarios}: fix the id (a typo quarantines nothing) or add the scenario"
        )
    return problems


#: Operator argument → the suite key a person writes (where they differ).
_SUITE_KEY = {"timeout": "timeout_minutes"}
_LEADING_WORD = re.compile(r"^([a-z_]+)\b")
_ASSIGNED = re.compile(r"\b([a-z_]+)=")


def _key_of(message: str, arguments: Mapping[str, Any]) -> str:
    """The argument a spec message is about: the one it starts with, else the first one it shows as `x=`."""
    lead = _LEADING_WORD.match(message)
    if lead and lead.group(1) in arguments:
        return lead.group(1)
    return next((m.group(1) for m in _ASSIGNED.finditer(message) if m.group(1) in arguments), "mode")


def _operator_problem(values: dict[str, Any], source: str) -> str | None:
    """Every rule the run operator applies (one validator set, `build_spec`), as this file's problem."""
    # A key already reported as bad is replaced by a harmless stand-in, so the other rules still run.
    stand_ins = {"suite": "suite", "agent": 1}
    try:
        arguments = Suite(**{**stand_ins, **values, "source": source}).run_arguments()
        build_spec(arguments, strict=True)
    except ValueError as exc:
        message = str(exc)
        key = _key_of(message, arguments)
        text = message[len(key) :].lstrip(" ") if message.startswith(f"{key} ") else message
        return f"key '{_SUITE_KEY.get(key, key)}': {text}"
    return None


def parse_suite(data: Any, source: str) -> Suite:
    """Validate one suite document; raise SuiteConfigError naming the file, and every problem in it."""
    if not isinstance(data, Mapping):
        raise SuiteConfigError(f"{source}: the file must hold a mapping of keys (suite, agent, scenarios, …)")
    values, problems = _checked_keys(data)
    problems += _cross_checks(values)
    if values["scenarios"]:
        operator = _operator_problem(values, source)
        problems += [operator] if operator and operator not in problems else []
    if problems:
        raise SuiteConfigError("; ".join(f"{source}: {p}" for p in problems))
    return Suite(source=source, **values)


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice (PyYAML keeps the last value silently)."""


def _no_duplicate_keys(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str | int | float | bool | None):
            continue  # an unhashable key (`? [a, b]`): the key check reports it as unknown
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} appears twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1}); "
                "only one value can be meant: keep one",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def load_suite_file(path: Path) -> Suite:
    source = path.name
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SuiteConfigError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise SuiteConfigError(f"{source}: cannot be read as UTF-8 text ({exc}): save it as UTF-8") from None
    except RecursionError:
        raise SuiteConfigError(f"{source}: nested too deeply to be a suite file") from None
    return parse_suite(data, source)


def suite_files(folder: Path) -> list[Path]:
    """The suite files of `folder` (`*.yaml` and `*.yml`), sorted by name: the order duplicates are ruled in."""
    return sorted({p for pattern in SUITE_PATTERNS for p in folder.glob(pattern) if p.is_file()})


def _claims(suites: list[Suite]) -> dict[str, Suite]:
    """Who keeps a suite id that several files claim: the file named after the id (``<suite>.yaml``,
    the convention: a copy made to start a new suite is the newcomer), else the first by file name.
    Deterministic, so the winner does not change between parses or machines (mtimes do)."""
    owner: dict[str, Suite] = {}
    for suite in sorted(suites, key=lambda s: (Path(s.source).stem != s.suite, s.source)):
        owner.setdefault(suite.suite, suite)
    return owner


def load_suites_by_file(folder: Path) -> tuple[list[Suite], dict[Path, str]]:
    """Every good suite, and each problem keyed by its file: one bad file takes down only its own DAG."""
    parsed: list[Suite] = []
    broken: dict[Path, str] = {}
    for path in suite_files(folder):
        try:
            parsed.append(load_suite_file(path))
        except SuiteConfigError as exc:
            broken[path] = str(exc)
    owner = _claims(parsed)
    suites = [s for s in parsed if owner[s.suite] is s]
    for suite in parsed:
        if owner[suite.suite] is not suite:
            broken[folder / suite.source] = (
                f"{suite.source}: key 'suite': {suite.suite!r} is already used by "
                f"{owner[suite.suite].source}, which keeps it: give this file its own suite id"
            )
    return suites, dict(sorted(broken.items()))


def load_suites(folder: Path) -> tuple[list[Suite], list[str]]:
    """Every suite in `folder`, plus one message per malformed file (so all problems show at once)."""
    suites, broken = load_suites_by_file(folder)
    return suites, list(broken.values())


def raise_for_errors(errors: Iterable[str]) -> None:
    problems = list(errors)
    if problems:
        raise SuiteConfigError("Malformed suite file(s):\n  " + "\n  ".join(problems))
