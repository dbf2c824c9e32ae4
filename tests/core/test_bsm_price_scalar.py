"""One option's Black–Scholes–Merton price (the scalar path an exit's reprice takes) is the array
code's to the bit, on random options of every moneyness and expiry, expired ones included."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.options import bsm_price

spot = st.floats(1_000, 60_000)
moneyness = st.floats(0.5, 1.5)
years = st.floats(0.0, 0.25) | st.just(0.0)
vol = st.floats(0.0001, 3.0)
rate = st.floats(0.0, 0.1)
right = st.sampled_from(["CE", "PE"])


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


@settings(max_examples=500)
@given(right, spot, moneyness, years, vol, rate, st.floats(0.0, 0.05))
def test_price_of_one_option_is_the_arrays(
    r: str, s: float, m: float, t: float, v: float, rr: float, q: float
) -> None:
    one = bsm_price(r, spot=s, strike=s * m, t_years=t, vol=v, r=rr, q=q)
    arr = bsm_price(r, spot=[s], strike=[s * m], t_years=[t], vol=[v], r=[rr], q=[q])
    assert bits(float(one)) == bits(float(arr[0]))


def test_an_int_strike_and_the_defaults_take_the_same_path() -> None:
    one = bsm_price("CE", spot=22_000, strike=22_000, t_years=0.01, vol=0.15, r=0.065)
    arr = bsm_price("CE", spot=[22_000.0], strike=[22_000.0], t_years=[0.01], vol=[0.15], r=[0.065])
    assert bits(float(one)) == bits(float(arr[0])) and one.shape == ()
