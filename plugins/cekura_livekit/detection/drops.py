"""Success-rate drops per series (agent × scenario × mode × suite) from daily counts: an anchored Bernoulli CUSUM.

Why a CUSUM: for a shift of a Bernoulli rate from p0 to p1 the CUSUM of the log-likelihood ratio is the optimal
detector (Lorden, Moustakides): no rule raises the alarm sooner at the same false-alarm rate. The post-change rate
is not known, so three CUSUMs run side by side, for drops of 10, 20 and 30 points, and the first to cross its
threshold raises the alarm (a max-of-CUSUMs, within a few percent of the matched CUSUM for every size in the range).

Why anchored: p0 is estimated from the series' last stable segment: every day on which no CUSUM is in an
excursion joins it; days of an excursion wait (``pending``) and join only if the excursion dies out. So the
reference never slides onto a new level: a drop keeps the CUSUM climbing until it is found, however slow.
The CUSUMs start once the baseline holds `min_baseline_runs` (100) evaluated runs over `min_baseline_days` (28),
and its estimate is shrunk by one standard error (``baseline_sd``), so a short baseline that happens to read high
does not make ordinary days look like a drop (measured: with no shrink the early months' false alarms forced
thresholds twice as high; 1.5 SE or 50 runs cost 15-25 % more delay at 1-5 runs a day).

Why a threshold per series: the log-likelihood steps are coarse at 1 run a day and fine at 50, and their size
depends on p0; one threshold for all would give very different false-alarm rates. `calibration.threshold` maps
(runs per day, p0) to the threshold that gives the budget (false episodes per 100 scenario-months) at that volume
and rate, calibrated by simulation of this very function. The threshold depends on the series alone: how many
other series the warehouse holds changes nothing.

Episodes: the alarm day is ``flagged_on``; ``started_on`` is the change-point estimate: the maximum-likelihood
start of a drop to an unknown lower rate within the CUSUMs' open excursion (`change_point`); the excursion's days
before it join the baseline. While an episode is open the baseline is frozen; it resolves only when a reverse
CUSUM (rate back at p0 against the rate seen since the change) crosses the same threshold, on the day recovery
began (the same maximum-likelihood estimate, upwards). After a recovery the baseline restarts from the recovered
days, seeded with the old rate worth `min_baseline_runs` runs.

Deterministic: the result is a function of the daily counts alone, so late data is handled by recomputing from
the counts. Missing days and days with 0 evaluated runs add nothing to any statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import numpy as np

from cekura_livekit.detection.calibration import LOWEST as LOWEST_THRESHOLD
from cekura_livekit.detection.calibration import threshold as calibrated_threshold

DROPS = (0.10, 0.20, 0.30)
K = TypeVar("K", bound=Hashable)
_EPS = 1e-3


@dataclass(frozen=True)
class DropPolicy:
    """Knobs of the drop detector; the defaults are what the calibration table was made for."""

    drops: tuple[float, ...] = DROPS
    min_baseline_runs: int = 100
    min_baseline_days: int = 28
    baseline_sd: float = 1.0
    resolve_margin: float = 0.05  # "back" means within this many points of p0

    def __post_init__(self) -> None:
        if not self.drops or any(not 0 < d < 1 for d in self.drops):
            raise ValueError(f"drops={self.drops!r}: need drop sizes in (0, 1), e.g. (0.1, 0.2, 0.3)")
        if self.min_baseline_runs < 1 or self.min_baseline_days < 1:
            raise ValueError(
                f"min_baseline_runs={self.min_baseline_runs!r}, min_baseline_days={self.min_baseline_days!r}:"
                " both must be >= 1"
            )


@dataclass(frozen=True)
class RawEpisode:
    """An episode in day indices of the dense arrays (what the vectorised core returns)."""

    series: int
    start: int
    flagged: int
    resolved: int | None
    baseline_rate: float
    baseline_n: int
    post_passed: int
    post_n: int
    threshold: float
    confirmed: int | None = None  # the day the recovery was shown (the reverse CUSUM crossed)


Thresholds = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _llr(x: np.ndarray, n: np.ndarray, p_alt: np.ndarray, p_null: np.ndarray) -> np.ndarray:
    """log P(x | p_alt) / P(x | p_null) for x passes of n Binomial runs (the binomial coefficient cancels)."""
    return x * np.log(p_alt / p_null) + (n - x) * np.log((1 - p_alt) / (1 - p_null))


class _State:
    """Per-series arrays of the detector (vectorised over series so the simulation runs the production code)."""

    def __init__(self, series: int, drops: int) -> None:
        z = np.zeros(series)
        self.bx, self.bn, self.bdays = z.copy(), z.copy(), z.copy()  # anchored baseline
        self.px, self.pn, self.pdays = z.copy(), z.copy(), z.copy()  # pending: days of an open excursion
        self.s = np.zeros((drops, series))
        self.s_start = np.zeros((drops, series), dtype=int)
        self.in_episode = np.zeros(series, dtype=bool)
        self.ep_p0, self.ep_h = z.copy(), z.copy()
        self.ex, self.en = z.copy(), z.copy()  # post-change counts (committed)
        self.rx, self.rn = z.copy(), z.copy()  # recovery excursion counts (pending)
        self.r = z.copy()
        self.r_start = np.zeros(series, dtype=int)
        self.ep_index = np.full(series, -1, dtype=int)
        self.ep_flag = np.zeros(series, dtype=int)


def run_detector(
    passed: np.ndarray,
    evaluated: np.ndarray,
    policy: DropPolicy | None = None,
    thresholds: Thresholds | float | None = None,
) -> list[RawEpisode]:
    """The detector over dense (series × days) count arrays; missing days are 0 evaluated.

    `thresholds`: None → the calibrated table; a number → that threshold everywhere (calibration, tests); a
    callable (runs_per_day, p0) → thresholds.
    """
    policy = policy or DropPolicy()
    x_all = np.asarray(passed, dtype=float)
    n_all = np.asarray(evaluated, dtype=float)
    if x_all.ndim == 1:
        x_all, n_all = x_all[None, :], n_all[None, :]
    if x_all.shape != n_all.shape or (x_all < 0).any() or (x_all > n_all).any():
        raise ValueError("passed and evaluated must have one shape with 0 <= passed <= evaluated")
    h_of, lowest = _threshold_function(thresholds)
    drops = np.asarray(policy.drops)[:, None]
    st = _State(x_all.shape[0], len(policy.drops))
    episodes: list[RawEpisode] = []
    for t in range(x_all.shape[1]):
        _watch_day(st, t, (x_all, n_all), drops, policy, (h_of, lowest), episodes)
        _episode_day(st, t, (x_all, n_all), policy, episodes)
    _close_open_counts(st, episodes)
    return episodes


def _close_open_counts(st: _State, episodes: list[RawEpisode]) -> None:
    """An open episode's post-change counts run to the last day (what its evidence states), not to the day
    it was flagged: every day since the change belongs to the drop until a recovery is shown."""
    for i in np.flatnonzero(st.in_episode):
        e = episodes[st.ep_index[i]]
        post_x, post_n = int(st.ex[i] + st.rx[i]), int(st.en[i] + st.rn[i])
        episodes[st.ep_index[i]] = RawEpisode(
            e.series, e.start, e.flagged, None, e.baseline_rate, e.baseline_n, post_x, post_n, e.threshold
        )


def _threshold_function(thresholds: Thresholds | float | None) -> tuple[Thresholds, float]:
    """(thresholds of (runs per day, p0), a lower bound of them): a CUSUM below the bound cannot alarm, so
    thresholds are computed only for the few series above it (they cost a quarter of a pass otherwise)."""
    if thresholds is None:
        return calibrated_threshold, LOWEST_THRESHOLD
    if callable(thresholds):
        return thresholds, -np.inf
    value = float(thresholds)
    return (lambda volume, p0: np.full(np.shape(p0), value)), value


def _baseline(st: _State, policy: DropPolicy) -> tuple[np.ndarray, np.ndarray]:
    """(p0 used by the CUSUMs: shrunk by `baseline_sd` standard errors, point estimate) from the baseline."""
    bn = np.maximum(st.bn, 1.0)
    p_hat = np.clip((st.bx + 0.5) / (st.bn + 1.0), _EPS, 1 - _EPS)
    p0 = p_hat - policy.baseline_sd * np.sqrt(p_hat * (1 - p_hat) / bn)
    return np.clip(p0, 0.02, 1 - _EPS), p_hat


def _watch_day(
    st: _State,
    t: int,
    history: tuple[np.ndarray, np.ndarray],
    drops: np.ndarray,
    policy: DropPolicy,
    thresholds: tuple[Thresholds, float],
    episodes: list[RawEpisode],
) -> None:
    """One day of the CUSUMs for the series not in an episode; opens episodes on alarms."""
    x, n = history[0][:, t], history[1][:, t]
    watching = ~st.in_episode
    ready = watching & (st.bn >= policy.min_baseline_runs) & (st.bdays >= policy.min_baseline_days)
    learning = watching & ~ready
    st.bx += np.where(learning, x, 0)
    st.bn += np.where(learning, n, 0)
    st.bdays += learning & (n > 0)
    if not ready.any():
        return
    p0, p_hat = _baseline(st, policy)
    p1 = np.clip(p0[None, :] - drops, 0.01, None)
    step = _llr(x[None, :], n[None, :], p1, p0[None, :])
    was_zero = st.s <= 0
    s_new = np.maximum(st.s + step, 0.0)
    s_new = np.where(ready[None, :], s_new, st.s)
    st.s_start = np.where(ready[None, :] & was_zero & (s_new > 0), t, st.s_start)
    st.s = s_new
    excursion = (st.s > 0).any(axis=0)
    st.px += np.where(ready, x, 0)
    st.pn += np.where(ready, n, 0)
    st.pdays += ready & (n > 0)
    calm = ready & ~excursion
    st.bx += np.where(calm, st.px, 0)
    st.bn += np.where(calm, st.pn, 0)
    st.bdays += np.where(calm, st.pdays, 0)
    for arr in (st.px, st.pn, st.pdays):
        arr[calm] = 0
    h_of, lowest = thresholds
    near = np.flatnonzero(ready & (st.s.max(axis=0) >= lowest))  # the only series that can alarm today
    h = h_of(st.bn[near] / np.maximum(st.bdays[near], 1), p_hat[near])
    alarm = (st.s[:, near] - h[None, :] >= 0).any(axis=0)
    for k in np.flatnonzero(alarm):
        i = int(near[k])
        first = int(st.s_start[:, i][st.s[:, i] > 0].min())
        start = change_point(history[0][i, first : t + 1], history[1][i, first : t + 1], float(p0[i])) + first
        _open(st, i, t, start, (history[0][i], history[1][i]), float(h[k]), episodes)


def change_point(x: np.ndarray, n: np.ndarray, p0: float, *, up: bool = False) -> int:
    """Maximum-likelihood start (index into x) of a drop from p0 to an unknown lower rate (`up`: a rise to an
    unknown higher rate: the recovery), over days x/n.

    Why not the alarming CUSUM's last reset: the 10-point CUSUM of a 85 % series at 5 runs a day can sit above
    0 for weeks before a 20-point drop; its reset predates the change. The generalised likelihood ratio of
    "rate p̂_k from day k on" (p̂_k the MLE, at most p0; at least p0 when `up`) is maximised over every day with runs; ties: the later.
    """
    xs, ns = np.cumsum(x[::-1])[::-1], np.cumsum(n[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        mle = xs / np.maximum(ns, 1)
        p = np.clip(np.maximum(mle, p0) if up else np.minimum(mle, p0), _EPS, 1 - _EPS)
        glr = xs * np.log(p / p0) + (ns - xs) * np.log((1 - p) / (1 - p0))
    glr = np.where(n > 0, glr, -np.inf)
    best = np.flatnonzero(glr >= glr.max() - 1e-9)
    return int(best[-1]) if best.size else 0


def _open(
    st: _State,
    i: int,
    t: int,
    start: int,
    history: tuple[np.ndarray, np.ndarray],
    h: float,
    episodes: list[RawEpisode],
) -> None:
    """Open an episode at the change point: the excursion's days before it were stable and join the baseline."""
    x, n = history
    st.in_episode[i] = True
    st.ep_flag[i] = t
    st.ex[i], st.en[i] = float(x[start : t + 1].sum()), float(n[start : t + 1].sum())
    # The change point lies inside the pending days (every active excursion began after the last calm day).
    st.bx[i] += st.px[i] - st.ex[i]
    st.bn[i] += st.pn[i] - st.en[i]
    st.bdays[i] += st.pdays[i] - np.count_nonzero(n[start : t + 1])
    p0 = float(np.clip((st.bx[i] + 0.5) / (st.bn[i] + 1.0), _EPS, 1 - _EPS))
    st.ep_p0[i], st.ep_h[i] = p0, h
    st.px[i] = st.pn[i] = st.pdays[i] = 0
    st.s[:, i] = 0
    st.r[i] = st.rx[i] = st.rn[i] = 0
    st.ep_index[i] = len(episodes)
    episodes.append(RawEpisode(i, start, t, None, p0, int(st.bn[i]), int(st.ex[i]), int(st.en[i]), h))


