"""Bad operator and sensor arguments: every numeric argument fed NaN, infinities, negatives, huge values and
strings; string booleans; non-ASCII digits; lone surrogates and control characters in names.

Literal arguments are checked where a DAG author meets them (construction, then the strict spec the task
would build); rendered ones (Jinja) are executed against the sandbox with wait_for_completion=False, so an
accepted value shows as a submit (a side effect) and nothing waits on a broken clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tests.reliability.case import RUNS, Case, Env

AREA = "operator argument"
SENSOR = "sensor argument"
LOAD = "load operator argument"
NAN, INF = math.nan, math.inf
HUGE = 10**30
SUPERSCRIPT_TWO = "²"  # str.isdigit() says yes, int() says no
ARABIC_THREE = "٣"  # Arabic-Indic digit three: int() reads it as 3, a person sees no number
BYO = {"mode": "bring_your_own_rooms", "livekit_conn_id": "livekit_default", "livekit_agent_name": "acme"}
#: Why a numeric string may be accepted: templates render every value as text.
TEMPLATED_TEXT = "templates render values as text, so a clean numeric string is the number it spells"


def operator(**kwargs: Any) -> Any:
    from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator

    return CekuraRunLiveKitScenariosOperator(**{"task_id": "t", "scenarios": [2001], "agent": 101, **kwargs})


def _spec_value(field: str, **kwargs: Any) -> Callable[[Env], Any]:
    """Construct, then build the strict spec the task would run with; return what the field became."""

    def run(env: Env) -> Any:
        op = operator(**kwargs)
        spec = op._spec(strict=True)
        if "[" in field:  # hook_params['timeout']
            outer, inner = field.rstrip("']").split("['")
            return getattr(spec, outer).get(inner)
        return getattr(spec, field) if hasattr(spec, field) else getattr(op, field)

    return run


def execute(**kwargs: Any) -> Callable[[Env], Any]:
    """Construct with templates, then 'render' the bad values and execute against the sandbox."""

    def run(env: Env) -> Any:
        from cekura_livekit.batch.spec import TEMPLATED_ARGUMENTS
        from tests.support.task_context import FakeTI, MemoryStateStore, make_context

        rendered = {k: v for k, v in kwargs.items() if isinstance(v, str) and k in TEMPLATED_ARGUMENTS}
        args = {"wait_for_completion": False, **kwargs, **dict.fromkeys(rendered, "{{ params.x }}")}
        op = operator(**args)
        for key, value in rendered.items():
            setattr(op, key, value)
        # A task instance of its own per case: the same one would re-attach to the previous case's batch.
        ti = FakeTI(run_id=f"inventory__{next(RUNS)}")
        return op.execute(make_context(ti=ti, store=MemoryStateStore()))

    return run


def validation_cases() -> list[Case]:
    """The operator's own validation table (tests/operators), measured here as well."""
    from tests.operators.test_run_scenarios_validation import CASES

    return [Case(AREA, name, _construct(kwargs), (field,)) for name, kwargs, field in CASES]


def _construct(kwargs: dict[str, Any]) -> Callable[[Env], Any]:
    return lambda env: operator(**kwargs)


