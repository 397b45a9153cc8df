"""Small SVG toolkit: scales, ticks, colours and escaping, so the charts stay pure Python and offline.

No plotting library: the report must open from an e-mail attachment or an S3 bucket with no network, and
matplotlib would be a heavy dependency for a handful of lines and rectangles.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

#: Okabe–Ito: distinguishable with the common colour-vision deficiencies, and in greyscale print.
CATEGORICAL: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#7F7F7F",  # grey
    "#000000",  # black
)
INFRA_COLOR = "#D55E00"
TIMEOUT_COLOR = "#E69F00"
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#e4e7eb"

#: Success-rate colour ramp (ColorBrewer RdYlBu, colour-blind safe): red = failing, blue = healthy. The stops
#: are packed near the top because agents live between 70% and 100%; a linear 0–1 ramp would paint
#: everything the same blue.
RATE_STOPS: tuple[tuple[float, str], ...] = (
    (0.0, "#a50026"),
    (0.5, "#d73027"),
    (0.7, "#f46d43"),
    (0.8, "#fdae61"),
    (0.88, "#fee090"),
    (0.94, "#abd9e9"),
    (0.98, "#74add1"),
    (1.0, "#4575b4"),
)


def esc(value: object) -> str:
    """Escape for both element text and attribute values (names come from an external API)."""
    return html.escape(str(value), quote=True)


def num(value: float) -> str:
    """Compact coordinate formatting keeps the file small."""
    return f"{value:.1f}".rstrip("0").rstrip(".") if math.isfinite(value) else "0"


def pct(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 100:.{digits}f}%"


def _hex(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def rate_color(rate: float) -> str:
    """Colour of a success rate on the RdYlBu ramp (interpolated in RGB between stops)."""
    rate = min(1.0, max(0.0, rate))
    for (x0, c0), (x1, c1) in itertools.pairwise(RATE_STOPS):
        if rate <= x1:
            t = 0.0 if x1 == x0 else (rate - x0) / (x1 - x0)
            r0, g0, b0 = _hex(c0)
            r1, g1, b1 = _hex(c1)
            return f"#{round(r0 + (r1 - r0) * t):02x}{round(g0 + (g1 - g0) * t):02x}{round(b0 + (b1 - b0) * t):02x}"
    return RATE_STOPS[-1][1]


def text_on(color: str) -> str:
    """Black or white text, whichever reads better on ``color`` (relative luminance)."""
    r, g, b = (c / 255 for c in _hex(color))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if lum > 0.5 else "#ffffff"


@dataclass(frozen=True)
class Linear:
    """Maps a data interval onto a pixel interval."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        if self.d1 == self.d0:
            return (self.r0 + self.r1) / 2
        return self.r0 + (value - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


@dataclass(frozen=True)
class DayScale:
    """Maps calendar days onto pixel centres: every day gets the same width, whether it has data or not."""

    start: pd.Timestamp
    days: int
    x0: float
    x1: float

    @property
    def step(self) -> float:
        return (self.x1 - self.x0) / max(self.days, 1)

    def index(self, day: pd.Timestamp) -> int:
        return int((day - self.start).days)

    def __call__(self, day: pd.Timestamp) -> float:
        return self.x0 + (self.index(day) + 0.5) * self.step


def nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * mag:
            return mult * mag
    return 10 * mag


def rate_floor(values: Iterable[float]) -> float:
    """Lower end of a success-rate axis: zoom in on the data, in 10-point steps, never below 0."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0
    low = min(finite)
    return max(0.0, math.floor((low - 0.02) * 10) / 10)


def rate_ticks(low: float, high: float = 1.0) -> list[float]:
    step = nice_step(high - low, 5)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9:
        ticks.append(round(value, 6))
        value += step
    return ticks


def day_ticks(start: pd.Timestamp, days: int, max_ticks: int) -> list[pd.Timestamp]:
    """Evenly spaced day ticks on whole-day boundaries (weekly when it fits), ending near the last day."""
    if days <= 0:
        return []
    for every in (1, 2, 7, 14, 28, 56, 91, 182, 364):
        if days / every <= max_ticks:
            break
    last = start + pd.Timedelta(days=days - 1)
    # Anchor on the last day: the most recent date is the one readers look for.
    ticks = [last - pd.Timedelta(days=every * k) for k in range(days // every + 1)]
    return sorted(t for t in ticks if t >= start)


def day_label(day: pd.Timestamp, with_year: bool) -> str:
    return day.strftime("%b %-d %Y") if with_year else day.strftime("%b %-d")


def polyline_segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Split a series into runs of consecutive defined points: gaps stay gaps instead of fake lines."""
    segments: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for x, y in points:
        if y is None or not math.isfinite(y):
            if current:
                segments.append(current)
            current = []
        else:
            current.append((x, y))
    if current:
        segments.append(current)
    return segments


def path_d(points: Sequence[tuple[float, float]]) -> str:
    return "M" + "L".join(f"{num(x)},{num(y)}" for x, y in points)


def truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max(1, max_chars - 1)].rstrip() + "…"