def _episode_day(
    st: _State, t: int, history: tuple[np.ndarray, np.ndarray], policy: DropPolicy, episodes: list[RawEpisode]
) -> None:
    """One day of the reverse CUSUMs of the open episodes (not of those opened today), over those series only
    (few: computing over every series cost a fifth of a pass)."""
    idx = np.flatnonzero(st.in_episode & (st.ep_flag < t))
    if not idx.size:
        return
    x, n = history[0][idx, t], history[1][idx, t]
    p_back = np.clip(st.ep_p0[idx] - policy.resolve_margin, 0.02, 1 - _EPS)
    # The drop's level: an UPPER bound of the post-change rate (2 SE). A low estimate of it would make a rate
    # still in the drop look "back" (the test's drift turns positive between the two rates) and resolve early.
    ex, en = st.ex[idx], st.en[idx]
    p_post = np.clip((ex + 0.5) / (en + 1.0), _EPS, None)
    p_post = p_post + 2.0 * np.sqrt(p_post * (1 - p_post) / np.maximum(en, 1.0))
    p_bad = np.minimum(p_post, p_back - policy.resolve_margin)
    p_bad = np.clip(p_bad, _EPS, 1 - _EPS)
    r_old = st.r[idx]
    r_new = np.maximum(r_old + _llr(x, n, p_back, p_bad), 0.0)
    st.r_start[idx] = np.where((r_old <= 0) & (r_new > 0), t, st.r_start[idx])
    st.r[idx] = r_new
    st.rx[idx] += x
    st.rn[idx] += n
    calm = idx[r_new <= 0]
    st.ex[calm] += st.rx[calm]
    st.en[calm] += st.rn[calm]
    st.rx[calm] = st.rn[calm] = 0
    for k in np.flatnonzero(r_new >= st.ep_h[idx]):
        i = int(idx[k])
        first = int(st.r_start[i])
        xs, ns = history[0][i, first : t + 1], history[1][i, first : t + 1]
        back = first + change_point(xs, ns, float(p_bad[k]), up=True)
        # The excursion's days before the recovery point still belong to the drop.
        st.ex[i] += history[0][i, first:back].sum()
        st.en[i] += history[1][i, first:back].sum()
        st.rx[i], st.rn[i] = history[0][i, back : t + 1].sum(), history[1][i, back : t + 1].sum()
        _resolve(st, i, t, back, policy, episodes)


