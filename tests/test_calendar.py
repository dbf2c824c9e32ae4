"""NSE trading calendar (pandas_market_calendars' XNSE, offline) and real holiday-shifted expiries.

Holiday facts checked against NSE's published lists for 2024-2026 (the library's own source).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator

import pytest

from dyntrail.core.config_load import parse_config
from dyntrail.core.contracts import expiries_between, next_expiry
from dyntrail.data import calendar
from dyntrail.data.calendar import (
    SPECIAL_SESSIONS,
    holidays_known_through,
    session_bounds,
    session_days,
    trading_days,
)
from dyntrail.errors import DataError
from dyntrail.instruments import load_instrument

D = dt.date
DAYS = trading_days(D(2024, 1, 1), D(2026, 12, 31))


@pytest.mark.parametrize(
    "holiday",
    [
        D(2024, 1, 22),  # Ram temple consecration: special holiday declared days before
        D(2024, 1, 26),  # Republic Day (Friday)
        D(2024, 4, 11),  # Id-ul-Fitr (Thursday: a NIFTY expiry day)
        D(2024, 5, 20),  # Lok Sabha election in Mumbai
        D(2024, 8, 15),  # Independence Day (Thursday: a NIFTY expiry day)
        D(2024, 11, 20),  # Maharashtra assembly election, the day the 75 lot started
        D(2025, 3, 14),  # Holi (Friday)
        D(2025, 8, 27),  # Ganesh Chaturthi, the day before the last Thursday expiry
        D(2025, 10, 2),  # Gandhi Jayanti / Dussehra
        D(2026, 1, 26),  # Republic Day (Monday)
        D(2026, 3, 3),  # Holi (Tuesday: a NIFTY expiry day)
        D(2026, 12, 25),  # Christmas: the last holiday the library lists
    ],
)
def test_known_holidays_are_excluded(holiday: dt.date) -> None:
    assert holiday.weekday() < 5
    assert holiday not in DAYS


def test_weekends_excluded_and_ordinary_days_kept() -> None:
    assert all(d.weekday() < 5 for d in DAYS if d not in SPECIAL_SESSIONS)
    assert sorted(set(DAYS)) == DAYS
    assert D(2024, 1, 25) in DAYS and D(2025, 8, 28) in DAYS  # ordinary Thursdays
    assert DAYS[0] == D(2024, 1, 1) and DAYS[-1] == D(2026, 12, 31)  # both ends inclusive


def test_holiday_list_covers_2024_to_2026() -> None:
    assert holidays_known_through() >= D(2026, 12, 31)
    for year in (2024, 2025, 2026):
        weekdays = sum(1 for k in range(366) if (D(year, 1, 1) + dt.timedelta(k)).weekday() < 5)
        sessions = sum(1 for d in DAYS if d.year == year)
        assert 10 <= weekdays - sessions <= 20  # NSE lists 13-17 weekday holidays a year


@pytest.mark.parametrize(
    "special",
    [
        D(2024, 1, 20),  # Saturday: full session, 2024-01-22 declared a holiday instead
        D(2025, 2, 1),  # Saturday: Union Budget 2025-26
        D(2026, 2, 1),  # Sunday: Union Budget 2026-27
    ],
)
def test_weekend_special_sessions_are_trading_days(special: dt.date) -> None:
    assert special.weekday() >= 5
    assert special in DAYS
    assert special not in trading_days(special, special, extra_holidays=[special])


def test_disaster_recovery_drill_is_not_a_trading_day() -> None:
    assert D(2024, 3, 2) not in DAYS  # Saturday DR drill: two short sessions


def test_muhurat_sessions_left_out_unless_asked() -> None:
    diwali_2024, diwali_2025 = D(2024, 11, 1), D(2025, 10, 21)  # one-hour muhurat sessions
    assert diwali_2024 not in DAYS and diwali_2025 not in DAYS
    with_muhurat = trading_days(D(2024, 10, 28), D(2025, 10, 31), include_muhurat=True)
    assert diwali_2024 in with_muhurat and diwali_2025 in with_muhurat


def test_extra_holidays_and_sessions() -> None:
    jan = trading_days(
        D(2024, 1, 15),
        D(2024, 1, 31),
        extra_holidays=[D(2024, 1, 16)],  # pretend a closure the library does not know
        extra_sessions=[D(2024, 1, 20), D(2024, 3, 2)],  # Saturday sessions; 03-02 out of range
    )
    assert D(2024, 1, 16) not in jan
    assert D(2024, 1, 20) in jan  # Saturday full session before the 01-22 holiday
    assert D(2024, 3, 2) not in jan
    assert jan == sorted(jan)
    with pytest.raises(ValueError, match="both extra_holidays and extra_sessions: 2024-01-16"):
        trading_days(D(2024, 1, 1), D(2024, 1, 31), [], [D(2024, 1, 16)], [D(2024, 1, 16)])


def test_argument_errors_and_coverage_guard() -> None:
    with pytest.raises(ValueError, match="before start"):
        trading_days(D(2024, 2, 1), D(2024, 1, 1))
    with pytest.raises(ValueError, match="not a datetime"):
        trading_days(dt.datetime(2024, 1, 1), D(2024, 1, 31))
    # Past the last year with listed holidays every weekday would look tradable: refused.
    with pytest.raises(DataError, match="holiday list ends in 2026"):
        trading_days(D(2026, 12, 1), D(2027, 1, 31))
    beyond = trading_days(D(2026, 12, 28), D(2027, 1, 5), allow_beyond_coverage=True)
    assert beyond[-1] == D(2027, 1, 5)


# --------------------------------------------------------------------------- session_days


def test_session_days_inside_coverage_has_no_warning() -> None:
    days, warnings = session_days(None, D(2025, 1, 1), D(2025, 12, 31))
    assert days == [d for d in DAYS if d.year == 2025] and warnings == []


def test_session_days_past_coverage_are_weekdays_with_a_warning() -> None:
    # 2027: the library lists no NSE holiday; paper and live trading must keep working.
    days, warnings = session_days(None, D(2026, 12, 28), D(2027, 1, 31))
    assert days[:4] == [D(2026, 12, 28), D(2026, 12, 29), D(2026, 12, 30), D(2026, 12, 31)]
    assert D(2027, 1, 26) in days  # Republic Day, unknown to the library
    assert all(d.weekday() < 5 for d in days)
    assert len(warnings) == 1 and "2027" in warnings[0] and "[calendar] holidays" in warnings[0]


def test_session_days_use_the_users_holidays_and_sessions() -> None:
    cfg = parse_config(
        "[calendar]\n"
        "holidays = [2027-01-26, 2025-03-03]\n"  # a 2027 holiday; a pretend 2025 closure
        "sessions = [2027-01-30]\n"  # a pretend Saturday session
    ).calendar
    days, warnings = session_days(cfg, D(2025, 3, 1), D(2027, 2, 5))
    assert D(2027, 1, 26) not in days and D(2025, 3, 3) not in days
    assert D(2027, 1, 30) in days and D(2027, 1, 25) in days
    assert len(warnings) == 1
    assert "2027" in warnings[0] and "the 1 of 2027 in [calendar] holidays" in warnings[0]
    # A 2027 expiry: NIFTY's Tuesday 2027-01-26 is the user's holiday, so Monday 01-25.
    assert next_expiry(NIFTY, D(2027, 1, 20), days) == D(2027, 1, 25)


def test_session_bounds() -> None:
    open_, close = session_bounds(D(2025, 9, 2))
    assert open_.isoformat() == "2025-09-02T09:15:00+05:30"
    assert close.isoformat() == "2025-09-02T15:30:00+05:30"
    assert (close - open_) == dt.timedelta(minutes=375)
    muhurat = session_bounds(D(2025, 10, 21), open=dt.time(13, 45), close=dt.time(14, 45))
    assert muhurat[0].hour == 13
    with pytest.raises(ValueError, match="must be before close"):
        session_bounds(D(2025, 9, 2), open=dt.time(15, 30), close=dt.time(9, 15))


@pytest.fixture
def no_pandas_market_calendars(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make `import pandas_market_calendars` fail, with a fresh calendar cache either side."""
    calendar._calendar.cache_clear()
    monkeypatch.setitem(sys.modules, "pandas_market_calendars", None)
    yield
    calendar._calendar.cache_clear()


