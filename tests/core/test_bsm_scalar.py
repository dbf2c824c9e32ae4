"""One option at a time (``core.bsm_scalar``, the path an exit's price takes) gives the array
code's results bit for bit: implied vol and greeks, on random options of every moneyness, expiry
and price, including prices with no vol."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.options import bsm_greeks, bsm_implied_vol

spot = st.floats(1_000, 60_000)
moneyness = st.floats(0.8, 1.2)
years = st.floats(0.0, 0.25)
vol = st.floats(0.02, 1.5)
rate = st.floats(0.0, 0.1)
right = st.sampled_from(["CE", "PE"])


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=400)
@given(right, spot, moneyness, years, vol, rate)
def test_greeks_of_one_option_are_the_arrays(
    r: str, s: float, m: float, t: float, v: float, rr: float
) -> None:
    one = bsm_greeks(r, spot=s, strike=s * m, t_years=t, vol=v, r=rr)
    arr = bsm_greeks(r, spot=[s], strike=[s * m], t_years=[t], vol=[v], r=[rr])
    for name in ("price", "delta", "gamma", "vega", "theta"):
        assert same(float(getattr(one, name)), float(getattr(arr, name)[0])), name


@settings(max_examples=400)
@given(right, spot, moneyness, years, vol, rate, st.floats(-0.5, 0.5))
def test_implied_vol_of_one_option_is_the_arrays(
    r: str, s: float, m: float, t: float, v: float, rr: float, bump: float
) -> None:
    k = s * m
    price = float(bsm_greeks(r, spot=s, strike=k, t_years=t, vol=v, r=rr).price) * (1 + bump)
    if not price > 0:
        return
    one = float(bsm_implied_vol(r, price=price, spot=s, strike=k, t_years=t, r=rr))
    arr = float(bsm_implied_vol(r, price=[price], spot=[s], strike=[k], t_years=[t], r=[rr])[0])
    assert same(one, arr)


def test_the_scalar_path_is_taken_for_plain_numbers_only() -> None:
    g = bsm_greeks("CE", spot=23500.0, strike=23500, t_years=0.02, vol=0.15, r=0.065)
    assert np.ndim(g.delta) == 0 and 0.4 < float(g.delta) < 0.7
    iv = bsm_implied_vol("CE", price=float(g.price), spot=23500.0, strike=23500, t_years=0.02,
                         r=0.065)  # fmt: skip
    assert abs(float(iv) - 0.15) < 1e-9
