"""Submit a batch exactly once per task instance attempt, or re-attach to the one already submitted.

Cekura has no idempotency key, so identity comes from us: a deterministic batch name (task instance +
attempt) and Airflow's task state store. Order on every try: the state store's record → a search by the
batch name → submit. A submit is never retried blindly: when its answer is lost, the batch is looked up by
its name before anything else happens.

Own-room submits (v1 / chat) send `name` although neither Cekura's documents nor its spec declare it
there: a server that drops it leaves nothing to search for. So before such a submit the newest visible
result id is recorded (the "high-water mark", in the state store's marker), and a batch whose name cannot
be found is matched by a second key: a result created after the mark (ids only grow) for the same agent,
in the same text/voice mode, with exactly this task's multiset of scenarios. One match re-attaches; several
fail clearly (`AmbiguousBatchError`) rather than submit a duplicate.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cekura_livekit.batch import TaskLog
from cekura_livekit.batch.identity import deployment_id
from cekura_livekit.batch.spec import V2_ONLY, BatchSpec
from cekura_livekit.hooks.errors import (
    CekuraNotFoundError,
    CekuraSubmitUncertainError,
    CekuraTransportError,
)
from cekura_livekit.models import (
    UNSUCCESSFUL_TERMINAL_STATUSES,
    SubmissionMode,
    parse_status,
    runs_of,
)

if TYPE_CHECKING:
    from cekura_livekit.batch.identity import TaskIdentity
    from cekura_livekit.batch.rooms import RoomSession
    from cekura_livekit.hooks.cekura import CekuraHook

#: Key of the operator's record in Airflow's task state store. Renaming it breaks in-flight retries.
STATE_KEY = "cekura_batch"
#: XCom key (and state-store record field) of the earlier, dead batches of this task instance: paid for,
#: so the load must store them too. Renaming it breaks loads of in-flight runs.
SUPERSEDED_KEY = "superseded_result_ids"
#: Failed batches of one task instance after which we stop submitting new ones.
MAX_ATTEMPTS = 50

log = logging.getLogger(__name__)


class TooManyAttemptsError(RuntimeError):
    """Every attempt of this task instance ended without evaluating: stop paying for more."""


class AmbiguousBatchError(RuntimeError):
    """The batch name was dropped and several results match this task's batch: never guess, never resubmit."""


def pushed_superseded(ti: Any) -> list[int]:
    """The dead batches this try pushed before deferring (`SUPERSEDED_KEY`); [] when unreadable."""
    try:
        value = ti.xcom_pull(task_ids=ti.task_id, key=SUPERSEDED_KEY, map_indexes=ti.map_index)
    except Exception:  # a courtesy for the verdict's message; never the reason a resumed task fails
        return []
    return [int(v) for v in value or [] if str(v).isdigit()]


def superseded_note(superseded: Sequence[int]) -> str:
    """What the task's verdict says about earlier, dead batches of this task instance: paid for, kept."""
    if not superseded:
        return ""
    ids = ", ".join(str(r) for r in superseded)
    return (
        f"\nEarlier batches of this task instance ended without evaluating and were replaced: Cekura "
        f"result(s) {ids} (listed in XCom {SUPERSEDED_KEY!r} so that their runs are loaded too)."
    )


def scenario_multiset(spec: BatchSpec) -> Counter[int]:
    """The scenario id of every run this spec submits (own-room modes: one element per run)."""
    return Counter(int(s["scenario"]) for s in spec.scenarios for _ in range(spec.frequency))


def _result_scenarios(result: Mapping[str, Any]) -> Counter[int] | None:
    """Scenario ids of a result's runs (list or detail form); None when the runs are not listed."""
    runs = runs_of(result)
    if not runs:
        return None
    ids = []
    for run in runs:
        raw = run.get("scenario")
        raw = raw.get("id") if isinstance(raw, Mapping) else raw
        if raw is None or not str(raw).isdigit():
            return None
        ids.append(int(raw))
    return Counter(ids)


