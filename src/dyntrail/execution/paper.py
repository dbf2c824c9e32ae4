"""The paper broker: an exchange simulated in-process, with faults, that survives our crashes.

Rules:

- Fills follow the protocol's rule (``dyntrail.execution.broker``): only in ``on_market``, at its
  ``now``, at the quote, never worse than the limit; at most one fill per order per call.
- An order placed at ``t`` is acknowledged (or rejected) at ``t + ack latency`` and can fill from
  ``ack + fill latency``; with an order timeout it expires ``order_timeout_s`` after its ack.
- A stop-limit rests untriggered (``trigger_pending``: working, modifiable, cancellable, never
  filled) until a quote reaches its trigger. The paper broker sees only quotes, so it judges the
  trigger conservatively: a sell triggers when the bid is at or below its trigger, a buy when the
  ask is at or above it (a missing side, 0, triggers nothing). The check runs where a fill would
  (from ``ack + fill latency``, once per market instant). When it triggers it emits ``triggered``
  and is from then on a limit at its limit, matched in the same call like any limit: a sell fills
  at the bid if the bid is at or above its limit, and otherwise rests unfilled (a bid that gapped
  through the limit: the real risk of a stop-limit, left visible). Its order timeout counts from
  the trigger, so a resting stop never expires untriggered.
- Every random decision is drawn from a generator keyed by ``(seed, key, purpose, index)``
  (``dyntrail.execution.faults``), where the key is the order's tag (or a disconnect window),
  never from one shared stream: a broker rebuilt from its state file makes the same decisions for
  the same orders. A stop-limit draws nothing more than a limit order; its ``triggered`` event
  takes one delivery draw, like any event.
- With ``state_path`` the whole broker (book, fills, undelivered events, clock, rate window) is
  saved atomically after every call and loaded on construction (``paper_state``): it plays an
  exchange that outlives our process. Positions are the sum of the book's fills, so they cannot
  drift.
- Delivery faults never touch the book: a dropped event (a ``triggered`` one included) is never
  delivered, a duplicated fill is delivered twice in a row, an out-of-order ack is delivered right
  after the order's first fill (or just before its terminal event if it never fills). During a
  disconnect window calls raise ``Disconnected`` (a place or cancel/modify took effect anyway with
  ``disconnect_placed_prob``; a modify the exchange refused then says nothing) and
  ``on_market`` delivers nothing; the events wait, in order, for the link to come back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

from dyntrail.core.order_pricing import OrderSide
from dyntrail.errors import BrokerError, JournalError
from dyntrail.execution.broker import (
    MAX_MODIFICATIONS,
    AlreadyTriggered,
    BrokerEvent,
    BrokerEventKind,
    BrokerOrder,
    Disconnected,
    DuplicateTag,
    OrderNotWorking,
    QuoteFn,
    RateLimited,
    TooManyModifications,
    UnknownOrder,
)
from dyntrail.execution.faults import Draw, FaultDraws, FaultProfile
from dyntrail.execution.orders import (
    TERMINAL_STATES,
    BrokerOrderId,
    Fill,
    Order,
    OrderIntent,
    OrderState,
    OrderType,
)
from dyntrail.execution.paper_state import BookEntry, read_state, write_state

__all__ = ["FaultProfile", "PaperBroker"]

_ONE_SECOND = dt.timedelta(seconds=1)
# Matched against the quote in on_market: waiting for a trigger, or working as a limit.
_MATCHED = frozenset({OrderState.TRIGGER_PENDING, OrderState.ACKED, OrderState.PARTIALLY_FILLED})
# Read for every order and event: module names are found faster than enum members.
_SUBMITTED, _TRIGGER_PENDING = OrderState.SUBMITTED, OrderState.TRIGGER_PENDING
_BUY = OrderSide.BUY
_ACK, _FILL = BrokerEventKind.ACK, BrokerEventKind.FILL


class PaperBroker:
    """A ``Broker`` that fills against the quotes passed to ``on_market``, with the faults of
    ``profile`` (see the module docstring). Broker order ids are ``PB000001``, ``PB000002``, …"""

    def __init__(self, profile: FaultProfile, seed: int, state_path: Path | None = None) -> None:
        if not (isinstance(seed, int) and seed >= 0):
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.profile = profile
        self.seed = seed
        self.state_path = state_path
        self._saved = b""  # the state file's bytes as last written
        self._draws = FaultDraws(profile, seed)
        self._entries: dict[str, BookEntry] = {}
        self._live: dict[str, BookEntry] = {}  # entries not yet terminal: the only ones scanned
        self._outbox: list[BrokerEvent] = []
        self._clock: dt.datetime | None = None
        self._next_id = 1
        self._place_times: list[dt.datetime] = []
        self._settled: set[str] = set()  # contracts the exchange settled at expiry
        if state_path is not None and state_path.exists():
            self._load(state_path)

    @property
    def clock(self) -> dt.datetime | None:
        """The exchange's market time: the latest ``now`` it was given."""
        return self._clock

    # -- the protocol ------------------------------------------------------------------------
    def place(self, intent: OrderIntent, now: dt.datetime) -> None:
        order = Order(intent)  # validates tag, qty, prices and type before anything happens
        self._advance(now)
        try:
            if self._draws.down(now):
                if intent.tag not in self._entries and self._draws.chance(
                    intent.tag, Draw.PLACED_ANYWAY, self.profile.disconnect_placed_prob
                ):
                    self._accept(order, now)
                raise Disconnected(f"place {intent.tag} at {now}: link down, outcome unknown")
            limit = self.profile.max_orders_per_s
            if limit is not None:  # the times of recent places are kept only for the limit
                recent = [t for t in self._place_times if now - t < _ONE_SECOND]
                self._place_times = recent
                if len(recent) >= limit:
                    raise RateLimited(
                        f"place {intent.tag} at {now}: more than {limit} orders within one second"
                    )
            if intent.tag in self._entries:
                raise DuplicateTag(
                    f"place {intent.tag}: the broker already holds it as "
                    f"{self._entries[intent.tag].order.broker_order_id}"
                )
            self._accept(order, now)
        finally:
            self._save()

    def modify(
        self, tag: str, limit: float, now: dt.datetime, trigger: float | None = None
    ) -> None:
        for name, value in (("limit", limit), ("trigger", trigger)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"modify {tag}: {name} must be finite and > 0, got {value}")

        def amend(e: BookEntry, now: dt.datetime) -> None:
            o = e.order
            if not o.is_working:
                raise OrderNotWorking(f"modify {tag}: order is {o.state.value}")
            if trigger is not None and o.triggered:
                raise AlreadyTriggered(
                    f"modify {tag}: the stop has triggered, so only its limit can change (its "
                    f"trigger stays {o.trigger}, asked {trigger})"
                )
            if e.modified >= MAX_MODIFICATIONS:
                raise TooManyModifications(
                    f"modify {tag}: modified {e.modified} times already, the most an order may be"
                )
            o.amend(limit, trigger)  # ValueError, naming the rule, for prices that break it
            e.modified += 1

        self._request(tag, now, "modify", amend)

    def cancel(self, tag: str, now: dt.datetime) -> None:
        self._request(tag, now, "cancel", self._cancel_entry)

    def order_book(self) -> list[BrokerOrder]:
        return [BrokerOrder.of(e.order) for e in self._entries.values()]

    def positions(self) -> dict[str, int]:
        pos: dict[str, int] = {}
        for e in self._entries.values():
            sign = 1 if e.order.side is OrderSide.BUY else -1
            if e.order.filled_qty and e.order.instrument not in self._settled:
                pos[e.order.instrument] = pos.get(e.order.instrument, 0) + sign * e.order.filled_qty
        return {k: v for k, v in pos.items() if v != 0}

    def settle_expired(self, instrument: str, now: dt.datetime) -> None:
        """The contract expired: its working orders end (``expired``) and it leaves
        ``positions``."""
        self._advance(now)
        for e in self._live.values():
            if e.order.instrument == instrument and e.order.is_working:
                self._release_ack(e)
                e.order.expire(now)
                self._emit(e, BrokerEventKind.EXPIRED, now)
        self._prune()
        self._settled.add(instrument)
        self._save()

    def on_market(self, now: dt.datetime, quote: QuoteFn) -> list[BrokerEvent]:
        self._advance(now)
        out: list[BrokerEvent] = []
        try:
            for e in self._live.values():  # matching never adds or removes entries
                if e.order.state in _MATCHED and e.fill_from_ts <= now:
                    self._match(e, now, quote(e.order.intent.instrument))
            self._prune()  # filled ones leave the scan now: the next call finds less to do
            if not self._draws.down(now):
                out, self._outbox = self._outbox, []
        finally:
            self._save()
        return out

    # -- the exchange ------------------------------------------------------------------------
    def _advance(self, now: dt.datetime) -> None:
        """Apply every ack, reject and expiry due by ``now``, in time order; set the clock."""
        if self._clock is not None and now < self._clock:
            raise ValueError(f"time went backwards: {now} is before the broker clock {self._clock}")
        if not self._live:
            self._clock = now
            return
        while True:
            due: tuple[dt.datetime, BookEntry] | None = None
            for e in self._live.values():
                ts = e.due_ts()
                if ts is not None and ts <= now and (due is None or ts < due[0]):
                    due = (ts, e)
            if due is None:
                break
            self._act(*due)
        self._prune()
        self._clock = now

    def _prune(self) -> None:
        """Drop the orders that have ended from ``_live`` (a new dict only when one has)."""
        for e in self._live.values():
            if e.order.state in TERMINAL_STATES:
                live = self._live.items()
                self._live = {k: x for k, x in live if x.order.state not in TERMINAL_STATES}
                return

    def _act(self, ts: dt.datetime, e: BookEntry) -> None:
        o = e.order
        if o.state is _SUBMITTED:
            p = self.profile
            if p.reject_rate > 0 and self._draws.chance(o.tag, Draw.REJECT, p.reject_rate):
                o.reject(ts, "paper: rejected by risk checks")
                self._emit(e, BrokerEventKind.REJECT, ts, reason=o.reason)
                return
            o.ack(ts, e.boid)  # a stop-limit: trigger_pending
            if p.out_of_order_rate > 0 and self._draws.chance(
                o.tag, Draw.OUT_OF_ORDER, p.out_of_order_rate
            ):
                e.held_ack = True
            else:
                self._emit(e, _ACK, ts)
        else:
            self._release_ack(e)
            o.expire(ts)
            self._emit(e, BrokerEventKind.EXPIRED, ts)

    def _accept(self, order: Order, now: dt.datetime) -> None:
        tag = order.tag
        boid = str.__new__(BrokerOrderId, f"PB{self._next_id:06d}")  # valid by construction
        self._next_id += 1
        order.submit(now, boid)
        p, draws = self.profile, self._draws
        ack_ts = now + draws.latency(tag, Draw.ACK_LATENCY, p.ack_median_ms, p.ack_sigma)
        fill_lat = draws.latency(tag, Draw.FILL_LATENCY, p.fill_median_ms, p.fill_sigma)
        expire_ts = None
        if p.order_timeout_s is not None and order.order_type is OrderType.LIMIT:
            expire_ts = ack_ts + dt.timedelta(seconds=p.order_timeout_s)
        self._entries[tag] = BookEntry(order, boid, ack_ts, ack_ts + fill_lat, expire_ts)
        self._live[tag] = self._entries[tag]
        if p.max_orders_per_s is not None:
            self._place_times.append(now)

    def _match(self, e: BookEntry, now: dt.datetime, q: tuple[float, float] | None) -> None:
        """Match one order against the quote: a waiting stop-limit first checks its trigger,
        then a working limit may fill. At most one fill per order per market instant, so asking
        again at the same time (a client restarted and polling again) changes nothing."""
        if q is None or (e.last_try is not None and now <= e.last_try):
            return
        o = e.order
        bid, ask = q
        if o.state is _TRIGGER_PENDING:
            if not _reaches_trigger(o, bid, ask):
                return
            o.hit_trigger(now)
            if self.profile.order_timeout_s is not None:
                e.expire_ts = now + dt.timedelta(seconds=self.profile.order_timeout_s)
            self._emit(e, BrokerEventKind.TRIGGERED, now, trigger=o.trigger)
        if o.intent.side is _BUY:
            if not (ask > 0 and math.isfinite(ask) and o.limit >= ask):
                return
            price = ask
        else:
            if not (bid > 0 and math.isfinite(bid) and o.limit <= bid):
                return
            price = bid
        qty = o.remaining
        attempt = e.attempts
        e.attempts += 1
        p = self.profile
        if p.partial_fill_prob > 0:
            unit = p.partial_fill_unit
            rng = self._draws.keyed(o.tag, Draw.PARTIAL, attempt)
            if rng.random() < p.partial_fill_prob and qty > unit:
                qty = max(1, int(qty // unit * rng.uniform(0.2, 0.8))) * unit  # < qty: qty > unit
        e.last_try = now
        fill = Fill(o.tag, f"{e.boid}F{len(o.fills) + 1}", qty, float(price), now)
        o.apply_fill(fill)
        self._emit(e, _FILL, now, fill=fill)
        if e.held_ack:
            self._release_ack(e)

    def _release_ack(self, e: BookEntry) -> None:
        if e.held_ack:
            e.held_ack = False
            self._emit(e, BrokerEventKind.ACK, e.ack_ts)

    def _emit(
        self,
        e: BookEntry,
        kind: BrokerEventKind,
        ts: dt.datetime,
        *,
        fill: Fill | None = None,
        reason: str = "",
        trigger: float | None = None,
    ) -> None:
        """Queue an event for delivery, unless the drop fault eats it; fills may be doubled."""
        p = self.profile
        u_drop, u_dup = 1.0, 1.0
        if p.drop_rate > 0 or p.duplicate_rate > 0:
            u_drop, u_dup = self._draws.keyed(e.order.tag, Draw.DELIVERY, e.emitted).random(2)
        e.emitted += 1
        if u_drop < p.drop_rate:
            return
        tag = e.order.tag  # positional: kind, tag, ts, broker order id, fill id, qty, price, reason
        if fill is None:
            event = BrokerEvent(kind, tag, ts, e.boid, None, 0, trigger or 0.0, reason)
        else:
            event = BrokerEvent(kind, tag, ts, e.boid, fill.fill_id, fill.qty, fill.price, reason)
        self._outbox.append(event)
        if fill is not None and u_dup < p.duplicate_rate:
            self._outbox.append(event)

    def _cancel_entry(self, e: BookEntry, now: dt.datetime) -> None:
        """Cancel the rest of a working order; nothing for a finished one."""
        if e.order.is_working:
            self._release_ack(e)
            e.order.cancel(now)
            self._emit(e, BrokerEventKind.CANCELLED, now)

    def _request(
        self,
        tag: str,
        now: dt.datetime,
        what: str,
        effect: Callable[[BookEntry, dt.datetime], None],
    ) -> None:
        """Apply a modify/cancel ``effect`` to the order ``tag``. While the link is down the call
        raises ``Disconnected``, after letting a request on a working order through with
        ``disconnect_placed_prob`` (if the exchange refuses it, the refusal is lost with the
        link)."""
        self._advance(now)
        try:
            e = self._entries.get(tag)
            if self._draws.down(now):
                if e is not None:
                    index = e.requests
                    e.requests += 1
                    anyway = self._draws.draw(tag, Draw.REQUEST_ANYWAY, index)
                    if anyway < self.profile.disconnect_placed_prob and e.order.is_working:
                        with contextlib.suppress(BrokerError, ValueError):
                            effect(e, now)
                raise Disconnected(f"{what} {tag} at {now}: link down, outcome unknown")
            if e is None:
                raise UnknownOrder(f"{what} {tag}: the broker holds no order with that tag")
            e.requests += 1
            effect(e, now)
        finally:
            self._save()

    # -- persistence -------------------------------------------------------------------------
    def _save(self) -> None:
        if self.state_path is None:
            return
        body = {
            "clock": None if self._clock is None else self._clock.isoformat(),
            "next_id": self._next_id,
            "place_times": [t.isoformat() for t in self._place_times],
            "outbox": [ev.to_dict() for ev in self._outbox],
            "orders": [e.to_dict() for e in self._entries.values()],
            "settled": sorted(self._settled),
        }
        self._saved = write_state(self.state_path, self.seed, self.profile, body, self._saved)

    def _load(self, path: Path) -> None:
        state = read_state(path, self.seed, self.profile)
        try:
            clock = state["clock"]
            self._clock = None if clock is None else dt.datetime.fromisoformat(clock)
            self._next_id = int(state["next_id"])
            self._place_times = [dt.datetime.fromisoformat(t) for t in state["place_times"]]
            self._outbox = [BrokerEvent.from_dict(ev) for ev in state["outbox"]]
            entries = [BookEntry.from_dict(d) for d in state["orders"]]
            self._settled = set(state.get("settled", []))
        except (KeyError, TypeError, ValueError, JournalError) as exc:
            raise BrokerError(f"paper broker state {path} is unreadable: {exc}") from exc
        self._entries = {e.order.tag: e for e in entries}
        self._live = {k: e for k, e in self._entries.items() if not e.order.is_terminal}


def _reaches_trigger(order: Order, bid: float, ask: float) -> bool:
    """The conservative trigger rule: a sell stop when a positive bid is at or below its
    trigger, a buy stop when a positive ask is at or above it."""
    trigger = order.trigger
    if trigger is None:  # a stop-limit always has one (Order checks)
        return False
    if order.side is OrderSide.SELL:
        return bid > 0 and math.isfinite(bid) and bid <= trigger
    return ask > 0 and math.isfinite(ask) and ask >= trigger
