"""The measuring instrument itself: how a case is classed, and which forms of a secret the sweep finds.

Fast and without the sandbox, so a broken instrument is caught before it publishes wrong figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability.case import Case, Env, Harm, classify
from tests.reliability.secrets_sweep import representations, sweep


class _Sandbox:
    """Counts side effects like the sandbox does, for the classifier's before/after check."""

    def __init__(self) -> None:
        self.calls = 0

    def count(self, method: str, path: str) -> int:
        return self.calls if path == "run_scenarios_livekit" else 0


def _env(tmp_path: Path) -> Env:
    return Env(_Sandbox(), tmp_path, lambda k, v: None)


def _raise(exc: BaseException, paid: bool = False) -> Any:
    def run(env: Env) -> Any:
        if paid:
            env.sandbox.calls += 1
        raise exc

    return run


CLEAR = ValueError("frequency='²' must be a whole number between 1 and 100")


@pytest.mark.parametrize(
    ("run", "after", "expected"),
    [
        (_raise(CLEAR), False, "clear-before-side-effect"),
        (_raise(CLEAR, paid=True), False, "clear-after"),  # a submit happened before the refusal
        (_raise(CLEAR), True, "clear-after"),  # the case only reaches the value after a paid step
        (_raise(ValueError("invalid literal for int() with base 10: '²'")), False, "unclear"),
        (_raise(Harm("s1.yaml: key 'frequency': every suite's DAG is gone")), False, "unclear"),
        (lambda env: 3, False, "accepted"),
    ],
)
def test_classes(tmp_path: Path, run: Any, after: bool, expected: str) -> None:
    case = Case("area", "name", run, ("frequency",), after_side_effect=after)
    assert classify(case, _env(tmp_path)).klass == expected


def test_the_cause_counts_toward_clarity(tmp_path: Path) -> None:
    """A wrapped error (AirflowFailException from ValueError) is clear when its cause names the field."""

    def run(env: Env) -> Any:
        try:
            raise ValueError("agent='x' is not a positive integer id")
        except ValueError as exc:
            raise RuntimeError("task failed") from exc

    assert classify(Case("a", "n", run, ("agent",)), _env(tmp_path)).klass == "clear-before-side-effect"


def test_an_accepted_case_is_justified_by_its_reason_or_its_open_issue(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert classify(Case("a", "n", lambda e: 1, ()), env).justification == ""
    assert "24.7" in classify(Case("a", "n", lambda e: 1, (), issue="24.7"), env).justification
    assert classify(Case("a", "n", lambda e: 1, (), accepted_ok="fine"), env).justification == "fine"


def test_every_printed_form_of_a_newline_key_is_found() -> None:
    """Issue 24.1: httpx printed the header as b'…\\n'; masking only the exact value missed it."""
    key = "sk-abc\n"
    forms = representations(key)
    printed = f"LocalProtocolError: Illegal header value {key.encode()!r}"
    assert forms["bytes repr"] in printed
    assert forms["exact"] not in printed  # why the exact form alone is not enough
    assert forms["escaped (\\n as two characters)"] == "sk-abc\\n"
    assert forms["URL-encoded"] == "sk-abc%0A"
    assert forms["stripped"] == "sk-abc"
    rows = sweep({"key": [key]}, {"log": printed, "db": ""})
    hits = {row[1]: row[2:] for row in rows}
    assert hits["bytes repr"] == [1, 0, 1]
    assert hits["stripped"] == [1, 0, 1]
    assert hits["exact"] == [0, 0, 0]
