"""Small factories for order-model tests: intents (limit and stop-limit), market times, and
orders brought to any state by the path an order usually takes there."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from dyntrail.core.order_pricing import OrderSide
from dyntrail.execution.orders import (
    ClientTag,
    Fill,
    Order,
    OrderEventKind,
    OrderIntent,
    OrderState,
    OrderType,
)

IST = ZoneInfo("Asia/Kolkata")
T0 = dt.datetime(2025, 1, 3, 9, 20, tzinfo=IST)  # a Friday session, options live
TAG = ClientTag("D250103P01E1")


def intent(tag: str = TAG, qty: int = 75, limit: float = 101.5) -> OrderIntent:
    return OrderIntent(
        tag, 1, 0, "entry", OrderSide.BUY, qty, limit, 100.0, "NIFTY25JAN24000CE", T0
    )


def stop(
    tag: str = TAG,
    side: OrderSide = OrderSide.SELL,
    limit: float = 94.0,
    trigger: float | None = 95.0,
    tick: float | None = 0.05,
    qty: int = 75,
) -> OrderIntent:
    """A stop-limit intent (a sell by default: a backstop)."""
    return OrderIntent(
        tag, 1, 0, "exit_stop", side, qty, limit, 95.0, "NIFTY25JAN24000CE", T0,
        OrderType.STOP_LIMIT, trigger, tick,
    )  # fmt: skip


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def fire(order: Order, kind: str, ts: dt.datetime, fill_qty: int = 25) -> None:
    """Apply one event of ``kind`` the way its caller would."""
    if kind == OrderEventKind.SUBMIT:
        order.submit(ts)
    elif kind == OrderEventKind.ACK:
        order.ack(ts, "PB000001")
    elif kind == OrderEventKind.TRIGGER:
        order.hit_trigger(ts)
    elif kind == OrderEventKind.FILL:
        order.apply_fill(Fill(order.tag, f"F{len(order.fills) + 1}", fill_qty, 100.5, ts))
    elif kind == OrderEventKind.REJECT:
        order.reject(ts, "RMS: margin")
    elif kind == OrderEventKind.CANCEL:
        order.cancel(ts)
    elif kind == OrderEventKind.EXPIRE:
        order.expire(ts)
    elif kind == OrderEventKind.TIMEOUT:
        order.timeout(ts)
    else:
        order.resolve(ts)


PATHS: dict[OrderState, list[str]] = {
    OrderState.NEW: [],
    OrderState.SUBMITTED: ["submit"],
    OrderState.ACKED: ["submit", "ack"],
    OrderState.PARTIALLY_FILLED: ["submit", "ack", "fill"],
    OrderState.FILLED: ["submit", "ack", "fill", "fill", "fill"],
    OrderState.REJECTED: ["submit", "reject"],
    OrderState.CANCELLED: ["submit", "ack", "fill", "cancel"],
    OrderState.EXPIRED: ["submit", "ack", "expire"],
    OrderState.UNKNOWN: ["submit", "timeout"],
}
# A stop-limit's paths: acknowledged into trigger_pending, filled only after its trigger,
# cancelled or expired untriggered (a trigger reported after that is still legal).
STOP_PATHS: dict[OrderState, list[str]] = {
    **PATHS,
    OrderState.TRIGGER_PENDING: ["submit", "ack"],
    OrderState.ACKED: ["submit", "ack", "trigger"],
    OrderState.PARTIALLY_FILLED: ["submit", "ack", "trigger", "fill"],
    OrderState.FILLED: ["submit", "ack", "trigger", "fill", "fill", "fill"],
    OrderState.CANCELLED: ["submit", "ack", "cancel"],
    OrderState.EXPIRED: ["submit", "ack", "expire"],
}


def order_in(state: OrderState, stop_limit: bool = False) -> Order:
    """An order brought to ``state`` by its usual path (a stop-limit's own with ``stop_limit``,
    which ``trigger_pending`` needs)."""
    stop_limit = stop_limit or state is OrderState.TRIGGER_PENDING
    order = Order(stop() if stop_limit else intent())
    for i, kind in enumerate((STOP_PATHS if stop_limit else PATHS)[state]):
        fire(order, kind, at(i))
    if order.state is not state:
        raise RuntimeError(f"path to {state} ended in {order.state}")
    return order


def for_event(state: OrderState, kind: str) -> Order:
    """The order a table test fires ``kind`` at: a stop-limit for a trigger (a limit order has
    none) and in trigger_pending, a limit order otherwise."""
    return order_in(state, stop_limit=kind == OrderEventKind.TRIGGER)
