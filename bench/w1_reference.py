"""Workload W1's rules as a plain Python loop over arrays: the reference every engine is compared
against (``shared/bench/W1.md``, section *Rules*).

Long only, one unit, one position at a time, no costs. Per bar, in this order:

1. In a position:
   a. the stop as it stood after the previous bar is checked against the LOW: ``low <= stop``
      exits at ``min(open, stop)`` — a gap through the stop fills at the open;
   b. else the target against the HIGH: ``high >= target`` exits at ``max(open, target)``;
   c. else the stop moves: to the entry once the high reaches the break-even level, then to
      ``close − MULT·ATR14[i]`` — a long stop never moves down;
   d. still in the position at or after EOD (15:15): exit at the close.
2. Flat, not exited on this bar, ``entries[i]`` and before EOD: enter at the close with
   ``stop = max(entry·(1 − SL), entry − MULT·ATR14[i])`` and ``target = entry·(1 + RR·SL)``.

Adverse extreme first: a bar that touches both the stop and the target exits at the stop.

This module imports nothing but the standard library so that an engine running in another
interpreter (nautilus_trader's venv) can share :class:`Trade` and :class:`W1Params`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["W1_PARAMS", "Trade", "W1Params", "run_reference", "sweep_grid", "total_pnl_pts"]


class Trade(NamedTuple):
    """One round trip of one unit; prices in index points, bars as indices into the dataset."""

    entry_bar: int
    exit_bar: int
    entry_price: float
    exit_price: float
    reason: str  # "stop" | "target" | "eod", or "" where an engine does not tell


@dataclass(frozen=True, slots=True)
class W1Params:
    """W1's parameters: ``sl_pct`` and ``be_pct`` are fractions of the entry price (0.006 = 0.6 %),
    ``rr`` the target's multiple of SL, ``mult`` the ATR multiple of the trail, ``eod_min`` the
    time of day (minutes after midnight) from which a position is closed and none is opened."""

    sl_pct: float = 0.006
    rr: float = 2.0
    be_pct: float = 0.004
    mult: float = 2.5
    eod_min: int = 15 * 60 + 15

    def initial_stop(self, entry: float, atr: float) -> float:
        return max(entry * (1.0 - self.sl_pct), entry - self.mult * atr)

    def target(self, entry: float) -> float:
        return entry * (1.0 + self.rr * self.sl_pct)

    def be_level(self, entry: float) -> float:
        return entry * (1.0 + self.be_pct)


W1_PARAMS = W1Params()


def sweep_grid() -> list[W1Params]:
    """The sweep variant: 10 × 10 = 100 combinations, MULT 1.0–4.0 × RR 1.0–3.0 (even steps)."""
    mults = [1.0 + 3.0 * k / 9 for k in range(10)]
    rrs = [1.0 + 2.0 * k / 9 for k in range(10)]
    return [W1Params(rr=rr, mult=mult) for mult in mults for rr in rrs]


def total_pnl_pts(trades: Sequence[Trade]) -> float:
    return sum(t.exit_price - t.entry_price for t in trades)


def run_reference(
    data: Any, params: W1Params = W1_PARAMS, probe: Counter[str] | None = None
) -> list[Trade]:
    """Trades of W1 on ``data`` (a :class:`w1_data.W1Data` or anything with its array fields).

    ``probe``, when given, counts how often the edge cases that engines may treat differently
    occur: ``both_in_bar`` (a bar touches stop and target), ``stop_at_open`` (gap through the
    stop), ``target_at_open``, ``stop_in_market`` (a stop raised to or above the bar's close),
    ``be_moves`` and ``signal_on_exit_bar`` (an entry refused because of the exit on this bar).
    """
    o = data.open.tolist()
    h = data.high.tolist()
    lo = data.low.tolist()
    c = data.close.tolist()
    atr = data.atr14.tolist()
    minute = data.minute.tolist()
    signal_bars = set(data.entries.nonzero()[0].tolist())
    sl_pct, be_pct, mult, eod = params.sl_pct, params.be_pct, params.mult, params.eod_min
    tp_pct = params.rr * sl_pct

    trades: list[Trade] = []
    in_pos = False
    entry_bar = 0
    entry = stop = target = be_level = 0.0
    for i in range(len(c)):
        exited = False
        if in_pos:
            if probe is not None:
                _probe_bar(probe, o[i], h[i], lo[i], stop, target)
            if lo[i] <= stop:
                px = o[i] if o[i] < stop else stop
                trades.append(Trade(entry_bar, i, entry, px, "stop"))
                in_pos, exited = False, True
            elif h[i] >= target:
                px = o[i] if o[i] > target else target
                trades.append(Trade(entry_bar, i, entry, px, "target"))
                in_pos, exited = False, True
            else:
                if h[i] >= be_level and entry > stop:
                    stop = entry
                    if probe is not None:
                        probe["be_moves"] += 1
                trail = c[i] - mult * atr[i]
                if trail > stop:
                    stop = trail
                if probe is not None and stop >= c[i]:
                    probe["stop_in_market"] += 1
                if minute[i] >= eod:
                    trades.append(Trade(entry_bar, i, entry, c[i], "eod"))
                    in_pos, exited = False, True
        if probe is not None and exited and i in signal_bars and minute[i] < eod:
            probe["signal_on_exit_bar"] += 1
        if not in_pos and not exited and i in signal_bars and minute[i] < eod:
            entry = c[i]
            entry_bar = i
            stop = max(entry * (1.0 - sl_pct), entry - mult * atr[i])
            target = entry * (1.0 + tp_pct)
            be_level = entry * (1.0 + be_pct)
            in_pos = True
    return trades


def _probe_bar(
    probe: Counter[str], o: float, h: float, lo: float, stop: float, target: float
) -> None:
    if lo <= stop and h >= target:
        probe["both_in_bar"] += 1
    if o < stop:
        probe["stop_at_open"] += 1
    elif o > target:
        probe["target_at_open"] += 1
