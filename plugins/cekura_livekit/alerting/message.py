"""What a regression alert says, per channel (plain text, Slack mrkdwn, HTML e-mail).

The wording states the evidence and nothing more (issue 25.6): the success rate before and after with the
evaluated runs behind each, the change in points with its 95% interval (`effect.rate_change`), and the
episode's q-value named as such (a Benjamini–Hochberg adjusted p-value; ``1 − q`` is not a confidence, so
no "% confidence" appears). API-provided names (agents, scenarios) are escaped for the channel they go to.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cekura_livekit.effect import RateChange, rate_change
from cekura_livekit.warehouse.dates import as_date


@dataclass(frozen=True)
class Alert:
    """One new regression episode to tell people about."""

    agent_id: int
    agent_name: str
    scenario_id: int
    scenario_name: str
    run_date: date
    baseline_rate: float
    baseline_n: int
    current_rate: float
    current_n: int
    p_value: float | None  # a q-value (BH-adjusted p-value) when the episode has one; None for CUSUM episodes
    severity: str
    dashboard_url: str | None = None
    mode: str = ""
    suite: str = ""
    episode_id: str = ""
    #: The detector's own statement of the evidence (`detection.evidence.describe`); used when present.
    evidence_text: str = ""

    @property
    def drop_points(self) -> float:
        return (self.baseline_rate - self.current_rate) * 100

    @property
    def change(self) -> RateChange:
        """The rate change with its interval, from the counts behind the two rates."""
        return rate_change(
            round(self.baseline_rate * self.baseline_n),
            self.baseline_n,
            round(self.current_rate * self.current_n),
            self.current_n,
        )

    def evidence(self) -> str:
        """Rates with their runs, the change with its 95% interval, and the q-value as a q-value (or, for a
        CUSUM episode, the detector's own sentence: effect, interval, runs and the false-alarm budget)."""
        if self.evidence_text:
            return self.evidence_text
        c = self.change
        q = f", q={self.p_value:.2g} (BH-adjusted)" if self.p_value is not None else ""
        interval = f" (95% CI {_pts(c.low)} to {_pts(c.high)} pts)" if math.isfinite(c.low) else ""
        return (
            f"{self.baseline_rate:.0%} (n={self.baseline_n}) → {self.current_rate:.0%} (n={self.current_n}), "
            f"−{self.drop_points:.0f} pts{interval}{q}, "
            f"{self.baseline_n + self.current_n} evaluated runs"
        )

    def facts(self) -> str:
        """What happened, as plain text holding API-provided names: escape it for the channel it goes to."""
        grain = " · ".join(part for part in (self.mode, self.suite and f"suite {self.suite}") if part)
        return (
            f"[{self.severity.upper()}] {self.agent_name} / {self.scenario_name} (scenario {self.scenario_id})"
            f"{f' [{grain}]' if grain else ''}: since {self.run_date}: {self.evidence()}"
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
        if self.dashboard_url and is_web_url(self.dashboard_url):
            link = f' · <a href="{html.escape(self.dashboard_url, quote=True)}">dashboard</a>'
        elif self.dashboard_url:
            link = f" · {html.escape(self.dashboard_url)}"
        return html.escape(self.facts(), quote=True) + link


def alert_from_episode(row: Mapping[str, Any]) -> Alert:
    """An alert from a `cekura_regression_episodes` row; its link is the episode's stored `dashboard_url`
    (the latest result of its series, built once at load time by `batch/dashboard.py`)."""
    agent_id, scenario_id = int(row["agent_id"]), int(row["scenario_id"])
    q_value = row.get("q_value")
    if q_value is None or _nan(q_value):
        q_value = row.get("p_value")
    return Alert(
        agent_id=agent_id,
        agent_name=str(row.get("agent_name") or f"agent {agent_id}"),
        scenario_id=scenario_id,
        scenario_name=str(row.get("scenario_name") or f"scenario {scenario_id}"),
        run_date=as_date(row["started_on"]),
        baseline_rate=float(row["baseline_rate"]),
        baseline_n=int(row["baseline_n"]),
        current_rate=float(row["current_rate"]),
        current_n=int(row["current_n"]),
        p_value=None if q_value is None or _nan(q_value) else float(q_value),
        severity=str(row.get("severity") or "minor"),
        dashboard_url=row.get("dashboard_url") or None,
        mode=str(row.get("mode") or ""),
        suite=str(row.get("suite") or ""),
        episode_id=str(row.get("episode_id") or ""),
        evidence_text=str(row.get("evidence") or ""),
    )


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class MonitorAlert:
    """A metric shift episode or a data-quality alert (freshness / volume / infra), told once like a drop."""

    kind: str  # metric / freshness / volume / infra
    agent_name: str
    scenario_name: str
    scenario_id: int
    text: str
    mode: str = ""
    suite: str = ""
    dashboard_url: str | None = None

    def facts(self) -> str:
        grain = " · ".join(part for part in (self.mode, self.suite and f"suite {self.suite}") if part)
        return (
            f"[{self.kind.upper()}] {self.agent_name} / {self.scenario_name} (scenario {self.scenario_id})"
            f"{f' [{grain}]' if grain else ''}: {self.text}"
        )

    def line(self) -> str:
        return self.facts() + (f" · {self.dashboard_url}" if self.dashboard_url else "")

    def slack_line(self) -> str:
        link = _slack_link(self.dashboard_url, "dashboard") if self.dashboard_url else ""
        return slack_escape(self.facts()) + (f" · {link}" if link else "")

    def html_line(self) -> str:
        link = ""
        if self.dashboard_url and is_web_url(self.dashboard_url):
            link = f' · <a href="{html.escape(self.dashboard_url, quote=True)}">dashboard</a>'
        return html.escape(self.facts(), quote=True) + link


def metric_alert(row: Mapping[str, Any]) -> MonitorAlert:
    """A `cekura_metric_episodes` row as an alert: the level before and since, per metric."""
    shift = row.get("relative_shift")
    unit = f" {row['unit']}" if row.get("unit") else ""
    share = f" ({shift * 100:+.0f} %)" if shift is not None and not _nan(shift) else ""
    text = (
        f"{row.get('metric_name') or 'metric ' + str(row.get('metric_id'))}: daily median "
        f"{row['baseline_median']:,.0f}{unit} before → {row['episode_median']:,.0f}{unit} since "
        f"{row['started_on']}{share}; flagged on {row['flagged_on']} by a CUSUM on the daily median"
    )
    return _monitor("metric", row, text)


def quality_alert(row: Mapping[str, Any]) -> MonitorAlert:
    """A `cekura_quality_alerts` row as an alert (its message states observed against usual)."""
    return _monitor(str(row["kind"]), row, str(row["message"]))


def _monitor(kind: str, row: Mapping[str, Any], text: str) -> MonitorAlert:
    scenario_id = int(row["scenario_id"])
    return MonitorAlert(
        kind=kind,
        agent_name=str(row.get("agent_name") or f"agent {row['agent_id']}"),
        scenario_name=str(row.get("scenario_name") or f"scenario {scenario_id}"),
        scenario_id=scenario_id,
        text=text,
        mode=str(row.get("mode") or ""),
        suite=str(row.get("suite") or ""),
        dashboard_url=row.get("dashboard_url") or None,
    )


def _pts(fraction: float) -> str:
    return f"{fraction * 100:+.0f}".replace("-", "−")


AnyAlert = Alert | MonitorAlert


def _header(alerts: Sequence[AnyAlert]) -> str:
    if not alerts:
        return "No new Cekura regressions."
    if all(isinstance(a, Alert) for a in alerts):
        return f"{len(alerts)} new Cekura regression(s) detected:"
    return f"{len(alerts)} new Cekura alert(s) (regressions, metric shifts, data quality):"


def alert_message(alerts: Sequence[AnyAlert]) -> str:
    """Plain text (logs, XCom): nothing here is interpreted, so nothing is escaped."""
    return "\n".join([_header(alerts), *(f"• {a.line()}" for a in alerts)])


def slack_message(alerts: Sequence[AnyAlert]) -> str:
    """Slack mrkdwn: API-provided text cannot ping ``<!channel>`` or smuggle a ``<https://evil|link>``."""
    return "\n".join([_header(alerts), *(f"• {a.slack_line()}" for a in alerts)])


def email_html(alerts: Sequence[AnyAlert]) -> str:
    """E-mail body: API-provided names are escaped, so a name can never become markup in a mail client."""
    items = "".join(f"<li>{a.html_line()}</li>" for a in alerts)
    return f"<p>{html.escape(_header(alerts))}</p>" + (f"<ul>{items}</ul>" if items else "")


def slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def is_web_url(url: str) -> bool:
    """An http(s) URL without whitespace: the only kind of link an alert or the report turns into a link."""
    scheme, sep, rest = url.partition("://")
    return (
        bool(sep) and scheme.lower() in {"http", "https"} and bool(rest) and not any(c.isspace() for c in url)
    )


def _slack_link(url: str, label: str) -> str:
    """``<url|label>`` with both parts escaped; a ``|`` in the URL is percent-encoded so it cannot end it early.

    Anything that is not an http(s) URL is shown as escaped text, never as a link.
    """
    if not is_web_url(url):
        return slack_escape(url)
    return f"<{slack_escape(url).replace('|', '%7C')}|{slack_escape(label).replace('|', '/')}>"
