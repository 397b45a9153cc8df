"""Credential hygiene of the Cekura connection (issue 24, items 1 and 7).

A key stored with a trailing newline (common when a secret comes from a file) used to be sent as is: httpx
refused the header and printed it as `b'…\\n'`, which the exact-match redaction did not hide, and the error
was classed transient (retried for ~25 s). Now the key is stripped when the connection is read, a key with
any other unsendable character fails at once (permanent, naming the connection, never the value), and every
form of the key a library may print is redacted. A `dashboard_url` extra that is not an http(s) URL with a
host (e.g. `javascript:…`) became the task's link: now it is refused.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from cekura_livekit.batch.errors import is_permanent
from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.hooks.errors import CekuraConnectionError, CekuraError, Redactor, secret_forms
from cekura_sandbox import Sandbox

KEY = "sk-hygiene-3c1d9e8f7a6b5c4d"
BASE = "http://cekura.test"


def every_form(secret: str) -> list[str]:
    """The printable forms a careless library or log line could show (what the sweep in issue 24 looked for)."""
    forms = set()
    for value in (secret, secret.strip()):
        forms |= {
            value,
            repr(value),
            repr(value)[1:-1],
            repr(value.encode()),
            repr(value.encode())[2:-1],
            json.dumps(value),
            quote(value, safe=""),
            quote_plus(value),
        }
    return sorted(forms, key=len, reverse=True)


def leaked(text: str, secret: str) -> list[str]:
    return [form for form in every_form(secret) if form in text]


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "cekura", **fields}))


def echoing_hook(conn_id: str, **kwargs: Any) -> CekuraHook:
    """A hostile server that echoes the key it received in every printable form, in every error body."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers["X-CEKURA-API-KEY"]
        echo = " | ".join(every_form(sent + "\n"))
        if request.url.path.endswith("/1/"):
            return httpx.Response(500, text=f"boom {echo}")
        if request.url.path.endswith("/2/"):
            return httpx.Response(404, json={"detail": f"no such result for {echo}"})
        if request.url.path.endswith("/3/"):
            return httpx.Response(200, text=f"<html>{echo}</html>")  # not JSON
        return httpx.Response(400, json={"api_key": [f"bad key {echo}"]})

    return CekuraHook(conn_id, transport=httpx.MockTransport(handler), sleep=lambda s: None, **kwargs)


def test_a_key_with_a_trailing_newline_is_stripped_and_sent_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "cekura_nl", host=BASE, password=KEY + "\n")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": 5, "runs": {}})

    hook = CekuraHook("cekura_nl", transport=httpx.MockTransport(handler))
    assert hook.get_result(5)["id"] == 5
    assert seen[0].headers["X-CEKURA-API-KEY"] == KEY


@pytest.mark.parametrize("path_id", [1, 2, 3, 4])
def test_no_form_of_the_key_reaches_an_error_or_a_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, path_id: int
) -> None:
    set_conn(monkeypatch, "cekura_echo", host=BASE, password=KEY + "\n")
    hook = echoing_hook("cekura_echo", retry_limit=1)
    with caplog.at_level(logging.DEBUG), pytest.raises(CekuraError) as info:
        hook.get_result(path_id)
    error = info.value
    # What the task's failure_reason, its log and the scheduler's log are built from.
    texts = [str(error), repr(error), str(error.args), *[r.getMessage() for r in caplog.records]]
    assert "***" in str(error)
    assert not [form for text in texts for form in leaked(text, KEY + "\n")]


