"""Benchmark 7, report: a year × 50 scenarios × 3 agents of daily rows → the HTML report."""

from __future__ import annotations

from bench.common import Section, Target, airflow_env, repeat
from bench.data import daily_frame


def run(smoke: bool = False) -> Section:
    airflow_env()
    from cekura_livekit.report.page import build_report_html

    days, scenarios = (30, 5) if smoke else (365, 50)
    daily = daily_frame(days=days, scenarios=scenarios)
    section = Section(
        "7. Report", f"`build_report_html` over {len(daily):,} daily rows (no regressions, no flaky)."
    )
    html: list[str] = []
    times = repeat(lambda: html.append(build_report_html(daily, None, None)), 2 if smoke else 5)
    size = len(html[-1].encode())
    t = section.add(
        "build the report", f"{days} d × {scenarios} × 3", times, "s", note=f"{size / 1024:,.0f} KB HTML"
    )
    section.targets.append(
        Target(
            "report build < 3 s",
            f"{t.median:.2f} s, {size / 2**20:.1f} MB",
            t.median < 3 if not smoke else None,
        )
    )
    return section
