"""Order intents, fills, idempotent client tags and the order state machine.

An order's life is one explicit table, ``TRANSITIONS[(state, event_kind)] -> next state``; a pair
missing from the table raises ``InvalidTransition`` and leaves the order untouched. Two events
carry data that picks the outcome: a ``fill`` lands where the table says, or in ``filled`` when
it completes the quantity; ``resolve`` re-opens an ``unknown`` order as ``submitted`` so that the
broker's order book can be replayed onto it (see ``dyntrail.execution.broker.sync_with_book``).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from dyntrail.core.order_pricing import OrderSide
from dyntrail.errors import BrokerError, JournalError

_TAG_RE = re.compile(r"^[A-Za-z0-9]{1,20}$")
_BROKER_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# One letter per action in tags (kept stable: tags identify orders across restarts).
ACTION_CODES = {
    "entry": "E",
    "exit_stop": "S",
    "scale_out_t1": "H",
    "exit_target1": "O",
    "exit_target2": "T",
    "exit_time": "M",
    "exit_eod": "D",
    "exit_breaker": "B",
    "exit_risk": "R",
    "exit_kill": "K",
    "exit_carried": "C",
}


class ClientTag(str):
    """Our idempotency key for one order: 1–20 characters of [A-Za-z0-9] (brokers reject longer
    tags). A broker never holds two orders with the same tag."""

    __slots__ = ()

    def __new__(cls, value: str) -> ClientTag:
        if isinstance(value, ClientTag):
            return value
        if not isinstance(value, str) or not _TAG_RE.match(value):
            raise ValueError(f"client tag must be 1-20 characters of [A-Za-z0-9], got {value!r}")
        return super().__new__(cls, value)


class BrokerOrderId(str):
    """The broker's id for one order: 1–64 characters of [A-Za-z0-9_.:-]."""

    __slots__ = ()

    def __new__(cls, value: str) -> BrokerOrderId:
        if isinstance(value, BrokerOrderId):
            return value
        if not isinstance(value, str) or not _BROKER_ID_RE.match(value):
            raise ValueError(f"broker order id must be 1-64 of [A-Za-z0-9_.:-], got {value!r}")
        return super().__new__(cls, value)


def client_tag(
    day: dt.date, position_no: int, action: str, attempt: int, part: int = 0
) -> ClientTag:
    """Deterministic client tag from (session day, position number, action, attempt), at most 20
    characters of [A-Za-z0-9] (brokers reject longer tags): ``D250103P07S1`` is the first attempt
    of the stop exit of position 7 on 2025-01-03. An order split above the exchange's freeze
    quantity sends parts ``1..99`` as ``D250103P07S1Q1``, ``D250103P07S1Q2``, ... The same inputs
    always give the same tag, so a resend after a timeout is recognisable."""
    code = ACTION_CODES.get(action)
    if code is None:
        raise ValueError(f"no tag code for action {action!r}")
    if not (0 <= position_no < 10_000 and 1 <= attempt < 1000 and 0 <= part < 100):
        raise ValueError(
            f"position {position_no} / attempt {attempt} / part {part} out of range for a tag"
        )
    # digits, "D", "P", "Q" and an action letter, at most 19 characters: valid by construction
    text = f"D{day.year % 100:02d}{day.month:02d}{day.day:02d}P{position_no:02d}{code}{attempt}"
    if part:
        text += f"Q{part}"
    return str.__new__(ClientTag, text)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What the engine asks a broker to do; ``decision_price`` is what the rule expected."""

    tag: str
    trade_id: int
    leg: int
    action: str
    side: OrderSide
    qty: int
    limit: float
    decision_price: float
    instrument: str
    ts: dt.datetime


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of (part of) an order."""

    tag: str
    fill_id: str
    qty: int
    price: float
    ts: dt.datetime
    ack_ms: float | None = None


class OrderState(enum.StrEnum):
    """Where an order stands. ``unknown``: a send whose outcome we did not see."""

    NEW = "new"
    SUBMITTED = "submitted"
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
    FILL = "fill"
    REJECT = "reject"
    CANCEL = "cancel"
    EXPIRE = "expire"
    TIMEOUT = "timeout"
    RESOLVE = "resolve"


