"""Synthetic market regimes: deterministic underlying + India VIX minute bars for replays and tests.

What a generated year contains (all from one seed):

- trading days from the exchange calendar (past its known holidays: weekdays, see
  ``dyntrail.data.builtin.synth_days``), 09:15-15:30 sessions of 1-minute bars (375 a day);
- VIX regimes (low / normal / reduced / high / halt) that persist for days (a Markov chain on days)
  and mean-revert inside a day; several intraday VIX spikes of more than 5 points within 10
  minutes, with a sharp fall of the underlying while they happen;
- the underlying's volatility consistent with VIX (VIX is an annualised percentage: a bar's
  sigma is VIX/100/sqrt(252 x 375) shaped by a U-shaped intraday profile); Student-t returns;
- trend days (a drift through the day) and range days (pulled back towards the open);
- overnight gaps, with larger gap mornings (0.6 %-1.4 %) on some days;
- U-shaped volume; OHLC rounded to the 0.05 tick; wicks beyond open and close.

The generator is pure: same arguments, same arrays, on any machine (numpy's PCG64).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

BARS_PER_DAY = 375
SESSION_OPEN = dt.time(9, 15)
TICK = 0.05
_REGIME_LEVELS = np.array([10.5, 14.5, 21.0, 27.0, 33.0])  # low, normal, reduced, high, halt
_REGIME_STAY = np.array([0.90, 0.92, 0.88, 0.80, 0.55])
# from each regime, where it goes when it leaves
_REGIME_MOVE = np.array(
    [
        [0.0, 1.0, 0.0, 0.0, 0.0],
        [0.45, 0.0, 0.55, 0.0, 0.0],
        [0.0, 0.6, 0.0, 0.4, 0.0],
        [0.0, 0.1, 0.55, 0.0, 0.35],
        [0.0, 0.0, 0.3, 0.7, 0.0],
    ]
)


@dataclass(frozen=True, slots=True)
class SyntheticMarket:
    """Bars as arrays; ``timestamps`` are naive exchange-time datetime64[s] bar starts."""

    timestamps: NDArray[np.datetime64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]
    vix: NDArray[np.float64]  # VIX close of each minute, same timestamps
    days: tuple[dt.date, ...]
    spike_days: tuple[dt.date, ...]
    gap_days: tuple[dt.date, ...]


def u_profile(n: int = BARS_PER_DAY) -> NDArray[np.float64]:
    """U-shaped intraday factor with mean square 1 (busy open and close, quiet lunch)."""
    x = np.linspace(-1.0, 1.0, n)
    shape = 0.6 + 1.4 * x**2 + 0.5 * np.exp(-((x + 1.0) ** 2) / 0.01)
    return np.asarray(shape / np.sqrt(np.mean(shape**2)), dtype=np.float64)


def weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Mon-Fri between start and end inclusive (used when no exchange calendar is given)."""
    out, d = [], start
    while d <= end:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    return dt.date(d.year + y, m + 1, 1) if d.day == 1 else dt.date(d.year + y, m + 1, d.day)


