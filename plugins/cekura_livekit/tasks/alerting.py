"""The alert step: detect regressions, claim the episodes never alerted, and tell people once per episode
(drop episodes by `episode_id`; metric episodes and data-quality alerts through their own memory).

No API call and no SQL here: the link of each alert is the `dashboard_url` the episode row already carries
(the latest result of its series, stored at load time by `batch/dashboard.py`), and the alert-once memory is
`warehouse.alert_memory`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from cekura_livekit.alerting.message import (
    Alert,
    AnyAlert,
    MonitorAlert,
    alert_from_episode,
    alert_message,
    metric_alert,
    quality_alert,
)
from cekura_livekit.tasks.trends import detect_regressions_for
from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA

log = logging.getLogger(__name__)


def claim_new_alerts(
    warehouse_conn_id: str,
    episodes: Sequence[Mapping[str, Any]],
    *,
    schema: str = DEFAULT_SCHEMA,
    dashboard_url: str | None = None,
) -> list[Alert]:
    """Remember the open episodes and return an alert for each one never alerted before.

    `dashboard_url` overrides every alert's link (a caller that knows better); by default each alert links
    to its episode's stored `dashboard_url`.
    """
    from cekura_livekit.warehouse.alert_memory import claim_episodes
    from cekura_livekit.warehouse.connection import open_warehouse

    with open_warehouse(warehouse_conn_id, schema) as wh:
        claimed = claim_episodes(wh, episodes)
    alerts = [alert_from_episode(row) for row in claimed]
    if dashboard_url:
        return [_with_link(a, dashboard_url) for a in alerts]
    return alerts


def claim_monitor_alerts(warehouse_conn_id: str, *, schema: str = DEFAULT_SCHEMA) -> list[MonitorAlert]:
    """An alert for each open metric episode and each current data-quality alert never alerted before."""
    from cekura_livekit.warehouse.alert_memory import claim_monitor_rows
    from cekura_livekit.warehouse.connection import open_warehouse

    with open_warehouse(warehouse_conn_id, schema) as wh:
        claimed = claim_monitor_rows(wh)
    return [metric_alert(row) if kind == "metric" else quality_alert(row) for kind, row in claimed]


def _with_link(alert: Alert, url: str) -> Alert:
    return dataclasses.replace(alert, dashboard_url=url)


def detect_and_alert(
    conn_id: str,
    schema: str = DEFAULT_SCHEMA,
    *,
    slack_webhook_conn_id: str | None = None,
    email_to: str | None = None,
    context: Any = None,
    regression_days: Iterable[date | str] | None = None,
) -> dict[str, Any]:
    """Detect regressions for `regression_days` (default: the latest window), alert each new episode once,
    and return what happened. Links come from the warehouse (each episode's latest stored dashboard URL),
    never from an API call.
    """
    from cekura_livekit.alerting.notifier import CekuraRegressionNotifier

    found, episodes = detect_regressions_for(conn_id, schema, regression_days)
    drops = claim_new_alerts(conn_id, [e for e in episodes if not e.get("quarantined")], schema=schema)
    monitors = claim_monitor_alerts(conn_id, schema=schema)
    fresh: list[AnyAlert] = [*drops, *monitors]
    message = alert_message(fresh)
    if fresh:
        CekuraRegressionNotifier(
            message, alerts=fresh, slack_webhook_conn_id=slack_webhook_conn_id, email_to=email_to
        ).notify(context or {})
    else:
        log.info("%d daily detection(s), %d episode(s), none new: no alert.", len(found), len(episodes))
    return {
        "regressions": len(found),
        "episodes": len(episodes),
        "open_episodes": sum(1 for e in episodes if e["state"] == "open"),
        "new_alerts": len(drops),
        "new_monitor_alerts": len(monitors),
        "alerted": [f"{a.agent_id}/{a.scenario_id}" for a in drops],
        "alerted_monitors": [f"{a.kind}:{a.scenario_id}" for a in monitors],
        "message": message,
    }
