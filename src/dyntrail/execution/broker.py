"""The broker protocol: what every broker (paper now, live later) promises the engine.

Promises (checked by the ``BrokerContract`` tests):

- Time is market time and never goes backwards: every call takes ``now`` and a call with a
  ``now`` earlier than the broker's clock raises ValueError. A call first applies everything due
  by ``now`` that needs no quote (acks, rejects, expiries), then does its own work.
- Fills happen only in ``on_market``, at its ``now``, against ``quote(instrument)`` = (bid, ask):
  a buy fills when its limit >= a positive ask, at the ask; a sell when its limit <= a positive
  bid, at the bid. Never better than the quote, never worse than the limit.
- A stop-limit (``OrderType.STOP_LIMIT``) rests untriggered (``trigger_pending``: working, never
  filled) until the price reaches its trigger; a simulated broker judges that from the quote,
  conservatively: a sell triggers when a positive bid is at or below its trigger, a buy when a
  positive ask is at or above it. Once triggered (a ``triggered`` event says so, before any of its
  fills) it is a limit at its limit under the rule above: it fills at the quote when that is at
  or better than the limit, and rests unfilled when the bid has already fallen below a sell's
  limit. Its trigger can be modified until it triggers, its limit while it works.
- A tag names at most one order at the broker: ``place`` with a tag the broker already holds (in
  any state) raises ``DuplicateTag``. Resending the same tag after ``Disconnected`` is therefore
  always safe.
- ``order_book()`` and ``positions()`` are the truth and never raise; delivered events may be
  late, reordered (a fill before its ack), duplicated (the same fill id twice) or lost, so the
  engine applies events with ``apply_event`` and reconciles with ``sync_with_book``.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from dyntrail.core.fast_init import fast_init
from dyntrail.core.order_pricing import OrderSide
from dyntrail.errors import BrokerError
from dyntrail.execution.orders import (
    BrokerOrderId,
    ClientTag,
    Fill,
    Order,
    OrderIntent,
    OrderState,
    OrderType,
)

QuoteFn = Callable[[str], tuple[float, float] | None]
"""(bid, ask) of an instrument now, or None when it has no quote."""


class RateLimited(BrokerError):
    """Too many requests (HTTP 429 style): nothing was placed; retry later with the same tag."""


class Disconnected(BrokerError):
    """The call's outcome is unknown: the request may or may not have reached the broker."""


class UnknownOrder(BrokerError):
    """The broker holds no order with that tag."""


class DuplicateTag(BrokerError):
    """The broker already holds an order with that tag; no second order was created."""


class OrderNotWorking(BrokerError):
    """A modify of an order that is no longer working (filled, rejected, cancelled, expired)."""


class TooManyModifications(BrokerError):
    """A modify beyond the modifications an exchange allows one order (``MAX_MODIFICATIONS``,
    Kite's 25): nothing changed; cancel the order and place a new one."""


MAX_MODIFICATIONS = 25


class AlreadyTriggered(BrokerError):
    """A modify of the trigger of a stop-limit that has triggered: only its limit can change."""


class BrokerEventKind(enum.StrEnum):
    """What a broker tells us about an order."""

    ACK = "ack"
    TRIGGERED = "triggered"
    FILL = "fill"
    REJECT = "reject"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Read for every event: module names are found faster than enum members.
_ACK, _FILL, _TRIGGERED = BrokerEventKind.ACK, BrokerEventKind.FILL, BrokerEventKind.TRIGGERED
_SUBMITTED, _UNKNOWN = OrderState.SUBMITTED, OrderState.UNKNOWN


