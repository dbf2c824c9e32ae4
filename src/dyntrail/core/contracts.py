"""Index option contracts: the facts keyed the way the exchange keys them, and the expiry calendar.

Pure: the exchange calendar comes in as ``trading_days`` (``datetime.date`` values in any order;
they are sorted here). Three kinds of fact, each keyed as NSE keys it:

- **Lot size belongs to the contract.** A revision applies to newly listed contracts; those
  already listed keep their lot until they expire. So a lot is found from the contract's
  *expiry* and whether it is a *weekly* or a *monthly* (``ContractLot``).
- **Expiry rules** (weekday and cycle) are in force from a date (``ExpiryRule``).
- **Freeze quantities** (the largest quantity one order may carry) are in force from a trading
  date (``DatedFreezeQty``).

A date the facts do not cover is a ``MissingFact`` (a ``ValueError``) naming the spec key that
would supply it, never a guess. The value objects live in ``dyntrail.core.contract_terms``;
strikes, time to expiry and the gap-morning strike choice in ``dyntrail.core.strikes``. This
module re-exports both.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from dyntrail.core.contract_terms import (
    ContractLot,
    DatedFreezeQty,
    ExpiryCycle,
    ExpiryRule,
    MissingFact,
    Weekday,
)
from dyntrail.core.strikes import (
    StrikeQuote,
    atm_strike,
    candidate_strikes,
    choose_gap_strike,
    time_to_expiry_years,
)

__all__ = [
    "ContractLot",
    "DatedFreezeQty",
    "ExpiryCycle",
    "ExpiryRule",
    "InstrumentSpec",
    "MissingFact",
    "StrikeQuote",
    "Weekday",
    "atm_strike",
    "candidate_strikes",
    "choose_gap_strike",
    "expiries_between",
    "is_monthly_expiry",
    "next_expiry",
    "next_monthly_expiry",
    "time_to_expiry_years",
]


_Dated = TypeVar("_Dated", DatedFreezeQty, ExpiryRule)


def _positive(value: float, what: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{what} {value!r} must be a finite number > 0")


def _strictly_increasing(dates: Sequence[dt.date], what: str) -> None:
    for a, b in itertools.pairwise(dates):
        if b <= a:
            raise ValueError(
                f"{what} must be strictly increasing: {b.isoformat()} follows {a.isoformat()}"
            )


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """Contract specification of an index's options.

    ``lot_sizes`` (by contract expiry), ``expiry_rules`` and ``freeze_qtys`` (by date) are
    tuples in strictly increasing date order, each with at least one entry.
    """

    underlying: str
    strike_step: float
    tick_size: float
    freeze_qtys: tuple[DatedFreezeQty, ...]
    lot_sizes: tuple[ContractLot, ...]
    expiry_rules: tuple[ExpiryRule, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.underlying, str) or not self.underlying.strip():
            raise ValueError(f"underlying name {self.underlying!r} must be a non-empty string")
        _positive(self.strike_step, "strike_step")
        _positive(self.tick_size, "tick_size")
        u = self.underlying
        for name in ("freeze_qtys", "lot_sizes", "expiry_rules"):
            entries = tuple(getattr(self, name))
            object.__setattr__(self, name, entries)
            if not entries:
                raise ValueError(f"{u} {name} must have at least one entry")
        _strictly_increasing([e.from_date for e in self.freeze_qtys], f"{u} freeze_qty dates")
        _strictly_increasing([e.from_date for e in self.expiry_rules], f"{u} expiry_rules dates")
        _strictly_increasing([e.first_expiry for e in self.lot_sizes], f"{u} first_expiry dates")
        monthly = [e.monthly_from for e in self.lot_sizes]
        _strictly_increasing(monthly, f"{u} first_monthly_expiry dates")

    def contract_lot(self, expiry: dt.date, *, monthly: bool) -> int:
        """Lot size of the weekly (or ``monthly``) contract expiring on ``expiry``: the entry
        with the latest ``first_expiry`` (``first_monthly_expiry``) on or before ``expiry``."""
        field = "first_monthly_expiry" if monthly else "first_expiry"
        starts = [e.monthly_from if monthly else e.first_expiry for e in self.lot_sizes]
        i = bisect.bisect_right(starts, expiry)
        if i == 0:
            kind = "monthly" if monthly else "weekly"
            what = f"lot size for the {kind} contract expiring {expiry.isoformat()}"
            raise MissingFact(self.underlying, what, "lot_sizes", field, expiry, starts[0])
        return self.lot_sizes[i - 1].lot_size

    def lot_size_for(self, expiry: dt.date, trading_days: Iterable[dt.date]) -> int:
        """Lot size of the contract expiring on ``expiry`` (a holiday-shifted expiry day of this
        spec). Whether it is the monthly follows ``is_monthly_expiry``."""
        monthly = is_monthly_expiry(self, expiry, trading_days)
        return self.contract_lot(expiry, monthly=monthly)

    def futures_lot_size_on(self, day: dt.date) -> int:
        """Lot size of the near-month futures contract on trading day ``day``: that of the
        monthly expiring on or after ``day`` (futures expire with the monthly options). No
        calendar is needed: on a trading day a holiday shift cannot change which monthly that
        is, nor its lot."""
        nominal = next(d for d, monthly in _nominal_expiries(self, day) if monthly)
        return self.contract_lot(nominal, monthly=True)

    def freeze_qty_on(self, day: dt.date) -> int:
        """Freeze quantity on trading day ``day``: an order above it must be split."""
        return self._dated(self.freeze_qtys, day, "freeze quantity", "freeze_qty").freeze_qty

    def expiry_rule_on(self, day: dt.date) -> ExpiryRule:
        """Expiry rule in force on nominal expiry day ``day``."""
        return self._dated(self.expiry_rules, day, "expiry rule", "expiry_rules")

    def _dated(self, entries: Sequence[_Dated], day: dt.date, what: str, key: str) -> _Dated:
        i = bisect.bisect_right([e.from_date for e in entries], day)
        if i == 0:
            what_on = f"{what} on {day.isoformat()}"
            raise MissingFact(self.underlying, what_on, key, "from", day, entries[0].from_date)
        return entries[i - 1]


# --------------------------------------------------------------------------- expiry calendar


def _last_weekday_of_month(year: int, month: int, weekday: int) -> dt.date:
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    last = first_next - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _week_start(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday())


@functools.lru_cache(maxsize=1024)
def _month_dates(rule: ExpiryRule, year: int, month: int) -> tuple[tuple[dt.date, bool], ...]:
    """(nominal expiry, is the monthly) of one rule in one calendar month, ascending. A rule
    and a month always give the same dates, and a run asks for the same months day after day
    (the futures' lot, the next expiry): each is worked out once."""
    monthly = _last_weekday_of_month(year, month, rule.monthly_day.number)
    if rule.cycle is ExpiryCycle.MONTHLY:
        return ((monthly, True),)
    first = dt.date(year, month, 1)
    d = first + dt.timedelta(days=(rule.weekday.number - first.weekday()) % 7)
    weekly = []
    while d.month == month:
        weekly.append(d)
        d += dt.timedelta(days=7)
    if rule.monthly_day is rule.weekday:
        return tuple((w, w == monthly) for w in weekly)
    prev_year, prev_month = (year - 1, 12) if month == 1 else (year, month - 1)
    prev = _last_weekday_of_month(prev_year, prev_month, rule.monthly_day.number)
    taken = {_week_start(monthly), _week_start(prev)}  # no weekly in a monthly's week
    out = [(w, False) for w in weekly if _week_start(w) not in taken] + [(monthly, True)]
    return tuple(sorted(out))


def _rule_dates(rule: ExpiryRule, start: dt.date) -> Iterator[tuple[dt.date, bool]]:
    """(nominal expiry, is the monthly) of one rule on or after ``start``, without end."""
    year, month = start.year, start.month
    while True:
        for d, monthly in _month_dates(rule, year, month):
            if d >= start:
                yield d, monthly
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _nominal_expiries(spec: InstrumentSpec, start: dt.date) -> Iterator[tuple[dt.date, bool]]:
    """(nominal expiry, is the monthly) on or after ``start``, ascending. Each day comes from
    the rule in force on that day, so a change takes effect from its first expiry on or after
    the new ``from_date``."""
    rules = spec.expiry_rules
    first = rules.index(spec.expiry_rule_on(start))
    for i in range(first, len(rules)):
        seg_end = rules[i + 1].from_date if i + 1 < len(rules) else None
        for d, monthly in _rule_dates(rules[i], max(start, rules[i].from_date)):
            if seg_end is not None and d >= seg_end:
                break
            yield d, monthly


def _sorted_days(trading_days: Iterable[dt.date]) -> list[dt.date]:
    if isinstance(trading_days, list) and all(map(operator.lt, trading_days, trading_days[1:])):
        days = list(trading_days)  # ascending and distinct already (a run's calendar): as sorted
    else:
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
    - ``start`` before the first expiry rule is a ``MissingFact``.
    """
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    days = _sorted_days(trading_days)
    out: list[dt.date] = []
    for nominal, _ in _nominal_expiries(spec, start):
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
    for nominal, _ in _nominal_expiries(spec, on_date):
        expiry = _shift_to_trading_day(nominal, days)
        if (expiry - on_date).days >= min_days:
            return expiry
    raise RuntimeError("unreachable: _nominal_expiries never ends")  # pragma: no cover


def next_monthly_expiry(
    spec: InstrumentSpec, on_date: dt.date, trading_days: Iterable[dt.date]
) -> dt.date:
    """The first monthly expiry (holiday-shifted) on or after ``on_date``."""
    days = _sorted_days(trading_days)
    for nominal, monthly in _nominal_expiries(spec, on_date):
        if monthly and (expiry := _shift_to_trading_day(nominal, days)) >= on_date:
            return expiry
    raise RuntimeError("unreachable: _nominal_expiries never ends")  # pragma: no cover


def is_monthly_expiry(
    spec: InstrumentSpec, expiry: dt.date, trading_days: Iterable[dt.date]
) -> bool:
    """Whether the contract expiring on ``expiry`` is the monthly: its nominal day is the last
    ``monthly_weekday`` of the month under the rule in force (holiday shifts keep it monthly; in
    a monthly-only cycle every expiry is monthly). An ``expiry`` that is not an expiry day of
    this spec is a ValueError."""
    days = _sorted_days(trading_days)
    after = bisect.bisect_right(days, expiry)  # the first trading day after ``expiry``, if any
    found: list[bool] = []
    for nominal, monthly in _nominal_expiries(spec, expiry):
        if nominal > expiry and (after == len(days) or days[after] <= nominal):
            break  # this and later nominal days land after ``expiry`` (or cannot be known)
        if _shift_to_trading_day(nominal, days) == expiry:
            found.append(monthly)
    if not found:
        raise ValueError(f"{expiry.isoformat()} is not a {spec.underlying} expiry day")
    return any(found)
