"""The rendered page: structure, the numbers it shows, the charts, escaping and empty inputs."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pandas as pd
import pytest

from cekura_livekit.effect import rate_change
from cekura_livekit.report import build_report_html, wilson_interval
from tests.report import samples
from tests.report.samples import AGENTS, DAYS, GENERATED, SCENARIOS, START
from tests.support.html_dom import Dom
from tests.support.html_dom import card as _card
from tests.support.html_dom import section_html as _section_html
from tests.support.html_dom import table_rows as _rows
from tests.support.report_samples import REGRESSING, SECTION_IDS, make_daily


def _tagged_rows(section: str) -> list[str]:
    """Every body row of every table in `section`, with its ``<tr …>`` tag (rows carry data-* attributes)."""
    bodies = re.findall(r"<tbody>(.*?)</tbody>", section, re.S)
    return [row for body in bodies for row in re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)]


# ------------------------------------------------------------------------------------- structure


def test_every_section_and_chart_is_present(dom: Dom, html: str) -> None:
    for section_id in SECTION_IDS:
        assert dom.find(id=section_id), section_id
    assert len(dom.find("svg", data_chart="success-rate")) == len(AGENTS)
    assert len(dom.find("svg", data_chart="heatmap")) == 1
    assert len(dom.find("svg", data_chart="infra-rate")) == 1
    assert len(dom.find("table", **{"class": "regressions open"})) == 1
    assert len(dom.find("table", **{"class": "regressions ended"})) == 1
    assert len(dom.find("table", **{"class": "flaky scored"})) == 1
    assert len(dom.find("table", **{"class": "worst"})) == 1
    assert 'class="no-data"' not in html
    assert html.startswith("<!DOCTYPE html>")


def test_report_is_self_contained(html: str) -> None:
    """Nothing is fetched: the only URLs are the dashboard links a reader may follow (anchors)."""
    lowered = re.sub(r'<a href="https://dashboard\.cekura\.ai/[^"]*">', "<a>", html.lower())
    for forbidden in ("<script", "<link", "src=", "http://", "https://", "@import", "<img", "@font-face"):
        assert forbidden not in lowered, forbidden
    # The only url() references are in-document clip paths.
    assert set(re.findall(r"url\(([^)]*)\)", html)) <= {f"#clip-agent{i}" for i in range(len(AGENTS))}


def test_same_input_gives_the_same_report(
    frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], html: str
) -> None:
    assert build_report_html(*frames, generated_at=GENERATED) == html


# ---------------------------------------------------------------------------------------- summary


def test_summary_numbers(dom: Dom, frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    daily, regressions, _ = frames
    passed = int(daily["passed"].sum())
    evaluated = passed + int(daily["failed_evaluation"].sum())
    expected_rate = passed / evaluated
    rate_card = _card(dom, "overall-rate")
    assert float(rate_card["attrs"]["data-value"]) == pytest.approx(expected_rate, abs=1e-6)
    assert f"{expected_rate * 100:.1f}%" in rate_card["text"]
    assert f"{passed:,} / {evaluated:,} passed" in rate_card["text"]
    low, high = wilson_interval(passed, evaluated)
    assert f"{low * 100:.1f}% – {high * 100:.1f}%" in rate_card["text"]

    runs_card = _card(dom, "runs")
    assert int(runs_card["attrs"]["data-value"]) == int(daily["runs"].sum())
    assert f"{int(daily['runs'].sum()):,}" in runs_card["text"]

    period = _card(dom, "period")
    last = START + timedelta(days=DAYS - 1)
    assert period["attrs"]["data-value"] == f"{START:%Y-%m-%d}/{last:%Y-%m-%d}"
    assert f"{DAYS} days" in period["text"]

    agents = _card(dom, "agents")
    n_scen = sum(len(s) for s in SCENARIOS.values())
    assert f"{len(AGENTS)} · {n_scen}" in agents["text"]

    infra = _card(dom, "infra-rate")  # infra_error_rate = infra_errors / runs, named as such
    runs = int(daily["runs"].sum())
    assert "infra_error_rate" in infra["text"]
    assert float(infra["attrs"]["data-value"]) == pytest.approx(
        int(daily["infra_errors"].sum()) / runs, abs=1e-6
    )
    not_evaluated = int(daily[["infra_errors", "timeouts", "cancelled"]].to_numpy().sum()) / runs
    assert f"not_evaluated_rate {not_evaluated * 100:.1f}%" in infra["text"]

    reg = _card(dom, "regressions")  # regressions in effect: the open episodes only
    assert int(reg["attrs"]["data-value"]) == int((regressions["state"] == "open").sum()) == 1
    assert "1 critical" in reg["text"]
    assert "minor" not in reg["text"]  # the ended episode is not in effect


def test_header_shows_title_and_generated_time(dom: Dom) -> None:
    (h1,) = dom.find("h1")
    assert h1["text"] == "Cekura voice-agent regression report"
    (gen,) = dom.find("div", **{"class": "generated"})
    assert "2024-03-31 07:00 UTC" in gen["text"]


# -------------------------------------------------------------------------------- success-rate chart


def test_agent_points_are_pooled_from_summed_counts() -> None:
    """Two scenarios, one tiny and one big: the day's rate is pooled, not the mean of the two rates."""
    daily = pd.DataFrame(
        {
            "run_date": [date(2024, 5, 1)] * 2,
            "agent_id": [1, 1],
            "agent_name": ["A", "A"],
            "scenario_id": [1, 2],
            "scenario_name": ["tiny", "big"],
            "runs": [1, 99],
            "passed": [0, 99],
            "failed_evaluation": [1, 0],
            "success_rate": [0.0, 1.0],  # mean would be 50%
        }
    )
    dom = Dom(build_report_html(daily, None, None, generated_at=GENERATED))
    (point,) = [e for e in dom.find("circle") if "point" in e["attrs"].get("class", "")]
    assert "99.0% passed (99 of 100 evaluated)" in point["text"]
    low, high = wilson_interval(99, 100)
    assert f"Wilson 95%: {low * 100:.1f}% – {high * 100:.1f}%" in point["text"]


