"""A task that carries the "Cekura result" link but never pushes `dashboard_url` (like a failed submit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, BaseOperator

from cekura_livekit.links import CekuraResultLink


class _NoSubmit(BaseOperator):
    operator_extra_links = (CekuraResultLink(),)

    def execute(self, context: Any) -> None:
        return None


with DAG("link_without_xcom", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as link_dag:
    _NoSubmit(task_id="no_submit")
