"""Every Cekura result into the warehouse: cron jobs, CI, dashboard and API runs, not only Airflow's batches.

Hourly by default, the sync loads every result of the configured agents (or project, or everything the key
sees) created since the last sync, revisits results that were still running, and tags each with its source
(airflow / cron / ci / dashboard / api / unknown). Its outlets are the fact tables, so `cekura_trends` runs
after it. A result Airflow also loads per batch is the same row (upserts by id), with the batch's suite kept.

Backfill: trigger with params `since` / `until` (ISO dates) to load a date range; the watermark is untouched.

Configuration (environment): CEKURA_SYNC_SCHEDULE (default @hourly; `none` = manual only),
CEKURA_SYNC_AGENT_IDS, CEKURA_SYNC_PROJECT_ID, CEKURA_SYNC_ON_WEBHOOKS (also run on Cekura's webhooks), CEKURA_WAREHOUSE_CONN_ID, CEKURA_WAREHOUSE_SCHEMA. See docs/sync.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag

from cekura_livekit.config import warehouse_conn_id, warehouse_schema
from cekura_livekit.operators.sync import CekuraSyncResultsOperator
from cekura_livekit.sync.settings import sync_agent_ids, sync_dag_schedule, sync_project_id


@dag(
    dag_id="cekura_sync",
    schedule=sync_dag_schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # two passes of one scope would race on its watermark row
    tags=["cekura", "warehouse", "sync"],
    default_args={"owner": "qa-voice", "retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "since": Param(None, type=["null", "string"], description="Backfill from (ISO date/datetime, UTC)"),
        "until": Param(None, type=["null", "string"], description="Backfill until, exclusive (ISO, UTC)"),
    },
    doc_md=__doc__,
)
def cekura_sync() -> None:
    CekuraSyncResultsOperator(
        task_id="sync_results",
        warehouse_conn_id=warehouse_conn_id(),
        schema=warehouse_schema(),
        agent_ids=sync_agent_ids(),
        project_id=sync_project_id(),
        since="{{ params.since or '' }}",
        until="{{ params.until or '' }}",
    )


cekura_sync()
