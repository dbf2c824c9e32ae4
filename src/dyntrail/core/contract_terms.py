"""Contract terms of index options as value objects: weekdays and cycles, expiry rules, lot
sizes keyed by contract expiry, dated freeze quantities, and ``MissingFact`` for a date the terms
do not cover. ``dyntrail.core.contracts`` builds the instrument spec and the expiry calendar on
them and re-exports every name here.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


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
        return _WEEKDAY_NUMBERS[self]


_WEEKDAY_NUMBERS = {day: n for n, day in enumerate(Weekday)}  # the definition order


class ExpiryCycle(enum.StrEnum):
    """WEEKLY: every such weekday (and a monthly among them). MONTHLY: monthlies only."""

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


def _check_date(value: object, name: str) -> None:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"{name} {value!r} must be a datetime.date (not a datetime)")


def _positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} {value!r} must be a positive integer")


class MissingFact(ValueError):
    """The spec's terms do not cover ``day``. ``key`` is the spec key that would supply the fact
    (``lot_sizes``, ``expiry_rules`` or ``freeze_qty``); an entry covers ``day`` when its
    ``field`` is on or before ``day``. ``what`` says what is missing ("lot size for the weekly
    contract expiring 2019-01-03")."""

    def __init__(
        self, underlying: str, what: str, key: str, field: str, day: dt.date, first: dt.date
    ) -> None:
        self.underlying = underlying
        self.what = what
        self.key = key
        self.field = field
        self.day = day
        super().__init__(
            f"{underlying} has no {what}: its first {key} entry has {field} {first.isoformat()}"
        )


@dataclass(frozen=True, slots=True)
class ContractLot:
    """The lot size of the weekly contracts expiring on or after ``first_expiry`` and of the
    monthly contracts expiring on or after ``first_monthly_expiry`` (``None``: the same date),
    until the next entry's. Example, NIFTY 25 -> 75 (contracts listed from 2024-11-20): the first
    weekly with 75 expired 2025-01-02, the first monthly 2025-02-27; the 2025-01-30 monthly,
    listed earlier, kept 25."""

    lot_size: int
    first_expiry: dt.date
    first_monthly_expiry: dt.date | None = None

    def __post_init__(self) -> None:
        _positive_int(self.lot_size, "lot_size")
        _check_date(self.first_expiry, "first_expiry")
        if self.first_monthly_expiry is not None:
            _check_date(self.first_monthly_expiry, "first_monthly_expiry")

    @property
    def monthly_from(self) -> dt.date:
        """The first monthly expiry carrying this lot."""
        return self.first_monthly_expiry or self.first_expiry


@dataclass(frozen=True, slots=True)
class DatedFreezeQty:
    """Freeze quantity (units, not lots) in force on trading days from ``from_date`` until the
    next entry's: the largest quantity one order may carry."""

    from_date: dt.date
    freeze_qty: int

    def __post_init__(self) -> None:
        _check_date(self.from_date, "from_date")
        _positive_int(self.freeze_qty, "freeze_qty")


@dataclass(frozen=True, slots=True)
class ExpiryRule:
    """Expiry weekday and cycle in force from ``from_date``.

    - WEEKLY: a contract every ``weekday``; the monthly is the last ``monthly_weekday`` of the
      month (default: ``weekday``). When ``monthly_weekday`` differs there is no weekly in the
      monthly's week (Monday to Sunday): BANKNIFTY from 2023-09-04 had Wednesday weeklies and a
      last-Thursday monthly (2024-01-25, with no weekly on 2024-01-24).
    - MONTHLY: only the last ``weekday`` of each month (``monthly_weekday`` must be unset or equal).

    Which date decides at a change: the *nominal* expiry day (before any holiday shift). A rule
    governs the nominal days on or after its ``from_date`` and before the next rule's. NIFTY's
    Tuesday rule from 2025-09-01: Thursday 2025-08-28 is still a Thursday expiry; the next is
    Tuesday 2025-09-02. A rule that starts mid-month governs that month's monthly only if it
    falls on or after ``from_date``.

    Strings are accepted for the weekdays ("thursday", any case) and ``cycle``.
    """

    from_date: dt.date
    weekday: Weekday
    cycle: ExpiryCycle = ExpiryCycle.WEEKLY
    monthly_weekday: Weekday | None = None

    def __post_init__(self) -> None:
        _check_date(self.from_date, "from_date")
        object.__setattr__(self, "weekday", _coerce(Weekday, self.weekday, "weekday"))
        object.__setattr__(self, "cycle", _coerce(ExpiryCycle, self.cycle, "expiry cycle"))
        if self.monthly_weekday is not None:
            mwd = _coerce(Weekday, self.monthly_weekday, "monthly_weekday")
            object.__setattr__(self, "monthly_weekday", mwd)
            if self.cycle is ExpiryCycle.MONTHLY and mwd is not self.weekday:
                raise ValueError(
                    f"monthly_weekday {mwd.value!r} differs from weekday {self.weekday.value!r} "
                    "in a monthly cycle: leave monthly_weekday out"
                )

    @property
    def monthly_day(self) -> Weekday:
        """The weekday of the monthly contract."""
        return self.monthly_weekday or self.weekday
