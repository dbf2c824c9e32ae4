"""The indicator values the strategy reads at a bar's close, from the streaming indicators (paper,
live) or from batch arrays computed once (backtest). Both give the same numbers to the last bit
(the batch functions drive the streaming classes; a test holds the two sets equal bar by bar).

After ``step`` for bar i, the attributes hold the values known at bar i's close: ``atr``,
``adx``, ``plus_di``, ``minus_di``, ``vwap`` (NaN while warming up), ``swing_low`` and
``swing_high`` (the last *confirmed* swings, NaN before any) and ``structure`` (+1, -1, 0).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Hashable, Sequence

import numpy as np
from numpy.typing import NDArray

from dyntrail.core import indicators as ind
from dyntrail.core.config import Config

NAN = math.nan


class Features(abc.ABC):
    """Current indicator values (see the module docstring)."""

    __slots__ = (
        "adx",
        "atr",
        "minus_di",
        "plus_di",
        "structure",
        "swing_high",
        "swing_low",
        "vwap",
    )

    def __init__(self) -> None:
        self.atr = NAN
        self.adx = NAN
        self.plus_di = NAN
        self.minus_di = NAN
        self.vwap = NAN
        self.swing_low = NAN
        self.swing_high = NAN
        self.structure = 0

    @abc.abstractmethod
    def advance(
        self,
        i: int,
        session: Hashable,
        high: float,
        low: float,
        close: float,
        volume: float | None,
    ) -> None:
        """Include bar ``i`` (its data is given for streaming; batch reads row ``i``)."""

    def values(self) -> tuple[float, float, float, float, float, float, float, int]:
        return (
            self.atr,
            self.adx,
            self.plus_di,
            self.minus_di,
            self.vwap,
            self.swing_low,
            self.swing_high,
            self.structure,
        )


class StreamingFeatures(Features):
    """Indicators updated one closed bar at a time."""

    __slots__ = ("_adx", "_atr", "_prev_close", "_swings", "_vwap")

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self._atr = ind.Atr(cfg.strategy.atr_period)
        self._adx = ind.Adx(cfg.strategy.entries.adx_period)
        self._vwap = ind.SessionVwap()
        self._swings = ind.Swings(cfg.strategy.trail.swing_bars)
        self._prev_close: float | None = None

    def advance(
        self,
        i: int,
        session: Hashable,
        high: float,
        low: float,
        close: float,
        volume: float | None,
    ) -> None:
        a = self._atr.update(high, low, self._prev_close)
        self._prev_close = close
        self.atr = NAN if a is None else a
        d = self._adx.update(high, low, close)
        if d is not None:
            self.plus_di, self.minus_di = d.plus_di, d.minus_di
            self.adx = NAN if d.adx is None else d.adx
        self.vwap = self._vwap.update(session, high, low, close, volume)
        s = self._swings.update(high, low)
        self.swing_high = NAN if s.last_swing_high is None else s.last_swing_high
        self.swing_low = NAN if s.last_swing_low is None else s.last_swing_low
        self.structure = s.structure


class BatchFeatures(Features):
    """The same values computed once over whole arrays; ``step(i)`` reads bar i's."""

    __slots__ = ("_cols",)

    def __init__(
        self,
        cfg: Config,
        sessions: Sequence[Hashable] | NDArray[np.generic],
        high: NDArray[np.float64],
        low: NDArray[np.float64],
        close: NDArray[np.float64],
        volume: NDArray[np.float64] | None,
        *,
        entry_gates: bool = True,
        atr: NDArray[np.float64] | None = None,
    ) -> None:
        """``entry_gates=False`` (entries come from an external signal) leaves out what only
        the entry gates read (ADX/DI, and VWAP unless momentum needs it); swings are computed
        only when a trail rule or the momentum context reads them. What is left out is NaN.
        ``atr``: the ATR of every bar computed elsewhere (Wilder, ``[strategy.atr] period``,
        NaN while not yet known), used instead of computing it here."""
        if atr is not None and len(atr) != len(close):
            raise ValueError(f"atr has {len(atr)} values for {len(close)} bars")
        super().__init__()
        s = cfg.strategy
        p, q, n = s.atr_period, s.entries.adx_period, s.trail.swing_bars
        # Views, not lists, even for a column left out: a list of a run's length is walked by
        # every garbage collection that finds it young, a view is not.
        none = column_view(np.full(len(close), NAN))
        swing = (
            s.momentum.enabled
            or s.trail.method == "swing"
            or any(r.method == "swing" for r in s.trail.by_tier.values())
        )
        # each indicator once: ADX and the DIs are one pass, the swings and structure another
        if entry_gates:
            pdi, mdi, trend = (column_view(x) for x in ind.adx_columns(high, low, close, q))
        else:
            pdi = mdi = trend = none
        if swing:
            sh, sl, structure = ind.swing_columns(high, low, n)
        self._cols: tuple[Sequence[float], ...] = (
            column_view(ind.atr(high, low, close, p) if atr is None else atr),
            trend,
            pdi,
            mdi,
            column_view(ind.session_vwap(sessions, high, low, close, volume))
            if entry_gates or s.momentum.enabled
            else none,
            column_view(sl) if swing else none,
            column_view(sh) if swing else none,
            column_view(structure if swing else np.zeros(len(close), np.int64), np.int64),
        )

    def gate_columns(
        self,
    ) -> tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]]:
        """VWAP, ADX, +DI and −DI of every bar (what the entry gates read); read-only."""
        c = self._cols
        return c[4], c[1], c[2], c[3]

    def stop_columns(self) -> tuple[Sequence[float], Sequence[float], Sequence[float]]:
        """ATR, last confirmed swing low and swing high of every bar (what moves a stop), for
        loops that walk many bars; read-only."""
        c = self._cols
        return c[0], c[5], c[6]

    def advance(
        self,
        i: int,
        session: Hashable,
        high: float,
        low: float,
        close: float,
        volume: float | None,
    ) -> None:
        c = self._cols
        self.atr = c[0][i]
        self.adx = c[1][i]
        self.plus_di = c[2][i]
        self.minus_di = c[3][i]
        self.vwap = c[4][i]
        self.swing_low = c[5][i]
        self.swing_high = c[6][i]
        self.structure = int(c[7][i])


def column_view(values: NDArray[np.generic], dtype: type[np.generic] = np.float64) -> memoryview:
    """A per-bar column as a read-only view whose items are Python numbers (floats by default):
    reading bar ``i`` makes one object, where a list would make one for every bar up front."""
    return np.ascontiguousarray(values, dtype=dtype).data.toreadonly()
