"""``Entering`` alone: the strike a gap morning's entry takes, by the quote source's deltas."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any, ClassVar

import pytest
from factories import T0, make_book, make_orders, make_underlying

from dyntrail.core.contract import Contract
from dyntrail.core.contract_terms import MissingFact
from dyntrail.core.options import OptionRight
from dyntrail.data.options_synth import OptionQuote
from dyntrail.engine.catalog import Catalog
from dyntrail.engine.entering import Entering
from dyntrail.instruments import load_instrument

EXPIRY = dt.date(2025, 3, 6)


class Quotes:
    """Quotes at 100/100.5 for every strike, each with ``delta`` (NaN: none); the contracts
    asked for are kept."""

    def __init__(self, delta: float) -> None:
        self.delta = delta
        self.asked: list[float] = []

    def quote(self, contract: Contract, now: dt.datetime, **_: Any) -> OptionQuote:
        assert contract.strike is not None
        self.asked.append(contract.strike)
        return OptionQuote(100.0, 100.5, 100.25, self.delta, 0.001)


class NoDeltas(Quotes):
    deltas: ClassVar[bool] = False  # as live quotes say


def entering(quotes: Quotes) -> Entering:
    p = make_orders()
    underlying = make_underlying(p.run)
    underlying.gap_until = dt.time(9, 45)  # a gap morning
    book = make_book(p.sinks, p.stamps)
    return Entering(
        p.run, p.stamps, p.sinks, p.market, underlying, book, p.orders, quotes,
        Catalog(p.run), None,
    )  # fmt: skip


def strike(quotes: Quotes, close: float) -> float:
    return entering(quotes)._choose_strike(T0, EXPIRY, OptionRight.CE, close, 14.0, 0.01)


def test_a_gap_morning_asks_each_candidate_strike_for_its_delta() -> None:
    quotes = Quotes(0.5)
    assert strike(quotes, 23_512.0) == 23_500.0
    assert len(quotes.asked) > 1  # the candidates around the money


def test_quotes_without_deltas_take_the_atm_at_once_as_asking_would() -> None:
    """A source that says it has no deltas (live ticks) is not asked: the ATM strike, the one
    asking every candidate and finding no delta gives."""
    for close in (23_512.0, 23_488.0, 23_530.0):
        asked, told = Quotes(math.nan), NoDeltas(math.nan)
        assert strike(told, close) == strike(asked, close)
        assert told.asked == [] and len(asked.asked) > 1


def test_the_open_works_out_the_days_expiry_and_leaves_a_missing_fact_to_the_entry() -> None:
    """The session's first bar works out the day's expiry and its lot (the entry then finds
    them); where the contract terms lack the lot (a table that starts later), the open says
    nothing and the entry reports it, as it did before."""
    e = entering(Quotes(0.5))
    e.prepare(T0.date(), T0)
    assert e._expiries == {T0.date(): EXPIRY} and EXPIRY in e.catalog._expiries
    late = load_instrument(
        "NIFTY", {"NIFTY": {"lot_sizes": [{"first_expiry": "2025-06-26", "lot_size": 75}]}}
    )
    e = entering(Quotes(0.5))
    e.run = dataclasses.replace(e.run, spec=late)
    e.catalog = Catalog(e.run)
    e.prepare(T0.date(), T0)  # no error: a day without an entry does not need the lot
    with pytest.raises(MissingFact, match="lot_sizes"):
        e.catalog.option(EXPIRY, 23_500.0, OptionRight.CE)
