"""Deployment configuration (`cekura_livekit.config`): one home for every environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from cekura_livekit import config


def test_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("CEKURA_WAREHOUSE_CONN_ID", "CEKURA_WAREHOUSE_SCHEMA", "CEKURA_REPORT_DESTINATION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("CEKURA_WEEKLY_REPORT_DIR", raising=False)
    monkeypatch.delenv("CEKURA_REPORT_ROOTS", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert config.warehouse_conn_id() == "cekura_warehouse"
    assert config.warehouse_schema() == "cekura"
    assert config.default_report_destination() == str(tmp_path / "reports" / "cekura_report.html")
    assert config.weekly_report_dir() == f"{tmp_path / 'reports'}/weekly"
    assert config.report_roots() == [str(tmp_path / "reports")]  # the weekly folder is inside it

    monkeypatch.setenv("CEKURA_REPORT_DESTINATION", "s3://bucket/reports/latest.html")
    assert config.weekly_report_dir() == "s3://bucket/reports/weekly"
    assert config.report_roots() == ["s3://bucket/reports"]
    monkeypatch.setenv("CEKURA_WEEKLY_REPORT_DIR", "/srv/weekly")
    assert config.report_roots() == ["s3://bucket/reports", "/srv/weekly"]
    monkeypatch.setenv("CEKURA_REPORT_ROOTS", " /srv/a , s3://b/c ,")
    assert config.report_roots() == ["/srv/a", "s3://b/c"]
