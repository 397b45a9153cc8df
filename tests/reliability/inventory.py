"""The bad-input inventory of docs/reliability.md: every case is run, and its class is measured, not typed in.

The vocabulary (Case, Env, the four classes and how a message is judged) lives in `case.py`; the cases live
by area: operator/sensor/load arguments, suite files and folders, connections and warehouses, report
destinations and API payloads. `all_cases` is the one list the reliability test runs.
"""

from __future__ import annotations

from tests.reliability.argument_cases import argument_cases
from tests.reliability.case import CLASSES, Case, Env, Harm, Outcome, classify
from tests.reliability.connection_cases import connection_cases, stressed_keys
from tests.reliability.output_cases import output_cases
from tests.reliability.suite_cases import suite_cases

__all__ = ["CLASSES", "Case", "Env", "Harm", "Outcome", "all_cases", "classify", "stressed_keys"]


def all_cases(env: Env) -> list[Case]:
    return [*argument_cases(), *suite_cases(), *connection_cases(env), *output_cases()]