def rendered_cases() -> list[Case]:
    cases = [
        Case(AREA, f"rendered {field}={value!r}", execute(**{field: value}), (field,))
        for field, value in [
            ("scenarios", "[]"),
            ("scenarios", "2001, x"),
            ("frequency", "0"),
            ("frequency", "500"),
            ("agent", "acme"),
            ("min_success_rate", "1.5"),
        ]
    ]
    cases += [
        Case(
            AREA,
            "rendered scenarios='[2001, 2002, 2003, 2004, 2005, 2006]'",
            execute(scenarios="[2001, 2002, 2003, 2004, 2005, 2006]"),
            ("scenarios",),
            accepted_ok="a valid list of six ids: the control case of the rendered inputs",
        ),
        Case(
            AREA,
            "rendered frequency=100 × 3 scenarios (above max_runs)",
            execute(scenarios="[2001, 2002, 2004]", frequency="100"),
            ("max_runs", "300"),
        ),
        Case(
            AREA,
            "hook_params retry_limit='5'",
            _spec_value("hook_params", hook_params={"retry_limit": "5"}),
            ("retry_limit",),
            accepted_ok=TEMPLATED_TEXT,
        ),
    ]
    # Non-ASCII digits and odd numbers arriving through templates (a form, a suite's params).
    cases += [
        Case(AREA, f"rendered {field}={value!r}", execute(**{field: value}), (field, value), issue=issue)
        for field, value, issue in [
            ("agent", SUPERSCRIPT_TWO, "24.7"),
            ("agent", ARABIC_THREE, "24.7"),
            ("scenarios", SUPERSCRIPT_TWO, "24.7"),
            ("scenarios", f'[2001, "{ARABIC_THREE}"]', "24.7"),
            ("frequency", SUPERSCRIPT_TWO, "24.7"),
            ("frequency", ARABIC_THREE, "24.7"),
            ("frequency", "2.5", ""),
            ("frequency", "1e2", ""),
            ("min_success_rate", "nan", "24.7"),
            ("min_success_rate", "inf", ""),
            ("min_success_rate", "-0.5", ""),
        ]
    ]
    return cases


#: (field, value, issue) for arguments checked at construction: NaN / inf / negative / huge / text.
NUMERIC: list[tuple[str, Any, str]] = [
    ("poll_interval", NAN, "24.7"),
    ("poll_interval", INF, "24.7"),
    ("poll_interval", -INF, ""),
    ("poll_interval", float(HUGE), "24.7"),
    ("poll_interval", "30", ""),
    ("timeout", NAN, "24.7"),
    ("timeout", INF, "24.7"),
    ("timeout", -0.001, ""),
    ("timeout", "3600", ""),
    ("timeout", timedelta(days=-1), ""),
    ("frequency", NAN, "24.7"),
    ("frequency", INF, "24.7"),
    ("frequency", 2.5, ""),
    ("frequency", HUGE, ""),
    ("frequency", -1, ""),
    ("max_runs", NAN, "24.7"),
    ("max_runs", INF, "24.7"),
    ("max_runs", -1, ""),
    ("max_runs", SUPERSCRIPT_TWO, "24.7"),
    ("max_runs", HUGE, "24.7"),
    ("min_success_rate", NAN, "24.7"),
    ("min_success_rate", INF, ""),
    ("min_success_rate", -INF, ""),
    ("agent", NAN, ""),
    ("agent", 101.0, ""),
    ("agent", -101, ""),
    ("agent", SUPERSCRIPT_TWO, "24.7"),
    ("agent", ARABIC_THREE, "24.7"),
    ("scenarios", [SUPERSCRIPT_TWO], "24.7"),
    ("scenarios", [NAN], ""),
    ("scenarios", [HUGE], "24.7"),
    ("frequency", SUPERSCRIPT_TWO, "24.7"),
    ("concurrency_limit", NAN, ""),
    ("concurrency_limit", 0, ""),
    ("concurrency_limit", "-2", ""),
    ("personality_ids", [NAN], ""),
    ("test_profile_ids", [ARABIC_THREE], "24.7"),
    ("quarantine", [SUPERSCRIPT_TWO], "24.7"),
]
#: The same, for the bring-your-own-rooms arguments (only meaningful in that mode).
NUMERIC_BYO: list[tuple[str, Any, str]] = [
    ("room_empty_timeout", NAN, ""),
    ("room_empty_timeout", HUGE, "24.7"),
    ("room_empty_timeout", SUPERSCRIPT_TWO, "24.7"),
    ("room_max_participants", INF, ""),
    ("room_max_participants", ARABIC_THREE, "24.7"),
    ("room_concurrency", NAN, ""),
    ("room_concurrency", 0, ""),
    ("token_ttl", NAN, "24.7"),
    ("token_ttl", INF, "24.7"),
    ("token_ttl", 0, ""),
]
HOOK: list[tuple[str, Any, str]] = [
    ("timeout", NAN, "24.7"),
    ("timeout", INF, "24.7"),
    ("retry_delay", NAN, "24.7"),
    ("retry_delay", -1, ""),
    ("retry_max_delay", INF, "24.7"),
    ("max_retry_after", NAN, "24.7"),
    ("retry_limit", 21, ""),
    ("retry_limit", NAN, ""),
    ("retry_limit", SUPERSCRIPT_TWO, "24.7"),
]
#: Flags given as strings: 'false' is truthy in Python, so a string must be refused, never guessed.
FLAGS: list[tuple[str, Any, str]] = [
    ("deferrable", "false", "24.7"),
    ("deferrable", "true", "24.7"),
    ("deferrable", 0, "24.7"),
    ("wait_for_completion", "no", ""),
    ("cancel_on_kill", "false", ""),
    ("per_run_progress", 1, ""),
]
#: Names with lone surrogates and control characters (they reach logs, rooms, the warehouse).
NAMES: list[tuple[str, dict[str, Any], str, str]] = [
    ("name", {"name": "nightly\ud800"}, "name", "24.7"),
    ("name", {"name": "night\x00ly"}, "name", "24.7"),
    ("name", {"name": "nightly\nINFO forged log line"}, "name", "24.7"),
    ("name", {"name": "\x1b[31mred"}, "name", "24.7"),
    ("livekit_agent_name", {**BYO, "livekit_agent_name": "acme\ud800"}, "livekit_agent_name", "24.7"),
    ("livekit_agent_name", {**BYO, "livekit_agent_name": "ac\x00me"}, "livekit_agent_name", "24.7"),
    ("mock_tool_names", {"mock_tool_names": ["look\ud800up"]}, "mock_tool_names", "24.7"),
    ("mode", {"mode": "Managed"}, "mode", ""),
    ("mode", {"mode": "managed "}, "mode", ""),
    ("fail_on", {"fail_on": "infra_error,,timeout"}, "fail_on", ""),
    ("cekura_conn_id", {"cekura_conn_id": "cekura\x00default"}, "cekura_conn_id", "24.7"),
]


