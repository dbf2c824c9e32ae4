"""Instrument specs, expiry calendar, strikes, time to expiry, gap-morning strike choice.

Trading days here are built by hand (weekdays minus chosen holidays): the core never sees the
exchange calendar. Real NSE holidays are exercised in tests/test_calendar.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyntrail.core.contracts import (
    ContractLot,
    DatedFreezeQty,
    ExpiryCycle,
    ExpiryRule,
    InstrumentSpec,
    MissingFact,
    StrikeQuote,
    Weekday,
    atm_strike,
    candidate_strikes,
    choose_gap_strike,
    expiries_between,
    is_monthly_expiry,
    next_expiry,
    next_monthly_expiry,
    time_to_expiry_years,
)
from dyntrail.instruments import load_instrument

D = dt.date
IST = ZoneInfo("Asia/Kolkata")


def weekdays(start: dt.date, end: dt.date, minus: tuple[dt.date, ...] = ()) -> list[dt.date]:
    """Mon-Fri from start to end, without the given (pretend) holidays."""
    out, d = [], start
    while d <= end:
        if d.weekday() < 5 and d not in minus:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


FREEZE = (DatedFreezeQty(D(2020, 1, 1), 1800),)


def spec(*rules: ExpiryRule, lots: tuple[ContractLot, ...] = ()) -> InstrumentSpec:
    lots = lots or (ContractLot(25, D(2020, 1, 1)),)
    return InstrumentSpec("TEST", 50, 0.05, FREEZE, lots, rules)


WEEKLY_THU = spec(ExpiryRule(D(2020, 1, 1), Weekday.THURSDAY, ExpiryCycle.WEEKLY))
NIFTY = load_instrument("NIFTY")
BANKNIFTY = load_instrument("BANKNIFTY")
DAYS_2025 = weekdays(D(2024, 12, 1), D(2026, 1, 31))


# --------------------------------------------------------------------------- contract terms

# A test market: weekly Thursday; lot 50 -> 25 where the weeklies switch on 2025-03-06 but the
# monthly of March (2025-03-27), listed before the revision, keeps 50: the first monthly with 25
# is April's (2025-04-24).
LOTS = (
    ContractLot(50, D(2025, 1, 2)),
    ContractLot(25, D(2025, 3, 6), first_monthly_expiry=D(2025, 4, 24)),
)
TEST = spec(ExpiryRule(D(2025, 1, 1), Weekday.THURSDAY), lots=LOTS)
DAYS_H1 = weekdays(D(2025, 1, 1), D(2025, 7, 31))


@pytest.mark.parametrize(
    ("expiry", "monthly", "lot"),
    [
        (D(2025, 2, 27), True, 50),  # February monthly
        (D(2025, 2, 27), False, 50),
        (D(2025, 3, 6), False, 25),  # first weekly of the new lot
        (D(2025, 3, 20), False, 25),
        (D(2025, 3, 27), True, 50),  # the March monthly was listed before: old lot
        (D(2025, 4, 24), True, 25),  # first monthly of the new lot
    ],
)
def test_contract_lot_by_expiry_and_kind(expiry: dt.date, monthly: bool, lot: int) -> None:
    assert TEST.contract_lot(expiry, monthly=monthly) == lot


def test_lot_size_for_finds_the_kind_from_the_calendar() -> None:
    assert is_monthly_expiry(TEST, D(2025, 3, 27), DAYS_H1)
    assert not is_monthly_expiry(TEST, D(2025, 3, 20), DAYS_H1)
    assert TEST.lot_size_for(D(2025, 3, 20), DAYS_H1) == 25
    assert TEST.lot_size_for(D(2025, 3, 27), DAYS_H1) == 50
    with pytest.raises(ValueError, match="2025-03-26 is not a TEST expiry day"):
        TEST.lot_size_for(D(2025, 3, 26), DAYS_H1)


def test_holiday_shifted_monthly_is_still_the_monthly() -> None:
    days = weekdays(D(2025, 1, 1), D(2025, 7, 31), minus=(D(2025, 3, 27),))
    assert next_expiry(TEST, D(2025, 3, 24), days) == D(2025, 3, 26)
    assert is_monthly_expiry(TEST, D(2025, 3, 26), days)
    assert TEST.lot_size_for(D(2025, 3, 26), days) == 50


def test_futures_take_the_nearest_monthly_lot() -> None:
    assert next_monthly_expiry(TEST, D(2025, 3, 3), DAYS_H1) == D(2025, 3, 27)
    assert next_monthly_expiry(TEST, D(2025, 3, 27), DAYS_H1) == D(2025, 3, 27)  # expiry day
    assert TEST.futures_lot_size_on(D(2025, 3, 10)) == 50
    assert TEST.futures_lot_size_on(D(2025, 3, 28)) == 25


def test_a_contract_before_the_first_lot_is_a_missing_fact() -> None:
    with pytest.raises(MissingFact) as info:
        TEST.contract_lot(D(2024, 12, 26), monthly=True)
    gap = info.value
    assert (gap.key, gap.field, gap.day) == ("lot_sizes", "first_monthly_expiry", D(2024, 12, 26))
    assert str(gap) == (
        "TEST has no lot size for the monthly contract expiring 2024-12-26: "
        "its first lot_sizes entry has first_monthly_expiry 2025-01-02"
    )
    assert isinstance(gap, ValueError)


def test_freeze_qty_is_dated() -> None:
    freeze = (DatedFreezeQty(D(2025, 1, 1), 900), DatedFreezeQty(D(2025, 7, 1), 600))
    s = InstrumentSpec("TEST", 100, 0.05, freeze, LOTS, TEST.expiry_rules)
    assert (s.freeze_qty_on(D(2025, 6, 30)), s.freeze_qty_on(D(2025, 7, 1))) == (900, 600)
    with pytest.raises(MissingFact, match="TEST has no freeze quantity on 2024-12-31") as info:
        s.freeze_qty_on(D(2024, 12, 31))
    assert (info.value.key, info.value.field) == ("freeze_qty", "from")


def test_expiry_rule_change_for_nifty() -> None:
    assert NIFTY.expiry_rule_on(D(2025, 8, 28)).weekday is Weekday.THURSDAY  # last Thursday one
    assert NIFTY.expiry_rule_on(D(2025, 9, 2)).weekday is Weekday.TUESDAY  # first Tuesday one
    with pytest.raises(MissingFact, match="NIFTY has no expiry rule on 2019-01-03"):
        NIFTY.expiry_rule_on(D(2019, 1, 3))


def test_spec_validation() -> None:
    rules = (ExpiryRule(D(2024, 1, 1), Weekday.THURSDAY),)
    backwards = (ContractLot(75, D(2025, 1, 2)), ContractLot(25, D(2024, 1, 4)))
    with pytest.raises(ValueError, match="first_expiry dates must be strictly increasing"):
        InstrumentSpec("X", 50, 0.05, FREEZE, backwards, rules)
    crossed = (ContractLot(75, D(2025, 1, 2), D(2025, 3, 27)), ContractLot(25, D(2025, 2, 6)))
    with pytest.raises(ValueError, match="first_monthly_expiry dates must be strictly"):
        InstrumentSpec("X", 50, 0.05, FREEZE, crossed, rules)
    with pytest.raises(ValueError, match="at least one entry"):
        InstrumentSpec("X", 50, 0.05, FREEZE, (), rules)
    with pytest.raises(ValueError, match=r"strike_step -50 must be"):
        InstrumentSpec("X", -50, 0.05, FREEZE, LOTS, rules)
    with pytest.raises(ValueError, match="'thu' is not one of"):
        ExpiryRule(D(2024, 1, 1), "thu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lot_size 0"):
        ContractLot(0, D(2024, 1, 1))
    with pytest.raises(ValueError, match=r"freeze_qty 1\.5"):
        DatedFreezeQty(D(2024, 1, 1), 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leave monthly_weekday out"):
        ExpiryRule(D(2024, 1, 1), Weekday.TUESDAY, ExpiryCycle.MONTHLY, Weekday.THURSDAY)
    assert ExpiryRule(D(2024, 1, 1), "Tuesday", "monthly").cycle is ExpiryCycle.MONTHLY  # type: ignore[arg-type]


def test_weekly_with_a_monthly_on_another_weekday() -> None:
    # Wednesday weeklies, last-Thursday monthlies, no weekly in the monthly's week.
    wed_thu = spec(ExpiryRule(D(2024, 1, 1), Weekday.WEDNESDAY, monthly_weekday=Weekday.THURSDAY))
    days = weekdays(D(2024, 1, 1), D(2024, 3, 31))
    got = expiries_between(wed_thu, D(2024, 1, 1), D(2024, 2, 29), days)
    assert got == [
        D(2024, 1, 3), D(2024, 1, 10), D(2024, 1, 17), D(2024, 1, 25),  # no Wednesday 01-24
        D(2024, 1, 31), D(2024, 2, 7), D(2024, 2, 14), D(2024, 2, 21), D(2024, 2, 29),
    ]  # fmt: skip
    assert [is_monthly_expiry(wed_thu, e, days) for e in got].count(True) == 2
    assert next_expiry(wed_thu, D(2024, 1, 22), days) == D(2024, 1, 25)


# --------------------------------------------------------------------------- expiry calendar


def test_weekly_thursday_then_tuesday_around_the_change() -> None:
    got = expiries_between(NIFTY, D(2025, 8, 1), D(2025, 9, 30), DAYS_2025)
    assert got == [
        D(2025, 8, 7), D(2025, 8, 14), D(2025, 8, 21), D(2025, 8, 28),  # Thursdays
        D(2025, 9, 2), D(2025, 9, 9), D(2025, 9, 16), D(2025, 9, 23), D(2025, 9, 30),  # Tuesdays
    ]  # fmt: skip
    # In the week of the change the next expiry after Thursday 08-28 is Tuesday 09-02.
    assert next_expiry(NIFTY, D(2025, 8, 29), DAYS_2025) == D(2025, 9, 2)


def test_holiday_moves_expiry_to_previous_trading_day() -> None:
    # Pretend Thursday 2025-03-13 is a holiday: the expiry moves to Wednesday 03-12.
    days = weekdays(D(2025, 3, 1), D(2025, 3, 31), minus=(D(2025, 3, 13),))
    assert next_expiry(WEEKLY_THU, D(2025, 3, 10), days) == D(2025, 3, 12)
    # Thursday and Wednesday both holidays: Tuesday.
    days = weekdays(D(2025, 3, 1), D(2025, 3, 31), minus=(D(2025, 3, 12), D(2025, 3, 13)))
    assert expiries_between(WEEKLY_THU, D(2025, 3, 10), D(2025, 3, 14), days) == [D(2025, 3, 11)]
    # Standing on the holiday Thursday itself, the shifted expiry is past: next week's.
    assert next_expiry(WEEKLY_THU, D(2025, 3, 13), days) == D(2025, 3, 20)


def test_shifted_expiry_pulled_back_into_range() -> None:
    # Nominal Thursday 03-13 is after `end` (Wednesday 03-12) but its holiday shift lands on it.
    days = weekdays(D(2025, 3, 1), D(2025, 3, 31), minus=(D(2025, 3, 13),))
    assert expiries_between(WEEKLY_THU, D(2025, 3, 10), D(2025, 3, 12), days) == [D(2025, 3, 12)]
    full = weekdays(D(2025, 3, 1), D(2025, 3, 31))
    assert expiries_between(WEEKLY_THU, D(2025, 3, 10), D(2025, 3, 12), full) == []


def test_expiry_day_skip_and_min_days() -> None:
    thu = D(2025, 3, 13)  # an expiry Thursday
    days = weekdays(D(2025, 3, 1), D(2025, 3, 31))
    assert next_expiry(WEEKLY_THU, thu, days) == thu
    assert next_expiry(WEEKLY_THU, thu, days, skip_expiry_day=True) == D(2025, 3, 20)
    assert next_expiry(WEEKLY_THU, thu, days, min_days_to_expiry=1) == D(2025, 3, 20)
    tue, wed = D(2025, 3, 11), D(2025, 3, 12)
    assert next_expiry(WEEKLY_THU, tue, days, min_days_to_expiry=2) == thu  # exactly 2 days
    assert next_expiry(WEEKLY_THU, wed, days, min_days_to_expiry=2) == D(2025, 3, 20)
    with pytest.raises(ValueError, match="min_days_to_expiry -1"):
        next_expiry(WEEKLY_THU, tue, days, min_days_to_expiry=-1)


def test_monthly_is_last_weekday_of_month() -> None:
    monthly = spec(
        ExpiryRule(D(2025, 1, 1), Weekday.THURSDAY, ExpiryCycle.MONTHLY),
        ExpiryRule(D(2025, 9, 1), Weekday.TUESDAY, ExpiryCycle.MONTHLY),
    )
    got = expiries_between(monthly, D(2025, 6, 1), D(2025, 12, 31), DAYS_2025)
    assert got == [
        D(2025, 6, 26), D(2025, 7, 31), D(2025, 8, 28),  # last Thursdays (07-31: month's last day)
        D(2025, 9, 30), D(2025, 10, 28), D(2025, 11, 25), D(2025, 12, 30),  # last Tuesdays
    ]  # fmt: skip
    assert next_expiry(BANKNIFTY, D(2025, 8, 29), DAYS_2025) == D(2025, 9, 30)


def test_trading_days_must_cover_the_expiry() -> None:
    days = weekdays(D(2025, 3, 1), D(2025, 3, 12))
    with pytest.raises(ValueError, match=r"2025-03-13 is outside trading_days"):
        next_expiry(WEEKLY_THU, D(2025, 3, 12), days, skip_expiry_day=True)
    with pytest.raises(ValueError, match="empty"):
        next_expiry(WEEKLY_THU, D(2025, 3, 12), [])
    with pytest.raises(ValueError, match="before start"):
        expiries_between(WEEKLY_THU, D(2025, 3, 12), D(2025, 3, 1), days)


@given(
    st.dates(D(2024, 1, 1), D(2026, 6, 30)),
    st.sets(st.dates(D(2024, 1, 1), D(2026, 12, 31)), max_size=40),
)
def test_expiries_are_trading_days_on_or_before_the_rule_day(
    start: dt.date, holidays: set[dt.date]
) -> None:
    days = [d for d in weekdays(D(2024, 1, 1), D(2026, 12, 31)) if d not in holidays]
    got = expiries_between(NIFTY, start, start + dt.timedelta(days=60), days)
    assert got == sorted(set(got))
    for e in got:
        assert e in days
        # Some rule day n (weekday of the rule in force on n) within a week on or after e, with no
        # trading day in (e, n]: e is n moved back over holidays.
        later = (e + dt.timedelta(days=k) for k in range(7))
        n = next(d for d in later if d.weekday() == NIFTY.expiry_rule_on(d).weekday.number)
        assert not [d for d in days if e < d <= n]


# --------------------------------------------------------------------------- strikes


@pytest.mark.parametrize(
    ("price", "step", "atm"),
    [
        (22525.0, 50, 22550.0),  # exactly midway: ties go up
        (22524.95, 50, 22500.0),  # one tick below midway
        (22574.99, 50, 22550.0),
        (48050.0, 100, 48100.0),  # BANKNIFTY midway
        (101.25, 2.5, 102.5),  # fractional step, midway
    ],
)
def test_atm_strike(price: float, step: float, atm: float) -> None:
    assert atm_strike(price, step) == atm


@given(st.floats(1.0, 100_000.0), st.sampled_from([0.5, 2.5, 50.0, 100.0]))
def test_atm_is_the_nearest_grid_strike(price: float, step: float) -> None:
    atm = atm_strike(price, step)
    assert abs(atm - price) <= step / 2 + 1e-6
    assert abs(atm / step - round(atm / step)) < 1e-9


def test_candidate_strikes() -> None:
    assert candidate_strikes(22530.0, 50, 2) == (22450.0, 22500.0, 22550.0, 22600.0, 22650.0)
    assert candidate_strikes(22530.0, 50, 0) == (22550.0,)
    assert candidate_strikes(60.0, 50, 2) == (50.0, 100.0, 150.0)  # strikes <= 0 left out
    with pytest.raises(ValueError, match="width -1"):
        candidate_strikes(22530.0, 50, -1)
    with pytest.raises(ValueError, match="price nan"):
        atm_strike(float("nan"), 50)


# --------------------------------------------------------------------------- time to expiry


def test_time_to_expiry_on_expiry_morning_is_exact() -> None:
    expiry = D(2025, 9, 2)
    at_open = dt.datetime(2025, 9, 2, 9, 15, tzinfo=IST)
    assert time_to_expiry_years(at_open, expiry) == 375 / (365 * 24 * 60)  # 6h15m
    same_instant_utc = dt.datetime(2025, 9, 2, 3, 45, tzinfo=dt.UTC)
    assert time_to_expiry_years(same_instant_utc, expiry) == 375 / (365 * 24 * 60)
    day_before_close = dt.datetime(2025, 9, 1, 15, 30, tzinfo=IST)
    assert time_to_expiry_years(day_before_close, expiry) == pytest.approx(1 / 365, rel=1e-15)


def test_time_to_expiry_after_close_is_zero_and_naive_is_refused() -> None:
    expiry = D(2025, 9, 2)
    assert time_to_expiry_years(dt.datetime(2025, 9, 2, 15, 30, tzinfo=IST), expiry) == 0.0
    assert time_to_expiry_years(dt.datetime(2025, 9, 3, 10, 0, tzinfo=IST), expiry) == 0.0
    with pytest.raises(ValueError, match="naive"):
        time_to_expiry_years(dt.datetime(2025, 9, 2, 9, 15), expiry)
    with pytest.raises(ValueError, match="IANA"):
        time_to_expiry_years(dt.datetime(2025, 9, 2, 9, 15, tzinfo=IST), expiry, tz="India/Mumbai")


# --------------------------------------------------------------------------- gap-morning strike


def q(strike: float, delta: float, bid: float, ask: float, **kw: int) -> StrikeQuote:
    return StrikeQuote(strike, delta, bid, ask, **kw)


def chosen(quotes: list[StrikeQuote], **kw: Any) -> float | None:
    """The chosen strike, or None."""
    pick = choose_gap_strike(quotes, **kw)
    return None if pick is None else pick.strike


def test_gap_strike_picks_delta_nearest_half_among_liquid() -> None:
    quotes = [
        q(22400, 0.62, 180.0, 181.0),
        q(22450, 0.50, 150.0, 170.0),  # delta 0.50 but spread 12.5 % of mid: illiquid
        q(22500, 0.53, 120.0, 120.5),  # best liquid: |0.53 - 0.5| = 0.03
        q(22550, 0.45, 95.0, 95.5),
    ]
    assert chosen(quotes, atm=22450) == 22500
    # Puts: the absolute delta counts.
    puts = [q(22500, -0.47, 110.0, 110.5), q(22550, -0.56, 130.0, 130.5)]
    assert chosen(puts, atm=22550) == 22500


def test_gap_strike_ties() -> None:
    # Same |delta - 0.5| (0.02): the tighter relative spread wins.
    quotes = [q(22450, 0.52, 100.0, 101.0), q(22550, 0.48, 100.0, 100.5)]
    assert chosen(quotes, atm=22450) == 22550
    # Same delta distance and spread: the strike nearer ATM wins.
    quotes = [q(22400, 0.52, 100.0, 100.5), q(22550, 0.48, 100.0, 100.5)]
    assert chosen(quotes, atm=22500) == 22550


def test_gap_strike_none_when_nothing_is_liquid() -> None:
    quotes = [
        q(22450, 0.55, 0.0, 5.0),  # no bid
        q(22500, 0.50, 100.0, 100.0),  # locked market: ask not above bid
        q(22550, 0.45, 90.0, 110.0),  # 20 % spread
    ]
    assert chosen(quotes, atm=22500) is None
    assert chosen([], atm=22500) is None
    assert chosen(quotes, atm=22500, max_spread_pct=0.25) == 22550


def test_gap_strike_volume_and_oi_filters() -> None:
    quotes = [q(22500, 0.50, 100.0, 100.5), q(22550, 0.45, 90.0, 90.5, volume=5000, oi=10)]
    assert chosen(quotes, atm=22500, min_volume=1000) == 22550
    assert chosen(quotes, atm=22500, min_volume=1000, min_oi=100) is None
    with pytest.raises(ValueError, match=r"delta 1\.5"):
        q(22500, 1.5, 1.0, 2.0)
