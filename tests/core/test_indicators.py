"""Indicators: TA-Lib parity, streaming == batch to the bit, no lookahead, VWAP and swing rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.indicators import (
    Adx,
    Atr,
    SessionVwap,
    Swings,
    adx,
    atr,
    minus_di,
    plus_di,
    session_vwap,
    swing_structure,
    swings,
    true_range,
)

TICK = 0.05


def make_bars(n: int, seed: int, *, flat: float = 0.0, gap: float = 0.0) -> tuple:
    """Tick-rounded random walk near 20000 with low <= min(open, close) <= max(...) <= high;
    ``flat`` and ``gap`` are each bar's chance of high == low == close and of a gapped open."""
    rng = np.random.default_rng(seed)
    close = 20000.0 + np.cumsum(rng.normal(0.0, 8.0, n))
    open_ = np.concatenate([[20000.0], close[:-1]])
    gapped = rng.random(n) < gap
    open_[gapped] += rng.normal(0.0, 80.0, gapped.sum())
    high = np.maximum(open_, close) + rng.exponential(4.0, n)
    low = np.minimum(open_, close) - rng.exponential(4.0, n)
    flats = rng.random(n) < flat
    high[flats] = low[flats] = close[flats]
    return tuple(np.round(x / TICK) * TICK for x in (high, low, close))


DATASETS = {
    "walk": make_bars(2000, 1),
    "flats_and_gaps": make_bars(2000, 2, flat=0.1, gap=0.05),
    "mostly_flat": make_bars(600, 3, flat=0.6),
    "all_flat": (np.full(80, 20000.0),) * 3,
    "short": make_bars(20, 4),
}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_matches_talib(ours: np.ndarray, ref: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    has = ~np.isnan(ref)
    np.testing.assert_allclose(ours[has], ref[has], rtol=0.0, atol=1e-9)


def nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def stream_atr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, period: int) -> np.ndarray:
    s = Atr(period)
    return np.array(
        [nan_if_none(s.update(h[i], lo[i], c[i - 1] if i else None)) for i in range(h.size)]
    )


def stream_adx(h: np.ndarray, lo: np.ndarray, c: np.ndarray, period: int) -> list[np.ndarray]:
    s, rows = Adx(period), []
    for i in range(h.size):
        v = s.update(h[i], lo[i], c[i])
        rows.append((math.nan,) * 3 if v is None else (v.plus_di, v.minus_di, nan_if_none(v.adx)))
    return [np.array(col, dtype=np.float64) for col in zip(*rows, strict=True)]


def stream_vwap(keys: list, h, lo, c, vol) -> np.ndarray:
    s, vol = SessionVwap(), [None] * h.size if vol is None else vol
    return np.array([s.update(k, h[i], lo[i], c[i], vol[i]) for i, k in enumerate(keys)])


def stream_swings(h: np.ndarray, lo: np.ndarray, n: int) -> list[np.ndarray]:
    s = Swings(n)
    states = [s.update(h[i], lo[i]) for i in range(h.size)]
    return [
        np.array([nan_if_none(x.last_swing_high) for x in states]),
        np.array([nan_if_none(x.last_swing_low) for x in states]),
        np.array([x.structure for x in states], dtype=np.int64),
    ]


def all_batch(h, lo, c, keys, vol, period: int, n: int) -> list[np.ndarray]:
    return [
        atr(h, lo, c, period),
        plus_di(h, lo, c, max(period, 2)),
        minus_di(h, lo, c, max(period, 2)),
        adx(h, lo, c, max(period, 2)),
        session_vwap(keys, h, lo, c, vol),
        *swings(h, lo, n),
        swing_structure(h, lo, n),
    ]


def all_stream(h, lo, c, keys, vol, period: int, n: int) -> list[np.ndarray]:
    return [
        stream_atr(h, lo, c, period),
        *stream_adx(h, lo, c, max(period, 2)),
        stream_vwap(keys, h, lo, c, vol),
        *stream_swings(h, lo, n),
    ]


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("period", [1, 2, 5, 14, 30])
def test_atr_matches_talib(name: str, period: int) -> None:
    h, lo, c = DATASETS[name]
    assert_matches_talib(atr(h, lo, c, period), talib.ATR(h, lo, c, timeperiod=period))


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("period", [2, 5, 14, 30])
def test_adx_and_di_match_talib(name: str, period: int) -> None:
    h, lo, c = DATASETS[name]
    assert_matches_talib(adx(h, lo, c, period), talib.ADX(h, lo, c, timeperiod=period))
    assert_matches_talib(plus_di(h, lo, c, period), talib.PLUS_DI(h, lo, c, timeperiod=period))
    assert_matches_talib(minus_di(h, lo, c, period), talib.MINUS_DI(h, lo, c, timeperiod=period))


