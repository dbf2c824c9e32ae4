"""``option_exit_price`` takes plain valid floats as they are (an exit on the engine's path) and
checks anything else one by one: the two ways give the same price, and the same errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.exit_pricing import ExitPriceMethod, option_exit_price
from dyntrail.core.options import OptionRight


@settings(max_examples=300)
@given(
    method=st.sampled_from(["delta_gamma", "reprice", "proportional"]),
    right=st.sampled_from(["CE", "PE"]),
    last=st.floats(0.05, 800.0),
    spot=st.floats(15_000.0, 50_000.0),
    move=st.floats(-0.03, 0.03),
    away=st.floats(-0.05, 0.05),
    t=st.floats(0.0, 0.1),
    dt_years=st.sampled_from([0.0, 1e-4]),
)
def test_plain_floats_and_checked_values_give_one_price(
    method: str, right: str, last: float, spot: float, move: float, away: float, t: float,
    dt_years: float,
) -> None:  # fmt: skip
    kw = {"underlying_trigger": spot * (1 + move), "t_years": t, "dt_years": dt_years}
    strike = round(spot * (1 + away) / 50) * 50.0
    plain = option_exit_price(
        ExitPriceMethod(method), option_last=last, underlying_now=spot, strike=strike,
        right=OptionRight(right), r=0.065, q=0.0, tick=0.05, **kw,
    )  # fmt: skip
    checked = option_exit_price(
        method, option_last=np.float64(last), underlying_now=np.float64(spot),
        strike=int(strike), right=right, r=0.065, q=0.0, tick=0.05, **kw,
    )  # fmt: skip
    assert plain.hex() == float(checked).hex()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("option_last", 0.0, "option_last must be finite and > 0"),
        ("underlying_now", math.nan, "underlying_now must be finite and > 0"),
        ("t_years", -1e-9, "t_years must be finite and >= 0"),
        ("tick", math.inf, "tick must be finite and > 0"),
        ("r", math.nan, "r must be finite"),
    ],
)
def test_a_bad_value_is_named_either_way(name: str, value: float, message: str) -> None:
    kw: dict[str, float] = {
        "option_last": 100.0, "underlying_now": 23_500.0, "underlying_trigger": 23_400.0,
        "strike": 23_500.0, "t_years": 0.02, "r": 0.065, "tick": 0.05,
    }  # fmt: skip
    kw[name] = value
    with pytest.raises(ValueError, match=message):
        option_exit_price("delta_gamma", right="CE", **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown exit price method"):
        option_exit_price("linear", right="CE", **{**kw, name: 1.0})  # type: ignore[arg-type]
