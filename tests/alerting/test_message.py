"""The alert message as people read it (`alerting.message`): the evidence stated honestly (issue 25.6), and
links only to web URLs, escaped per channel."""

from __future__ import annotations

from datetime import date

from cekura_livekit.alerting import (
    alert_from_episode,
    alert_message,
    email_html,
    slack_message,
)
from cekura_livekit.tasks.alerting import claim_new_alerts
from tests.alerting.samples import hostile_alert, regression
from tests.support.warehouse import WarehouseTarget


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


def test_slack_link_cannot_be_hijacked_by_the_url() -> None:
    assert (
        slack_message([hostile_alert("https://x.example/a|b>c")])
        .splitlines()[1]
        .endswith("<https://x.example/a%7Cb&gt;c|dashboard>")
    )
    # Not a web URL: shown as text, never linked.
    line = slack_message([hostile_alert("javascript:alert(1)")]).splitlines()[1]
    assert line.endswith(" · javascript:alert(1)")


def test_email_body_without_a_web_link_links_nothing() -> None:
    body = email_html([hostile_alert('javascript:alert(1)" onclick="x')])
    assert "<a " not in body
    assert 'onclick="' not in body


def test_an_episode_row_becomes_an_alert_with_its_own_link_and_fallbacks() -> None:
    """No warehouse: the row as `warehouse.episodes` stores it. A NaN q-value (a store without q) falls back
    to the p-value; missing names read as the ids."""
    alert = alert_from_episode(
        regression(
            "2026-11-17",
            agent_name=None,
            scenario_name="",
            q_value=float("nan"),
            p_value=0.02,
            dashboard_url="https://dashboard.cekura.ai/11/results/9",
            episode_id="ep-1",
        )
    )
    assert (alert.agent_name, alert.scenario_name) == ("agent 101", "scenario 2004")
    assert alert.p_value == 0.02
    assert alert.run_date == date(2026, 11, 17)
    assert alert.episode_id == "ep-1"
    text = alert_message([alert])
    assert "https://dashboard.cekura.ai/11/results/9" in text
    assert "confidence" not in text
    assert "since 2026-11-17" in text


def test_a_row_without_any_significance_says_so_rather_than_inventing_one() -> None:
    alert = alert_from_episode(regression("2026-11-17", q_value=None, p_value=None))
    assert alert.p_value is None
    assert "q=" not in alert_message([alert])
