"""The report's charts, each called directly with designed frames: every chart is well-formed SVG with its
`data-chart` kind, marks sit where the numbers put them, tooltips carry the counts, gaps stay gaps and names
from the API are escaped."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from cekura_livekit.report import charts
from cekura_livekit.report.svg import INFRA_COLOR, TIMEOUT_COLOR, rate_color

START = pd.Timestamp("2024-03-01")


def day(i: int) -> pd.Timestamp:
    return START + pd.Timedelta(days=i)


def parse(svg_text: str, kind: str) -> ET.Element:
    root = ET.fromstring(svg_text)  # well-formed, or this raises
    assert root.tag == "svg"
    assert root.get("data-chart") == kind
    assert root.find("title") is not None
    return root


def titles(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter("title")]


# --- interval_bar ------------------------------------------------------------------------------------------


def test_interval_bar_puts_the_dot_at_the_rate_and_the_bar_over_the_interval() -> None:
    root = parse(charts.interval_bar(0.5, 0.25, 0.75, width=112), "interval")
    (circle,) = root.iter("circle")
    assert float(circle.get("cx", "")) == pytest.approx(56.0)  # axis 0..1 over 6..106 px
    assert circle.get("fill") == rate_color(0.5)
    (bar,) = root.iter("rect")
    assert float(bar.get("x", "")) == pytest.approx(31.0)
    assert float(bar.get("width", "")) == pytest.approx(50.0)
    assert root.get("aria-label") == "50.0% (95% CI 25.0% – 75.0%)"


def test_interval_bar_clamps_to_the_shared_axis_and_survives_nan() -> None:
    clamped = parse(charts.interval_bar(0.6, 0.5, 0.7, axis_low=0.8, width=112), "interval")
    (circle,) = clamped.iter("circle")
    assert float(circle.get("cx", "")) == pytest.approx(6.0)  # below the axis: drawn at its left end
    empty = parse(charts.interval_bar(math.nan, math.nan, math.nan), "interval")
    assert list(empty.iter("circle")) == []
    assert list(empty.iter("rect")) == []
    assert "–" in (empty.get("aria-label") or "")


# --- infra_chart -------------------------------------------------------------------------------------------


def _infra_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_date": [day(0), day(1), day(2)],
            "runs": [100, 0, 50],
            "infra_errors": [4, 0, 0],
            "timeouts": [2, 0, 5],
            "infra_error_rate": [0.04, math.nan, 0.0],
            "timeout_rate": [0.02, math.nan, 0.1],
        }
    )


def test_infra_chart_stacks_infra_under_timeouts_and_skips_days_without_runs() -> None:
    root = parse(charts.infra_chart(_infra_frame(), start=START, days=3), "infra-rate")
    days = [g for g in root.iter("g") if g.get("class") == "day"]
    assert len(days) == 2  # day 1 had no runs: no bar, no tooltip
    infra = [r for r in root.iter("rect") if r.get("class") == "bar infra"]
    timeout = [r for r in root.iter("rect") if r.get("class") == "bar timeout"]
    assert {r.get("fill") for r in infra} == {INFRA_COLOR}
    assert {r.get("fill") for r in timeout} == {TIMEOUT_COLOR}
    h_infra, h_tout = float(infra[0].get("height", "")), float(timeout[0].get("height", ""))
    assert h_infra == pytest.approx(2 * h_tout, rel=0.05)  # 4% under 2%
    assert float(infra[1].get("height", "")) == 0  # no infra errors on day 2
    tips = titles(root)
    assert any(
        t.startswith("2024-03-01: 6.0% of 100 runs lost") and "4 infra errors (4.0%)" in t for t in tips
    )
    assert any("5 timeouts (10.0%)" in t for t in tips)


def test_infra_chart_of_a_quiet_period_still_has_an_axis() -> None:
    quiet = _infra_frame().assign(infra_errors=0, timeouts=0, infra_error_rate=0.0, timeout_rate=0.0)
    root = parse(charts.infra_chart(quiet, start=START, days=3), "infra-rate")
    labels = [t.text for t in root.iter("text") if (t.text or "").endswith("%")]
    assert labels == ["0%", "2%", "4%"]  # the axis spans 0–5% at least: it never collapses onto the zero line


# --- latency_panel -----------------------------------------------------------------------------------------


def _latency(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_date": [day(i) for i in range(n)],
            "p50": [800.0 + i for i in range(n)],
            "p95": [1500.0] * n,
            "n": [40] * n,
        }
    )


def test_latency_panel_draws_p50_p95_and_the_band_between() -> None:
    root = parse(
        charts.latency_panel(
            _latency(3), label="agent <A>", color="#0072B2", start=START, days=3, y_max=2000
        ),
        "latency",
    )
    classes = [p.get("class") for p in root.iter("path")]
    assert classes.count("band") == classes.count("p50") == classes.count("p95") == 1
    points = [c for c in root.iter("circle") if c.get("class") == "point"]
    assert len(points) == 3
    tips = titles(root)
    assert any(
        t.startswith("agent <A> · 2024-03-01") and "p50 800 ms" in t and "(typical scenario; 40 values)" in t
        for t in tips
    )
    assert "agent &lt;A&gt;" in charts.latency_panel(
        _latency(1), label="agent <A>", color="#0072B2", start=START, days=3, y_max=2000
    )  # escaped in the markup


def test_latency_panel_with_one_day_has_no_lines_only_the_point() -> None:
    root = parse(
        charts.latency_panel(_latency(1), label="a", color="#000000", start=START, days=7, y_max=2), "latency"
    )
    assert [p.get("class") for p in root.iter("path")] == []
    assert len([c for c in root.iter("circle") if c.get("class") == "point"]) == 1
    assert any(
        t.text and t.text.endswith(" ms") and "." in t.text for t in root.iter("text")
    )  # small steps keep decimals


# --- success_rate_panel ------------------------------------------------------------------------------------


def _daily(rates: list[float]) -> pd.DataFrame:
    n = len(rates)
    return pd.DataFrame(
        {
            "run_date": [day(i) for i in range(n)],
            "rate": rates,
            "passed": [round(r * 10) if math.isfinite(r) else 0 for r in rates],
            "evaluated": [10 if math.isfinite(r) else 0 for r in rates],
            "wilson_low": [r - 0.1 if math.isfinite(r) else math.nan for r in rates],
            "wilson_high": [min(1.0, r + 0.05) if math.isfinite(r) else math.nan for r in rates],
            "runs": [12] * n,
            "infra_errors": [1] * n,
            "timeouts": [1] * n,
        }
    )


def test_success_rate_panel_dots_bands_rolling_line_and_markers() -> None:
    points = _daily([0.9, math.nan, 0.8, 0.85, 1.0])
    rolling = pd.DataFrame(
        {"run_date": [day(i) for i in range(5)], "rate_roll": [0.9, 0.9, 0.85, 0.85, 0.88]}
    )
    svg_text = charts.success_rate_panel(
        points,
        rolling,
        agent_label="Acme & Co",
        color="#0072B2",
        start=START,
        days=5,
        y_low=0.5,
        regression_days={day(2): ["scenario 7"], day(40): ["outside the period"]},
        uid="p1",
    )
    root = parse(svg_text, "success-rate")
    dots = [c for c in root.iter("circle") if c.get("class") == "point"]
    assert len(dots) == 4  # the day without evaluated runs has no dot
    bands = [e for e in root.iter() if e.get("class") == "band"]
    assert [b.tag for b in bands] == ["line", "path"]  # a lone day is an error bar, consecutive days a ribbon
    assert len([p for p in root.iter("path") if p.get("class") == "rolling"]) == 1
    markers = [p for p in root.iter("path") if p.get("class") == "regression-marker"]
    assert len(markers) == 1  # the marker outside the period is not drawn
    tips = titles(root)
    assert any(t.startswith("Acme & Co · 2024-03-01\n90.0% passed (9 of 10 evaluated)") for t in tips)
    assert any(t == "Regression flagged 2024-03-03:\nscenario 7" for t in tips)
    assert 'id="clip-p1"' in svg_text


# --- heatmap -----------------------------------------------------------------------------------------------


def test_heatmap_colours_cells_marks_flagged_days_and_leaves_empty_ones_grey() -> None:
    cells = pd.DataFrame(
        {
            "agent_id": ["1", "1", "1"],
            "scenario_id": ["7", "7", "8"],
            "run_date": [day(0), day(1), day(0)],
            "rate": [1.0, 0.5, math.nan],
            "passed": [10, 5, 0],
            "evaluated": [10, 10, 0],
            "runs": [10, 10, 3],
            "infra_errors": [0, 0, 3],
            "timeouts": [0, 0, 0],
        }
    )
    rows = [("1", "7", "Acme", "Book <a> table"), ("1", "8", "Acme", "Cancel")]
    totals = {("1", "7"): (0.75, 20)}
    root = parse(
        charts.heatmap(rows, cells, totals, start=START, days=2, flagged={("1", "7", day(1))}), "heatmap"
    )
    rects = [r for r in root.iter("rect") if (r.get("class") or "").startswith("cell")]
    assert len(rects) == 4  # 2 scenarios × 2 days
    by_class = [r.get("class") for r in rects]
    assert by_class == ["cell", "cell flagged", "cell", "cell empty"]
    assert rects[0].get("fill") == rate_color(1.0)
    assert rects[1].get("data-rate") == "0.5000"
    assert rects[2].get("data-rate") == ""  # runs but none evaluated
    tips = titles(root)
    assert any("Regression flagged on this day" in t for t in tips)
    assert any("no evaluated runs" in t and "3 infra errors" in t for t in tips)
    assert any(t == "Book <a> table (Acme)" for t in tips)
    texts = "".join(root.itertext())
    assert "75%" in texts
    assert "n=20" in texts
    assert "n=0" in texts  # a scenario without a period total says so
