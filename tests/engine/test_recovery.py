"""Recovery's check at a live session's close (``Recovery.reconcile_close``), built alone on a
zero-latency paper broker: the broker's positions and book held against the journal's, both
sides journaled, and only what differs flagged, once."""

from __future__ import annotations

from factories import LOT, Parts, at, make_book, make_orders, make_trade

from dyntrail.core.events import CloseReconciled
from dyntrail.core.order_pricing import OrderSide
from dyntrail.engine.recovery import Recovery
from dyntrail.execution.broker import Disconnected
from dyntrail.execution.orders import OrderIntent
from dyntrail.execution.paper import FaultProfile, PaperBroker

INSTRUMENT = "NIFTY25MAR23500CE"


def _parts(broker: PaperBroker | None = None) -> tuple[Parts, Recovery]:
    p = make_orders(broker=broker)
    book = make_book(p.sinks, p.stamps)
    return p, Recovery(p.stamps, p.sinks, book, p.orders, p.risk)


def _held_through_the_engine(p: Parts, rec: Recovery) -> None:
    """A long option of one lot, bought through ``Orders`` and open in the book."""
    tr = make_trade(1, run=p.run, filled=False, instrument=INSTRUMENT)
    rec.book.add(tr)
    p.orders.send(tr, "entry", OrderSide.BUY, LOT, 100.0, 23500.0, at(0), 1, 99.5, 100.5)
    p.orders.pump(at(0.1))
    (order,) = p.orders.live.values()
    assert order.filled_qty == LOT
    p.orders.settled(order)  # the fill booked, as the engine's fills part does
    tr.position.qty = LOT


def _placed_by_hand(p: Parts, tag: str) -> None:
    """An order of ours at the broker that the journal never saw (sent by a process that died
    before journaling it, say): filled at once on the ideal exchange."""
    p.broker.place(
        OrderIntent(tag, 9, 1, "entry", OrderSide.BUY, LOT, 101.0, 100.0, INSTRUMENT, at(1)),
        at(1),
    )
    p.broker.on_market(at(1.1), lambda _: (99.5, 100.5))


def test_a_close_where_broker_and_journal_agree_raises_nothing() -> None:
    p, rec = _parts()
    _held_through_the_engine(p, rec)
    assert rec.reconcile_close(at(5)) == []
    (ev,) = p.got.of(CloseReconciled)
    assert (ev.broker, ev.journal, ev.flags) == ({INSTRUMENT: LOT}, {INSTRUMENT: LOT}, [])
    assert p.risk.flags == {}


def test_a_close_flags_a_position_and_an_order_the_journal_lacks_once() -> None:
    p, rec = _parts()
    _held_through_the_engine(p, rec)
    _placed_by_hand(p, "D250303P09E1")
    raised = rec.reconcile_close(at(5))
    assert raised == [
        "F1 order D250303P09E1 on the broker's book was never journaled",
        f"F2 position {INSTRUMENT}: broker {2 * LOT}, journal {LOT}",
    ]
    (ev,) = p.got.of(CloseReconciled)
    assert (ev.broker, ev.journal, ev.flags) == ({INSTRUMENT: 2 * LOT}, {INSTRUMENT: LOT}, raised)
    # a second look (a restart after the close) raises nothing new: the same words stand
    assert rec.reconcile_close(at(6)) == []
    assert len(p.risk.flags) == 2


def test_a_broker_that_cannot_answer_at_the_close_is_flagged_not_compared() -> None:
    class Unreachable(PaperBroker):
        def positions(self) -> dict[str, int]:
            raise Disconnected("link down")

    p, rec = _parts(Unreachable(FaultProfile.none(), 0))
    _held_through_the_engine(p, rec)
    raised = rec.reconcile_close(at(5))
    assert raised == ["F1 broker unreachable at the close: positions not compared"]
    (ev,) = p.got.of(CloseReconciled)
    assert (ev.broker, ev.journal) == ({}, {})