def test_one_point_per_agent_day_with_evaluated_runs(dom: Dom, frames: tuple[pd.DataFrame, ...]) -> None:
    daily = frames[0]
    for agent_id, name in AGENTS.items():
        (fig,) = dom.find("figure", data_agent_id=str(agent_id))
        assert name in fig["text"]
        mine = daily[daily["agent_id"] == agent_id].groupby("run_date")[["passed", "failed_evaluation"]].sum()
        expected_days = int(((mine["passed"] + mine["failed_evaluation"]) > 0).sum())
        fig_index = dom.elements.index(fig)
        svg_index = next(
            i
            for i in range(fig_index, len(dom.elements))
            if dom.elements[i]["attrs"].get("data-chart") == "success-rate"
        )
        end = next(
            (i for i in range(svg_index + 1, len(dom.elements)) if dom.elements[i]["tag"] == "figure"),
            len(dom.elements),
        )
        points = [
            e
            for e in dom.elements[svg_index:end]
            if e["tag"] == "circle" and e["attrs"].get("class") == "point"
        ]
        assert len(points) == expected_days
        assert [e for e in dom.elements[svg_index:end] if e["attrs"].get("class") == "band"]
        assert [e for e in dom.elements[svg_index:end] if e["attrs"].get("class") == "rolling"]


def test_regression_markers_on_agent_chart(dom: Dom) -> None:
    markers = [e for e in dom.elements if e["attrs"].get("class") == "regression-marker"]
    # 2 episodes: each marked on the day it started, on its agent × mode panel.
    assert len(markers) == 2
    assert any("Dispute a charge (critical)" in m["text"] for m in markers)


# -------------------------------------------------------------------------------------- heat-map


