"""Regression alerts fire once per episode (SQLite and PostgreSQL); the notifier logs, and escapes per channel."""

from __future__ import annotations

import json
import logging
import re
import sys
import types
from datetime import date
from typing import Any, ClassVar

import pytest

from cekura_livekit.alerts import (
    Alert,
    CekuraRegressionNotifier,
    alert_message,
    claim_new_alerts,
    email_html,
    slack_message,
)
from tests.support.html_dom import Dom
from tests.support.smtp_server import smtp_server
from tests.support.warehouse import WarehouseTarget


def regression(day: str, scenario: int = 2004, **extra: Any) -> dict[str, Any]:
    return {
        "run_date": date.fromisoformat(day),
        "agent_id": 101,
        "agent_name": "Acme Support",
        "scenario_id": scenario,
        "scenario_name": "Cancel subscription",
        "baseline_rate": 0.9,
        "baseline_n": 100,
        "current_rate": 0.7,
        "current_n": 20,
        "p_value": 0.011,
        "severity": "major",
        **extra,
    }


def test_one_alert_per_episode(warehouse: WarehouseTarget) -> None:
    claim = lambda rows: claim_new_alerts(warehouse.conn_id, rows, schema=warehouse.schema)  # noqa: E731
    first = claim([regression("2026-11-17")])
    assert [(a.scenario_id, a.run_date) for a in first] == [(2004, date(2026, 11, 17))]
    # The same regression seen again on the next days (and re-detected for a day already seen): silent.
    assert claim([regression("2026-11-18"), regression("2026-11-17")]) == []
    assert claim([regression("2026-11-20")]) == []
    # Another scenario regressing is its own episode.
    assert [a.scenario_id for a in claim([regression("2026-11-20", scenario=2003)])] == [2003]
    # After a gap longer than the window the scenario recovered: a new regression alerts again.
    assert [a.run_date for a in claim([regression("2026-11-30")])] == [date(2026, 11, 30)]


def test_message_names_scenario_drop_confidence_and_link(warehouse: WarehouseTarget) -> None:
    alerts = claim_new_alerts(
        warehouse.conn_id,
        [regression("2026-11-17")],
        schema=warehouse.schema,
        dashboard_url="https://dashboard.cekura.ai/11/results",
    )
    text = alert_message(alerts)
    assert "Cancel subscription (scenario 2004)" in text
    assert "90% (n=100) → 70% (n=20)" in text
    assert "−20 pts" in text
    assert "98.9% confidence" in text
    assert "https://dashboard.cekura.ai/11/results" in text
    assert alert_message([]) == "No new Cekura regressions."


def test_notifier_always_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        CekuraRegressionNotifier("2 new Cekura regression(s) detected").notify({})
    assert "2 new Cekura regression(s) detected" in caplog.text


def test_gap_days_validated(sqlite_warehouse: WarehouseTarget) -> None:
    with pytest.raises(ValueError, match="gap_days=0"):
        claim_new_alerts(sqlite_warehouse.conn_id, [], gap_days=0)


# ------------------------------------------------------------------------ escaping per channel

HOSTILE_AGENT = '<script>alert(1)</script> & "><svg onload=alert(1)>'
HOSTILE_SCENARIO = "<!channel> <https://evil.example|click> & more"
DASHBOARD = "https://dashboard.cekura.ai/11/results?tab=runs&run=7"


def hostile_alert(dashboard_url: str | None = DASHBOARD) -> Alert:
    return Alert(
        agent_id=101,
        agent_name=HOSTILE_AGENT,
        scenario_id=2004,
        scenario_name=HOSTILE_SCENARIO,
        run_date=date(2026, 11, 17),
        baseline_rate=0.9,
        baseline_n=100,
        current_rate=0.7,
        current_n=20,
        p_value=0.011,
        severity="major",
        dashboard_url=dashboard_url,
    )


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


def test_slack_link_cannot_be_hijacked_by_the_url() -> None:
    assert (
        slack_message([hostile_alert("https://x.example/a|b>c")])
        .splitlines()[1]
        .endswith("<https://x.example/a%7Cb&gt;c|dashboard>")
    )
    # Not a web URL: shown as text, never linked.
    line = slack_message([hostile_alert("javascript:alert(1)")]).splitlines()[1]
    assert line.endswith(" · javascript:alert(1)")


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
    body = part.get_payload(decode=True).decode()
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


def test_email_body_without_a_web_link_links_nothing() -> None:
    body = email_html([hostile_alert('javascript:alert(1)" onclick="x')])
    assert "<a " not in body
    assert 'onclick="' not in body
