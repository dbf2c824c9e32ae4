"""Generated days that reach the cases a trader meets on expiry day and in recorded data: an
entry late on an expiry afternoon, a quote with no bid at the flatten time, a near-zero premium,
recorded option quotes that stop while a position is open.

Every day is 09:15-15:29 one-minute bars of a path given as a function of the minute (0..374);
VIX is flat. Recorded option quotes come from the project's own quote model, with a hook that
removes the bid or the whole row for chosen contracts and minutes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dyntrail.core.contracts import atm_strike, time_to_expiry_years
from dyntrail.core.options import OptionRight
from dyntrail.data.options_synth import SyntheticQuotes

BARS = 375
LATE = 14 * 60 + 51 - (9 * 60 + 15)  # the minute index of the 14:51 bar

# Entries only at 14:51, long above VWAP, guards off: the engine walks into the hard cases.
LATE_ENTRY_TOML = """
[strategy.time]
entry_start = "14:51:00"
entry_end = "14:52:00"

[strategy.entries]
adx_bias = false

[options]
min_premium_inr = 0.0
min_minutes_to_expiry = 0
"""

Path_ = Callable[[int], float]  # minute index -> underlying price
QuoteHook = Callable[[dt.datetime, dt.date, float, str, float, float], tuple[float, float] | None]


def rising(base: float = 23400.0) -> Path_:
    """A slow rise with a wiggle: price above session VWAP in the afternoon."""
    return lambda m: base + 0.3 * m + 3.0 * float(np.sin(m / 7))


def drop_after(base: float, minute: int, points: float, over: int = 14) -> Path_:
    """``rising(base)`` until ``minute``, then a fall of ``points`` over ``over`` minutes."""
    up = rising(base)
    top = up(minute)
    return lambda m: up(m) if m <= minute else top - points * min(m - minute, over) / over


def jump_after(base: float, minute: int, points: float, over: int = 14) -> Path_:
    """``rising(base)`` until ``minute``, then a rise of ``points`` over ``over`` minutes."""
    return drop_after(base, minute, -points, over)


def flat(level: float) -> Path_:
    return lambda m: level + 3.0 * float(np.sin(m / 5))


def bar_times(day: dt.date) -> list[dt.datetime]:
    start = dt.datetime.combine(day, dt.time(9, 15))
    return [start + dt.timedelta(minutes=m) for m in range(BARS)]


def write_market(folder: Path, days: Sequence[tuple[dt.date, Path_]], vix: float = 14.0) -> Path:
    """``underlying.csv`` and ``vix.csv`` for the given days and paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stamps: list[dt.datetime] = []
    close: list[float] = []
    for day, path in days:
        stamps += bar_times(day)
        close += [round(path(m) / 0.05) * 0.05 for m in range(BARS)]
    c = np.array(close)
    o = np.r_[c[0], c[:-1]]
    df = pd.DataFrame(
        {
            "timestamp": [t.isoformat() for t in stamps],
            "open": o,
            "high": np.maximum(o, c) + 1.0,
            "low": np.minimum(o, c) - 1.0,
            "close": c,
        }
    )
    df.round(2).to_csv(folder / "underlying.csv", index=False)
    pd.DataFrame({"timestamp": df["timestamp"], "close": vix}).to_csv(
        folder / "vix.csv", index=False
    )
    return folder


def write_options(
    folder: Path,
    expiries: Sequence[dt.date],
    hook: QuoteHook | None = None,
    vix: float = 14.0,
    width: int = 4,
) -> Path:
    """``options.csv`` for the folder's underlying: strikes ATM +/- ``width`` of the day's open
    (step 50), both rights, every expiry given that has not passed, priced by the quote model.
    ``hook(ts, expiry, strike, right, spot, t_years)`` may replace a row's (bid, ask) or drop it
    (None); return ``(bid, ask)`` unchanged to keep it."""
    und = pd.read_csv(folder / "underlying.csv")
    model = SyntheticQuotes()
    rows: list[tuple[str, str, float, str, float, float, float]] = []
    day_atm: dict[dt.date, float] = {}
    for ts_text, spot in zip(und["timestamp"], und["close"], strict=True):
        ts = dt.datetime.fromisoformat(ts_text)
        atm = day_atm.setdefault(ts.date(), atm_strike(float(spot), 50.0))
        for expiry in expiries:
            if expiry < ts.date():
                continue
            t = time_to_expiry_years(
                (ts + dt.timedelta(minutes=1)).replace(tzinfo=_IST), expiry, "Asia/Kolkata"
            )
            for k in range(-width, width + 1):
                strike = atm + 50.0 * k
                for right in ("CE", "PE"):
                    q = model.quote(float(spot), strike, OptionRight(right), t, vix)
                    ba: tuple[float, float] | None = (q.bid, q.ask)
                    if hook is not None:
                        ba = hook(ts, expiry, strike, right, float(spot), t)
                    if ba is None:
                        continue
                    rows.append((ts_text, expiry.isoformat(), strike, right, ba[0], ba[1], q.last))
    cols = ["timestamp", "expiry", "strike", "right", "bid", "ask", "close"]
    pd.DataFrame(rows, columns=cols).to_csv(folder / "options.csv", index=False)
    return folder


_IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