def test_heatmap_cells_and_tooltips(dom: Dom, frames: tuple[pd.DataFrame, ...]) -> None:
    daily = frames[0]
    cells = [e for e in dom.elements if e["tag"] == "rect" and "cell" in e["attrs"].get("class", "").split()]
    n_rows = sum(len(s) for s in SCENARIOS.values())
    assert len(cells) == n_rows * DAYS
    filled = [c for c in cells if "empty" not in c["attrs"]["class"]]
    assert len(filled) == len(daily)  # one input row per scenario-day in the sample
    agent_id, scenario_id = REGRESSING
    last = pd.Timestamp(START + timedelta(days=DAYS - 1))
    row = daily[
        (daily["agent_id"] == agent_id)
        & (daily["scenario_id"] == scenario_id)
        & (daily["run_date"] == last.date())
    ]
    passed, failed = int(row["passed"].iloc[0]), int(row["failed_evaluation"].iloc[0])
    tip = f"{last:%Y-%m-%d}: {passed / (passed + failed) * 100:.1f}% passed ({passed} of {passed + failed} evaluated)"
    matching = [c for c in filled if tip in c["text"] and "Dispute a charge" in c["text"]]
    assert len(matching) == 1
    assert "flagged" in matching[0]["attrs"]["class"]
    assert float(matching[0]["attrs"]["data-rate"]) == pytest.approx(passed / (passed + failed), abs=1e-4)
    # Every day an episode was in effect (started_on .. last_seen): 6 days each.
    assert len([c for c in cells if "flagged" in c["attrs"]["class"]]) == 12


def test_heatmap_caps_rows_and_days() -> None:
    daily = make_daily(days=40)
    html = build_report_html(
        daily, None, None, generated_at=GENERATED, heatmap_max_rows=5, heatmap_max_days=14
    )
    section = _section_html(html, "heatmap")
    assert "Showing the last 14 days" in section
    assert "Showing the 5 lowest-rate scenarios of 11" in section
    assert section.count('class="row-label"') == 5
    assert section.count('class="cell') == 5 * 14


# ---------------------------------------------------------------------------------------- tables


def test_regressions_table(html: str) -> None:
    """The drops in effect first (open episodes), then the episodes that ended in the period."""
    section = _section_html(html, "regressions")
    rows = _tagged_rows(section)
    assert len(rows) == 2
    first = rows[0]
    assert 'data-state="open"' in first
    assert '<span class="badge critical">critical</span>' in first
    assert "Dispute a charge" in first
    assert f'<a href="{samples.URL}9001">Dispute a charge</a>' in first
    assert "Billing assistant" in first
    assert "voice/managed" in first
    assert "nightly" in first
    assert "95.1%" in first
    assert "n=180" in first
    assert "54.8%" in first
    assert "n=42" in first
    assert "−40.3 pts" in first
    # The drop's 95% interval (Newcombe) from the runs before and since: a CUSUM episode's evidence.
    change = rate_change(round(0.951 * 180), 180, round(0.548 * 42), 42)
    assert f"{-change.high * 100:.1f} to {-change.low * 100:.1f} pts" == "25.6 to 55.2 pts"
    assert "25.6 to 55.2 pts" in first
    assert '<span class="badge minor">minor</span>' in rows[1]
    assert "resolved" in rows[1]
    assert "0.041" not in rows[1]  # a stored q-value is shown only where the runs are missing
    assert "No regression in effect" not in section


def test_no_regression_in_effect_only_without_an_open_episode(frames: tuple[pd.DataFrame, ...]) -> None:
    """One meaning of regression: the page says "none in effect" only when no episode is open."""
    daily, episodes, _ = frames
    ended = episodes[episodes["state"] != "open"]
    section = _section_html(build_report_html(daily, ended, None, generated_at=GENERATED), "regressions")
    assert "No regression in effect" in section
    assert "Ended in this period" in section
    section = _section_html(build_report_html(daily, episodes, None, generated_at=GENERATED), "regressions")
    assert "No regression" not in section


def test_flaky_table(html: str) -> None:
    rows = _tagged_rows(_section_html(html, "flaky"))
    assert len(rows) == 3
    assert "Spanish speaker" in rows[0]
    assert 'data-status="flaky"' in rows[0]
    assert "0.45" in rows[0]
    assert "55% pass" in rows[0]
    assert f'<a href="{samples.URL}1002">Spanish speaker</a>' in rows[0]  # its dashboard page
    assert "Escalate to human" in rows[1]
    assert 'data-status="stable"' in rows[2]


