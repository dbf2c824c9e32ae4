"""What an order's updates do to the book: each fill is booked once (by fill id) with its costs;
an entry's first fill opens the position (``position_open``, the initial ``stop_moved``); a
rejection is a ``fills.csv`` row; an order that ended short schedules the rest (an exit goes out
again, re-priced, on the next bar; an entry that filled nothing is abandoned); a fill for a trade
already closed is a ``late_fill``, flagged for the operator and never dropped."""

from __future__ import annotations

import datetime as dt
import weakref
from typing import Any

from dyntrail.core.costs import order_costs
from dyntrail.core.events import LateFill, OrderRejected, PositionOpen, StopMoved
from dyntrail.core.order_pricing import OrderSide
from dyntrail.core.position import Position
from dyntrail.engine.book import Book
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.market import Market
from dyntrail.engine.orders import BACKSTOP, Orders
from dyntrail.engine.ports import Sinks
from dyntrail.engine.pricing import Mapping
from dyntrail.engine.risk import RiskGate
from dyntrail.execution.orders import Fill, Order, OrderState
from dyntrail.trade import Trade

_BUY = OrderSide.BUY


class Fills:
    """Applies orders' updates to the book (see the module docstring); no state of its own.

    The orders are held weakly: they hold this part's ``settle`` as their ``on_update``, and a
    strong reference back would make the engine's parts a cycle, so that a finished run's
    orders, trades and broker book (tens of thousands of objects on W1) were freed by the
    cyclic garbage collector walking them, not by reference counting when the run ends."""

    def __init__(
        self,
        run: Run,
        stamps: Stamps,
        sinks: Sinks,
        book: Book,
        orders: Orders,
        risk: RiskGate,
        mapping: Mapping,
        market: Market,
    ) -> None:
        self.run, self.stamps, self.sinks = run, stamps, sinks
        self.book, self.risk = book, risk
        self._orders = weakref.ref(orders)
        # each underlying's option mapping by name; "" is the run's first
        self.mappings: dict[str, Mapping] = {"": mapping, mapping.run.spec.underlying: mapping}
        self.market = market  # its time stamps a rejection's row

    @property
    def orders(self) -> Orders:
        """The engine's orders (alive as long as the engine is)."""
        orders = self._orders()
        if orders is None:
            raise RuntimeError("the engine's orders are gone")
        return orders

    def settle(self, order: Order, now: dt.datetime) -> None:
        """Apply the order's new fills to its trade; schedule what an ended order left undone."""
        orders = self.orders
        meta = orders.meta[order.tag]
        terminal = order.is_terminal
        if not (terminal or order.fills):  # (an ack): nothing to book, nothing ended
            return
        tr = self.book.get(meta["trade_id"])
        if tr is None:
            self._late_fills(order, meta, now)
            if terminal:
                orders.settled(order)
            return
        for fid, fill in order.fills.items():
            if fid not in tr.applied:
                self._apply_fill(orders, meta, tr, order, fid, fill)
        if tr.trade_id not in self.book.open:  # that fill closed the trade
            if terminal:
                meta["settled"] = True
                orders.settled(order)
            return
        if terminal and not meta.get("settled"):
            meta["settled"] = True
            orders.settled(order)
            if order.state is OrderState.REJECTED:
                self._rejected(tr, order)
            if meta["action"] == "entry" and not orders.entry_working(tr):  # every part ended
                if tr.position.qty == 0 and tr.exit_qty > 0:
                    self.book.close(tr, tr.closing or "exit_eod", tr.last_exit_level, now)
                elif tr.position.qty == 0:
                    self.book.abandon(tr, order.state.value, now)
            elif order.remaining > 0 and tr.position.qty > 0 and meta["action"] != BACKSTOP:
                tr.retries.append((meta["action"], order.remaining, meta["attempt"] + 1))

    def _late_fills(self, order: Order, meta: dict[str, Any], now: dt.datetime) -> None:
        unbooked = order.filled_qty - meta.get("booked", 0)
        if unbooked > 0:
            meta["booked"] = order.filled_qty
            self.risk.flag(
                f"order {order.tag} filled {unbooked} after trade {meta['trade_id']} closed"
            )
            self.sinks.emit(
                LateFill(
                    ts=self.stamps.iso(now), tag=order.tag, trade_id=meta["trade_id"], qty=unbooked
                )
            )

    def _apply_fill(
        self, orders: Orders, meta: dict[str, Any], tr: Trade, order: Order, fid: str, fill: Fill
    ) -> None:
        """Book one fill of ``order`` (whose ``meta`` it is) on its trade."""
        qty, price, ts = fill.qty, fill.price, fill.ts
        meta["booked"] = meta.get("booked", 0) + qty
        tr.applied.add(fid)
        fills = order.fills
        first_of_order = len(fills) == 1 or sum(1 for f in fills if f in tr.applied) == 1
        buy = order.intent.side is _BUY
        mapping = self.mappings[tr.underlying]
        cost = order_costs(
            self.run.cfg.costs,
            ts.date(),
            is_buy=buy,
            value_inr=price * qty,
            futures=not mapping.run.options_mode,
            include_brokerage=first_of_order,
        )
        ack_ms = None
        if meta["ack"] is not None and self.run.record_acks:
            sent = dt.datetime.fromisoformat(meta["sent"])
            ack_ms = round((dt.datetime.fromisoformat(meta["ack"]) - sent).total_seconds() * 1e3, 3)
        action = meta["action"]
        entry = action == "entry"
        self.book.leg(
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
        if entry and tr.closing:  # bought after the exit was decided: sell that too
            tr.retries.append((tr.closing, qty, 1))
        if entry and tr.risk_per_unit == 0.0:
            self._opened(tr, ts, mapping)
        pos = tr.position
        if not entry and pos.qty == 0 and not orders.entry_working(tr):
            self.book.close(tr, action, meta["underlying"], ts)
        else:
            self.book.mark(ts)

    def _opened(self, tr: Trade, ts: dt.datetime, mapping: Mapping) -> None:
        """The entry's first fill: the risk of a unit, the targets and the initial stop."""
        pos = tr.position
        tr.risk_per_unit = mapping.risk_per_unit(tr, pos, ts)
        at = self.stamps.iso(ts)
        self.sinks.emit(PositionOpen(ts=at, trade_id=tr.trade_id, **_targets(pos)))
        self.sinks.emit(
            StopMoved(ts=at, trade_id=tr.trade_id, level=pos.stop_underlying, reason="initial")
        )

    def _rejected(self, tr: Trade, order: Order) -> None:
        meta = self.orders.meta[order.tag]
        self.sinks.emit(
            OrderRejected(
                ts=self.stamps.iso(self.market.now),
                reason=order.reason,
                trade_id=tr.trade_id,
                leg="",
                action="rejected",
                side=order.side.value,
                qty=order.qty,
                price="",
                decision_price=round(meta["decision"], 4),
                slippage="",
                slippage_pct="",
                underlying=round(meta["underlying"], 2),
                costs=0.0,
                tag=order.tag,
                ack_ms="",
            )
        )


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
