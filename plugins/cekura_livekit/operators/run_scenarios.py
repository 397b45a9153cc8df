"""CekuraRunLiveKitScenariosOperator: submit a batch of Cekura scenarios against a LiveKit agent, then wait.

Lifecycle of one task instance:
1. validate every input (before any network call) → a ValueError naming field, value and fix;
2. re-attach to this task instance's batch if one exists (task state store, then a search by the
   deterministic batch name), otherwise submit exactly once (submits are never retried);
3. push `result_id`, `run_ids` and `dashboard_url` to XCom before waiting;
4. wait: in the worker (`deferrable=False`) or in the triggerer (`CekuraRunsTrigger`); both use the
   same poll and verdict code, and the status is checked before deferring;
5. judge the finished batch (`min_success_rate`, `fail_on`) and return a small summary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from cekura_livekit.links import DASHBOARD_URL_KEY, CekuraResultLink
from cekura_livekit.models import UNSUCCESSFUL_TERMINAL_STATUSES, parse_status, runs_of
from cekura_livekit.triggers.polling import (
    EVENT_TERMINAL,
    EVENT_TIMEOUT,
    ErrorBudget,
    Snapshot,
    WaitTarget,
    other_event,
    snapshot_of_result,
)
from cekura_livekit.triggers.verdict import (
    DEFAULT_FAIL_ON,
    judge,
    validate_fail_on,
    validate_min_success_rate,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from cekura_livekit.hooks.cekura import CekuraHook
    from cekura_livekit.rooms import ByoRooms, RunSlot, TaskIdentity

MANAGED = "managed"
BYO = "bring_your_own_rooms"
CHAT = "chat"
MODES: tuple[str, ...] = (MANAGED, BYO, CHAT)
#: Options only the managed (v2) endpoint understands.
V2_ONLY: tuple[str, ...] = (
    "personality_ids",
    "test_profile_ids",
    "mock_tool_names",
    "concurrency_limit",
    "livekit_data",
)
SCENARIO_KEYS = frozenset({"scenario", "publish_data_message"})
LIVEKIT_DATA_KEYS = frozenset({"agent_name", "url", "config"})
HOOK_PARAM_KEYS = frozenset({"timeout", "retry_limit", "retry_delay", "retry_max_delay", "max_retry_after"})
#: Key of this operator's record in Airflow's task state store. Renaming it breaks in-flight retries.
STATE_KEY = "cekura_batch"
MAX_ATTEMPTS = 50


def _unrendered(value: object) -> bool:
    """True for values only known at run time: Jinja strings, XComArgs and other lazy arguments."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return hasattr(value, "resolve") or type(value).__name__ in {"ArgNotSet", "PlainXComArg", "XComArg"}


