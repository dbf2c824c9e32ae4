"""The event loop: the one place that mutates portfolio state.

Backtest, paper and live feed it the same way, one closed bar at a time (``on_bar``); only the
quote source, the broker and the journal's durability differ. For each bar, closing at ``t``:

1. a new session resets the day's counters and checks for a gap morning;
2. broker updates due by the bar's start are applied; exits that did not fill are re-priced;
3. the open position walks the bar (adverse extreme first) with the indicators, swings and VIX
   tier known *before* the bar; each action becomes an option order priced by the option layer,
   made marketable, journaled, then sent;
4. the bar updates the indicators; VIX at ``t`` updates the tier and the spike breaker;
5. risk at ``t``: breaker (policy "flatten") and daily loss limit exit at the close;
6. the position is marked at the close; if flat and nothing is unresolved, the entry gates
   decide, and an entry buys the ATM option (or trades the underlying) at the close.

Orders are journaled before they are sent, and every broker update is journaled as it arrives;
fills are applied once, by fill id (``dyntrail.orderflow``). Entries are ``dyntrail.entering``;
stretches of bars that a backtest accounts for in one step are ``dyntrail.stretches``. Nothing
at ``t`` sees a bar that closes after ``t``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from dyntrail.closing import Closing
from dyntrail.core.config import Config
from dyntrail.core.contract import Contract
from dyntrail.core.contracts import InstrumentSpec, time_to_expiry_years
from dyntrail.core.entries import gap_delay_until
from dyntrail.core.exit_pricing import option_exit_price
from dyntrail.core.features import Features
from dyntrail.core.options import OptionRight
from dyntrail.core.order_pricing import OrderSide
from dyntrail.core.position import Position
from dyntrail.core.regime import RegimeFeed, StreamingRegime
from dyntrail.core.targets import DynamicTargetEngine
from dyntrail.core.types import PositionAction, VixTier
from dyntrail.engine_state import engine_state, restore_engine
from dyntrail.entering import Entering
from dyntrail.execution.broker import (
    Broker,
)
from dyntrail.execution.orders import Order
from dyntrail.journal import Journal
from dyntrail.stretches import Stretches
from dyntrail.trade import Trade


class Quote(Protocol):
    """An option quote: ``bid`` 0 means no bid; ``delta`` may be NaN (unknown)."""

    @property
    def bid(self) -> float: ...
    @property
    def ask(self) -> float: ...
    @property
    def last(self) -> float: ...
    @property
    def delta(self) -> float: ...


class QuoteSource(Protocol):
    """Option quotes as of a time; None when the contract has no quote then."""

    def quote(
        self,
        ts: dt.datetime,
        expiry: dt.date,
        strike: float,
        right: OptionRight,
        spot: float,
        vix: float,
        t_years: float,
    ) -> Quote | None: ...


_NO_QUOTE = (0.0, 0.0)


class Engine(Entering, Closing, Stretches):  # Entering and Closing extend OrderFlow
    """Runs the strategy on closed bars; see the module docstring for the order of work."""

    def __init__(
        self,
        cfg: Config,
        spec: InstrumentSpec,
        trading_days: list[dt.date],
        quotes: QuoteSource,
        broker: Broker,
        journal: Journal,
        features: Features,
        bar_minutes: int,
        on_trade_closed: Callable[[Trade], None],
        on_fill: Callable[[dict[str, Any]], None],
        on_equity: Callable[[str, float, float, float], None] | None,
        settle: dt.timedelta = dt.timedelta(0),
        signals: Sequence[int] | None = None,  # truthy: a long entry signal at that bar
        regime: RegimeFeed | None = None,
        record_acks: bool = True,
    ) -> None:
        self.cfg = cfg
        self.spec = spec
        self.trading_days = trading_days
        self.quotes = quotes
        self.broker = broker
        self.journal = journal
        self.f = features
        self.targets = DynamicTargetEngine(cfg)
        self.regime: RegimeFeed = regime if regime is not None else StreamingRegime(cfg)
        self.bar = dt.timedelta(minutes=bar_minutes)
        self.bar_minutes = bar_minutes
        self.settle = settle  # how long after sending an order the broker is polled in-bar
        self.signals = signals  # an external entry signal per bar replaces the entry gates
        # Ack latency is a fact of a real or paper broker; a backtest's simulated acks have
        # none worth reporting, so its fills carry no ack_ms (and the KPI says n/a).
        self.record_acks = record_acks
        self.next_bar = cfg.strategy.bars.semantics == "next_bar"
        self.tz = ZoneInfo(cfg.session.timezone)
        self.options_mode = cfg.instrument.trade == "options"
        self.tick = spec.tick_size
        # read on every bar: taken out of the configuration once
        self._slip = cfg.instrument.underlying_slippage_ticks * spec.tick_size
        self._loss_floor = -cfg.limits.daily_loss_limit_pct * cfg.account.capital_inr
        self._flatten_on_breaker = cfg.strategy.breaker.policy == "flatten"
        self._on_trade_closed, self._on_fill, self._on_equity = on_trade_closed, on_fill, on_equity
        # portfolio state (serialised by ``state``)
        self.trade: Trade | None = None
        self.trade_no = 0
        self.realized = 0.0
        self.capital = cfg.account.capital_inr
        self.day: dt.date | None = None
        self.day_realized = 0.0
        self.trades_today = 0
        self.day_halted = False
        self.gap_until: dt.time | None = None
        self.prev_close: float | None = None
        self.orders: dict[str, Order] = {}  # live: not yet settled
        # settled (terminal and booked); None for orders settled before the last restart
        self.done: dict[str, Order | None] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self.retries: list[tuple[str, int, int]] = []  # (action, qty, attempt) of unfilled exits
        # market state (rebuilt from the feed)
        self.last_close = math.nan
        self.last_vix = math.nan
        self.tier = VixTier.NORMAL
        self.breaker_on = False
        self.bars_total = 0
        self.bars_in_position = 0
        self.now = dt.datetime(1970, 1, 1)
        self._offset = ""
        self._iso_at, self._iso_text = dt.datetime(1, 1, 1), ""  # ``iso``'s last answer
        self._quote_now: dict[str, tuple[float, float]] = {}
        self._contracts: dict[tuple[dt.date, float | None, str], Contract] = {}
        self._freeze: dict[dt.date, int] = {}
        self.recovered: dict[str, dict[str, Any]] = {}  # journaled intents not in the snapshot
        self._broker_clock = dt.datetime(1970, 1, 1)
        self.blocked: list[str] = []  # reconciliation problems: no entries while any exist

    # ------------------------------------------------------------------ helpers

    def iso(self, naive: dt.datetime) -> str:
        """Exchange-time ISO 8601 with the timezone's offset (the last one is kept: a bar's
        events share their time)."""
        if naive == self._iso_at:
            return self._iso_text
        if not self._offset:
            self._offset = _offset(self.tz, naive)
        self._iso_at, self._iso_text = naive, naive.isoformat() + self._offset
        return self._iso_text

    def _tte(self, at: dt.datetime, expiry: dt.date) -> float:
        return time_to_expiry_years(
            at.replace(tzinfo=self.tz), expiry, self.cfg.session.timezone, self.cfg.session.close
        )

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
        t = ts + self.bar
        if ts.date() != self.day:
            self._new_day(ts.date(), o, ts)
        self.bars_total += 1
        if self.orders:
            self.pump(ts)
        tr = self.trade
        exited = False
        if self.next_bar:  # stops move at the close with this bar's ATR: advance first
            self.f.advance(i, self.day, h, low, c, volume)
        if tr is not None:
            self.bars_in_position += 1
            if self.orders:
                self._tidy_orders(tr, ts)
            if tr.carried:
                self._exit_carried(tr, ts, o)
            elif self.retries:
                self._retry_exits(tr, ts, o)
            if self.trade is not None and not tr.closing:  # an exit decided is not re-decided
                self._walk(tr, t, o, h, low, c)
            exited = self.trade is None
        if not self.next_bar:
            self.f.advance(i, self.day, h, low, c, volume)
        br = self.regime
        br.advance(i, t, vix)
        self.tier = br.tier
        self.last_vix, self.last_close, self.now = vix, c, t
        if br.just_tripped:
            self.journal.write(
                "breaker_tripped",
                self.iso(t),
                vix=vix,
                rise=round(br.rise, 4),
                until=self.iso(br.until) if br.until else None,
                policy=self.cfg.strategy.breaker.policy,
            )
        self.breaker_on = br.tripped
        tr = self.trade
        if tr is not None:
            unreal = self._mark(tr, t, c, vix)
            if br.tripped and self._flatten_on_breaker:
                if not tr.closing:  # an exit decided (and perhaps waiting for a bid) stands
                    self._exit(tr, PositionAction.EXIT_BREAKER, c, t, vix)
            elif not self.day_halted and self.day_realized + unreal - tr.costs <= self._loss_floor:
                self.day_halted = True
                self.journal.write("risk_halt", self.iso(t), day_pnl=round(self._day_pnl(tr), 2))
                self._exit(tr, PositionAction.EXIT_RISK, c, t, vix)
        if (
            self.trade is None
            and not self.day_halted
            and not self.blocked
            and not (exited and not self.cfg.strategy.entries.reenter_same_bar)
            and not self.unresolved()
        ):
            self._maybe_enter(i, t, c, vix)
        if self.recovered:  # journaled before a restart and not decided again on replay
            self._adopt_leftovers(t)
        self.prev_close = c

    def finish(self) -> None:
        """End of data: an open position is closed at the last close (``exit_eod``). One that
        cannot be is settled if its contract expired that day, else left open and journaled
        (``open_at_end``) with its last mark."""
        tr = self.trade
        if tr is not None and self.day is not None and not tr.closing:
            self._exit(tr, PositionAction.EXIT_EOD, self.last_close, self.now, self.last_vix)
        self._end_day()
        tr = self.trade
        if tr is not None:
            self.journal.write(
                "open_at_end",
                self.iso(self.now),
                trade_id=tr.trade_id,
                instrument=tr.instrument,
                qty=tr.position.qty,
                mark=tr.mark_price,
            )

    def kill(self, reason: str) -> None:
        """Kill switch: flatten at the last close and stop entries for the day."""
        self.day_halted = True
        self.journal.write("kill_switch", self.iso(self.now), reason=reason)
        tr = self.trade
        if tr is not None:
            self._exit(tr, PositionAction.EXIT_KILL, self.last_close, self.now, self.last_vix)

    # ------------------------------------------------------------------ days

    def _new_day(self, day: dt.date, day_open: float, ts: dt.datetime) -> None:
        if self.day is not None:
            self._end_day()
        tr = self.trade
        if tr is not None and tr.expiry is not None and tr.expiry < day and self.options_mode:
            # the data has no bar of the expiry day: settled against the last close known
            tr.flags.append("no_expiry_bars")
            self._settle_expired(tr, dt.datetime.combine(tr.expiry, self.cfg.session.close))
        self.day = day
        self._offset = _offset(self.tz, ts)
        self._iso_at = dt.datetime(1, 1, 1)
        self.day_realized = 0.0
        self.trades_today = 0
        self.day_halted = False
        self.gap_until = gap_delay_until(self.cfg, day_open, self.prev_close)
        self.journal.write(
            "day_start",
            self.iso(ts),
            open=day_open,
            gap_delay_until=self.gap_until.isoformat() if self.gap_until else None,
        )

    def _end_day(self) -> None:
        if self.day is None:
            return
        close_ts = dt.datetime.combine(self.day, self.cfg.session.close)
        if self.trade is not None:
            self._session_closed(self.trade, close_ts)
        tr = self.trade
        unreal = tr.unrealized() if tr is not None else 0.0
        equity = self.capital + self.realized + unreal
        self._equity(close_ts, equity, unreal)
        self.journal.write(
            "day_end",
            self.iso(close_ts),
            realized=round(self.day_realized, 2),
            equity=round(equity, 2),
            trades=self.trades_today,
        )

    # ------------------------------------------------------------------ managing a position

    def _walk(self, tr: Trade, t: dt.datetime, o: float, h: float, low: float, c: float) -> None:
        pos = tr.position
        f = self.f
        stop_before, t1_before = pos.stop_underlying, pos.t1_hit
        events = pos.on_bar(  # NaN indicators (not yet known) are treated as missing
            self.targets,
            o,
            h,
            low,
            c,
            f.atr,
            t,
            tier=self.tier,
            swing_low=f.swing_low,
            swing_high=f.swing_high,
        )
        for ev in events:
            if pos.t1_hit and not t1_before:
                self.journal.write(
                    "t1_hit", self.iso(t), trade_id=tr.trade_id, level=pos.t1_underlying
                )
                t1_before = True
            if ev.action is PositionAction.T1_REACHED:
                continue
            self._exit(tr, ev.action, ev.underlying_price, t, self.last_vix)
            if self.trade is None:
                return
        if pos.stop_underlying != stop_before:
            self._stop_moved(tr, t)

    def _stop_moved(self, tr: Trade, t: dt.datetime) -> None:
        pos = tr.position
        self.journal.write(
            "stop_moved",
            self.iso(t),
            trade_id=tr.trade_id,
            level=pos.stop_underlying,
            reason=pos.stop_kind,  # what the position says it moved to (journaled as its value)
        )

    def _mark(self, tr: Trade, t: dt.datetime, close: float, vix: float) -> float:
        """Mark the open position at the close; returns its unrealized PnL."""
        if self.options_mode:
            if tr.expiry is not None and tr.strike is not None:
                q = self.quotes.quote(
                    t,
                    tr.expiry,
                    tr.strike,
                    OptionRight(tr.right),
                    close,
                    vix,
                    self._tte(t, tr.expiry),
                )
                if q is not None:  # no quote: keep the last mark, with the underlying it had
                    tr.mark_price = q.last
                    tr.mark_underlying = close
                    self._quote_now[tr.instrument] = (q.bid, q.ask)
        else:
            tr.mark_price = tr.mark_underlying = close
            slip = self._slip
            self._quote_now[tr.instrument] = (close - slip, close + slip)
        unreal = tr.unrealized()
        if self._on_equity is not None:
            self._equity(t, self.capital + self.realized + unreal, unreal)
        return unreal

    def _day_pnl(self, tr: Trade | None) -> float:
        return self.day_realized + (tr.unrealized() - tr.costs if tr is not None else 0.0)

    # ------------------------------------------------------------------ exits

    def _exit(
        self,
        tr: Trade,
        action: PositionAction,
        level: float,
        t: dt.datetime,
        vix: float,
        attempt: int = 1,
        qty: int | None = None,
    ) -> None:
        pos = tr.position
        if qty is None:
            qty = pos.qty if action.closes_position else pos.scale_out_qty(self.targets)
        if action.closes_position:
            tr.closing = action.value
            for tag, order in list(self.orders.items()):  # stop buying more of what we sell
                meta = self.meta[tag]
                if (
                    meta["trade_id"] == tr.trade_id
                    and meta["action"] == "entry"
                    and order.is_working
                    and not meta.get("cancelling")
                ):
                    self._cancel(order, t, "exit decided")
        qty = min(qty, pos.qty - self._working_exit_qty(tr))
        if qty <= 0:
            return
        side = OrderSide.SELL if tr.is_long_instrument else OrderSide.BUY
        if self.options_mode and tr.expiry is not None and tr.strike is not None:
            right = OptionRight(tr.right)
            t_years = self._tte(t, tr.expiry)
            decision = self._mapped(tr, tr.mark_underlying, level, t_years)
            q = self.quotes.quote(t, tr.expiry, tr.strike, right, level, vix, t_years)
            bid, ask = (q.bid, q.ask) if q is not None else _NO_QUOTE
            if bid <= 0.0 and side is OrderSide.SELL:  # nothing to sell into: no order
                self._wait(tr, action, qty, attempt, t, "no_quote" if q is None else "no_bid")
                return
            tr.waiting = ""
        else:
            decision = level
            slip = self._slip
            bid, ask = level - slip, level + slip
        self._order(tr, action.value, side, qty, decision, level, t, attempt, bid, ask)

    def _retry_exits(self, tr: Trade, ts: dt.datetime, o: float) -> None:
        """Exits that ended unfilled go out again, re-priced against the quote at this bar's
        open, with the next attempt number; one that cannot fill waits (``_exit``). There is no
        last attempt: the session's close decides (``_session_closed``)."""
        retries, self.retries = self.retries, []
        for action, qty, attempt in retries:
            self._exit(tr, PositionAction(action), o, ts, self.last_vix, attempt=attempt, qty=qty)
            if self.trade is None:
                return

    def _exit_carried(self, tr: Trade, ts: dt.datetime, o: float) -> None:
        """A position the last session could not flatten exits at this session's open."""
        tr.carried = False
        self.retries = []
        self._exit(tr, PositionAction.EXIT_CARRIED, o, ts, self.last_vix)

    def _risk_per_unit(self, tr: Trade, pos: Position, t: dt.datetime) -> float:
        """Premium lost per unit if the initial stop is hit, by the configured mapping."""
        if not self.options_mode or tr.expiry is None or tr.strike is None:
            return abs(pos.entry_underlying - pos.stop_initial)
        at_stop = self._mapped(tr, pos.entry_underlying, pos.stop_initial, self._tte(t, tr.expiry))
        return max(tr.entry_price - at_stop, self.tick)

    def _mapped(self, tr: Trade, underlying_now: float, trigger: float, t_years: float) -> float:
        """The option price the configured mapping expects when the underlying moves from
        ``underlying_now`` (where the option was last marked) to ``trigger``."""
        if tr.strike is None:
            raise ValueError(f"trade {tr.trade_id} has no option contract")
        o = self.cfg.options
        return option_exit_price(
            o.exit_price_method,
            option_last=tr.mark_price,
            underlying_now=underlying_now,
            underlying_trigger=trigger,
            strike=tr.strike,
            right=OptionRight(tr.right),
            t_years=max(t_years, 1e-9),
            r=o.risk_free_rate,
            q=o.dividend_yield,
            tick=self.tick,
        )

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        """Everything needed to continue after a restart (``dyntrail.engine_state``)."""
        return engine_state(self)

    def restore(self, s: dict[str, Any]) -> None:
        """Load a ``state()`` (``dyntrail.engine_state``)."""
        restore_engine(self, s)

    # ------------------------------------------------------------------ equity

    def _equity(self, t: dt.datetime, equity: float, unrealized: float) -> None:
        """Report an equity mark (``on_equity`` None: nobody keeps the curve, nothing to do)."""
        if self._on_equity is not None:
            self._on_equity(self.iso(t), equity, self.realized, unrealized)


def _offset(tz: ZoneInfo, naive: dt.datetime) -> str:
    off = naive.replace(tzinfo=tz).utcoffset() or dt.timedelta(0)
    sign = "+" if off >= dt.timedelta(0) else "-"
    mins = abs(int(off.total_seconds())) // 60
    return f"{sign}{mins // 60:02d}:{mins % 60:02d}"
