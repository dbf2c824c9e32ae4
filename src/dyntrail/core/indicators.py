"""Technical indicators: Wilder ATR, ADX with +DI/−DI, session-anchored VWAP, N-bar swings.

Every indicator exists twice: a streaming class fed one bar at a time (constant work per bar)
and a batch function over one-dimensional float64 arrays that returns NaN during warm-up. The
batch functions drive the streaming classes, so the two agree to the last bit.

Sessions: ATR, ADX and swings run continuously across sessions, so yesterday's bars warm today's
values and there is no reset at the open. Only the VWAP is anchored to the session.

TA-Lib parity (default unstable period 0): ``atr``, ``adx``, ``plus_di`` and ``minus_di`` have
their first value at the same index as ``talib.ATR``/``ADX``/``PLUS_DI``/``MINUS_DI`` and the same
seeding and recurrences. ADX and the DIs reproduce TA-Lib's zero guards as well.

Invalid input raises ``ValueError``: a period below its minimum, arrays of different lengths,
non-finite prices, ``high < low``, or a negative or infinite volume.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "Adx",
    "AdxValue",
    "Atr",
    "SessionVwap",
    "SwingState",
    "Swings",
    "adx",
    "adx_columns",
    "atr",
    "minus_di",
    "plus_di",
    "session_vwap",
    "swing_columns",
    "swing_structure",
    "swings",
    "true_range",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_DI_SUM_ZERO: Final = 1e-14
"""TA-Lib's zero band for +DI + −DI: a sum inside (−1e-14, 1e-14) yields no DX for that bar."""


# --------------------------------------------------------------------------- validation


