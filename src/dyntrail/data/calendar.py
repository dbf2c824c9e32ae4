"""NSE trading calendar (shell): trading days and session bounds.

Source: ``pandas_market_calendars``' ``XNSE`` calendar, which ships NSE's holiday lists inside the
package (nothing is downloaded). Its holidays reach 2026-12-25 in version 5.5; ``trading_days``
refuses ranges past the last year with a listed holiday (``holidays_known_through``), because
there every weekday would silently count as a trading day. Update the library, or pass the
exchange's holidays as ``extra_holidays`` with ``allow_beyond_coverage=True``.

Fallback: if ``pandas_market_calendars`` cannot load ``XNSE`` (not installed, or no such
calendar), ``exchange_calendars``' ``XBOM`` (BSE) is used; BSE and NSE share their trading
holidays. XBOM lists the Diwali muhurat days as holidays, so ``include_muhurat`` has no effect
there.

Muhurat sessions: on Diwali NSE opens for about an hour (2024-11-01 18:00-19:00, 2025-10-21
13:45-14:45). ``XNSE`` lists them as sessions; ``trading_days`` leaves them out unless
``include_muhurat=True``, since neither the 09:15-15:30 strategy nor the expiry calendar uses
them (NSE moved the NIFTY expiry of Tuesday 2025-10-21 to Monday 2025-10-20). A session shorter
than 3 hours is taken to be a muhurat session.

Not in the library: special Saturday sessions such as 2024-01-20 (full session; 2024-01-22 was
declared a holiday) and 2024-03-02 (disaster-recovery drill). Add such days as ``extra_sessions``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from dyntrail.errors import DataError

EXCHANGE = "XNSE"
FALLBACK_EXCHANGE = "XBOM"
REGULAR_OPEN = dt.time(9, 15)
REGULAR_CLOSE = dt.time(15, 30)
_MUHURAT_MAX = dt.timedelta(hours=3)


@functools.lru_cache(maxsize=8)
def _calendar(exchange: str) -> tuple[str, Any]:
    """(library name, calendar object), cached per exchange name."""
    try:
        import pandas_market_calendars as mcal

        return "pandas_market_calendars", mcal.get_calendar(exchange)
    except (ImportError, RuntimeError) as exc:
        if exchange != EXCHANGE:
            raise DataError(f"no trading calendar {exchange!r}: {exc}") from exc
    try:
        import exchange_calendars as xc

        return "exchange_calendars", xc.get_calendar(FALLBACK_EXCHANGE)
    except ImportError as exc:
        raise DataError(
            "no NSE calendar: install pandas_market_calendars (XNSE) or exchange_calendars (XBOM)"
        ) from exc


def holidays_known_through(exchange: str = EXCHANGE) -> dt.date:
    """31 December of the last year in which the calendar lists a weekday holiday."""
    library, cal = _calendar(exchange)
    if library == "pandas_market_calendars":
        listed = [d.astype("datetime64[D]").item() for d in cal.holidays().holidays]
    else:
        listed = [ts.date() for ts in cal.adhoc_holidays]
    return dt.date(max(listed).year, 12, 31)


def _check_date(value: object, name: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"{name} {value!r} must be a datetime.date (not a datetime)")
    return value


def _library_sessions(
    exchange: str, start: dt.date, end: dt.date, include_muhurat: bool
) -> list[dt.date]:
    library, cal = _calendar(exchange)
    if library == "pandas_market_calendars":
        sched = cal.schedule(start_date=start.isoformat(), end_date=end.isoformat())
        length = sched["market_close"] - sched["market_open"]
        keep = sched.index if include_muhurat else sched.index[length >= _MUHURAT_MAX]
        return [ts.date() for ts in keep]
    try:
        sessions = cal.sessions_in_range(start.isoformat(), end.isoformat())
    except ValueError as exc:  # exchange_calendars.errors.DateOutOfBounds
        raise DataError(f"{FALLBACK_EXCHANGE} calendar: {exc}") from exc
    return [ts.date() for ts in sessions]


def trading_days(
    start: dt.date,
    end: dt.date,
    exchange: str = EXCHANGE,
    extra_holidays: Iterable[dt.date] = (),
    extra_sessions: Iterable[dt.date] = (),
    *,
    include_muhurat: bool = False,
    allow_beyond_coverage: bool = False,
) -> list[dt.date]:
    """Trading days from ``start`` to ``end`` inclusive, ascending.

    The library's sessions (weekends and listed holidays excluded; muhurat sessions excluded
    unless ``include_muhurat``), minus ``extra_holidays``, plus ``extra_sessions`` (e.g. a
    special Saturday session). A date in both override lists is a ValueError, as is
    ``end < start``. An ``end`` past ``holidays_known_through(exchange)`` is a ``DataError``
    unless ``allow_beyond_coverage``.
    """
    start, end = _check_date(start, "start"), _check_date(end, "end")
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    holidays = {_check_date(d, "extra_holidays entry") for d in extra_holidays}
    sessions = {_check_date(d, "extra_sessions entry") for d in extra_sessions}
    both = sorted(holidays & sessions)
    if both:
        listed = ", ".join(d.isoformat() for d in both)
        raise ValueError(f"dates in both extra_holidays and extra_sessions: {listed}")
    known = holidays_known_through(exchange)
    if end > known and not allow_beyond_coverage:
        raise DataError(
            f"the {exchange} holiday list ends in {known.year}: trading days up to "
            f"{end.isoformat()} would count unknown holidays as sessions. Update "
            "pandas_market_calendars, or pass the holidays as extra_holidays with "
            "allow_beyond_coverage=True"
        )
    days = set(_library_sessions(exchange, start, end, include_muhurat))
    days -= holidays
    days |= {d for d in sessions if start <= d <= end}
    return sorted(days)


def session_bounds(
    day: dt.date,
    tz: str = "Asia/Kolkata",
    open: dt.time = REGULAR_OPEN,
    close: dt.time = REGULAR_CLOSE,
) -> tuple[dt.datetime, dt.datetime]:
    """Timezone-aware (open, close) of ``day`` in exchange time. The times are the arguments (NSE's
    regular 09:15-15:30 by default), not the calendar's: a muhurat day gets the same bounds unless
    you pass its hours. ``open`` must be before ``close``."""
    day = _check_date(day, "day")
    if not open < close:
        raise ValueError(f"open {open.isoformat()} must be before close {close.isoformat()}")
    zone = ZoneInfo(tz)
    return dt.datetime.combine(day, open, tzinfo=zone), dt.datetime.combine(day, close, tzinfo=zone)
