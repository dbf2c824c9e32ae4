"""The engine's order flow: intents journaled before they are sent, broker updates applied as
they arrive, fills booked once by fill id, stale orders brought up to the broker's book and
re-priced, and the reconciliation that runs on every start.

``OrderFlow`` is a part of ``dyntrail.engine.Engine`` kept in its own room; it reads and writes
the engine's state and is not used on its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dyntrail.core.costs import CostBreakdown, order_costs
from dyntrail.core.order_pricing import OrderSide, marketable_limit
from dyntrail.core.position import Position
from dyntrail.errors import BrokerError, ConfigError
from dyntrail.execution.broker import (
    Broker,
    BrokerEventKind,
    Disconnected,
    DuplicateTag,
    RateLimited,
    apply_event,
    sync_with_book,
)
from dyntrail.execution.orders import Order, OrderIntent, OrderState, client_tag
from dyntrail.journal import Journal
from dyntrail.trade import Trade

if TYPE_CHECKING:
    from dyntrail.core.config import Config
    from dyntrail.core.contracts import InstrumentSpec


class OrderFlow:
    """Order handling of the engine (see the module docstring)."""

    # The engine's state this part reads and writes (set by ``Engine.__init__``).
    cfg: Config
    spec: InstrumentSpec
    _freeze: dict[dt.date, int]  # the freeze quantity of each day an order went out
    journal: Journal
    broker: Broker
    trade: Trade | None
    orders: dict[str, Order]
    done: dict[str, Order | None]
    meta: dict[str, dict[str, Any]]
    recovered: dict[str, dict[str, Any]]
    retries: list[tuple[str, int, int]]
    blocked: list[str]
    settle: dt.timedelta
    record_acks: bool
    options_mode: bool
    tick: float
    capital: float
    realized: float
    day_realized: float
    trades_today: int
    day: dt.date | None
    now: dt.datetime
    _broker_clock: dt.datetime
    _quote_now: dict[str, tuple[float, float]]
    _on_fill: Callable[[dict[str, Any]], None]
    _on_equity: Callable[[str, float, float, float], None] | None
    _on_trade_closed: Callable[[Trade], None]

    if TYPE_CHECKING:  # provided by Engine

        def iso(self, naive: dt.datetime) -> str: ...
        def _equity(self, t: dt.datetime, equity: float, unrealized: float) -> None: ...
        def _risk_per_unit(self, tr: Trade, pos: Position, t: dt.datetime) -> float: ...

    def _at(self, t: dt.datetime) -> dt.datetime:
        """Market time for a broker call: it never goes back (an in-bar poll a few seconds after
        an order can run ahead of the next bar's start)."""
        if t > self._broker_clock:
            self._broker_clock = t
        return self._broker_clock

    def unresolved(self) -> list[str]:
        """Tags of orders whose outcome is not known: no new order goes out while any exist."""
        return [tag for tag, o in self.orders.items() if o.state is OrderState.UNKNOWN]

    def _working_exit_qty(self, tr: Trade) -> int:
        return sum(
            o.remaining
            for tag, o in self.orders.items()
            if o.is_working
            and self.meta[tag]["trade_id"] == tr.trade_id
            and self.meta[tag]["action"] != "entry"
        )

    def _tidy_orders(self, tr: Trade, ts: dt.datetime) -> None:
        """Orders sent before this bar are first brought up to the broker's book (the cure for
        lost updates), then cancelled if still working: an exit is re-priced once the cancel is
        confirmed (a replacement never goes out while the old order can still fill), an entry is
        not chased."""
        stale = [
            (tag, o)
            for tag, o in self.orders.items()
            if self.meta[tag]["trade_id"] == tr.trade_id
            and dt.datetime.fromisoformat(self.meta[tag]["sent"]) < ts
        ]
        for tag, order in stale:
            self._sync(order, ts, quiet=True)
            if order.is_working and not self.meta[tag].get("cancelling"):
                self._cancel(
                    order,
                    ts,
                    "re-price"
                    if self.meta[tag]["action"] != "entry"
                    else "entry not filled within its bar",
                )
        if stale:
            self.pump(ts)

    def _cancel(self, order: Order, ts: dt.datetime, reason: str) -> None:
        tag = order.tag
        self.meta[tag]["cancelling"] = True
        self.journal.write("order_cancel", self.iso(ts), tag=tag, reason=reason)
        try:
            self.broker.cancel(tag, self._at(ts))
        except Disconnected:
            self.meta[tag]["cancelling"] = False
        except BrokerError:  # no longer working at the broker: take its book
            self._sync(order, ts)

    def _order(
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
    ) -> None:
        """Price the order marketable, journal it, then send it; a tag already known (a decision
        re-made after a restart) is never sent twice."""
        o = self.cfg.options
        lp = marketable_limit(
            side,
            mapped_price=decision,
            best_bid=bid if bid > 0 else None,
            best_ask=ask if ask > 0 else None,
            tick=self.tick,
            cushion_ticks=o.cushion_ticks,
            cushion_pct=o.cushion_pct,
            cushion_cap=o.cushion_cap_inr,
        )
        self._quote_now[tr.instrument] = (bid, ask)  # what the broker fills against
        day, no = self.day or t.date(), tr.trade_id % 10_000
        freeze = self._freeze.get(day)
        if freeze is None:
            freeze = self._freeze[day] = self.spec.freeze_qty_on(day)
        parts = freeze_slices(qty, freeze, tr.position.lot_size)
        numbered = len(parts) > 1  # an order above the freeze quantity goes out in parts
        if len(parts) > MAX_PARTS:  # refused before any part is sent
            raise ConfigError(
                f"an order of {qty} units needs {len(parts)} parts at the freeze quantity "
                f"(at most {MAX_PARTS}): lower [account] lots_per_trade or [limits] max_lots"
            )

        tag = client_tag(day, no, action, attempt, 1 if numbered else 0)
        while tag in self.orders or tag in self.done:  # the same rule firing again
            attempt += 1
            tag = client_tag(day, no, action, attempt, 1 if numbered else 0)
        for k, part in enumerate(parts):
            if k:
                tag = client_tag(day, no, action, attempt, k + 1)
            if tag in self.recovered:  # journaled before a crash: settle it from the book
                self._adopt_recovered(tr, tag, t)
                continue
            self._send(tr, tag, action, side, part, lp.price, decision, underlying, t, attempt)
        self.pump(t + self.settle)

    def _send(
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
        bid, ask = self._quote_now[tr.instrument]
        self.journal.write(
            "order",
            self.iso(t),
            tag=tag,
            trade_id=tr.trade_id,
            action=action,
            side=side,  # a str enum is journaled as its value
            qty=qty,
            limit=limit,
            decision_price=round(decision, 4),
            underlying=round(underlying, 2),
            instrument=tr.instrument,
            attempt=attempt,
            bid=bid,
            ask=ask,
        )
        order = Order(intent)
        self.orders[tag] = order
        self.meta[tag] = {
            "trade_id": tr.trade_id,
            "action": action,
            "attempt": attempt,
            "decision": decision,
            "underlying": underlying,
            "sent": self._at(t).isoformat(),
            "ack": None,
        }
        tr.legs += 1
        self._place(order, t)

    def _adopt_leftovers(self, t: dt.datetime) -> None:
        """Orders journaled before a restart that the replayed bar did not decide again (its
        quotes differ, say): the open trade's are adopted and settled from the broker's book;
        another trade's are flagged for the operator (no new entries)."""
        for tag in list(self.recovered):
            tr = self.trade
            if tr is not None and tr.trade_id == self.recovered[tag]["meta"]["trade_id"]:
                self._adopt_recovered(tr, tag, t)
                continue
            rec = self.recovered.pop(tag)
            self.blocked.append(f"order {tag} of trade {rec['meta']['trade_id']} was journaled "
                                "before the restart and not decided again")  # fmt: skip
            self.journal.write("order_adopted", self.iso(t), tag=tag, flagged=True, state=None)

    def _adopt_recovered(self, tr: Trade, tag: str, t: dt.datetime) -> None:
        rec = self.recovered.pop(tag)
        order = Order.from_dict(rec["order"])
        if order.state is OrderState.NEW:
            order.submit(t)
        if order.state is OrderState.SUBMITTED:
            order.timeout(t)  # sent or not: only the broker's book can say
        self.orders[tag] = order
        self.meta[tag] = rec["meta"]
        tr.legs += 1
        self.journal.write("order_recovered", self.iso(t), tag=tag)
        self._sync(order, t)
        if self._broker_clock < t + self.settle:  # the in-bar poll had not happened yet
            self.pump(t + self.settle)

    def _place(self, order: Order, t: dt.datetime) -> None:
        """Send an order (new, or journaled earlier and not on the broker's book)."""
        try:
            self.broker.place(order.intent, self._at(t))
            _submitted(order, t)
        except DuplicateTag:  # the broker has it already: a resend after a restart
            _submitted(order, t)
            order.timeout(t)
            self._sync(order, t)
        except RateLimited as exc:
            _submitted(order, t)
            order.reject(t, f"rate limited: {exc}")
            self.journal.write("order_refused", self.iso(t), tag=order.tag, reason=str(exc))
            self._settle(order, t)
        except Disconnected as exc:
            _submitted(order, t)
            order.timeout(t)
            self.journal.write("order_unknown", self.iso(t), tag=order.tag, reason=str(exc))

    def pump(self, now: dt.datetime) -> None:
        """Apply every broker update due by ``now``; settle orders whose outcome was unknown.

        With no live order nothing can arrive that changes our state (a late copy of an update
        for a settled order changes nothing), so the broker is not polled: flat bars cost
        nothing."""
        if not self.orders:
            return
        try:
            events = self.broker.on_market(self._at(now), self._quote_now.get)
        except Disconnected:
            return
        for ev in events:
            self.journal.write(
                "broker_event",
                self.iso(ev.ts),
                tag=ev.tag,
                broker_order_id=ev.broker_order_id,
                fill_id=ev.fill_id,
                qty=ev.qty,
                price=ev.price,
                reason=ev.reason,
                event=ev.kind,
            )
            order = self.orders.get(ev.tag) or self.done.get(ev.tag)
            if order is None:
                self.journal.write("orphan_event", self.iso(ev.ts), tag=ev.tag, event=ev.kind.value)
                continue
            if ev.kind is BrokerEventKind.ACK and self.meta[ev.tag]["ack"] is None:
                self.meta[ev.tag]["ack"] = ev.ts.isoformat()
            apply_event(order, ev)
            self._settle(order, ev.ts)
        for tag in self.unresolved():
            self._sync(self.orders[tag], now)

    def _sync(self, order: Order, now: dt.datetime, quiet: bool = False) -> None:
        """Settle an order from the broker's order book (never by blind retry)."""
        try:
            book = {row.tag: row for row in self.broker.order_book()}
        except Disconnected:
            return
        row = book.get(order.tag)
        changed = sync_with_book(order, row, now)
        if quiet and not changed:
            return
        self.journal.write(
            "order_synced",
            self.iso(now),
            tag=order.tag,
            state=order.state.value,
            on_book=row is not None,
        )
        if row is None and order.state is OrderState.SUBMITTED:
            self._place(order, now)  # it never reached the broker: same tag, cannot double
        self._settle(order, now)

    def _settle(self, order: Order, now: dt.datetime) -> None:
        """Apply the order's new fills to its trade; schedule what an ended order left undone."""
        meta = self.meta[order.tag]
        tr = self.trade
        if tr is None or tr.trade_id != meta["trade_id"]:
            self._late_fills(order, meta, now)
            if order.is_terminal:
                self.done[order.tag] = self.orders.pop(order.tag, order)
            return
        for fid, fill in order.fills.items():
            if fid not in tr.applied:
                self._apply_fill(tr, order, fid, fill.qty, fill.price, fill.ts)
        if self.trade is None:  # that fill closed the trade
            if order.is_terminal:
                meta["settled"] = True
                self.done[order.tag] = self.orders.pop(order.tag, order)
            return
        if order.is_terminal and not meta.get("settled"):
            meta["settled"] = True
            self.done[order.tag] = self.orders.pop(order.tag, order)
            if order.state is OrderState.REJECTED:
                row = self._reject_row(tr, order)
                self.journal.write(
                    "order_rejected",
                    row["ts"],
                    reason=order.reason,
                    **{k: v for k, v in row.items() if k != "ts"},
                )
                self._on_fill(row)
            if meta["action"] == "entry" and not self._entry_working(tr):  # every part ended
                if tr.position.qty == 0 and tr.exit_qty > 0:
                    self._close(tr, tr.closing or "exit_eod", tr.last_exit_level, now)
                elif tr.position.qty == 0:
                    self.journal.write(
                        "entry_abandoned",
                        self.iso(now),
                        trade_id=tr.trade_id,
                        state=order.state.value,
                    )
                    self.trade = None
                    self.trades_today -= 1
            elif order.remaining > 0 and tr.position.qty > 0:
                self.retries.append((meta["action"], order.remaining, meta["attempt"] + 1))

    def _late_fills(self, order: Order, meta: dict[str, Any], now: dt.datetime) -> None:
        """A fill for a trade that is no longer open cannot be booked on it: it is journaled and
        flagged (no new entries) for the operator, never dropped in silence."""
        unbooked = order.filled_qty - meta.get("booked", 0)
        if unbooked > 0:
            meta["booked"] = order.filled_qty
            flag = f"order {order.tag} filled {unbooked} after trade {meta['trade_id']} closed"
            self.blocked.append(flag)
            self.journal.write(
                "late_fill", self.iso(now), tag=order.tag, trade_id=meta["trade_id"], qty=unbooked
            )

    def _apply_fill(
        self, tr: Trade, order: Order, fid: str, qty: int, price: float, ts: dt.datetime
    ) -> None:
        meta = self.meta[order.tag]
        meta["booked"] = meta.get("booked", 0) + qty
        tr.applied.add(fid)
        fills = order.fills
        first_of_order = len(fills) == 1 or sum(1 for f in fills if f in tr.applied) == 1
        buy = order.side is OrderSide.BUY
        cost = order_costs(
            self.cfg.costs,
            ts.date(),
            is_buy=buy,
            value_inr=price * qty,
            futures=not self.options_mode,
            include_brokerage=first_of_order,
        )
        ack_ms = None
        if meta["ack"] is not None and self.record_acks:
            sent = dt.datetime.fromisoformat(meta["sent"])
            ack_ms = round((dt.datetime.fromisoformat(meta["ack"]) - sent).total_seconds() * 1e3, 3)
        action = meta["action"]
        entry = action == "entry"
        self._book(
            tr,
            fid=fid,
            action=action,
            buy=buy,
            qty=qty,
            price=price,
            decision=meta["decision"],
            underlying=meta["underlying"],
            cost=cost,
            tag=order.tag,
            ack_ms=ack_ms,
            ts=ts,
        )
        pos = tr.position
        at = self.iso(ts)
        if entry and tr.closing:  # bought after the exit was decided: sell that too
            self.retries.append((tr.closing, qty, 1))
        if entry and tr.risk_per_unit == 0.0:
            tr.risk_per_unit = self._risk_per_unit(tr, pos, ts)
            self.journal.write("position_open", at, trade_id=tr.trade_id, **_targets(pos))
            self.journal.write(
                "stop_moved", at, trade_id=tr.trade_id, level=pos.stop_underlying, reason="initial"
            )
        if not entry and pos.qty == 0 and not self._entry_working(tr):
            self._close(tr, action, meta["underlying"], ts)
        elif self._on_equity is not None:
            unreal = tr.unrealized()
            self._equity(ts, self.capital + self.realized + unreal, unreal)

    def _book(
        self,
        tr: Trade,
        *,
        fid: str,
        action: str,
        buy: bool,
        qty: int,
        price: float,
        decision: float | None,
        underlying: float,
        cost: CostBreakdown,
        tag: str,
        ack_ms: float | None,
        ts: dt.datetime,
    ) -> None:
        """Book one leg (a fill, or the exchange's settlement) on the trade: its value, costs and
        quantity; journal it (``fill``) and hand its ``fills.csv`` row on. ``decision`` None: no
        order decided the price (a settlement), so there is no slippage to report."""
        value = price * qty
        total = cost.total
        if buy:
            tr.buy_value += value
        else:
            tr.sell_value += value
        tr.costs += total
        pos = tr.position
        entry = action == "entry"
        if entry:
            tr.entry_value += value
            pos.qty += qty
            tr.qty = pos.qty
            tr.entry_price = tr.entry_value / pos.qty
            pos.entry_option_price = tr.entry_price
        else:
            tr.exit_qty += qty
            tr.exit_value += value
            tr.last_exit_level = underlying
            pos.reduce(qty)
            tr.exit_legs += 1
            if action == "scale_out_t1":
                tr.t1_qty += qty
                tr.t1_value += value
        slippage: float | str = ""
        slippage_pct: float | str = ""
        if decision is not None:
            slippage = round((price - decision) if buy else (decision - price), 4)
            slippage_pct = round(slippage / decision, 6) if decision > 0 else ""
        at = self.iso(ts)
        row: dict[str, Any] = {  # the fill's journal line, then (with its time) the fills.csv row
            "trade_id": tr.trade_id,
            "leg": 0 if entry else tr.exit_legs,
            "action": action,
            "side": "buy" if buy else "sell",
            "qty": qty,
            "price": price,
            "decision_price": "" if decision is None else round(decision, 4),
            "slippage": slippage,
            "slippage_pct": slippage_pct,
            "underlying": round(underlying, 2),
            "costs": total,  # and its parts (CostBreakdown.parts), the names of FILL_COLUMNS
            "cost_brokerage": cost.brokerage,
            "cost_stt": cost.stt,
            "cost_exchange": cost.exchange,
            "cost_sebi": cost.sebi,
            "cost_ipft": cost.ipft,
            "cost_stamp": cost.stamp,
            "cost_gst": cost.gst,
            "tag": tag,
            "ack_ms": "" if ack_ms is None else ack_ms,
        }
        self.journal.write("fill", at, fill_id=fid, **row)
        row["ts"] = at
        self._on_fill(row)

    def _entry_working(self, tr: Trade) -> bool:
        return any(
            o.is_working
            for tag, o in self.orders.items()
            if self.meta[tag]["trade_id"] == tr.trade_id and self.meta[tag]["action"] == "entry"
        )

    def _close(self, tr: Trade, action: str, level: float, ts: dt.datetime) -> None:
        at = self.iso(ts)
        tr.exit_ts, tr.exit_underlying, tr.exit_reason = at, level, action
        row = tr.row()
        pnl = row["pnl_net"]
        self.realized += pnl
        self.day_realized += pnl
        self.trade = None
        self.retries = []
        self.journal.write(
            "position_closed",
            at,
            trade_id=tr.trade_id,
            reason=action,
            pnl_net=pnl,
            costs=row["costs"],
            row=row,
        )
        if self._on_equity is not None:
            self._equity(ts, self.capital + self.realized, 0.0)
        self._on_trade_closed(tr)

    def _reject_row(self, tr: Trade, order: Order) -> dict[str, Any]:
        meta = self.meta[order.tag]
        return {
            "trade_id": tr.trade_id,
            "leg": "",
            "ts": self.iso(self.now),
            "action": "rejected",
            "side": order.side.value,
            "qty": order.qty,
            "price": "",
            "decision_price": round(meta["decision"], 4),
            "slippage": "",
            "slippage_pct": "",
            "underlying": round(meta["underlying"], 2),
            "costs": 0.0,
            "tag": order.tag,
            "ack_ms": "",
        }

    def reconcile(self, now: dt.datetime) -> list[str]:
        """Hold the engine's view against the broker's (run on every start): orders the broker
        has that we never journaled are adopted and flagged; positions that differ are flagged.
        Any flag blocks new entries (exits still go out) until an operator clears it."""
        try:
            book = self.broker.order_book()
            held = self.broker.positions()
        except Disconnected:
            self.blocked.append("broker unreachable at start")
            return self.blocked
        clock = getattr(self.broker, "clock", None)  # a broker's market time outlives our process
        if isinstance(clock, dt.datetime) and clock > self._broker_clock:
            self._broker_clock = clock
        for order in list(self.orders.values()):  # live orders of the restored state
            self._sync(order, now)
        known = set(self.orders) | set(self.done) | set(self.recovered)
        for row in book:
            if row.tag not in known:
                self.blocked.append(f"order {row.tag} on the broker's book was never journaled")
                self.journal.write(
                    "order_adopted",
                    self.iso(now),
                    tag=row.tag,
                    state=row.state.value,
                    filled=row.filled_qty,
                    flagged=True,
                )
        tr = self.trade
        expected: dict[str, int] = {}
        expired = tr is not None and tr.expiry is not None and tr.expiry <= now.date()
        if tr is not None and tr.position.qty and not expired:
            # (an expired contract may already be settled at the exchange: the engine books
            # that settlement when it replays the expiry's close, so it is not compared here)
            sign = 1 if tr.is_long_instrument else -1
            expected[tr.instrument] = sign * tr.position.qty
        pending = {o.intent.instrument for o in self.orders.values()}
        pending |= {r["order"]["intent"]["instrument"] for r in self.recovered.values()}
        for inst in sorted(set(held) | set(expected)):
            if inst in pending or (expired and tr is not None and inst == tr.instrument):
                continue  # settles through its orders, or through the expiry's settlement
            if held.get(inst, 0) != expected.get(inst, 0):
                self.blocked.append(
                    f"position {inst}: broker {held.get(inst, 0)}, journal {expected.get(inst, 0)}"
                )
        self.journal.write(
            "reconciled",
            self.iso(now),
            flags=list(self.blocked),
            live_orders=sorted(self.orders),
            recovered=sorted(self.recovered),
        )
        return self.blocked


MAX_PARTS = 99  # an order's parts are numbered Q1..Q99 in its tags


def freeze_slices(qty: int, freeze_qty: int, lot: int) -> list[int]:
    """An order's quantity in parts the exchange accepts: none above ``freeze_qty``, each a
    whole number of lots (the last takes the rest). One part when ``qty`` is within it."""
    if qty <= freeze_qty:
        return [qty]
    size = max(freeze_qty // lot, 1) * lot
    full, rest = divmod(qty, size)
    return [size] * full + ([rest] if rest else [])


def _submitted(order: Order, t: dt.datetime) -> None:
    if order.state is OrderState.NEW:
        order.submit(t)


def _targets(pos: Position) -> dict[str, Any]:
    return {
        "side": pos.side,
        "entry_underlying": pos.entry_underlying,
        "stop": pos.stop_underlying,
        "t1": pos.t1_underlying,
        "t2": pos.t2_underlying,
        "move_be": pos.move_be_underlying,
        "qty": pos.qty,
        "tier": pos.vix_tier,
    }
