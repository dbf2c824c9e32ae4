"""Entry gates: when a flat book may open a position, and on which side.

All gates must pass, checked at a bar's close (the decision time):

1. window: ``entry_start <= now < entry_end`` (exchange time);
2. regime: the VIX tier is not HALT and the spike breaker is clear;
3. fewer than ``max_trades_per_day`` entries today (the account's limits, the daily loss limit
   and ``max_open_positions``, are the risk gate's: ``dyntrail.core.risk``);
4. gap morning: when the day opened more than ``gap_pct`` away from the previous close, no entry
   before ``session open + gap_delay_min``;
5. bias: with ``adx_bias``, ADX >= ``adx_min`` and +DI > -DI -> LONG (buy the call), -DI > +DI ->
   SHORT (buy the put), equal -> none; without it, the side of price against VWAP;
6. VWAP gate: with ``vwap_gate``, LONG only above session VWAP, SHORT only below.

``decide_entry`` returns the side, or None with the first gate that failed (for the journal).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from dyntrail.core.config import Config
from dyntrail.core.types import Side, VixTier


class EntryInputs(NamedTuple):
    """Everything known at the decision time that the gates need (a named tuple: immutable,
    and one is made on every flat bar, five times faster than a frozen dataclass)."""

    now: dt.time
    tier: VixTier
    breaker_tripped: bool
    trades_today: int
    gap_delay_until: dt.time | None
    close: float
    vwap: float | None
    adx: float | None
    plus_di: float | None
    minus_di: float | None


@dataclass(frozen=True, slots=True)
class EntryDecision:
    side: Side | None
    reason: str  # "enter" or the gate that blocked


# The refusals, made once: most bars are refused, and a decision is immutable.
_REFUSED = {
    r: EntryDecision(None, r)
    for r in (
        "window",
        "vix_halt",
        "breaker",
        "max_trades",
        "gap_delay",
        "no_bias",
        "no_vwap",
        "vwap_gate",
    )
}


def gap_delay_until(cfg: Config, day_open: float, prev_close: float | None) -> dt.time | None:
    """The time before which a gap morning blocks entries, or None on a normal morning."""
    if prev_close is None or prev_close <= 0:
        return None
    if abs(day_open / prev_close - 1.0) <= cfg.strategy.entries.gap_pct:
        return None
    start = dt.datetime.combine(dt.date(2000, 1, 1), cfg.session.open)
    return (start + dt.timedelta(minutes=cfg.strategy.entries.gap_delay_min)).time()


def decide_entry(cfg: Config, x: EntryInputs) -> EntryDecision:
    """Apply the gates in the module docstring's order."""
    s, e = cfg.strategy, cfg.strategy.entries
    if not s.time.entry_start <= x.now < s.time.entry_end:
        return _REFUSED["window"]
    if x.tier is VixTier.HALT:
        return _REFUSED["vix_halt"]
    if x.breaker_tripped:
        return _REFUSED["breaker"]
    if x.trades_today >= e.max_trades_per_day:
        return _REFUSED["max_trades"]
    if x.gap_delay_until is not None and x.now < x.gap_delay_until:
        return _REFUSED["gap_delay"]
    side = _bias(cfg, x)
    if side is None:
        return _REFUSED["no_bias"]
    if e.vwap_gate:
        if x.vwap is None or not math.isfinite(x.vwap):
            return _REFUSED["no_vwap"]
        if side.sign * (x.close - x.vwap) <= 0:
            return _REFUSED["vwap_gate"]
    return EntryDecision(side, "enter")


def _bias(cfg: Config, x: EntryInputs) -> Side | None:
    e = cfg.strategy.entries
    if e.adx_bias:
        if x.adx is None or x.plus_di is None or x.minus_di is None or not math.isfinite(x.adx):
            return None
        if x.adx < e.adx_min or x.plus_di == x.minus_di:
            return None
        return Side.LONG if x.plus_di > x.minus_di else Side.SHORT
    if x.vwap is None or not math.isfinite(x.vwap) or x.close == x.vwap:
        return None
    return Side.LONG if x.close > x.vwap else Side.SHORT


def entry_bars(
    cfg: Config,
    close_ts: NDArray[np.datetime64],
    close: NDArray[np.float64],
    vwap: NDArray[np.float64],
    adx: NDArray[np.float64],
    plus_di: NDArray[np.float64],
    minus_di: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """For each bar (``close_ts``: its naive close time), False where ``decide_entry`` refuses
    at its close whatever the state: outside the window, or the bias or the VWAP gate refuse
    with the bar's own indicator values (NaN: unknown). True where the gates that read the
    state (regime, trades today, gap delay) decide. The same comparisons on the same floats as
    ``decide_entry``, over whole columns; a refused bar is refused for any tier, count or gap,
    so a flat run may account for a stretch of refused bars in one step."""
    s, e = cfg.strategy, cfg.strategy.entries
    ts = np.asarray(close_ts).astype("datetime64[s]")  # the feed's clock: whole seconds
    of_day = (ts - ts.astype("datetime64[D]")).astype("timedelta64[us]").astype(np.int64)
    possible = (of_day >= _micros(s.time.entry_start)) & (of_day < _micros(s.time.entry_end))
    c, vw = np.asarray(close, dtype=np.float64), np.asarray(vwap, dtype=np.float64)
    vwap_known = np.isfinite(vw)
    if e.adx_bias:
        a, p, m = (np.asarray(x, dtype=np.float64) for x in (adx, plus_di, minus_di))
        known = np.isfinite(a) & ~np.isnan(p) & ~np.isnan(m)
        with np.errstate(invalid="ignore"):
            possible &= known & ~(a < e.adx_min) & (p != m)
            sign = np.where(p > m, 1, -1)
    else:
        with np.errstate(invalid="ignore"):
            possible &= vwap_known & (c != vw)
            sign = np.where(c > vw, 1, -1)
    if e.vwap_gate:
        with np.errstate(invalid="ignore"):
            possible &= vwap_known & ~(sign * (c - vw) <= 0)
    return np.asarray(possible, dtype=bool)


def _micros(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond
