"""The data team's report: a self-contained HTML page (charts inline, opens offline) rebuilt whenever the
trends DAG finishes a pass (it produces the regressions asset last, once per load), written to CEKURA_REPORT_DESTINATION (a local path by default, or an
object-storage URL such as s3://bucket/reports/cekura.html through Airflow's ObjectStoragePath).

A run's `destination` param may only name a place inside the report roots the deployment configured
(CEKURA_REPORT_ROOTS, default the folder of CEKURA_REPORT_DESTINATION): anything else (`../..`, another scheme,
an absolute path or a symlink leading out) fails the run at once, and no file the report did not write is
ever overwritten.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from cekura_livekit.assets import regressions_asset
from cekura_livekit.config import warehouse_conn_id, warehouse_schema

WAREHOUSE = warehouse_conn_id()
SCHEMA = warehouse_schema()


@dag(
    dag_id="cekura_report",
    schedule=[regressions_asset(WAREHOUSE, SCHEMA)],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["cekura", "reporting"],
    default_args={"owner": "qa-voice", "retries": 1, "retry_delay": timedelta(minutes=1)},
    params={
        "days": Param(
            60, type="integer", minimum=1, maximum=730, description="Days of history in the report"
        ),
        "destination": Param(
            None,
            type=["null", "string"],
            description="File inside the configured report roots (CEKURA_REPORT_ROOTS); empty = the configured default",
        ),
    },
    doc_md=__doc__,
)
def cekura_report() -> None:
    @task(multiple_outputs=False)
    def render_report(params: dict | None = None) -> dict:
        from cekura_livekit.tasks.report import render_requested_report

        params = params or {}
        return render_requested_report(
            WAREHOUSE, SCHEMA, params.get("destination"), days=int(params.get("days") or 60)
        )

    render_report()


cekura_report()
