"""The "Cekura result" link when the task never pushed a dashboard URL (the submit failed): an empty link and
no `XCom not found` error in the task's log (the worker resolves links after every attempt)."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_missing_dashboard_url_gives_an_empty_link_quietly(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.dag_files.link_without_xcom import link_dag

    with caplog.at_level(logging.DEBUG):
        dr = link_dag.test()
    (ti,) = dr.get_task_instances()
    assert ti.state == "success"
    assert ti.xcom_pull(task_ids="no_submit", key="_link_CekuraResultLink") == ""
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "no_submit" in logged or dr.dag_id in logged  # the run's log was captured at all
    assert "XCom not found" not in logged
