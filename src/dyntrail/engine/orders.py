"""Orders: the only part of the engine that talks to the broker.

An order is priced marketable, passes the risk gate, is journaled (``order``) and only then
sent; a tag already known (a decision made again after a restart) is never sent twice. Broker
updates are journaled as they arrive and handed, once per order, to ``on_update`` (the engine's
fills). Stale orders are brought up to the broker's book, then cancelled and re-priced. An order
above the freeze quantity goes out in whole-lot parts tagged ``…Q1``, ``…Q2``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from dyntrail.core.events import (
    BrokerUpdate,
    OrderCancel,
    OrderRecovered,
    OrderRefused,
    OrderSent,
    OrderSynced,
    OrderUnknown,
    OrphanEvent,
)
from dyntrail.core.order_pricing import MAX_PARTS, OrderSide, freeze_slices, marketable_limit
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.market import Market
from dyntrail.engine.ports import Sinks
from dyntrail.engine.risk import RiskGate
from dyntrail.errors import BrokerError, ConfigError
from dyntrail.execution.broker import (
    Broker,
    BrokerEventKind,
    BrokerOrder,
    Disconnected,
    DuplicateTag,
    RateLimited,
    apply_event,
    sync_with_book,
)
from dyntrail.execution.orders import Order, OrderIntent, OrderState, client_tag
from dyntrail.execution.tags import day_code
from dyntrail.trade import Trade

BACKSTOP = "exit_backstop"  # the action of a backstop's stop-limit (``engine.backstop``)
_NOT_EXITS = frozenset({"entry", BACKSTOP})  # orders that do not sell what the engine exits
_DRAIN_STEP = dt.timedelta(minutes=1)
_DRAIN_STEPS = 10

OnUpdate = Callable[[Order, dt.datetime], None]

# Read for every order and update: module names are found faster than enum members.
_ACK, _FILL, _UNKNOWN = BrokerEventKind.ACK, BrokerEventKind.FILL, OrderState.UNKNOWN


class Orders:
    """Orders in flight and settled, and the broker (see the module docstring)."""

    def __init__(
        self, run: Run, stamps: Stamps, sinks: Sinks, broker: Broker, market: Market, risk: RiskGate
    ) -> None:
        self.run = run
        # each underlying's facts (tick, freeze quantity) by name; "" is the run's first
        self.runs: dict[str, Run] = {"": run, run.spec.underlying: run}
        self.stamps = stamps
        self.sinks = sinks
        self.broker = broker
        self.market = market
        self.risk = risk
        self.live: dict[str, Order] = {}  # not yet settled
        # settled (terminal and booked); None for orders settled before the last restart
        self.done: dict[str, Order | None] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self.recovered: dict[str, dict[str, Any]] = {}  # journaled intents not in the snapshot
        self.clock = dt.datetime(1970, 1, 1)  # the broker's market time: it never goes back
        self._freeze: dict[tuple[str, dt.date], int] = {}  # freeze quantities, as looked up
        self.on_update: OnUpdate = lambda order, now: None

    # ------------------------------------------------------------------ questions

    def at(self, t: dt.datetime) -> dt.datetime:
        """Market time for a broker call: it never goes back (an in-bar poll a few seconds after
        an order can run ahead of the next bar's start)."""
        if t > self.clock:
            self.clock = t
        return self.clock

    def unresolved(self) -> list[str]:
        """Tags of orders whose outcome is not known: no new entry goes out while any exist."""
        return [tag for tag, o in self.live.items() if o.state is _UNKNOWN]

    def of_trade(self, trade_id: int) -> list[Order]:
        return [o for tag, o in self.live.items() if self.meta[tag]["trade_id"] == trade_id]

    def working_exit_qty(self, tr: Trade) -> int:
        if not self.live:  # (most of the time, between a backtest's orders)
            return 0
        return sum(
            o.remaining
            for o in self.of_trade(tr.trade_id)
            if o.is_working and self.meta[o.tag]["action"] not in _NOT_EXITS
        )

    def entry_working(self, tr: Trade) -> bool:
        return bool(self.live) and any(
            o.is_working and self.meta[o.tag]["action"] == "entry"
            for o in self.of_trade(tr.trade_id)
        )

    # ------------------------------------------------------------------ sending

    def send(
        self,
        tr: Trade,
        action: str,
        side: OrderSide,
        qty: int,
        decision: float,
        underlying: float,
        t: dt.datetime,
        attempt: int,
        bid: float,
        ask: float,
    ) -> bool:
        """Price the order marketable, ask the risk gate, journal it, then send it (in parts
        above the freeze quantity); False when the risk gate refused it (``order_refused``)."""
        run = self.runs[tr.underlying]
        o = run.cfg.options
        lp = marketable_limit(
            side,
            mapped_price=decision,
            best_bid=bid if bid > 0 else None,
            best_ask=ask if ask > 0 else None,
            tick=run.tick,
            cushion_ticks=o.cushion_ticks,
            cushion_pct=o.cushion_pct,
            cushion_cap=o.cushion_cap_inr,
        )
        self.market.quotes_now[tr.instrument] = (bid, ask)  # what the broker fills against
        day, no = self.market.day or t.date(), tr.trade_id % 10_000
        parts = self.parts(run, day, qty, tr.position.lot_size)
        numbered = len(parts) > 1
        tag = client_tag(day, no, action, attempt, 1 if numbered else 0)
        while tag in self.live or tag in self.done:  # the same rule firing again
            attempt += 1
            tag = client_tag(day, no, action, attempt, 1 if numbered else 0)
        refusal = self.risk.order_refusal(action)
        if refusal:
            self.sinks.emit(OrderRefused(ts=self.stamps.iso(t), tag=tag, reason=refusal))
            return False
        for k, part in enumerate(parts):
            if k:
                tag = client_tag(day, no, action, attempt, k + 1)
            if tag in self.recovered:  # journaled before a crash: settle it from the book
                self.adopt_recovered(tr, tag, t)
                continue
            self._send_one(tr, tag, action, side, part, lp.price, decision, underlying, t, attempt)
        self.pump(t + self.run.settle)
        return True

    def parts(self, run: Run, day: dt.date, qty: int, lot: int) -> list[int]:
        """``qty`` in whole-lot parts at or below the day's freeze quantity."""
        key = (run.spec.underlying, day)
        freeze = self._freeze.get(key)
        if freeze is None:
            freeze = self._freeze[key] = run.spec.freeze_qty_on(day)
        parts = freeze_slices(qty, freeze, lot)
        if len(parts) > MAX_PARTS:  # refused before any part is sent
            raise ConfigError(
                f"an order of {qty} units needs {len(parts)} parts at the freeze quantity "
                f"(at most {MAX_PARTS}): lower [account] lots_per_trade or [limits] max_lots"
            )
        return parts

    def _send_one(
        self,
        tr: Trade,
        tag: str,
        action: str,
        side: OrderSide,
        qty: int,
        limit: float,
        decision: float,
        underlying: float,
        t: dt.datetime,
        attempt: int,
    ) -> None:
        """Journal one order, then send it."""
        intent = OrderIntent(
            tag, tr.trade_id, tr.legs, action, side, qty, limit, decision, tr.instrument, t
        )
        bid, ask = self.market.quotes_now[tr.instrument]
        self.sinks.emit(
            OrderSent(
                ts=self.stamps.iso(t),
                tag=tag,
                trade_id=tr.trade_id,
                action=action,
                side=side,
                qty=qty,
                limit=limit,
                decision_price=round(decision, 4),
                underlying=round(underlying, 2),
                instrument=tr.instrument,
                attempt=attempt,
                bid=bid,
                ask=ask,
            )
        )
        meta = {
            "trade_id": tr.trade_id,
            "action": action,
            "attempt": attempt,
            "decision": decision,
            "underlying": underlying,
            "sent": self.at(t).isoformat(),
            "ack": None,
        }
        self.place_new(tr, intent, meta, t)

    def place_new(
        self, tr: Trade, intent: OrderIntent, meta: dict[str, Any], t: dt.datetime
    ) -> None:
        """Send an order already journaled (by ``_send_one``, or a backstop's stop-limit):
        tracked with ``meta`` and placed."""
        order = Order(intent)
        self.live[intent.tag] = order
        self.meta[intent.tag] = meta
        tr.legs += 1
        self.place(order, t)

    def modify(
        self, order: Order, limit: float, trigger: float | None, t: dt.datetime
    ) -> Exception | None:
        """Move a working order's limit (and a resting stop's trigger); the broker's refusal
        is journaled (``order_refused``) and returned (None: taken, or an outcome not seen,
        which the book settles: ``sync`` takes its prices)."""
        try:
            self.broker.modify(order.tag, limit, self.at(t), trigger)
        except Disconnected:
            return None
        except (BrokerError, ValueError) as exc:
            reason = f"modify: {exc}"
            self.sinks.emit(OrderRefused(ts=self.stamps.iso(t), tag=order.tag, reason=reason))
            self.sync(order, t, quiet=True)
            return exc
        order.amend(limit, trigger)
        return None

    def place(self, order: Order, t: dt.datetime) -> None:
        """Send an order (new, or journaled earlier and not on the broker's book)."""
        iso = self.stamps.iso
        try:
            self.broker.place(order.intent, self.at(t))
            _submitted(order, t)
        except DuplicateTag:  # the broker has it already: a resend after a restart
            _submitted(order, t)
            order.timeout(t)
            self.sync(order, t)
        except RateLimited as exc:
            _submitted(order, t)
            order.reject(t, f"rate limited: {exc}")
            self.sinks.emit(OrderRefused(ts=iso(t), tag=order.tag, reason=str(exc)))
            self.on_update(order, t)
        except Disconnected as exc:
            _submitted(order, t)
            order.timeout(t)
            self.sinks.emit(OrderUnknown(ts=iso(t), tag=order.tag, reason=str(exc)))

    def broker_view(self) -> tuple[list[BrokerOrder], dict[str, int]]:
        """The broker's order book and positions (``Disconnected`` when it cannot say); a
        broker's market time that is ahead of ours (it outlives our process) is taken."""
        book = self.broker.order_book()
        held = self.broker.positions()
        clock = getattr(self.broker, "clock", None)
        if isinstance(clock, dt.datetime) and clock > self.clock:
            self.clock = clock
        return book, held

    def settle_expired(self, instrument: str, t: dt.datetime) -> None:
        """Tell the broker the exchange settled what it held of an expired contract."""
        self.broker.settle_expired(instrument, self.at(t))

    def cancel(self, order: Order, ts: dt.datetime, reason: str) -> None:
        tag = order.tag
        self.meta[tag]["cancelling"] = True
        self.sinks.emit(OrderCancel(ts=self.stamps.iso(ts), tag=tag, reason=reason))
        try:
            self.broker.cancel(tag, self.at(ts))
        except Disconnected:
            self.meta[tag]["cancelling"] = False
        except BrokerError:  # no longer working at the broker: take its book
            self.sync(order, ts)

    def cancel_entries(self, tr: Trade, t: dt.datetime) -> None:
        """Stop buying more of what is being sold: the trade's working entry orders."""
        if not self.live:
            return
        for order in self.of_trade(tr.trade_id):
            meta = self.meta[order.tag]
            if meta["action"] == "entry" and order.is_working and not meta.get("cancelling"):
                self.cancel(order, t, "exit decided")

    # ------------------------------------------------------------------ updates

    def pump(self, now: dt.datetime) -> None:
        """Apply every broker update due by ``now``; settle orders whose outcome was unknown.
        With no live order nothing can arrive that changes our state, so the broker is not
        polled: flat bars cost nothing."""
        if not self.live:
            return
        try:
            events = self.broker.on_market(self.at(now), self.market.quotes_now.get)
        except Disconnected:
            return
        iso, emit, live, on_update = self.stamps.iso, self.sinks.emit, self.live, self.on_update
        for ev in events:
            tag, kind = ev.tag, ev.kind
            emit(
                BrokerUpdate(
                    ts=iso(ev.ts),
                    tag=tag,
                    broker_order_id=ev.broker_order_id,
                    fill_id=ev.fill_id,
                    qty=ev.qty,
                    price=ev.price,
                    reason=ev.reason,
                    event=kind,
                )
            )
            order = live.get(tag) or self.done.get(tag)
            if order is None:
                emit(OrphanEvent(ts=iso(ev.ts), tag=tag, event=kind.value))
                known = tag in self.done or tag in self.recovered  # settled, or adopted
                if kind is _FILL and not known:  # units no trade can book
                    self.risk.flag(f"fill {ev.fill_id} of {ev.qty} for order {tag}, not ours")
                continue
            if kind is _ACK and (meta := self.meta[tag])["ack"] is None:
                meta["ack"] = ev.ts.isoformat()
            apply_event(order, ev)
            on_update(order, ev.ts)
        if live:  # (after the last fill of a bar there is none)
            for unknown in self.unresolved():
                self.sync(live[unknown], now)

    def sync(self, order: Order, now: dt.datetime, quiet: bool = False) -> None:
        """Settle an order from the broker's order book (never by blind retry)."""
        try:
            book = {row.tag: row for row in self.broker.order_book()}
        except Disconnected:
            return
        row = book.get(order.tag)
        changed = sync_with_book(order, row, now)
        if quiet and not changed:
            return
        self.sinks.emit(
            OrderSynced(
                ts=self.stamps.iso(now),
                tag=order.tag,
                state=order.state.value,
                on_book=row is not None,
            )
        )
        if row is None and order.state is OrderState.SUBMITTED:
            self.place(order, now)  # it never reached the broker: same tag, cannot double
        self.on_update(order, now)

    def new_day(self, day: dt.date) -> None:
        """A session starts: orders settled on earlier days are forgotten (a tag carries its
        day, so none of theirs can be made again), and the saved state stays the size of one
        day's orders. An update that still arrives for one is journaled as an orphan."""
        prefix = day_code(day)
        self.done = {tag: o for tag, o in self.done.items() if tag.startswith(prefix)}

    def settled(self, order: Order) -> None:
        """An ended order leaves the live ones."""
        self.done[order.tag] = self.live.pop(order.tag, order)

    def tidy(self, tr: Trade, ts: dt.datetime) -> None:
        """The trade's orders sent before this bar are first brought up to the broker's book
        (the cure for lost updates), then cancelled if still working: an exit is re-priced once
        the cancel is confirmed (a replacement never goes out while the old order can still
        fill), an entry is not chased."""
        stale = [
            o
            for o in self.of_trade(tr.trade_id)
            if dt.datetime.fromisoformat(self.meta[o.tag]["sent"]) < ts
            and self.meta[o.tag]["action"] != BACKSTOP  # it rests on purpose
        ]
        for order in stale:
            meta = self.meta[order.tag]
            self.sync(order, ts, quiet=True)
            if order.is_working and not meta.get("cancelling"):
                entry = meta["action"] == "entry"
                self.cancel(order, ts, "entry not filled within its bar" if entry else "re-price")
        if stale:
            self.pump(ts)

    def cancel_working(self, trades: list[Trade], now: dt.datetime) -> None:
        """Cancel the trades' working orders (the exchange ends day orders at the close), all of
        them first, then take every update until none is left working, so no fill can come
        after."""
        mine = [o for tr in trades for o in self.of_trade(tr.trade_id) if o.is_working]
        for order in mine:
            if not self.meta[order.tag].get("cancelling"):
                self.cancel(order, now, "session closed")
        t = now
        for _ in range(_DRAIN_STEPS):
            self.pump(t)
            if not any(o.is_working for o in mine):
                return
            t += _DRAIN_STEP
        for order in mine:  # an update may have been lost: the broker's book is the truth
            if order.is_working:
                self.sync(order, t)

    def adopt_recovered(self, tr: Trade, tag: str, t: dt.datetime) -> None:
        """An order journaled before a restart, decided again: settled from the broker's book."""
        rec = self.recovered.pop(tag)
        order = Order.from_dict(rec["order"])
        if order.state is OrderState.NEW:
            order.submit(t)
        if order.state is OrderState.SUBMITTED:
            order.timeout(t)  # sent or not: only the broker's book can say
        self.live[tag] = order
        self.meta[tag] = rec["meta"]
        tr.legs += 1
        self.sinks.emit(OrderRecovered(ts=self.stamps.iso(t), tag=tag))
        self.sync(order, t)
        if self.clock < t + self.run.settle:  # the in-bar poll had not happened yet
            self.pump(t + self.run.settle)

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        return {
            "live": {tag: o.to_dict() for tag, o in self.live.items()},
            "meta": {tag: self.meta[tag] for tag in self.live},
            "done": sorted(self.done),
        }

    def restore(self, s: dict[str, Any], now: dt.datetime) -> None:
        """Live orders come back as they were; what became of one that was sent is the broker
        book's to say (``reconcile``, run on every start)."""
        self.live = {tag: Order.from_dict(d) for tag, d in s["live"].items()}
        self.meta = dict(s["meta"])
        for order in self.live.values():
            if order.state is OrderState.NEW:
                order.submit(now)
            if order.state is OrderState.SUBMITTED:
                order.timeout(now)
        self.done = dict.fromkeys(s["done"])


def _submitted(order: Order, t: dt.datetime) -> None:
    if order.state is OrderState.NEW:
        order.submit(t)
