"""NSE trading calendar (shell): trading days and session bounds.

Source: ``pandas_market_calendars``' ``XNSE`` calendar, which ships NSE's holiday lists inside the
package (nothing is downloaded). Its holidays reach 2026-12-25 in version 5.5 (the newest release
at the time of writing); ``trading_days`` refuses ranges past the last year with a listed holiday
(``holidays_known_through``), because there every weekday would silently count as a trading day.
``session_days`` is what runners call: it takes the user's ``[calendar] holidays`` and
``sessions`` and, past the library's coverage, uses weekdays minus those holidays plus those
sessions, with a warning naming the key (never an error, so paper and live trading keep going).

Fallback: if ``pandas_market_calendars`` cannot load ``XNSE`` (not installed, or no such
calendar), ``exchange_calendars``' ``XBOM`` (BSE) is used; BSE and NSE share their trading
holidays. XBOM lists the Diwali muhurat days as holidays, so ``include_muhurat`` has no effect
there.

Special sessions (``SPECIAL_SESSIONS``, packaged here because neither library lists them): full
regular-hours sessions on a weekend day. An expiry due on a following holiday moves back onto
such a day (NSE moved the MIDCPNIFTY expiry of 2024-01-22 to Saturday 2024-01-20). Not packaged:
the disaster-recovery drill of Saturday 2024-03-02 (two short sessions, not a trading day for
the 09:15-15:30 strategy); add such days as ``extra_sessions`` or ``[calendar] sessions``.

Muhurat sessions: on Diwali NSE opens for about an hour (2024-11-01 18:00-19:00, 2025-10-21
13:45-14:45). ``XNSE`` lists them as sessions; ``trading_days`` leaves them out unless
``include_muhurat=True``, since neither the 09:15-15:30 strategy nor the expiry calendar uses
them (NSE moved the NIFTY expiry of Tuesday 2025-10-21 to Monday 2025-10-20). A session shorter
than 3 hours is taken to be a muhurat session.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dyntrail.errors import DataError

if TYPE_CHECKING:
    from dyntrail.core.config import CalendarSection

EXCHANGE = "XNSE"
FALLBACK_EXCHANGE = "XBOM"
REGULAR_OPEN = dt.time(9, 15)
REGULAR_CLOSE = dt.time(15, 30)
_MUHURAT_MAX = dt.timedelta(hours=3)
CALENDAR_KEY = "[calendar] holidays"

# Weekend days NSE traded a full regular session (09:15-15:30), with the circular that said so.
SPECIAL_SESSIONS: tuple[dt.date, ...] = (
    # Saturday: regular session from the primary site instead of the planned DR drill, 2024-01-22
    # declared a holiday (NSE circular of 2024-01-19; Business Today, 2024-01-19 and 2024-01-20).
    dt.date(2024, 1, 20),
    # Saturday, Union Budget 2025-26: live session at standard timings (NSE circular of December
    # 2024; Business Standard and Hindustan Times, January 2025).
    dt.date(2025, 2, 1),
    # Sunday, Union Budget 2026-27: live session at standard timings (NSE circular of 2026-01-16;
    # Deccan Herald 2026-01-16, NDTV Profit, Business Standard 2026-01-30).
    dt.date(2026, 2, 1),
)


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
    """The library's sessions, up to the end of its holiday coverage at most."""
    end = min(end, holidays_known_through(exchange))
    if end < start:
        return []
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


def _weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    n = (end - start).days + 1
    return [d for d in (start + dt.timedelta(days=k) for k in range(max(n, 0))) if d.weekday() < 5]


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
    unless ``include_muhurat``) plus ``SPECIAL_SESSIONS``, minus ``extra_holidays``, plus
    ``extra_sessions`` (e.g. a special Saturday session). A date in both override lists is a
    ValueError, as is ``end < start``. An ``end`` past ``holidays_known_through(exchange)`` is a
    ``DataError`` unless ``allow_beyond_coverage``; then the days past it are the weekdays (minus
    ``extra_holidays``, plus ``extra_sessions``). Runners call ``session_days`` instead.
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
            f"{end.isoformat()} would count unknown holidays as sessions. List the exchange's "
            f"holidays under {CALENDAR_KEY} (runners use session_days), or update "
            "pandas_market_calendars"
        )
    days = set(_library_sessions(exchange, start, end, include_muhurat))
    days |= set(_weekdays(max(start, known + dt.timedelta(days=1)), end))
    days |= {d for d in SPECIAL_SESSIONS if start <= d <= end}
    days -= holidays
    days |= {d for d in sessions if start <= d <= end}
    return sorted(days)


def session_days(
    calendar: CalendarSection | None,
    start: dt.date,
    end: dt.date,
    exchange: str = EXCHANGE,
    *,
    include_muhurat: bool = False,
) -> tuple[list[dt.date], list[str]]:
    """Trading days from ``start`` to ``end`` and warnings: what runners call.

    The library's sessions and ``SPECIAL_SESSIONS``, minus ``calendar.holidays``, plus
    ``calendar.sessions`` (the config's ``[calendar]``; ``None``: none). Past the library's
    coverage (``holidays_known_through``) the days are the weekdays minus those holidays plus
    those sessions, and each such year gets a warning naming ``[calendar] holidays``: it never
    stops a run, so paper and live trading keep working in a year the library does not know.
    """
    holidays = calendar.holidays if calendar is not None else ()
    sessions = calendar.sessions if calendar is not None else ()
    days = trading_days(
        start,
        end,
        exchange,
        holidays,
        sessions,
        include_muhurat=include_muhurat,
        allow_beyond_coverage=True,
    )
    known = holidays_known_through(exchange)
    warnings = [
        _beyond_warning(year, known, sum(1 for d in holidays if d.year == year))
        for year in range(max(start, known + dt.timedelta(days=1)).year, end.year + 1)
    ]
    return days, warnings


def _beyond_warning(year: int, known: dt.date, listed: int) -> str:
    if listed:
        return (
            f"trading days of {year}: weekdays minus the {listed} of {year} in {CALENDAR_KEY} "
            f"(the calendar library lists NSE holidays only through {known.year})"
        )
    return (
        f"trading days of {year}: every weekday counts, since the calendar library lists NSE "
        f"holidays only through {known.year}; list the exchange's {year} holidays under "
        f"{CALENDAR_KEY}"
    )


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
