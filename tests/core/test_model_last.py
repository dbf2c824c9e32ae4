"""The quote model's last price alone (``SyntheticQuotes.last``, ``ModelQuotes.last``, and
``last_fn``, one contract's as a function) is its quote's ``last``, bit for bit, with the same
errors: calls and puts, near and far from the money, near expiry and expired, high and low
VIX."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.config import Config
from dyntrail.core.contract import Contract
from dyntrail.core.options import OptionRight
from dyntrail.data.options_synth import SyntheticQuotes
from dyntrail.runners.drive import ModelQuotes

MODEL = SyntheticQuotes()


@settings(max_examples=500, deadline=None)
@given(
    spot=st.floats(15_000.0, 60_000.0),
    away=st.floats(-0.15, 0.15),
    right=st.sampled_from([OptionRight.CE, OptionRight.PE]),
    t=st.one_of(st.floats(-0.01, 0.0), st.floats(1e-7, 0.2)),
    vix=st.floats(8.0, 60.0),
)
def test_the_last_price_alone_is_the_quotes(
    spot: float, away: float, right: OptionRight, t: float, vix: float
) -> None:
    strike = round(spot * (1 + away) / 50) * 50.0
    want = MODEL.quote(spot, strike, right, t, vix).last.hex()
    assert MODEL.last(spot, strike, right, t, vix).hex() == want
    assert MODEL.last_fn(strike, right)(spot, t, vix).hex() == want


def test_the_same_errors_and_the_run_s_source() -> None:
    for args in ((math.nan, 100.0, 0.1, 14.0), (100.0, 100.0, math.inf, 14.0)):
        spot, strike, t, vix = args
        with pytest.raises(ValueError) as a:
            MODEL.quote(spot, strike, OptionRight.CE, t, vix)
        with pytest.raises(ValueError) as b:
            MODEL.last(spot, strike, OptionRight.CE, t, vix)
        assert str(a.value) == str(b.value)
        with pytest.raises(ValueError) as c:
            MODEL.last_fn(strike, OptionRight.CE)(spot, t, vix)
        assert str(c.value) == str(a.value)
    for strike in (0.0, math.nan):  # a contract's bad strike: every call's error
        with pytest.raises(ValueError) as a:
            MODEL.last(100.0, strike, OptionRight.CE, 0.1, 14.0)
        with pytest.raises(ValueError) as b:
            MODEL.last_fn(strike, OptionRight.CE)(100.0, 0.1, 14.0)
        assert str(a.value) == str(b.value)
    for bad in (MODEL.last, lambda *a: MODEL.last_fn(a[1], a[2])(a[0], a[3], a[4])):
        with pytest.raises(ValueError, match="right must be"):
            bad(100.0, 100.0, "XX", 0.1, 14.0)
    quotes = ModelQuotes(Config())
    expiry = dt.date(2025, 3, 27)
    option = Contract("NIFTY", expiry, 23_500.0, OptionRight.PE, 75, True)
    now = dt.datetime(2025, 3, 20, 10, 0)
    for t in (0.02, 0.0, -0.001):
        q = quotes.quote(option, now, spot=23_480.0, vix=15.0, t_years=t)
        assert q is not None
        assert quotes.last(option, now, spot=23_480.0, vix=15.0, t_years=t) == q.last
        fn = quotes.last_fn(option)
        assert fn is not None and fn(23_480.0, max(t, 0.0), 15.0) == q.last
    index = Contract("NIFTY", lot=75, monthly=True)
    assert quotes.last(index, now, spot=23_480.0, vix=15.0, t_years=0.02) is None
    assert quotes.last_fn(index) is None
