"""Who gets the alert (`alerting.notifier`): the log always, Slack and email when configured, each with the
API-provided names escaped for its channel."""

from __future__ import annotations

import json
import logging
import re
import sys
import types
from typing import Any, ClassVar

import pytest

from cekura_livekit.alerting import (
    CekuraRegressionNotifier,
    alert_message,
)
from tests.alerting.samples import DASHBOARD, HOSTILE_AGENT, hostile_alert
from tests.support.html_dom import Dom
from tests.support.smtp_server import smtp_server


def test_notifier_always_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        CekuraRegressionNotifier("2 new Cekura regression(s) detected").notify({})
    assert "2 new Cekura regression(s) detected" in caplog.text


class _SlackRecorder:
    """Stands in for apache-airflow-providers-slack (not installed): records what would be posted."""

    sent: ClassVar[list[str]] = []

    def __init__(self, slack_webhook_conn_id: str) -> None:
        self.conn_id = slack_webhook_conn_id

    def send(self, *, text: str) -> None:
        self.sent.append(text)


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    module = types.ModuleType("airflow.providers.slack.hooks.slack_webhook")
    module.SlackWebhookHook = _SlackRecorder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "airflow.providers.slack.hooks.slack_webhook", module)
    _SlackRecorder.sent = []
    return _SlackRecorder.sent


def _assert_slack_safe(text: str) -> None:
    # Slack treats only <...> as control sequences; none of the API-provided text may open one.
    assert "<!channel>" not in text
    assert "<https://evil" not in text
    assert "<script>" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; more" in text
    assert '&lt;script&gt;alert(1)&lt;/script&gt; &amp; "&gt;&lt;svg onload=alert(1)&gt;' in text


@pytest.mark.parametrize("structured", [True, False], ids=["alerts", "message-only"])
def test_slack_text_escapes_api_names(slack: list[str], structured: bool) -> None:
    alerts = [hostile_alert()]
    kwargs: dict[str, Any] = {"alerts": alerts} if structured else {}
    CekuraRegressionNotifier(alert_message(alerts), slack_webhook_conn_id="slack_test", **kwargs).notify({})
    (text,) = slack
    _assert_slack_safe(text)
    # Exactly one Slack link, and it is ours: the URL escaped (& → &amp;), the label after the pipe.
    links = re.findall(r"<([^<>]*)>", text)
    if structured:
        assert links == ["https://dashboard.cekura.ai/11/results?tab=runs&amp;run=7|dashboard"]
    else:
        assert links == []
        assert "https://dashboard.cekura.ai/11/results?tab=runs&amp;run=7" in text


def _smtp_conn(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    extra = json.dumps({"from_email": "cekura@example.com", "disable_ssl": True, "disable_tls": True})
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_TEST",
        json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": extra}),
    )


@pytest.mark.parametrize("structured", [True, False], ids=["alerts", "message-only"])
def test_email_escapes_api_names(monkeypatch: pytest.MonkeyPatch, structured: bool) -> None:
    alerts = [hostile_alert()]
    kwargs: dict[str, Any] = {"alerts": alerts} if structured else {}
    with smtp_server() as server:
        _smtp_conn(monkeypatch, server.server_address[1])
        CekuraRegressionNotifier(
            alert_message(alerts), email_to="team@example.com", smtp_conn_id="smtp_test", **kwargs
        ).notify({})
    (mail,) = server.messages
    (part,) = [p for p in mail.walk() if p.get_content_type() == "text/html"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    lowered = body.lower()
    assert "<script" not in lowered
    assert "<svg" not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in body
    assert "&lt;!channel&gt;" in body
    dom = Dom(body)
    assert not dom.find("script")
    assert not dom.find("svg")
    assert not [e for e in dom.elements if any(a.startswith("on") for a in e["attrs"])]
    # The escaped text still reads as the names themselves.
    assert HOSTILE_AGENT in "".join(e["text"] for e in dom.elements)
    if structured:
        assert [a["attrs"]["href"] for a in dom.find("a")] == [DASHBOARD]
    else:
        assert not dom.find("a")
