"""CekuraRunsSensor: wait for a Cekura batch someone else submitted (e.g. the operator with
`wait_for_completion=False`), in poke, reschedule or deferrable mode, then apply the same verdict.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from cekura_livekit.batch.errors import NOT_RETRYING, fail_fast
from cekura_livekit.batch.event import WaitEvent
from cekura_livekit.batch.spec import FIELDS, conn_id, flag, id_list, positive_id, seconds, unrendered
from cekura_livekit.batch.verdict import judge, validate_fail_on, validate_min_success_rate
from cekura_livekit.batch.wait import WaitTarget, drive
from cekura_livekit.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    conf,
)
from cekura_livekit.links import DASHBOARD_URL_KEY, CekuraResultLink
from cekura_livekit.models import DEFAULT_FAIL_ON

if TYPE_CHECKING:
    from airflow.sdk import Context

    from cekura_livekit.hooks.cekura import CekuraHook


def _ids(value: Any) -> tuple[int, ...]:
    """Run ids from a list, one id, or the text a template renders ("[1, 2]", "1,2"); each checked by spec."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [p.strip() for p in value.replace("[", "").replace("]", "").split(",") if p.strip()]
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    return tuple(id_list("run_ids", value) or ())


class CekuraRunsSensor(BaseSensorOperator):
    """Succeeds when the batch is terminal and passes the verdict; fails (no retry) when it does not.

    :param result_id: the batch to wait on, e.g. `XComArg(op, key="result_id")` or
        `op.output["result_id"]`. Templated.
    :param run_ids: alternatively, explicit run ids to wait on. Templated.
    :param min_success_rate, fail_on: the same policy as the operator.
    :param cancel_on_timeout: end the calls when the sensor times out (off: the sensor only watches).
    :param deferrable: wait in the triggerer; `poke_interval` is the trigger's poll interval.
    """

    template_fields: Sequence[str] = ("result_id", "run_ids", "min_success_rate")
    operator_extra_links = (CekuraResultLink(),)
    ui_color = "#e8e1fb"

    def __init__(
        self,
        *,
        result_id: int | str | None = None,
        run_ids: Sequence[int] | str | None = None,
        cekura_conn_id: str = "cekura_default",
        min_success_rate: float | str | None = None,
        fail_on: Sequence[str] | str = DEFAULT_FAIL_ON,
        cancel_on_timeout: bool = False,
        per_run_progress: bool = False,
        hook_params: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        # The operator's validators (batch/spec.py), so a NaN interval or a string flag is refused the same way.
        for name in ("poke_interval", "timeout"):
            if name in kwargs:
                seconds(name, kwargs[name])
        super().__init__(**kwargs)
        conn_id("cekura_conn_id", cekura_conn_id, "cekura")
        cancel_on_timeout = flag("cancel_on_timeout", cancel_on_timeout)
        per_run_progress = flag("per_run_progress", per_run_progress)
        deferrable = flag("deferrable", deferrable)
        hook_params = FIELDS["hook_params"](hook_params or {})
        self.result_id = result_id
        self.run_ids = run_ids
        self.cekura_conn_id = cekura_conn_id
        self.min_success_rate = min_success_rate
        self.fail_on = fail_on
        self.cancel_on_timeout = cancel_on_timeout
        self.per_run_progress = per_run_progress
        self.hook_params = dict(hook_params or {})
        self.deferrable = deferrable
        self._fail_on = validate_fail_on(fail_on)
        if not unrendered(min_success_rate):  # a typo must not cost the whole wait (e.g. 2 for 2 %)
            validate_min_success_rate(min_success_rate)
        if result_id is None and run_ids is None:
            raise ValueError("CekuraRunsSensor needs result_id (e.g. op.output['result_id']) or run_ids.")

    def _target(self) -> WaitTarget:
        rid = self.result_id
        if isinstance(rid, dict):  # the operator's whole return value was passed
            rid = rid.get("result_id")
        result_id = None
        if rid not in (None, ""):
            fix = "pass the operator's result id, e.g. result_id=op.output['result_id']."
            result_id = positive_id("result_id", rid.strip() if isinstance(rid, str) else rid, fix=fix)
        return WaitTarget(
            result_id=result_id, run_ids=_ids(self.run_ids), per_run_progress=self.per_run_progress
        )

    def _hook(self) -> CekuraHook:
        from cekura_livekit.hooks.cekura import CekuraHook

        return CekuraHook(cekura_conn_id=self.cekura_conn_id, **self.hook_params)

    def _dashboard(self, context: Context, hook: CekuraHook, result_id: int | None) -> str | None:
        """The same project-scoped URL the operator pushes; looked up once, then read back from XCom."""
        if result_id is None:
            return None
        from cekura_livekit.batch.dashboard import dashboard_url
        from cekura_livekit.links import pushed_dashboard_url

        ti = context.get("ti")
        url = pushed_dashboard_url(ti) if ti is not None else ""
        if not url:
            url = dashboard_url(hook, result_id, payload=hook.get_result(result_id))
            if ti is not None:
                ti.xcom_push(key=DASHBOARD_URL_KEY, value=url)
        return url

    def _verdict(self, context: Context, event: WaitEvent, hook: CekuraHook) -> dict[str, Any]:
        verdict = judge(
            event,
            min_success_rate=validate_min_success_rate(self.min_success_rate),
            fail_on=self._fail_on,
            dashboard_url=self._dashboard(context, hook, event.result_id),
        )
        if not verdict.passed:
            # The batch is finished: poking again cannot change the verdict.
            raise AirflowFailException(verdict.message)
        self.log.info("%s", verdict.message)
        return event.summary_dict()

    def poke(self, context: Context) -> bool | PokeReturnValue:
        target = self._target()
        hook = self._hook()
        snap = drive(target.poll(), hook)  # the full detail: a poke logs the batch's progress
        if snap is None:  # only a light poll answers "still running" without a snapshot
            return False
        self.log.info("%s", snap.describe())
        if not snap.terminal:
            return False
        event = drive(target.complete(snap), hook)
        return PokeReturnValue(is_done=True, xcom_value=self._verdict(context, event, hook))

    def execute(self, context: Context) -> Any:
        """Check the inputs, then wait; permanent errors (bad input, rejected key) fail without retry."""
        with fail_fast():
            validate_min_success_rate(self.min_success_rate)  # rendered now: still before the first poll
            self._target()
            return self._execute(context)

    def _execute(self, context: Context) -> Any:
        result_id = self._target().result_id
        if result_id is not None:  # once per try, not per poke: the link works while the batch runs
            self._dashboard(context, self._hook(), result_id)
        if not self.deferrable:
            return super().execute(context)
        # Check before deferring: a finished batch needs no triggerer round-trip.
        try:
            done = self.poke(context)
        except AirflowFailException as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping (soft_fail): {exc}") from exc
            raise
        if isinstance(done, PokeReturnValue):
            return done.xcom_value
        from cekura_livekit.triggers.runs import CekuraRunsTrigger

        target = self._target()
        self.defer(
            trigger=CekuraRunsTrigger(
                cekura_conn_id=self.cekura_conn_id,
                result_id=target.result_id,
                run_ids=list(target.run_ids),
                poll_interval=float(self.poke_interval),
                execution_deadline=time.time() + float(self.timeout),
                end_calls_on_deadline=self.cancel_on_timeout,
                cancel_on_kill=False,
                per_run_progress=self.per_run_progress,
                hook_params=self.hook_params,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 120),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: the event payload is parsed (and checked) into a `WaitEvent` first."""
        wait_event = WaitEvent.from_payload(event)
        if wait_event.timed_out:
            raise AirflowSensorTimeout(wait_event.message)  # soft_fail turns this into a skip
        if not wait_event.terminal:
            if wait_event.permanent:
                raise AirflowFailException(f"{wait_event.message}\n{NOT_RETRYING}")
            raise AirflowException(wait_event.message)
        with fail_fast():
            return self._verdict(context, wait_event, self._hook())