def _as_int(field_name: str, value: object, *, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise ValueError(f"{field_name}={value!r} is not a positive integer id: {fix}")
    return int(value)


def _int_list(field_name: str, value: object) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError(f"{field_name}={value!r} must be a list of integer ids, e.g. {field_name}=[1, 2].")
    return [
        _as_int(field_name, v, fix=f"pass {field_name} as a list of integer ids, e.g. [1, 2].") for v in value
    ]


def _parse_scenarios(value: object, mode: str) -> list[dict[str, Any]]:
    """Scenario ids (ints, digit strings, a JSON list or "1,2,3") or dicts with per-scenario extras."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                json.loads(text)
                if text.startswith("[")
                else [p.strip() for p in text.split(",") if p.strip()]
            )
        except ValueError:
            raise ValueError(
                f"scenarios={value!r} is neither a JSON list nor comma-separated ids: pass e.g. [2001, 2002]."
            ) from None
    if isinstance(value, int | dict) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, bytes) or not value:
        raise ValueError(
            f"scenarios={value!r} is empty or not a list: pass at least one scenario id, e.g. scenarios=[2001]."
        )
    out: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, Mapping):
            unknown = sorted(set(item) - SCENARIO_KEYS)
            if unknown:
                raise ValueError(
                    f"scenarios entry {dict(item)!r} has unknown keys {unknown}: allowed keys are "
                    f"{sorted(SCENARIO_KEYS)}."
                )
            if "publish_data_message" in item and mode == BYO:
                raise ValueError(
                    "scenarios entry uses publish_data_message, which only the managed and chat endpoints "
                    "accept: use mode='managed' or mode='chat', or drop publish_data_message."
                )
            sid = _as_int(
                "scenarios", item.get("scenario"), fix="pass each dict with 'scenario': <integer id>."
            )
            out.append({**dict(item), "scenario": sid})
        else:
            out.append(
                {
                    "scenario": _as_int(
                        "scenarios", item, fix="pass integer scenario ids, e.g. scenarios=[2001, 2002]."
                    )
                }
            )
    return out


def _seconds(field_name: str, value: object) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError(f"{field_name}={value!r} must be a positive number of seconds or a timedelta.")
    return float(seconds)


@dataclass(frozen=True)
class BatchSpec:
    """The validated, rendered inputs of one batch."""

    mode: str
    scenarios: tuple[dict[str, Any], ...]
    agent: int | None
    frequency: int
    name: str | None
    personality_ids: list[int] | None = None
    test_profile_ids: list[int] | None = None
    mock_tool_names: list[str] | None = None
    concurrency_limit: int | None = None
    livekit_data: dict[str, Any] | None = None
    livekit_agent_name: str | None = None
    room_config: dict[str, Any] | None = None
    min_success_rate: float | None = None
    fail_on: frozenset[str] = field(default_factory=lambda: frozenset(DEFAULT_FAIL_ON))

    @property
    def byo(self) -> bool:
        return self.mode in (BYO, CHAT)

    @property
    def run_count(self) -> int:
        return len(self.scenarios) * self.frequency


@dataclass
class _Batch:
    result_id: int
    run_ids: list[int]
    attempt: int
    payload: dict[str, Any]
    fresh: bool


class _StateStore:
    """Airflow 3.3's task state store, tolerant of runs where it is missing or unreachable (dag.test)."""

    def __init__(self, accessor: Any, log: Any) -> None:
        self._accessor = accessor
        self._log = log
        if accessor is None:
            log.warning("task_state_store is not available: re-attaching relies on the batch name only.")

    def get(self) -> dict[str, Any] | None:
        if self._accessor is None:
            return None
        try:
            value = self._accessor.get(STATE_KEY)
        except Exception as exc:
            self._log.warning("task_state_store unavailable (%s): re-attaching by batch name only.", exc)
            self._accessor = None
            return None
        return dict(value) if isinstance(value, Mapping) else None

    def set(self, value: dict[str, Any]) -> None:
        if self._accessor is None:
            return
        try:
            self._accessor.set(STATE_KEY, value)
        except Exception as exc:
            self._log.warning(
                "Could not write the task_state_store (%s); the batch name still identifies it.", exc
            )


class CekuraRunLiveKitScenariosOperator(BaseOperator):
    """Run Cekura test scenarios against a LiveKit voice agent and (by default) wait for the verdict.

    :param scenarios: scenario ids, or dicts `{"scenario": id, "publish_data_message": …}`. Templated.
    :param agent: Cekura agent id (`agent` in the API). Templated.
    :param frequency: runs per scenario, 1–100 (BYO modes repeat the scenario elements). Templated.
    :param name: label of the batch; the task instance identity is always appended so retries can find
        it. Templated.
    :param personality_ids, test_profile_ids, mock_tool_names, concurrency_limit, livekit_data: managed
        (v2) options. Templated.
    :param mode: `managed` (Cekura creates rooms), `bring_your_own_rooms` (this task creates one LiveKit
        room per run and dispatches your agent) or `chat` (own rooms, text mode).
    :param livekit_conn_id: `livekit` connection (own-room modes only).
    :param livekit_agent_name: the LiveKit agent to dispatch into each room (own-room modes). Templated.
    :param room_config: JSON put in each room's metadata (own-room modes). Templated.
    :param wait_for_completion: wait for the batch; when False, return right after submitting.
    :param deferrable: wait in the triggerer. Defaults to `[operators] default_deferrable`.
    :param poll_interval: seconds between polls (one request per poll).
    :param timeout: how long to wait (seconds or timedelta); at the deadline the calls are ended and the task
        fails. `execution_timeout` is honoured the same way in deferrable mode.
    :param min_success_rate: fraction 0–1 of evaluated runs that must pass; None (default) = all must pass,
        which is Cekura's CI gate.
    :param fail_on: which non-evaluation outcomes fail the task: any of infra_error, timeout, cancelled.
    :param hook_params: CekuraHook retry settings (timeout, retry_limit, retry_delay, retry_max_delay).
    :param cancel_on_kill: end the batch's calls when the task is killed.
    :param per_run_progress: fetch run objects on every poll for exact per-run progress (1 request / 100 runs).
    """

    template_fields: Sequence[str] = (
        "scenarios",
        "agent",
        "frequency",
        "name",
        "personality_ids",
        "test_profile_ids",
        "mock_tool_names",
        "concurrency_limit",
        "livekit_data",
        "livekit_agent_name",
        "room_config",
        "min_success_rate",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "scenarios": "json",
        "livekit_data": "json",
        "room_config": "json",
    }
    operator_extra_links = (CekuraResultLink(),)
    ui_color = "#e8e1fb"

    def __init__(
        self,
        *,
        scenarios: Any,
        agent: int | str | None = None,
        frequency: int | str = 1,
        name: str | None = None,
        personality_ids: Sequence[int] | None = None,
        test_profile_ids: Sequence[int] | None = None,
        mock_tool_names: Sequence[str] | None = None,
        concurrency_limit: int | str | None = None,
        livekit_data: Mapping[str, Any] | None = None,
        mode: str = MANAGED,
        cekura_conn_id: str = "cekura_default",
        livekit_conn_id: str | None = None,
        livekit_agent_name: str | None = None,
        room_config: Mapping[str, Any] | None = None,
        room_empty_timeout: int = 300,
        room_max_participants: int = 4,
        room_concurrency: int = 10,
        token_ttl: timedelta | int = timedelta(hours=1),
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        timeout: timedelta | float | None = None,
        min_success_rate: float | str | None = None,
        fail_on: Sequence[str] | str = DEFAULT_FAIL_ON,
        hook_params: Mapping[str, Any] | None = None,
        cancel_on_kill: bool = True,
        per_run_progress: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.scenarios = scenarios
        self.agent = agent
        self.frequency = frequency
        self.name = name
        self.personality_ids = personality_ids
        self.test_profile_ids = test_profile_ids
        self.mock_tool_names = mock_tool_names
        self.concurrency_limit = concurrency_limit
        self.livekit_data = livekit_data
        self.mode = mode
        self.cekura_conn_id = cekura_conn_id
        self.livekit_conn_id = livekit_conn_id
        self.livekit_agent_name = livekit_agent_name
        self.room_config = room_config
        self.room_empty_timeout = room_empty_timeout
        self.room_max_participants = room_max_participants
        self.room_concurrency = room_concurrency
        self.token_ttl = token_ttl if isinstance(token_ttl, timedelta) else timedelta(seconds=token_ttl)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.min_success_rate = min_success_rate
        self.fail_on = fail_on
        self.hook_params = dict(hook_params or {})
        self.cancel_on_kill = cancel_on_kill
        self.per_run_progress = per_run_progress
        self._result_id: int | None = None
        self._slots: list[RunSlot] = []
        # Everything knowable now is checked now; templated values again after rendering.
        self._spec(strict=False)

    # ------------------------------------------------------------------ validation
    def _spec(self, *, strict: bool) -> BatchSpec:
        """Validate all inputs. With strict=False (construction) values only known at run time are skipped."""

        def known(value: object) -> bool:
            return strict or not _unrendered(value)

        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not supported: use one of {list(MODES)}.")
        if not self.cekura_conn_id:
            raise ValueError(
                "cekura_conn_id is empty: pass the id of a 'cekura' connection, e.g. 'cekura_default'."
            )
        byo = self.mode in (BYO, CHAT)
        if byo and not self.livekit_conn_id:
            raise ValueError(
                f"mode={self.mode!r} creates LiveKit rooms but livekit_conn_id={self.livekit_conn_id!r}: pass "
                "the id of a 'livekit' connection (host = server URL, login = API key, password = API secret)."
            )
        if byo and known(self.livekit_agent_name) and not self.livekit_agent_name:
            raise ValueError(
                f"mode={self.mode!r} needs livekit_agent_name (the agent to dispatch into each room); "
                f"got {self.livekit_agent_name!r}."
            )
        if byo:
            for opt in V2_ONLY:
                value = getattr(self, opt)
                if known(value) and value not in (None, [], (), {}):
                    raise ValueError(
                        f"{opt}={value!r} is only supported by mode='managed' (Cekura's v2 endpoint); "
                        f"mode={self.mode!r} cannot send it. Remove {opt} or use mode='managed'."
                    )
        bad_hook = sorted(set(self.hook_params) - HOOK_PARAM_KEYS)
        if bad_hook:
            raise ValueError(
                f"hook_params has unknown keys {bad_hook}: allowed are {sorted(HOOK_PARAM_KEYS)}."
            )
        poll = _seconds("poll_interval", self.poll_interval)
        if poll is None:
            raise ValueError("poll_interval=None: pass a positive number of seconds, e.g. 30.")
        _seconds("timeout", self.timeout)
        if not isinstance(self.room_max_participants, int) or self.room_max_participants < 2:
            raise ValueError(
                f"room_max_participants={self.room_max_participants!r}: a room needs at least 2 (tester + agent)."
            )
        fail_on = validate_fail_on(self.fail_on)

        scenarios = _parse_scenarios(self.scenarios, self.mode) if known(self.scenarios) else []
        agent = None
        if known(self.agent) and self.agent not in (None, ""):
            agent = _as_int("agent", self.agent, fix="pass the Cekura agent id, e.g. agent=101.")
        frequency = 1
        if known(self.frequency):
            frequency = _as_int("frequency", self.frequency, fix="pass a whole number between 1 and 100.")
            if not 1 <= frequency <= 100:
                raise ValueError(
                    f"frequency={self.frequency!r} is outside 1–100: Cekura runs each scenario 1–100 times."
                )
        concurrency = None
        if known(self.concurrency_limit) and self.concurrency_limit not in (None, ""):
            concurrency = _as_int("concurrency_limit", self.concurrency_limit, fix="pass a positive integer.")
            if concurrency < 1:
                raise ValueError(f"concurrency_limit={self.concurrency_limit!r} must be at least 1.")
        livekit_data = None
        if known(self.livekit_data) and self.livekit_data is not None:
            if not isinstance(self.livekit_data, Mapping) or set(self.livekit_data) - LIVEKIT_DATA_KEYS:
                raise ValueError(
                    f"livekit_data={self.livekit_data!r} must be a dict with keys among {sorted(LIVEKIT_DATA_KEYS)}."
                )
            livekit_data = dict(self.livekit_data)
        mock_tools = None
        if known(self.mock_tool_names) and self.mock_tool_names is not None:
            if isinstance(self.mock_tool_names, str) or not all(
                isinstance(t, str) for t in self.mock_tool_names
            ):
                raise ValueError(
                    f"mock_tool_names={self.mock_tool_names!r} must be a list of tool names (strings)."
                )
            mock_tools = list(self.mock_tool_names)
        room_config = None
        if known(self.room_config) and self.room_config is not None:
            if not isinstance(self.room_config, Mapping):
                raise ValueError(
                    f"room_config={self.room_config!r} must be a dict (it becomes room metadata JSON)."
                )
            room_config = dict(self.room_config)
        name = self.name if known(self.name) else None
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name={name!r} must be a string.")
        return BatchSpec(
            mode=self.mode,
            scenarios=tuple(scenarios),
            agent=agent,
            frequency=frequency,
            name=name or None,
            personality_ids=_int_list("personality_ids", self.personality_ids)
            if known(self.personality_ids)
            else None,
            test_profile_ids=_int_list("test_profile_ids", self.test_profile_ids)
            if known(self.test_profile_ids)
            else None,
            mock_tool_names=mock_tools,
            concurrency_limit=concurrency,
            livekit_data=livekit_data,
            livekit_agent_name=self.livekit_agent_name if known(self.livekit_agent_name) else None,
            room_config=room_config,
            min_success_rate=validate_min_success_rate(self.min_success_rate)
            if known(self.min_success_rate)
            else None,
            fail_on=fail_on,
        )

    # ------------------------------------------------------------------ helpers
    def _cekura(self) -> CekuraHook:
        from cekura_livekit.hooks.cekura import CekuraHook

        return CekuraHook(cekura_conn_id=self.cekura_conn_id, **self.hook_params)

    def _rooms(self, room_config: Mapping[str, Any] | None = None) -> ByoRooms:
        from cekura_livekit.hooks.livekit import LiveKitHook
        from cekura_livekit.rooms import ByoRooms

        assert self.livekit_conn_id
        return ByoRooms(
            hook=LiveKitHook(self.livekit_conn_id),
            empty_timeout=self.room_empty_timeout,
            max_participants=self.room_max_participants,
            room_config=room_config,
            token_ttl=self.token_ttl,
            concurrency=self.room_concurrency,
        )

    @staticmethod
    def batch_name(spec: BatchSpec, identity: TaskIdentity, attempt: int) -> str:
        """Deterministic: the same task instance and attempt always give the same name."""
        base = f"airflow {identity.label()}"
        name = f"{spec.name} · {base}" if spec.name else base
        return name if attempt <= 1 else f"{name} (attempt {attempt})"

    def _slots_for(self, spec: BatchSpec, identity: TaskIdentity, attempt: int) -> list[RunSlot]:
        from cekura_livekit.rooms import plan_slots

        return plan_slots(identity, attempt, spec.scenarios, spec.frequency)

    def _deadline(self, context: Context) -> float | None:
        """Wall-clock end of the wait: `timeout` from now, and `execution_timeout` from the task start."""
        now = time.time()
        candidates = []
        if (wait := _seconds("timeout", self.timeout)) is not None:
            candidates.append(now + wait)
        if self.execution_timeout:
            limit = self.execution_timeout.total_seconds()
            start = getattr(context.get("ti"), "start_date", None)
            started = start.timestamp() if start else now
            # Finish a little before Airflow's own timeout so the calls get ended and the message is ours.
            candidates.append(started + limit - min(30.0, 0.1 * limit))
        return min(candidates) if candidates else None

    def _body(self, spec: BatchSpec, name: str) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if spec.agent is not None:
            body["agent"] = spec.agent
        if spec.mode == MANAGED:
            body["scenarios"] = [dict(s) for s in spec.scenarios]
            body["frequency"] = spec.frequency
            for opt in V2_ONLY:
                value = getattr(spec, opt)
                if value is not None:
                    body[opt] = value
        return body

    # ------------------------------------------------------------------ attach or submit
    def _attach_or_submit(
        self, hook: CekuraHook, spec: BatchSpec, identity: TaskIdentity, store: _StateStore
    ) -> _Batch:
        record = store.get() or {}
        attempt = int(record.get("attempt") or 1)
        if record.get("result_id"):
            payload = self._result_or_none(hook, int(record["result_id"]))
            if payload is not None:
                if not self._dead(payload):
                    self.log.info(
                        "Re-attaching to Cekura result %s of this task instance (from the task state store).",
                        payload["id"],
                    )
                    return self._batch(payload, attempt, record.get("run_ids"), fresh=False)
                self.log.warning(
                    "The previous batch (result %s) ended %r; submitting a fresh one.",
                    payload["id"],
                    payload.get("status"),
                )
                attempt += 1
        for _ in range(MAX_ATTEMPTS):
            name = self.batch_name(spec, identity, attempt)
            found = sorted(hook.find_results_by_name(name), key=lambda r: int(r["id"]), reverse=True)
            if not found:
                return self._submit(hook, spec, identity, store, attempt, name)
            payload = hook.get_result(int(found[0]["id"]))
            if not self._dead(payload):
                self.log.info("Re-attaching to Cekura result %s found by its name %r.", payload["id"], name)
                batch = self._batch(payload, attempt, None, fresh=False)
                store.set(self._record(name, batch))
                return batch
            attempt += 1
        raise AirflowFailException(
            f"Found {MAX_ATTEMPTS} failed batches of this task instance; not submitting more."
        )

    @staticmethod
    def _dead(payload: Mapping[str, Any]) -> bool:
        """Ended without evaluating (failed / timeout / cancelled): a retry submits a fresh batch."""
        return parse_status(payload.get("status")) in UNSUCCESSFUL_TERMINAL_STATUSES

    @staticmethod
    def _result_or_none(hook: CekuraHook, result_id: int) -> dict[str, Any] | None:
        from cekura_livekit.hooks.errors import CekuraNotFoundError

        try:
            return hook.get_result(result_id)
        except CekuraNotFoundError:
            return None

    @staticmethod
    def _batch(payload: dict[str, Any], attempt: int, run_ids: Any, *, fresh: bool) -> _Batch:
        listed = sorted(int(r["id"]) for r in runs_of(payload) if str(r.get("id", "")).isdigit())
        ids = listed or [int(r) for r in (run_ids or [])]
        return _Batch(int(payload["id"]), ids, attempt, payload, fresh)

    @staticmethod
    def _record(name: str, batch: _Batch) -> dict[str, Any]:
        return {
            "name": name,
            "attempt": batch.attempt,
            "result_id": batch.result_id,
            "run_ids": batch.run_ids,
        }

    def _submit(
        self,
        hook: CekuraHook,
        spec: BatchSpec,
        identity: TaskIdentity,
        store: _StateStore,
        attempt: int,
        name: str,
    ) -> _Batch:
        from cekura_livekit.hooks.errors import CekuraSubmitUncertainError

        # Marker first: if the worker dies mid-submit, the retry knows which name to look up.
        store.set({"name": name, "attempt": attempt, "result_id": None})
        body = self._body(spec, name)
        rooms = None
        if spec.byo:
            rooms = self._rooms(spec.room_config)
            self._slots = self._slots_for(spec, identity, attempt)
            rooms.create(self._slots)
            body["scenarios"] = rooms.scenario_elements(self._slots)  # holds join tokens: never logged
        submit = {MANAGED: hook.submit_managed, BYO: hook.submit_byo_rooms, CHAT: hook.submit_chat}[spec.mode]
        self.log.info("Submitting %d runs to Cekura (%s mode) as %r.", spec.run_count, spec.mode, name)
        try:
            try:
                payload = submit(body)
            except CekuraSubmitUncertainError:
                found = hook.find_results_by_name(name)
                if not found:
                    raise
                self.log.warning(
                    "The submit got no answer but Cekura has the batch %s; using it.", found[0]["id"]
                )
                payload = hook.get_result(max(int(r["id"]) for r in found))
        except BaseException:
            if rooms is not None:
                self._delete_rooms(rooms)
            raise
        finally:
            body.clear()
        batch = self._batch(dict(payload), attempt, None, fresh=True)
        store.set(self._record(name, batch))
        self.log.info("Cekura result %s created with %d runs.", batch.result_id, len(batch.run_ids))
        return batch

    # ------------------------------------------------------------------ BYO rooms
    def _ensure_dispatched(
        self, spec: BatchSpec, identity: TaskIdentity, batch: _Batch, snap: Snapshot
    ) -> None:
        """Dispatch the agent into each room; on re-attach, only into rooms that have no dispatch yet."""
        rooms = self._rooms(spec.room_config)
        self._slots = self._slots_for(spec, identity, batch.attempt)
        runs = sorted(runs_of(batch.payload), key=lambda r: int(r["id"]))
        assert spec.livekit_agent_name
        if batch.fresh:
            rooms.dispatch(spec.livekit_agent_name, self._slots, runs, text_mode=spec.mode == CHAT)
            return
        if snap.terminal:
            return
        rooms.create(self._slots)  # idempotent: an existing room is returned as is
        done = rooms.already_dispatched(self._slots)
        made = rooms.dispatch(
            spec.livekit_agent_name, self._slots, runs, text_mode=spec.mode == CHAT, skip_rooms=done
        )
        self.log.info(
            "Re-attached BYO batch: %d rooms already had the agent, dispatched %d.", len(done), made
        )

    def _delete_rooms(self, rooms: ByoRooms | None = None) -> None:
        if not self._slots:
            return
        try:
            (rooms or self._rooms()).delete([s.room for s in self._slots])
        except Exception as exc:  # cleanup must never hide the task's real outcome
            self.log.warning("Could not delete the LiveKit rooms (%s); they close after empty_timeout.", exc)

    # ------------------------------------------------------------------ execute
    def execute(self, context: Context) -> dict[str, Any]:
        from cekura_livekit.rooms import TaskIdentity

        spec = self._spec(strict=True)
        identity = TaskIdentity.from_context(context)
        hook = self._cekura()
        store = _StateStore(context.get("task_state_store"), self.log)
        deadline = self._deadline(context)
        batch = self._attach_or_submit(hook, spec, identity, store)
        self._result_id = batch.result_id
        dashboard_url = self._dashboard_url(hook, spec, batch.payload)
        ti = context["ti"]
        ti.xcom_push(key="result_id", value=batch.result_id)
        ti.xcom_push(key="run_ids", value=batch.run_ids)
        ti.xcom_push(key=DASHBOARD_URL_KEY, value=dashboard_url)
        self.log.info("Cekura result %s: %s", batch.result_id, dashboard_url)
        snap = snapshot_of_result(batch.payload)
        try:
            if spec.byo:
                try:
                    self._ensure_dispatched(spec, identity, batch, snap)
                except Exception:
                    self._end_calls(hook, "the agent could not be dispatched")
                    raise
            if not self.wait_for_completion:
                if spec.byo:
                    self.log.info(
                        "Not waiting: the rooms close by themselves %d s after they empty.",
                        self.room_empty_timeout,
                    )
                self._slots = []
                return {**snap.summary(), DASHBOARD_URL_KEY: dashboard_url}
            target = self._target(batch)
            self.log.info("%s", snap.describe())
            if snap.terminal:  # check before deferring
                return self._finish(context, target.complete(hook, snap), spec, dashboard_url)
            if self.deferrable:
                self._defer(batch, dashboard_url, deadline)
            event = self._wait_sync(hook, target, deadline)
            return self._finish(context, event, spec, dashboard_url)
        except TaskDeferred:
            raise
        except BaseException:
            self._delete_rooms()
            raise

    def _target(self, batch: _Batch) -> WaitTarget:
        return WaitTarget(
            result_id=batch.result_id, run_ids=tuple(batch.run_ids), per_run_progress=self.per_run_progress
        )

    def _dashboard_url(self, hook: CekuraHook, spec: BatchSpec, payload: Mapping[str, Any]) -> str:
        from cekura_livekit.hooks.errors import CekuraError

        agent = spec.agent if spec.agent is not None else payload.get("agent")
        project = None
        if agent is not None and str(agent).isdigit():
            try:
                project = hook.get_agent_project_id(int(agent))
            except CekuraError as exc:
                self.log.warning("Could not look up the agent's project for the dashboard link: %s", exc)
        return hook.dashboard_url(int(payload["id"]), project)

    def _defer(self, batch: _Batch, dashboard_url: str, deadline: float | None) -> None:
        from cekura_livekit.triggers.runs import CekuraRunsTrigger

        self.defer(
            trigger=CekuraRunsTrigger(
                cekura_conn_id=self.cekura_conn_id,
                result_id=batch.result_id,
                run_ids=batch.run_ids,
                poll_interval=float(self.poll_interval),
                execution_deadline=deadline,
                end_calls_on_deadline=True,
                cancel_on_kill=self.cancel_on_kill,
                per_run_progress=self.per_run_progress,
                hook_params=self.hook_params,
            ),
            method_name="execute_complete",
            kwargs={"dashboard_url": dashboard_url, "attempt": batch.attempt},
            # Airflow's own limit only as a backstop: the trigger's deadline fires first and ends the calls.
            timeout=timedelta(seconds=deadline - time.time() + 120) if deadline else None,
        )

    def _wait_sync(self, hook: CekuraHook, target: WaitTarget, deadline: float | None) -> dict[str, Any]:
        """The worker-side twin of CekuraRunsTrigger.run: same poll, same events."""
        from cekura_livekit.hooks.errors import CekuraError
        from cekura_livekit.triggers.polling import EVENT_ERROR

        interval = float(self.poll_interval)
        budget = ErrorBudget(base_delay=max(interval, 1.0), max_delay=max(300.0, interval))
        last: Snapshot | None = None
        while True:
            if deadline is not None and time.time() >= deadline:
                ended = self._end_calls(hook, "the wait passed its deadline")
                action = "its calls were ended" if ended else "its calls could not be ended"
                return other_event(
                    EVENT_TIMEOUT,
                    target.result_id,
                    f"Waiting for Cekura result {target.result_id} passed the task's deadline; {action}.",
                    last.summary() if last else None,
                )
            try:
                snap = target.poll(hook)
            except CekuraError as exc:
                delay = budget.next_delay(exc)
                if delay is None:
                    return other_event(
                        EVENT_ERROR, target.result_id, f"Waiting for Cekura failed: {exc}", None
                    )
                self.log.warning("Polling Cekura failed (%s); next poll in %.0f s.", exc, delay)
                self._sleep(delay, deadline)
                continue
            budget.reset()
            last = snap
            self.log.info("%s", snap.describe())
            if snap.terminal:
                return target.complete(hook, snap)
            self._sleep(interval, deadline)

    @staticmethod
    def _sleep(seconds: float, deadline: float | None) -> None:
        if deadline is not None:
            seconds = min(seconds, max(deadline - time.time(), 0.0))
        time.sleep(seconds)

    def _end_calls(self, hook: CekuraHook, why: str) -> bool:
        if self._result_id is None:
            return False
        try:
            hook.end_calls(self._result_id)
        except Exception as exc:
            self.log.warning("Could not end the calls of Cekura result %s: %s", self._result_id, exc)
            return False
        self.log.warning("Ended the calls of Cekura result %s: %s.", self._result_id, why)
        return True

    def execute_complete(
        self, context: Context, event: dict[str, Any], dashboard_url: str = "", attempt: int = 1
    ) -> dict[str, Any]:
        """Resume after the trigger: judge the batch (deferrable path)."""
        from cekura_livekit.rooms import TaskIdentity

        spec = self._spec(strict=True)
        self._result_id = event.get("result_id")
        ti = context["ti"]
        # dag.test() resumes with only the event, not the kwargs given to defer(): fall back to XCom/state.
        if not dashboard_url:
            dashboard_url = (
                ti.xcom_pull(task_ids=ti.task_id, key=DASHBOARD_URL_KEY, map_indexes=ti.map_index) or ""
            )
        record = _StateStore(context.get("task_state_store"), self.log).get() or {}
        if record.get("result_id") == self._result_id and record.get("attempt"):
            attempt = int(record["attempt"])
        if spec.byo:
            self._slots = self._slots_for(spec, TaskIdentity.from_context(context), attempt)
        return self._finish(context, event, spec, dashboard_url)  # deletes the rooms whatever the verdict

    def _finish(
        self, context: Context, event: Mapping[str, Any], spec: BatchSpec, dashboard_url: str
    ) -> dict[str, Any]:
        status = event.get("status")
        try:
            if status != EVENT_TERMINAL:
                link = f" Dashboard: {dashboard_url}" if dashboard_url else ""
                raise AirflowException(f"{event.get('message')}{link}")
            context["ti"].xcom_push(key="failing_runs", value=list(event.get("failing_runs") or []))
            verdict = judge(
                event,
                min_success_rate=spec.min_success_rate,
                fail_on=spec.fail_on,
                dashboard_url=dashboard_url,
            )
            if verdict.passed:
                self.log.info("%s", verdict.message)
                return {**dict(event.get("summary") or {}), DASHBOARD_URL_KEY: dashboard_url}
            if verdict.cancelled:
                raise AirflowFailException(
                    f"{verdict.message}\nThe batch was cancelled in Cekura; not retrying."
                )
            if parse_status((event.get("summary") or {}).get("status")) in UNSUCCESSFUL_TERMINAL_STATUSES:
                raise AirflowException(verdict.message)  # a retry submits a fresh batch
            # The batch was evaluated: a retry would re-attach to the same verdict, so do not retry.
            raise AirflowFailException(verdict.message)
        finally:
            self._delete_rooms()
            self._slots = []

    def on_kill(self) -> None:
        """The task is being killed: end the batch's calls (when `cancel_on_kill`) and delete own rooms."""
        if self.cancel_on_kill and self._result_id is not None:
            self._end_calls(self._cekura(), "the task was killed")
        self._delete_rooms()
