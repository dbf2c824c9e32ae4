"""Synthetic option quotes (model, spread, grid, parity) and recorded-quote lookups."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.options import OptionRight, bsm_greeks, bsm_price
from dyntrail.data.options_synth import (
    OptionQuote,
    QuoteModelParams,
    RecordedQuotes,
    SyntheticQuotes,
)
from dyntrail.errors import DataError

CE, PE = OptionRight.CE, OptionRight.PE
TICK = 0.05
SPOT = 24000.0
T3 = 3 / 365
MODEL = SyntheticQuotes()


def on_grid(x: float) -> bool:
    n = x / TICK
    return abs(n - round(n)) <= 1e-9


def spread(q: OptionQuote) -> float:
    return q.ask - q.bid


# --------------------------------------------------------------------------- synthetic model


def test_atm_quote_at_vix_14_three_days() -> None:
    q = MODEL.quote(SPOT, 24000.0, CE, T3, 14.0)
    assert 0.14 * 0.85 <= q.iv <= 0.14 * 1.25
    assert abs(q.iv - 0.14) < 0.015  # weekly ATM vol stays close to VIX
    assert 80 <= q.last <= 200
    assert 0.05 - 1e-9 <= spread(q) <= 0.5 + 1e-9
    assert q.bid < q.last < q.ask
    assert all(on_grid(x) for x in (q.bid, q.last, q.ask))
    assert 0.45 < q.delta < 0.6
    assert q.mid == pytest.approx(0.5 * (q.bid + q.ask))


@pytest.mark.parametrize("right", [CE, PE])
@pytest.mark.parametrize("strike", [22000.0, 23500.0, 24000.0, 24050.0, 24600.0, 26000.0])
@pytest.mark.parametrize("days", [0.01, 0.5, 3.0, 7.0, 30.0])
@pytest.mark.parametrize("vix", [9.0, 14.0, 25.0, 45.0])
def test_model_equals_core_bsm(right: OptionRight, strike: float, days: float, vix: float) -> None:
    t = days / 365
    q = MODEL.quote(SPOT, strike, right, t, vix)
    theo = MODEL.theo(SPOT, strike, right, t, vix)
    ref = float(bsm_price(right, spot=SPOT, strike=strike, t_years=t, vol=q.iv, r=0.065, q=0.0))
    assert abs(theo - ref) <= 1e-10 * ref + 1e-300
    greeks = bsm_greeks(right, spot=SPOT, strike=strike, t_years=t, vol=q.iv, r=0.065)
    assert q.delta == pytest.approx(float(greeks.delta), rel=1e-10, abs=1e-15)
    assert q.iv == MODEL.model_iv(SPOT, strike, t, vix)
    assert q.bid < q.last < q.ask and q.bid >= 0
    assert all(on_grid(x) for x in (q.bid, q.last, q.ask))
    assert q.last == pytest.approx(max(theo, TICK), abs=TICK / 2 + 1e-9)


@settings(max_examples=300, deadline=None)
@given(
    spot=st.floats(5000, 60000),
    moneyness=st.floats(-0.15, 0.15),
    t=st.floats(0, 0.2),
    vix=st.floats(5, 90),
    right=st.sampled_from([CE, PE]),
)
def test_quote_invariants(
    spot: float, moneyness: float, t: float, vix: float, right: OptionRight
) -> None:
    q = MODEL.quote(spot, round(spot * (1 + moneyness), 2), right, t, vix)
    assert 0 <= q.bid < q.last < q.ask
    assert q.ask - max(q.bid, q.last) >= TICK - 1e-9
    assert all(on_grid(x) for x in (q.bid, q.last, q.ask))
    assert -1 <= q.delta <= 1


def test_spread_widens_with_vix() -> None:
    calm, stressed = (MODEL.quote(SPOT, 24000.0, CE, 7 / 365, v) for v in (12.0, 30.0))
    assert spread(stressed) > spread(calm)
    assert spread(stressed) / stressed.mid > spread(calm) / calm.mid


def test_cheap_far_otm_spread_is_wider_in_percent() -> None:
    atm = MODEL.quote(SPOT, 24000.0, CE, T3, 14.0)
    far = MODEL.quote(SPOT, 24600.0, CE, T3, 14.0)
    assert far.last < 20
    assert spread(far) >= 4 * TICK - 1e-9  # cheap options: half-spread >= 2 ticks
    assert spread(far) / far.mid > 5 * spread(atm) / atm.mid


def test_deep_otm_has_no_bid() -> None:
    q = MODEL.quote(SPOT, 27000.0, CE, 1 / 365, 14.0)
    assert q.bid == 0.0 and q.last == TICK and q.ask > q.last


@pytest.mark.parametrize("distance", [200.0, 400.0, 800.0])
def test_downside_skew(distance: float) -> None:
    atm_iv = MODEL.model_iv(SPOT, SPOT, T3, 14.0)
    put_iv = MODEL.quote(SPOT, SPOT - distance, PE, T3, 14.0).iv
    call_iv = MODEL.quote(SPOT, SPOT + distance, CE, T3, 14.0).iv
    assert put_iv > atm_iv > call_iv


def test_iv_bounds_and_term_clamp() -> None:
    p = QuoteModelParams()
    for days in (0.001, 1.0, 30.0, 365.0):
        forward = SPOT * math.exp(0.065 * days / 365)
        atm = MODEL.model_iv(SPOT, forward, days / 365, 20.0)
        assert 0.2 * p.term_min - 1e-12 <= atm <= 0.2 * p.term_max + 1e-12
    assert MODEL.model_iv(SPOT, SPOT, 1e-6, 20.0) == pytest.approx(0.2 * p.term_max, rel=1e-4)
    assert MODEL.model_iv(SPOT, SPOT * math.exp(0.065 * 30 / 365), 30 / 365, 20.0) == pytest.approx(
        0.2, rel=1e-12
    )
    atm = MODEL.model_iv(SPOT, SPOT * math.exp(0.065 / 365), 1 / 365, 20.0)
    assert MODEL.model_iv(SPOT, 12000.0, 1 / 365, 20.0) == pytest.approx(3 * atm, rel=1e-3)


@pytest.mark.parametrize("strike", [23000.0, 23800.0, 24000.0, 24250.0, 25000.0])
@pytest.mark.parametrize("days", [0.2, 3.0, 14.0])
def test_put_call_parity(strike: float, days: float) -> None:
    t, r = days / 365, 0.065
    c = MODEL.theo(SPOT, strike, CE, t, 14.0)
    p = MODEL.theo(SPOT, strike, PE, t, 14.0)
    assert c - p == pytest.approx(SPOT - strike * math.exp(-r * t), rel=1e-12, abs=1e-9)
    qc, qp = MODEL.quote(SPOT, strike, CE, t, 14.0), MODEL.quote(SPOT, strike, PE, t, 14.0)
    slack = 0.5 * (spread(qc) + spread(qp))
    assert abs((qc.mid - qp.mid) - (SPOT - strike * math.exp(-r * t))) <= slack


def test_expired_is_intrinsic() -> None:
    itm = MODEL.quote(SPOT, 23900.0, CE, 0.0, 14.0)
    assert itm.last == 100.0 and itm.delta == 1.0 and math.isnan(itm.iv)
    assert itm.bid < 100.0 < itm.ask
    otm = MODEL.quote(SPOT, 23900.0, PE, -0.01, 14.0)
    assert otm.delta == 0.0 and otm.bid == 0.0 and otm.last == TICK and otm.ask > otm.last
    assert MODEL.quote(SPOT, 24100.0, PE, 0.0, 14.0).delta == -1.0
    assert MODEL.theo(SPOT, SPOT, CE, 0.0, 14.0) == 0.0


def test_deterministic_and_string_rights() -> None:
    args = (24013.35, 24050.0, PE, 2.4 / 365, 15.7)
    assert MODEL.quote(*args) == MODEL.quote(*args)
    assert SyntheticQuotes(QuoteModelParams()).quote(*args) == MODEL.quote(*args)
    assert MODEL.quote(24013.35, 24050.0, "PE", 2.4 / 365, 15.7) == MODEL.quote(*args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="right"):
        MODEL.quote(SPOT, SPOT, "CALL", T3, 14.0)  # type: ignore[arg-type]


def test_params_change_the_quote() -> None:
    wide = SyntheticQuotes(QuoteModelParams(spread_pct=0.005, r=0.0))
    assert spread(wide.quote(SPOT, SPOT, CE, T3, 14.0)) > spread(
        MODEL.quote(SPOT, SPOT, CE, T3, 14.0)
    )
    assert wide.params.r == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tick": 0.0},
        {"r": math.nan},
        {"term_min": 1.1},
        {"term_max": 0.9},
        {"smile": -0.1},
        {"iv_min_mult": 0.0},
        {"spread_pct": -0.01},
        {"vix_ref": 0.0},
        {"cheap_half_spread_ticks": -1.0},
        {"skew": True},
    ],
)
def test_params_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        QuoteModelParams(**kwargs)


def test_quote_input_validation() -> None:
    bad = [(0.0, SPOT, T3, 14.0), (SPOT, -1.0, T3, 14.0), (SPOT, SPOT, math.nan, 14.0)]
    bad += [(SPOT, SPOT, T3, 0.0), (math.inf, SPOT, T3, 14.0), (SPOT, SPOT, T3, math.nan)]
    for spot, strike, t, vix in bad:
        with pytest.raises(ValueError):
            MODEL.quote(spot, strike, CE, t, vix)


# --------------------------------------------------------------------------- recorded quotes

EXP = dt.date(2024, 1, 4)
DAY = "2024-01-02"


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"expiry": "2024-01-04", "strike": 21000, "right": "CE"}
    return pd.DataFrame([{**base, **r} for r in rows])


def ts(hhmm: str) -> np.datetime64:
    return np.datetime64(f"{DAY}T{hhmm}")


BOOK = frame(
    [
        {"timestamp": f"{DAY} 09:15", "close": 100.0, "bid": 99.9, "ask": 100.1},
        {"timestamp": f"{DAY} 09:18", "close": 103.0},  # close only: bid = ask = close
        {"timestamp": f"{DAY} 09:16", "close": 101.0, "bid": 100.9, "ask": 101.2},
        {"timestamp": f"{DAY} 09:15", "strike": 21050, "bid": 70.0, "ask": 70.5},  # no close
        {"timestamp": f"{DAY} 09:15", "right": "pe", "close": 80.0},
        {"timestamp": f"{DAY} 09:30", "strike": 21100, "close": 40.0},
    ]
)
RQ = RecordedQuotes.from_frame(BOOK, "data/options.csv")


def test_recorded_bid_ask_and_close_only() -> None:
    assert RQ.quote(ts("09:15"), EXP, 21000, CE) == OptionQuote(99.9, 100.1, 100.0, *[math.nan] * 2)
    q = RQ.quote(ts("09:16:30"), EXP, 21000.0, CE)
    assert q is not None and (q.bid, q.ask, q.last) == (100.9, 101.2, 101.0)
    q = RQ.quote(ts("09:19"), EXP, 21000, CE)
    assert q is not None and q.bid == q.ask == q.last == 103.0
    q = RQ.quote(ts("09:15"), EXP, 21050, CE)
    assert q is not None and (q.bid, q.ask, q.last) == (70.0, 70.5, 70.25)
    assert math.isnan(q.iv) and math.isnan(q.delta)
    q = RQ.quote(ts("09:15"), EXP, 21000, PE)
    assert q is not None and q.last == 80.0
    assert len(RQ) == 4


def test_recorded_missing_and_stale() -> None:
    assert RQ.quote(ts("09:14:59"), EXP, 21000, CE) is None  # before the first row
    assert RQ.quote(ts("09:15"), EXP, 21150, CE) is None  # no such strike
    assert RQ.quote(ts("09:15"), dt.date(2024, 1, 11), 21000, CE) is None
    assert RQ.quote(ts("09:23"), EXP, 21000, CE) is not None  # 5 minutes old
    assert RQ.quote(ts("09:23:01"), EXP, 21000, CE) is None
    assert RQ.quote(ts("09:25"), EXP, 21000, CE, max_age_minutes=10) is not None
    assert RQ.quote(ts("09:15:01"), EXP, 21000, CE, max_age_minutes=0) is None
    with pytest.raises(ValueError):
        RQ.quote(ts("09:15"), EXP, 21000, CE, max_age_minutes=-1)


def test_recorded_datetime_inputs() -> None:
    naive = RQ.quote(dt.datetime(2024, 1, 2, 9, 16), EXP, 21000, CE)
    aware = RQ.quote(pd.Timestamp("2024-01-02 03:46", tz="UTC").to_pydatetime(), EXP, 21000, CE)
    assert naive == RQ.quote(ts("09:16"), EXP, 21000, CE) == aware


@settings(max_examples=200, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 600), min_size=1, max_size=40, unique=True),
    at=st.integers(-5, 700),
)
def test_recorded_never_looks_ahead(offsets: list[int], at: int) -> None:
    rows = [
        {"timestamp": pd.Timestamp(f"{DAY} 09:15") + pd.Timedelta(minutes=m), "close": m + 1.0}
        for m in offsets
    ]
    quotes = RecordedQuotes.from_frame(frame(rows), "o.csv")
    now = ts("09:15") + np.timedelta64(at, "m")
    got = quotes.quote(now, EXP, 21000, CE, max_age_minutes=1000)
    past = [m for m in offsets if m <= at]
    if not past:
        assert got is None
    else:
        assert got is not None and got.last == max(past) + 1.0  # the latest row at or before


def test_strikes_at() -> None:
    assert RQ.strikes_at(ts("09:15"), EXP) == [21000.0, 21050.0]
    assert RQ.strikes_at(ts("09:15"), EXP, right=PE) == [21000.0]
    assert RQ.strikes_at(ts("09:30"), EXP) == [21100.0]
    assert RQ.strikes_at(ts("09:30"), EXP, max_age_minutes=15) == [21000.0, 21050.0, 21100.0]
    assert RQ.strikes_at(ts("09:00"), EXP) == []
    assert RQ.strikes_at(ts("09:15"), dt.date(2024, 1, 11)) == []


def test_recorded_parquet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "options.parquet"
    df = frame([GOOD, {**GOOD, "timestamp": f"{DAY} 09:16", "close": 2.0}])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["expiry"] = EXP  # stored as a parquet date, read back as datetime.date objects
    df.to_parquet(path)
    quotes = RecordedQuotes.from_frame(pd.read_parquet(path), str(path))
    q = quotes.quote(dt.datetime(2024, 1, 2, 9, 20), dt.datetime(2024, 1, 4), 21000.0, CE)
    assert q is not None and q.last == 2.0


def test_recorded_aware_timestamps_and_datetime_expiry() -> None:
    df = frame([{"timestamp": "2024-01-02T03:45:00+00:00", "close": 5.0}])
    df["expiry"] = pd.Timestamp("2024-01-04 15:30")
    q = RecordedQuotes.from_frame(df, "o.parquet").quote(ts("09:15"), EXP, 21000, CE)
    assert q is not None and q.last == 5.0
    mixed = frame([{**GOOD, "timestamp": "2024-01-02T09:16+05:30"}, GOOD])
    with pytest.raises(DataError, match=r"o\.csv: line 3: timestamp .* has no UTC offset"):
        RecordedQuotes.from_frame(mixed, "o.csv")


GOOD = {"timestamp": f"{DAY} 09:15", "close": 1.0}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"timestamp": "not a time"}, "unparsable timestamp"),
        ({"expiry": "2024-13-45"}, "unparsable expiry"),
        ({"right": "CALL"}, "right 'CALL'"),
        ({"strike": 0}, "strike"),
        ({"strike": "abc"}, "strike"),
        ({"close": -1.0}, "negative close"),
        ({"close": "x"}, "column 'close' is not a number"),
        ({"close": math.inf}, "column 'close' is not a number"),
        ({"close": math.nan, "bid": 2.0, "ask": 1.0}, "bid 2.0 > ask 1.0"),
        ({"close": math.nan, "bid": 2.0}, "needs a close or bid and ask"),
        ({"timestamp": f"{DAY} 09:15", "close": 2.0}, "duplicate row"),
    ],
)
def test_recorded_validation_names_file_and_line(bad: dict[str, object], message: str) -> None:
    df = frame([GOOD, {**GOOD, "timestamp": f"{DAY} 09:16"}, {**GOOD, **bad}])
    with pytest.raises(DataError, match=r"^data/options\.csv: line 4: ") as err:
        RecordedQuotes.from_frame(df, "data/options.csv")
    assert message in str(err.value)
    with pytest.raises(DataError, match=r"^o\.parquet: row 3: "):
        RecordedQuotes.from_frame(df, "o.parquet")


def test_recorded_duplicate_names_both_lines() -> None:
    df = frame([GOOD, {**GOOD, "timestamp": f"{DAY} 09:16"}, GOOD])
    with pytest.raises(DataError, match=r"options\.csv: line 4: duplicate row .*first at line 2"):
        RecordedQuotes.from_frame(df, "options.csv")


def test_recorded_missing_columns() -> None:
    with pytest.raises(DataError, match=r"missing column.*right"):
        RecordedQuotes.from_frame(frame([GOOD]).drop(columns="right"), "o.csv")
    with pytest.raises(DataError, match="needs a 'close' column"):
        RecordedQuotes.from_frame(frame([{"timestamp": f"{DAY} 09:15", "bid": 1.0}]), "o.csv")
    with pytest.raises(ValueError, match="tz"):
        RecordedQuotes.from_frame(frame([GOOD]), "o.csv", tz="Mars/Olympus")
