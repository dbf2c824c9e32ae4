"""What the engine is plugged into: quotes, observers, the broker.

- ``QuoteSource``: option quotes keyed by contract and time (recorded data, the pricing model, or
  a live feed), never later than the time asked: ``quote(contract, now, ...)``.
- ``EventSink``: anything that takes the engine's typed events (the journal, the equity curve,
  the run's tables, a live view). ``Sinks`` fans each event out to the sinks that take its kind.
- ``Clock``: when the next bar is due (``dyntrail.runners.drive.Pacing`` in paper).
- ``Broker``: the execution layer's broker protocol (limit and stop-limit orders, modify,
  cancel, the order book), re-exported here so the engine's ports are one import.
- The market's events come from the runner's feed (``dyntrail.runners.drive``): closed bars of
  the underlying with the India VIX known at each close.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dyntrail.core.contract import Contract
from dyntrail.core.events import Equity, Event
from dyntrail.execution.broker import Broker

__all__ = [
    "Broker",
    "Clock",
    "EventSink",
    "LastSource",
    "Quote",
    "QuoteSource",
    "Route",
    "Sinks",
]


class Quote(Protocol):
    """An option quote: ``bid`` 0 means no bid; ``delta`` may be NaN (unknown)."""

    @property
    def bid(self) -> float: ...
    @property
    def ask(self) -> float: ...
    @property
    def last(self) -> float: ...
    @property
    def delta(self) -> float: ...


class QuoteSource(Protocol):
    """Option quotes by contract and time: the quote of ``contract`` as of ``now`` (nothing
    later than ``now``), or None when it has none then. ``spot``, ``vix`` and ``t_years`` are the
    market the engine assumes at ``now`` (for an exit, the underlying at the trigger): a pricing
    model quotes from them; recorded or live quotes ignore them. A source whose quotes never
    carry a delta may say so with a ``deltas = False`` attribute: the choice of a gap morning's
    strike, which needs deltas, then takes the ATM strike at once, as it would after asking."""

    def quote(
        self, contract: Contract, now: dt.datetime, *, spot: float, vix: float, t_years: float
    ) -> Quote | None: ...


class LastSource(Protocol):
    """A ``QuoteSource`` that may also give a quote's ``last`` alone, cheaper (a position's
    mark on every bar): ``last(...)`` is ``quote(...).last`` with the same arguments, the same
    float, None exactly when ``quote`` is None, and the same errors."""

    def last(
        self, contract: Contract, now: dt.datetime, *, spot: float, vix: float, t_years: float
    ) -> float | None: ...


class LastFnSource(Protocol):
    """A ``LastSource`` that also gives one contract's ``last`` as a function of ``(spot,
    t_years, vix)`` (``t_years >= 0``, as ``Run.tte`` gives it): the same float and errors as
    ``last``, with the contract bound once (a position's mark over a walk of bars); None when
    the contract has no quote from it."""

    def last_fn(self, contract: Contract) -> Callable[[float, float, float], float] | None: ...


class Clock(Protocol):
    """The market's clock as a runner keeps it: ``wait`` returns when the next bar is due (at
    once in a backtest; a bar's time, scaled, in paper; the exchange's minute, live)."""

    def wait(self) -> None: ...


class EventSink(Protocol):
    """An observer of the engine's events."""

    def emit(self, ev: Event) -> object: ...


@dataclass(frozen=True, slots=True)
class Route:
    """One sink and the kinds it takes: ``only`` these classes (None: all) and never those in
    ``without``."""

    # takes the events of its kinds (typed as the sink's own: only those ever reach it)
    emit: Callable[[Any], object]
    only: frozenset[type[Event]] | None = None
    without: frozenset[type[Event]] = field(default_factory=frozenset)
    # what ``emit`` does with an ``Equity`` event, given its values (ts, equity, realized,
    # unrealized) instead: a walk of bars marks each bar without making an event
    equity_values: Callable[[str, float, float, float], object] | None = None

    def takes(self, cls: type[Event]) -> bool:
        return (self.only is None or cls in self.only) and cls not in self.without


class Sinks:
    """The one fan-out list of observers: each event goes to every route that takes its kind,
    in the routes' order (the journal first, so an event is on disk before anyone acts on it)."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes = tuple(routes)
        self._by_kind: dict[type[Event], tuple[Callable[[Any], object], ...]] = {}

    def add(self, route: Route) -> None:
        """One more route, after the others (a part of the engine that follows events)."""
        self._routes = (*self._routes, route)
        self._by_kind.clear()

    def wants(self, cls: type[Event]) -> bool:
        """True when some sink takes events of ``cls`` (otherwise they need not be made)."""
        return bool(self._targets(cls))

    def targets(self, cls: type[Event]) -> tuple[Callable[[Any], object], ...]:
        """What ``emit`` calls for an event of ``cls``, in order (for a loop that emits many
        of one kind; valid until the next ``add``)."""
        return self._targets(cls)

    def equity_writer(self) -> Callable[[str, float, float, float], None]:
        """``emit`` of ``Equity(ts=, equity=, realized=, unrealized=)`` as a function of the
        four values: when every route that takes ``Equity`` takes the values too
        (``Route.equity_values``), no event is made (valid until the next ``add``)."""
        routes = [r for r in self._routes if r.takes(Equity)]
        values = tuple(r.equity_values for r in routes if r.equity_values is not None)
        if len(values) == len(routes) == 1:
            return values[0]  # type: ignore[return-value]  # (what it returns is dropped)
        if len(values) == len(routes):

            def write_values(ts: str, equity: float, realized: float, unreal: float) -> None:
                for fn in values:
                    fn(ts, equity, realized, unreal)

            return write_values
        targets = self._targets(Equity)

        def write(ts: str, equity: float, realized: float, unrealized: float) -> None:
            ev = Equity(ts=ts, equity=equity, realized=realized, unrealized=unrealized)
            for fn in targets:
                fn(ev)

        return write

    def emit(self, ev: Event) -> None:
        targets = self._by_kind.get(type(ev))
        if targets is None:
            targets = self._targets(type(ev))
        for fn in targets:
            fn(ev)

    def _targets(self, cls: type[Event]) -> tuple[Callable[[Any], object], ...]:
        targets = self._by_kind.get(cls)
        if targets is None:
            targets = self._by_kind[cls] = tuple(r.emit for r in self._routes if r.takes(cls))
        return targets
