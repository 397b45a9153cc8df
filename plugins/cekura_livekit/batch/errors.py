"""Which failures are permanent (fail the task at once) and which are transient (let Airflow retry).

A retry only helps when the world can change between tries: an outage, a rate limit, a lost answer. It
cannot help when the input or the configuration is wrong — a 4xx at submit, a rejected API key, a missing
connection, an invalid argument, an unsupported warehouse — so those fail at once with
`AirflowFailException` instead of burning 7–10 minutes of exponential backoff and blocking the suite's
next runs (`max_active_runs=1`). The operator, the sensor, the load task and the trigger's error events all
use this one classification.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from cekura_livekit.compat import AirflowException, AirflowFailException, AirflowNotFoundException
from cekura_livekit.hooks.errors import (
    CekuraAuthError,
    CekuraError,
    CekuraNotFoundError,
    CekuraSubmitUncertainError,
    CekuraValidationError,
)
from cekura_livekit.hooks.livekit import LiveKitError
from cekura_livekit.models import MalformedPayloadError


class ConnectionUnreadableInTriggerer(ValueError):
    """The task read the connection (it submitted or poked with it), the triggerer cannot: a deployment fault.

    Airflow reports a connection it cannot decrypt as "isn't defined"; a trigger only starts after the task used
    the connection, so here that almost always means the components do not share `AIRFLOW__CORE__FERNET_KEY`
    (or the secrets backend / environment that defines it). Permanent: retrying the task cannot fix it.
    """

    def __init__(self, conn_id: str, cause: BaseException) -> None:
        super().__init__(
            f"The triggerer cannot read connection {conn_id!r} ({cause}), although the task read it before "
            "deferring: the Airflow components do not share the connection. Give every component (scheduler, "
            "workers, triggerer, api-server, dag-processor) the same AIRFLOW__CORE__FERNET_KEY, secrets backend "
            "and AIRFLOW_CONN_* environment (docs/docker.md, docs/kubernetes.md)."
        )


#: Shown after a permanent error's own message, so the log says why Airflow did not retry.
NOT_RETRYING = "This is a permanent error (configuration or input): not retrying; fix it and clear the task."


def is_permanent(exc: BaseException) -> bool:
    """True when repeating the same task cannot succeed without someone changing something."""
    if isinstance(exc, CekuraSubmitUncertainError | MalformedPayloadError):
        return False  # the batch may exist / a later read may be well-formed: a retry re-attaches
    if isinstance(exc, CekuraAuthError | CekuraValidationError | CekuraNotFoundError):
        return True  # 401/403 on any call; 400/404/409/422 … at submit or on a read
    if isinstance(exc, CekuraError):
        return not exc.retryable
    if isinstance(exc, LiveKitError):
        return exc.permanent  # a refused key/secret (LiveKitAuthError); outages stay retryable
    if isinstance(exc, AirflowNotFoundException):
        return True  # a connection id that is not defined
    if isinstance(exc, AirflowException):
        return False  # Airflow's own signals (and our deliberately retryable failures) keep their meaning
    # Invalid arguments, suite settings, connection extras, unsupported warehouse conn types (ValueError),
    # and wrongly typed values (TypeError) are configuration errors.
    return isinstance(exc, ValueError | TypeError)


def short_reason(exc: BaseException, limit: int = 300) -> str:
    """One line for XCom and the suite's verdict: the first line of the message, capped."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def fail_fast() -> Iterator[None]:
    """Turn a permanent error into `AirflowFailException` (no retry); transient errors pass through."""
    try:
        yield
    except AirflowFailException:
        raise
    except Exception as exc:
        if is_permanent(exc):
            raise AirflowFailException(f"{exc}\n{NOT_RETRYING}") from exc
        raise


#: XCom key of a failed task's one-line reason, read by the suite's `verdict` task.
FAILURE_KEY = "failure_reason"


def failure_record(stage: str, exc: BaseException) -> dict[str, str]:
    """What the suite's verdict needs to say what really failed: the stage and the task's own message."""
    kind = "permanent" if is_permanent(exc) or isinstance(exc, AirflowFailException) else "transient"
    return {"stage": stage, "kind": kind, "message": short_reason(exc)}


@contextmanager
def reported(ti: object, stage: Callable[[], str]) -> Iterator[None]:
    """`fail_fast`, plus a `failure_reason` XCom (stage + message) when the task fails for any reason."""
    try:
        with fail_fast():
            yield
    except Exception as exc:
        with suppress(Exception):  # the reason is a courtesy; it never masks the real failure
            ti.xcom_push(key=FAILURE_KEY, value=failure_record(stage(), exc))  # type: ignore[attr-defined]
        raise
