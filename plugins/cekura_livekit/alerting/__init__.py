"""Regression alerts as people read them: the message (`message`) and who gets it (`notifier`).

Deciding *which* episodes to alert (once each) is the alert step's job (`tasks.alerting`, with its memory in
`warehouse.alert_memory`); nothing here touches the warehouse.
"""

from cekura_livekit.alerting.message import (
    Alert,
    alert_from_episode,
    alert_message,
    email_html,
    slack_message,
)
from cekura_livekit.alerting.notifier import CekuraRegressionNotifier

__all__ = [
    "Alert",
    "CekuraRegressionNotifier",
    "alert_from_episode",
    "alert_message",
    "email_html",
    "slack_message",
]
