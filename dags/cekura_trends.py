"""Trend analytics: whenever runs land in the warehouse, refresh the daily rates, run the detectors over the
whole daily history (success-rate drop episodes, metric shifts, flakiness, data-quality monitors:
`cekura_livekit.detection`) and alert each new episode or monitor alert once (task log always; Slack / email
when configured).

The one owner of derived tables: loads write facts only and announce the run dates they touched in the runs
asset's event; this DAG recomputes from the earliest of them (minus the trailing window), produces
`success_rate_daily`, then the episodes and `regressions` (the drops in effect per day), on which the report
DAG is scheduled: one load, one report.

Configuration (environment): CEKURA_WAREHOUSE_CONN_ID (default cekura_warehouse), CEKURA_WAREHOUSE_SCHEMA,
CEKURA_SLACK_WEBHOOK_CONN_ID, CEKURA_ALERT_EMAIL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from cekura_livekit.assets import daily_asset, regressions_asset, runs_asset
from cekura_livekit.config import alert_email, alert_slack_conn_id, warehouse_conn_id, warehouse_schema

WAREHOUSE = warehouse_conn_id()
SCHEMA = warehouse_schema()


@dag(
    dag_id="cekura_trends",
    schedule=[runs_asset(WAREHOUSE, SCHEMA)],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["cekura", "analytics", "alerts"],
    default_args={"owner": "qa-voice", "retries": 2, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
)
def cekura_trends() -> None:
    @task(outlets=[daily_asset(WAREHOUSE, SCHEMA)], multiple_outputs=False)
    def refresh_trends(triggering_asset_events: Any = None) -> dict:
        from cekura_livekit.tasks.trends import refresh_trends, touched_days

        touched, trailing = touched_days(triggering_asset_events)
        return refresh_trends(WAREHOUSE, SCHEMA, trailing if trailing is not None else 28, touched=touched)

    @task(outlets=[regressions_asset(WAREHOUSE, SCHEMA)], multiple_outputs=False)
    def detect_and_alert(refreshed: Any, **context: object) -> dict:
        from cekura_livekit.tasks.alerting import detect_and_alert

        return detect_and_alert(
            WAREHOUSE,
            SCHEMA,
            slack_webhook_conn_id=alert_slack_conn_id(),
            email_to=alert_email(),
            context=context,
            regression_days=refreshed.get("regression_days"),
        )

    detect_and_alert(refresh_trends())


cekura_trends()
