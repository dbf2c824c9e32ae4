"""The order model: intents with their order types, fills, client tags (re-exported here from
``intents`` and ``tags``) and the order state machine.

Order types (``OrderType``):

- A ``limit`` order works at once: it fills at its limit or better.
- A ``stop_limit`` order (Kite's ``SL``; NSE index options allow no stop-market) rests
  untriggered until the price reaches its ``trigger`` (a sell's when the price falls to it, a
  buy's when the price rises to it), then works as a limit at its limit. So a sell's trigger is at
  or above its limit and a buy's at or below it. Once triggered it is an ordinary limit: it fills
  at the limit or better, or rests unfilled when the price has already run through the limit (the
  risk of a stop-limit, which the engine must watch).
- A limit order has no trigger. A stop-limit carries its instrument's ``tick``, and its limit and
  trigger are whole multiples of it (any intent that carries a tick is checked the same way).

An order's life is one explicit table, ``TRANSITIONS[(state, event_kind)] -> next state``; a pair
missing from the table raises ``InvalidTransition`` and leaves the order untouched. Three events
carry data that picks the outcome: an ``ack`` of a stop-limit lands in ``trigger_pending``
(working, not marketable) where the table says ``acked``; a ``fill`` lands where the table says,
or in ``filled`` when it completes the quantity; ``trigger`` is refused by a limit order and by a
stop that has triggered already. ``resolve`` re-opens an ``unknown`` order as ``submitted`` so that
the broker's order book can be replayed onto it (see ``dyntrail.execution.broker.sync_with_book``).

A modify (``Order.amend``) may change the limit of a new or working order, and the trigger of a
stop-limit until it triggers; after that only the limit can change. It is not a change of state.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import math
from typing import Any, NamedTuple

from dyntrail.core.order_pricing import OrderSide
from dyntrail.errors import BrokerError, JournalError
from dyntrail.execution.intents import (
    Fill,
    OrderIntent,
    OrderType,
    check_price,
    check_prices,
    fill_from_dict,
    fill_to_dict,
)
from dyntrail.execution.tags import ACTION_CODES, BrokerOrderId, ClientTag, client_tag

__all__ = [  # the order model, wherever each part lives
    "ACTION_CODES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "WORKING_STATES",
    "BrokerOrderId",
    "ClientTag",
    "Fill",
    "InvalidTransition",
    "Order",
    "OrderEventKind",
    "OrderIntent",
    "OrderState",
    "OrderType",
    "Overfill",
    "Transition",
    "check_prices",
    "client_tag",
    "fill_from_dict",
    "fill_to_dict",
]


class OrderState(enum.StrEnum):
    """Where an order stands. ``trigger_pending``: a stop-limit acknowledged and resting
    untriggered (working, not marketable; Kite's ``TRIGGER PENDING``). ``unknown``: a send whose
    outcome we did not see."""

    NEW = "new"
    SUBMITTED = "submitted"
    TRIGGER_PENDING = "trigger_pending"
    ACKED = "acked"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class OrderEventKind(enum.StrEnum):
    """What can happen to an order (the columns of ``TRANSITIONS``)."""

    SUBMIT = "submit"
    ACK = "ack"
    TRIGGER = "trigger"
    FILL = "fill"
    REJECT = "reject"
    CANCEL = "cancel"
    EXPIRE = "expire"
    TIMEOUT = "timeout"
    RESOLVE = "resolve"


S, E = OrderState, OrderEventKind
TRANSITIONS: dict[tuple[OrderState, str], OrderState] = {
    (S.NEW, E.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, E.ACK): S.ACKED,  # a stop-limit's ack lands in trigger_pending (Order.ack)
    (S.SUBMITTED, E.REJECT): S.REJECTED,
    (S.TRIGGER_PENDING, E.REJECT): S.REJECTED,
    (S.ACKED, E.REJECT): S.REJECTED,  # an exchange may reject what the broker acknowledged
    # A stop-limit's trigger makes it a working limit. A trigger on a submitted order is legal:
    # its ack was lost or comes late.
    (S.TRIGGER_PENDING, E.TRIGGER): S.ACKED,
    (S.SUBMITTED, E.TRIGGER): S.ACKED,
    # Any fill that completes the quantity lands in filled. A fill on a submitted order is legal:
    # its ack was lost or comes late; on a trigger_pending one: its trigger update was lost.
    (S.SUBMITTED, E.FILL): S.PARTIALLY_FILLED,
    (S.TRIGGER_PENDING, E.FILL): S.PARTIALLY_FILLED,
    (S.ACKED, E.FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILL): S.PARTIALLY_FILLED,
    # A fill (or a trigger) made before the cancel or expiry but reported after it (a late or lost
    # update): it counts, and the rest stays cancelled or expired (filled if nothing is left).
    (S.CANCELLED, E.FILL): S.CANCELLED,
    (S.EXPIRED, E.FILL): S.EXPIRED,
    (S.CANCELLED, E.TRIGGER): S.CANCELLED,
    (S.EXPIRED, E.TRIGGER): S.EXPIRED,
    (S.SUBMITTED, E.CANCEL): S.CANCELLED,
    (S.TRIGGER_PENDING, E.CANCEL): S.CANCELLED,
    (S.ACKED, E.CANCEL): S.CANCELLED,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
    (S.SUBMITTED, E.EXPIRE): S.EXPIRED,
    (S.TRIGGER_PENDING, E.EXPIRE): S.EXPIRED,
    (S.ACKED, E.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
    (S.SUBMITTED, E.TIMEOUT): S.UNKNOWN,
    # Re-opened as submitted; the broker's row is then replayed (ack, each fill once, terminal).
    (S.UNKNOWN, E.RESOLVE): S.SUBMITTED,
}
del S, E

TERMINAL_STATES = frozenset(
    {OrderState.FILLED, OrderState.REJECTED, OrderState.CANCELLED, OrderState.EXPIRED}
)
WORKING_STATES = frozenset(
    {
        OrderState.SUBMITTED,
        OrderState.TRIGGER_PENDING,
        OrderState.ACKED,
        OrderState.PARTIALLY_FILLED,
    }
)


class InvalidTransition(BrokerError):
    """An event that the order's state does not allow (the pair is not in ``TRANSITIONS``), or
    that the order's type refuses (``why`` says so)."""

    def __init__(self, state: OrderState, event_kind: str, tag: str = "", why: str = "") -> None:
        self.state = state
        self.event_kind = str(event_kind)
        who = f"order {tag}: " if tag else ""
        if why:
            super().__init__(f"{who}cannot {self.event_kind!r} when {state.value!r}: {why}")
            return
        legal = sorted(str(k) for (s, k) in TRANSITIONS if s is state) or ["nothing"]
        super().__init__(
            f"{who}cannot {self.event_kind!r} when {state.value!r}; legal from there: "
            + ", ".join(legal)
        )


class Overfill(BrokerError):
    """A fill that would take the filled quantity past the order's quantity."""


class Transition(NamedTuple):
    """One applied step of an order's life, at market time ``ts`` (a named tuple: immutable,
    and several are made for every order)."""

    ts: dt.datetime
    kind: OrderEventKind
    before: OrderState
    after: OrderState


# Every order makes several transitions: built by tuple.__new__ directly (a named tuple's own
# __new__ is a Python function), and the members an event reads named here once (an enum
# member looked up on its class costs several times a module name).
_transition = functools.partial(tuple.__new__, Transition)
_SUBMIT, _ACK, _FILL = OrderEventKind.SUBMIT, OrderEventKind.ACK, OrderEventKind.FILL
_ACKED, _FILLED, _TRIGGER_PENDING = OrderState.ACKED, OrderState.FILLED, OrderState.TRIGGER_PENDING
_STOP_LIMIT = OrderType.STOP_LIMIT


class Order:
    """One order and the state it owns. Rules:

    - Every change of state goes through ``TRANSITIONS``; an illegal event raises
      ``InvalidTransition`` and changes nothing. ``history`` grows only on a valid transition.
    - Each fill is applied once: a fill id already applied is ignored (``apply_fill`` returns
      False), whatever the state; a fill that would overfill raises ``Overfill``.
    - A stop-limit is acknowledged into ``trigger_pending`` and triggers at most once;
      ``limit`` and ``trigger`` are the current prices (a modify changes them, not the intent).
    - ``to_dict``/``from_dict`` round-trip exactly (the journal and the paper broker store it);
      a limit order's dict has no stop fields, so dicts saved before order types still load.
    """

    __slots__ = (
        "_filled",
        "broker_order_id",
        "fills",
        "history",
        "intent",
        "limit",
        "reason",
        "state",
        "tag",
        "trigger",
    )

    def __init__(self, intent: OrderIntent) -> None:
        tag = intent.tag  # the engine's tags are ClientTags already: checked when made
        self.tag = tag if type(tag) is ClientTag else ClientTag(tag)
        if not (isinstance(intent.qty, int) and intent.qty > 0):
            raise ValueError(f"order {intent.tag}: qty must be a positive int, got {intent.qty!r}")
        if not isinstance(intent.order_type, OrderType):
            raise ValueError(
                f"order {intent.tag}: order_type must be one of "
                f"{', '.join(t.value for t in OrderType)}, got {intent.order_type!r}"
            )
        check_prices(
            intent.tag,
            intent.side,
            intent.order_type,
            intent.limit,
            intent.trigger,
            intent.tick,
        )
        self.intent = intent
        self.limit = float(intent.limit)
        self.trigger = None if intent.trigger is None else float(intent.trigger)
        self.state = OrderState.NEW
        self.broker_order_id: BrokerOrderId | None = None
        self.reason = ""
        self.fills: dict[str, Fill] = {}
        self._filled = 0  # the sum of the fills' quantities (fills are only ever added)
        self.history: list[Transition] = []

    # -- read-only views ---------------------------------------------------------------------

    @property
    def side(self) -> OrderSide:
        return self.intent.side

    @property
    def qty(self) -> int:
        return self.intent.qty

    @property
    def instrument(self) -> str:
        return self.intent.instrument

    @property
    def order_type(self) -> OrderType:
        return self.intent.order_type

    @property
    def triggered(self) -> bool:
        """A stop-limit whose trigger was reached (it is, or was, a working limit): a trigger in
        its history, or a fill (whose trigger update was lost). False for a limit order."""
        if self.intent.order_type is not OrderType.STOP_LIMIT:
            return False
        return self._filled > 0 or any(h.kind is OrderEventKind.TRIGGER for h in self.history)

    @property
    def filled_qty(self) -> int:
        return self._filled

    @property
    def avg_price(self) -> float:
        """Quantity-weighted price of the fills, 0.0 before the first."""
        filled = self.filled_qty
        # fsum: the same answer whatever order the fills were learned in
        return math.fsum(f.qty * f.price for f in self.fills.values()) / filled if filled else 0.0

    @property
    def remaining(self) -> int:
        return self.intent.qty - self._filled

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def is_working(self) -> bool:
        return self.state in WORKING_STATES

    # -- events ------------------------------------------------------------------------------
    def _next(self, kind: OrderEventKind) -> OrderState:
        nxt = TRANSITIONS.get((self.state, kind))
        if nxt is None:
            raise InvalidTransition(self.state, kind, self.tag)
        return nxt

    def _commit(
        self, kind: OrderEventKind, ts: dt.datetime, nxt: OrderState, broker_id: str | None = None
    ) -> None:
        """Take the step (a broker id, if given, is kept when the order has none yet; a bad one
        raises first, so nothing changes)."""
        if broker_id is not None and self.broker_order_id is None:
            self.broker_order_id = (
                broker_id if type(broker_id) is BrokerOrderId else BrokerOrderId(broker_id)
            )
        self.history.append(_transition((ts, kind, self.state, nxt)))
        self.state = nxt

    def _step(self, kind: OrderEventKind, ts: dt.datetime) -> None:
        self._commit(kind, ts, self._next(kind))

    def submit(self, ts: dt.datetime, broker_order_id: str | None = None) -> None:
        """The order was sent (call after the broker accepted the call, or after it raised
        ``Disconnected`` and before ``timeout``)."""
        self._commit(_SUBMIT, ts, self._next(_SUBMIT), broker_order_id)

    def ack(self, ts: dt.datetime, broker_order_id: str) -> None:
        """The broker has the order: a limit is ``acked`` (working), a stop-limit
        ``trigger_pending`` (working, waiting for its trigger)."""
        nxt = self._next(_ACK)
        if nxt is _ACKED and self.intent.order_type is _STOP_LIMIT:
            nxt = _TRIGGER_PENDING
        self._commit(_ACK, ts, nxt, broker_order_id)

    def hit_trigger(self, ts: dt.datetime) -> None:
        """The price reached the stop-limit's trigger: from now on it works as a limit at its
        limit. A stop triggers once; a limit order has no trigger (both raise
        ``InvalidTransition``)."""
        kind = OrderEventKind.TRIGGER
        if self.intent.order_type is not OrderType.STOP_LIMIT:
            raise InvalidTransition(self.state, kind, self.tag, "a limit order has no trigger")
        if self.triggered:
            raise InvalidTransition(self.state, kind, self.tag, "it has triggered already")
        self._step(kind, ts)

    def apply_fill(self, fill: Fill, broker_order_id: str | None = None) -> bool:
        """Apply a fill once: False (and nothing changes) when its id was applied before."""
        if fill.tag != self.tag:
            raise ValueError(f"fill {fill.fill_id} is for {fill.tag!r}, not order {self.tag!r}")
        if fill.fill_id in self.fills:
            return False
        if not (isinstance(fill.qty, int) and fill.qty > 0):
            raise ValueError(f"fill {fill.fill_id}: qty must be a positive int, got {fill.qty!r}")
        check_price(fill.price, "fill", fill.fill_id, "price")
        nxt = self._next(_FILL)
        remaining = self.intent.qty - self._filled
        if fill.qty > remaining:
            raise Overfill(
                f"order {self.tag}: fill {fill.fill_id} of {fill.qty} exceeds the remaining "
                f"{remaining} of {self.qty}"
            )
        if fill.qty == remaining:
            nxt = _FILLED
        self._commit(_FILL, fill.ts, nxt, broker_order_id)
        self.fills[fill.fill_id] = fill
        self._filled += fill.qty
        return True

    def reject(self, ts: dt.datetime, reason: str) -> None:
        self._step(OrderEventKind.REJECT, ts)
        self.reason = reason

    def cancel(self, ts: dt.datetime) -> None:
        self._step(OrderEventKind.CANCEL, ts)

    def expire(self, ts: dt.datetime) -> None:
        self._step(OrderEventKind.EXPIRE, ts)

    def timeout(self, ts: dt.datetime) -> None:
        """The send's outcome was not seen (the call raised ``Disconnected``): ``unknown``."""
        self._step(OrderEventKind.TIMEOUT, ts)

    def resolve(self, ts: dt.datetime) -> None:
        """Re-open an unknown order as submitted, ready for the broker's row to be replayed."""
        self._step(OrderEventKind.RESOLVE, ts)

    def amend(self, limit: float, trigger: float | None = None) -> None:
        """A modify the broker accepted: the new limit (and the new trigger of a stop-limit that
        has not triggered; None keeps it) apply to the remaining quantity. Only an order that is
        new or working can be amended (not a change of state); once a stop has triggered only its
        limit can change. The prices are checked like the intent's (side, tick grid); nothing
        changes when anything is refused."""
        if not (self.state is OrderState.NEW or self.is_working):
            raise InvalidTransition(self.state, "modify", self.tag)
        if trigger is not None and self.triggered:
            raise InvalidTransition(
                self.state,
                "modify",
                self.tag,
                f"the stop has triggered, so only its limit can change (its trigger stays "
                f"{self.trigger}, asked {trigger})",
            )
        new_trigger = self.trigger if trigger is None else trigger
        i = self.intent
        check_prices(self.tag, i.side, i.order_type, limit, new_trigger, i.tick)
        self.limit = float(limit)
        self.trigger = None if new_trigger is None else float(new_trigger)

    def amend_limit(self, limit: float) -> None:
        """``amend`` with the limit alone."""
        self.amend(limit)

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The order as JSON-able data. The stop fields appear only when set, so a limit order
        saves exactly as it did before order types existed."""
        i = self.intent
        intent: dict[str, Any] = {
            "tag": i.tag,
            "trade_id": i.trade_id,
            "leg": i.leg,
            "action": i.action,
            "side": i.side.value,
            "qty": i.qty,
            "limit": i.limit,
            "decision_price": i.decision_price,
            "instrument": i.instrument,
            "ts": i.ts.isoformat(),
        }
        if i.order_type is not OrderType.LIMIT:
            intent["order_type"] = i.order_type.value
        if i.trigger is not None:
            intent["trigger"] = i.trigger
        if i.tick is not None:
            intent["tick"] = i.tick
        stop = {} if self.trigger is None else {"trigger": self.trigger}
        return {
            "intent": intent,
            "limit": self.limit,
            **stop,
            "state": self.state.value,
            "broker_order_id": self.broker_order_id,
            "reason": self.reason,
            "fills": [fill_to_dict(f) for f in self.fills.values()],
            "history": [
                [h.ts.isoformat(), h.kind.value, h.before.value, h.after.value]
                for h in self.history
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Order:
        """Rebuild an order saved by ``to_dict`` (a dict without stop fields is a limit order);
        raises JournalError naming a bad key."""
        try:
            i = d["intent"]
            trigger, tick = i.get("trigger"), i.get("tick")
            intent = OrderIntent(
                tag=i["tag"],
                trade_id=int(i["trade_id"]),
                leg=int(i["leg"]),
                action=str(i["action"]),
                side=OrderSide(i["side"]),
                qty=int(i["qty"]),
                limit=float(i["limit"]),
                decision_price=float(i["decision_price"]),
                instrument=str(i["instrument"]),
                ts=dt.datetime.fromisoformat(i["ts"]),
                order_type=OrderType(i.get("order_type", OrderType.LIMIT)),
                trigger=None if trigger is None else float(trigger),
                tick=None if tick is None else float(tick),
            )
            order = cls(intent)
            order.limit = float(d["limit"])
            now_trigger = d.get("trigger")
            order.trigger = None if now_trigger is None else float(now_trigger)
            order.state = OrderState(d["state"])
            bid = d["broker_order_id"]
            order.broker_order_id = None if bid is None else BrokerOrderId(bid)
            order.reason = str(d["reason"])
            for f in d["fills"]:
                fill = fill_from_dict(f)
                order.fills[fill.fill_id] = fill
                order._filled += fill.qty
            order.history = [
                Transition(
                    dt.datetime.fromisoformat(ts), OrderEventKind(k), OrderState(b), OrderState(a)
                )
                for ts, k, b, a in d["history"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise JournalError(f"order record is invalid: {exc!r}") from exc
        return order
