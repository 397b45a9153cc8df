"""Moved: this module was split by job (issue 18.3). Kept only until the remaining importers are updated.

| old `cekura_livekit.pipelines.X` | new home |
|---|---|
| warehouse_conn_id, warehouse_schema, default_report_destination, DEFAULT_WAREHOUSE_CONN_ID | `cekura_livekit.config` |
| touched_days, refresh_trends, detect_regressions_for | `cekura_livekit.tasks.trends` |
| detect_and_alert | `cekura_livekit.tasks.alerting` |
| latest_run_date, read_report_inputs, render_report, render_weekly_report | `cekura_livekit.tasks.report` |
| episodes_for_report, by_mode, flaky_for_report, _dashboard_links | removed: the report reads the warehouse's names |
"""

from cekura_livekit.config import (
    DEFAULT_WAREHOUSE_CONN_ID,
    default_report_destination,
    warehouse_conn_id,
    warehouse_schema,
)
from cekura_livekit.tasks.alerting import detect_and_alert
from cekura_livekit.tasks.report import (
    latest_run_date,
    read_report_inputs,
    render_report,
    render_weekly_report,
)
from cekura_livekit.tasks.trends import detect_regressions_for, refresh_trends, touched_days

__all__ = [
    "DEFAULT_WAREHOUSE_CONN_ID",
    "default_report_destination",
    "detect_and_alert",
    "detect_regressions_for",
    "latest_run_date",
    "read_report_inputs",
    "refresh_trends",
    "render_report",
    "render_weekly_report",
    "touched_days",
    "warehouse_conn_id",
    "warehouse_schema",
]
