"""Index option contracts: dated instrument specs, the expiry calendar, strikes, time to expiry
and the gap-morning strike choice.

Pure: the exchange calendar comes in as ``trading_days`` (``datetime.date`` values in any order;
they are sorted here), the clock as ``now``. Specs change over time (lot sizes, expiry weekdays),
so they carry dated entries: an entry is in force from its ``from_date`` until the next entry's
``from_date``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Weekday(enum.StrEnum):
    """Day of the week; ``number`` follows ``date.weekday()`` (Monday = 0)."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def number(self) -> int:
        """0 for Monday ... 6 for Sunday, as ``date.weekday()``."""
        return list(Weekday).index(self)


class ExpiryCycle(enum.StrEnum):
    """WEEKLY: every such weekday. MONTHLY: the last such weekday of each month."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"


def _coerce(enum_cls: type[enum.StrEnum], value: object, what: str) -> enum.StrEnum:
    """The member for ``value`` (a member, or its value in any letter case)."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        for member in enum_cls:
            if member.value == value.strip().lower():
                return member
    allowed = ", ".join(repr(m.value) for m in enum_cls)
    raise ValueError(f"{what} {value!r} is not one of {allowed}")


def _check_from_date(value: object) -> None:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"from_date {value!r} must be a datetime.date (not a datetime)")


@dataclass(frozen=True, slots=True)
class DatedLotSize:
    """Lot size in force from ``from_date`` (inclusive) until the next entry."""

    from_date: dt.date
    lot_size: int

    def __post_init__(self) -> None:
        _check_from_date(self.from_date)
        if isinstance(self.lot_size, bool) or not isinstance(self.lot_size, int):
            raise ValueError(f"lot_size {self.lot_size!r} must be a positive integer")
        if self.lot_size <= 0:
            raise ValueError(f"lot_size {self.lot_size} must be a positive integer")


@dataclass(frozen=True, slots=True)
class ExpiryRule:
    """Expiry weekday and cycle in force from ``from_date``.

    Which date decides at a change: the *nominal* expiry day (before any holiday shift). A rule
    governs the nominal expiry days on or after its ``from_date`` and before the next rule's.
    NIFTY's Tuesday rule from 2025-09-01: Thursday 2025-08-28 is still a Thursday expiry (it is
    before 2025-09-01); the next expiry is Tuesday 2025-09-02, five days later. A monthly rule
    that starts mid-month governs that month only if the month's last such weekday is on or
    after ``from_date``.

    Strings are accepted for ``weekday`` ("thursday", any case) and ``cycle``
    ("weekly"/"monthly") and stored as the enum members.
    """

    from_date: dt.date
    weekday: Weekday
    cycle: ExpiryCycle = ExpiryCycle.WEEKLY

    def __post_init__(self) -> None:
        _check_from_date(self.from_date)
        object.__setattr__(self, "weekday", _coerce(Weekday, self.weekday, "weekday"))
        object.__setattr__(self, "cycle", _coerce(ExpiryCycle, self.cycle, "expiry cycle"))


_Dated = TypeVar("_Dated", DatedLotSize, ExpiryRule)


def _in_force(entries: Sequence[_Dated], on: dt.date, what: str) -> _Dated:
    """The entry with the latest ``from_date`` <= ``on``; before the first entry, ValueError."""
    i = bisect.bisect_right([e.from_date for e in entries], on)
    if i == 0:
        raise ValueError(
            f"no {what} known for {on.isoformat()}: the first entry starts "
            f"{entries[0].from_date.isoformat()} (add an earlier entry to the instrument spec)"
        )
    return entries[i - 1]


def _check_dated(entries: Sequence[DatedLotSize | ExpiryRule], what: str) -> None:
    if not entries:
        raise ValueError(f"{what} must have at least one dated entry")
    for a, b in itertools.pairwise(entries):
        if b.from_date <= a.from_date:
            raise ValueError(
                f"{what} must be in strictly increasing from_date order: "
                f"{b.from_date.isoformat()} follows {a.from_date.isoformat()}"
            )


