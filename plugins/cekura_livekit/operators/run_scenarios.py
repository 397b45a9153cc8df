"""CekuraRunLiveKitScenariosOperator: submit a batch of Cekura scenarios against a LiveKit agent, then wait.

The operator is the Airflow shell around `cekura_livekit.batch`: it validates (`batch.spec`), attaches or
submits once (`batch.submit`), pushes `result_id`, `run_ids` and `dashboard_url` to XCom before waiting,
dispatches the agent into its own rooms (`batch.rooms`), waits in the worker or the triggerer with the same
loop (`batch.wait`), and turns the verdict (`batch.verdict`) into success, a final failure or a retry.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from cekura_livekit.batch import spec as specs
from cekura_livekit.batch.errors import reported
from cekura_livekit.batch.spec import SPEC_ARGUMENTS, TEMPLATED_ARGUMENTS, BatchSpec, build_spec
from cekura_livekit.compat import AirflowException, AirflowFailException, TaskDeferred, conf
from cekura_livekit.links import DASHBOARD_URL_KEY, CekuraResultLink, pushed_dashboard_url
from cekura_livekit.models import DEFAULT_FAIL_ON, MANAGED, submission_mode

if TYPE_CHECKING:
    from airflow.sdk import Context

    from cekura_livekit.batch.event import WaitEvent
    from cekura_livekit.batch.leftover_rooms import LeftoverLedger
    from cekura_livekit.batch.rooms import RoomSession
    from cekura_livekit.batch.submit import StateStore
    from cekura_livekit.batch.wait import WaitTarget
    from cekura_livekit.hooks.cekura import CekuraHook


class CekuraRunLiveKitScenariosOperator(BaseOperator):
    """Run Cekura test scenarios against a LiveKit voice agent and (by default) wait for the verdict.

    :param scenarios: scenario ids, or dicts `{"scenario": id, "publish_data_message": …}`. Templated.
    :param agent: Cekura agent id. Templated. :param frequency: runs per scenario, 1–100. Templated.
    :param name: label of the batch; the task instance identity is appended so retries find it. Templated.
    :param personality_ids, test_profile_ids, mock_tool_names, concurrency_limit, livekit_data: managed
        (v2) options. Templated.
    :param mode: `managed` (Cekura creates rooms), `bring_your_own_rooms` (one LiveKit room per run, created
        here, your agent dispatched) or `chat` (own rooms, text mode).
    :param livekit_conn_id, livekit_agent_name, room_config, room_empty_timeout, room_max_participants,
        room_concurrency, token_ttl: own-room settings (`livekit_agent_name`, `room_config` templated).
    :param wait_for_completion: wait for the batch (False: return right after submitting).
    :param deferrable: wait in the triggerer. :param poll_interval: seconds between polls (one request each).
    :param timeout: how long to wait (seconds or timedelta; default 3 h, None = no limit); at the deadline the
        calls are ended and the task fails (`execution_timeout` likewise, also when deferred).
    :param min_success_rate: fraction 0–1 of evaluated runs that must pass; None (default): all must.
    :param fail_on: which non-evaluation outcomes fail the task (infra_error, timeout, cancelled).
    :param quarantine: scenario ids that still run and are stored but whose failures do not fail the task.
    :param hook_params: CekuraHook settings (timeout, retry_limit, retry_delay, retry_max_delay, max_retry_after).
    :param cancel_on_kill: end the calls when the task is killed. :param per_run_progress: poll run objects.
    :param max_runs: refuse, before any call, a batch of more runs than this (default 200).
    :param warehouse_conn_id: the results' warehouse, checked before submitting (optional).
    :param max_credits: refuse, before any call, a batch estimated at more Cekura credits than this
        (`batch.cost`); None: no budget. Where Cekura's billing endpoint answers, a batch estimated above the
        account's remaining credits is refused too.
    :param rerun_failed: 0 (default): never re-run. N: when 1..N runs failed, re-run them once in Cekura before
        the verdict (managed mode only; `batch.rerun`). The gate still judges the original runs; the message
        and the `rerun` XCom say how many failures were confirmed and how many did not reproduce (flaky).
        The rerun's runs are new runs of the same result: the load stores both outcomes.

    Permanent errors (bad input/configuration, 4xx at submit, rejected key, a LiveKit key/secret that LiveKit
    refuses: checked before any room or submit) fail at once (`batch.errors`).

    XCom: `estimated_credits` (the batch's estimate and its basis) before submitting; `result_id`,
    `run_ids`, `dashboard_url` before waiting; `superseded_result_ids` when earlier batches
    of this task instance died and were replaced (load them too); `failing_runs` after the verdict;
    `cekura_leftover_rooms` when a LiveKit outage kept rooms open (the next try or run deletes them);
    `rerun` (confirmed / not reproduced, the rerun's run ids) when failed runs were re-run.
    """

    template_fields: Sequence[str] = TEMPLATED_ARGUMENTS
    template_fields_renderers: ClassVar = dict.fromkeys(("scenarios", "livekit_data", "room_config"), "json")
    deferrable: bool
    cancel_on_kill: bool
    rerun_failed: int
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
        timeout: timedelta | float | None = timedelta(seconds=specs.DEFAULT_TIMEOUT),
        min_success_rate: float | str | None = None,
        fail_on: Sequence[str] | str = DEFAULT_FAIL_ON,
        quarantine: Sequence[int] | None = None,
        hook_params: Mapping[str, Any] | None = None,
        cancel_on_kill: bool = True,
        per_run_progress: bool = False,
        max_runs: int = specs.DEFAULT_MAX_RUNS,
        warehouse_conn_id: str | None = None,
        max_credits: float | str | None = None,
        rerun_failed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Every argument is kept under its own name: templating and `build_spec` read them back by name.
        for arg, value in list(locals().items()):
            if arg not in {"self", "kwargs", "__class__"}:
                setattr(self, arg, value)
        self._stage = "submit"
        self._result_id: int | None = None
        self._hook: CekuraHook | None = None
        self._rooms: RoomSession | None = None
        self._ledger: LeftoverLedger | None = None
        self._superseded: list[int] = []
        self._spec(strict=False)  # everything knowable now is checked now; the rest after rendering
        self._check_rerun(mode)

    def _check_rerun(self, mode: str) -> None:
        from cekura_livekit.batch.rerun import validate_rerun_failed

        validate_rerun_failed(self.rerun_failed)
        if self.rerun_failed and submission_mode(mode).owns_rooms:
            raise ValueError(
                f"rerun_failed={self.rerun_failed} needs mode='managed' (Cekura's own rooms): Cekura re-runs a run "
                "in the room it "
                f"had, and a {mode!r} batch's rooms and join tokens are gone by then. Use rerun_failed=0."
            )

    def _spec(self, *, strict: bool) -> BatchSpec:
        return build_spec({name: getattr(self, name) for name in SPEC_ARGUMENTS}, strict=strict)

    def _cekura(self, spec: BatchSpec) -> CekuraHook:
        from cekura_livekit.hooks.cekura import CekuraHook

        return CekuraHook(cekura_conn_id=spec.cekura_conn_id, **spec.hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        with reported(context["ti"], lambda: self._stage):
            return self._execute(context)

    def _execute(self, context: Context) -> dict[str, Any]:
        from cekura_livekit.batch.cost import ESTIMATE_KEY
        from cekura_livekit.batch.dashboard import dashboard_url
        from cekura_livekit.batch.identity import TaskIdentity
        from cekura_livekit.batch.preflight import preflight
        from cekura_livekit.batch.rooms import check_livekit, room_session
        from cekura_livekit.batch.submit import SUPERSEDED_KEY, StateStore, Submitter
        from cekura_livekit.batch.wait import Wait, WaitTarget, deadline_for, drive, snapshot_of_result

        spec = self._spec(strict=True)
        identity = TaskIdentity.from_context(context)
        hook = self._hook = self._cekura(spec)
        cost = preflight(spec, hook)
        context["ti"].xcom_push(key=ESTIMATE_KEY, value=cost.to_xcom())
        deadline = deadline_for(
            spec.timeout, self.execution_timeout, getattr(context["ti"], "start_date", None)
        )
        own_rooms = spec.submission_mode.owns_rooms
        store = StateStore(context.get("task_state_store"), self.log)
        if own_rooms:  # a wrong key/secret fails here, before any room exists or any run is paid for
            check_livekit(spec)
            self._keep_ledger(context, store).clean()  # rooms an earlier try or run could not delete
        rooms_for = (lambda n: room_session(spec, identity, n, deadline)) if own_rooms else None
        batch = Submitter(hook, spec, identity, store, rooms_for, self.log).attach_or_submit()
        self._result_id = batch.result_id
        url = dashboard_url(hook, batch.result_id, spec.agent, batch.payload)
        context["ti"].xcom_push(key="result_id", value=batch.result_id)
        context["ti"].xcom_push(key="run_ids", value=batch.run_ids)
        context["ti"].xcom_push(key=DASHBOARD_URL_KEY, value=url)
        self._superseded = list(batch.superseded)
        if batch.superseded:  # dead batches of earlier tries: paid for, so the load stores them too
            context["ti"].xcom_push(key=SUPERSEDED_KEY, value=batch.superseded)
        self.log.info("Cekura result %s: %s", batch.result_id, url)
        snap = snapshot_of_result(batch.payload)
        self._stage = "wait"
        target = WaitTarget(batch.result_id, tuple(batch.run_ids), spec.per_run_progress)
        try:
            if rooms_for is not None:
                self._rooms = rooms_for(batch.attempt)
                try:
                    self._rooms.ensure_dispatched(batch.payload, fresh=batch.fresh, terminal=snap.terminal)
                except Exception:
                    self._end_calls("the agent could not be dispatched")
                    raise
            if not spec.wait_for_completion:
                self._rooms = None  # not waiting: the rooms close by themselves after room_empty_timeout
                return {**snap.summary(), DASHBOARD_URL_KEY: url}
            self.log.info("%s", snap.describe())
            if snap.terminal:  # check before deferring
                return self._finish(context, drive(target.complete(snap), hook), spec, url)
            refill = self._rooms if self._rooms is not None and self._rooms.capped else None
            if self.deferrable:
                self._defer(spec, target, url, batch.attempt, deadline, refill)
            wait = Wait(target, spec.poll_interval, deadline, logger=self.log, rooms=refill)
            return self._finish(context, drive(wait.run(), hook), spec, url)
        except TaskDeferred:
            raise
        except BaseException:
            self._delete_rooms()
            raise

    def _defer(
        self,
        spec: BatchSpec,
        target: WaitTarget,
        url: str,
        attempt: int,
        deadline: float | None,
        refill: RoomSession | None = None,
    ) -> None:
        """Hand the wait to the triggerer; a capped own-room batch (`refill`) hands over its room session too
        (names and settings only: the trigger reads the LiveKit connection itself)."""
        from cekura_livekit.triggers.runs import CekuraRunsTrigger

        self.defer(
            trigger=CekuraRunsTrigger(
                result_id=target.result_id,
                run_ids=list(target.run_ids),
                execution_deadline=deadline,
                rooms=refill.to_payload() if refill is not None else None,
                **spec.wait_settings(),
            ),
            method_name="execute_complete",
            kwargs={"dashboard_url": url, "attempt": attempt},
            # Airflow's own limit only as a backstop: the trigger's deadline fires first and ends the calls.
            timeout=timedelta(seconds=deadline - time.time() + 120) if deadline else None,
        )

    def _end_calls(self, why: str) -> None:
        from cekura_livekit.batch.wait import end_calls_quietly

        if self._result_id is not None and self._hook is not None:
            end_calls_quietly(self._hook, self._result_id, why, self.log)

    def _keep_ledger(self, context: Context, store: StateStore) -> LeftoverLedger:
        """Where undeleted rooms are recorded for the next try or run (`batch.leftover_rooms`)."""
        from cekura_livekit.batch.leftover_rooms import LeftoverLedger

        self._ledger = LeftoverLedger(context["ti"], store, self.log)
        return self._ledger

    def _delete_rooms(self) -> None:
        """Delete own rooms; those a LiveKit outage keeps alive are recorded, so the next try or run
        deletes them instead of leaving them open for their stretched empty_timeout."""
        from cekura_livekit.batch.leftover_rooms import LeftoverRooms

        if self._rooms is not None:
            rooms, self._rooms = self._rooms, None
            left = rooms.delete_quietly()
            if left and self._ledger is not None:
                self._ledger.remember(LeftoverRooms(rooms.livekit_conn_id, tuple(left)))

    def execute_complete(
        self, context: Context, event: dict[str, Any], dashboard_url: str = "", attempt: int = 1
    ) -> dict[str, Any]:
        """Resume after the trigger: judge the batch (deferrable path) and delete own rooms."""
        from cekura_livekit.batch.event import WaitEvent
        from cekura_livekit.batch.identity import TaskIdentity
        from cekura_livekit.batch.rooms import room_session
        from cekura_livekit.batch.submit import StateStore, pushed_superseded

        self._stage = "wait"
        with reported(context["ti"], lambda: self._stage):
            spec = self._spec(strict=True)
            wait_event = WaitEvent.from_payload(event)
            self._result_id = wait_event.result_id
            self._hook = self._cekura(spec)
            # dag.test() resumes with only the event, not the kwargs given to defer(): fall back to XCom/state.
            url = dashboard_url or pushed_dashboard_url(context["ti"])
            self._superseded = pushed_superseded(context["ti"])
            if spec.submission_mode.owns_rooms:
                store = StateStore(context.get("task_state_store"), self.log)
                self._keep_ledger(context, store)
                attempt = store.attempt_of(self._result_id, default=attempt)
                self._rooms = room_session(spec, TaskIdentity.from_context(context), attempt)
            return self._finish(context, wait_event, spec, url)

    def _finish(self, context: Context, event: WaitEvent, spec: BatchSpec, url: str) -> dict[str, Any]:
        from cekura_livekit.batch.submit import superseded_note
        from cekura_livekit.batch.verdict import decide

        try:
            if event.terminal:
                self._stage = "gate"
                failing = [r.to_payload() for r in event.failing_runs]
                context["ti"].xcom_push(key="failing_runs", value=failing)
            decision = decide(
                event,
                min_success_rate=spec.min_success_rate,
                fail_on=spec.fail_on,
                dashboard_url=url,
                quarantined=spec.quarantine,
            )
            message = decision.message + self._rerun(context, event, spec) + superseded_note(self._superseded)
            if decision.passed:
                self.log.info("%s", message)
                return {**event.summary_dict(), DASHBOARD_URL_KEY: url}
            raise (AirflowException if decision.retryable else AirflowFailException)(message)
        finally:
            self._delete_rooms()

    def _rerun(self, context: Context, event: WaitEvent, spec: BatchSpec) -> str:
        """Re-run the failed runs once (`rerun_failed`) and say what it showed; the gate is unchanged."""
        from cekura_livekit.batch.rerun import RERUN_KEY, rerun_failed_runs
        from cekura_livekit.batch.wait import deadline_for

        if not self.rerun_failed or not event.terminal or self._hook is None:
            return ""
        deadline = deadline_for(
            spec.timeout, self.execution_timeout, getattr(context["ti"], "start_date", None)
        )
        self._stage = "wait"
        outcome = rerun_failed_runs(
            self._hook, event, limit=self.rerun_failed, deadline=deadline, poll_interval=spec.poll_interval
        )
        self._stage = "gate"
        if outcome is None:
            return ""
        context["ti"].xcom_push(key=RERUN_KEY, value=outcome.to_xcom())
        self.log.info("%s", outcome.describe())
        return "\n" + outcome.describe()

    def on_kill(self) -> None:
        """The task is being killed: end the batch's calls (when `cancel_on_kill`) and delete own rooms."""
        if self.cancel_on_kill:
            self._end_calls("the task was killed")
        self._delete_rooms()
