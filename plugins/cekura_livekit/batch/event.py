"""The wait's one event: what a finished (or abandoned) wait learned, typed, and its trigger-event form.

Why a type: the event crosses a process boundary (triggerer → worker, as a `TriggerEvent` payload) and is
read by the operator, the sensor and the verdict. As a dict it was read by ~25 string keys in four files,
so a renamed key failed only at run time. Like Databricks' `RunState`, it is a frozen dataclass that
serializes to a JSON-safe dict (`to_payload`) and parses back with validation (`from_payload`); a payload
written by an older trigger version (missing keys added later) still parses, because a deferred task may
resume on a worker that was upgraded while it waited.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class EventStatus(enum.StrEnum):
    """How the wait ended (the wait's, not Cekura's status)."""

    #: The batch is terminal: a verdict is possible.
    TERMINAL = "terminal"
    #: The deadline passed first: no verdict; the calls may have been ended.
    TIMEOUT = "timeout"
    #: Waiting failed (error budget spent, rejected key, missing connection): no verdict.
    ERROR = "error"


class MalformedEventError(ValueError):
    """A trigger payload that is not a wait event: names the field, the value and what was expected."""


@dataclass(frozen=True)
class FailingRun:
    """One run that did not pass, as the event lists it (XCom-safe: ids, names, outcome, a short error)."""

    run_id: int | None
    scenario_id: int | None
    scenario_name: str | None
    outcome: str
    error: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "scenario_id": self.scenario_id,
            "scenario_name": self.scenario_name,
            "outcome": self.outcome,
            "error": self.error,
        }

    @classmethod
    def from_payload(cls, data: object) -> FailingRun:
        if not isinstance(data, Mapping):
            raise MalformedEventError(f"failing_runs item {data!r} is not an object.")
        return cls(
            run_id=_optional_int(data.get("run_id"), "failing_runs[].run_id"),
            scenario_id=_optional_int(data.get("scenario_id"), "failing_runs[].scenario_id"),
            scenario_name=_optional_str(data.get("scenario_name")),
            outcome=str(data.get("outcome") or "not_finished"),
            error=_optional_str(data.get("error")),
        )


@dataclass(frozen=True)
class WaitEvent:
    """The one event a wait ends with. `summary` is the XCom-safe batch summary (`Snapshot.summary`)."""

    status: EventStatus
    result_id: int | None
    message: str
    summary: Mapping[str, Any] | None = None
    failing_runs: tuple[FailingRun, ...] = ()
    #: How many runs did not pass; `failing_runs` lists at most `MAX_LISTED_FAILURES` of them.
    failing_total: int = 0
    #: Error events only: a retry cannot help (e.g. the API key was rejected).
    permanent: bool = False
    #: Timeout events only: whether the batch's calls were ended at the deadline (None: not a timeout).
    calls_ended: bool | None = field(default=None)

    @property
    def terminal(self) -> bool:
        return self.status is EventStatus.TERMINAL

    @property
    def timed_out(self) -> bool:
        return self.status is EventStatus.TIMEOUT

    def summary_dict(self) -> dict[str, Any]:
        """A copy of the summary (empty when the wait never saw the batch): what tasks return to XCom."""
        return dict(self.summary or {})

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict for `TriggerEvent`: the same keys the untyped event always had."""
        payload: dict[str, Any] = {
            "status": self.status.value,
            "result_id": self.result_id,
            "summary": dict(self.summary) if self.summary is not None else None,
            "failing_runs": [r.to_payload() for r in self.failing_runs],
            "failing_total": self.failing_total,
            "message": self.message,
        }
        if self.status is EventStatus.ERROR:
            payload["permanent"] = self.permanent
        if self.calls_ended is not None:
            payload["calls_ended"] = self.calls_ended
        return payload

    @classmethod
    def from_payload(cls, payload: object) -> WaitEvent:
        """Parse (and check) a trigger event's payload; keys added in later versions default sensibly."""
        if isinstance(payload, WaitEvent):
            return payload
        if not isinstance(payload, Mapping):
            raise MalformedEventError(
                f"The trigger event {payload!r} is not an object: expected a CekuraRunsTrigger event."
            )
        raw_status = payload.get("status")
        try:
            status = EventStatus(str(raw_status))
        except ValueError:
            raise MalformedEventError(
                f"The trigger event's status={raw_status!r} is not one of {[s.value for s in EventStatus]}: "
                "it does not come from CekuraRunsTrigger (or from a newer version than this worker's)."
            ) from None
        summary = payload.get("summary")
        if summary is not None and not isinstance(summary, Mapping):
            raise MalformedEventError(f"The trigger event's summary={summary!r} is not an object.")
        listed = payload.get("failing_runs") or []
        if not isinstance(listed, Sequence) or isinstance(listed, str | bytes):
            raise MalformedEventError(f"The trigger event's failing_runs={listed!r} is not a list.")
        failing = tuple(FailingRun.from_payload(r) for r in listed)
        total = _optional_int(payload.get("failing_total"), "failing_total")
        calls_ended = payload.get("calls_ended")
        return cls(
            status=status,
            result_id=_optional_int(payload.get("result_id"), "result_id"),
            message=str(payload.get("message") or ""),
            summary=dict(summary) if summary is not None else None,
            failing_runs=failing,
            failing_total=len(failing) if total is None else total,
            permanent=bool(payload.get("permanent", False)),
            calls_ended=bool(calls_ended) if calls_ended is not None else None,
        )


def _optional_int(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
        raise MalformedEventError(f"The trigger event's {name}={value!r} is not an integer.")
    return int(str(value).strip())


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
