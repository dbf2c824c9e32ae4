"""The synthetic quote model's ``quote`` (its vol and price written out in one pass, its prices
put on the tick grid by ``on_grid``) is, bit for bit, the model's own steps: ``_iv``, then
``_price``, then ``round_to_tick`` as the module docstring describes; and ``on_grid`` is
``round_to_tick`` for a valid tick."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.options import OptionRight
from dyntrail.core.order_pricing import TickRounding, on_grid, round_to_tick
from dyntrail.data.options_synth import OptionQuote, QuoteModelParams, SyntheticQuotes

MODELS = [
    SyntheticQuotes(),
    SyntheticQuotes(QuoteModelParams(r=0.0, q=0.02, tick=0.1, skew=0.3, smile=0.2)),
    SyntheticQuotes(QuoteModelParams(tick=0.05, iv_min_mult=0.9, iv_max_mult=1.1)),
]


def steps(model: SyntheticQuotes, spot: float, strike: float, right: str, t: float, vix: float):
    """The quote as the model's parts make it, one after the other."""
    iv = model._iv(spot, strike, t, vix)
    theo, delta = model._price(spot, strike, OptionRight(right), t, iv)
    p = model.params
    tick = p.tick
    half = max(tick, p.spread_pct / p.vix_ref * theo * vix)
    if theo < p.cheap_price and half < p.cheap_half_spread_ticks * tick:
        half = p.cheap_half_spread_ticks * tick
    last = round_to_tick(theo, tick, "nearest") if theo >= 0.5 * tick else tick
    low = theo - half
    bid = round_to_tick(low, tick, "down") if low >= tick else 0.0
    ask = round_to_tick(theo + half, tick, "up")
    floor = (last if last > bid else bid) + tick
    if ask < floor - 1e-9 * tick:
        ask = round_to_tick(floor, tick, "nearest")
    return OptionQuote(bid, ask, last, iv, delta)


def bits(q: OptionQuote) -> tuple[bytes, ...]:
    return tuple(struct.pack("<d", x) for x in (q.bid, q.ask, q.last, q.iv, q.delta))


@settings(max_examples=600)
@given(
    st.sampled_from(range(len(MODELS))),
    st.floats(5_000, 60_000),
    st.floats(0.7, 1.3),
    st.sampled_from(["CE", "PE"]),
    st.floats(-0.01, 0.2) | st.just(0.0),
    st.floats(5.0, 80.0),
)
def test_quote_is_the_models_steps(
    k: int, spot: float, m: float, right: str, t: float, vix: float
) -> None:
    model = MODELS[k]
    strike = round(spot * m / 50) * 50.0 or 50.0
    got = model.quote(spot, strike, OptionRight(right), t, vix)
    want = steps(model, spot, strike, right, t, vix)
    assert bits(got) == bits(want)


@settings(max_examples=600)
@given(
    st.floats(-1e7, 1e7) | st.sampled_from([0.0, 0.05, 0.1 + 0.2, 101.35, 2.5e-10]),
    st.sampled_from([0.05, 0.1, 0.01, 0.25, 1.0, 5.0, 0.0025]),
    st.sampled_from(list(TickRounding)),
)
def test_on_grid_is_round_to_tick(price: float, tick: float, how: TickRounding) -> None:
    assert math.copysign(1, on_grid(price, tick, how)) == math.copysign(
        1, round_to_tick(price, tick, how)
    )
    assert on_grid(price, tick, how) == round_to_tick(price, tick, how)


def test_on_grid_refuses_what_round_to_tick_refuses() -> None:
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match="price must be finite"):
            on_grid(bad, 0.05, TickRounding.UP)


def test_a_bad_right_is_refused_as_before() -> None:
    with pytest.raises(ValueError, match="right must be"):
        SyntheticQuotes().quote(22_000.0, 22_000.0, "XX", 0.01, 14.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="right must be"):
        SyntheticQuotes().quote(22_000.0, 22_000.0, "XX", 0.0, 14.0)  # type: ignore[arg-type]