#: Accepted on purpose: a forgiving reading that cannot surprise (the table shows what it became).
ACCEPTED_NAMES = {
    "'infra_error,,timeout'": "empty items between commas are dropped; every choice left is valid"
}


def construction_cases() -> list[Case]:
    cases = [
        Case(AREA, f"{field}={value!r}", _spec_value(field, **{field: value}), (field,), issue=issue)
        for field, value, issue in NUMERIC
    ]
    cases += [
        Case(AREA, f"{field}={value!r} (byo)", _spec_value(field, **BYO, **{field: value}), (field,), issue=i)
        for field, value, i in NUMERIC_BYO
    ]
    cases += [
        Case(
            AREA,
            f"hook_params {key}={value!r}",
            _spec_value(f"hook_params['{key}']", hook_params={key: value}),
            (key,),
            issue=issue,
        )
        for key, value, issue in HOOK
    ]
    cases += [
        Case(AREA, f"{field}={value!r}", _spec_value(field, **{field: value}), (field,), issue=issue)
        for field, value, issue in FLAGS
    ]
    cases += [
        Case(
            AREA,
            f"{label}={kwargs[label]!r}",
            _spec_value(label, **kwargs),
            (field,),
            issue=issue,
            accepted_ok=ACCEPTED_NAMES.get(repr(kwargs[label]), ""),
        )
        for label, kwargs, field, issue in NAMES
    ]
    return cases