def _resolve(st: _State, i: int, t: int, on: int, policy: DropPolicy, episodes: list[RawEpisode]) -> None:
    """Close the episode on the recovery day `on` (shown on day t); the baseline restarts from the recovered
    days, seeded with the old rate."""
    e = episodes[st.ep_index[i]]
    episodes[st.ep_index[i]] = RawEpisode(
        e.series,
        e.start,
        e.flagged,
        on,
        e.baseline_rate,
        e.baseline_n,
        int(st.ex[i]),
        int(st.en[i]),
        e.threshold,
        t,
    )
    st.in_episode[i] = False
    st.ep_index[i] = -1
    seed = policy.min_baseline_runs
    st.bx[i] = st.ep_p0[i] * seed + st.rx[i]
    st.bn[i] = seed + st.rn[i]
    st.bdays[i] = policy.min_baseline_days
    st.px[i] = st.pn[i] = st.pdays[i] = 0
    st.s[:, i] = 0
    st.r[i] = st.rx[i] = st.rn[i] = 0


@dataclass(frozen=True)
class DropEpisode:
    """One detected drop of one series, in calendar days.

    `episode_id` is ``<series key>@<flagged_on>`` as first computed; `carry_ids` keeps it when late data moves
    the start or the flag day (alerts are keyed on it, so one drop is alerted once).
    """

    started_on: date
    flagged_on: date
    resolved_on: date | None
    baseline_rate: float
    baseline_n: int
    post_passed: int
    post_n: int
    threshold: float
    resolution_shown_on: date | None = (
        None  # when the recovery was established (resolved_on is when it began)
    )

    @property
    def open(self) -> bool:
        return self.resolved_on is None

    @property
    def post_rate(self) -> float | None:
        return self.post_passed / self.post_n if self.post_n else None

    @property
    def drop(self) -> float | None:
        post = self.post_rate
        return None if post is None else self.baseline_rate - post


