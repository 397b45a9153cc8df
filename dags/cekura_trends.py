"""Trend analytics: whenever runs land in the warehouse, refresh the daily rates, detect regressions and
alert each new one once (task log always; Slack / email when configured).

Configuration (environment): CEKURA_WAREHOUSE_CONN_ID (default cekura_warehouse), CEKURA_WAREHOUSE_SCHEMA,
CEKURA_SLACK_WEBHOOK_CONN_ID, CEKURA_ALERT_EMAIL.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from cekura_livekit.assets import warehouse_asset
from cekura_livekit.pipelines import warehouse_conn_id, warehouse_schema

WAREHOUSE = warehouse_conn_id()
SCHEMA = warehouse_schema()


@dag(
    dag_id="cekura_trends",
    schedule=[warehouse_asset(WAREHOUSE, "cekura_runs", SCHEMA)],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["cekura", "analytics", "alerts"],
    default_args={"owner": "qa-voice", "retries": 2, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
)
def cekura_trends() -> None:
    @task(multiple_outputs=False)
    def refresh_trends() -> dict:
        from cekura_livekit.pipelines import refresh_trends

        return refresh_trends(WAREHOUSE, SCHEMA)

    @task(outlets=[warehouse_asset(WAREHOUSE, "cekura_regressions", SCHEMA)], multiple_outputs=False)
    def detect_and_alert(**context: object) -> dict:
        from cekura_livekit.pipelines import detect_and_alert

        return detect_and_alert(
            WAREHOUSE,
            SCHEMA,
            slack_webhook_conn_id=os.environ.get("CEKURA_SLACK_WEBHOOK_CONN_ID"),
            email_to=os.environ.get("CEKURA_ALERT_EMAIL"),
            context=context,
        )

    refresh_trends() >> detect_and_alert()


cekura_trends()
