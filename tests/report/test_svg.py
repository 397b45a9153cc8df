"""The report's SVG toolkit: escaping, number formats, the colour ramp, scales, ticks and gaps."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest

from cekura_livekit.report import svg


def test_esc_escapes_text_and_attribute_values() -> None:
    assert (
        svg.esc('<a href="x">Tom & Jerry\'s</a>')
        == "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#x27;s&lt;/a&gt;"
    )
    assert svg.esc(3) == "3"


@pytest.mark.parametrize(
    ("value", "text"),
    [(12.0, "12"), (12.25, "12.2"), (0.04, "0"), (-3.5, "-3.5"), (math.nan, "0"), (math.inf, "0")],
)
def test_num_is_compact_and_never_nan(value: float, text: str) -> None:
    assert svg.num(value) == text


@pytest.mark.parametrize(
    ("value", "digits", "text"), [(0.9512, 1, "95.1%"), (1.0, 0, "100%"), (None, 1, "–"), (math.nan, 1, "–")]
)
def test_pct(value: float | None, digits: int, text: str) -> None:
    assert svg.pct(value, digits) == text


def test_rate_color_hits_the_stops_and_clamps() -> None:
    for rate, color in svg.RATE_STOPS:
        assert svg.rate_color(rate) == color.lower()
    assert svg.rate_color(-0.5) == svg.RATE_STOPS[0][1]
    assert svg.rate_color(1.5) == svg.RATE_STOPS[-1][1]
    assert svg.rate_color(0.25) not in {c for _, c in svg.RATE_STOPS}  # interpolated between stops


def test_text_on_picks_the_readable_colour() -> None:
    assert svg.text_on("#ffffff") == "#000000"
    assert svg.text_on("#000000") == "#ffffff"
    assert svg.text_on(svg.RATE_STOPS[0][1]) == "#ffffff"  # dark red
    assert svg.text_on(svg.RATE_STOPS[4][1]) == "#000000"  # pale yellow


def test_linear_scale_maps_and_inverts_direction() -> None:
    y = svg.Linear(0.0, 1.0, 200.0, 10.0)  # data up = pixels up (SVG y grows downwards)
    assert (y(0.0), y(1.0), y(0.5)) == (200.0, 10.0, 105.0)
    assert svg.Linear(3.0, 3.0, 0.0, 100.0)(3.0) == 50.0  # a degenerate domain sits in the middle


def test_day_scale_gives_every_day_the_same_width() -> None:
    start = pd.Timestamp("2024-03-01")
    xs = svg.DayScale(start, 10, 0.0, 100.0)
    assert xs.step == 10.0
    assert xs(start) == 5.0  # the centre of the first day
    assert xs(start + pd.Timedelta(days=9)) == 95.0
    assert xs.index(start + pd.Timedelta(days=3)) == 3
    assert svg.DayScale(start, 0, 0.0, 100.0).step == 100.0  # no division by zero


@pytest.mark.parametrize(
    ("span", "target", "step"), [(1.0, 5, 0.2), (0.3, 5, 0.1), (100, 4, 25), (7, 1, 10), (0, 5, 1)]
)
def test_nice_step(span: float, target: int, step: float) -> None:
    assert svg.nice_step(span, target) == pytest.approx(step)


@pytest.mark.parametrize(
    ("values", "floor"),
    [([0.95, 0.99], 0.9), ([0.72, 1.0], 0.7), ([0.01], 0.0), ([], 0.0), ([math.nan], 0.0), ([0.9], 0.8)],
)
def test_rate_floor_zooms_in_by_ten_points_never_below_zero(values: list[float], floor: float) -> None:
    assert svg.rate_floor(values) == pytest.approx(floor)


def test_rate_ticks_end_at_one_on_nice_steps() -> None:
    assert svg.rate_ticks(0.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg.rate_ticks(0.7) == [0.7, 0.8, 0.9, 1.0]
    assert svg.rate_ticks(0.95) == [0.96, 0.98, 1.0]  # ticks start at the first step inside the axis


def test_day_ticks_anchor_on_the_last_day_and_stay_inside() -> None:
    start = pd.Timestamp("2024-01-01")
    ticks = svg.day_ticks(start, 90, max_ticks=6)
    assert ticks[-1] == start + pd.Timedelta(days=89)
    assert ticks[0] >= start
    assert len(ticks) <= 7
    assert len({(b - a).days for a, b in itertools.pairwise(ticks)}) == 1
    assert svg.day_ticks(start, 0, 6) == []
    assert svg.day_ticks(start, 3, 6) == [start + pd.Timedelta(days=i) for i in range(3)]


def test_day_label() -> None:
    day = pd.Timestamp("2024-03-05")
    assert svg.day_label(day, with_year=False) == "Mar 5"
    assert svg.day_label(day, with_year=True) == "Mar 5 2024"


def test_gaps_stay_gaps() -> None:
    points = [(0.0, 1.0), (1.0, None), (2.0, 2.0), (3.0, 3.0), (4.0, math.nan), (5.0, 5.0)]
    assert svg.polyline_segments(points) == [[(0.0, 1.0)], [(2.0, 2.0), (3.0, 3.0)], [(5.0, 5.0)]]
    assert svg.polyline_segments([]) == []
    assert svg.path_d([(0.0, 1.5), (2.0, 3.0)]) == "M0,1.5L2,3"


@pytest.mark.parametrize(
    ("text", "limit", "out"),
    [("short", 10, "short"), ("a long scenario name", 8, "a long…"), ("abc", 1, "a…")],
)
def test_truncate(text: str, limit: int, out: str) -> None:
    assert svg.truncate(text, limit) == out
