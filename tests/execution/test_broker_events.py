"""How broker updates and book rows reach an order (``apply_event``, ``sync_with_book``): late,
lost, duplicated and reordered updates, and a stop-limit's trigger among them."""

from __future__ import annotations

import math

import pytest
from order_factories import TAG, at, order_in

from dyntrail.core.order_pricing import OrderSide
from dyntrail.execution.broker import (
    BookFill,
    BrokerEvent,
    BrokerEventKind,
    BrokerOrder,
    apply_event,
    sync_with_book,
)
from dyntrail.execution.orders import BrokerOrderId, InvalidTransition, OrderState, OrderType

# -- broker events and book rows ------------------------------------------------------------------


def event(kind: BrokerEventKind, seconds: float, **kw: object) -> BrokerEvent:
    return BrokerEvent(kind, TAG, at(seconds), BrokerOrderId("PB000001"), **kw)  # type: ignore[arg-type]


def fill_event(fill_id: str, qty: int, seconds: float = 2) -> BrokerEvent:
    return event(BrokerEventKind.FILL, seconds, fill_id=fill_id, qty=qty, price=100.5)


def test_apply_event_tolerates_a_fill_before_its_ack_and_duplicates() -> None:
    order = order_in(OrderState.SUBMITTED)
    assert apply_event(order, fill_event("F1", 75))
    assert order.state is OrderState.FILLED and order.broker_order_id == "PB000001"
    assert not apply_event(order, event(BrokerEventKind.ACK, 1))  # late ack
    assert not apply_event(order, fill_event("F1", 75))  # duplicate
    assert order.state is OrderState.FILLED and order.filled_qty == 75


def test_apply_event_resolves_an_unknown_order() -> None:
    order = order_in(OrderState.UNKNOWN)
    assert apply_event(order, event(BrokerEventKind.ACK, 3))
    assert order.state is OrderState.ACKED
    assert [h.kind for h in order.history][-2:] == ["resolve", "ack"]


def test_apply_event_ignores_a_repeated_terminal_event_but_refuses_nonsense() -> None:
    order = order_in(OrderState.ACKED)
    assert apply_event(order, event(BrokerEventKind.CANCELLED, 4))
    assert not apply_event(order, event(BrokerEventKind.CANCELLED, 4))
    assert apply_event(order, fill_event("F9", 5))  # a fill reported after the cancel counts
    assert order.state is OrderState.CANCELLED
    rejected = order_in(OrderState.REJECTED)
    with pytest.raises(InvalidTransition):
        apply_event(rejected, fill_event("F9", 5))
    with pytest.raises(ValueError, match="fill_id"):
        event(BrokerEventKind.FILL, 1, qty=5, price=1.0)


def row(state: OrderState, fills: tuple[BookFill, ...] = (), reason: str = "") -> BrokerOrder:
    filled = sum(f.qty for f in fills)
    avg = math.fsum(f.qty * f.price for f in fills) / filled if filled else 0.0
    return BrokerOrder(
        TAG,
        BrokerOrderId("PB000001"),
        "NIFTY25JAN24000CE",
        OrderSide.BUY,
        75,
        101.5,
        state,
        filled,
        avg,
        fills,
        reason,
    )


@pytest.mark.parametrize(
    "truth",
    [
        row(OrderState.SUBMITTED),
        row(OrderState.ACKED),
        row(OrderState.PARTIALLY_FILLED, (BookFill("F1", 25, 100.5, at(2)),)),
        row(OrderState.FILLED, (BookFill("F1", 25, 100.5, at(2)), BookFill("F2", 50, 101, at(3)))),
        row(OrderState.CANCELLED, (BookFill("F1", 25, 100.5, at(2)),)),
        row(OrderState.EXPIRED),
        row(OrderState.REJECTED, reason="RMS: margin"),
    ],
    ids=lambda r: r.state.value,
)
@pytest.mark.parametrize("start", [OrderState.UNKNOWN, OrderState.SUBMITTED])
def test_sync_with_book_lands_on_the_broker_truth(start: OrderState, truth: BrokerOrder) -> None:
    order = order_in(start)
    sync_with_book(order, truth, at(10))
    assert order.state is truth.state
    assert BrokerOrder.of(order) == truth
    assert not sync_with_book(order, truth, at(11))  # idempotent


def test_sync_with_no_row_reopens_an_unknown_order_for_a_resend() -> None:
    order = order_in(OrderState.UNKNOWN)
    assert sync_with_book(order, None, at(10))
    assert order.state is OrderState.SUBMITTED


# -- broker events and book rows for a stop-limit -------------------------------------------------


