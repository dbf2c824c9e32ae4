"""Workload W1's dataset: 12 months of deterministic 1-minute bars near 20,000 with ATR14, SMA20,
session VWAP and the entry signal precomputed (``shared/bench/W1.md``, section *Data*).

The same seed always gives the same bars, bit for bit, so every engine in a run (and every run on
any machine with the same numpy) sees the same prices. Indicators are inputs to the engines, not
part of what they are timed on.

Run ``python bench/w1_data.py`` for a summary; ``--check`` also compares ATR14 with
``dyntrail.core.indicators.atr`` and with ``talib.ATR`` where they are installed; ``--npz PATH``
writes the arrays for an engine that runs in another interpreter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SEED = 20_240_101
DAYS = 250
BARS_PER_DAY = 375  # 09:15 … 15:29
FIRST_DAY = dt.date(2024, 1, 1)  # a Monday
SESSION_OPEN_MIN = 9 * 60 + 15
START_PRICE_PTS = 20_000.0
TICK_PER_PT = 20  # prices on a 0.05 grid: ticks / 20
DAILY_VOL_PCT = 0.01  # open-to-close volatility of a day
DAY_DRIFT_PCT = 0.0025  # sd of a day's drift (trend days), spread evenly over its bars
GAP_PCT = 0.003  # sd of the overnight gap
WICK_SIGMAS = 0.6  # half-normal wick scale, in bar sigmas
T_DOF = 5
VOLUME_MEDIAN = 1_000.0
VOLUME_LOG_SD = 0.5

ATR_PERIOD = 14
SMA_PERIOD = 20
SIGNAL_FROM_MIN = 9 * 60 + 35
SIGNAL_UNTIL_MIN = 15 * 60  # exclusive
SIGNAL_GAP_BARS = 30


@dataclass(frozen=True)
class W1Data:
    """One instrument's bars and W1's precomputed series, as equal-length numpy arrays.

    ``minute`` is the bar's time of day in minutes after midnight (09:15 is 555); ``day`` is the
    session number (0 … 249); ``ts`` the bar's start as ``datetime64[ns]`` (naive, exchange time).
    """

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    minute: IntArray
    day: IntArray
    ts: npt.NDArray[np.datetime64]
    atr14: FloatArray
    sma20: FloatArray
    vwap: FloatArray
    entries: BoolArray

    @property
    def n(self) -> int:
        return int(self.close.size)

    @cached_property
    def df(self):  # -> pd.DataFrame (pandas is imported only by the peers that want it)
        """OHLCV plus ``ATR``, ``Entry`` (0/1), ``Minute`` and ``Bar`` columns on a DatetimeIndex,
        built on first use and kept (the harness builds it before timing, as data preparation)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "Open": self.open,
                "High": self.high,
                "Low": self.low,
                "Close": self.close,
                "Volume": self.volume,
                "ATR": self.atr14,
                "Entry": self.entries.astype(np.float64),
                "Minute": self.minute.astype(np.float64),
                "Bar": np.arange(self.n, dtype=np.float64),
            },
            index=pd.DatetimeIndex(self.ts, name="Date"),
        )

    def save_npz(self, path: str | Path) -> None:
        np.savez(path, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load_npz(cls, path: str | Path) -> W1Data:
        with np.load(path) as z:
            return cls(**{f.name: z[f.name] for f in fields(cls)})


# --------------------------------------------------------------------------- indicators


def wilder_atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Wilder ATR seeded as TA-Lib: NaN for bars 0 … period − 1, the mean of true ranges 1 …
    period at bar ``period``, then ``(atr·(period − 1) + tr) / period``; no session reset."""
    h, lo, c = high.tolist(), low.tolist(), close.tolist()
    out = [math.nan] * len(h)
    total = 0.0
    value = math.nan
    for i in range(1, len(h)):
        prev = c[i - 1]
        tr = max(h[i] - lo[i], abs(h[i] - prev), abs(lo[i] - prev))
        if i < period:
            total += tr
        elif i == period:
            value = (total + tr) / period
            out[i] = value
        else:
            value = (value * (period - 1) + tr) / period
            out[i] = value
    return np.array(out)


def sma(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average, continuous across sessions; NaN for the first ``period − 1`` bars."""
    out = np.full(values.size, np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(values, period)
    out[period - 1 :] = windows.mean(axis=1)
    return out


def session_vwap(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, bars_per_day: int
) -> FloatArray:
    """Typical price × volume over volume, accumulated from each session's first bar."""
    shape = (-1, bars_per_day)
    typical = ((high + low + close) / 3.0).reshape(shape)
    vol = volume.reshape(shape)
    return (np.cumsum(typical * vol, axis=1) / np.cumsum(vol, axis=1)).ravel()


def entry_signals(
    close: FloatArray, sma20: FloatArray, vwap: FloatArray, minute: IntArray, day: IntArray
) -> BoolArray:
    """Close crosses above SMA20 on this bar, closes above the session VWAP, 09:35 ≤ time < 15:00,
    and a signal stands at least 30 bars after the day's previous signal (the first always does)."""
    prev_close = np.roll(close, 1)
    prev_sma = np.roll(sma20, 1)
    with np.errstate(invalid="ignore"):
        candidate = (prev_close <= prev_sma) & (close > sma20) & (close > vwap)
    candidate &= (minute >= SIGNAL_FROM_MIN) & (minute < SIGNAL_UNTIL_MIN)
    candidate[0] = False
    out = np.zeros(close.size, dtype=np.bool_)
    last_day, last_bar = -1, -SIGNAL_GAP_BARS
    for i in np.flatnonzero(candidate).tolist():
        if day[i] != last_day or i - last_bar >= SIGNAL_GAP_BARS:
            out[i] = True
            last_day, last_bar = int(day[i]), i
    return out


# --------------------------------------------------------------------------- bars


def _weekdays(first: dt.date, count: int) -> list[dt.date]:
    days: list[dt.date] = []
    d = first
    while len(days) < count:
        if d.weekday() < 5:
            days.append(d)
        d += dt.timedelta(days=1)
    return days


def intraday_profile(bars_per_day: int) -> FloatArray:
    """U-shaped volatility weights with mean square 1 (so a day's variance is preserved)."""
    x = np.linspace(-1.0, 1.0, bars_per_day)
    u = 0.6 + 1.4 * x**2
    return u / np.sqrt(np.mean(u**2))


def _ticks(price: FloatArray) -> IntArray:
    return np.rint(price * TICK_PER_PT).astype(np.int64)


def build(seed: int = SEED, days: int = DAYS) -> W1Data:
    """Generate W1's bars and precomputed series (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)
    m = BARS_PER_DAY
    n = days * m
    profile = intraday_profile(m)
    bar_sigma = np.tile(DAILY_VOL_PCT / math.sqrt(m) * profile, days)
    t_unit = rng.standard_t(T_DOF, size=n) * math.sqrt((T_DOF - 2) / T_DOF)
    drift = np.repeat(rng.normal(0.0, DAY_DRIFT_PCT, size=days) / m, m)
    gaps = rng.normal(0.0, GAP_PCT, size=days)
    gaps[0] = 0.0
    first = np.arange(days) * m
    step = bar_sigma * t_unit + drift
    step[first] += gaps
    log_close = math.log(START_PRICE_PTS) + np.cumsum(step)
    close_t = _ticks(np.exp(log_close))
    open_t = np.empty(n, dtype=np.int64)
    open_t[1:] = close_t[:-1]
    # A session opens at yesterday's close moved by the gap, not at yesterday's rounded close.
    open_t[first] = _ticks(np.exp(log_close[first] - step[first] + gaps))
    body_hi = np.maximum(open_t, close_t)
    body_lo = np.minimum(open_t, close_t)
    bar_sigma_pts = bar_sigma * np.exp(log_close)
    wick_up = np.abs(rng.standard_normal(n)) * WICK_SIGMAS * bar_sigma_pts
    wick_dn = np.abs(rng.standard_normal(n)) * WICK_SIGMAS * bar_sigma_pts
    high_t = body_hi + np.rint(wick_up * TICK_PER_PT).astype(np.int64)
    low_t = body_lo - np.rint(wick_dn * TICK_PER_PT).astype(np.int64)
    volume = np.maximum(
        1.0,
        np.rint(
            rng.lognormal(math.log(VOLUME_MEDIAN), VOLUME_LOG_SD, size=n) * np.tile(profile, days)
        ),
    )
    o, h, lo, c = (t / float(TICK_PER_PT) for t in (open_t, high_t, low_t, close_t))

    minute = np.tile(SESSION_OPEN_MIN + np.arange(m, dtype=np.int64), days)
    day = np.repeat(np.arange(days, dtype=np.int64), m)
    dates = np.array(_weekdays(FIRST_DAY, days), dtype="datetime64[D]")
    ts = (np.repeat(dates, m).astype("datetime64[ns]") + minute.astype("timedelta64[m]")).astype(
        "datetime64[ns]"
    )
    atr14 = wilder_atr(h, lo, c, ATR_PERIOD)
    sma20 = sma(c, SMA_PERIOD)
    vwap = session_vwap(h, lo, c, volume, m)
    entries = entry_signals(c, sma20, vwap, minute, day)
    return W1Data(o, h, lo, c, volume, minute, day, ts, atr14, sma20, vwap, entries)


# --------------------------------------------------------------------------- command line


def _check_atr(data: W1Data) -> None:
    try:
        from dyntrail.core.indicators import atr as dyntrail_atr
    except ImportError:
        print("dyntrail not importable: ATR14 not compared with dyntrail.core.indicators.atr")
    else:
        other = dyntrail_atr(data.high, data.low, data.close, ATR_PERIOD)
        same = np.array_equal(other, data.atr14, equal_nan=True)
        print(f"ATR14 == dyntrail.core.indicators.atr bit for bit: {same}")
    try:
        import talib
    except ImportError:
        print("TA-Lib not installed: ATR14 not compared with talib.ATR")
    else:
        other = talib.ATR(data.high, data.low, data.close, timeperiod=ATR_PERIOD)
        diff = np.nanmax(np.abs(other - data.atr14))
        same_nan = np.array_equal(np.isnan(other), np.isnan(data.atr14))
        print(f"ATR14 vs talib.ATR: same warm-up {same_nan}, max |diff| {diff:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare ATR14 with dyntrail/TA-Lib")
    parser.add_argument("--npz", type=Path, help="write the arrays to this .npz file")
    args = parser.parse_args()
    data = build()
    oc = np.log(data.close.reshape(DAYS, -1)[:, -1] / data.open.reshape(DAYS, -1)[:, 0])
    print(f"bars {data.n:,}  days {DAYS}  first {data.ts[0]}  last {data.ts[-1]}")
    print(f"close range {data.close.min():.2f} … {data.close.max():.2f}  last {data.close[-1]:.2f}")
    print(f"open-to-close daily sd {oc.std():.4%}  mean ATR14 {np.nanmean(data.atr14):.2f} pts")
    print(f"entry signals {int(data.entries.sum()):,}")
    if args.check:
        _check_atr(data)
    if args.npz:
        data.save_npz(args.npz)
        print(f"wrote {args.npz}")


if __name__ == "__main__":
    main()
