"""Exits: each open position walks the bar (adverse extreme first) and what it decides becomes
an option order; an exit with nothing to sell into waits; marks at the close.

An exit with no bid (or no quote at all) sends no order: it waits, journaled once as
``exit_waiting``, and is tried again, re-priced, on every later bar. There is no last attempt
and nothing is raised: the session's close decides (``dyntrail.engine.closing``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from dyntrail.core.contract import Contract
from dyntrail.core.events import ExitWaiting, StopMoved, T1Hit
from dyntrail.core.order_pricing import OrderSide
from dyntrail.core.position import T1_ACTIONS
from dyntrail.core.types import PositionAction
from dyntrail.engine.book import Book
from dyntrail.engine.catalog import Catalog
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.market import Market, Underlying
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import QuoteSource, Sinks
from dyntrail.engine.pricing import Mapping
from dyntrail.trade import Trade

if TYPE_CHECKING:
    from dyntrail.engine.backstop import Backstop

_NO_QUOTE = (0.0, 0.0)


class Exiting:
    """The exits of one underlying's positions (see the module docstring); no state of its own
    (what waits is on each trade)."""

    def __init__(
        self,
        run: Run,
        stamps: Stamps,
        sinks: Sinks,
        market: Market,
        underlying: Underlying,
        book: Book,
        orders: Orders,
        quotes: QuoteSource,
        catalog: Catalog,
        mapping: Mapping,
    ) -> None:
        self.run, self.stamps, self.sinks = run, stamps, sinks
        self.market, self.underlying, self.book, self.orders = market, underlying, book, orders
        self.quotes, self.catalog, self.mapping = quotes, catalog, mapping
        self.backstop: Backstop | None = None  # [backstop] on: cleared before each own exit

    def walk(self, tr: Trade, t: dt.datetime, o: float, h: float, low: float, c: float) -> None:
        """The bar closing at ``t`` through the position's state machine, with the indicators,
        swings and tier known before the bar (next-bar semantics: after it)."""
        pos = tr.position
        f = self.underlying.f
        events = pos.on_bar(  # NaN indicators (not yet known) are treated as missing
            self.run.targets,
            o,
            h,
            low,
            c,
            f.atr,
            t,
            tier=self.market.tier,
            swing_low=f.swing_low,
            swing_high=f.swing_high,
        )
        for ev in events:
            action = ev.action
            if action in T1_ACTIONS:
                self.sinks.emit(
                    T1Hit(ts=self.stamps.iso(t), trade_id=tr.trade_id, level=pos.t1_underlying)
                )
                if action is PositionAction.T1_REACHED:
                    continue
            self.exit(tr, action, ev.underlying_price, t, self.market.last_vix)
            if tr.trade_id not in self.book.open:
                return
        if pos.moved:
            self.stop_moved(tr, t)

    def on_price(self, tr: Trade, t: dt.datetime, price: float) -> None:
        """A live price of the underlying at ``t``, between closes: the position's stop and
        targets act on it at once (``Position.on_price``)."""
        ev = tr.position.on_price(self.run.targets, price)
        if ev is not None:
            if ev.action in T1_ACTIONS:
                level = tr.position.t1_underlying
                self.sinks.emit(T1Hit(ts=self.stamps.iso(t), trade_id=tr.trade_id, level=level))
            if ev.action is not PositionAction.T1_REACHED:
                self.exit(tr, ev.action, ev.underlying_price, t, self.market.last_vix)
        if tr.trade_id in self.book.open and tr.position.moved:
            self.stop_moved(tr, t)

    def close_ticked(self, tr: Trade, t: dt.datetime, h: float, low: float, c: float) -> None:
        """The close of a bar whose prices the position already saw as ticks: only what a
        close does (the stop's moves, the time rules)."""
        f = self.underlying.f
        ev = tr.position.at_close(
            self.run.targets,
            h,
            low,
            c,
            f.atr,
            t,
            tier=self.market.tier,
            swing_low=f.swing_low,
            swing_high=f.swing_high,
        )
        if tr.position.moved:
            self.stop_moved(tr, t)
        if ev is not None:
            self.exit(tr, ev.action, ev.underlying_price, t, self.market.last_vix)

    def stop_moved(self, tr: Trade, t: dt.datetime) -> None:
        """The position's stop moved on the bar closing at ``t``: what it says it is now."""
        move = tr.position.take_move()
        if move is not None:
            self.sinks.emit(
                StopMoved(
                    ts=self.stamps.iso(t), trade_id=tr.trade_id, level=move.level, reason=move.kind
                )
            )

    def mark(self, tr: Trade, t: dt.datetime, close: float, vix: float) -> None:
        """Mark the position at the close (no quote: the last mark stands, with the underlying
        it had)."""
        if self.run.options_mode:
            if tr.expiry is not None and tr.strike is not None:
                contract = tr.contract or self._contract(tr, tr.expiry, tr.strike)
                t_years = self.run.tte(t, tr.expiry)
                q = self.quotes.quote(contract, t, spot=close, vix=vix, t_years=t_years)
                if q is not None:
                    tr.mark_price = q.last
                    tr.mark_underlying = close
                    self.market.quotes_now[tr.instrument] = (q.bid, q.ask)
        else:
            tr.mark_price = tr.mark_underlying = close
            slip = self.run.slip
            self.market.quotes_now[tr.instrument] = (close - slip, close + slip)

    def contract_of(self, tr: Trade) -> Contract | None:
        """The trade's option (None when it has none: the underlying is traded)."""
        if tr.expiry is None or tr.strike is None:
            return None
        return tr.contract or self._contract(tr, tr.expiry, tr.strike)

    def _contract(self, tr: Trade, expiry: dt.date, strike: float) -> Contract:
        """The trade's option (looked up once; a restored trade looks it up again)."""
        contract = tr.contract = self.catalog.option(expiry, strike, tr.right)
        return contract

    def exit(
        self,
        tr: Trade,
        action: PositionAction,
        level: float,
        t: dt.datetime,
        vix: float,
        attempt: int = 1,
        qty: int | None = None,
    ) -> None:
        """Sell (all, or the T1 part of) the position: the mapped option price at ``level``,
        made marketable against the quote; no bid: the exit waits."""
        pos = tr.position
        name = action.value  # (an enum's value is a property: read once)
        fresh = qty is None and attempt == 1  # a decision of this bar, not a retry
        if qty is None:
            qty = pos.qty if action.closes_position else pos.scale_out_qty(self.run.targets)
        if action.closes_position:
            tr.closing = name
            if fresh:  # a new decision to close: it covers every exit still waiting
                tr.retries.clear()
            self.orders.cancel_entries(tr, t)
        qty = min(qty, pos.qty - self.orders.working_exit_qty(tr))
        if qty <= 0:
            return
        side = OrderSide.SELL if tr.is_long_instrument else OrderSide.BUY
        if self.run.options_mode and tr.expiry is not None and tr.strike is not None:
            t_years = self.run.tte(t, tr.expiry)
            decision = self.mapping.price(tr, tr.mark_underlying, level, t_years)
            contract = tr.contract or self._contract(tr, tr.expiry, tr.strike)
            q = self.quotes.quote(contract, t, spot=level, vix=vix, t_years=t_years)
            bid, ask = (q.bid, q.ask) if q is not None else _NO_QUOTE
            if bid <= 0.0 and side is OrderSide.SELL:  # nothing to sell into: no order
                self._wait(tr, action, qty, attempt, t, "no_quote" if q is None else "no_bid")
                return
            tr.waiting = ""
        else:
            decision = level
            slip = self.run.slip
            bid, ask = level - slip, level + slip
        if self.backstop is not None:  # never both: the resting stop goes first, confirmed
            if not self.backstop.clear(tr, t):
                self._wait(tr, action, qty, attempt, t, "backstop")
                return
            if tr.trade_id not in self.book.open:  # it filled them all meanwhile
                return
            qty = min(qty, pos.qty - self.orders.working_exit_qty(tr))
            if qty <= 0:
                return
        self.orders.send(tr, name, side, qty, decision, level, t, attempt, bid, ask)

    def _wait(
        self, tr: Trade, action: PositionAction, qty: int, attempt: int, t: dt.datetime, why: str
    ) -> None:
        """An exit with nothing to sell into: no order; tried again on the next bar."""
        tr.retries.append((action.value, qty, attempt))
        if tr.waiting != why:
            tr.waiting = why
            self.sinks.emit(
                ExitWaiting(
                    ts=self.stamps.iso(t),
                    trade_id=tr.trade_id,
                    action=action.value,
                    qty=qty,
                    reason=why,
                )
            )

    def retry(self, tr: Trade, ts: dt.datetime, o: float) -> None:
        """Exits that ended unfilled go out again, re-priced against the quote at this bar's
        open, with the next attempt number; one that cannot fill waits again."""
        retries, tr.retries = tr.retries, []
        for action, qty, attempt in retries:
            self.exit(tr, PositionAction(action), o, ts, self.market.last_vix, attempt, qty)
            if tr.trade_id not in self.book.open:
                return

    def exit_carried(self, tr: Trade, ts: dt.datetime, o: float) -> None:
        """A position the last session could not flatten exits at this session's open."""
        tr.carried = False
        tr.retries = []
        self.exit(tr, PositionAction.EXIT_CARRIED, o, ts, self.market.last_vix)
