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
        """The pushed URL, or "" when the task never got that far (e.g. the submit failed).

        The worker resolves links after every attempt, so a missing value is normal: read it through the
        sequence endpoint, which answers an empty list, instead of `XCom.get_value`, whose 404 path logs an
        error (`XCom not found … key='dashboard_url'`) in every failed task's log.
        """
        from airflow.sdk.execution_time.xcom import XCom

        values = XCom.get_all(
            key=DASHBOARD_URL_KEY, dag_id=ti_key.dag_id, task_id=ti_key.task_id, run_id=ti_key.run_id
        )
        if not values:
            return ""
        if ti_key.map_index is not None and ti_key.map_index >= 0:
            # Mapped instances: the values do not say which index pushed them, so ask for this one directly.
            url = XCom.get_value(ti_key=ti_key, key=DASHBOARD_URL_KEY)
        else:
            url = values[0]
        return str(url) if url else ""


def pushed_dashboard_url(ti: Any) -> str:
    """The URL this task instance pushed before it started waiting ("" when it never got that far)."""
    return str(ti.xcom_pull(task_ids=ti.task_id, key=DASHBOARD_URL_KEY, map_indexes=ti.map_index) or "")
