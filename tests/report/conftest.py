"""Shared fixtures of the report tests: the warehouse-shaped sample frames, their page and its parsed DOM."""

from __future__ import annotations

import pandas as pd
import pytest

from cekura_livekit.report import build_report_html
from tests.report import samples
from tests.report.samples import GENERATED
from tests.support.html_dom import Dom


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return samples.daily(), samples.episodes(), samples.flaky()


@pytest.fixture(scope="module")
def html(frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> str:
    return build_report_html(*frames, generated_at=GENERATED)


@pytest.fixture(scope="module")
def dom(html: str) -> Dom:
    return Dom(html)
