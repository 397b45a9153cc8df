"""Status model of Cekura results and runs: the one place that decides what a status means.

Everything that asks "is this finished?", "did it pass?" or "how far along is the batch?" calls into this
module, so the operator, the sensor, the trigger and the DataFrame extraction can never disagree. The small
vocabularies several layers share (submission modes, the outcomes `fail_on` may name) live here too, so the
suite loader, the operator and the verdict read them from one place without importing each other.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)

#: Submission mode names (the operator's `mode` argument and the suite key). Each is described once by a
#: `SubmissionMode` in `SUBMISSION_MODES`; code asks the object, never compares names.
MANAGED = "managed"
BYO = "bring_your_own_rooms"
CHAT = "chat"


@dataclass(frozen=True)
class SubmissionMode:
    """One way of submitting a batch: its endpoint, who owns the rooms, voice or text, and the grain it loads as.

    Why an object: adding a mode used to touch a dozen files that each compared names; now it is one entry in
    `SUBMISSION_MODES` (plus the sandbox endpoint it calls).
    """

    #: The value users write (`mode=` on the operator, `mode:` in a suite file; `cekura_results.submission_mode`).
    name: str
    #: The `CekuraHook.paths` key (and hook method) that submits a batch in this mode.
    submit_endpoint: str
    #: True: this task creates the LiveKit rooms, mints the join tokens and dispatches the agent.
    owns_rooms: bool
    #: True: Cekura runs the conversation as text (`run_as_text`; the agent is dispatched with `text_mode`).
    text: bool
    #: Whether scenario entries may carry `publish_data_message` (managed and chat endpoints only).
    accepts_publish_data_message: bool
    #: Whether the managed-only (v2) options are accepted: personality_ids, test_profile_ids, … (`V2_ONLY`).
    accepts_v2_options: bool

    @property
    def rooms(self) -> str:
        """Who created the rooms, as the `cekura_runs.mode` grain names it: ``managed`` or ``byo``."""
        return "byo" if self.owns_rooms else "managed"

    def grain(self, run_as_text: bool | None = None) -> str:
        """The run grain `cekura_runs.mode`: ``<voice|chat>/<managed|byo>``; chat when the run or the mode is text."""
        channel = "chat" if run_as_text or self.text else "voice"
        return f"{channel}/{self.rooms}"


SUBMISSION_MODES: dict[str, SubmissionMode] = {
    m.name: m
    for m in (
        SubmissionMode(
            MANAGED,
            "submit_managed",
            owns_rooms=False,
            text=False,
            accepts_publish_data_message=True,
            accepts_v2_options=True,
        ),
        SubmissionMode(
            BYO,
            "submit_byo_rooms",
            owns_rooms=True,
            text=False,
            accepts_publish_data_message=False,
            accepts_v2_options=False,
        ),
        SubmissionMode(
            CHAT,
            "submit_chat",
            owns_rooms=True,
            text=True,
            accepts_publish_data_message=True,
            accepts_v2_options=False,
        ),
    )
}
#: The mode names, in documentation order (membership tests and messages).
MODES: tuple[str, ...] = tuple(SUBMISSION_MODES)
#: Modes in which the task creates the LiveKit rooms, mints the join tokens and dispatches the agent.
OWN_ROOM_MODES: frozenset[str] = frozenset(m.name for m in SUBMISSION_MODES.values() if m.owns_rooms)
#: The grain of runs loaded without a known submission mode (library users calling `extract` without it).
UNKNOWN_ROOMS = "unknown"


def submission_mode(name: object, *, field: str = "mode") -> SubmissionMode:
    """The mode called `name`; a clear error naming the field, the value and the choices otherwise."""
    mode = SUBMISSION_MODES.get(name) if isinstance(name, str) else None
    if mode is None:
        raise ValueError(f"{field}={name!r} is not supported: use one of {list(MODES)}.")
    return mode


def grain_mode(submission_mode_name: str | None, run_as_text: bool | None) -> str:
    """The mode a rate is kept apart by (`cekura_runs.mode`): ``<voice|chat>/<managed|byo|unknown>``."""
    mode = SUBMISSION_MODES.get(submission_mode_name or "")
    if mode is not None:
        return mode.grain(run_as_text)
    return f"{'chat' if run_as_text else 'voice'}/{UNKNOWN_ROOMS}"


def learned_mode(result: Mapping[str, Any]) -> tuple[str, str]:
    """The submission mode of a result loaded without `mode`, and why: (mode, reason).

    Text runs come only from chat mode. A voice result is a managed one (Cekura created the rooms): that is
    every result Cekura's dashboard, cron jobs or CI start; only this provider's bring-your-own-rooms task
    creates its own rooms, and the regression DAG passes its mode. Never "unknown": an unknown grain is a
    series of its own in every trend and report.
    """
    if result.get("run_as_text") is True:
        return CHAT, "the result says run_as_text"
    return MANAGED, "a voice result whose rooms Cekura created (pass mode='bring_your_own_rooms' if not)"


#: Non-evaluation outcomes a gate may fail on (failed evaluations are governed by min_success_rate).
FAIL_ON_CHOICES: tuple[str, ...] = ("infra_error", "timeout", "cancelled")
DEFAULT_FAIL_ON: tuple[str, ...] = FAIL_ON_CHOICES


class RunStatus(enum.StrEnum):
    """The lower-case status enum Cekura uses for both results and runs."""

    PENDING = "pending"
    RUNNING = "running"
    IN_PROGRESS = "in_progress"
    EVALUATING = "evaluating"
    IN_QUEUE = "in_queue"
    SCALING_UP = "scaling_up"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    #: Anything the API sends that this version does not know. Never terminal: we keep waiting.
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: frozenset[RunStatus] = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.CANCELLED}
)
NON_TERMINAL_STATUSES: frozenset[RunStatus] = frozenset(
    {
        RunStatus.PENDING,
        RunStatus.RUNNING,
        RunStatus.IN_PROGRESS,
        RunStatus.EVALUATING,
        RunStatus.IN_QUEUE,
        RunStatus.SCALING_UP,
        RunStatus.UNKNOWN,
    }
)
#: Terminal statuses that mean the batch did not get to evaluate (infrastructure, deadline, or a human).
UNSUCCESSFUL_TERMINAL_STATUSES: frozenset[RunStatus] = TERMINAL_STATUSES - {RunStatus.COMPLETED}

_unknown_seen: set[str] = set()


class MalformedPayloadError(ValueError):
    """Cekura answered with JSON of the wrong shape (e.g. a list where a result object belongs).

    Typed so callers can tell a contract break from a bug; transient for retry purposes (a later poll or
    a retry of the task reads the payload again).
    """


def parse_status(raw: object) -> RunStatus:
    """Map an API status string to `RunStatus`; unknown values become `UNKNOWN`, logged once per value."""
    text = str(raw).strip().lower() if raw is not None else ""
    try:
        status = RunStatus(text)
    except ValueError:
        status = RunStatus.UNKNOWN
    if status is RunStatus.UNKNOWN and text not in _unknown_seen:
        _unknown_seen.add(text)
        log.warning("Unknown Cekura status %r: treated as not finished; waiting continues.", raw)
    return status


def parse_count(raw: object, *, field: str = "count") -> int:
    """Parse a counter the API may send as an int, a float or a numeric string ("12", "12.0").

    Missing values count as 0. Anything else is a contract break worth failing loudly on.
    """
    if raw is None or raw == "":
        return 0
    if isinstance(raw, bool):
        raise ValueError(f"{field}={raw!r} is a boolean, expected a whole number")
    if isinstance(raw, int):
        return raw
    try:
        number = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"{field}={raw!r} is not a number; expected an integer counter") from None
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"{field}={raw!r} is not a whole number; expected an integer counter")
    return int(number)


class Outcome(enum.StrEnum):
    """What happened to one run, by one rule (see `run_outcome`)."""

    PASSED = "passed"
    FAILED_EVALUATION = "failed_evaluation"
    INFRA_ERROR = "infra_error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


def run_outcome(status: RunStatus | str | None, success: object) -> Outcome | None:
    """The outcome of a run, or None while it is not terminal.

    `completed` does not mean passed: a completed run passed only when `success` is true; `failed` is an
    infrastructure failure (the call never happened properly), not a failed evaluation.
    """
    st = status if isinstance(status, RunStatus) else parse_status(status)
    if st is RunStatus.COMPLETED:
        return Outcome.PASSED if success is True else Outcome.FAILED_EVALUATION
    if st is RunStatus.FAILED:
        return Outcome.INFRA_ERROR
    if st is RunStatus.TIMEOUT:
        return Outcome.TIMEOUT
    if st is RunStatus.CANCELLED:
        return Outcome.CANCELLED
    return None


@dataclass(frozen=True)
class BatchProgress:
    """Counts of a batch's runs by outcome; rates come from these counts, never from `success_rate`."""

    total: int
    passed: int = 0
    failed_evaluation: int = 0
    infra_error: int = 0
    timeout: int = 0
    cancelled: int = 0

    @property
    def terminal(self) -> int:
        return self.passed + self.failed_evaluation + self.infra_error + self.timeout + self.cancelled

    @property
    def pending(self) -> int:
        return max(self.total - self.terminal, 0)

    @property
    def evaluated(self) -> int:
        """Runs that reached an evaluation: the denominator of the success rate."""
        return self.passed + self.failed_evaluation

    @property
    def success_rate(self) -> float | None:
        """passed / (passed + failed_evaluation), 0–1, or None before any run was evaluated.

        The package's one definition (verdict, warehouse, report and README use it too): infrastructure
        errors, timeouts and cancellations say nothing about the agent and are counted apart.
        """
        return self.passed / self.evaluated if self.evaluated else None

    @property
    def all_passed(self) -> bool:
        """Cekura's own CI gate: at least one run, and every run passed."""
        return self.total > 0 and self.passed == self.total

    def describe(self) -> str:
        """The one-line progress shown in the task log on every poll."""
        return (
            f"{self.terminal}/{self.total} runs terminal · {self.passed} passed · "
            f"{self.failed_evaluation} failed · {self.infra_error} infra error · "
            f"{self.timeout} timeout · {self.cancelled} cancelled · {self.pending} pending"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "terminal": self.terminal,
            "pending": self.pending,
            "evaluated": self.evaluated,
        }

    @classmethod
    def from_runs(cls, runs: Iterable[Mapping[str, Any]], total: int | None = None) -> BatchProgress:
        counts = dict.fromkeys(Outcome, 0)
        seen = 0
        for run in runs:
            seen += 1
            if not isinstance(run, Mapping):
                raise MalformedPayloadError(
                    f"run #{seen} is a {type(run).__name__} ({run!r:.80}), expected a run object"
                )
            outcome = run_outcome(run.get("status"), run.get("success"))
            if outcome is not None:
                counts[outcome] += 1
        return cls(
            total=max(total or 0, seen),
            passed=counts[Outcome.PASSED],
            failed_evaluation=counts[Outcome.FAILED_EVALUATION],
            infra_error=counts[Outcome.INFRA_ERROR],
            timeout=counts[Outcome.TIMEOUT],
            cancelled=counts[Outcome.CANCELLED],
        )


