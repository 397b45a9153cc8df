"""Pass/fail policy of a finished batch, shared by the operator and the sensor.

`judge` applies the gate to a completion event; `decide` turns any wait event (terminal, timeout, error)
into what the task must do: succeed, fail for good, or fail so that Airflow may retry.

Rules, in order:
1. A result that ended `failed` / `timeout` / `cancelled` fails the task when that category is in `fail_on`
   (`failed` counts as `infra_error`). A cancelled result is reported as user-cancelled (no retry).
2. Runs whose outcome is in `fail_on` (infra_error, timeout, cancelled) fail the task; outcomes left out
   of `fail_on` are tolerated and left out of the success rate.
3. The success rate is passed / (passed + failed_evaluation). With `min_success_rate=None` (default) every
   evaluated run must pass, which is Cekura's own CI gate; otherwise the rate must reach the threshold.
   A batch where no run was evaluated fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cekura_livekit.batch.errors import NOT_RETRYING
from cekura_livekit.batch.event import FailingRun, WaitEvent
from cekura_livekit.models import (
    DEFAULT_FAIL_ON,
    FAIL_ON_CHOICES,
    UNSUCCESSFUL_TERMINAL_STATUSES,
    RunStatus,
    parse_status,
)

__all__ = ["DEFAULT_FAIL_ON", "FAIL_ON_CHOICES", "Decision", "Verdict", "decide", "judge"]
_RESULT_STATUS_CATEGORY = {
    RunStatus.FAILED: "infra_error",
    RunStatus.TIMEOUT: "timeout",
    RunStatus.CANCELLED: "cancelled",
}
_MAX_NAMED = 20


def validate_min_success_rate(value: object) -> float | None:
    """`None`, or a number in [0, 1]; anything else is a clear ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(
            f"min_success_rate={value!r} is not a number: pass a fraction between 0 and 1 "
            "(e.g. 0.9 for 90 %), or None to require every evaluated run to pass."
        )
    try:
        rate = float(value)
    except ValueError:
        raise ValueError(
            f"min_success_rate={value!r} is not a number: pass a fraction between 0 and 1 (e.g. 0.9)."
        ) from None
    if not 0.0 <= rate <= 1.0:
        hint = f" (did you mean {rate / 100:g}?)" if 1 < rate <= 100 else ""
        raise ValueError(
            f"min_success_rate={value!r} is outside 0–1: pass a fraction such as 0.9 for 90 %{hint}."
        )
    return rate


def validate_fail_on(value: object) -> frozenset[str]:
    """A subset of FAIL_ON_CHOICES (a list, a tuple or a comma-separated string)."""
    if value is None:
        return frozenset()
    items: Iterable[object]
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise ValueError(f"fail_on={value!r} must be a list drawn from {list(FAIL_ON_CHOICES)}.")
    unknown = [i for i in items if i not in FAIL_ON_CHOICES]
    if unknown:
        raise ValueError(
            f"fail_on has unknown entries {unknown!r}: allowed values are {list(FAIL_ON_CHOICES)} "
            "(failed evaluations are governed by min_success_rate)."
        )
    return frozenset(str(i) for i in items)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str
    #: The batch was cancelled on Cekura's side (by a person): retrying cannot help.
    cancelled: bool = False


def _name(run: FailingRun) -> str:
    scenario = run.scenario_name or "unnamed scenario"
    return f"{scenario!r} (scenario {run.scenario_id}, run {run.run_id})"


def _listing(failing: Sequence[FailingRun], total: int) -> str:
    """Every run that did not pass, by scenario name and id (the first few; the rest are counted)."""
    if not failing:
        return ""
    lines = [f"  - {_name(r)}: {r.outcome}" + (f" — {r.error}" if r.error else "") for r in failing]
    shown = lines[:_MAX_NAMED]
    more = max(total, len(failing)) - len(shown)
    if more > 0:
        shown.append(f"  … and {more} more (see the dashboard)")
    return "\nRuns that did not pass:\n" + "\n".join(shown)


@dataclass(frozen=True)
class _Facts:
    """What the rules read from a completion event, parsed once."""

    summary: Mapping[str, Any]
    label: str
    where: str
    total: int
    listing: str

    @classmethod
    def of(cls, event: WaitEvent, dashboard_url: str | None) -> _Facts:
        summary: Mapping[str, Any] = event.summary or {}
        rid = summary.get("result_id")
        return cls(
            summary=summary,
            label=f"Cekura result {rid}" if rid is not None else "Cekura runs",
            where=f" Dashboard: {dashboard_url}" if dashboard_url else "",
            total=int(summary.get("total") or 0),
            listing=_listing(event.failing_runs, event.failing_total or len(event.failing_runs)),
        )

    def count(self, key: str) -> int:
        return int(self.summary.get(key) or 0)


def _result_rule(facts: _Facts, fail_on: frozenset[str]) -> Verdict | None:
    """Rule 1: the result itself ended failed / timeout / cancelled, and that category is gated."""
    status = parse_status(facts.summary.get("status"))
    category = _RESULT_STATUS_CATEGORY.get(status)
    if category is None or category not in fail_on:
        return None
    return Verdict(
        passed=False,
        cancelled=status is RunStatus.CANCELLED,
        message=(
            f"{facts.label} ended '{status.value}': {facts.count(category)} of {facts.total} runs {category}, "
            f"{facts.count('passed')} passed.{facts.where}" + facts.listing
        ),
    )