@pytest.mark.filterwarnings("ignore:Series.values returning")  # inside exchange_calendars
def test_fallback_to_xbom_gives_the_same_days(no_pandas_market_calendars: None) -> None:
    assert calendar._calendar("XNSE")[0] == "exchange_calendars"
    # XBOM lists the muhurat days as holidays, which is what trading_days does by default.
    assert trading_days(D(2024, 1, 1), D(2026, 12, 31)) == DAYS
    assert holidays_known_through() == D(2026, 12, 31)


# --------------------------------------------------------------------------- real expiries

NIFTY = load_instrument("NIFTY")
BANKNIFTY = load_instrument("BANKNIFTY")


@pytest.mark.parametrize(
    ("on", "expiry"),
    [
        (D(2024, 4, 8), D(2024, 4, 10)),  # Thu 2024-04-11 Id-ul-Fitr -> Wednesday
        (D(2024, 8, 12), D(2024, 8, 14)),  # Thu 2024-08-15 Independence Day -> Wednesday
        (D(2025, 4, 7), D(2025, 4, 9)),  # Thu 2025-04-10 Mahavir Jayanti -> Wednesday
        (D(2025, 4, 28), D(2025, 4, 30)),  # Thu 2025-05-01 Maharashtra Day -> Wednesday
        (D(2025, 10, 15), D(2025, 10, 20)),  # Tue 2025-10-21 Diwali (muhurat only) -> Monday
        (D(2026, 3, 2), D(2026, 3, 2)),  # Tue 2026-03-03 Holi -> Monday, and that is today
    ],
)
def test_nifty_expiry_moves_before_real_holidays(on: dt.date, expiry: dt.date) -> None:
    assert next_expiry(NIFTY, on, DAYS) == expiry


def test_expiry_rule_change_on_the_real_calendar() -> None:
    got = expiries_between(NIFTY, D(2025, 8, 18), D(2025, 9, 12), DAYS)
    assert got == [D(2025, 8, 21), D(2025, 8, 28), D(2025, 9, 2), D(2025, 9, 9)]


def test_banknifty_monthly_expiries() -> None:
    # Monthly only from 2024-11-20; Wed 2024-12-25 Christmas -> Tuesday 12-24 (see the
    # instruments.toml notes on the Wednesday/Thursday months); last Tuesday from September 2025.
    got = expiries_between(BANKNIFTY, D(2024, 11, 1), D(2025, 10, 31), DAYS)
    assert got[:4] == [D(2024, 11, 6), D(2024, 11, 13), D(2024, 11, 27), D(2024, 12, 24)]
    assert got[-4:] == [D(2025, 7, 31), D(2025, 8, 28), D(2025, 9, 30), D(2025, 10, 28)]