def generate(
    days: Sequence[dt.date],
    seed: int = 7,
    start_price: float = 23500.0,
    n_spikes: int | None = None,
) -> SyntheticMarket:
    """Generate 1-minute bars for the given trading days (sorted, distinct)."""
    if not days:
        raise ValueError("generate() needs at least one trading day")
    if list(days) != sorted(set(days)):
        raise ValueError("trading days must be sorted and distinct")
    rng = np.random.default_rng(seed)
    n_days, n = len(days), BARS_PER_DAY
    prof = u_profile(n)

    regimes = _regime_path(rng, n_days)
    spikes = n_spikes if n_spikes is not None else max(2, n_days // 40)
    spike_idx = np.sort(rng.choice(n_days, size=min(spikes, n_days), replace=False))
    gap_mask = rng.random(n_days) < 0.08

    opens = np.empty((n_days, n))
    highs, lows, closes = np.empty_like(opens), np.empty_like(opens), np.empty_like(opens)
    vols, vix = np.empty_like(opens), np.empty_like(opens)
    prev_close = start_price
    vix_level = float(_REGIME_LEVELS[regimes[0]])
    for d in range(n_days):
        target = float(_REGIME_LEVELS[regimes[d]]) * float(np.exp(rng.normal(0.0, 0.05)))
        vix_day = _vix_day(rng, vix_level, target, n)
        shock = np.zeros(n)
        if d in spike_idx:
            _add_spike(rng, vix_day, shock, n)
        vix[d] = vix_day
        vix_level = float(vix_day[-1]) * 0.5 + target * 0.5

        gap = rng.normal(0.0, 0.003)
        if gap_mask[d]:
            gap = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.006, 0.014))
        day_open = prev_close * float(np.exp(gap))

        sigma = vix_day / 100.0 / np.sqrt(252.0 * n) * prof
        t_noise = rng.standard_t(5, n) / np.sqrt(5.0 / 3.0)
        trend = rng.random() < 0.35
        drift = rng.normal(0.0, 0.006) / n if trend else 0.0
        rets = sigma * t_noise + drift + shock
        path = np.empty(n)
        level = np.log(day_open)
        anchor = level
        for i in range(n):  # range days are pulled back towards the open
            if not trend:
                rets[i] -= 0.02 * (level - anchor)
            level += rets[i]
            path[i] = level
        close = np.exp(path)
        open_ = np.empty(n)
        open_[0] = day_open
        open_[1:] = close[:-1]
        wick = np.abs(rng.normal(0.0, 0.6, (2, n))) * sigma * close
        hi = np.maximum(open_, close) + wick[0]
        lo = np.minimum(open_, close) - wick[1]
        o, c = _tick(open_), _tick(close)
        opens[d], closes[d] = o, c
        highs[d] = np.maximum(_tick(hi), np.maximum(o, c))
        lows[d] = np.minimum(_tick(lo), np.minimum(o, c))
        vols[d] = np.round(rng.lognormal(9.0, 0.4, n) * prof**2)
        prev_close = float(c[-1])

    ts = _timestamps(days, n)
    return SyntheticMarket(
        timestamps=ts,
        open=opens.ravel(),
        high=highs.ravel(),
        low=lows.ravel(),
        close=closes.ravel(),
        volume=vols.ravel(),
        vix=np.round(vix.ravel(), 2),
        days=tuple(days),
        spike_days=tuple(days[i] for i in spike_idx),
        gap_days=tuple(d for d, g in zip(days, gap_mask, strict=True) if g),
    )


def _regime_path(rng: np.random.Generator, n_days: int) -> NDArray[np.int64]:
    out = np.empty(n_days, dtype=np.int64)
    state = 1
    for d in range(n_days):
        out[d] = state
        if rng.random() > _REGIME_STAY[state]:
            state = int(rng.choice(5, p=_REGIME_MOVE[state]))
    return out


def _vix_day(rng: np.random.Generator, start: float, target: float, n: int) -> NDArray[np.float64]:
    """Mean-reverting minute VIX from ``start`` towards ``target``."""
    out = np.empty(n)
    x = start
    noise = rng.normal(0.0, 0.04, n)
    for i in range(n):
        x += 0.02 * (target - x) + noise[i]
        out[i] = max(x, 8.0)
    return out


def _add_spike(
    rng: np.random.Generator, vix_day: NDArray[np.float64], shock: NDArray[np.float64], n: int
) -> None:
    """VIX up 5.5-9 points within 3-8 minutes, decaying over the next hour; the underlying falls
    hard while VIX rises."""
    at = int(rng.integers(30, n - 90))
    rise = float(rng.uniform(5.5, 9.0))
    width = int(rng.integers(3, 9))
    bump = np.zeros(n)
    bump[at : at + width] = np.linspace(rise / width, rise, width)
    tail = np.arange(n - at - width)
    bump[at + width :] = rise * np.exp(-tail / 60.0)
    vix_day += bump
    shock[at : at + width] = -rng.uniform(0.0015, 0.003) / width * np.ones(width) * (rise / 5.0)


def _tick(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.round(np.round(x / TICK) * TICK, 2)


def _timestamps(days: Sequence[dt.date], n: int) -> NDArray[np.datetime64]:
    base = np.array([np.datetime64(dt.datetime.combine(d, SESSION_OPEN), "s") for d in days])
    minutes = np.arange(n).astype("timedelta64[m]").astype("timedelta64[s]")
    out: NDArray[np.datetime64] = (base[:, None] + minutes[None, :]).ravel()
    return out