def _outcome_rule(facts: _Facts, fail_on: frozenset[str]) -> Verdict | None:
    """Rule 2: runs whose non-evaluation outcome is gated by `fail_on`."""
    bad = {c: facts.count(c) for c in FAIL_ON_CHOICES if c in fail_on and facts.count(c)}
    if not bad:
        return None
    counts = ", ".join(f"{n} {c}" for c, n in bad.items())
    return Verdict(
        passed=False,
        message=f"{facts.label}: {counts} out of {facts.total} runs (fail_on={sorted(fail_on)}).{facts.where}"
        + facts.listing,
    )


def _rate_rule(facts: _Facts, min_success_rate: float | None) -> Verdict:
    """Rule 3: the success rate of the evaluated runs against the gate."""
    passed, failed = facts.count("passed"), facts.count("failed_evaluation")
    evaluated = passed + failed
    if evaluated == 0:
        return Verdict(
            passed=False, message=f"{facts.label}: no run was evaluated ({facts.total} runs).{facts.where}"
        )
    rate = passed / evaluated
    ok = failed == 0 if min_success_rate is None else rate >= min_success_rate
    rule = "every run must pass" if min_success_rate is None else f"min_success_rate={min_success_rate:g}"
    text = f"{facts.label}: {passed}/{evaluated} evaluated runs passed ({rate:.1%}; {rule}).{facts.where}"
    return Verdict(passed=True, message=text) if ok else Verdict(passed=False, message=text + facts.listing)


def without_quarantined(event: WaitEvent, quarantined: frozenset[int]) -> WaitEvent:
    """The event with the listed non-passing runs of quarantined scenarios taken out of the counts: they still
    ran and are stored, but do not fail the gate (their passes still count; unlisted failures beyond the
    event's list, if it was cut short, still count)."""
    failing = event.failing_runs
    ignored = [r for r in failing if r.scenario_id in quarantined]
    if not ignored:
        return event
    summary = event.summary_dict()
    for run in ignored:
        summary[run.outcome] = max(int(summary.get(run.outcome) or 0) - 1, 0)
    summary["total"] = max(int(summary.get("total") or 0) - len(ignored), 0)
    kept = tuple(r for r in failing if r.scenario_id not in quarantined)
    total = (event.failing_total or len(failing)) - len(ignored)
    return replace(event, summary=summary, failing_runs=kept, failing_total=total)


def judge(
    event: WaitEvent,
    *,
    min_success_rate: float | None,
    fail_on: frozenset[str],
    dashboard_url: str | None = None,
    quarantined: frozenset[int] = frozenset(),
) -> Verdict:
    """Apply the policy (rules 1–3 above, in order) to a terminal completion event; runs of `quarantined`
    scenario ids that did not pass are left out (`without_quarantined`)."""
    facts = _Facts.of(without_quarantined(event, quarantined), dashboard_url)
    return (
        _result_rule(facts, fail_on) or _outcome_rule(facts, fail_on) or _rate_rule(facts, min_success_rate)
    )


@dataclass(frozen=True)
class Decision:
    """What a task does with a wait event: pass, or fail with `message`; `retryable` lets Airflow retry."""

    passed: bool
    message: str
    retryable: bool = False


def decide(
    event: WaitEvent,
    *,
    min_success_rate: float | None,
    fail_on: frozenset[str],
    dashboard_url: str | None = None,
    quarantined: frozenset[int] = frozenset(),
) -> Decision:
    """The task's decision for any wait event.

    - No verdict possible (timeout, transient error): fail, retryable — a retry re-attaches to the batch.
    - A permanent error while waiting (e.g. the API key was rejected): fail for good.
    - Cancelled by a person in Cekura: fail for good.
    - The batch ended without evaluating (failed / timeout result): fail, retryable — a retry submits a
      fresh batch.
    - The batch was evaluated and missed its gate: fail for good — a retry would re-attach to the same
      verdict.
    """
    if not event.terminal:
        link = f" Dashboard: {dashboard_url}" if dashboard_url else ""
        if event.permanent:  # e.g. the API key was rejected mid-wait: a retry cannot help
            return Decision(passed=False, message=f"{event.message}{link}\n{NOT_RETRYING}")
        return Decision(passed=False, message=f"{event.message}{link}", retryable=True)
    verdict = judge(
        event,
        min_success_rate=min_success_rate,
        fail_on=fail_on,
        dashboard_url=dashboard_url,
        quarantined=quarantined,
    )
    if verdict.passed:
        return Decision(passed=True, message=verdict.message)
    if verdict.cancelled:
        return Decision(
            passed=False, message=f"{verdict.message}\nThe batch was cancelled in Cekura; not retrying."
        )
    status = parse_status(event.summary_dict().get("status"))
    return Decision(passed=False, message=verdict.message, retryable=status in UNSUCCESSFUL_TERMINAL_STATUSES)
