"""Operator extra link: the Cekura dashboard page of the batch a task submitted.

The operator pushes the URL to XCom (key `dashboard_url`) before it starts waiting, so the button works
while the batch is still running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

DASHBOARD_URL_KEY = "dashboard_url"


class CekuraResultLink(BaseOperatorLink):
    """ "Cekura result" button on the task instance page."""

    name = "Cekura result"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(ti_key=ti_key, key=DASHBOARD_URL_KEY)
        return str(url) if url else ""


def pushed_dashboard_url(ti: Any) -> str:
    """The URL this task instance pushed before it started waiting ("" when it never got that far)."""
    return str(ti.xcom_pull(task_ids=ti.task_id, key=DASHBOARD_URL_KEY, map_indexes=ti.map_index) or "")