def test_warm_up_lengths_and_streaming_api() -> None:
    h, lo, c = DATASETS["walk"]
    assert np.flatnonzero(~np.isnan(atr(h, lo, c, 14)))[0] == 14
    assert np.flatnonzero(~np.isnan(plus_di(h, lo, c, 14)))[0] == 14
    assert np.flatnonzero(~np.isnan(adx(h, lo, c, 14)))[0] == 27
    s = Adx(3)
    values = [s.update(h[i], lo[i], c[i]) for i in range(6)]
    assert values[:3] == [None] * 3
    assert all(v is not None and v.adx is None for v in values[3:5])
    assert values[5] is not None and values[5].adx is not None and s.current() == values[5]


def test_true_range_and_atr_first_bar() -> None:
    assert true_range(10.0, 8.0) == true_range(10.0, 8.0, math.nan) == 2.0
    assert true_range(10.0, 8.0, 5.0) == 5.0 and true_range(10.0, 8.0, 12.0) == 4.0
    s = Atr(2)
    assert s.update(10.0, 8.0, None) is None  # no previous close: not averaged in
    assert s.update(10.0, 8.0, 9.0) is None
    assert s.update(13.0, 9.0, 9.0) == 3.0 == s.current()  # (2 + 4) / 2
    assert s.update(9.0, 8.0, None) == 2.0  # warm: high - low, (3 + 1) / 2


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize(("period", "n"), [(1, 1), (2, 2), (14, 3), (30, 5)])
def test_streaming_equals_batch_bit_for_bit(name: str, period: int, n: int) -> None:
    h, lo, c = DATASETS[name]
    keys = list(np.arange(h.size) // 75)
    vol = np.random.default_rng(5).integers(0, 500, h.size).astype(float)
    for got, want in zip(
        all_batch(h, lo, c, keys, vol, period, n),
        all_stream(h, lo, c, keys, vol, period, n),
        strict=True,
    ):
        assert same_bits(got, want)


@st.composite
def ohlc_paths(draw: st.DrawFn) -> tuple:
    """Integer-tick paths near 20000: flat bars, gaps and equal highs all occur."""
    size = draw(st.integers(1, 120))
    ticks = st.tuples(
        st.integers(-200, 200) | st.just(0),  # gap from the previous close
        st.integers(-60, 60),  # body
        st.integers(0, 40) | st.just(0),  # upper wick
        st.integers(0, 40) | st.just(0),  # lower wick
    )
    close, highs, lows, closes = 400_000, [], [], []
    for gap, body, up, down in draw(st.lists(ticks, min_size=size, max_size=size)):
        open_, close = close + gap, close + gap + body
        highs.append(max(open_, close) + up)
        lows.append(min(open_, close) - down)
        closes.append(close)
    breaks = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    volume = draw(
        st.none()
        | st.lists(
            st.sampled_from([0.0, math.nan]) | st.floats(0.0, 1e6), min_size=size, max_size=size
        )
    )
    h, lo, c = (np.array(x, dtype=np.float64) * TICK for x in (highs, lows, closes))
    vol = None if volume is None else np.array(volume)
    return h, lo, c, [int(k) for k in np.cumsum(breaks)], vol


@settings(max_examples=150, deadline=None)
@given(path=ohlc_paths(), period=st.integers(1, 12), n=st.integers(1, 4))
def test_property_streaming_equals_batch_and_talib(path: tuple, period: int, n: int) -> None:
    h, lo, c, keys, vol = path
    batch = all_batch(h, lo, c, keys, vol, period, n)
    for got, want in zip(batch, all_stream(h, lo, c, keys, vol, period, n), strict=True):
        assert same_bits(got, want)
    assert_matches_talib(batch[0], talib.ATR(h, lo, c, timeperiod=period))
    p = max(period, 2)
    assert_matches_talib(batch[1], talib.PLUS_DI(h, lo, c, timeperiod=p))
    assert_matches_talib(batch[2], talib.MINUS_DI(h, lo, c, timeperiod=p))
    assert_matches_talib(batch[3], talib.ADX(h, lo, c, timeperiod=p))


@settings(max_examples=100, deadline=None)
@given(path=ohlc_paths(), period=st.integers(1, 8), n=st.integers(1, 4), data=st.data())
def test_property_no_lookahead(path: tuple, period: int, n: int, data: st.DataObject) -> None:
    h, lo, c, keys, vol = path
    k = data.draw(st.integers(0, h.size - 1))
    cut = slice(0, k + 1)
    full = all_batch(h, lo, c, keys, vol, period, n)
    part_vol = None if vol is None else vol[cut]
    part = all_batch(h[cut], lo[cut], c[cut], keys[cut], part_vol, period, n)
    for whole, truncated in zip(full, part, strict=True):
        assert same_bits(whole[cut], truncated)


H3, L3, C3 = [12.0, 15.0, 21.0], [6.0, 9.0, 15.0], [9.0, 12.0, 18.0]  # typical 9, 12, 18


def test_vwap_hand_computed_three_bars() -> None:
    got = session_vwap([1, 1, 1], H3, L3, C3, [1.0, 2.0, 3.0])
    assert got.tolist() == [9.0, 11.0, 14.5]  # (9 + 24) / 3, (9 + 24 + 54) / 6


def test_vwap_resets_when_the_session_changes() -> None:
    got = session_vwap([7, 7, 8, 8], [*H3, 15.0], [*L3, 9.0], [*C3, 12.0], [1.0, 2.0, 3.0, 3.0])
    assert got.tolist() == [9.0, 11.0, 18.0, 15.0]


def test_vwap_without_volume_is_the_mean_typical_price() -> None:
    expected = [9.0, 10.5, 13.0]
    assert session_vwap([1, 1, 1], H3, L3, C3).tolist() == expected
    assert session_vwap([1, 1, 1], H3, L3, C3, [0.0, 0.0, 0.0]).tolist() == expected
    assert session_vwap([1, 1, 1], H3, L3, C3, [math.nan] * 3).tolist() == expected
    s = SessionVwap()
    assert [s.update("d1", h, lw, cl) for h, lw, cl in zip(H3, L3, C3, strict=True)] == expected


def test_vwap_zero_volume_bars_carry_no_weight_once_volume_appears() -> None:
    got = session_vwap([1, 1, 1], H3, L3, C3, [math.nan, 2.0, 0.0])
    assert got.tolist() == [9.0, 12.0, 12.0]


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_swing_is_confirmed_exactly_n_bars_later(n: int) -> None:
    high = np.full(30, 100.0)
    low = np.full(30, 99.0)
    high[10], low[20] = 105.0, 94.0
    last_high, last_low = swings(high, low, n)
    assert np.isnan(last_high[: 10 + n]).all() and (last_high[10 + n :] == 105.0).all()
    assert np.isnan(last_low[: 20 + n]).all() and (last_low[20 + n :] == 94.0).all()
    s = Swings(n)
    states = [s.update(h, lw) for h, lw in zip(high, low, strict=True)]
    assert states[10 + n - 1].last_swing_high is None and states[10 + n].last_swing_high == 105.0


def test_equal_highs_and_the_first_n_bars_are_no_swing() -> None:
    high = np.array([10.0, 11.0, 15.0, 15.0, 12.0, 11.0, 10.0, 9.0])
    assert np.isnan(swings(high, high - 1.0, 2)[0]).all()
    falling = np.arange(20.0, 10.0, -1.0)  # bar 0 tops the n bars after it, but has none before
    assert np.isnan(swings(falling, falling - 0.5, 2)[0]).all()
    assert np.isnan(swings(-falling + 0.5, -falling, 2)[1]).all()


def test_structure_rising_and_falling() -> None:
    high = np.array([1.0, 3.0, 2.0, 4.0, 3.0, 5.0, 4.0, 6.0])
    low = high - 0.5
    assert swing_structure(high, low, 1).tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    assert swing_structure(-low, -high, 1).tolist() == [0, 0, 0, 0, 0, -1, -1, -1]
    assert swings(high, low, 1)[0][4] == 4.0 and swings(high, low, 1)[1][5] == 2.5


@pytest.mark.parametrize(
    "make", [lambda: Atr(0), lambda: Atr(-1), lambda: Adx(1), lambda: Swings(0), lambda: Atr(True)]
)
def test_bad_periods_raise(make) -> None:
    with pytest.raises(ValueError, match=">="):
        make()


def test_bad_arrays_raise() -> None:
    h, lo, c = DATASETS["short"]
    for call in (
        lambda: atr(h, lo[:-1], c, 5),
        lambda: adx(h, lo, c[:-1], 5),
        lambda: swings(h, lo[1:], 2),
        lambda: session_vwap([1] * (h.size - 1), h, lo, c),
        lambda: session_vwap([1] * h.size, h, lo, c, np.ones(h.size + 1)),
    ):
        with pytest.raises(ValueError, match="same length"):
            call()
    with pytest.raises(ValueError, match="high must be >= low"):
        atr(lo, h, c, 5)
    with pytest.raises(ValueError, match="finite"):
        plus_di(np.where(np.arange(h.size) == 3, np.nan, h), lo, c, 5)
    with pytest.raises(ValueError, match="volume"):
        session_vwap([1] * h.size, h, lo, c, -np.ones(h.size))
    with pytest.raises(ValueError, match="period"):
        atr(h, lo, c, 0)
    with pytest.raises(ValueError, match="high must be >= low"):
        Atr(3).update(1.0, 2.0, 1.5)
