"""The engine: parts that own their state, wired once, and the order of work on each bar.

Backtest, paper and live feed it the same way, one closed bar at a time (``on_bar``); only the
quote source, the broker, the clock and the sinks' durability differ (the runner chooses them).
For each bar, closing at ``t``:

1. a new session ends the last one (``closing``) and starts its day (``market``, ``book``,
   ``risk``): the day's counters and the gap check;
2. broker updates due by the bar's start are applied (``orders`` -> ``fills`` -> ``book``);
3. each open position (``exiting``): stale orders re-priced, a carried position or an unfilled
   exit sent again, then the bar walked (adverse extreme first) with the indicators, swings and
   VIX tier known *before* the bar; each action becomes an option order;
4. the bar updates the indicators and, with VIX at ``t``, the tier and the spike breaker;
5. at the close: positions marked; the breaker's policy and the daily loss limit (``risk``) exit
   at the close;
6. the risk gate's state is brought up to date; if it lets new risk out (and no order's outcome
   is unknown), the entry gates decide (``entering``).

Nothing at ``t`` sees a bar that closes after ``t``. Every event goes to the sinks as it
happens; an order is journaled before it is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from dyntrail.core.config import Config
from dyntrail.core.contracts import InstrumentSpec
from dyntrail.core.events import OpenAtEnd
from dyntrail.core.features import Features
from dyntrail.core.regime import RegimeFeed, StreamingRegime
from dyntrail.core.types import PositionAction
from dyntrail.engine.book import Book
from dyntrail.engine.closing import Closing
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.entering import Entering
from dyntrail.engine.exiting import Exiting
from dyntrail.engine.fast import Stretches
from dyntrail.engine.fills import Fills
from dyntrail.engine.market import Market
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import Broker, QuoteSource, Sinks
from dyntrail.engine.pricing import Mapping
from dyntrail.engine.recovery import Recovery
from dyntrail.engine.risk import RiskGate
from dyntrail.trade import Trade


class Engine:
    """Runs the strategy on closed bars; see the module docstring for the order of work."""

    def __init__(
        self,
        cfg: Config,
        spec: InstrumentSpec,
        trading_days: list[dt.date],
        quotes: QuoteSource,
        broker: Broker,
        sinks: Sinks,
        features: Features,
        bar_minutes: int,
        *,
        settle: dt.timedelta = dt.timedelta(0),
        signals: Sequence[int] | None = None,  # truthy: a long entry signal at that bar
        regime: RegimeFeed | None = None,
        record_acks: bool = True,
        keep_trades: bool = False,  # keep each closed ``Trade`` in ``book.closed``
    ) -> None:
        run = self.run = Run.of(cfg, spec, trading_days, bar_minutes, settle, record_acks)
        stamps = self.stamps = Stamps(run.tz)
        self.sinks = sinks
        market = self.market = Market(run, stamps, features, regime or StreamingRegime(cfg))
        book = self.book = Book(cfg.account.capital_inr, stamps, sinks, keep_trades)
        risk = self.risk = RiskGate(run.limits, stamps, sinks)
        orders = self.orders = Orders(run, stamps, sinks, broker, market, risk)
        mapping = Mapping(run)
        self.fills = Fills(run, stamps, sinks, book, orders, risk, mapping, market)
        orders.on_update = self.fills.settle
        self.exiting = Exiting(run, stamps, sinks, market, book, orders, quotes, mapping)
        self.closing = Closing(run, stamps, sinks, market, book, orders)
        self.entering = Entering(run, stamps, sinks, market, book, orders, quotes, signals)
        self.recovery = Recovery(stamps, sinks, book, orders, risk)
        self.stretches = Stretches(run, market, book, orders, self.exiting, signals)
        self._reenter = cfg.strategy.entries.reenter_same_bar

    # ------------------------------------------------------------------ the loop

    def on_bar(
        self,
        i: int,
        ts: dt.datetime,
        o: float,
        h: float,
        low: float,
        c: float,
        volume: float | None,
        vix: float,
    ) -> None:
        """Bar ``i`` of the feed, starting at ``ts`` (naive exchange time), closed."""
        run, m, book, orders = self.run, self.market, self.book, self.orders
        t = ts + run.bar
        if ts.date() != m.day:
            self._new_day(ts.date(), o, ts)
        m.bars_total += 1
        if orders.live:
            orders.pump(ts)
        exited = False
        if run.next_bar:  # stops move at the close with this bar's ATR: advance first
            m.advance_features(i, h, low, c, volume)
        if book.open:
            m.bars_in_position += 1
            exited = self._manage(ts, t, o, h, low, c)
        if not run.next_bar:
            m.advance_features(i, h, low, c, volume)
        tripped = m.close_bar(i, t, c, vix)
        if tripped is not None:
            self.sinks.emit(tripped)
        if book.open:
            self._at_close(t, c, vix)
        self.risk.update(t, book.open.values())
        if (
            not (exited and not self._reenter)
            and not self.risk.entry_refusal(len(book.open))
            and not orders.unresolved()
        ):
            self.entering.maybe_enter(i, t, c, vix)
        if orders.recovered:  # journaled before a restart and not decided again on replay
            self.recovery.adopt_leftovers(t)
        m.prev_close = c

    def _manage(
        self, ts: dt.datetime, t: dt.datetime, o: float, h: float, low: float, c: float
    ) -> bool:
        """Each open position's bar (step 3); True when one of them closed."""
        book, orders, exiting = self.book, self.orders, self.exiting
        before = book.trades()
        for tr in before:
            if orders.live:
                orders.tidy(tr, ts)
            if tr.trade_id not in book.open:
                continue
            if tr.carried:
                exiting.exit_carried(tr, ts, o)
            elif tr.retries:
                exiting.retry(tr, ts, o)
            if tr.trade_id in book.open and not tr.closing:  # an exit decided stands
                exiting.walk(tr, t, o, h, low, c)
        return any(tr.trade_id not in book.open for tr in before)

    def _at_close(self, t: dt.datetime, c: float, vix: float) -> None:
        """Step 5: marks, then the breaker's policy or the daily loss limit."""
        book, risk, exiting = self.book, self.risk, self.exiting
        for tr in book.trades():
            exiting.mark(tr, t, c, vix)
        book.mark(t)
        if risk.breaker_flattens(self.market.breaker_on):
            self._exit_all(PositionAction.EXIT_BREAKER, c, t, vix, keep_decided=True)
        elif not risk.halted:
            day_pnl = book.day_pnl()
            if risk.loss_limit_hit(day_pnl):
                risk.halt_on_loss(t, day_pnl)
                self._exit_all(PositionAction.EXIT_RISK, c, t, vix)

    def _exit_all(
        self,
        action: PositionAction,
        level: float,
        t: dt.datetime,
        vix: float,
        keep_decided: bool = False,
    ) -> None:
        """Exit every open position by ``action`` (``keep_decided``: one whose exit is already
        decided, perhaps waiting for a bid, keeps it)."""
        for tr in self.book.trades():
            if tr.trade_id in self.book.open and not (keep_decided and tr.closing):
                self.exiting.exit(tr, action, level, t, vix)

    def finish(self) -> None:
        """End of data: open positions are closed at the last close (``exit_eod``). One that
        cannot be is settled if its contract expired that day, else left open and journaled
        (``open_at_end``) with its last mark."""
        m = self.market
        if m.day is not None:
            self._exit_all(PositionAction.EXIT_EOD, m.last_close, m.now, m.last_vix, True)
        self._end_day()
        for tr in self.book.trades():
            self.sinks.emit(
                OpenAtEnd(
                    ts=self.stamps.iso(m.now),
                    trade_id=tr.trade_id,
                    instrument=tr.instrument,
                    qty=tr.position.qty,
                    mark=tr.mark_price,
                )
            )

    def kill(self, reason: str) -> None:
        """Kill switch: the day halts and every position is flattened at the last close."""
        m = self.market
        self.risk.kill(m.now, reason)
        self._exit_all(PositionAction.EXIT_KILL, m.last_close, m.now, m.last_vix)
        self.risk.update(m.now, self.book.open.values())

    def reconcile(self, now: dt.datetime) -> list[str]:
        """Hold the engine's view against the broker's (run on every start)."""
        return self.recovery.reconcile(now)

    # ------------------------------------------------------------------ days

    def _new_day(self, day: dt.date, day_open: float, ts: dt.datetime) -> None:
        m = self.market
        if m.day is not None:
            self._end_day()
        for tr in self.book.trades():
            if self.run.options_mode and tr.expiry is not None and tr.expiry < day:
                # the data has no bar of the expiry day: settled against the last close known
                tr.flags.append("no_expiry_bars")
                close = dt.datetime.combine(tr.expiry, self.run.cfg.session.close)
                self.closing.settle_expired(tr, close)
        started = m.start_day(day, day_open, ts)
        self.book.new_day()
        self.risk.new_day()
        self.sinks.emit(started)

    def _end_day(self) -> None:
        day = self.market.day
        if day is None:
            return
        close_ts = dt.datetime.combine(day, self.run.cfg.session.close)
        for tr in self.book.trades():
            if tr.trade_id in self.book.open:
                self.closing.session_closed(tr, close_ts)
        self.book.end_day(close_ts)

    # ------------------------------------------------------------------ what runners read

    @property
    def open_trades(self) -> list[Trade]:
        return self.book.trades()

    @property
    def flags(self) -> list[str]:
        """Problems an operator must clear (no entries meanwhile)."""
        return self.risk.flags

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        """Everything needed to continue after a restart, by part, except what the feed
        rebuilds (indicators): JSON-able, and ``restore(state())`` gives the same engine."""
        return {
            "market": self.market.state(),
            "book": self.book.state(),
            "orders": self.orders.state(),
            "risk": self.risk.state_dict(),
        }

    def restore(self, s: dict[str, Any]) -> None:
        """Load a ``state()``; live orders are settled from the broker's book by ``reconcile``
        (run on every start)."""
        self.market.restore(s["market"])
        self.book.restore(s["book"])
        self.orders.restore(s["orders"], self.market.now)
        self.risk.restore(s["risk"])