def _positive(value: float, what: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{what} {value!r} must be a finite number > 0")


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """Contract specification of an index's options.

    ``lot_sizes`` and ``expiry_rules`` are tuples of dated entries in strictly increasing
    ``from_date`` order. The date decides, not the contract: during a lot-size transition NSE lets
    contracts listed before the change keep their old lot until they expire, which a date table
    cannot express; check the contract's own lot in those weeks.
    """

    underlying: str
    strike_step: float
    tick_size: float
    freeze_qty: int
    lot_sizes: tuple[DatedLotSize, ...]
    expiry_rules: tuple[ExpiryRule, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.underlying, str) or not self.underlying.strip():
            raise ValueError(f"underlying name {self.underlying!r} must be a non-empty string")
        _positive(self.strike_step, "strike_step")
        _positive(self.tick_size, "tick_size")
        if isinstance(self.freeze_qty, bool) or not isinstance(self.freeze_qty, int):
            raise ValueError(f"freeze_qty {self.freeze_qty!r} must be a positive integer")
        _positive(self.freeze_qty, "freeze_qty")
        object.__setattr__(self, "lot_sizes", tuple(self.lot_sizes))
        object.__setattr__(self, "expiry_rules", tuple(self.expiry_rules))
        _check_dated(self.lot_sizes, f"{self.underlying} lot_sizes")
        _check_dated(self.expiry_rules, f"{self.underlying} expiry_rules")

    def lot_size_on(self, on: dt.date) -> int:
        """Lot size in force on ``on`` (latest entry with from_date <= on)."""
        return _in_force(self.lot_sizes, on, f"{self.underlying} lot size").lot_size

    def expiry_rule_on(self, on: dt.date) -> ExpiryRule:
        """Expiry rule in force on ``on`` (latest entry with from_date <= on)."""
        return _in_force(self.expiry_rules, on, f"{self.underlying} expiry rule")


# --------------------------------------------------------------------------- expiry calendar


def _last_weekday_of_month(year: int, month: int, weekday: int) -> dt.date:
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    last = first_next - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _rule_dates(rule: ExpiryRule, start: dt.date) -> Iterator[dt.date]:
    """Nominal expiry days of one rule on or after ``start``, ascending, without end."""
    wd = rule.weekday.number
    if rule.cycle is ExpiryCycle.WEEKLY:
        d = start + dt.timedelta(days=(wd - start.weekday()) % 7)
        while True:
            yield d
            d += dt.timedelta(days=7)
    year, month = start.year, start.month
    while True:
        d = _last_weekday_of_month(year, month, wd)
        if d >= start:
            yield d
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _nominal_expiries(spec: InstrumentSpec, start: dt.date) -> Iterator[dt.date]:
    """Nominal (unshifted) expiry days on or after ``start``. Each day is produced by the rule in
    force on that day itself, so a rule change takes effect from its first expiry on or after the
    new ``from_date``."""
    rules = spec.expiry_rules
    first = rules.index(spec.expiry_rule_on(start))
    for i in range(first, len(rules)):
        seg_end = rules[i + 1].from_date if i + 1 < len(rules) else None
        for d in _rule_dates(rules[i], max(start, rules[i].from_date)):
            if seg_end is not None and d >= seg_end:
                break
            yield d


def _sorted_days(trading_days: Iterable[dt.date]) -> list[dt.date]:
    days = sorted(set(trading_days))
    if not days:
        raise ValueError("trading_days is empty: pass the exchange's sessions covering the dates")
    return days


def _shift_to_trading_day(nominal: dt.date, days: list[dt.date]) -> dt.date:
    """The last trading day on or before ``nominal``; ValueError outside the list's span."""
    if not days[0] <= nominal <= days[-1]:
        raise ValueError(
            f"nominal expiry {nominal.isoformat()} is outside trading_days "
            f"({days[0].isoformat()} .. {days[-1].isoformat()}): pass sessions covering it"
        )
    return days[bisect.bisect_right(days, nominal) - 1]


def expiries_between(
    spec: InstrumentSpec, start: dt.date, end: dt.date, trading_days: Iterable[dt.date]
) -> list[dt.date]:
    """Expiry days (holiday-shifted) with ``start <= expiry <= end``, ascending.

    Rules:
    - The rule in force on the *nominal* expiry day decides (see ``ExpiryRule``). NIFTY's change
      gives ... 2025-08-21 (Thu), 2025-08-28 (Thu), 2025-09-02 (Tue), 2025-09-09 (Tue) ...
    - A nominal day that is not in ``trading_days`` moves to the previous trading day. If all days
      between two nominal expiries are holidays both land on the same day, listed once.
    - ``trading_days`` must span every nominal expiry in ``[start, end]`` (else ValueError). A
      nominal expiry after ``end`` that a holiday pulls back into the range is included when
      ``trading_days`` reaches that nominal day.
    - ``start`` before the first expiry rule is a ValueError naming both dates.
    """
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    days = _sorted_days(trading_days)
    out: list[dt.date] = []
    for nominal in _nominal_expiries(spec, start):
        if nominal > end and (
            nominal > days[-1] or days[bisect.bisect_right(days, end)] <= nominal
        ):
            break  # later nominal days cannot move back into the range (or cannot be known)
        expiry = _shift_to_trading_day(nominal, days)
        if start <= expiry <= end and (not out or out[-1] != expiry):
            out.append(expiry)
    return out


def next_expiry(
    spec: InstrumentSpec,
    on_date: dt.date,
    trading_days: Iterable[dt.date],
    *,
    skip_expiry_day: bool = False,
    min_days_to_expiry: int = 0,
) -> dt.date:
    """The first expiry (holiday-shifted, see ``expiries_between``) on or after ``on_date``.
    Standing on a holiday whose expiry moved to the day before, that expiry is past: the next
    one is returned.

    - ``skip_expiry_day``: on an expiry day, return the following expiry instead.
    - ``min_days_to_expiry``: calendar days from ``on_date`` to the expiry must be at least this
      (0 allows the same day; 1 behaves like ``skip_expiry_day``; weekends count).
    - ``trading_days`` must reach the chosen expiry's nominal day, else ValueError.
    """
    if isinstance(min_days_to_expiry, bool) or not isinstance(min_days_to_expiry, int):
        raise ValueError(f"min_days_to_expiry {min_days_to_expiry!r} must be an integer >= 0")
    if min_days_to_expiry < 0:
        raise ValueError(f"min_days_to_expiry {min_days_to_expiry} must be >= 0")
    min_days = max(min_days_to_expiry, 1 if skip_expiry_day else 0)
    days = _sorted_days(trading_days)
    for nominal in _nominal_expiries(spec, on_date):
        expiry = _shift_to_trading_day(nominal, days)
        if (expiry - on_date).days >= min_days:
            return expiry
    raise RuntimeError("unreachable: _nominal_expiries never ends")  # pragma: no cover


# --------------------------------------------------------------------------- strikes


def atm_strike(price: float, strike_step: float) -> float:
    """The strike nearest ``price`` on the ``strike_step`` grid. A price exactly midway between two
    strikes goes up (22525 with step 50 -> 22550); "exactly" allows 1e-9 steps of float noise."""
    _positive(price, "price")
    _positive(strike_step, "strike_step")
    n = math.floor(price / strike_step + 0.5 + 1e-9)
    return round(n * strike_step, 10)


def candidate_strikes(price: float, strike_step: float, width: int) -> tuple[float, ...]:
    """ATM and ``width`` strikes either side, ascending; strikes <= 0 are left out."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 0:
        raise ValueError(f"width {width!r} must be an integer >= 0")
    atm = atm_strike(price, strike_step)
    strikes = (round(atm + k * strike_step, 10) for k in range(-width, width + 1))
    return tuple(k for k in strikes if k > 0)


# --------------------------------------------------------------------------- time to expiry


def time_to_expiry_years(
    now: dt.datetime,
    expiry: dt.date,
    tz: str = "Asia/Kolkata",
    close: dt.time = dt.time(15, 30),
    basis_days: float = 365.0,
) -> float:
    """Years from ``now`` to the close of ``expiry`` in exchange time ``tz``.

    Convention: calendar time, ACT/365 — elapsed minutes / (365·24·60), nights and weekends
    included. At 09:15 on expiry day this is 375 / 525600. 0.0 at or after the expiry close.
    ``now`` must be timezone-aware (any zone; it is compared as an instant), else ValueError.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} is naive: pass a timezone-aware datetime")
    _positive(basis_days, "basis_days")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"tz {tz!r} is not an IANA time zone, e.g. 'Asia/Kolkata'") from None
    expiry_close = dt.datetime.combine(expiry, close, tzinfo=zone)
    seconds = (expiry_close - now).total_seconds()
    return max(seconds, 0.0) / (basis_days * 86400.0)


