"""Typed Cekura API errors: callers branch on the class, people read the message.

Every message names the endpoint and the HTTP status; the hook redacts the API key (every form of it a
library may print: `Redactor`) before building one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


class CekuraError(Exception):
    """Base class. `retryable` says whether repeating the same *read* could succeed."""

    retryable = False

    def __init__(self, message: str, *, endpoint: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status_code = status_code


class CekuraAuthError(CekuraError):
    """401/403: the API key is missing, wrong, or lacks access. Fix the connection's password."""


class CekuraNotFoundError(CekuraError):
    """404: the result, run or agent does not exist (or belongs to another project)."""


class CekuraValidationError(CekuraError):
    """400: the request was rejected; `field_errors` holds the server's messages per field."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status_code: int | None = 400,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status_code=status_code)
        self.field_errors = field_errors or {}


class CekuraRateLimitError(CekuraError):
    """429: slow down; `retry_after` is the server's wait in seconds when it sent one."""

    retryable = True

    def __init__(
        self, message: str, *, endpoint: str, status_code: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, endpoint=endpoint, status_code=status_code)
        self.retry_after = retry_after


class CekuraServerError(CekuraError):
    """5xx or 408: a transient failure on Cekura's side."""

    retryable = True


class CekuraTransportError(CekuraError):
    """No usable HTTP answer: connect/read timeout, dropped connection, or a body that is not JSON."""

    retryable = True


class CekuraSubmitUncertainError(CekuraError):
    """A submit got no answer, so Cekura may or may not have created the batch.

    Never retried blindly: the operator looks the batch up by its unique name before submitting again.
    """


class CekuraConnectionError(ValueError):
    """The Airflow connection itself is unusable (a key with a control character, a bad `dashboard_url` …).

    A `ValueError`, so `batch.errors.is_permanent` fails the task at once: no retry can fix a connection.
    The message names the connection, the field and the fix, never a secret's value.
    """


def secret_forms(secret: str) -> tuple[str, ...]:
    """Every text form in which a library may print `secret`, longest first.

    Why so many: a key stored with a trailing newline reached the log as httpx printed it, `b'…\\n'`, and an
    exact-match redaction missed it. Covered: the value as given and stripped, its `repr` (escapes such as
    `\\n`), its bytes `repr` (`b'…'`), its JSON string form, and its URL-encoded forms.
    """
    from urllib.parse import quote, quote_plus

    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        if not value:
            continue
        forms.update(
            {
                value,
                repr(value)[1:-1],
                repr(value.encode("utf-8", "surrogateescape"))[2:-1],
                json.dumps(value)[1:-1],
                json.dumps(value, ensure_ascii=False)[1:-1],
                quote(value, safe=""),
                quote_plus(value, safe=""),
            }
        )
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


@dataclass(frozen=True)
class Redactor:
    """Replaces every form of some secrets (see `secret_forms`) with `***`: the hook's one redaction step."""

    forms: tuple[str, ...] = ()

    @classmethod
    def of(cls, *secrets: str) -> Redactor:
        forms = {f for s in secrets if s for f in secret_forms(s)}
        return cls(tuple(sorted(forms, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, "***")
        return text


class CekuraBillingError(CekuraError):
    """402: the organisation's balance cannot pay for the submit; nothing was created. Permanent for this
    task: someone must add credits (a retry minutes later would be refused the same way)."""


#: DRF's PermissionDenied detail: a project-scoped key used on another project's agent or result.
_PERMISSION_DENIED = "You do not have permission to perform this action."


def refusal_for(
    status: int, payload: object, *, endpoint: str, conn_id: str, prefix: str
) -> CekuraError | None:
    """The typed error, with its fix, for the account refusals Cekura documents; None for any other answer
    (the caller's generic mapping applies). `prefix` names the endpoint and the status.

    Why here: the status alone misleads. A 403 from a project-scoped key is not a wrong password; a 402 is
    not an input error; a 400 on `agent` for missing LiveKit credentials needs a change in Cekura, not in the
    DAG. Sources: cekura-ai/docs enterprise-setup.mdx (project keys), integrations/agora.mdx (balance and
    missing-credentials bodies), run-evaluator-livekit-v2.mdx (managed runs need LiveKit credentials).
    """
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if status == 402 or (isinstance(detail, str) and "insufficient balance" in detail.lower()):
        return CekuraBillingError(
            f"{prefix}: {detail or 'insufficient balance'}. Nothing was created. Fix: add credits to the "
            "Cekura organisation (Settings → Billing → Add Credits, or enable auto-refill), then clear the task.",
            endpoint=endpoint,
            status_code=status,
        )
    if status == 403 and detail == _PERMISSION_DENIED:
        return CekuraAuthError(
            f"{prefix}: {detail} The API key of connection {conn_id!r} was accepted but may not use this "
            "agent or result: project-scoped keys cannot access other projects. Fix: put a key of the agent's "
            f"project (or an organisation key) in connection {conn_id!r}, or use an agent of the key's project.",
            endpoint=endpoint,
            status_code=status,
        )
    agent_errors = payload.get("agent") if isinstance(payload, dict) else None
    messages = agent_errors if isinstance(agent_errors, list) else [agent_errors]
    if status == 400 and any(isinstance(m, str) and "livekit credentials" in m.lower() for m in messages):
        text = " ".join(str(m) for m in messages)
        return CekuraValidationError(
            f"{prefix}: agent: {text} Fix: add the LiveKit URL, API key and secret to the agent (or its "
            "project) in the Cekura dashboard, or run with mode='bring_your_own_rooms' and a livekit_conn_id so "
            "the rooms come from your own LiveKit connection.",
            endpoint=endpoint,
            status_code=status,
            field_errors={"agent": [str(m) for m in messages]},
        )
    return None