#: BaseOperator's own arguments (Airflow core validates them, the provider passes them through).
CORE = "Airflow core argument"
CORE_OK = "BaseOperator's own argument: Airflow core takes it as shown; the provider does not re-validate core arguments"
CORE_ARGS: list[tuple[str, Any]] = [
    ("retries", NAN),
    ("retries", INF),
    ("retries", -1),
    ("retries", "3"),
    ("retries", SUPERSCRIPT_TWO),
    ("retries", ARABIC_THREE),
    ("retries", HUGE),
    ("execution_timeout", NAN),
    ("retry_delay", NAN),
    ("retry_delay", -5),
    ("retry_exponential_backoff", "false"),
]


def core_cases() -> list[Case]:
    return [
        Case(CORE, f"{field}={value!r}", _spec_value(field, **{field: value}), (field,), accepted_ok=CORE_OK)
        for field, value in CORE_ARGS
    ]


# ------------------------------------------------------------------------------------------ sensor
def _sensor(kwargs: dict[str, Any], *, check_target: bool = False) -> Callable[[Env], Any]:
    """Construct the sensor; with check_target, also resolve what its first poke would wait on."""

    def run(env: Env) -> Any:
        from cekura_livekit.sensors.runs import CekuraRunsSensor

        sensor = CekuraRunsSensor(**{"task_id": "wait", "result_id": 5, **kwargs})
        if check_target:
            return sensor._target()
        key = next(iter(kwargs))
        return getattr(sensor, key)

    return run


def sensor_cases() -> list[Case]:
    cases = [
        Case(SENSOR, f"{field}={value!r}", _sensor({field: value}), (field,), issue=issue)
        for field, value, issue in [
            ("poke_interval", NAN, "24.7"),
            ("poke_interval", INF, "24.7"),
            ("poke_interval", -1, ""),
            ("poke_interval", "60", ""),
            ("timeout", NAN, "24.7"),
            ("timeout", -INF, ""),
            ("min_success_rate", NAN, "24.7"),
            ("min_success_rate", 90, ""),
            ("deferrable", "false", "24.7"),
            ("cancel_on_timeout", "no", "24.7"),
            ("fail_on", ["flaky"], ""),
            ("mode", "rescheduled", ""),
        ]
    ]
    cases += [
        Case(SENSOR, f"{field}={value!r}", _sensor({field: value}, check_target=True), (field,), issue=issue)
        for field, value, issue in [
            ("result_id", SUPERSCRIPT_TWO, "24.7"),
            ("result_id", ARABIC_THREE, "24.7"),
            ("result_id", "5; DROP", ""),
            ("result_id", True, ""),
            ("run_ids", f"1,{SUPERSCRIPT_TWO}", "24.7"),
            ("run_ids", [1.5], ""),
        ]
    ]
    return cases


# ------------------------------------------------------------------------------------------ load operator
def _load(**kwargs: Any) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator

        op = CekuraResultsToWarehouseOperator(
            **{"task_id": "load", "result_id": 1, "warehouse_conn_id": "wh", **kwargs}
        )
        return getattr(op, next(iter(kwargs)))

    return run


def load_cases() -> list[Case]:
    return [
        Case(LOAD, f"{field}={value!r}", _load(**{field: value}), (field,), issue=issue)
        for field, value, issue in [
            ("trailing_days", NAN, ""),
            ("trailing_days", HUGE, "24.7"),
            ("refresh_stale_days", -1, ""),
            ("skip_unparseable", "false", "24.7"),
            ("mode", "vioce", "24.7"),
            ("quarantine", [SUPERSCRIPT_TWO], "24.7"),
            ("suite", "nightly\ud800", "24.7"),
        ]
    ]


def argument_cases() -> list[Case]:
    return [
        *validation_cases(),
        *rendered_cases(),
        *construction_cases(),
        *core_cases(),
        *sensor_cases(),
        *load_cases(),
    ]
