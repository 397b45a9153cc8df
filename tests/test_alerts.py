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

from cekura_livekit.alerting import (
    Alert,
    CekuraRegressionNotifier,
    alert_message,
    email_html,
    slack_message,
)
from cekura_livekit.tasks.alerting import claim_new_alerts
from tests.support.html_dom import Dom
from tests.support.smtp_server import smtp_server
from tests.support.warehouse import WarehouseTarget


def regression(day: str, scenario: int = 2004, **extra: Any) -> dict[str, Any]:
    """An episode row as `warehouse.episodes` builds it."""
    return {
        "started_on": date.fromisoformat(day),
        "last_seen": date.fromisoformat(day),
        "state": "open",
        "mode": "voice/managed",
        "suite": "nightly",
        "agent_id": 101,
        "agent_name": "Acme Support",
        "scenario_id": scenario,
        "scenario_name": "Cancel subscription",
        "baseline_rate": 0.9,
        "baseline_n": 100,
        "current_rate": 0.7,
        "current_n": 20,
        "q_value": 0.011,
        "severity": "major",
        **extra,
    }


def test_one_alert_per_episode(warehouse: WarehouseTarget) -> None:
    claim = lambda rows: claim_new_alerts(warehouse.conn_id, rows, schema=warehouse.schema)  # noqa: E731
    first = claim([regression("2026-11-17")])
    assert [(a.scenario_id, a.run_date) for a in first] == [(2004, date(2026, 11, 17))]
    # The same episode seen again on the next passes (it grew, its last day moved): silent.
    assert claim([regression("2026-11-17", last_seen=date(2026, 11, 19))]) == []
    # Another scenario, or the same scenario in another mode or suite, is its own episode.
    assert [a.scenario_id for a in claim([regression("2026-11-20", scenario=2003)])] == [2003]
    assert [a.mode for a in claim([regression("2026-11-17", mode="chat/byo")])] == ["chat/byo"]
    assert [a.suite for a in claim([regression("2026-11-17", suite="weekly")])] == ["weekly"]
    # A new episode of the same key (it started again after recovering) alerts again.
    [again] = claim([regression("2026-11-30", dashboard_url="https://dashboard.cekura.ai/11/results/9")])
    assert again.run_date == date(2026, 11, 30)
    assert again.dashboard_url == "https://dashboard.cekura.ai/11/results/9"  # the episode's own link
    # A resolved episode found late (a backfill) is shown in the report, not alerted.
    assert claim([regression("2026-10-01", state="resolved")]) == []


def test_message_states_the_evidence_honestly(warehouse: WarehouseTarget) -> None:
    """Issue 25.6: the q-value as a q-value (never "% confidence": 1 − q is not a confidence), the effect
    size with its 95% interval, and the evaluated runs behind it."""
    alerts = claim_new_alerts(
        warehouse.conn_id,
        [regression("2026-11-17")],
        schema=warehouse.schema,
        dashboard_url="https://dashboard.cekura.ai/11/results",
    )
    text = alert_message(alerts)
    assert "Cancel subscription (scenario 2004) [voice/managed · suite nightly]: since 2026-11-17" in text
    assert "90% (n=100) → 70% (n=20)" in text
    # Newcombe: Wilson 90/100 = [82.6, 94.5] %, 14/20 = [48.1, 85.4] %, so −20 −22.3 … −20 +17.1 points.
    assert "−20 pts (95% CI −42 to −3 pts)" in text
    assert "q=0.011 (BH-adjusted)" in text
    assert "confidence" not in text
    assert "120 evaluated runs" in text
    assert "https://dashboard.cekura.ai/11/results" in text
    assert alert_message([]) == "No new Cekura regressions."


def test_notifier_always_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        CekuraRegressionNotifier("2 new Cekura regression(s) detected").notify({})
    assert "2 new Cekura regression(s) detected" in caplog.text


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


