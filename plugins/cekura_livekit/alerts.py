"""Regression alerts: once per regression episode, never twice for the same one.

A regression stays visible day after day while its window slides, so `cekura_regressions` holds one row per
window end. An *episode* is an agent × scenario whose detections follow each other without a gap longer than
the current window; it is alerted when it starts and then only remembered (`cekura_regression_alerts`),
in the same warehouse and transaction as the check, so two concurrent DAG runs cannot both alert.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import BaseNotifier

from cekura_livekit.warehouse.dates import as_date
from cekura_livekit.warehouse.ddl import ensure_tables
from cekura_livekit.warehouse.dialects import open_warehouse, q
from cekura_livekit.warehouse.tables import ALERTS, DEFAULT_SCHEMA

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One new regression to tell people about."""

    agent_id: int
    agent_name: str
    scenario_id: int
    scenario_name: str
    run_date: date
    baseline_rate: float
    baseline_n: int
    current_rate: float
    current_n: int
    p_value: float
    severity: str
    dashboard_url: str | None = None

    @property
    def drop_points(self) -> float:
        return (self.baseline_rate - self.current_rate) * 100

    def facts(self) -> str:
        """What happened, as plain text holding API-provided names: escape it for the channel it goes to."""
        confidence = (1 - self.p_value) * 100
        return (
            f"[{self.severity.upper()}] {self.agent_name} / {self.scenario_name} (scenario {self.scenario_id}): "
            f"{self.baseline_rate:.0%} (n={self.baseline_n}) → {self.current_rate:.0%} (n={self.current_n}), "
            f"−{self.drop_points:.0f} pts, p={self.p_value:.3g} ({confidence:.1f}% confidence)"
        )

    def line(self) -> str:
        """Plain text for logs and the task's return value."""
        return self.facts() + (f" · {self.dashboard_url}" if self.dashboard_url else "")

    def slack_line(self) -> str:
        """Slack mrkdwn: the names escaped, our dashboard link as ``<url|label>``."""
        link = _slack_link(self.dashboard_url, "dashboard") if self.dashboard_url else ""
        return slack_escape(self.facts()) + (f" · {link}" if link else "")

    def html_line(self) -> str:
        """HTML for e-mail: the names escaped, our dashboard link as an anchor."""
        link = ""
        if self.dashboard_url and _is_web_url(self.dashboard_url):
            link = f' · <a href="{html.escape(self.dashboard_url, quote=True)}">dashboard</a>'
        elif self.dashboard_url:
            link = f" · {html.escape(self.dashboard_url)}"
        return html.escape(self.facts(), quote=True) + link


