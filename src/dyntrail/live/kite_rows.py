"""What Kite's order book says, in the broker protocol's words: a Kite order (a row of
``GET /orders``, or the ``data`` of a WebSocket order update) and its trades become a
``BrokerOrder``; what changed since the last look becomes ``BrokerEvent``s, each said once.

Pure: no client, no clock. Kite writes exchange time (IST) without a zone; a ``tz`` given makes
the stamps aware (the caller's market time decides)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dyntrail.core.order_pricing import OrderSide
from dyntrail.execution.broker import BookFill, BrokerEvent, BrokerEventKind, BrokerOrder
from dyntrail.execution.orders import BrokerOrderId, ClientTag, OrderState, OrderType
from dyntrail.execution.tags import OUR_TAGS, is_client_tag

KiteRow = Mapping[str, Any]
_OURS = re.compile(OUR_TAGS)
_ANY = re.compile(r".")

# Kite's order statuses (the documented ones and the transient states of the OMS).
_WAITING = frozenset(
    {"PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "AMO REQ RECEIVED"}
)
_TERMINAL = {
    "COMPLETE": OrderState.FILLED,
    "REJECTED": OrderState.REJECTED,
    "CANCELLED": OrderState.CANCELLED,
    "LAPSED": OrderState.EXPIRED,
    "EXPIRED": OrderState.EXPIRED,
}
_STOP_TYPES = frozenset({"SL", "SL-M"})


def stamp(value: Any, tz: dt.tzinfo | None) -> dt.datetime | None:
    """A Kite timestamp (``2025-01-03 09:20:00`` or a datetime the client parsed) in market
    time, aware when ``tz`` is given; None when absent."""
    if value is None or value == "":
        return None
    ts = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if tz is None:
        return ts.replace(tzinfo=None) if ts.tzinfo is not None else ts
    return ts.replace(tzinfo=tz) if ts.tzinfo is None else ts.astimezone(tz)


def our_tag(row: KiteRow, ours: re.Pattern[str] = _OURS) -> ClientTag | None:
    """The row's tag when it is one of ours (``ours``: the engine's tags by default); an order
    placed by hand or by another program on the account has none, or one of its own."""
    tag = row.get("tag")
    if not tag and row.get("tags"):
        tag = row["tags"][0]
    if isinstance(tag, str) and is_client_tag(tag) and ours.match(tag):
        return ClientTag(tag)
    return None


def is_stop(row: KiteRow) -> bool:
    return str(row.get("order_type", "")) in _STOP_TYPES


def state_of(row: KiteRow, expired: bool = False, triggered: bool = False) -> OrderState:
    """The protocol's state of a Kite order; ``expired``: a cancel we made because the exchange
    settled the contract (Kite calls it cancelled); ``triggered``: a stop known to have
    triggered (a stop in a pending state, a modify or cancel on its way, is otherwise still
    waiting for its trigger)."""
    status = str(row.get("status", "")).upper()
    filled = int(row.get("filled_quantity") or 0)
    if status in _TERMINAL:
        state = _TERMINAL[status]
        return OrderState.EXPIRED if expired and state is OrderState.CANCELLED else state
    if status in _WAITING:
        return OrderState.SUBMITTED
    if filled:
        return OrderState.PARTIALLY_FILLED
    if status == "TRIGGER PENDING" or (is_stop(row) and status != "OPEN" and not triggered):
        return OrderState.TRIGGER_PENDING
    return OrderState.ACKED


def shows_trigger(row: KiteRow) -> bool:
    """A stop whose row alone proves it triggered: open (working as a limit), or filled. A
    pending modify or cancel proves nothing either way."""
    if not is_stop(row):
        return False
    status = str(row.get("status", "")).upper()
    return int(row.get("filled_quantity") or 0) > 0 or status == "OPEN"


def triggered_in_history(history: Iterable[KiteRow]) -> bool:
    """A stop's history (``GET /orders/{id}``) shows it working as a limit at some point."""
    return any(shows_trigger(h) for h in history)