def test_the_alert_step_links_the_stored_url_and_calls_no_api(
    warehouse: WarehouseTarget, cekura_sandbox: Any, cekura_sandbox_connections: dict[str, str]
) -> None:
    """Issue 18.3 / 18.2: the link is the episode's stored `dashboard_url` (built once at load time); the
    alert step asks Cekura nothing (it used to fetch the agent's project and query the runs per pair)."""

    from cekura_livekit.results.frames import extract
    from cekura_livekit.tasks.alerting import detect_and_alert
    from cekura_livekit.tasks.trends import refresh_trends
    from cekura_livekit.warehouse.writer import load_extract
    from tests.support.detection import Runs, step_rates
    from tests.support.warehouse import make_result

    runs = Runs().series(date(2024, 5, 11), step_rates(0.9, 0.2))
    stored = "https://dashboard.cekura.ai/42/results/1"
    frames = extract(make_result(1, runs), mode="managed", suite="nightly", dashboard_url=stored)
    summary = load_extract(warehouse.conn_id, frames, warehouse.schema)
    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=summary.run_dates)
    before = len(cekura_sandbox.requests)
    outcome = detect_and_alert(
        warehouse.conn_id,
        warehouse.schema,
        regression_days=refreshed["regression_days"],
    )
    assert outcome["new_alerts"] == 1
    assert stored in outcome["message"]
    assert cekura_sandbox.requests[before:] == []


def _trends_pass(warehouse: WarehouseTarget, run_dates: list[str]) -> dict[str, Any]:
    from cekura_livekit.tasks.alerting import detect_and_alert
    from cekura_livekit.tasks.trends import refresh_trends

    refreshed = refresh_trends(warehouse.conn_id, warehouse.schema, touched=run_dates)
    return detect_and_alert(warehouse.conn_id, warehouse.schema, regression_days=refreshed["regression_days"])


def test_one_drop_is_alerted_once_when_late_data_moves_its_start(warehouse: WarehouseTarget) -> None:
    """Issue 25.6: a late batch moves the change point (and the alarm) a day earlier; the episode keeps its id
    and is not alerted again (the memory used to be keyed on `started_on`: a second alert)."""
    from cekura_livekit.results.frames import extract
    from cekura_livekit.warehouse.read import read_episodes
    from cekura_livekit.warehouse.writer import load_extract
    from tests.support.detection import Runs, step_rates
    from tests.support.warehouse import make_result, make_run

    runs = Runs().series(date(2024, 3, 1), step_rates(0.9, 0.3))
    summary = load_extract(
        warehouse.conn_id, extract(make_result(1, runs), suite="nightly"), warehouse.schema
    )
    first = _trends_pass(warehouse, summary.run_dates)
    assert first["new_alerts"] == 1
    [before] = read_episodes(warehouse.conn_id, schema=warehouse.schema).to_dict("records")
    assert before["started_on"].date() == date(2024, 4, 10)

    late = [
        make_run(90_000 + i, day="2024-04-09", outcome="failed_evaluation", hour=20, result_id=2)
        for i in range(6)
    ]
    summary = load_extract(
        warehouse.conn_id, extract(make_result(2, late), suite="nightly"), warehouse.schema
    )
    again = _trends_pass(warehouse, summary.run_dates)
    [after] = read_episodes(warehouse.conn_id, schema=warehouse.schema).to_dict("records")
    assert after["started_on"].date() == date(2024, 4, 9)  # the start moved …
    assert after["episode_id"] == before["episode_id"]  # … the id did not …
    assert again["new_alerts"] == 0  # … and nobody is told twice
    assert "confidence" not in first["message"]
    assert "95 % CI" in first["message"]


def test_an_infra_outage_day_is_alerted_once(warehouse: WarehouseTarget) -> None:
    """Issue 25.5: a day on which most runs are infra errors shows no success-rate drop (they are not
    evaluations), so the quality monitor says it, once."""
    from cekura_livekit.results.frames import extract
    from cekura_livekit.warehouse.writer import load_extract
    from tests.support.detection import Runs, step_rates
    from tests.support.warehouse import make_result, make_run

    runs = Runs().series(date(2024, 3, 1), step_rates(0.9, 0.9))
    outage = [make_run(80_000 + i, day="2024-04-19", outcome="infra_error", hour=22) for i in range(8)]
    summary = load_extract(
        warehouse.conn_id, extract(make_result(1, runs + outage), suite="nightly"), warehouse.schema
    )
    first = _trends_pass(warehouse, summary.run_dates)
    assert first["new_alerts"] == 0  # no drop …
    assert first["alerted_monitors"] == ["infra:1"]  # … but the infra share jumped
    assert "8 of 14 runs (57%) were infra errors or timeouts on 2024-04-19" in first["message"]
    assert _trends_pass(warehouse, [])["new_monitor_alerts"] == 0