@dataclass
class Batch:
    """A submitted (or re-attached) batch: its ids, which attempt it is, and the submit/result payload."""

    result_id: int
    run_ids: list[int]
    attempt: int
    payload: dict[str, Any]
    fresh: bool
    #: Earlier batches of this task instance that ended without evaluating (oldest first). They were paid
    #: for: never dropped silently, they travel in the state store and XCom (`SUPERSEDED_KEY`) to be loaded.
    superseded: list[int] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        payload: Mapping[str, Any],
        attempt: int,
        run_ids: Any = None,
        *,
        fresh: bool,
        superseded: Sequence[int] = (),
    ) -> Batch:
        listed = sorted(int(r["id"]) for r in runs_of(payload) if str(r.get("id", "")).isdigit())
        ids = listed or [int(r) for r in (run_ids or [])]
        return cls(int(payload["id"]), ids, attempt, dict(payload), fresh, list(superseded))

    def record(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "attempt": self.attempt,
            "result_id": self.result_id,
            "run_ids": self.run_ids,
            "superseded": list(self.superseded),
        }


class StateStore:
    """Airflow 3.3's task state store, tolerant of runs where it is missing or unreachable (dag.test)."""

    def __init__(self, accessor: Any, logger: TaskLog = log) -> None:
        self._accessor = accessor
        self._log = logger
        if accessor is None:
            logger.warning("task_state_store is not available: re-attaching relies on the batch name only.")

    def get(self, key: str = STATE_KEY) -> dict[str, Any] | None:
        """The record under `key` (default: this task instance's batch), None when absent or unreachable."""
        if self._accessor is None:
            return None
        try:
            value = self._accessor.get(key)
        except Exception as exc:
            self._log.warning("task_state_store unavailable (%s): re-attaching by batch name only.", exc)
            self._accessor = None
            return None
        return dict(value) if isinstance(value, Mapping) else None

    def attempt_of(self, result_id: object, *, default: int) -> int:
        """The attempt recorded for `result_id` (own-room names depend on it), else `default`."""
        record = self.get() or {}
        if record.get("result_id") == result_id and record.get("attempt"):
            return int(record["attempt"])
        return default

    def set(self, value: dict[str, Any], key: str = STATE_KEY) -> None:
        if self._accessor is None:
            return
        try:
            self._accessor.set(key, value)
        except Exception as exc:
            self._log.warning(
                "Could not write the task_state_store (%s); the batch name still identifies it.", exc
            )


def batch_name(spec: BatchSpec, identity: TaskIdentity, attempt: int, deployment: str | None = None) -> str:
    """Deterministic: the same task instance and attempt of the same deployment always give the same name.

    The deployment (`identity.deployment_id`) is part of it: staging and production sharing one Cekura
    project run the same DAG ids and run ids, and must never re-attach to (or recover) each other's batches.
    """
    where = deployment if deployment is not None else deployment_id()
    base = f"airflow {identity.label()} · {where}"
    name = f"{spec.name} · {base}" if spec.name else base
    return name if attempt <= 1 else f"{name} (attempt {attempt})"


def request_body(spec: BatchSpec, name: str) -> dict[str, Any]:
    """The submit body without the own-room scenario elements (those carry join tokens and come last)."""
    body: dict[str, Any] = {"name": name}
    if spec.agent is not None:
        body["agent"] = spec.agent
    mode = spec.submission_mode
    if not mode.owns_rooms:  # own-room modes get one element per run from the rooms (join tokens)
        body["scenarios"] = [dict(s) for s in spec.scenarios]
        body["frequency"] = spec.frequency
    if mode.accepts_v2_options:
        for opt in V2_ONLY:
            value = getattr(spec, opt)
            if value is not None:
                body[opt] = value
    return body


def ended_without_evaluating(payload: Mapping[str, Any]) -> bool:
    """failed / timeout / cancelled: the batch is dead, so a retry submits a fresh one."""
    return parse_status(payload.get("status")) in UNSUCCESSFUL_TERMINAL_STATUSES


