"""Ticks into closed bars: the engine's indicators and entries work on closed bars, as in a
backtest; a bar is handed out only once it is closed (a tick of a later bar came, or the clock
passed its end), so nothing decided at its close sees a later price.

Pure: the caller gives every tick's exchange time and the clock's time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClosedBar:
    """One closed bar: ``start`` (naive exchange time), prices, and the volume traded in it
    (None when the feed has none, as for an index)."""

    start: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    ticks: int


class BarBuilder:
    """Bars of ``minutes`` from one instrument's ticks. ``cumulative_volume``: the ticks carry
    the day's traded volume so far (Kite's ``volume_traded``), and a bar's volume is the
    difference."""

    def __init__(self, minutes: int = 1, *, cumulative_volume: bool = True) -> None:
        if minutes < 1:
            raise ValueError(f"bar minutes {minutes!r}: must be at least 1")
        self.step = dt.timedelta(minutes=minutes)
        self.cumulative = cumulative_volume
        self.late = 0  # ticks that came after their bar had closed (ignored, counted)
        self._start: dt.datetime | None = None
        self._o = self._h = self._lo = self._c = 0.0
        self._n = 0
        self._base: float | None = None  # cumulative volume before this bar (or its first tick)
        self._vol: float | None = None  # cumulative: the last seen; else the bar's sum
        self._closed_until: dt.datetime | None = None

    def bar_start(self, ts: dt.datetime) -> dt.datetime:
        """The start of the bar that holds ``ts`` (bars start on whole multiples of the step
        from midnight)."""
        midnight = ts.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + ((ts - midnight) // self.step) * self.step

    def add(self, ts: dt.datetime, price: float, volume: float | None = None) -> list[ClosedBar]:
        """One tick at exchange time ``ts``; the bar it closed, if any. A tick of a bar already
        closed is late: ignored (and counted in ``late``)."""
        start = self.bar_start(ts)
        if self._closed_until is not None and start < self._closed_until:
            self.late += 1
            return []
        out = [self._close()] if self._start is not None and start > self._start else []
        if self._start is None:
            self._start = start
            self._o = self._h = self._lo = price
            self._n = 0
            if self.cumulative:
                self._base = self._vol if self._vol is not None else volume
            else:
                self._vol = None
        self._h = max(self._h, price)
        self._lo = min(self._lo, price)
        self._c = price
        self._n += 1
        if volume is not None:
            self._vol = volume if self.cumulative else (self._vol or 0.0) + volume
        return out

    def close_due(self, now: dt.datetime) -> list[ClosedBar]:
        """The open bar, if ``now`` is at or past its end (no tick of the next bar needed)."""
        if self._start is not None and now >= self._start + self.step:
            return [self._close()]
        return []

    def _close(self) -> ClosedBar:
        start = self._start
        assert start is not None
        volume = self._vol
        if self.cumulative:
            base = self._base
            volume = None if volume is None or base is None else max(0.0, volume - base)
        bar = ClosedBar(start, self._o, self._h, self._lo, self._c, volume, self._n)
        self._closed_until = start + self.step
        self._start = None
        return bar