@fast_init
@dataclass(frozen=True, slots=True)
class BrokerEvent:
    """One update from the broker; ``ts`` is the market time at which the broker acted. A fill
    carries ``fill_id``, ``qty`` > 0 and ``price`` > 0; a triggered event the stop's trigger in
    ``price``; a reject carries ``reason``."""

    kind: BrokerEventKind
    tag: ClientTag
    ts: dt.datetime
    broker_order_id: BrokerOrderId
    fill_id: str | None = None
    qty: int = 0
    price: float = 0.0
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind is _FILL:
            if not self.fill_id:
                raise ValueError(f"fill event for {self.tag} needs a fill_id")
            if not (self.qty > 0 and math.isfinite(self.price) and self.price > 0):
                raise ValueError(
                    f"fill {self.fill_id}: qty {self.qty} and price {self.price} must be > 0"
                )
        elif self.kind is _TRIGGERED and not (math.isfinite(self.price) and self.price > 0):
            raise ValueError(f"triggered event for {self.tag}: trigger {self.price} must be > 0")

    def to_fill(self) -> Fill:
        if self.kind is not _FILL or self.fill_id is None:
            raise ValueError(f"{self.kind} event for {self.tag} is not a fill")
        return Fill(self.tag, self.fill_id, self.qty, self.price, self.ts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "tag": str(self.tag),
            "ts": self.ts.isoformat(),
            "broker_order_id": str(self.broker_order_id),
            "fill_id": self.fill_id,
            "qty": self.qty,
            "price": self.price,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BrokerEvent:
        return cls(
            kind=BrokerEventKind(d["kind"]),
            tag=ClientTag(d["tag"]),
            ts=dt.datetime.fromisoformat(d["ts"]),
            broker_order_id=BrokerOrderId(d["broker_order_id"]),
            fill_id=d["fill_id"],
            qty=int(d["qty"]),
            price=float(d["price"]),
            reason=str(d["reason"]),
        )


class BookFill(NamedTuple):
    """One fill as the broker's order book lists it."""

    fill_id: str
    qty: int
    price: float
    ts: dt.datetime


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """A row of the broker's order book: the truth about one order. ``limit`` and ``trigger``
    are the current prices; ``triggered`` says a stop-limit's trigger was reached (False for a
    limit order, which has none)."""

    tag: ClientTag
    broker_order_id: BrokerOrderId
    instrument: str
    side: OrderSide
    qty: int
    limit: float
    state: OrderState
    filled_qty: int
    avg_price: float
    fills: tuple[BookFill, ...]
    reason: str = ""
    order_type: OrderType = OrderType.LIMIT
    trigger: float | None = None
    triggered: bool = False

    @classmethod
    def of(cls, order: Order) -> BrokerOrder:
        """The row for an order a broker holds (it has a broker order id); fills in time order."""
        if order.broker_order_id is None:
            raise ValueError(f"order {order.tag} has no broker order id")
        return cls(
            tag=order.tag,
            broker_order_id=order.broker_order_id,
            instrument=order.instrument,
            side=order.side,
            qty=order.qty,
            limit=order.limit,
            state=order.state,
            filled_qty=order.filled_qty,
            avg_price=order.avg_price,
            fills=tuple(
                BookFill(f.fill_id, f.qty, f.price, f.ts)
                for f in sorted(order.fills.values(), key=lambda f: (f.ts, f.fill_id))
            ),
            reason=order.reason,
            order_type=order.order_type,
            trigger=order.trigger,
            triggered=order.triggered,
        )


class Broker(Protocol):
    """What the engine needs from a broker (see the module docstring for the promises)."""

    def place(self, intent: OrderIntent, now: dt.datetime) -> None:
        """Send a new order: a limit order, which works at once, or a stop-limit, which rests
        untriggered until the price reaches its trigger and then works as a limit at its limit
        (a sell's trigger at or above its limit, a buy's at or below, both on the tick grid).
        Raises ValueError for an intent that breaks those rules (nothing is sent), DuplicateTag,
        RateLimited or Disconnected."""
        ...

    def modify(
        self, tag: str, limit: float, now: dt.datetime, trigger: float | None = None
    ) -> None:
        """Change a working order's limit and, for a stop-limit that has not triggered, its
        trigger (None keeps it): one modify, so a resting stop is never without a trigger. Once
        a stop has triggered only its limit can change; an order is modified at most
        ``MAX_MODIFICATIONS`` times. Raises UnknownOrder, OrderNotWorking, AlreadyTriggered,
        TooManyModifications, ValueError (prices that break the order's rules, or a trigger for a
        limit order; nothing changes) or Disconnected."""
        ...

    def cancel(self, tag: str, now: dt.datetime) -> None:
        """Cancel the rest of a working order; a no-op for a finished one (so a retry after
        Disconnected is safe). Raises UnknownOrder or Disconnected."""
        ...

    def order_book(self) -> list[BrokerOrder]:
        """Every order the broker holds, in the order they were placed."""
        ...

    def positions(self) -> dict[str, int]:
        """Instrument → signed quantity (buys positive), instruments with zero left out."""
        ...

    def on_market(self, now: dt.datetime, quote: QuoteFn) -> list[BrokerEvent]:
        """Advance the broker's clock to ``now``, fill working marketable orders against
        ``quote``, and return every event due by then in the order the broker sends them."""
        ...

    def settle_expired(self, instrument: str, now: dt.datetime) -> None:
        """The exchange settled ``instrument`` at its expiry (cash, at intrinsic value): it
        leaves ``positions``. A real broker does this itself; a simulated one is told."""
        ...


_TERMINAL_EVENT = {
    BrokerEventKind.REJECT: OrderState.REJECTED,
    BrokerEventKind.CANCELLED: OrderState.CANCELLED,
    BrokerEventKind.EXPIRED: OrderState.EXPIRED,
}


def apply_event(order: Order, event: BrokerEvent) -> bool:
    """Apply one delivered event to the engine's order; False when it told us nothing new.

    Rules: an event for an ``unknown`` order resolves it first (the broker has it). A fill id
    already applied is ignored. An ack is ignored once the order is past ``submitted`` with the
    same broker id (it came after its fill, or after a sync); a triggered event once the stop has
    triggered (or filled). A terminal event for an order already in that state is ignored.
    Anything else the state machine refuses (a triggered event for a limit order) raises
    ``InvalidTransition``.
    """
    if event.tag != order.tag:
        raise ValueError(f"event for {event.tag!r} applied to order {order.tag!r}")
    changed = False
    if order.state is _UNKNOWN:
        order.resolve(event.ts)
        changed = True
    if order.broker_order_id is None:
        order.broker_order_id = event.broker_order_id
    kind = event.kind
    if kind is _FILL:
        return order.apply_fill(event.to_fill(), event.broker_order_id) or changed
    if kind is _ACK:
        if order.state is not _SUBMITTED and order.broker_order_id == event.broker_order_id:
            return changed
        order.ack(event.ts, event.broker_order_id)
        return True
    if kind is BrokerEventKind.TRIGGERED:
        if order.triggered:
            return changed
        order.hit_trigger(event.ts)
        return True
    if order.state is _TERMINAL_EVENT[kind]:
        return changed
    if kind is BrokerEventKind.REJECT:
        order.reject(event.ts, event.reason)
    elif kind is BrokerEventKind.CANCELLED:
        order.cancel(event.ts)
    else:
        order.expire(event.ts)
    return True


def sync_with_book(order: Order, row: BrokerOrder | None, now: dt.datetime) -> bool:
    """Bring the engine's order up to the broker's row; True when anything changed.

    This is ``resolve`` for an ``unknown`` order and the cure for lost updates on any other: the
    row is replayed as events (ack, the trigger, each fill once, the terminal event) and the order
    takes the row's limit and trigger (a modify whose outcome was not seen). ``row`` None means the
    broker never received the order: an unknown order goes back to ``submitted`` and the engine
    resends it under the same tag (the broker refuses a duplicate, so this cannot double it).
    """
    before = (len(order.history), len(order.fills))
    if order.state is OrderState.UNKNOWN:
        order.resolve(now)
    if row is not None:
        if row.tag != order.tag:
            raise ValueError(f"book row {row.tag!r} applied to order {order.tag!r}")
        if row.state in (OrderState.NEW, OrderState.UNKNOWN):
            raise BrokerError(f"book row {row.tag} has state {row.state!r}, which no broker has")
        if order.broker_order_id is None:
            order.broker_order_id = row.broker_order_id
        order.limit = row.limit  # the book's limit wins (a modify whose outcome we did not see)
        if order.order_type is OrderType.STOP_LIMIT:
            order.trigger = row.trigger  # and so does its trigger
        if row.state is OrderState.REJECTED:
            if order.state is not OrderState.REJECTED:
                if row.triggered and not order.triggered:
                    order.hit_trigger(now)  # rejected when it triggered
                order.reject(now, row.reason)
        elif row.state is not OrderState.SUBMITTED:
            if order.state is OrderState.SUBMITTED:
                order.ack(now, row.broker_order_id)
            if row.triggered and not order.triggered:
                order.hit_trigger(now)
            for f in row.fills:
                fill = Fill(order.tag, f.fill_id, f.qty, f.price, f.ts)
                order.apply_fill(fill, row.broker_order_id)
            if row.state is OrderState.CANCELLED and order.state is not row.state:
                order.cancel(now)
            elif row.state is OrderState.EXPIRED and order.state is not row.state:
                order.expire(now)
    return (len(order.history), len(order.fills)) != before
