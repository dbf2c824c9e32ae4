"""The backstop: a stop-limit order resting at the exchange for each open position (``[backstop]``),
so that a crash, a lost link or a frozen machine never leaves a position without protection.

- **Armed** once the position's entry has ended and no exit of the engine's own is working: a
  stop-limit (Kite's ``SL``; SL-M is not allowed on NSE index options) for the whole quantity,
  its trigger on the option mapped from the underlying ``beyond_pct`` past the engine's stop
  (``core.backstop``), split above the freeze quantity like any order, journaled
  (``stop_order``, an intent) before it is sent, tagged ``…X<n>``.
- **Followed** by modify, never cancel-and-replace, so there is no moment without a stop: when
  the engine's stop tightens by more than ``modify_step_pct``, within ``max_modifications`` per
  order (``stop_modify``, an intent); once the budget is spent the stop stays where it is.
- **Cleared before every exit of the engine's own** (``clear``): cancelled, and the exit waits
  (``exit_waiting``, reason ``backstop``) until the book confirms the cancel, so the two can
  never both fill and leave a short option. What the backstop filled meanwhile is booked
  (``exit_backstop``) and the exit sells only what is left. After a T1 scale-out it is armed
  again for the rest.
- **Escalated**: a backstop that triggered and has not filled within ``escalate_after_s`` is
  cancelled and the engine sends its own marketable exit (``backstop_escalated``).
- **At the open** of a bar-by-bar run (backtest, paper), the exchange acts before the engine: a
  bar that opens past the trigger has the resting stop judged against the option's quote at
  that open first (``at_open``), conservatively at the bid.

After a restart its orders come back with the engine's orders (the state, or the journal's
``stop_order`` lines settled from the broker's book by tag); a position whose backstop is found
working is never given a second one.
"""

from __future__ import annotations

import datetime as dt

from dyntrail.core import backstop as rules
from dyntrail.core.events import BackstopEscalated, StopModify, StopSent
from dyntrail.core.order_pricing import OrderSide
from dyntrail.core.types import PositionAction
from dyntrail.engine.book import Book
from dyntrail.engine.catalog import Catalog
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.exiting import Exiting
from dyntrail.engine.market import Market
from dyntrail.engine.orders import BACKSTOP, Orders
from dyntrail.engine.ports import QuoteSource, Sinks
from dyntrail.engine.pricing import Mapping
from dyntrail.execution.broker import TooManyModifications
from dyntrail.execution.intents import OrderIntent, OrderType
from dyntrail.execution.orders import Order, client_tag
from dyntrail.trade import Trade