def _dense(
    days: Sequence[date], passed: Sequence[int], evaluated: Sequence[int], first: date, span: int
) -> tuple[np.ndarray, np.ndarray]:
    if not (len(days) == len(passed) == len(evaluated)):
        raise ValueError(
            f"days, passed and evaluated have lengths {len(days)}, {len(passed)}, {len(evaluated)}: need one each"
        )
    if len(set(days)) != len(days):
        raise ValueError("days: one row per day (sum the counts of a day before calling)")
    x, n = np.zeros(span), np.zeros(span)
    for d, k, m in zip(days, passed, evaluated, strict=True):
        if m < 0 or k < 0 or k > m:
            raise ValueError(f"{d}: passed={k!r}, evaluated={m!r}: need 0 <= passed <= evaluated")
        x[(d - first).days], n[(d - first).days] = k, m
    return x, n


def _episode(e: RawEpisode, first: date) -> DropEpisode:
    return DropEpisode(
        started_on=first + timedelta(days=e.start),
        flagged_on=first + timedelta(days=e.flagged),
        resolved_on=None if e.resolved is None else first + timedelta(days=e.resolved),
        baseline_rate=e.baseline_rate,
        baseline_n=e.baseline_n,
        post_passed=e.post_passed,
        post_n=e.post_n,
        threshold=e.threshold,
        resolution_shown_on=None if e.confirmed is None else first + timedelta(days=e.confirmed),
    )


