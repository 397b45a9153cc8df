"""Input frames: required columns, bad values, date types and the warehouse reader's spellings."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from cekura_livekit.report import build_report_html
from tests.support.html_dom import Dom
from tests.support.html_dom import card as _card
from tests.support.html_dom import section_html as _section_html
from tests.support.html_dom import table_rows as _rows
from tests.support.report_samples import (
    AGENTS,
    DAYS,
    GENERATED,
    START,
    as_warehouse_frames,
    make_daily,
    make_flaky,
    make_regressions,
)

# --------------------------------------------------------------------------------- input handling


def test_missing_required_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"'daily' is missing required column\(s\) \['failed_evaluation'\]"):
        build_report_html(
            pd.DataFrame({"run_date": [date(2024, 1, 1)], "agent_id": [1], "passed": [1]}), None, None
        )
    with pytest.raises(ValueError, match=r"'regressions' is missing required column\(s\) \['scenario_id'\]"):
        build_report_html(None, pd.DataFrame({"agent_id": [1]}), None)


def test_bad_values_are_clear_errors() -> None:
    base = {"run_date": [date(2024, 1, 1)], "agent_id": [1], "passed": [1], "failed_evaluation": [0]}
    with pytest.raises(ValueError, match="'run_date' holds a value that is not a date: 'yesterday'"):
        build_report_html(pd.DataFrame({**base, "run_date": ["yesterday"]}), None, None)
    with pytest.raises(ValueError, match="'passed' must hold counts; got 'many'"):
        build_report_html(pd.DataFrame({**base, "passed": ["many"]}), None, None)
    with pytest.raises(ValueError, match="negative count"):
        build_report_html(pd.DataFrame({**base, "failed_evaluation": [-1]}), None, None)
    with pytest.raises(ValueError, match="passed=5 > runs=2"):
        build_report_html(pd.DataFrame({**base, "passed": [5], "runs": [2]}), None, None)


@pytest.mark.parametrize(
    "convert",
    [
        lambda s: pd.to_datetime(s),
        lambda s: s.map(lambda d: d.isoformat()),
        lambda s: pd.to_datetime(s).dt.tz_localize("UTC"),
    ],
    ids=["datetime64", "iso-strings", "tz-aware"],
)
def test_run_date_types_give_the_same_report(convert, html: str) -> None:
    daily = make_daily()
    daily["run_date"] = convert(daily["run_date"])
    assert build_report_html(daily, make_regressions(), make_flaky(), generated_at=GENERATED) == html


def test_minimal_daily_columns_render() -> None:
    daily = make_daily()[["run_date", "agent_id", "passed", "failed_evaluation"]]
    dom = Dom(build_report_html(daily, None, None, generated_at=GENERATED))
    assert len(dom.find("svg", data_chart="success-rate")) == len(AGENTS)
    runs = int(_card(dom, "runs")["attrs"]["data-value"])
    assert runs == int(daily["passed"].sum() + daily["failed_evaluation"].sum())


def test_warehouse_shaped_frames_render_the_same_numbers(html: str) -> None:
    """The warehouse reader's spellings (rate_drop, failed_evaluation, run_date) and nullable dtypes plug in."""
    daily, regressions, flaky = as_warehouse_frames()
    out = build_report_html(daily, regressions, flaky, generated_at=GENERATED)
    for section in ("summary", "success-rate", "heatmap", "infra", "worst"):
        assert _section_html(out, section) == _section_html(html, section), section
    reg_rows = _rows(_section_html(out, "regressions"))
    assert "−40.3 pts" in reg_rows[0]
    assert "&lt; 0.001" in reg_rows[0]
    assert "–" in reg_rows[1].split('class="num drop"')[1]  # NA p-value shows as a dash, not "nan"
    assert "nan" not in out.lower().replace("nanum", "")
    flaky_rows = _rows(_section_html(out, "flaky"))
    assert "Spanish speaker" in flaky_rows[0]
    assert "60% pass" in flaky_rows[0]
    assert f"{START + timedelta(days=DAYS - 1):%Y-%m-%d}" in flaky_rows[0]


def test_daily_rows_without_a_date_are_rejected() -> None:
    frame = pd.DataFrame(
        {
            "run_date": [date(2024, 1, 1), None],
            "agent_id": [1, 1],
            "passed": [1, 1],
            "failed_evaluation": [0, 0],
        }
    )
    with pytest.raises(ValueError, match="1 row\\(s\\) without a run_date"):
        build_report_html(frame, None, None)
