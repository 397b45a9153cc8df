"""Render the report in real headless Chromium: the charts must survive an actual browser, offline.

Saves the screenshot to ``artifacts/report.png`` for a human to look at. Skips when Chromium is absent,
except in CI (CI=true), where a missing browser is a broken environment and fails.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cekura_livekit.report import build_report_html, write_report
from tests.conftest import ARTIFACTS
from tests.report import samples
from tests.report.samples import AGENTS
from tests.support.chromium import chromium_or_skip as _chromium
from tests.support.chromium import run_chromium as _run

pytestmark = pytest.mark.chromium


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    browser = _chromium()
    work = tmp_path_factory.mktemp("chromium")
    html = build_report_html(
        samples.daily(),
        samples.episodes(),
        samples.flaky(),
        generated_at=datetime(2024, 3, 31, 7, 0, tzinfo=UTC),
    )
    report = Path(write_report(html, work / "report.html"))
    return browser, report, work


def test_dom_contains_the_charts(rendered: tuple[str, Path, Path]) -> None:
    browser, report, work = rendered
    result = _run(browser, work / "profile-dom", "--dump-dom", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    charts = re.findall(r'<svg[^>]*data-chart="([^"]+)"', dom)
    assert charts.count("success-rate") == len(AGENTS)
    assert charts.count("heatmap") == 1
    assert charts.count("infra-rate") == 1
    assert charts.count("interval") == 10
    assert len(charts) == len(AGENTS) + 2 + 10
    # Browser-parsed DOM keeps every section, the tables and the tooltips.
    for section in ("summary", "success-rate", "heatmap", "regressions", "flaky", "infra", "worst"):
        assert f'id="{section}"' in dom
    assert dom.count('class="cell') == 11 * 30
    assert "<title>" in dom
    assert "Wilson 95%" in dom


def test_screenshot(rendered: tuple[str, Path, Path]) -> None:
    browser, report, work = rendered
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "report.png"
    png.unlink(missing_ok=True)
    result = _run(
        browser, work / "profile-shot", f"--screenshot={png}", "--window-size=1400,3000", report.as_uri()
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 3000)
    # A blank page compresses to almost nothing; a page full of charts does not.
    assert len(data) > 100_000
