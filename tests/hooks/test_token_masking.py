"""Join tokens stay masked, without registering each one with the secrets masker (issue 14).

Registering every token made minting quadratic: the masker recompiles all its patterns per secret. These
tests count what the masker receives and prove a minted token still never reaches a log line or an error.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
from airflow.sdk.log import _secrets_masker

from cekura_livekit.hooks.cekura import CekuraHook
from cekura_livekit.hooks.errors import CekuraValidationError
from cekura_livekit.hooks.livekit import LiveKitHook
from tests.support.scripted_server import Reply, ScriptedServer

SECRET = "lk-secret-for-masking-tests-0123456789abcdef"
KEY = "sk-masking-test-7f3e2d1c0b9a8f7e6d5c"


@pytest.fixture
def livekit(monkeypatch: pytest.MonkeyPatch) -> LiveKitHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIVEKIT_MASKING",
        json.dumps(
            {"conn_type": "livekit", "host": "http://127.0.0.1:1", "login": "APIkey", "password": SECRET}
        ),
    )
    return LiveKitHook("livekit_masking")


def mint(hook: LiveKitHook, n: int) -> list[str]:
    return [
        hook.mint_join_token(f"room-{i}", identity=f"tester-{i}", ttl=timedelta(minutes=5)) for i in range(n)
    ]


def test_minting_does_not_grow_the_masker_per_token(livekit: LiveKitHook) -> None:
    mint(livekit, 1)  # the connection's secret and the JWT shape, once
    masker = _secrets_masker()
    before = len(masker.patterns)
    replacer = masker.replacer
    mint(livekit, 60)
    assert len(masker.patterns) == before, "each token was registered as a masker pattern"
    assert masker.replacer is replacer, "the masker recompiled its patterns while tokens were minted"


def test_minted_tokens_never_reach_a_log_line_or_an_exception(livekit: LiveKitHook) -> None:
    tokens = mint(livekit, 20)
    masker = _secrets_masker()
    was_enabled = masker.is_log_masking_enabled()
    masker.enable_log_masking()  # as the task runner does
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(_secrets_masker())  # the filter Airflow attaches to task log handlers
    logger = logging.getLogger("tests.token_masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("submitting %s", {"room_token": tokens[3], "more": [tokens[7]]})
        try:
            raise RuntimeError(f"rejected token {tokens[11]}")
        except RuntimeError:
            logger.exception("submit failed")
    finally:
        logger.removeHandler(handler)
        if not was_enabled:
            masker.disable_log_masking()
    text = out.getvalue()
    assert "submitting" in text
    assert "rejected token ***" in text
    assert not any(t in text for t in tokens)


def test_a_4xx_echoing_the_payload_does_not_put_tokens_in_the_error(
    livekit: LiveKitHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = mint(livekit, 1)[0]
    with ScriptedServer() as srv:
        monkeypatch.setenv(
            "AIRFLOW_CONN_CEKURA_MASKING",
            json.dumps({"conn_type": "cekura", "host": srv.url, "password": KEY}),
        )
        srv.queue(Reply(400, {"scenarios": [f"invalid token {token} for room room-0"]}))
        with pytest.raises(CekuraValidationError) as caught:
            CekuraHook("cekura_masking").submit_byo_rooms({"scenarios": [{"token": token}]})
    text = f"{caught.value} {caught.value.field_errors}"
    assert "invalid token" in text
    assert token not in str(caught.value)
