"""Self-contained HTML report of Cekura voice-agent test trends (inline SVG charts; opens offline).

Usage::

    from cekura_livekit.report import build_report_html, write_report

    html = build_report_html(daily, episodes, flaky)  # warehouse.read frames, their own column names
    where = write_report(html, "s3://reports/cekura/latest.html")  # or a local path / ObjectStoragePath

The frames' expected columns (required / optional) are documented in :mod:`cekura_livekit.report.schema`.
"""

from cekura_livekit.report.output import write_report
from cekura_livekit.report.page import build_report_html
from cekura_livekit.report.stats import wilson_interval

__all__ = ["build_report_html", "wilson_interval", "write_report"]
