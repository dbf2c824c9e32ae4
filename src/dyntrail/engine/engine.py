"""The engine: parts that own their state, wired once, and the order of work on each bar.

Backtest, paper and live feed it the same way, one closed bar at a time (``on_bar``; with several
underlyings, one step of their bars at a time, ``on_step``); only the quote sources, the broker,
the clock and the sinks' durability differ (the runner chooses them). For each bar closing at
``t``:

1. a new session ends the last one (each venue's ``closing``) and starts its day (``market``,
   ``book``, ``risk``, and each underlying's gap check);
2. broker updates due by the bar's start are applied (``orders`` -> ``fills`` -> ``book``);
3. each open position (its venue's ``exiting``): stale orders re-priced, a carried position or
   an unfilled exit sent again, then the bar walked (adverse extreme first) with the
   indicators, swings and VIX tier known *before* the bar; each action becomes an option order;
4. the bar updates the indicators and, with VIX at ``t``, the tier and the spike breaker;
5. at the close: positions marked; the breaker's policy and the daily loss limit (``risk``) exit
   at the close;
6. the risk gate's state is brought up to date; while it lets new risk out (and no order's
   outcome is unknown), each venue's entry gates decide (``entering``).

Nothing at ``t`` sees a bar that closes after ``t``. Every event goes to the sinks as it
happens; an order is journaled before it is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dyntrail.core.config import Config
from dyntrail.core.contracts import InstrumentSpec
from dyntrail.core.events import OpenAtEnd, PositionClosed, PositionOpen
from dyntrail.core.features import Features
from dyntrail.core.regime import RegimeFeed, StreamingRegime
from dyntrail.core.types import PositionAction
from dyntrail.engine.book import Book
from dyntrail.engine.commands import Command, CommandError, Commands, ForceExit, Kill
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.fast import Stretches
from dyntrail.engine.fills import Fills
from dyntrail.engine.market import Market
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import Broker, QuoteSource, Route, Sinks
from dyntrail.engine.recovery import Recovery
from dyntrail.engine.risk import RiskGate
from dyntrail.engine.venue import Venue, VenueSpec
from dyntrail.trade import Trade

Bar = tuple[int, float, float, float, float, float | None]
"""One underlying's bar in a step: (its index in its feed, open, high, low, close, volume)."""


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
        others: Sequence[VenueSpec] = (),  # more underlyings traded in the same account
        ticked: bool = False,  # live: every price also comes as a tick (``on_tick``)
    ) -> None:
        run = self.run = Run.of(cfg, spec, trading_days, bar_minutes, settle, record_acks)
        stamps = self.stamps = Stamps(run.tz)
        self.sinks = sinks
        market = self.market = Market(run, stamps, regime or StreamingRegime(cfg))
        book = self.book = Book(cfg.account.capital_inr, stamps, sinks, keep_trades)
        risk = self.risk = RiskGate(
            run.limits, stamps, sinks, cfg.protections, cfg.account.capital_inr
        )
        if cfg.protections.enabled:  # the protections count positions as they open and close
            sinks.add(Route(risk.follow, only=frozenset({PositionOpen, PositionClosed})))
        orders = self.orders = Orders(run, stamps, sinks, broker, market, risk)
        parts = (stamps, sinks, market, book, orders)
        venue = self.venue = Venue(run, *parts, features, quotes, signals)
        self.venues: dict[str, Venue] = {"": venue, venue.name: venue}
        if cfg.protections.enabled:
            venue.entering.held = risk.protection_block
        for o in others:
            vrun = Run.of(cfg, o.spec, trading_days, bar_minutes, settle, record_acks, o.instrument)
            v = self.venues[vrun.spec.underlying] = Venue(vrun, *parts, o.features, o.quotes, None)
            v.entering.held = venue.entering.held
            orders.runs[v.name] = vrun
        self.fills = Fills(run, stamps, sinks, book, orders, risk, venue.mapping, market)
        for v in self.venues.values():
            self.fills.mappings[v.name] = v.mapping
        orders.on_update = self.fills.settle
        self.recovery = Recovery(stamps, sinks, book, orders, risk)
        self.commands = Commands(stamps, sinks, risk)
        self.stretches = Stretches(
            run, market, venue.underlying, book, orders, venue.exiting, signals, risk
        )
        self._reenter = cfg.strategy.entries.reenter_same_bar
        self.ticked = ticked

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
        """Bar ``i`` of the (only) underlying's feed, starting at ``ts`` (naive exchange time),
        closed."""
        run, m, book, orders, v = self.run, self.market, self.book, self.orders, self.venue
        u = v.underlying
        t = ts + run.bar
        if ts.date() != m.day:
            self._new_day(ts.date(), ts)
        if v.day != m.day:
            self._venue_day(v, o, ts)
        m.bars_total += 1
        if orders.live:
            orders.pump(ts)
        exited = False
        if run.next_bar:  # stops move at the close with this bar's ATR: advance first
            u.f.advance(i, m.day, h, low, c, volume)
        if book.open:
            m.bars_in_position += 1
            exited = self._manage(ts, t, {v.name: (i, o, h, low, c, volume)})
        if not run.next_bar:
            u.f.advance(i, m.day, h, low, c, volume)
        tripped = m.close_bar(i, t, vix)
        if tripped is not None:
            self.sinks.emit(tripped)
        u.last_close = c
        risk = self.risk
        if book.open:
            self._at_close(t, vix)
        else:
            self._halt_if_flat_at_limit(t)
        if risk.protections.enabled:
            self._guard(t)
        risk.update(t, book.open.values())
        # ``_may_enter``, written out: this runs on every bar
        if (
            not (exited and not self._reenter)
            and not risk.entry_refusal(len(book.open))
            and not (orders.live and orders.unresolved())
        ):
            v.entering.maybe_enter(i, t, c, vix)
        if orders.recovered:  # journaled before a restart and not decided again on replay
            self.recovery.adopt_leftovers(t)
        if v.backstop is not None and book.open:
            self._backstops(t)
        u.prev_close = c

    def on_step(self, k: int, ts: dt.datetime, bars: Mapping[str, Bar], vix: float) -> None:
        """Step ``k``: the bars of the underlyings that have one starting at ``ts`` (by name),
        closed, with the India VIX known at their close; the same order of work as ``on_bar``."""
        run, m, book, orders = self.run, self.market, self.book, self.orders
        t = ts + run.bar
        if ts.date() != m.day:
            self._new_day(ts.date(), ts)
        here = [(self.venues[name], bar) for name, bar in bars.items()]
        for v, (_, o, *_rest) in here:
            if v.day != m.day:
                self._venue_day(v, o, ts)
        m.bars_total += 1
        if orders.live:
            orders.pump(ts)
        exited = False
        if run.next_bar:
            _advance(here, m.day)
        if book.open:
            m.bars_in_position += 1
            exited = self._manage(ts, t, bars)
        if not run.next_bar:
            _advance(here, m.day)
        tripped = m.close_bar(k, t, vix)
        if tripped is not None:
            self.sinks.emit(tripped)
        for v, bar in here:
            v.underlying.last_close = bar[4]
        if book.open:
            self._at_close(t, vix, bars)
        else:
            self._halt_if_flat_at_limit(t)
        risk = self.risk
        if risk.protections.enabled:
            self._guard(t)
        risk.update(t, book.open.values())
        for v, bar in here:
            if not (exited and not self._reenter) and self._may_enter():
                v.entering.maybe_enter(bar[0], t, bar[4], vix)
        if orders.recovered:
            self.recovery.adopt_leftovers(t)
        if self.venue.backstop is not None and book.open:
            self._backstops(t)
        for v, bar in here:
            v.underlying.prev_close = bar[4]

    def on_tick(self, name: str, ts: dt.datetime, price: float) -> None:
        """A live price of underlying ``name`` at ``ts`` (naive exchange time), between bar
        closes: each of its open positions' stop and targets act on it at once; the stop's
        moves and the time rules wait for the bar's close (``on_bar``, with ``ticked``)."""
        v, book = self.venues[name], self.book
        for tr in book.trades():
            if self.venues[tr.underlying] is not v:
                continue
            if tr.trade_id in book.open and not tr.closing:
                v.exiting.on_price(tr, ts, price)
            if v.backstop is not None:
                if tr.waiting == "backstop" and tr.retries:  # its cancel may be confirmed now
                    self.orders.pump(ts)
                    v.exiting.retry(tr, ts, price)
                v.backstop.keep(tr, ts, price)

    def _backstops(self, t: dt.datetime) -> None:
        """Each open position's backstop armed, moved after its stop, or escalated."""
        for tr in self.book.trades():
            v = self.venues[tr.underlying]
            if v.backstop is not None:
                v.backstop.keep(tr, t, v.underlying.last_close)

    def _guard(self, t: dt.datetime) -> None:
        """The protections at the close: the day's PnL as marked, and what ended by ``t``."""
        self.risk.marked(t, self.book.day_pnl())
        self.risk.tick(t)

    def _may_enter(self) -> bool:
        """The risk gate lets an entry out and no order's outcome is unknown."""
        orders = self.orders
        return not self.risk.entry_refusal(len(self.book.open)) and not (
            orders.live and orders.unresolved()
        )

    def _manage(self, ts: dt.datetime, t: dt.datetime, bars: Mapping[str, Bar]) -> bool:
        """Each open position's bar (step 3), on its own underlying's bar (none this step: it
        waits); True when one of them closed."""
        book, orders = self.book, self.orders
        before = book.trades()
        for tr in before:
            v = self.venues[tr.underlying]
            bar = bars.get(v.name)
            if bar is None:
                continue
            if orders.live:
                orders.tidy(tr, ts)
            if tr.trade_id not in book.open:
                continue
            _, o, h, low, c, _ = bar
            if v.backstop is not None and not self.ticked:  # the exchange acts at the open
                v.backstop.at_open(tr, ts, o, self.market.last_vix)
                if tr.trade_id not in book.open:
                    continue
            if tr.carried:
                v.exiting.exit_carried(tr, ts, o)
            elif tr.retries:
                v.exiting.retry(tr, ts, o)
            if tr.trade_id in book.open and not tr.closing:  # an exit decided stands
                if self.ticked:  # its stop and targets saw every price as a tick
                    v.exiting.close_ticked(tr, t, h, low, c)
                else:
                    v.exiting.walk(tr, t, o, h, low, c)
        return len(book.open) < len(before)  # none opens here: fewer open means one closed

    def _at_close(self, t: dt.datetime, vix: float, bars: Mapping[str, Bar] | None = None) -> None:
        """Step 5 with a position open: marks, then the breaker's policy (then, flat,
        ``_halt_if_flat_at_limit``) or the daily loss limit. A trade whose
        underlying has no bar in this step (``bars`` given: a step of several) keeps its last
        mark, with the underlying it had."""
        book, risk = self.book, self.risk
        for tr in book.trades():
            v = self.venues[tr.underlying]
            if bars is None or v.name in bars:
                v.exiting.mark(tr, t, v.underlying.last_close, vix)
        book.mark(t)
        if risk.breaker_flattens(self.market.breaker_on):
            self._exit_all(PositionAction.EXIT_BREAKER, t, vix, keep_decided=True)
            self._halt_if_flat_at_limit(t)  # (when those exits closed the last position)
        elif not risk.halted:
            day_pnl = book.day_pnl()
            if risk.loss_limit_hit(day_pnl):
                risk.halt_on_loss(t, day_pnl)
                self._exit_all(PositionAction.EXIT_RISK, t, vix)

    def _halt_if_flat_at_limit(self, t: dt.datetime) -> None:
        """Step 5, flat: the daily loss limit on the day's realized PnL alone (a close this bar,
        a stop or the breaker's, may have taken the day there: no entry may follow)."""
        risk, book = self.risk, self.book
        if not book.open and not risk.halted and risk.loss_limit_hit(book.day_realized):
            risk.halt_on_loss(t, book.day_realized)

    def _exit_all(
        self, action: PositionAction, t: dt.datetime, vix: float, keep_decided: bool = False
    ) -> None:
        """Exit every open position by ``action`` at its underlying's last close
        (``keep_decided``: one whose exit is already decided, perhaps waiting for a bid, keeps
        it)."""
        for tr in self.book.trades():
            if tr.trade_id in self.book.open and not (keep_decided and tr.closing):
                v = self.venues[tr.underlying]
                v.exiting.exit(tr, action, v.underlying.last_close, t, vix)

    def finish(self) -> None:
        """End of data: open positions are closed at the last close (``exit_eod``). One that
        cannot be is settled if its contract expired that day, else left open and journaled
        (``open_at_end``) with its last mark."""
        m = self.market
        if m.day is not None:
            self._exit_all(PositionAction.EXIT_EOD, m.now, m.last_vix, keep_decided=True)
        self._end_day()
        self.left_open("")

    def left_open(self, why: str) -> None:
        """Journal each position still open (``open_at_end``, with its last mark) when the run
        stops; ``why`` given: each is also flagged for the operator."""
        m = self.market
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
            if why and tr.position.qty:
                self.risk.flag(f"trade {tr.trade_id} {tr.instrument}: {tr.position.qty} {why}")

    def command(self, cmd: Command, key: str = "", source: str = "") -> str:
        """An operator's command, between events (``dyntrail.engine.commands``): applied
        through the risk gate and journaled with its id ``key`` and ``source``; the gate's
        state is brought up to date at once. Returns what it did (the journaled detail);
        ``CommandError`` when it cannot apply (nothing changed, nothing journaled)."""
        m, book = self.market, self.book
        detail = ""
        if isinstance(cmd, ForceExit):
            ids = sorted(book.open) if cmd.trade is None else [cmd.trade]
            if cmd.trade is not None and cmd.trade not in book.open:
                standing = ", ".join(str(k) for k in sorted(book.open)) or "none"
                raise CommandError(f"force-exit: no open trade {cmd.trade} (open: {standing})")
            detail = "trades " + ", ".join(str(k) for k in ids) if ids else "no open trade"
        detail = self.commands.apply(cmd, m.now, detail, key, source)
        if isinstance(cmd, Kill):
            self._killed(cmd.reason)
        elif isinstance(cmd, ForceExit):
            for k in ids:
                tr = book.open.get(k)
                if tr is not None and not tr.closing:
                    v = self.venues[tr.underlying]
                    v.exiting.exit(
                        tr, PositionAction.EXIT_FORCED, v.underlying.last_close, m.now, m.last_vix
                    )
        self.risk.update(m.now, book.open.values())
        return detail

    def kill(self, reason: str) -> None:
        """Kill switch (``Kill``): journaled as a command, then ``_killed``."""
        self.command(Kill(reason))

    def _killed(self, reason: str) -> None:
        """Trading halts until an unlock, working entries are cancelled and every position
        is flattened at the last close."""
        m = self.market
        self.risk.kill(m.now, reason)
        self._exit_all(PositionAction.EXIT_KILL, m.now, m.last_vix)

    def reconcile(self, now: dt.datetime) -> list[str]:
        """Hold the engine's view against the broker's (run on every start)."""
        return self.recovery.reconcile(now)

    def reconcile_close(self, now: dt.datetime) -> list[str]:
        """Hold the broker's book and positions against the journal's once the session is
        over (a live session's close); returns the flags it raised."""
        return self.recovery.reconcile_close(now)

    # ------------------------------------------------------------------ days

    def _new_day(self, day: dt.date, ts: dt.datetime) -> None:
        m = self.market
        if m.day is not None:
            self._end_day()
        for tr in self.book.trades():
            v = self.venues[tr.underlying]
            if v.run.options_mode and tr.expiry is not None and tr.expiry < day:
                # the data has no bar of the expiry day: settled against the last close known
                tr.flags.append("no_expiry_bars")
                close = dt.datetime.combine(tr.expiry, self.run.cfg.session.close)
                v.closing.settle_expired(tr, close)
        m.start_day(day, ts)
        self.book.new_day()
        self.risk.new_day(day)
        self.orders.new_day(day)

    def _venue_day(self, v: Venue, day_open: float, ts: dt.datetime) -> None:
        """The underlying's first bar of the session: its gap check (``day_start``)."""
        v.day = self.market.day
        self.sinks.emit(v.underlying.start_day(day_open, self.stamps.iso(ts)))
        v.entering.prepare(ts.date(), ts)

    def _end_day(self) -> None:
        day = self.market.day
        if day is None:
            return
        close_ts = dt.datetime.combine(day, self.run.cfg.session.close)
        trades = self.book.trades()
        if trades:  # every trade's working orders cancelled first, then one drain
            self.orders.cancel_working(trades, close_ts)
        for tr in trades:
            if tr.trade_id in self.book.open:
                self.venues[tr.underlying].closing.session_closed(tr, close_ts)
        self.book.end_day(close_ts)

    # ------------------------------------------------------------------ what runners read

    @property
    def open_trades(self) -> list[Trade]:
        return self.book.trades()

    @property
    def flags(self) -> list[str]:
        """Problems an operator must clear (no entries meanwhile), each as "id text"."""
        return self.risk.flag_lines()

    def why_no_entry(self) -> str:
        """Why no entry would go out now, in one line an operator reads ("" when one
        would, at the next bar's close): the risk gate (kill switch, halt, flags, pause,
        stale feed, positions waiting), the position cap, a realized loss at the daily limit
        not yet halted, an order whose outcome is unknown, then each underlying's gates at
        its last close (window, tier, breaker, trades, gap, ADX, VWAP, protections). It
        decides nothing."""
        risk, book, m = self.risk, self.book, self.market
        if risk.killed:
            return f"kill switch: {risk.killed} (unlock to trade again)"
        refusal = risk.entry_refusal(len(book.open))
        if refusal == "position_cap":
            return f"caps: {len(book.open)} open of max {risk.limits.max_open_positions}"
        if refusal:
            return f"{refusal}: " + "; ".join(risk.reasons)
        if not book.open and not risk.halted and risk.loss_limit_hit(book.day_realized):
            # (a fill between closes took the day there: the halt comes at the next close)
            return (
                f"daily loss limit: the day's realized PnL {book.day_realized:,.2f} has reached "
                f"{risk.limits.loss_floor:,.2f} (the day halts at the next bar's close)"
            )
        if self.orders.live and self.orders.unresolved():
            return "an order's outcome is not known yet"
        whys = []
        for v in self._named():
            close = v.underlying.last_close
            if close != close:
                whys.append(f"{v.name}: no bar yet")
                continue
            why = v.entering.why_not(m.now, close)
            if not why:
                return ""
            whys.append(f"{v.name}: {why}" if len(self.venues) > 2 else why)
        return "; ".join(whys)

    def _named(self) -> Iterable[Venue]:
        return (v for key, v in self.venues.items() if key)

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        """Everything needed to continue after a restart, by part, except what the feed
        rebuilds (indicators): JSON-able, and ``restore(state())`` gives the same engine."""
        return {
            "market": self.market.state(),
            "underlyings": {
                v.name: {**v.underlying.state(), "day": v.day.isoformat() if v.day else None}
                for v in self._named()
            },
            "book": self.book.state(),
            "orders": self.orders.state(),
            "risk": self.risk.state_dict(),
        }

    def restore(self, s: dict[str, Any]) -> None:
        """Load a ``state()``; live orders are settled from the broker's book by ``reconcile``
        (run on every start)."""
        self.market.restore(s["market"])
        for name, us in s["underlyings"].items():
            v = self.venues[name]
            v.underlying.restore(us)
            v.day = dt.date.fromisoformat(us["day"]) if us["day"] else None
        self.book.restore(s["book"])
        self.orders.restore(s["orders"], self.market.now)
        self.risk.restore(s["risk"])


def _advance(here: list[tuple[Venue, Bar]], day: dt.date | None) -> None:
    for v, (i, _, h, low, c, volume) in here:
        v.underlying.f.advance(i, day, h, low, c, volume)