S, E = OrderState, OrderEventKind
TRANSITIONS: dict[tuple[OrderState, str], OrderState] = {
    (S.NEW, E.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, E.ACK): S.ACKED,
    (S.SUBMITTED, E.REJECT): S.REJECTED,
    (S.ACKED, E.REJECT): S.REJECTED,  # an exchange may reject what the broker acknowledged
    # Any fill that completes the quantity lands in filled. A fill on a submitted order is legal:
    # its ack was lost or comes late.
    (S.SUBMITTED, E.FILL): S.PARTIALLY_FILLED,
    (S.ACKED, E.FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILL): S.PARTIALLY_FILLED,
    # A fill made before the cancel or expiry but reported after it (a late or lost update): it
    # counts, and the rest stays cancelled or expired (filled if nothing is left).
    (S.CANCELLED, E.FILL): S.CANCELLED,
    (S.EXPIRED, E.FILL): S.EXPIRED,
    (S.SUBMITTED, E.CANCEL): S.CANCELLED,
    (S.ACKED, E.CANCEL): S.CANCELLED,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
    (S.SUBMITTED, E.EXPIRE): S.EXPIRED,
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
WORKING_STATES = frozenset({OrderState.SUBMITTED, OrderState.ACKED, OrderState.PARTIALLY_FILLED})


class InvalidTransition(BrokerError):
    """An event that the order's state does not allow (the pair is not in ``TRANSITIONS``)."""

    def __init__(self, state: OrderState, event_kind: str, tag: str = "") -> None:
        self.state = state
        self.event_kind = str(event_kind)
        legal = sorted(str(k) for (s, k) in TRANSITIONS if s is state) or ["nothing"]
        who = f"order {tag}: " if tag else ""
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


class Order:
    """One order and the state it owns. Rules:

    - Every change of state goes through ``TRANSITIONS``; an illegal event raises
      ``InvalidTransition`` and changes nothing. ``history`` grows only on a valid transition.
    - Each fill is applied once: a fill id already applied is ignored (``apply_fill`` returns
      False), whatever the state; a fill that would overfill raises ``Overfill``.
    - ``to_dict``/``from_dict`` round-trip exactly (the journal and the paper broker store it).
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
    )

    def __init__(self, intent: OrderIntent) -> None:
        self.tag = ClientTag(intent.tag)
        if not (isinstance(intent.qty, int) and intent.qty > 0):
            raise ValueError(f"order {intent.tag}: qty must be a positive int, got {intent.qty!r}")
        _check_price(intent.limit, "order", intent.tag, "limit")
        self.intent = intent
        self.limit = float(intent.limit)
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

    def _commit(self, kind: OrderEventKind, ts: dt.datetime, nxt: OrderState) -> None:
        self.history.append(Transition(ts, kind, self.state, nxt))
        self.state = nxt

    def _step(self, kind: OrderEventKind, ts: dt.datetime) -> None:
        self._commit(kind, ts, self._next(kind))

    def _set_broker_id(self, broker_order_id: str | None) -> None:
        if broker_order_id is not None and self.broker_order_id is None:
            self.broker_order_id = BrokerOrderId(broker_order_id)

    def submit(self, ts: dt.datetime, broker_order_id: str | None = None) -> None:
        """The order was sent (call after the broker accepted the call, or after it raised
        ``Disconnected`` and before ``timeout``)."""
        nxt = self._next(OrderEventKind.SUBMIT)
        self._set_broker_id(broker_order_id)
        self._commit(OrderEventKind.SUBMIT, ts, nxt)

    def ack(self, ts: dt.datetime, broker_order_id: str) -> None:
        nxt = self._next(OrderEventKind.ACK)
        self._set_broker_id(broker_order_id)
        self._commit(OrderEventKind.ACK, ts, nxt)

    def apply_fill(self, fill: Fill, broker_order_id: str | None = None) -> bool:
        """Apply a fill once: False (and nothing changes) when its id was applied before."""
        if fill.tag != self.tag:
            raise ValueError(f"fill {fill.fill_id} is for {fill.tag!r}, not order {self.tag!r}")
        if fill.fill_id in self.fills:
            return False
        if not (isinstance(fill.qty, int) and fill.qty > 0):
            raise ValueError(f"fill {fill.fill_id}: qty must be a positive int, got {fill.qty!r}")
        _check_price(fill.price, "fill", fill.fill_id, "price")
        nxt = self._next(OrderEventKind.FILL)
        if fill.qty > self.remaining:
            raise Overfill(
                f"order {self.tag}: fill {fill.fill_id} of {fill.qty} exceeds the remaining "
                f"{self.remaining} of {self.qty}"
            )
        if fill.qty == self.remaining:
            nxt = OrderState.FILLED
        self._set_broker_id(broker_order_id)
        self.fills[fill.fill_id] = fill
        self._filled += fill.qty
        self._commit(OrderEventKind.FILL, fill.ts, nxt)
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

    def amend_limit(self, limit: float) -> None:
        """A modify the broker accepted: the new limit applies to the remaining quantity. Only an
        order that is new or working can be amended (not a change of state)."""
        if not (self.state is OrderState.NEW or self.is_working):
            raise InvalidTransition(self.state, "modify", self.tag)
        _check_price(limit, "order", self.tag, "limit")
        self.limit = float(limit)

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        i = self.intent
        return {
            "intent": {
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
            },
            "limit": self.limit,
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
        """Rebuild an order saved by ``to_dict``; raises JournalError naming a bad key."""
        try:
            i = d["intent"]
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
            )
            order = cls(intent)
            order.limit = float(d["limit"])
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


def fill_to_dict(f: Fill) -> dict[str, Any]:
    return {
        "tag": f.tag,
        "fill_id": f.fill_id,
        "qty": f.qty,
        "price": f.price,
        "ts": f.ts.isoformat(),
        "ack_ms": f.ack_ms,
    }


def fill_from_dict(d: dict[str, Any]) -> Fill:
    ack = d.get("ack_ms")
    return Fill(
        tag=str(d["tag"]),
        fill_id=str(d["fill_id"]),
        qty=int(d["qty"]),
        price=float(d["price"]),
        ts=dt.datetime.fromisoformat(d["ts"]),
        ack_ms=None if ack is None else float(ack),
    )


def _check_price(value: float, kind: str, name: str, field: str) -> None:
    """``value`` must be a finite number > 0 (the message, made only on failure, names the
    ``kind`` ("order"/"fill"), its ``name`` and the ``field``)."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{kind} {name}: {field} must be finite and > 0, got {value!r}")
