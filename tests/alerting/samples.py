"""Alerts and episode rows the alerting tests share: an ordinary regression episode, and an alert whose
API-provided names are hostile to every channel (Slack control sequences, HTML)."""

from __future__ import annotations

from datetime import date
from typing import Any

from cekura_livekit.alerting import Alert


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
