"""The typed errors: what callers branch on (class, `retryable`, fields) and how permanence is decided."""

from __future__ import annotations

import pytest

from cekura_livekit.batch.errors import is_permanent
from cekura_livekit.hooks.errors import (
    CekuraAuthError,
    CekuraConnectionError,
    CekuraError,
    CekuraNotFoundError,
    CekuraRateLimitError,
    CekuraServerError,
    CekuraSubmitUncertainError,
    CekuraTransportError,
    CekuraValidationError,
    Redactor,
    secret_forms,
)


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (CekuraAuthError, False),
        (CekuraNotFoundError, False),
        (CekuraValidationError, False),
        (CekuraSubmitUncertainError, False),
        (CekuraRateLimitError, True),
        (CekuraServerError, True),
        (CekuraTransportError, True),
    ],
)
def test_only_transient_failures_are_retryable(cls: type[CekuraError], retryable: bool) -> None:
    error = cls("m", endpoint="GET /x/")
    assert error.retryable is retryable
    assert error.endpoint == "GET /x/"
    assert str(error) == "m"


def test_fields_of_the_specific_errors() -> None:
    rate = CekuraRateLimitError("slow", endpoint="GET /r/", retry_after=2.5)
    assert (rate.status_code, rate.retry_after) == (429, 2.5)
    invalid = CekuraValidationError("bad", endpoint="POST /s/", field_errors={"frequency": ["too big"]})
    assert (invalid.status_code, invalid.field_errors) == (400, {"frequency": ["too big"]})
    assert CekuraValidationError("bad", endpoint="POST /s/").field_errors == {}


def test_connection_errors_are_permanent_value_errors() -> None:
    error = CekuraConnectionError("Connection 'c': fix it")
    assert isinstance(error, ValueError)
    assert is_permanent(error)
    assert is_permanent(CekuraAuthError("m", endpoint="GET /x/"))
    assert not is_permanent(CekuraServerError("m", endpoint="GET /x/"))


def test_secret_forms_cover_what_libraries_print() -> None:
    forms = secret_forms("k/y+1\n")
    for form in ("k/y+1\n", "k/y+1", "k/y+1\\n", "k%2Fy%2B1%0A", "k%2Fy%2B1"):
        assert form in forms
    assert forms == tuple(sorted(forms, key=len, reverse=True)), "longest first, so no form is half-replaced"
    assert secret_forms("") == ()


def test_redactor_replaces_the_longest_form_first() -> None:
    redact = Redactor.of("abc\n")
    assert redact("sent b'abc\\n' and abc") == "sent b'***' and ***"
    assert redact("nothing here") == "nothing here"
