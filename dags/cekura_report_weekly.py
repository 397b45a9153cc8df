"""The weekly read, on a schedule (Mondays 06:00 UTC) next to the asset-triggered report: a dated report
(`cekura_report_<latest day>.html`, kept, never overwritten by next week's) plus `index.html` listing every
past one, in CEKURA_WEEKLY_REPORT_DIR (a folder or an object-storage URL; default: `weekly/` next to the
asset-triggered report).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from cekura_livekit.config import warehouse_conn_id, warehouse_schema

WAREHOUSE = warehouse_conn_id()
SCHEMA = warehouse_schema()


@dag(
    dag_id="cekura_report_weekly",
    schedule="0 6 * * 1",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["cekura", "reporting"],
    default_args={"owner": "qa-voice", "retries": 1, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
)
def cekura_report_weekly() -> None:
    @task(multiple_outputs=False)
    def render_weekly_report() -> dict:
        from cekura_livekit.tasks.report import render_weekly_report

        return render_weekly_report(WAREHOUSE, SCHEMA)  # folder: config.weekly_report_dir()

    render_weekly_report()


cekura_report_weekly()
