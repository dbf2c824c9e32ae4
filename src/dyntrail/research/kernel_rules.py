"""The engine's rules that both compiled screening kernels (``screen``'s on the underlying,
``option_kernel``'s on options) apply the same way, compiled once (numba)."""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, nogil=True)
def entry_levels(
    entry: float, sl: float, k: float, atr: float, rr: float, be: float
) -> tuple[float, float, float]:
    """A long entry's initial (stop, target, break-even trigger) at ``entry``, as
    ``DynamicTargetEngine.compute_targets`` makes them: the risk is ``entry x sl``; the stop is
    that far below, or ``k x ATR`` when that is tighter (``k > 0``, the ATR finite and > 0); the
    target ``rr`` risks above; the break-even trigger ``entry x be`` above."""
    risk = entry * sl
    dist = risk
    if k > 0 and atr > 0 and atr < math.inf:
        ka = k * atr
        dist = ka if ka < risk else risk
    return entry - dist, entry + rr * risk, entry + entry * be


NO_EXIT, EXIT_STOP, EXIT_TARGET, EXIT_FLATTEN = -1, 0, 1, 2  # ``next_bar_exit``'s reasons


@njit(cache=True, nogil=True)
def next_bar_exit(
    o: float,
    lo: float,
    h: float,
    c: float,
    atr: float,
    minute: int,
    flat_min: int,
    entry: float,
    stop: float,
    target: float,
    be_level: float,
    mult: float,
) -> tuple[float, int, float]:
    """One bar of a long position under next-bar semantics (``Position._next_bar``): the stop
    at the open or within the bar, else the target, else the stop moved at the close (to the
    entry once the break-even trigger traded, then up to ``c - mult x ATR``), then the flatten
    time. Returns (the underlying's exit level, the reason, the stop as it now stands)."""
    if o - stop <= 0:
        return o, EXIT_STOP, stop
    if lo - stop <= 0:
        return stop, EXIT_STOP, stop
    if h - target >= 0:
        return (o if o - target >= 0 else target), EXIT_TARGET, stop
    if h - be_level >= 0 and entry - stop > 0:
        stop = entry
    if atr == atr and -math.inf < atr < math.inf:
        trail = c - mult * atr
        if trail - stop > 0:
            stop = trail
    if minute >= flat_min:
        return c, EXIT_FLATTEN, stop
    return 0.0, NO_EXIT, stop


@njit(cache=True, nogil=True)
def daily_sharpe(s1: float, s2: float, ndays: int) -> float:
    """The annualised Sharpe ratio (252 days) of ``ndays`` daily PnLs from their sum ``s1``
    and sum of squares ``s2`` (sample variance); 0 with fewer than two days or no variance."""
    if ndays > 1:
        mean = s1 / ndays
        var = (s2 - ndays * mean * mean) / (ndays - 1)
        if var > 0:
            return mean / math.sqrt(var) * math.sqrt(252.0)
    return 0.0
