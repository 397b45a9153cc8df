"""Who hears about new regressions: always the task log, plus Slack or e-mail when configured."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseNotifier

from cekura_livekit.alerting.message import AnyAlert, email_html, slack_escape, slack_message

log = logging.getLogger(__name__)


class CekuraRegressionNotifier(BaseNotifier):
    """Tells people about new regressions: always in the task log, plus Slack or email when configured.

    `slack_webhook_conn_id` needs apache-airflow-providers-slack; `email_to` needs an SMTP connection
    (apache-airflow-providers-smtp, shipped with Airflow). Delivery failures are logged, never raised:
    the regression is already recorded in the warehouse and shown in the report.
    """

    template_fields = ("message", "email_to")

    def __init__(
        self,
        message: str,
        *,
        alerts: Sequence[AnyAlert] | None = None,
        slack_webhook_conn_id: str | None = None,
        email_to: str | list[str] | None = None,
        smtp_conn_id: str = "smtp_default",
    ) -> None:
        super().__init__()
        self.message = message
        self.alerts = list(alerts) if alerts else []
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.email_to = email_to
        self.smtp_conn_id = smtp_conn_id

    def slack_text(self) -> str:
        """The alerts as Slack mrkdwn (with dashboard links), else the plain message, escaped."""
        return slack_message(self.alerts) if self.alerts else slack_escape(self.message)

    def email_body(self) -> str:
        """The alerts as HTML (with dashboard links), else the plain message, escaped in a ``<pre>``."""
        return email_html(self.alerts) if self.alerts else f"<pre>{html.escape(self.message)}</pre>"

    def notify(self, context: Any) -> None:
        log.warning("%s", self.message)
        if self.slack_webhook_conn_id:
            self._to_slack()
        if self.email_to:
            self._to_email()

    def _to_slack(self) -> None:
        try:
            from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

            SlackWebhookHook(slack_webhook_conn_id=self.slack_webhook_conn_id).send(text=self.slack_text())
        except Exception as exc:  # delivery is best-effort; the log line in notify() always happened
            log.error("Could not send the regression alert to Slack: %s", exc)

    def _to_email(self) -> None:
        if not self.email_to:
            return
        try:
            from airflow.providers.smtp.hooks.smtp import SmtpHook

            with SmtpHook(smtp_conn_id=self.smtp_conn_id) as smtp:
                smtp.send_email_smtp(
                    to=self.email_to, subject="Cekura regressions", html_content=self.email_body()
                )
        except Exception as exc:
            log.error("Could not email the regression alert: %s", exc)
