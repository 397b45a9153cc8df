"""Deployment configuration the bundled DAGs read from the environment: one home for every variable.

Everything here is operator-set (environment of the scheduler and workers), never run-param-set: in
particular the report roots, which bound where a `cekura_report` run may write (issue 24.2).

| variable | meaning | default |
|---|---|---|
| `CEKURA_WAREHOUSE_CONN_ID` | the warehouse connection | `cekura_warehouse` |
| `CEKURA_WAREHOUSE_SCHEMA` | the warehouse schema (SQLite: table prefix) | `cekura` |
| `CEKURA_REPORT_DESTINATION` | where the asset-triggered report goes (path or object-storage URL) | `<AIRFLOW_HOME>/reports/cekura_report.html` |
| `CEKURA_WEEKLY_REPORT_DIR` | folder of the dated weekly reports | `weekly/` next to the report |
| `CEKURA_REPORT_ROOTS` | comma-separated folders / URL prefixes a report may be written under | the folders of the two above |
| `CEKURA_SLACK_WEBHOOK_CONN_ID`, `CEKURA_ALERT_EMAIL` | where alerts go besides the task log | none |
"""

from __future__ import annotations

import os
from pathlib import Path

from cekura_livekit.warehouse.tables import DEFAULT_SCHEMA

DEFAULT_WAREHOUSE_CONN_ID = "cekura_warehouse"


def warehouse_conn_id() -> str:
    """The warehouse connection the bundled DAGs use (`CEKURA_WAREHOUSE_CONN_ID`, default cekura_warehouse)."""
    return os.environ.get("CEKURA_WAREHOUSE_CONN_ID", DEFAULT_WAREHOUSE_CONN_ID)


def warehouse_schema() -> str:
    """The warehouse schema (`CEKURA_WAREHOUSE_SCHEMA`, default cekura)."""
    return os.environ.get("CEKURA_WAREHOUSE_SCHEMA", DEFAULT_SCHEMA)


def default_report_destination() -> str:
    """`CEKURA_REPORT_DESTINATION` (a path or an object-storage URL), else <AIRFLOW_HOME>/reports."""
    configured = os.environ.get("CEKURA_REPORT_DESTINATION")
    if configured:
        return configured
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return str(home / "reports" / "cekura_report.html")


def _parent(destination: str) -> str:
    """The folder of a path or URL destination (text only: nothing is resolved or created)."""
    return (
        destination.rstrip("/").rsplit("/", 1)[0] if "://" in destination else str(Path(destination).parent)
    )


def weekly_report_dir() -> str:
    """`CEKURA_WEEKLY_REPORT_DIR`, else `weekly/` next to the asset-triggered report."""
    return os.environ.get("CEKURA_WEEKLY_REPORT_DIR") or f"{_parent(default_report_destination())}/weekly"


def alert_slack_conn_id() -> str | None:
    return os.environ.get("CEKURA_SLACK_WEBHOOK_CONN_ID") or None


def alert_email() -> str | None:
    return os.environ.get("CEKURA_ALERT_EMAIL") or None


def report_roots() -> list[str]:
    """Where reports may be written: `CEKURA_REPORT_ROOTS` (comma-separated local folders or URL prefixes
    such as ``s3://bucket/reports``), else the folder of the configured report destination (whose
    `weekly/` folder is inside it) and the weekly folder when configured elsewhere."""
    configured = [r.strip() for r in os.environ.get("CEKURA_REPORT_ROOTS", "").split(",") if r.strip()]
    if configured:
        return configured
    roots = [_parent(default_report_destination())]
    if os.environ.get("CEKURA_WEEKLY_REPORT_DIR"):
        roots.append(os.environ["CEKURA_WEEKLY_REPORT_DIR"])
    return roots