def test_worst_scenarios_table(html: str, frames: tuple[pd.DataFrame, ...]) -> None:
    daily = frames[0]
    totals = daily.groupby(["agent_id", "scenario_id", "scenario_name"], as_index=False)[
        ["passed", "failed_evaluation"]
    ].sum()
    totals["n"] = totals["passed"] + totals["failed_evaluation"]
    totals["rate"] = totals["passed"] / totals["n"]
    expected = totals.sort_values("rate").head(10)
    section = _section_html(html, "worst")
    rows = _rows(section)
    assert len(rows) == 10
    assert section.count('data-chart="interval"') == 10
    for row, exp in zip(rows, expected.itertuples(index=False), strict=True):
        assert exp.scenario_name in row
        assert f'<a href="{samples.URL}{900 + int(exp.agent_id)}">' in row  # every worst row links
        assert f"<b>{exp.rate * 100:.1f}%</b>" in row
        low, high = wilson_interval(int(exp.passed), int(exp.n))
        assert f"{low * 100:.1f}% – {high * 100:.1f}%" in row


def test_worst_scenarios_respects_minimum_runs(frames: tuple[pd.DataFrame, ...]) -> None:
    html = build_report_html(frames[0], None, None, generated_at=GENERATED, worst_min_runs=10_000)
    section = _section_html(html, "worst")
    assert 'class="no-data"' in section
    assert "10000 evaluated runs" in section
    with pytest.raises(ValueError, match="worst_min_runs"):
        build_report_html(frames[0], None, None, worst_min_runs=0)


# -------------------------------------------------------------------------------------------- infra


def test_infra_chart_bars(html: str, frames: tuple[pd.DataFrame, ...]) -> None:
    daily = frames[0]
    section = _section_html(html, "infra")
    assert section.count('class="bar infra"') == DAYS
    assert section.count('class="bar timeout"') == DAYS
    day = daily[daily["run_date"] == START]
    runs, infra, timeouts = int(day["runs"].sum()), int(day["infra_errors"].sum()), int(day["timeouts"].sum())
    assert f"{START:%Y-%m-%d}: {(infra + timeouts) / runs * 100:.1f}% of {runs:,} runs lost" in section
    assert f"{infra} infra errors" in section


# ------------------------------------------------------------------------------------ escaping


def test_user_strings_are_escaped() -> None:
    daily = make_daily(days=3)
    evil_scenario = '<script>alert("x")</script> & <b>bold</b>'
    evil_agent = 'Agent "quoted" <img src=x onerror=alert(1)>'
    daily["scenario_name"] = daily["scenario_name"].where(daily["scenario_id"] != 11, evil_scenario)
    daily["agent_name"] = daily["agent_name"].where(daily["agent_id"] != 101, evil_agent)
    regressions = samples.episodes()
    regressions["scenario_name"] = evil_scenario
    regressions["severity"] = ["<i>critical</i>", "minor"]
    regressions["mode"] = ['"><svg onload=alert(1)>', "ok"]
    flaky = samples.flaky()
    flaky["agent_name"] = evil_agent
    html = build_report_html(daily, regressions, flaky, title="<Report> & co", generated_at=GENERATED)
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    # Escaped quotes may be spelled &quot; (html.escape, in the SVG) or &#34; (Jinja2/markupsafe, in the tables).
    assert "onload=alert" not in lowered.replace("&quot;&gt;&lt;svg onload=alert", "").replace(
        "&#34;&gt;&lt;svg onload=alert", ""
    )
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "Agent &quot;quoted&quot; &lt;img src=x onerror=alert(1)&gt;" in html
    assert "<title>&lt;Report&gt; &amp; co</title>" in html
    assert "&lt;i&gt;critical&lt;/i&gt;" in html
    # The parsed DOM still holds the original text (escaped, not mangled).
    dom = Dom(html)
    assert any(evil_scenario in e["text"] for e in dom.find("td"))


# ------------------------------------------------------------------------------------ empty input