class Backstop:
    """One underlying's backstops (see the module docstring); what it keeps is on the orders
    (``meta``: the underlying ``level`` the stop maps, the modifications ``used``) and on each
    trade (``stops``: how many were placed)."""

    def __init__(
        self,
        run: Run,
        stamps: Stamps,
        sinks: Sinks,
        market: Market,
        book: Book,
        orders: Orders,
        quotes: QuoteSource,
        catalog: Catalog,
        mapping: Mapping,
        exiting: Exiting,
    ) -> None:
        self.run, self.stamps, self.sinks = run, stamps, sinks
        self.market, self.book, self.orders = market, book, orders
        self.quotes, self.catalog, self.mapping, self.exiting = quotes, catalog, mapping, exiting
        self.cfg = run.cfg.backstop
        exiting.backstop = self

    # ------------------------------------------------------------------ questions

    def working(self, tr: Trade) -> list[Order]:
        """The trade's backstop orders that have not ended."""
        meta = self.orders.meta
        return [
            o
            for o in self.orders.of_trade(tr.trade_id)
            if meta[o.tag]["action"] == BACKSTOP and not o.is_terminal
        ]

    # ------------------------------------------------------------------ the rules

    def keep(self, tr: Trade, t: dt.datetime, price: float) -> None:
        """At a close or a tick (underlying at ``price``): arm, follow or escalate."""
        if tr.trade_id not in self.book.open or tr.closing or tr.position.qty <= 0:
            return
        orders = self.orders
        mine = self.working(tr)
        if any(orders.meta[o.tag].get("cancelling") for o in mine):
            return  # being cleared: the exit that asked for it goes on
        if mine:
            triggered = [o for o in mine if o.triggered]
            if triggered:
                self._escalate(tr, triggered, t, price)
            else:
                self._follow(tr, mine, t)
            return
        if any(o.is_working for o in orders.of_trade(tr.trade_id)):
            return  # an entry still filling, or an exit of the engine's own working
        self._arm(tr, t)

    def clear(self, tr: Trade, t: dt.datetime) -> bool:
        """Before an exit of the engine's own: cancel the trade's backstop; True once none is
        working (the book confirmed the cancel, or it had ended)."""
        mine = self.working(tr)
        if not mine:
            return True
        orders = self.orders
        for o in mine:
            if not orders.meta[o.tag].get("cancelling"):
                orders.cancel(o, t, rules.OWN_EXIT)
        orders.pump(t)
        return not any(o.is_working for o in mine)

    def at_open(self, tr: Trade, ts: dt.datetime, o: float, vix: float) -> None:
        """A bar-by-bar run's bar opening at ``o``: a resting stop it opened past is judged
        against the option's quote at the open before the engine walks the bar."""
        mine = [x for x in self.working(tr) if not x.triggered]
        if not mine or tr.expiry is None or tr.strike is None or not self.run.options_mode:
            return
        long = tr.position.side.sign > 0
        levels = [self.orders.meta[x.tag]["level"] for x in mine]
        if not any((o <= lv) if long else (o >= lv) for lv in levels):
            return
        contract = tr.contract or self.catalog.option(tr.expiry, tr.strike, tr.right)
        t_years = self.run.tte(ts, tr.expiry)
        q = self.quotes.quote(contract, ts, spot=o, vix=vix, t_years=t_years)
        if q is not None:
            self.market.quotes_now[tr.instrument] = (q.bid, q.ask)
            self.orders.pump(ts)

    # ------------------------------------------------------------------ orders

    def _prices(
        self, tr: Trade, side: OrderSide, level: float, t: dt.datetime
    ) -> tuple[float, float]:
        if self.run.options_mode and tr.expiry is not None and tr.strike is not None:
            t_years = self.run.tte(t, tr.expiry)
            mapped = self.mapping.price(tr, tr.mark_underlying, level, t_years)
        else:
            mapped = level
        return rules.prices(side, mapped, self.run.tick, self.cfg.limit_room_pct)

    def _arm(self, tr: Trade, t: dt.datetime) -> None:
        pos, orders, run = tr.position, self.orders, self.run
        level = rules.level(pos.side.sign > 0, pos.stop_underlying, self.cfg.beyond_pct)
        side = OrderSide.SELL if tr.is_long_instrument else OrderSide.BUY
        trigger, limit = self._prices(tr, side, level, t)
        tr.stops += 1
        day, no = self.market.day or t.date(), tr.trade_id % 10_000
        parts = orders.parts(run, day, pos.qty, pos.lot_size)
        sent = orders.at(t)
        for k, qty in enumerate(parts):
            tag = client_tag(day, no, BACKSTOP, tr.stops, k + 1 if len(parts) > 1 else 0)
            if tag in orders.recovered:  # journaled before a restart: settled from the book
                orders.adopt_recovered(tr, tag, t)
                continue
            if tag in orders.live or tag in orders.done:
                continue  # (never a second order under one tag)
            self.sinks.emit(
                StopSent(
                    ts=self.stamps.iso(t),
                    tag=tag,
                    trade_id=tr.trade_id,
                    action=BACKSTOP,
                    side=side.value,
                    qty=qty,
                    trigger=trigger,
                    limit=limit,
                    level=round(level, 2),
                    instrument=tr.instrument,
                    attempt=tr.stops,
                )
            )
            intent = OrderIntent(
                tag, tr.trade_id, tr.legs, BACKSTOP, side, qty, limit, trigger, tr.instrument,
                t, OrderType.STOP_LIMIT, trigger, run.tick,
            )  # fmt: skip
            meta = {
                "trade_id": tr.trade_id,
                "action": BACKSTOP,
                "attempt": tr.stops,
                "decision": trigger,
                "underlying": round(level, 2),
                "sent": sent.isoformat(),
                "ack": None,
                "level": level,
                "used": 0,
            }
            orders.place_new(tr, intent, meta, t)

    def _follow(self, tr: Trade, mine: list[Order], t: dt.datetime) -> None:
        pos, cfg = tr.position, self.cfg
        long = pos.side.sign > 0
        wanted = rules.level(long, pos.stop_underlying, cfg.beyond_pct)
        for order in mine:
            meta = self.orders.meta[order.tag]
            if not rules.should_move(
                long,
                meta["level"],
                wanted,
                cfg.modify_step_pct,
                meta["used"],
                cfg.max_modifications,
            ):
                continue
            trigger, limit = self._prices(tr, order.side, wanted, t)
            old = order.trigger or 0.0
            if (trigger <= old) if order.side is OrderSide.SELL else (trigger >= old):
                continue  # the option's price would loosen it (time decay): it stays
            meta["used"] += 1
            meta["level"] = wanted
            meta["decision"], meta["underlying"] = trigger, round(wanted, 2)  # its fill's row
            self.sinks.emit(
                StopModify(
                    ts=self.stamps.iso(t),
                    tag=order.tag,
                    trigger=trigger,
                    limit=limit,
                    level=round(wanted, 2),
                    used=meta["used"],
                )
            )
            refused = self.orders.modify(order, limit, trigger, t)
            if isinstance(refused, TooManyModifications):  # (used counts from the last state)
                meta["used"] = cfg.max_modifications

    def _escalate(self, tr: Trade, triggered: list[Order], t: dt.datetime, price: float) -> None:
        orders = self.orders
        for order in triggered:
            meta = orders.meta[order.tag]
            since = dt.datetime.fromisoformat(meta.setdefault("triggered_at", t.isoformat()))
            waited = (t - since).total_seconds()
            if waited < self.cfg.escalate_after_s or meta.get("escalated"):
                continue
            meta["escalated"] = True
            self.sinks.emit(
                BackstopEscalated(
                    ts=self.stamps.iso(t), tag=order.tag, trade_id=tr.trade_id, waited_s=waited
                )
            )
            self.exiting.exit(tr, PositionAction.EXIT_STOP, price, t, self.market.last_vix)
            return