def test_the_key_works_against_the_sandbox_with_a_trailing_newline(
    cekura_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Real HTTP (h11 validates headers): the old hook failed here with `Illegal header value b'…\\n'`."""
    set_conn(
        monkeypatch,
        "cekura_file_secret",
        host=cekura_sandbox.cekura_url,
        password=cekura_sandbox.api_key + "\r\n",
    )
    hook = CekuraHook("cekura_file_secret", retry_limit=0)
    with caplog.at_level(logging.DEBUG):
        ok, message = hook.test_connection()
    assert ok, message
    assert not leaked("\n".join(r.getMessage() for r in caplog.records), cekura_sandbox.api_key)


@pytest.mark.parametrize(
    "bad",
    [KEY[:6] + "\n" + KEY[6:], KEY[:6] + "\x00" + KEY[6:], KEY + "\x7f", KEY[:4] + " " + KEY[4:], KEY + "é"],
)
def test_a_key_with_an_inner_control_character_fails_at_once_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    set_conn(monkeypatch, "cekura_ctl", host=BASE, password=bad)
    seen: list[httpx.Request] = []
    hook = CekuraHook(
        "cekura_ctl", transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200))
    )
    with pytest.raises(CekuraConnectionError) as info:
        hook.get_result(1)
    message = str(info.value)
    for part in ("'cekura_ctl'", "password field", "Paste the key again"):
        assert part in message
    assert is_permanent(info.value)
    assert not leaked(message + repr(info.value), bad)
    assert not seen, "a request was sent with a key that cannot be sent"


def test_blank_key_is_the_missing_key_error(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "cekura_blank", host=BASE, password=" \n\t")
    with pytest.raises(CekuraConnectionError, match="has no API key: put the Cekura API key in its password"):
        _ = CekuraHook("cekura_blank").settings


def test_an_unreadable_extra_never_echoes_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The extra may hold the key (`api_key`): a JSON error must not print it."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_CEKURA_BADEXTRA",
        json.dumps(
            {"conn_type": "cekura", "host": BASE, "password": "k", "extra": "{'api_key': '" + KEY + "'"}
        ),
    )
    with pytest.raises(CekuraConnectionError, match="extra is not valid JSON") as info:
        _ = CekuraHook("cekura_badextra").settings
    assert KEY not in str(info.value)


def test_redactor_hides_every_form_and_nothing_else() -> None:
    secret = "ab/c d+\n"
    redact = Redactor.of(secret)
    for form in every_form(secret):
        assert "ab" not in redact(f"x {form} y").replace("***", ""), form
    assert redact("nothing secret here") == "nothing secret here"
    assert Redactor.of("")("text") == "text"
    assert all(secret_forms("k"))


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript://%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://dashboard.example.com",
        "file:///etc/passwd",
        "https://",
        "//dashboard.example.com",
        "dashboard.cekura.ai",
        "https://dash.example.com/?next=javascript:alert(1)",
        "https://dash.example.com/#x",
        "https://dash.example.com/\nSet-Cookie: x",
        42,
        ["https://dash.example.com"],
    ],
)
def test_dashboard_url_extra_must_be_an_http_url_with_a_host(
    monkeypatch: pytest.MonkeyPatch, url: object
) -> None:
    set_conn(monkeypatch, "cekura_dash", host=BASE, password=KEY, extra={"dashboard_url": url})
    with pytest.raises(CekuraConnectionError) as info:
        _ = CekuraHook("cekura_dash").settings
    message = str(info.value)
    for part in ("'cekura_dash'", "dashboard_url", "https://dashboard.cekura.ai"):
        assert part in message
    assert is_permanent(info.value)


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://dash.example.com/", "https://dash.example.com"),
        (" http://127.0.0.1:8080/cekura ", "http://127.0.0.1:8080/cekura"),
        ("", "https://dashboard.cekura.ai"),
        (None, "https://dashboard.cekura.ai"),
    ],
)
def test_good_dashboard_urls_become_the_link_base(
    monkeypatch: pytest.MonkeyPatch, url: object, base: str
) -> None:
    set_conn(monkeypatch, "cekura_dash_ok", host=BASE, password=KEY, extra={"dashboard_url": url})
    hook = CekuraHook("cekura_dash_ok")
    assert hook.settings.dashboard_url == base
    assert hook.dashboard_url(7, 11) == f"{base}/11/results/7"


def test_a_host_with_credentials_is_refused_without_showing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """user:secret@host would travel in every logged request URL (issue 24.1's sweep found it accepted)."""
    set_conn(monkeypatch, "cek_userinfo", host="https://me:hunter2-secret@api.example", password="k" * 24)
    with pytest.raises(CekuraConnectionError, match="'cek_userinfo': the host holds credentials") as info:
        CekuraHook("cek_userinfo").settings  # noqa: B018 (reading the property reads the connection)
    assert "hunter2" not in str(info.value)
    assert is_permanent(info.value)


@pytest.mark.parametrize(
    "url", ['https://dash.example/"><script>alert(1)</script>', "https://dash.example/`x`"]
)
def test_a_dashboard_url_that_could_break_out_of_a_link_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """The extra becomes the task's link: quotes, angle brackets and backticks end an HTML attribute (24.7)."""
    set_conn(
        monkeypatch, "cek_dash", host="https://api.example", password="k" * 24, extra={"dashboard_url": url}
    )
    with pytest.raises(CekuraConnectionError, match="extra dashboard_url="):
        CekuraHook("cek_dash").settings  # noqa: B018