def claim_new_alerts(
    warehouse_conn_id: str,
    regressions: Sequence[Mapping[str, Any]],
    *,
    gap_days: int = 3,
    schema: str = DEFAULT_SCHEMA,
    dashboard_url: str | None = None,
) -> list[Alert]:
    """Record the detections and return only those that start a new episode (to be alerted once)."""
    if gap_days < 1:
        raise ValueError(f"gap_days={gap_days!r} must be at least 1 (days between detections of one episode)")
    fresh: list[Alert] = []
    with open_warehouse(warehouse_conn_id, schema) as wh, wh.transaction() as cur:
        dialect = wh.dialect
        ensure_tables(dialect, cur)
        table = dialect.table(ALERTS)
        p = dialect.param
        for row in sorted(regressions, key=lambda r: as_date(r["run_date"])):
            agent_id, scenario_id, seen = (
                int(row["agent_id"]),
                int(row["scenario_id"]),
                as_date(row["run_date"]),
            )
            cur.execute(
                f"SELECT {q('first_detected')}, {q('last_seen')} FROM {table} "
                f"WHERE {q('agent_id')} = {p} AND {q('scenario_id')} = {p} "
                f"ORDER BY {q('last_seen')} DESC LIMIT 1",
                (agent_id, scenario_id),
            )
            episode = cur.fetchone()
            if episode is not None and seen - as_date(episode[1]) <= timedelta(days=gap_days):
                if seen > as_date(episode[1]):
                    cur.execute(
                        f"UPDATE {table} SET {q('last_seen')} = {p} WHERE {q('agent_id')} = {p} "
                        f"AND {q('scenario_id')} = {p} AND {q('first_detected')} = {p}",
                        (dialect.db_value("date", seen), agent_id, scenario_id, episode[0]),
                    )
                continue
            cur.execute(
                f"INSERT INTO {table} ({', '.join(q(c) for c in ALERTS.column_names)}) "
                f"VALUES ({', '.join([p] * len(ALERTS.column_names))})",
                (
                    agent_id,
                    scenario_id,
                    dialect.db_value("date", seen),
                    dialect.db_value("date", seen),
                    str(row.get("severity") or "minor"),
                    dialect.db_value("timestamp", datetime.now(UTC)),
                ),
            )
            fresh.append(
                Alert(
                    agent_id=agent_id,
                    agent_name=str(row.get("agent_name") or f"agent {agent_id}"),
                    scenario_id=scenario_id,
                    scenario_name=str(row.get("scenario_name") or f"scenario {scenario_id}"),
                    run_date=seen,
                    baseline_rate=float(row["baseline_rate"]),
                    baseline_n=int(row["baseline_n"]),
                    current_rate=float(row["current_rate"]),
                    current_n=int(row["current_n"]),
                    p_value=float(row["p_value"]),
                    severity=str(row.get("severity") or "minor"),
                    dashboard_url=dashboard_url,
                )
            )
    return fresh


def _header(alerts: Sequence[Alert]) -> str:
    return f"{len(alerts)} new Cekura regression(s) detected:" if alerts else "No new Cekura regressions."


def alert_message(alerts: Sequence[Alert]) -> str:
    """Plain text (logs, XCom): nothing here is interpreted, so nothing is escaped."""
    return "\n".join([_header(alerts), *(f"• {a.line()}" for a in alerts)])


def slack_message(alerts: Sequence[Alert]) -> str:
    """Slack mrkdwn: API-provided text cannot ping ``<!channel>`` or smuggle a ``<https://evil|link>``."""
    return "\n".join([_header(alerts), *(f"• {a.slack_line()}" for a in alerts)])


def email_html(alerts: Sequence[Alert]) -> str:
    """E-mail body: API-provided names are escaped, so a name can never become markup in a mail client."""
    items = "".join(f"<li>{a.html_line()}</li>" for a in alerts)
    return f"<p>{html.escape(_header(alerts))}</p>" + (f"<ul>{items}</ul>" if items else "")


def slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _is_web_url(url: str) -> bool:
    scheme, sep, rest = url.partition("://")
    return (
        bool(sep) and scheme.lower() in {"http", "https"} and bool(rest) and not any(c.isspace() for c in url)
    )


def _slack_link(url: str, label: str) -> str:
    """``<url|label>`` with both parts escaped; a ``|`` in the URL is percent-encoded so it cannot end it early.

    Anything that is not an http(s) URL is shown as escaped text, never as a link.
    """
    if not _is_web_url(url):
        return slack_escape(url)
    return f"<{slack_escape(url).replace('|', '%7C')}|{slack_escape(label).replace('|', '/')}>"


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
        alerts: Sequence[Alert] | None = None,
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
            try:
                from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

                SlackWebhookHook(slack_webhook_conn_id=self.slack_webhook_conn_id).send(
                    text=self.slack_text()
                )
            except Exception as exc:  # delivery is best-effort; the log line above always happened
                log.error("Could not send the regression alert to Slack: %s", exc)
        if self.email_to:
            try:
                from airflow.providers.smtp.hooks.smtp import SmtpHook

                with SmtpHook(smtp_conn_id=self.smtp_conn_id) as smtp:
                    smtp.send_email_smtp(
                        to=self.email_to,
                        subject="Cekura regressions",
                        html_content=self.email_body(),
                    )
            except Exception as exc:
                log.error("Could not email the regression alert: %s", exc)
