"""Input frames: required columns, bad values, date types and the warehouse reader's spellings."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from cekura_livekit.report import build_report_html
from tests.report import samples
from tests.support.html_dom import Dom
from tests.support.html_dom import card as _card
from tests.support.html_dom import section_html as _section_html
from tests.support.report_samples import AGENTS, GENERATED, make_daily

# --------------------------------------------------------------------------------- input handling


def test_missing_required_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"'daily' is missing required column\(s\) \['failed_evaluation'\]"):
        build_report_html(
            pd.DataFrame({"run_date": [date(2024, 1, 1)], "agent_id": [1], "passed": [1]}), None, None
        )
    with pytest.raises(ValueError, match=r"'episodes' is missing required column\(s\) \['scenario_id'\]"):
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
    daily = samples.daily()
    daily["run_date"] = convert(daily["run_date"])
    assert build_report_html(daily, samples.episodes(), samples.flaky(), generated_at=GENERATED) == html


def test_minimal_daily_columns_render() -> None:
    daily = make_daily()[["run_date", "agent_id", "passed", "failed_evaluation"]]
    dom = Dom(build_report_html(daily, None, None, generated_at=GENERATED))
    assert len(dom.find("svg", data_chart="success-rate")) == len(AGENTS)
    runs = int(_card(dom, "runs")["attrs"]["data-value"])
    assert runs == int(daily["passed"].sum() + daily["failed_evaluation"].sum())


def test_missing_warehouse_values_show_as_dashes_never_nan() -> None:
    """Nullable warehouse dtypes (Int64 / Float64 with NA) render; a drop without the runs behind it (and no
    q-value) has a dash for its interval."""
    episodes = samples.episodes()
    episodes["q_value"] = pd.array([pd.NA, 0.041], dtype="Float64")
    episodes["current_n"] = pd.array([pd.NA, 38], dtype="Int64")
    episodes["peak_drop"] = pd.array([pd.NA, 0.084], dtype="Float64")  # falls back to baseline − current
    out = build_report_html(samples.daily(), episodes, samples.flaky(), generated_at=GENERATED)
    section = _section_html(out, "regressions")
    first = section.split("<tbody>")[1].split("</tr>")[0]
    assert "−40.3 pts" in first
    assert first.split('class="num drop"')[1].split("</td>")[1].endswith("–")
    second = section.split("<tbody>")[-1].split("</tr>")[0]
    assert "q = 0.041" not in second  # the resolved one has its runs: the interval, not the q-value
    assert re.search(r"[\d.]+ to [\d.]+ pts", second)
    assert "nan" not in out.lower().replace("nanum", "")


def test_real_agent_ids_a_true_agent_count_and_mode_as_its_own_label() -> None:
    """Issue 25.8: one agent running chat and voice is one agent with two panels, keeping its real id."""
    voice, chat = samples.daily("voice/managed"), samples.daily("chat/managed")
    daily = pd.concat([voice, chat[chat["agent_id"] == 101]], ignore_index=True)
    dom = Dom(build_report_html(daily, None, None, generated_at=GENERATED))
    figures = dom.find("figure", data_agent_id="101")
    assert sorted(f["attrs"]["data-mode"] for f in figures) == ["chat/managed", "voice/managed"]
    assert "Billing assistant · chat/managed" in {e["text"] for e in dom.find("span", **{"class": "name"})}
    assert _card(dom, "agents")["attrs"]["data-value"] == str(len(AGENTS))  # 3 agents, not 4 agent × mode
    html = build_report_html(daily, None, None, generated_at=GENERATED)
    assert "10101" not in html
    assert "10100" not in html
    assert "3 agents" in html


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