@dataclass
class Submitter:
    """Attach to this task instance's batch if one exists, otherwise submit exactly once."""

    hook: CekuraHook
    spec: BatchSpec
    identity: TaskIdentity
    store: StateStore
    #: The own rooms of an attempt (bring-your-own and chat modes), None in managed mode.
    rooms_for: Callable[[int], RoomSession] | None = None
    logger: TaskLog = log
    #: High-water mark of the submit in flight (own-room modes), for the "no answer" recovery.
    _after: int | None = None
    #: Dead batches of this task instance found so far (see `Batch.superseded`).
    _superseded: list[int] = field(default_factory=list)

    def attach_or_submit(self) -> Batch:
        record = self.store.get() or {}
        attempt = int(record.get("attempt") or 1)
        self._superseded = [int(r) for r in record.get("superseded") or []]
        if record.get("result_id"):
            payload = self._result_or_none(int(record["result_id"]))
            if payload is not None and not ended_without_evaluating(payload):
                self.logger.info(
                    "Re-attaching to Cekura result %s of this task instance (from the task state store).",
                    payload["id"],
                )
                return Batch.of(
                    payload, attempt, record.get("run_ids"), fresh=False, superseded=self._superseded
                )
            if payload is not None:
                self._supersede(payload)
                attempt += 1
        for _ in range(MAX_ATTEMPTS):
            name = batch_name(self.spec, self.identity, attempt)
            found = sorted(self.hook.find_results_by_name(name), key=lambda r: int(r["id"]), reverse=True)
            if not found and record.get("attempt", attempt) == attempt and "after_result_id" in record:
                # A submit of this attempt began but its result id was never recorded: the name may
                # have been dropped (v1 / chat), so try the second key before submitting again.
                found = self._find_unnamed(name, record["after_result_id"])
            if not found:
                return self._submit(attempt, name)
            payload = self.hook.get_result(int(found[0]["id"]))
            if not ended_without_evaluating(payload):
                self.logger.info(
                    "Re-attaching to Cekura result %s found by its name %r.", payload["id"], name
                )
                batch = Batch.of(payload, attempt, fresh=False, superseded=self._superseded)
                self.store.set(batch.record(name))
                return batch
            self._supersede(payload)
            attempt += 1
        raise TooManyAttemptsError(
            f"Found {MAX_ATTEMPTS} failed batches of this task instance; not submitting more."
        )

    def _supersede(self, payload: Mapping[str, Any]) -> None:
        """A batch of this task instance ended without evaluating: remember it (it was paid for, so it
        is loaded too) and say so, before a fresh one is submitted."""
        result_id = int(payload["id"])
        if result_id not in self._superseded:
            self._superseded.append(result_id)
        self.logger.warning(
            "The earlier batch of this task instance (Cekura result %s) ended %r without evaluating; it is "
            "kept for loading (XCom %r) and a fresh batch is submitted.",
            result_id,
            payload.get("status"),
            SUPERSEDED_KEY,
        )

    def _result_or_none(self, result_id: int) -> dict[str, Any] | None:
        try:
            return self.hook.get_result(result_id)
        except CekuraNotFoundError:
            return None

    def _high_water(self) -> int | None:
        """The newest result id visible before an own-room submit (None in managed mode: v2 declares
        `name`, so the name is key enough)."""
        if not self.spec.submission_mode.owns_rooms:
            return None
        newest = next(self.hook.iter_results(page_size=1), None)
        return int(newest["id"]) if newest is not None and str(newest.get("id", "")).isdigit() else 0

    def _find_unnamed(self, name: str, after: int | None) -> list[dict[str, Any]]:
        """This task's own-room batch by the second key (see the module docstring), as a 0/1-item list."""
        if after is None:
            return []
        mode = self.spec.submission_mode
        if not mode.owns_rooms:
            return []
        want = scenario_multiset(self.spec)
        filters = {"agent_id": self.spec.agent} if self.spec.agent is not None else {}
        matches = []
        for result in self.hook.iter_results(**filters):
            if int(result["id"]) <= after:
                break  # newest first: everything from here on predates our submit
            other = str(result.get("name") or "")
            if other and other != name and "airflow " in other:
                continue  # another task instance's batch, whose name survived
            if bool(result.get("run_as_text")) != mode.text:
                continue
            scenarios = _result_scenarios(result)
            if scenarios is None:
                scenarios = _result_scenarios(self.hook.get_result(int(result["id"])))
            if scenarios == want:
                matches.append(result)
        if len(matches) > 1:
            ids = ", ".join(str(r["id"]) for r in matches)
            raise AmbiguousBatchError(
                f"Cekura did not keep the batch name {name!r}, and results {ids} all match this task's batch "
                f"(agent {self.spec.agent}, {sum(want.values())} runs of scenarios {sorted(want)}, created "
                f"after result {after}). Not submitting a duplicate: end the extra batches in the Cekura "
                "dashboard and clear this task's state (task_state_store key 'cekura_batch') to go on."
            )
        if matches:
            self.logger.warning(
                "Cekura did not keep the batch name %r; found result %s by agent, scenarios and run count.",
                name,
                matches[0]["id"],
            )
        return matches

    def _submit(self, attempt: int, name: str) -> Batch:
        # Marker first: if the worker dies mid-submit, the retry knows which name (and, for own rooms,
        # which results are newer than the submit) to look up.
        self._after = self._high_water()
        marker: dict[str, Any] = {
            "name": name,
            "attempt": attempt,
            "result_id": None,
            "superseded": list(self._superseded),
        }
        if self._after is not None:
            marker["after_result_id"] = self._after
        self.store.set(marker)
        body = request_body(self.spec, name)
        rooms = self.rooms_for(attempt) if self.rooms_for is not None else None
        mode = self.spec.submission_mode
        self.logger.info(
            "Submitting %d runs to Cekura (%s mode) as %r.", self.spec.run_count, mode.name, name
        )
        try:
            if rooms is not None:
                rooms.create()
                body["scenarios"] = rooms.scenario_elements()  # holds join tokens: never logged
            payload = self._send(mode, body, name)
        except BaseException:
            if rooms is not None:
                rooms.delete_quietly()
            raise
        finally:
            body.clear()
        batch = Batch.of(payload, attempt, fresh=True, superseded=self._superseded)
        self.store.set(batch.record(name))
        self.logger.info("Cekura result %s created with %d runs.", batch.result_id, len(batch.run_ids))
        return batch

    def _send(self, mode: SubmissionMode, body: dict[str, Any], name: str) -> dict:
        """Submit once. An answer we cannot read — none at all, or a 2xx whose body is not JSON or has no
        result id — is an unknown outcome: Cekura may have created (and be paying for) the batch, so it is
        looked up by its unique name and used, never resubmitted blindly."""
        try:
            payload = self.hook.submit(mode, body)
            if not isinstance(payload, Mapping) or not str(payload.get("id", "")).strip().isdigit():
                raise _unreadable(f"a body without a result id ({type(payload).__name__})")
            return payload
        except CekuraSubmitUncertainError as exc:
            return self._look_up(name, exc)
        except CekuraTransportError as exc:  # 2xx with a body that is not JSON
            return self._look_up(name, _unreadable(str(exc)))
        except (TypeError, ValueError) as exc:  # 2xx with JSON that is not an object (e.g. null, a list)
            return self._look_up(name, _unreadable(f"{type(exc).__name__}: {exc}"))

    def _look_up(self, name: str, uncertain: CekuraSubmitUncertainError) -> dict[str, Any]:
        found = self.hook.find_results_by_name(name) or self._find_unnamed(name, self._after)
        if not found:
            raise uncertain
        self.logger.warning(
            "The submit's answer was lost or unreadable, but Cekura has the batch %s (%r); using it.",
            max(int(r["id"]) for r in found),
            name,
        )
        return self.hook.get_result(max(int(r["id"]) for r in found))


def _unreadable(what: str) -> CekuraSubmitUncertainError:
    return CekuraSubmitUncertainError(
        f"Cekura answered the submit with {what}, and no batch of that name could be found yet; the batch may "
        "or may not exist. It was not resubmitted: a retry of this task looks it up (by name, for own rooms also by agent and "
        "scenarios) first.",
        endpoint="POST submit",
    )