def detect_drops(
    days: Sequence[date],
    passed: Sequence[int],
    evaluated: Sequence[int],
    policy: DropPolicy | None = None,
) -> list[DropEpisode]:
    """The episodes of one series from its daily counts (any order; missing days allowed; one row per day).

    Deterministic given the counts, so a late load is handled by calling it again on the corrected counts.
    """
    if not days:
        _dense(days, passed, evaluated, date.min, 0)  # the same argument checks
        return []
    first = min(days)
    x, n = _dense(days, passed, evaluated, first, (max(days) - first).days + 1)
    return [_episode(e, first) for e in run_detector(x, n, policy)]


def detect_drops_many(
    series: Mapping[K, tuple[Sequence[date], Sequence[int], Sequence[int]]],
    policy: DropPolicy | None = None,
) -> dict[K, list[DropEpisode]]:
    """`detect_drops` for many series in one vectorised pass (what the trends pass should call).

    `series`: key (agent, scenario, mode, suite) -> (days, passed, evaluated). The result per key is exactly
    `detect_drops` of that key alone: series share no statistic, and the days a series has no row add nothing.
    One pass over the union of days costs ~50 numpy operations per day for all series together, where a loop
    of `detect_drops` costs them per series.
    """
    keys = [k for k, (days, _, _) in series.items() if days]
    out: dict[K, list[DropEpisode]] = {k: [] for k in series}
    if not keys:
        for days, passed, evaluated in series.values():
            _dense(days, passed, evaluated, date.min, 0)
        return out
    first = min(min(series[k][0]) for k in keys)
    span = (max(max(series[k][0]) for k in keys) - first).days + 1
    x, n = np.zeros((len(keys), span)), np.zeros((len(keys), span))
    for row, key in enumerate(keys):
        x[row], n[row] = _dense(*series[key], first, span)
    for e in run_detector(x, n, policy):
        out[keys[e.series]].append(_episode(e, first))
    return out