def runs_of(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs of a result payload as a list: the detail view keys them by id, other views list them."""
    if not isinstance(result, Mapping):
        raise MalformedPayloadError(f"the result is a {type(result).__name__}, expected an object")
    runs = result.get("runs") or []
    if not isinstance(runs, Mapping | list | tuple):
        raise MalformedPayloadError(
            f"the result's runs are a {type(runs).__name__}, expected a list or object"
        )
    if isinstance(runs, Mapping):
        out = []
        for key, run in runs.items():
            item = dict(run) if isinstance(run, Mapping) else {}
            item.setdefault("id", int(key) if str(key).isdigit() else key)
            out.append(item)
        return out
    return [dict(r) for r in runs if isinstance(r, Mapping)]


@dataclass(frozen=True)
class ResultSummary:
    """A small, XCom-safe view of one submitted batch: ids, status and counts, never run payloads."""

    result_id: int
    name: str | None
    status: RunStatus
    progress: BatchProgress

    @property
    def is_terminal(self) -> bool:
        """A batch is finished when the result says so, or when every run it lists is terminal."""
        if self.status.is_terminal:
            return True
        return self.progress.total > 0 and self.progress.pending == 0

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> ResultSummary:
        runs = runs_of(result)
        total = parse_count(result.get("total_runs_count"), field="total_runs_count")
        rid = result.get("id")
        if isinstance(rid, bool) or not str(rid).strip().isdecimal() or int(str(rid)) < 1:
            raise MalformedPayloadError(
                f"the result has no usable id (id={rid!r}); expected a positive integer"
            )
        return cls(
            result_id=int(str(rid)),
            name=result.get("name"),
            status=parse_status(result.get("status")),
            progress=BatchProgress.from_runs(runs, total=total),
        )

    def to_dict(self) -> dict[str, Any]:
        rate = self.progress.success_rate
        return {
            "result_id": self.result_id,
            "name": self.name,
            "status": self.status.value,
            **self.progress.to_dict(),
            "success_rate": round(rate, 4) if rate is not None else None,
        }
