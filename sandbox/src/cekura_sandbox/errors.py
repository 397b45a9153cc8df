"""The error responses of the stand-ins, shaped like the real services' (DRF for Cekura)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error response: status plus the JSON body the real API would send."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found() -> ApiError:
    return ApiError(404, {"detail": "Not found."})


def field_error(field: str, *messages: str) -> ApiError:
    return ApiError(400, {field: list(messages)})
