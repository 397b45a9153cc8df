"""One bad input and how its class is measured (the vocabulary of the inventory in docs/reliability.md).

A case is a callable that feeds one bad value to the project the way a user would (operator argument, suite
file, connection, API payload, warehouse setting, report destination). The runner records whether it raised,
whether the message names what it must name (the field/key/connection and the value), and whether anything
happened on the outside first (a submit, a LiveKit room). Classes:

- clear-before-side-effect: refused with a message naming the field/key and value, before any call was paid.
- clear-after: the message is clear, but only after something already happened (e.g. the calls ran).
- unclear: refused, but the message does not name what to fix — or the refusal harmed something else
  (a `Harm`, e.g. one bad suite file took every other suite's DAG with it), whatever the message says.
- accepted: taken without error (the table says what it became, and the case says why that is fine, or
  which open issue says it is not).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLASSES = ("clear-before-side-effect", "clear-after", "unclear", "accepted")
#: Fresh run ids, so no case re-attaches to the batch of another (the task state store is per task instance).
RUNS = itertools.count(1)


class Harm(Exception):
    """A refusal that also took down something that was fine (another suite's DAG): never 'clear'."""


@dataclass
class Env:
    """What a case may use: the sandbox, a scratch folder, a way to set env vars, and a shared cache."""

    sandbox: Any
    tmp: Path
    setenv: Callable[[str, str], None]
    #: Objects built once and shared by several cases (a parsed report DAG, a seeded warehouse).
    cache: dict[str, Any] = field(default_factory=dict)

    def submits(self) -> int:
        """Paid or external side effects so far: Cekura submits and LiveKit rooms created."""
        return self.sandbox.count("POST", "run_scenarios_livekit") + self.sandbox.count("POST", "CreateRoom")

    def scratch(self, name: str) -> Path:
        """A fresh folder for one case (suite folders, report roots)."""
        path = self.tmp / f"{name}-{next(RUNS)}"
        path.mkdir(parents=True)
        return path


@dataclass(frozen=True)
class Case:
    area: str
    name: str
    run: Callable[[Env], Any]
    #: Strings a clear message contains (the field/key/connection, usually also the value).
    names: tuple[str, ...]
    #: The case only gets to the bad value after a paid side effect (e.g. the load task after the batch).
    after_side_effect: bool = False
    #: Why being accepted is right (generated into the doc's list of accepted inputs).
    accepted_ok: str = ""
    #: The open issue item this case measures (e.g. "24.7"): while it stays open, acceptance is the defect.
    issue: str = ""


@dataclass(frozen=True)
class Outcome:
    case: Case
    klass: str
    message: str
    #: The whole error (with its cause) as a task would log it; searched by the secrets sweep.
    detail: str = ""

    @property
    def justification(self) -> str:
        """For an accepted case: why that is fine, or which open issue it proves; '' when unaccounted for."""
        if self.case.accepted_ok:
            return self.case.accepted_ok
        return (
            f"open defect (issue {self.case.issue}): not yet refused or read right" if self.case.issue else ""
        )


def _clip(text: str) -> str:
    return text.splitlines()[0][:160] if text else ""


def classify(case: Case, env: Env) -> Outcome:
    before = env.submits()
    try:
        value = case.run(env)
    except Harm as exc:
        return Outcome(case, "unclear", _clip(f"HARM: {exc}"), str(exc))
    except BaseException as exc:  # every case is expected to fail somewhere; we record how
        if isinstance(exc, KeyboardInterrupt):
            raise
        message = str(exc).strip() or type(exc).__name__
        cause = exc.__cause__
        text = f"{message} {cause}" if cause is not None else message
        clear = all(n.lower() in text.lower() for n in case.names)
        side_effect = case.after_side_effect or env.submits() > before
        klass = ("clear-after" if side_effect else "clear-before-side-effect") if clear else "unclear"
        return Outcome(case, klass, _clip(message), text)
    return Outcome(case, "accepted", f"accepted as {value!r:.120}" if value is not None else "accepted")