def fills_of(trades: Iterable[KiteRow], tz: dt.tzinfo | None) -> tuple[BookFill, ...]:
    """An order's trades as book fills, in time order (then by id)."""
    out = []
    for t in trades:
        ts = stamp(t.get("fill_timestamp") or t.get("exchange_timestamp"), tz)
        if ts is None:
            raise ValueError(f"trade {t.get('trade_id')} of order {t.get('order_id')} has no time")
        out.append(BookFill(str(t["trade_id"]), int(t["quantity"]), float(t["average_price"]), ts))
    return tuple(sorted(out, key=lambda f: (f.ts, f.fill_id)))


def book_row(
    row: KiteRow,
    fills: tuple[BookFill, ...],
    *,
    triggered: bool,
    expired: bool = False,
) -> BrokerOrder:
    """The protocol's row of one of our Kite orders (``our_tag(row)`` is not None)."""
    tag = our_tag(row, _ANY)
    if tag is None:
        raise ValueError(f"order {row.get('order_id')} has no client tag")
    filled = sum(f.qty for f in fills)
    avg = math.fsum(f.qty * f.price for f in fills) / filled if filled else 0.0
    state = state_of(row, expired, triggered)
    stop = is_stop(row)
    return BrokerOrder(
        tag=tag,
        broker_order_id=BrokerOrderId(str(row["order_id"])),
        instrument=str(row["tradingsymbol"]),
        side=OrderSide.BUY if row["transaction_type"] == "BUY" else OrderSide.SELL,
        qty=int(row["quantity"]),
        limit=float(row.get("price") or 0.0),
        state=state,
        filled_qty=filled,
        avg_price=avg,
        fills=fills,
        reason=str(row.get("status_message") or "") if state is OrderState.REJECTED else "",
        order_type=OrderType.STOP_LIMIT if stop else OrderType.LIMIT,
        trigger=float(row["trigger_price"]) if stop else None,
        triggered=stop and triggered,
    )


@dataclass(slots=True)
class Told:
    """What we have told the engine about one order (so each event is said once)."""

    acked: bool = False
    triggered: bool = False
    fills: set[str] = field(default_factory=set)
    ended: bool = False


def news(row: BrokerOrder, told: Told, at: dt.datetime) -> list[BrokerEvent]:
    """The events that take the engine from what ``told`` says to ``row``, in the order a
    broker sends them: ack, trigger, each new fill, the end. ``at`` stamps the events that carry
    no exchange time of their own (ack, trigger, end)."""
    out: list[BrokerEvent] = []
    tag, oid, state = row.tag, row.broker_order_id, row.state
    if state is OrderState.SUBMITTED or told.ended:
        return out
    if not told.acked and state is not OrderState.REJECTED:
        told.acked = True
        out.append(BrokerEvent(BrokerEventKind.ACK, tag, at, oid))
    if row.triggered and not told.triggered and row.trigger is not None:
        told.triggered = True
        out.append(BrokerEvent(BrokerEventKind.TRIGGERED, tag, at, oid, price=row.trigger))
    for f in row.fills:
        if f.fill_id not in told.fills:
            told.fills.add(f.fill_id)
            out.append(BrokerEvent(BrokerEventKind.FILL, tag, f.ts, oid, f.fill_id, f.qty, f.price))
    end = _END.get(state)
    if end is not None:
        told.ended = True
        out.append(BrokerEvent(end, tag, at, oid, reason=row.reason))
    elif state is OrderState.FILLED:
        told.ended = True
    return out


_END = {
    OrderState.REJECTED: BrokerEventKind.REJECT,
    OrderState.CANCELLED: BrokerEventKind.CANCELLED,
    OrderState.EXPIRED: BrokerEventKind.EXPIRED,
}