def triggered_event(seconds: float = 3) -> BrokerEvent:
    return event(BrokerEventKind.TRIGGERED, seconds, price=95.0)


def test_apply_event_triggers_a_stop_once() -> None:
    order = order_in(OrderState.SUBMITTED, stop_limit=True)
    assert apply_event(order, event(BrokerEventKind.ACK, 1))
    assert order.state is OrderState.TRIGGER_PENDING
    assert apply_event(order, triggered_event())
    assert (order.state, order.triggered) == (OrderState.ACKED, True)
    assert not apply_event(order, triggered_event(4))  # a repeat tells nothing new
    assert apply_event(order, fill_event("F1", 75))
    assert not apply_event(order, triggered_event(5))
    assert order.state is OrderState.FILLED


def test_apply_event_tolerates_a_trigger_before_its_ack_and_a_lost_trigger() -> None:
    order = order_in(OrderState.SUBMITTED, stop_limit=True)
    assert apply_event(order, triggered_event())  # the ack was held or lost
    assert order.state is OrderState.ACKED
    assert not apply_event(order, event(BrokerEventKind.ACK, 1))  # the late ack
    lost = order_in(OrderState.TRIGGER_PENDING)
    assert apply_event(lost, fill_event("F1", 25))  # its trigger update was lost
    assert (lost.state, lost.triggered) == (OrderState.PARTIALLY_FILLED, True)
    assert not apply_event(lost, triggered_event())
    cancelled = order_in(OrderState.CANCELLED, stop_limit=True)  # triggered just before
    assert apply_event(cancelled, triggered_event())
    assert (cancelled.state, cancelled.triggered) == (OrderState.CANCELLED, True)


def test_a_triggered_event_for_a_limit_order_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="a limit order has no trigger"):
        apply_event(order_in(OrderState.ACKED), triggered_event())
    with pytest.raises(ValueError, match=r"trigger 0\.0 must be > 0"):
        event(BrokerEventKind.TRIGGERED, 1)


def stop_row(
    state: OrderState,
    triggered: bool,
    fills: tuple[BookFill, ...] = (),
    reason: str = "",
) -> BrokerOrder:
    """The book's row of the stop ``stop()``, whose trigger a modify moved to 95.5."""
    filled = sum(f.qty for f in fills)
    avg = math.fsum(f.qty * f.price for f in fills) / filled if filled else 0.0
    return BrokerOrder(
        TAG,
        BrokerOrderId("PB000001"),
        "NIFTY25JAN24000CE",
        OrderSide.SELL,
        75,
        94.0,
        state,
        filled,
        avg,
        fills,
        reason,
        OrderType.STOP_LIMIT,
        95.5,
        triggered,
    )


STOP_TRUTHS = [
    stop_row(OrderState.SUBMITTED, False),
    stop_row(OrderState.TRIGGER_PENDING, False),
    stop_row(OrderState.ACKED, True),  # triggered, resting unfilled below its limit
    stop_row(OrderState.PARTIALLY_FILLED, True, (BookFill("F1", 25, 94.5, at(2)),)),
    stop_row(OrderState.FILLED, True, (BookFill("F1", 75, 95.0, at(2)),)),
    stop_row(OrderState.CANCELLED, False),
    stop_row(OrderState.CANCELLED, True),  # triggered, never filled, then cancelled
    stop_row(OrderState.EXPIRED, True),
    stop_row(OrderState.REJECTED, False, reason="RMS: margin"),
    stop_row(OrderState.REJECTED, True, reason="RMS: margin at trigger"),
]


STOP_SYNCS = [
    (start, truth)
    for start in (OrderState.UNKNOWN, OrderState.SUBMITTED, OrderState.TRIGGER_PENDING)
    for truth in STOP_TRUTHS
    # the book never goes back from trigger_pending to submitted
    if not (start is OrderState.TRIGGER_PENDING and truth.state is OrderState.SUBMITTED)
]


@pytest.mark.parametrize(
    ("start", "truth"),
    STOP_SYNCS,
    ids=[f"{s.value}-{t.state.value}-{'t' if t.triggered else 'u'}" for s, t in STOP_SYNCS],
)
def test_sync_with_book_lands_a_stop_on_the_broker_truth(
    start: OrderState, truth: BrokerOrder
) -> None:
    order = order_in(start, stop_limit=True)
    sync_with_book(order, truth, at(10))
    assert (order.state, order.trigger, order.triggered) == (
        truth.state,
        95.5,
        truth.triggered,
    )
    assert BrokerOrder.of(order) == truth
    assert not sync_with_book(order, truth, at(11))  # idempotent
