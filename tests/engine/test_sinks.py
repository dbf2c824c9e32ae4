"""The engine's fan-out of events: each route takes the kinds it asked for, in the routes'
order."""

from __future__ import annotations

from factories import Collector, make_sinks

from dyntrail.core.events import DayEnd, DayStart, Equity, Event, KillSwitch, StopMoved
from dyntrail.engine.ports import Route, Sinks

TS = "2025-03-03T09:16:00+05:30"
DAY_END = DayEnd(ts=TS, realized=0.0, equity=1.0, trades=0)
EQUITY = Equity(ts=TS, equity=1.0, realized=0.0, unrealized=0.0)
STOP = StopMoved(ts=TS, trade_id=1, level=1.0, reason="trail")


def _nothing(ev: Event) -> None:
    return None


def test_route_only_and_without() -> None:
    everything = Route(_nothing)
    kinds: list[type[Event]] = [Equity, DayEnd]
    two = frozenset(kinds)
    only = Route(_nothing, only=two)
    without = Route(_nothing, without=frozenset({Equity}))
    both = Route(_nothing, only=two, without=frozenset({Equity}))
    assert everything.takes(Equity) and everything.takes(StopMoved)
    assert only.takes(Equity) and only.takes(DayEnd) and not only.takes(StopMoved)
    assert not without.takes(Equity) and without.takes(StopMoved)
    assert both.takes(DayEnd) and not both.takes(Equity) and not both.takes(StopMoved)


def test_sinks_deliver_only_what_each_route_takes() -> None:
    sinks, got = make_sinks(only=frozenset({DayEnd}))
    for ev in (EQUITY, DAY_END, STOP, DAY_END):
        sinks.emit(ev)
    assert got.events == [DAY_END, DAY_END]

    sinks, got = make_sinks(without=frozenset({Equity}))
    for ev in (EQUITY, DAY_END, EQUITY, STOP):
        sinks.emit(ev)
    assert got.events == [DAY_END, STOP]


def test_wants_says_whether_anyone_takes_a_kind() -> None:
    assert not Sinks().wants(Equity)
    sinks, _ = make_sinks(without=frozenset({Equity}))
    assert not sinks.wants(Equity)
    assert sinks.wants(DayEnd)
    # a second route that takes it is enough
    keeper = Collector()
    sinks = Sinks([Route(_nothing, without=frozenset({Equity})), Route(keeper)])
    assert sinks.wants(Equity)
    sinks.emit(EQUITY)
    assert keeper.events == [EQUITY]


def test_delivery_follows_the_routes_order_for_every_event() -> None:
    seen: list[tuple[str, str]] = []
    sinks = Sinks(
        [
            Route(lambda ev: seen.append(("journal", ev.kind))),
            Route(lambda ev: seen.append(("rows", ev.kind)), only=frozenset({DayEnd, DayStart})),
            Route(lambda ev: seen.append(("view", ev.kind)), without=frozenset({Equity})),
        ]
    )
    sinks.emit(EQUITY)
    sinks.emit(DAY_END)
    sinks.emit(KillSwitch(ts=TS, reason="x"))
    sinks.emit(DAY_END)
    assert seen == [
        ("journal", "equity"),
        ("journal", "day_end"),
        ("rows", "day_end"),
        ("view", "day_end"),
        ("journal", "kill_switch"),
        ("view", "kill_switch"),
        ("journal", "day_end"),
        ("rows", "day_end"),
        ("view", "day_end"),
    ]


def test_the_equity_writer_is_emit_of_an_equity_event() -> None:
    """A walk of bars marks through ``equity_writer``: the routes get what ``emit`` of the
    event gives them, values where every taker takes values, events where one does not."""
    values: list[tuple[str | None, float, float, float]] = []

    def take_values(ts: str | None, equity: float, realized: float, unreal: float) -> None:
        values.append((ts, equity, realized, unreal))

    row = (TS, 1.0, 0.0, 0.0)
    keeper = Collector()
    other = Collector()
    # one route, with values: its own function, no event made
    sinks = Sinks(
        [Route(_nothing, without=frozenset({Equity})), Route(keeper, equity_values=take_values)]
    )
    sinks.equity_writer()(*row)
    assert values == [row] and keeper.events == []
    # two routes with values: both, in order
    seen: list[str] = []
    sinks = Sinks(
        [
            Route(keeper, equity_values=lambda *v: seen.append("a")),
            Route(keeper, equity_values=lambda *v: seen.append("b")),
        ]
    )
    sinks.equity_writer()(*row)
    assert seen == ["a", "b"] and keeper.events == []
    # a route without values: everyone gets the event, as from ``emit``
    values.clear()
    sinks = Sinks([Route(keeper, equity_values=take_values), Route(other)])
    sinks.equity_writer()(*row)
    assert values == [] and keeper.events == [EQUITY] and other.events == [EQUITY]
    assert Sinks([Route(_nothing, only=frozenset({DayEnd}))]).equity_writer()(*row) is None
