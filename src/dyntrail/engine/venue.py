"""One underlying's side of the engine: its facts, its market state, its option quotes and the
parts that trade it (entries, exits, the session's close). A run has one venue per index it
trades; they share the account's parts (book, risk gate, orders) and the India VIX regime."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from dyntrail.core.config import InstrumentSection
from dyntrail.core.contracts import InstrumentSpec
from dyntrail.core.features import Features
from dyntrail.engine.backstop import Backstop
from dyntrail.engine.book import Book
from dyntrail.engine.catalog import Catalog
from dyntrail.engine.closing import Closing
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.entering import Entering
from dyntrail.engine.exiting import Exiting
from dyntrail.engine.market import Market, Underlying
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import QuoteSource, Sinks
from dyntrail.engine.pricing import Mapping


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """What a runner hands the engine for one more underlying: its ``[[instruments]]`` section,
    contract spec, features and option quotes."""

    instrument: InstrumentSection
    spec: InstrumentSpec
    features: Features
    quotes: QuoteSource


class Venue:
    """One underlying's parts (see the module docstring)."""

    def __init__(
        self,
        run: Run,
        stamps: Stamps,
        sinks: Sinks,
        market: Market,
        book: Book,
        orders: Orders,
        features: Features,
        quotes: QuoteSource,
        signals: Sequence[int] | None,
    ) -> None:
        self.run = run
        self.name = run.spec.underlying
        u = self.underlying = Underlying(run, features)
        self.mapping = Mapping(run)
        cat = self.catalog = Catalog(run)
        self.entering = Entering(run, stamps, sinks, market, u, book, orders, quotes, cat, signals)
        self.exiting = Exiting(
            run, stamps, sinks, market, u, book, orders, quotes, cat, self.mapping
        )
        self.closing = Closing(run, stamps, sinks, u, book, orders)
        self.backstop = (
            Backstop(
                run, stamps, sinks, market, book, orders, quotes, cat, self.mapping, self.exiting
            )
            if run.cfg.backstop.enabled
            else None
        )
        self.day: dt.date | None = None  # the last session it had a bar in