def _check_period(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_bar(high: float, low: float) -> None:
    if not (math.isfinite(high) and math.isfinite(low)):
        raise ValueError(f"high and low must be finite, got high={high!r}, low={low!r}")
    if high < low:
        raise ValueError(f"high must be >= low, got high={high!r} < low={low!r}")


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def _column(name: str, values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _check_lengths(columns: dict[str, int]) -> None:
    if len(set(columns.values())) > 1:
        found = ", ".join(f"{name}={size}" for name, size in columns.items())
        raise ValueError(f"input arrays must have the same length, got {found}")


def _columns(**named: npt.ArrayLike) -> list[FloatArray]:
    """Validated float64 price columns (``high`` and ``low`` among them): equal lengths, finite
    values, ``high >= low``."""
    arrays = {name: _column(name, values) for name, values in named.items()}
    _check_lengths({name: array.size for name, array in arrays.items()})
    for name, array in arrays.items():
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] is {array[bad[0]]!r}; prices must be finite")
    high, low = arrays["high"], arrays["low"]
    inverted = np.flatnonzero(high < low)
    if inverted.size:
        i = inverted[0]
        raise ValueError(f"high must be >= low, got high[{i}]={high[i]!r} < low[{i}]={low[i]!r}")
    return list(arrays.values())


def _hl(high: npt.ArrayLike, low: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    h, lo = _columns(high=high, low=low)
    return h, lo


def _hlc(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    h, lo, c = _columns(high=high, low=low, close=close)
    return h, lo, c


# --------------------------------------------------------------------------- true range and ATR


def _true_range(high: float, low: float, prev_close: float) -> float:
    result = high - low
    to_high = abs(high - prev_close)
    if to_high > result:
        result = to_high
    to_low = abs(low - prev_close)
    if to_low > result:
        result = to_low
    return result


def true_range(high: float, low: float, prev_close: float | None = None) -> float:
    """Wilder's true range: the largest of ``high − low``, ``|high − prev_close|`` and
    ``|low − prev_close|``. Without a previous close (None or NaN) it is ``high − low``."""
    high, low = float(high), float(low)
    _check_bar(high, low)
    if prev_close is None or math.isnan(prev_close):
        return high - low
    prev = float(prev_close)
    _check_finite("prev_close", prev)
    return _true_range(high, low, prev)


class Atr:
    """Wilder's Average True Range, one bar at a time, seeded as TA-Lib's ``ATR``.

    - The first value is the mean of the first ``period`` true ranges that have a previous close;
      after it, ``atr = (atr·(period − 1) + tr) / period``.
    - During warm-up a bar without a previous close (``prev_close`` None or NaN: normally the
      very first bar) is not averaged in. TA-Lib never uses bar 0's range either, so fed
      ``update(high[i], low[i], close[i − 1])`` the first value arrives at bar ``period``, as in
      ``talib.ATR``. After warm-up such a bar's true range is ``high − low``.
    - The design document's ATR seeds with the first bar's range instead; this one follows
      TA-Lib so that it can be checked against it.
    - No session reset: the value carries from one session into the next.
    """

    __slots__ = ("_count", "_divisor", "_keep", "_period", "_sum", "_value")

    def __init__(self, period: int) -> None:
        self._period = _check_period("period", period, 1)
        self._keep = float(period - 1)
        self._divisor = float(period)
        self._count = 0
        self._sum = 0.0
        self._value: float | None = None

    @property
    def period(self) -> int:
        """The smoothing period (bars)."""
        return self._period

    def current(self) -> float | None:
        """The latest value, or None while warming up."""
        return self._value

    def update(self, high: float, low: float, prev_close: float | None = None) -> float | None:
        """Take one bar (its high and low, and the previous bar's close); return the ATR, or
        None while warming up."""
        high, low = float(high), float(low)
        _check_bar(high, low)
        if prev_close is None or math.isnan(prev_close):
            if self._value is None:
                return None
            tr = high - low
        else:
            prev = float(prev_close)
            _check_finite("prev_close", prev)
            tr = _true_range(high, low, prev)
            if self._value is None:
                self._sum += tr
                self._count += 1
                if self._count == self._period:
                    self._value = self._sum / self._divisor
                return self._value
        self._value = (self._value * self._keep + tr) / self._divisor
        return self._value


def atr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> FloatArray:
    """Wilder ATR of every bar (NaN for bars ``0 .. period − 1``); equals ``talib.ATR`` and, bit
    for bit, an :class:`Atr` fed ``update(high[i], low[i], close[i − 1])``: the true ranges are
    taken with the same comparisons (vectorised), then the same sum and recurrence run in order."""
    p = _check_period("period", period, 1)
    h, lo, c = _hlc(high, low, close)
    out = np.full(h.size, np.nan)
    if h.size <= p:
        return out
    prev, hh, ll = c[:-1], h[1:], lo[1:]
    tr = hh - ll
    to_high = np.abs(hh - prev)
    tr = np.where(to_high > tr, to_high, tr)
    to_low = np.abs(ll - prev)
    tr = np.where(to_low > tr, to_low, tr)
    trs = tr.tolist()
    total = 0.0
    for x in trs[:p]:
        total += x
    keep, divisor = float(p - 1), float(p)
    value = total / divisor
    values = [value]
    for x in trs[p:]:
        value = (value * keep + x) / divisor
        values.append(value)
    out[p:] = values
    return out


# --------------------------------------------------------------------------- ADX, +DI, −DI


@dataclass(frozen=True, slots=True)
class AdxValue:
    """One bar's directional readings, in percent (0-100).

    +DI and −DI exist from bar ``period``; ``adx`` is None until bar ``2·period − 1``.
    """

    plus_di: float
    minus_di: float
    adx: float | None


class Adx:
    """Wilder's directional movement system (+DI, −DI, ADX), one bar at a time, as TA-Lib.

    - Directional movement: the up move ``high − prev_high`` counts as +DM when it is positive and
      larger than the down move ``prev_low − low``; the down move counts as −DM when it is
      positive and larger than the up move; equal moves count as neither.
    - The DM and true-range totals start as plain sums over bars ``1 .. period − 1`` and are
      Wilder-smoothed from bar ``period`` on (``total − total/period + today``); ±DI are
      ``100·DM/TR``, and 0 while the smoothed true range is 0 (a perfectly flat market).
    - DX is ``100·|+DI − −DI| / (+DI + −DI)``; a bar whose DI sum is within 1e-14 of zero has no
      DX. The first ADX (bar ``2·period − 1``) is the sum of the DX of bars
      ``period .. 2·period − 1`` divided by ``period``; after it,
      ``adx = (adx·(period − 1) + dx) / period``, unchanged on a bar without DX.
    - ``period`` must be at least 2, like ``talib.ADX`` (TA-Lib's ``PLUS_DI`` with period 1
      returns a fraction rather than a percentage; it is not reproduced).
    - No session reset: values carry from one session into the next.
    """

    __slots__ = (
        "_adx",
        "_bars",
        "_divisor",
        "_dx_sum",
        "_keep",
        "_last",
        "_minus_dm",
        "_period",
        "_plus_dm",
        "_prev_close",
        "_prev_high",
        "_prev_low",
        "_tr",
    )

    def __init__(self, period: int = 14) -> None:
        self._period = _check_period("period", period, 2)
        self._keep = float(period - 1)
        self._divisor = float(period)
        self._bars = 0
        self._prev_high = self._prev_low = self._prev_close = 0.0
        self._plus_dm = self._minus_dm = self._tr = 0.0
        self._dx_sum = 0.0
        self._adx: float | None = None
        self._last: AdxValue | None = None

    @property
    def period(self) -> int:
        """The smoothing period (bars)."""
        return self._period

    def current(self) -> AdxValue | None:
        """The latest readings, or None before bar ``period``."""
        return self._last

    def update(self, high: float, low: float, close: float) -> AdxValue | None:
        """Take one bar; return its readings, or None before bar ``period``."""
        high, low, close = float(high), float(low), float(close)
        _check_bar(high, low)
        _check_finite("close", close)
        bar = self._bars
        self._bars += 1
        if bar == 0:
            self._prev_high, self._prev_low, self._prev_close = high, low, close
            return None
        up = high - self._prev_high
        down = self._prev_low - low
        tr = _true_range(high, low, self._prev_close)
        self._prev_high, self._prev_low, self._prev_close = high, low, close
        if bar < self._period:
            if down > 0.0 and up < down:
                self._minus_dm += down
            elif up > 0.0 and up > down:
                self._plus_dm += up
            self._tr += tr
            return None

        self._minus_dm -= self._minus_dm / self._divisor
        self._plus_dm -= self._plus_dm / self._divisor
        if down > 0.0 and up < down:
            self._minus_dm += down
        elif up > 0.0 and up > down:
            self._plus_dm += up
        self._tr = self._tr - self._tr / self._divisor + tr

        dx: float | None = None
        if self._tr > 0.0:
            plus = 100.0 * (self._plus_dm / self._tr)
            minus = 100.0 * (self._minus_dm / self._tr)
            di_sum = minus + plus
            if not -_DI_SUM_ZERO < di_sum < _DI_SUM_ZERO:
                dx = 100.0 * (abs(minus - plus) / di_sum)
        else:
            plus = minus = 0.0

        first_adx_bar = 2 * self._period - 1
        if bar <= first_adx_bar:
            if dx is not None:
                self._dx_sum += dx
            if bar == first_adx_bar:
                self._adx = self._dx_sum / self._divisor
        elif dx is not None and self._adx is not None:
            self._adx = (self._adx * self._keep + dx) / self._divisor
        self._last = AdxValue(plus_di=plus, minus_di=minus, adx=self._adx)
        return self._last


def adx_columns(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """+DI, −DI and ADX of every bar in one pass (NaN during warm-up), bit for bit as
    :class:`Adx`: the moves, true ranges and which move counts are taken with the same
    comparisons (vectorised), the three Wilder totals and the ADX run in order with the same
    float steps, and the DIs and DX are the same divisions of those totals, element by element.
    (A total never is −0.0, so adding 0.0 for a bar whose move does not count leaves it as is.)"""
    p = _check_period("period", period, 2)
    h, lo, c = _hlc(high, low, close)
    size = h.size
    plus, minus, trend = np.full(size, np.nan), np.full(size, np.nan), np.full(size, np.nan)
    if size <= p:
        return plus, minus, trend
    up = h[1:] - h[:-1]
    down = lo[:-1] - lo[1:]
    tr = h[1:] - lo[1:]
    to_high = np.abs(h[1:] - c[:-1])
    tr = np.where(to_high > tr, to_high, tr)
    to_low = np.abs(lo[1:] - c[:-1])
    tr = np.where(to_low > tr, to_low, tr)
    down_counts = (down > 0.0) & (up < down)
    up_counts = ~down_counts & (up > 0.0) & (up > down)
    # element k of these is bar k + 1's
    m_add = np.where(down_counts, down, 0.0).tolist()
    p_add = np.where(up_counts, up, 0.0).tolist()
    trs = tr.tolist()
    m_dm = p_dm = tr_sum = 0.0
    for k in range(p - 1):  # bars 1 .. period - 1: plain sums
        m_dm += m_add[k]
        p_dm += p_add[k]
        tr_sum += trs[k]
    divisor = float(p)
    m_col, p_col, tr_col = [], [], []
    for k in range(p - 1, size - 1):  # bars period ..: Wilder-smoothed
        m_dm -= m_dm / divisor
        p_dm -= p_dm / divisor
        m_dm += m_add[k]
        p_dm += p_add[k]
        tr_sum = tr_sum - tr_sum / divisor + trs[k]
        m_col.append(m_dm)
        p_col.append(p_dm)
        tr_col.append(tr_sum)
    tr_a = np.array(tr_col)
    ranged = tr_a > 0.0
    safe = np.where(ranged, tr_a, 1.0)
    plus_v = np.where(ranged, 100.0 * (np.array(p_col) / safe), 0.0)
    minus_v = np.where(ranged, 100.0 * (np.array(m_col) / safe), 0.0)
    di_sum = minus_v + plus_v
    has_dx = ranged & ~((di_sum > -_DI_SUM_ZERO) & (di_sum < _DI_SUM_ZERO))
    dx = np.where(
        has_dx, 100.0 * (np.abs(minus_v - plus_v) / np.where(has_dx, di_sum, 1.0)), np.nan
    )
    plus[p:] = plus_v
    minus[p:] = minus_v
    dxs = dx.tolist()  # element j is bar period + j's (NaN: no DX)
    dx_sum = 0.0
    for x in dxs[:p]:  # bars period .. 2·period − 1
        if x == x:
            dx_sum += x
    if len(dxs) >= p:
        keep = float(p - 1)
        value = dx_sum / divisor
        values = [value]
        for x in dxs[p:]:
            if x == x:
                value = (value * keep + x) / divisor
            values.append(value)
        trend[2 * p - 1 :] = values
    return plus, minus, trend


def adx(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> FloatArray:
    """ADX of every bar (NaN before bar ``2·period − 1``); equals ``talib.ADX`` and, bit for
    bit, :class:`Adx`."""
    return adx_columns(high, low, close, period)[2]


def plus_di(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> FloatArray:
    """+DI of every bar (NaN before bar ``period``); equals ``talib.PLUS_DI`` and, bit for bit,
    :class:`Adx`."""
    return adx_columns(high, low, close, period)[0]


def minus_di(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> FloatArray:
    """−DI of every bar (NaN before bar ``period``); equals ``talib.MINUS_DI`` and, bit for bit,
    :class:`Adx`."""
    return adx_columns(high, low, close, period)[1]


# --------------------------------------------------------------------------- session VWAP


class SessionVwap:
    """Volume-weighted average of the typical price ``(high + low + close) / 3`` since the
    session began.

    - The average restarts whenever ``session_key`` (any hashable, e.g. a date) differs from the
      previous bar's.
    - Each bar weighs its volume; a missing volume (None or NaN) counts as 0, so zero-volume bars
      carry no weight once the session has traded any volume.
    - No-volume fallback: while the session's cumulative volume is 0 (a feed without volume,
      such as an index), the value is the equal-weighted mean of the session's typical prices.
    """

    __slots__ = ("_count", "_key", "_pv", "_started", "_tp_sum", "_value", "_volume")

    def __init__(self) -> None:
        self._key: Hashable = None
        self._started = False
        self._pv = self._volume = self._tp_sum = 0.0
        self._count = 0
        self._value: float | None = None

    def current(self) -> float | None:
        """The latest value, or None before the first bar."""
        return self._value

    def update(
        self,
        session_key: Hashable,
        high: float,
        low: float,
        close: float,
        volume: float | None = None,
    ) -> float:
        """Take one bar of session ``session_key``; return the session's VWAP so far."""
        high, low, close = float(high), float(low), float(close)
        _check_bar(high, low)
        _check_finite("close", close)
        weight = 0.0
        if volume is not None and not math.isnan(volume):
            weight = float(volume)
            if not 0.0 <= weight < math.inf:
                raise ValueError(f"volume must be >= 0 and finite, got {volume!r}")
        if not self._started or session_key != self._key:
            self._key, self._started = session_key, True
            self._pv = self._volume = self._tp_sum = 0.0
            self._count = 0
        typical = (high + low + close) / 3.0
        self._pv += typical * weight
        self._volume += weight
        self._tp_sum += typical
        self._count += 1
        if self._volume > 0.0:
            self._value = self._pv / self._volume
        else:
            self._value = self._tp_sum / self._count
        return self._value


def session_vwap(
    session_keys: Sequence[Hashable] | npt.NDArray[Any],
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike | None = None,
) -> FloatArray:
    """Session-anchored VWAP of every bar, bit for bit as :class:`SessionVwap`. ``volume=None``
    means the feed has no volume: each value is then the session's mean typical price."""
    h, lo, c = _hlc(high, low, close)
    keys = session_keys.tolist() if isinstance(session_keys, np.ndarray) else list(session_keys)
    v = None if volume is None else _column("volume", volume)
    sizes = {"session_keys": len(keys), "high": h.size}
    if v is not None:
        sizes["volume"] = v.size
    _check_lengths(sizes)
    if v is not None:
        bad = np.flatnonzero((v < 0.0) | np.isinf(v))
        if bad.size:
            raise ValueError(f"volume[{bad[0]}] is {v[bad[0]]!r}; volume must be >= 0 and finite")
    # The stream's sums, session by session: each starts at 0.0 and adds the bars in order
    # (an accumulation is sequential), so every partial sum is the stream's to the bit.
    weights = np.zeros(h.size) if v is None else np.where(np.isnan(v), 0.0, v)
    typical = (h + lo + c) / 3.0
    weighted = typical * weights
    out = np.empty(h.size)
    if isinstance(session_keys, np.ndarray):
        changes = np.flatnonzero(session_keys[1:] != session_keys[:-1]) + 1
        starts = [0, *changes.tolist()]
    else:
        starts = [0, *(i for i in range(1, len(keys)) if keys[i] != keys[i - 1])]
    zero = np.zeros(1)
    for a, b in zip(starts, [*starts[1:], h.size], strict=True):
        if a == b:
            continue
        pv = np.cumsum(np.concatenate([zero, weighted[a:b]]))[1:]
        volume_sum = np.cumsum(np.concatenate([zero, weights[a:b]]))[1:]
        tp_sum = np.cumsum(np.concatenate([zero, typical[a:b]]))[1:]
        count = np.arange(1, b - a + 1, dtype=np.float64)
        traded = volume_sum > 0.0
        out[a:b] = np.where(traded, pv / np.where(traded, volume_sum, 1.0), tp_sum / count)
    return out


# --------------------------------------------------------------------------- swings


@dataclass(frozen=True, slots=True)
class SwingState:
    """The latest confirmed swings and the market structure they describe.

    ``structure`` is +1 when the last two confirmed swing highs and the last two confirmed swing
    lows are both rising (higher highs and higher lows), −1 when both are falling, and 0
    otherwise, including while fewer than two of either are known.
    """

    last_swing_high: float | None
    last_swing_low: float | None
    structure: int


class _WindowMax:
    """The largest of the last ``width`` values pushed (monotonic queue, amortised O(1))."""

    __slots__ = ("_indices", "_values", "_width")

    def __init__(self, width: int) -> None:
        self._width = width
        self._indices: deque[int] = deque()
        self._values: deque[float] = deque()

    def push(self, index: int, value: float) -> None:
        while self._values and self._values[-1] <= value:
            self._values.pop()
            self._indices.pop()
        self._values.append(value)
        self._indices.append(index)
        while self._indices[0] <= index - self._width:
            self._indices.popleft()
            self._values.popleft()

    def max(self) -> float:
        return self._values[0]


class Swings:
    """N-bar fractal swing highs and lows, confirmed without lookahead.

    - Bar ``i`` is a swing high when its high is strictly greater than the highs of the ``n``
      bars before it and of the ``n`` bars after it; a swing low likewise with strictly lower
      lows. Ties disqualify: a flat top or bottom (an equal extreme within ``n`` bars on either
      side) is no swing.
    - A swing at bar ``i`` is confirmed only at bar ``i + n``, once its right side exists: no
      lookahead. Bars without ``n`` bars before them are never swings.
    - One bar can be both a swing high and a swing low.
    - No session reset: swings carry from one session into the next.
    """

    __slots__ = (
        "_bars",
        "_highs",
        "_left_max",
        "_left_min",
        "_lows_negated",
        "_n",
        "_prev_swing_high",
        "_prev_swing_low",
        "_ring_high",
        "_ring_low",
        "_state",
    )

    def __init__(self, n: int = 2) -> None:
        self._n = _check_period("n", n, 1)
        self._bars = 0
        self._highs = _WindowMax(n)
        self._lows_negated = _WindowMax(n)  # the window's lowest low is minus its max
        # Ring buffers over the last n + 1 bars: each bar's high and low, and the extremes of
        # the n bars before it (±inf while fewer than n exist, so such a bar never qualifies).
        self._ring_high = [0.0] * (n + 1)
        self._ring_low = [0.0] * (n + 1)
        self._left_max = [math.inf] * (n + 1)
        self._left_min = [-math.inf] * (n + 1)
        self._prev_swing_high: float | None = None
        self._prev_swing_low: float | None = None
        self._state = SwingState(last_swing_high=None, last_swing_low=None, structure=0)

    @property
    def n(self) -> int:
        """Bars required on each side of a swing."""
        return self._n

    def current(self) -> SwingState:
        """The latest state."""
        return self._state

    def update(self, high: float, low: float) -> SwingState:
        """Take one bar; return the latest swings confirmed (each ``n`` bars after its own bar)."""
        high, low = float(high), float(low)
        _check_bar(high, low)
        n, bar = self._n, self._bars
        self._bars += 1
        slot = bar % (n + 1)
        self._ring_high[slot], self._ring_low[slot] = high, low
        if bar >= n:  # the windows hold exactly bars bar − n .. bar − 1
            self._left_max[slot] = self._highs.max()
            self._left_min[slot] = -self._lows_negated.max()
        self._highs.push(bar, high)
        self._lows_negated.push(bar, -low)
        if bar < 2 * n:
            return self._state

        # The candidate is bar − n; the windows now hold exactly its n bars after.
        candidate = (bar - n) % (n + 1)
        swing_high = swing_low = None
        peak = self._ring_high[candidate]
        if peak > self._left_max[candidate] and peak > self._highs.max():
            swing_high = peak
        trough = self._ring_low[candidate]
        if trough < self._left_min[candidate] and trough < -self._lows_negated.max():
            swing_low = trough
        if swing_high is None and swing_low is None:
            return self._state

        last_high, last_low = self._state.last_swing_high, self._state.last_swing_low
        if swing_high is not None:
            self._prev_swing_high, last_high = last_high, swing_high
        if swing_low is not None:
            self._prev_swing_low, last_low = last_low, swing_low
        self._state = SwingState(
            last_swing_high=last_high,
            last_swing_low=last_low,
            structure=_structure(self._prev_swing_high, last_high, self._prev_swing_low, last_low),
        )
        return self._state


def _structure(
    prev_high: float | None, last_high: float | None, prev_low: float | None, last_low: float | None
) -> int:
    if prev_high is None or last_high is None or prev_low is None or last_low is None:
        return 0
    if last_high > prev_high and last_low > prev_low:
        return 1
    if last_high < prev_high and last_low < prev_low:
        return -1
    return 0


def swing_columns(
    high: npt.ArrayLike, low: npt.ArrayLike, n: int = 2
) -> tuple[FloatArray, FloatArray, IntArray]:
    """At each bar, the latest confirmed swing high and swing low (NaN before the first) and the
    structure, in one pass, bit for bit as :class:`Swings`. A swing is only ever a bar's own
    high or low, found with the same strict comparisons against the same windows (vectorised);
    a bar's state is that of the swings confirmed at or before it, and its structure the same
    function of the last two of each (it changes only when a swing is confirmed)."""
    n = _check_period("n", n, 1)
    h, lo = _hl(high, low)
    size = h.size
    last_high, last_low = np.full(size, np.nan), np.full(size, np.nan)
    structure = np.zeros(size, dtype=np.int64)
    if size <= 2 * n:
        return last_high, last_low, structure
    windows_high = np.lib.stride_tricks.sliding_window_view(h, n).max(axis=1)
    windows_low = np.lib.stride_tricks.sliding_window_view(lo, n).min(axis=1)
    cand = np.arange(n, size - n)  # bars with n bars on each side
    peak, trough = h[cand], lo[cand]
    is_high = (peak > windows_high[cand - n]) & (peak > windows_high[cand + 1])
    is_low = (trough < windows_low[cand - n]) & (trough < windows_low[cand + 1])
    bars = np.arange(size)
    cols = []
    for found, values in ((is_high, peak), (is_low, trough)):
        at = cand[found]  # the swings' own bars, each confirmed n bars later
        seen = np.searchsorted(at + n, bars, side="right")  # swings confirmed by each bar
        known = np.concatenate([[np.nan, np.nan], values[found]])
        cols.append((known[seen + 1], known[seen]))  # (last, the one before it)
    (last_high[:], prev_high), (last_low[:], prev_low) = cols
    rising = (last_high > prev_high) & (last_low > prev_low)
    falling = (last_high < prev_high) & (last_low < prev_low)
    structure[rising] = 1
    structure[falling] = -1
    return last_high, last_low, structure


def swings(high: npt.ArrayLike, low: npt.ArrayLike, n: int = 2) -> tuple[FloatArray, FloatArray]:
    """At each bar, the latest swing high and swing low confirmed at or before it (NaN before
    the first), bit for bit as :class:`Swings`."""
    last_high, last_low, _ = swing_columns(high, low, n)
    return last_high, last_low


def swing_structure(high: npt.ArrayLike, low: npt.ArrayLike, n: int = 2) -> IntArray:
    """At each bar, +1 (higher highs and higher lows), −1 (lower highs and lower lows) or 0, as
    :attr:`SwingState.structure`."""
    return swing_columns(high, low, n)[2]