@pytest.mark.parametrize(
    "empty",
    [None, pd.DataFrame(), pd.DataFrame(columns=["run_date", "agent_id", "passed", "failed_evaluation"])],
    ids=["none", "no-columns", "no-rows"],
)
def test_empty_inputs_render_no_data_notes(empty: pd.DataFrame | None) -> None:
    html = build_report_html(empty, empty, empty, generated_at=GENERATED)
    dom = Dom(html)
    for section_id in SECTION_IDS:
        section = dom.by_id(section_id)
        assert section
    notes = dom.find("p", **{"class": "no-data"})
    assert len(notes) == len(SECTION_IDS)
    assert not dom.find("svg")
    assert "no runs yet" in html


def test_only_daily_present(frames: tuple[pd.DataFrame, ...]) -> None:
    html = build_report_html(frames[0], pd.DataFrame(), None, generated_at=GENERATED)
    assert "No regression in effect" in _section_html(html, "regressions")
    assert "No scenario has enough evaluated runs" in _section_html(html, "flaky")
    assert 'class="no-data"' not in _section_html(html, "success-rate")
    assert 'data-value="0"' in re.search(r'<div class="card" data-metric="regressions".*?</div>', html).group(
        0
    )


def test_days_without_evaluated_runs_do_not_break_the_charts() -> None:
    daily = pd.DataFrame(
        {
            "run_date": [date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3)],
            "agent_id": pd.array([1, 1, 1], dtype="Int64"),
            "scenario_id": pd.array([7, 7, pd.NA], dtype="Int64"),
            "runs": pd.array([4, 3, 2], dtype="Int64"),
            "passed": pd.array([4, 0, 1], dtype="Int64"),
            "failed_evaluation": pd.array([0, 0, pd.NA], dtype="Int64"),
            "infra_errors": pd.array([0, 3, 1], dtype="Int64"),
        }
    )
    html = build_report_html(daily, None, None, generated_at=GENERATED)
    assert "no evaluated runs" in html  # the all-infra-error day is a grey cell, not a 0% one
    assert "agent 1" in html
    assert "scenario 7" in html
    assert "unknown scenario" in html


HOSTILE = ("<script>alert(1)</script>", '"><svg onload=alert(1)>', "Tom & Jerry")


def test_hostile_api_names_are_escaped_everywhere_they_show() -> None:
    """Agent and scenario names come from the Cekura API: each one renders as text, never as markup."""
    script, svg_attr, amp = HOSTILE
    names = {101: script, 102: svg_attr, 103: amp}
    daily = make_daily(days=30)
    daily["agent_name"] = daily["agent_id"].map(names)
    daily["scenario_name"] = daily["agent_id"].map({101: svg_attr, 102: amp, 103: script})
    regressions = samples.episodes()
    regressions["agent_name"] = regressions["agent_id"].map(names)
    regressions["scenario_name"] = [amp, svg_attr]
    flaky = samples.flaky()
    flaky["agent_name"] = [svg_attr, script, amp]
    flaky["scenario_name"] = [script, amp, svg_attr]
    html = build_report_html(daily, regressions, flaky, title=script, generated_at=GENERATED)

    lowered = html.lower()
    assert "<script" not in lowered
    assert "<svg onload" not in lowered
    assert "onload=" not in re.sub(r"&(?:quot|#34);&gt;&lt;svg onload=alert\(1\)&gt;", "", lowered)
    # Every & is the start of a character reference: none is left bare.
    assert not re.findall(r"&(?!(?:#\d+|#x[0-9a-f]+|[a-z]+);)", lowered)

    dom = Dom(html)
    assert not dom.find("script")
    assert not [e for e in dom.elements if any(a.startswith("on") for a in e["attrs"])]
    # The names still read as themselves: in the agent captions, every table, the heat-map and the title.
    captions = {e["text"] for e in dom.find("span", **{"class": "name"})}
    assert captions == set(HOSTILE)
    cells = [e["text"] for e in dom.find("td", **{"class": "name"})]
    for name in HOSTILE:
        assert name in cells, name
    # The first name cells are the open episode's agent and scenario.
    assert cells[:2] == [names[101], amp]
    heatmap_titles = [e["text"] for e in dom.find("title")]
    assert any(t.startswith(f"{svg_attr} ({script})") for t in heatmap_titles)
    (h1,) = dom.find("h1")
    assert h1["text"] == script
