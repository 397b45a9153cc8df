"""Typed Cekura API errors: callers branch on the class, people read the message.

Every message names the endpoint and the HTTP status; the hook redacts the API key before building one.
"""

from __future__ import annotations


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
