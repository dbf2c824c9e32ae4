"""Orders, the only part that talks to the broker, built alone with a zero-latency paper broker:
journaled before sent, tags never reused, freeze-quantity parts, the risk gate's word, updates
handed on, and its saved state. (Named apart from ``tests/execution/test_orders.py``.)"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from factories import DAY, FREEZE, LOT, Parts, at, make_orders, make_trade

from dyntrail.core.events import BrokerUpdate, Event, OrderRefused, OrderSent
from dyntrail.core.order_pricing import OrderSide, freeze_slices
from dyntrail.engine.ports import Route
from dyntrail.execution.broker import BrokerEvent, BrokerEventKind
from dyntrail.execution.orders import Order, OrderState
from dyntrail.execution.tags import BrokerOrderId, ClientTag

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def _send(p: Parts, tr, action="entry", side=BUY, qty=LOT, bid=99.5, ask=100.5, t=None,  # type: ignore[no-untyped-def]
          attempt=1):  # fmt: skip
    p.orders.send(tr, action, side, qty, 100.0, 23500.0, t or at(0), attempt, bid, ask)


def _updates(p: Parts) -> list[tuple[str, Order, dt.datetime]]:
    seen: list[tuple[str, Order, dt.datetime]] = []
    p.orders.on_update = lambda order, now: seen.append((order.state.value, order, now))
    return seen


def test_send_journals_the_order_before_the_broker_has_it() -> None:
    on_book_at_journal: list[set[str]] = []
    holder: list[Parts] = []

    def journal(ev: Event) -> None:
        if isinstance(ev, OrderSent):
            on_book_at_journal.append({row.tag for row in holder[0].broker.order_book()})

    p = make_orders(extra=[Route(journal)])
    holder.append(p)
    seen = _updates(p)
    tr = make_trade(1, run=p.run, filled=False)
    _send(p, tr)
    (sent,) = p.got.of(OrderSent)
    assert sent.tag == "D250303P01E1"
    assert on_book_at_journal == [set()]  # journaled while the broker had nothing
    assert {row.tag for row in p.broker.order_book()} == {sent.tag}
    assert p.got.kinds()[0] == "order"  # every broker update comes after the intent
    assert [u.event for u in p.got.of(BrokerUpdate)] == ["ack", "fill"]
    # a marketable limit: at least the ask plus the cushion (2 ticks)
    assert sent.limit == pytest.approx(100.6)
    assert (sent.bid, sent.ask, sent.side, sent.qty) == (99.5, 100.5, "buy", LOT)
    assert (sent.decision_price, sent.underlying) == (100.0, 23500.0)
    assert p.market.quotes_now[tr.instrument] == (99.5, 100.5)
    assert tr.legs == 1
    # the fill is handed on, at the ask
    state, order, _ = seen[-1]
    assert state == "filled" and order.fills and next(iter(order.fills.values())).price == 100.5


def test_a_sell_is_priced_at_or_below_the_bid() -> None:
    p = make_orders()
    tr = make_trade(1, run=p.run)
    _send(p, tr, "exit_stop", SELL, bid=90.0, ask=91.0)
    (sent,) = p.got.of(OrderSent)
    assert sent.limit == pytest.approx(89.9)
    assert sent.tag == "D250303P01S1"


def test_the_same_rule_sent_again_gets_a_new_attempt() -> None:
    p = make_orders()
    tr = make_trade(12, run=p.run)
    _send(p, tr, "exit_stop", SELL, qty=LOT)
    _send(p, tr, "exit_stop", SELL, qty=LOT, t=at(1))
    first, second = p.got.of(OrderSent)
    assert first.tag == "D250303P12S1" and first.attempt == 1
    assert second.tag == "D250303P12S2" and second.attempt == 2
    assert len(p.orders.live) == 2  # on_update (none here) settles nothing: both kept
    p.orders.settled(p.orders.live[first.tag])
    _send(p, tr, "exit_stop", SELL, t=at(2))
    assert p.got.of(OrderSent)[-1].tag == "D250303P12S3"  # a settled tag is not reused either


def test_freeze_slices() -> None:
    assert freeze_slices(LOT, FREEZE, LOT) == [LOT]
    assert freeze_slices(FREEZE, FREEZE, LOT) == [FREEZE]
    assert freeze_slices(2 * FREEZE + LOT, FREEZE, LOT) == [FREEZE, FREEZE, LOT]
    assert freeze_slices(200, 90, 25) == [75, 75, 50]  # whole lots, none above the freeze
    for qty, freeze, lot in ((4500, 1800, 75), (1000, 900, 50), (650, 100, 65)):
        parts = freeze_slices(qty, freeze, lot)
        assert sum(parts) == qty
        assert all(q <= freeze and q % lot == 0 for q in parts)


def test_an_order_above_the_freeze_quantity_goes_out_in_parts() -> None:
    p = make_orders()
    qty = 2 * FREEZE + LOT
    tr = make_trade(3, run=p.run, filled=False, qty=qty)
    _send(p, tr, qty=qty)
    sent = p.got.of(OrderSent)
    assert [(s.tag, s.qty) for s in sent] == [
        ("D250303P03E1Q1", FREEZE),
        ("D250303P03E1Q2", FREEZE),
        ("D250303P03E1Q3", LOT),
    ]
    assert {row.tag for row in p.broker.order_book()} == {s.tag for s in sent}
    assert tr.legs == 3
    assert p.broker.positions() == {tr.instrument: qty}


def test_a_halted_gate_refuses_an_entry_but_lets_an_exit_out() -> None:
    p = make_orders()
    p.risk.halt_on_loss(at(0), -50_000.0)
    p.risk.update(at(0), [])
    tr = make_trade(5, run=p.run)
    _send(p, tr, "entry", BUY)
    (refused,) = p.got.of(OrderRefused)
    assert refused.tag == "D250303P05E1" and "halted" in refused.reason
    assert p.got.of(OrderSent) == [] and p.broker.order_book() == []
    assert p.orders.live == {} and tr.legs == 0
    _send(p, tr, "exit_risk", SELL, t=at(1))
    (sent,) = p.got.of(OrderSent)
    assert sent.action == "exit_risk"
    assert [row.tag for row in p.broker.order_book()] == [sent.tag]


def test_pump_hands_each_update_to_on_update() -> None:
    p = make_orders()
    seen = _updates(p)
    tr = make_trade(1, run=p.run, filled=False)
    _send(p, tr, bid=99.5, ask=0.0)  # no ask: nothing to buy from yet
    (sent,) = p.got.of(OrderSent)
    assert sent.limit == pytest.approx(100.1)  # the mapped price plus the cushion
    assert [s for s, _, _ in seen] == ["acked"]
    assert p.orders.unresolved() == []
    p.orders.pump(at(1))  # still no ask: nothing happens
    assert len(seen) == 1
    p.market.quotes_now[tr.instrument] = (99.9, 100.05)
    p.orders.pump(at(2))
    assert [(s, now) for s, _, now in seen[1:]] == [("filled", at(2))]
    order = seen[-1][1]
    assert order.filled_qty == LOT and next(iter(order.fills.values())).price == 100.05
    assert p.orders.clock == at(2)


def test_pump_without_live_orders_does_not_ask_the_broker() -> None:
    p = make_orders()
    p.orders.pump(at(5))
    assert p.broker.clock is None


def test_state_round_trip() -> None:
    p = make_orders()
    tr = make_trade(1, run=p.run, filled=False)
    _send(p, tr, bid=99.5, ask=0.0)  # acked and working
    tr2 = make_trade(2, run=p.run)
    _send(p, tr2, "exit_stop", SELL, t=at(1))  # filled
    p.orders.settled(p.orders.live["D250303P02S1"])
    saved = json.loads(json.dumps(p.orders.state()))
    q = make_orders()
    q.orders.restore(saved, at(2))
    assert q.orders.state() == p.orders.state()
    assert q.orders.live["D250303P01E1"].state is OrderState.ACKED
    assert list(q.orders.done) == ["D250303P02S1"]
    assert q.orders.of_trade(1)[0].tag == "D250303P01E1"
    assert q.orders.unresolved() == []
    # the tags it knows are not sent again
    _send(q, make_trade(2, run=q.run), "exit_stop", SELL, t=at(3))
    assert q.got.of(OrderSent)[-1].tag == "D250303P02S2"


def test_a_restored_order_never_acknowledged_is_unresolved() -> None:
    p = make_orders()
    tr = make_trade(1, run=p.run, filled=False)
    _send(p, tr, bid=99.5, ask=0.0)
    saved = p.orders.state()
    saved["live"]["D250303P01E1"] = Order(p.orders.live["D250303P01E1"].intent).to_dict()
    q = make_orders()
    q.orders.restore(saved, dt.datetime.combine(DAY, dt.time(10)))
    assert q.orders.unresolved() == ["D250303P01E1"]  # only the broker's book can say


def test_a_new_day_forgets_earlier_days_settled_orders_and_a_stray_fill_is_flagged() -> None:
    """The saved state holds one day's settled orders (a tag carries its day: none can be made
    again); an update that still arrives for a forgotten order is an orphan, and if it is a fill
    the risk gate is flagged for the operator."""
    import datetime as dt

    from dyntrail.core.events import OrphanEvent

    p = make_orders()
    tr = make_trade(2, run=p.run)
    _send(p, tr, "exit_stop", SELL, t=at(1))  # filled at once
    p.orders.settled(p.orders.live["D250303P02S1"])
    p.orders.new_day(DAY)
    assert list(p.orders.done) == ["D250303P02S1"]  # today's stay
    p.orders.new_day(DAY + dt.timedelta(days=1))
    assert p.orders.done == {} and "D250303P02S1" not in json.dumps(p.orders.state())
    # a fill the broker still reports for it: journaled, not booked, flagged
    tr3 = make_trade(3, run=p.run, filled=False)
    _send(p, tr3, bid=99.5, ask=0.0)  # a working order: the broker is polled
    stray = BrokerEvent(
        BrokerEventKind.FILL,
        ClientTag("D250303P02S1"),
        at(3),
        BrokerOrderId("PB000009"),
        "F9",
        LOT,
        100.0,
    )
    p.broker.on_market = lambda now, quotes: [stray]  # type: ignore[method-assign]
    p.orders.pump(at(3))
    assert [e.tag for e in p.got.of(OrphanEvent)] == ["D250303P02S1"]
    assert any("D250303P02S1" in f for f in p.risk.flags.values())