# --------------------------------------------------------------------------- gap-morning strike


@dataclass(frozen=True, slots=True)
class StrikeQuote:
    """One candidate option: strike, model delta (calls > 0, puts < 0), best bid and ask, and
    optionally traded volume and open interest."""

    strike: float
    delta: float
    bid: float
    ask: float
    volume: int | None = None
    oi: int | None = None

    def __post_init__(self) -> None:
        _positive(self.strike, "strike")
        if not (math.isfinite(self.delta) and -1.0 <= self.delta <= 1.0):
            raise ValueError(f"delta {self.delta!r} at strike {self.strike} must be in [-1, 1]")
        for name in ("bid", "ask"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} {v!r} at strike {self.strike} must be finite and >= 0")
        for name in ("volume", "oi"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} {v!r} at strike {self.strike} must be >= 0 or None")

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def spread_pct(self) -> float:
        """(ask - bid) / mid; infinite when the mid is 0."""
        return (self.ask - self.bid) / self.mid if self.mid > 0 else math.inf


def choose_gap_strike(
    quotes: Iterable[StrikeQuote],
    atm: float,
    *,
    max_spread_pct: float = 0.05,
    target_abs_delta: float = 0.5,
    min_volume: int = 0,
    min_oi: int = 0,
) -> StrikeQuote | None:
    """The strike to trade on a gap morning, when the ATM strike by price may not be the option
    that behaves like ATM.

    Liquid: bid > 0, ask > bid, spread_pct <= ``max_spread_pct`` (a fraction of mid: 0.05 = 5 %),
    and, when ``min_volume`` / ``min_oi`` are > 0, a known volume / OI at least that (unknown
    fails). Among liquid quotes choose by, in order: |abs(delta) - target_abs_delta| smallest,
    spread_pct smallest, |strike - atm| smallest, lower strike. Keys are compared after rounding
    to 9 decimals so float noise does not break ties. None when no quote is liquid.
    """
    _positive(max_spread_pct, "max_spread_pct")
    if not 0.0 < target_abs_delta < 1.0:
        raise ValueError(f"target_abs_delta {target_abs_delta!r} must be in (0, 1)")

    def liquid(q: StrikeQuote) -> bool:
        if not (q.bid > 0 and q.ask > q.bid and q.spread_pct <= max_spread_pct):
            return False
        if min_volume > 0 and (q.volume is None or q.volume < min_volume):
            return False
        return not (min_oi > 0 and (q.oi is None or q.oi < min_oi))

    def key(q: StrikeQuote) -> tuple[float, float, float, float]:
        return (
            round(abs(abs(q.delta) - target_abs_delta), 9),
            round(q.spread_pct, 9),
            round(abs(q.strike - atm), 9),
            q.strike,
        )

    return min(filter(liquid, quotes), key=key, default=None)
