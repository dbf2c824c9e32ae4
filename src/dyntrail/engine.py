"""The event loop: the one place that mutates portfolio state.

Backtest, paper and live feed it the same way, one closed bar at a time (``on_bar``); only the
quote source, the broker and the journal's durability differ. For each bar, closing at ``t``:

1. a new session resets the day's counters and checks for a gap morning;
2. the open position walks the bar (adverse extreme first) with the indicators, swings and VIX
   tier known *before* the bar; each action becomes an option order priced by the option layer
   and made marketable, filled by the broker at the quote;
3. the bar updates the indicators; VIX at ``t`` updates the tier and the spike breaker;
4. risk at ``t``: breaker (policy "flatten") and daily loss limit exit at the close;
5. the position is marked at the close; if flat, the entry gates decide, and an entry buys the
   ATM option (or trades the underlying) at the close, with targets from the underlying there.

Nothing at ``t`` sees a bar that closes after ``t``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from dyntrail.core.config import Config
from dyntrail.core.contracts import (
    InstrumentSpec,
    StrikeQuote,
    atm_strike,
    candidate_strikes,
    choose_gap_strike,
    next_expiry,
    time_to_expiry_years,
)
from dyntrail.core.costs import order_costs
from dyntrail.core.entries import EntryInputs, decide_entry, gap_delay_until
from dyntrail.core.exit_pricing import option_exit_price
from dyntrail.core.features import Features
from dyntrail.core.options import OptionRight
from dyntrail.core.order_pricing import OrderSide, marketable_limit
from dyntrail.core.position import Position, open_position
from dyntrail.core.regime import SpikeBreaker, vix_tier
from dyntrail.core.targets import DynamicTargetEngine, TargetContext
from dyntrail.core.types import PositionAction, Side, VixTier
from dyntrail.execution.orders import Fill, OrderIntent, client_tag
from dyntrail.journal import Journal
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


class Broker(Protocol):
    def execute(self, intent: OrderIntent, bid: float, ask: float) -> Fill | None: ...


MAX_ATTEMPTS = 50


class Engine:
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
        on_equity: Callable[[str, float, float, float], None],
    ) -> None:
        self.cfg = cfg
        self.spec = spec
        self.trading_days = trading_days
        self.quotes = quotes
        self.broker = broker
        self.journal = journal
        self.f = features
        self.targets = DynamicTargetEngine(cfg)
        self.breaker = SpikeBreaker(cfg)
        self.bar = dt.timedelta(minutes=bar_minutes)
        self.bar_minutes = bar_minutes
        self.tz = ZoneInfo(cfg.session.timezone)
        self.options_mode = cfg.instrument.trade == "options"
        self.tick = spec.tick_size
        self._on_trade_closed, self._on_fill, self._on_equity = on_trade_closed, on_fill, on_equity
        # state
        self.trade: Trade | None = None
        self.trade_no = 0
        self.realized = 0.0
        self.capital = cfg.account.capital_inr
        self.peak = self.capital
        self.day: dt.date | None = None
        self.day_realized = 0.0
        self.trades_today = 0
        self.day_halted = False
        self.gap_until: dt.time | None = None
        self.prev_close: float | None = None
        self.last_close = math.nan
        self.last_vix = math.nan
        self.tier = VixTier.NORMAL
        self.breaker_on = False
        self.bars_total = 0
        self.bars_in_position = 0
        self._offset = ""

    # ------------------------------------------------------------------ helpers

    def iso(self, naive: dt.datetime) -> str:
        """Exchange-time ISO 8601 with the timezone's offset (computed once a day)."""
        return naive.isoformat() + self._offset

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
        tr = self.trade
        if tr is not None:
            self.bars_in_position += 1
            self._walk(tr, t, o, h, low, c)
        self.f.advance(i, self.day, h, low, c, volume)
        self.tier = vix_tier(vix, self.cfg)
        br = self.breaker.update(t, vix)
        self.last_vix, self.last_close = vix, c
        if br.just_tripped:
            self.journal.write(
                "breaker_tripped",
                self.iso(t),
                vix=vix,
                rise=round(br.rise_points, 4),
                until=self.iso(br.until) if br.until else None,
                policy=self.cfg.strategy.breaker.policy,
            )
        self.breaker_on = br.tripped
        tr = self.trade
        if tr is not None:
            self._mark(tr, t, c, vix)
            if br.tripped and self.cfg.strategy.breaker.policy == "flatten":
                self._exit(tr, PositionAction.EXIT_BREAKER, c, t, vix)
            elif self._loss_hit(tr):
                self.day_halted = True
                self.journal.write("risk_halt", self.iso(t), day_pnl=round(self._day_pnl(tr), 2))
                self._exit(tr, PositionAction.EXIT_RISK, c, t, vix)
        if self.trade is None and not self.day_halted:
            self._maybe_enter(t, c, vix)
        self.prev_close = c

    def finish(self) -> None:
        """End of data: an open position is closed at the last close (``exit_eod``)."""
        tr = self.trade
        if tr is not None and self.day is not None:
            self._exit(tr, PositionAction.EXIT_EOD, self.last_close, self._last_t, self.last_vix)
        self._end_day()

    # ------------------------------------------------------------------ days

    def _new_day(self, day: dt.date, day_open: float, ts: dt.datetime) -> None:
        if self.day is not None:
            self._end_day()
        self.day = day
        self._offset = _offset(self.tz, ts)
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
        equity = self.capital + self.realized
        self._equity(close_ts, equity, 0.0)
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
        if tr.pending:  # an exit that did not fill on an earlier bar is retried first
            action, attempt = tr.pending.pop()
            self._exit(tr, action, o, t, self.last_vix, attempt=attempt + 1)
            if self.trade is None:
                return
        stop_before, t1_before = pos.stop_underlying, pos.t1_hit
        events = pos.on_bar(
            self.targets,
            o,
            h,
            low,
            c,
            _opt(f.atr),
            t,
            tier=self.tier,
            swing_low=_opt(f.swing_low),
            swing_high=_opt(f.swing_high),
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
            reason = "be" if pos.stop_underlying == pos.entry_underlying else "trail"
            self.journal.write(
                "stop_moved",
                self.iso(t),
                trade_id=tr.trade_id,
                level=pos.stop_underlying,
                reason=reason,
            )

    def _mark(self, tr: Trade, t: dt.datetime, close: float, vix: float) -> None:
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
                if q is not None:  # no quote: keep the last mark
                    tr.mark_price = q.last
        else:
            tr.mark_price = close
        tr.mark_underlying = close
        self._equity(t, self.capital + self.realized + tr.unrealized(), tr.unrealized())

    def _day_pnl(self, tr: Trade | None) -> float:
        return self.day_realized + (tr.unrealized() - tr.costs if tr is not None else 0.0)

    def _loss_hit(self, tr: Trade | None) -> bool:
        return self._day_pnl(tr) <= -self.cfg.limits.daily_loss_limit_pct * self.capital

    # ------------------------------------------------------------------ orders

    def _exit(
        self,
        tr: Trade,
        action: PositionAction,
        level: float,
        t: dt.datetime,
        vix: float,
        attempt: int = 1,
    ) -> None:
        pos = tr.position
        qty = pos.qty if action.closes_position else pos.scale_out_qty(self.targets)
        if qty <= 0:
            return
        sell = tr.is_long_instrument  # closing a bought instrument sells it
        side = OrderSide.SELL if sell else OrderSide.BUY
        if self.options_mode and tr.expiry is not None and tr.strike is not None:
            right = OptionRight(tr.right)
            t_years = self._tte(t, tr.expiry)
            decision = option_exit_price(
                self.cfg.options.exit_price_method,
                option_last=tr.mark_price,
                underlying_now=tr.mark_underlying,
                underlying_trigger=level,
                strike=tr.strike,
                right=right,
                t_years=max(t_years, 1e-9),
                r=self.cfg.options.risk_free_rate,
                q=self.cfg.options.dividend_yield,
                tick=self.tick,
            )
            q = self.quotes.quote(t, tr.expiry, tr.strike, right, level, vix, t_years)
            bid, ask = (q.bid, q.ask) if q is not None else (0.0, 0.0)
        else:
            decision = level
            slip = self.cfg.instrument.underlying_slippage_ticks * self.tick
            bid, ask = level - slip, level + slip
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
        fill = self._send(tr, action.value, side, qty, lp.price, decision, t, attempt, bid, ask)
        if fill is None:
            if attempt >= MAX_ATTEMPTS:
                raise RuntimeError(f"exit of trade {tr.trade_id} unfilled after {attempt} tries")
            tr.pending.append((action, attempt))
            return
        self._apply_exit(tr, action, fill, decision, level, t)

    def _send(
        self,
        tr: Trade,
        action: str,
        side: OrderSide,
        qty: int,
        limit: float,
        decision: float,
        t: dt.datetime,
        attempt: int,
        bid: float,
        ask: float,
    ) -> Fill | None:
        """Journal the order, then hand it to the broker against the quote (bid, ask)."""
        tag = client_tag(self.day or t.date(), tr.trade_id % 10_000, action, attempt)
        intent = OrderIntent(
            tag, tr.trade_id, tr.legs, action, side, qty, limit, decision, tr.instrument, t
        )
        self.journal.write(
            "order",
            self.iso(t),
            tag=tag,
            trade_id=tr.trade_id,
            action=action,
            side=side.value,
            qty=qty,
            limit=limit,
            decision_price=round(decision, 4),
            instrument=tr.instrument,
            attempt=attempt,
        )
        fill = self.broker.execute(intent, bid, ask)
        if fill is None:
            self.journal.write("order_unfilled", self.iso(t), tag=tag, bid=bid, ask=ask)
        return fill

    def _apply_exit(
        self,
        tr: Trade,
        action: PositionAction,
        fill: Fill,
        decision: float,
        level: float,
        t: dt.datetime,
    ) -> None:
        pos = tr.position
        value = fill.price * fill.qty
        cost = order_costs(
            self.cfg.costs,
            t.date(),
            is_buy=not tr.is_long_instrument,
            value_inr=value,
            futures=not self.options_mode,
        ).total
        if tr.is_long_instrument:
            tr.sell_value += value
        else:
            tr.buy_value += value
        tr.costs += cost
        tr.exit_qty += fill.qty
        tr.exit_value += value
        pos.reduce(fill.qty)
        self._record_fill(tr, fill, action.value, decision, level, cost)
        tr.legs += 1
        if pos.qty == 0:
            tr.exit_ts, tr.exit_underlying, tr.exit_reason = self.iso(t), level, action.value
            pnl = tr.pnl_net()
            self.realized += pnl
            self.day_realized += pnl
            self.trade = None
            self.journal.write(
                "position_closed",
                self.iso(t),
                trade_id=tr.trade_id,
                reason=action.value,
                pnl_net=pnl,
                costs=round(tr.costs, 2),
            )
            self._equity(t, self.capital + self.realized, 0.0)
            self._on_trade_closed(tr)
        else:
            self._equity(t, self.capital + self.realized + tr.unrealized(), tr.unrealized())

    def _record_fill(
        self, tr: Trade, fill: Fill, action: str, decision: float, underlying: float, cost: float
    ) -> None:
        buy = (tr.legs == 0) == tr.is_long_instrument
        slippage = (fill.price - decision) if buy else (decision - fill.price)
        row = {
            "trade_id": tr.trade_id,
            "leg": tr.legs,
            "ts": self.iso(fill.ts),
            "action": action,
            "side": "buy" if buy else "sell",
            "qty": fill.qty,
            "price": fill.price,
            "decision_price": round(decision, 4),
            "slippage": round(slippage, 4),
            "slippage_pct": round(slippage / decision, 6) if decision > 0 else "",
            "underlying": round(underlying, 2),
            "costs": cost,
            "tag": fill.tag,
            "ack_ms": "" if fill.ack_ms is None else fill.ack_ms,
        }
        self.journal.write("fill", self.iso(fill.ts), **{k: v for k, v in row.items() if k != "ts"})
        self._on_fill(row)

    # ------------------------------------------------------------------ entries

    def _maybe_enter(self, t: dt.datetime, close: float, vix: float) -> None:
        f = self.f
        x = EntryInputs(
            now=t.time(),
            tier=self.tier,
            breaker_tripped=self.breaker_on,
            daily_loss_hit=self.day_halted,
            trades_today=self.trades_today,
            open_positions=0,
            gap_delay_until=self.gap_until,
            close=close,
            vwap=_opt(f.vwap),
            adx=_opt(f.adx),
            plus_di=_opt(f.plus_di),
            minus_di=_opt(f.minus_di),
        )
        decision = decide_entry(self.cfg, x)
        if decision.side is None:
            return
        self._enter(decision.side, t, close, vix)

    def _enter(self, side: Side, t: dt.datetime, close: float, vix: float) -> None:
        day = t.date()
        lot = self.spec.lot_size_on(day)
        lots = min(self.cfg.account.lots_per_trade, self.cfg.limits.max_lots)
        qty = lots * lot
        right = ""
        strike: float | None = None
        expiry: dt.date | None = None
        if self.options_mode:
            o = self.cfg.options
            expiry = next_expiry(
                self.spec,
                day,
                self.trading_days,
                skip_expiry_day=o.skip_expiry_day,
                min_days_to_expiry=o.min_days_to_expiry,
            )
            opt_right = OptionRight.CE if side is Side.LONG else OptionRight.PE
            right = opt_right.value
            t_years = self._tte(t, expiry)
            strike = self._choose_strike(t, expiry, opt_right, close, vix, t_years)
            q = (
                self.quotes.quote(t, expiry, strike, opt_right, close, vix, t_years)
                if strike
                else None
            )
            if q is None or q.ask <= 0:
                self.journal.write("entry_skipped", self.iso(t), reason="no_quote", side=side.value)
                return
            decision, bid, ask = q.last, q.bid, q.ask
            instrument = f"{self.spec.underlying}{expiry:%y%m%d}{int(strike)}{right}"
        else:
            decision = close
            slip = self.cfg.instrument.underlying_slippage_ticks * self.tick
            bid, ask = close - slip, close + slip
            instrument = self.spec.underlying
        ctx = TargetContext(
            atr=_opt(self.f.atr),
            vwap=_opt(self.f.vwap),
            swing_structure=self.f.structure,
            minutes_to_flatten=_minutes_between(t.time(), self.cfg.strategy.time.flatten),
            bar_minutes=float(self.bar_minutes),
        )
        pos = open_position(
            self.targets, side, close, decision, vix, qty=qty, now=t, lot_size=lot, context=ctx
        )
        if pos is None:
            return
        self.trade_no += 1
        tr = Trade(
            self.trade_no,
            pos,
            instrument,
            right,
            strike,
            expiry,
            self.iso(t),
            0.0,
            qty,
            risk_per_unit=0.0,
            mark_price=decision,
            mark_underlying=close,
            legs=0,
        )
        buy_side = OrderSide.BUY if tr.is_long_instrument else OrderSide.SELL
        o = self.cfg.options
        lp = marketable_limit(
            buy_side,
            mapped_price=decision,
            best_bid=bid if bid > 0 else None,
            best_ask=ask,
            tick=self.tick,
            cushion_ticks=o.cushion_ticks,
            cushion_pct=o.cushion_pct,
            cushion_cap=o.cushion_cap_inr,
        )
        self.journal.write(
            "entry_signal",
            self.iso(t),
            trade_id=tr.trade_id,
            side=side.value,
            underlying=close,
            vix=vix,
            tier=pos.vix_tier.value,
            adx=_round(self.f.adx),
            vwap=_round(self.f.vwap),
            instrument=instrument,
        )
        fill = self._send(tr, "entry", buy_side, qty, lp.price, decision, t, 1, bid, ask)
        if fill is None:
            self.trade_no -= 1
            return
        value = fill.price * fill.qty
        cost = order_costs(
            self.cfg.costs,
            day,
            is_buy=buy_side is OrderSide.BUY,
            value_inr=value,
            futures=not self.options_mode,
        ).total
        tr.entry_price = fill.price
        if buy_side is OrderSide.BUY:
            tr.buy_value += value
        else:
            tr.sell_value += value
        tr.costs += cost
        tr.risk_per_unit = self._risk_per_unit(tr, pos, t)
        self._record_fill(tr, fill, "entry", decision, close, cost)
        tr.legs = 1
        self.trade = tr
        self.trades_today += 1
        self.journal.write("position_open", self.iso(t), trade_id=tr.trade_id, **_targets(pos))
        self.journal.write(
            "stop_moved",
            self.iso(t),
            trade_id=tr.trade_id,
            level=pos.stop_underlying,
            reason="initial",
        )

    def _choose_strike(
        self,
        t: dt.datetime,
        expiry: dt.date,
        right: OptionRight,
        close: float,
        vix: float,
        t_years: float,
    ) -> float:
        step = self.spec.strike_step
        atm = atm_strike(close, step)
        if self.gap_until is None:
            return atm
        cands = []
        for k in candidate_strikes(close, step, self.cfg.strategy.entries.gap_strike_range):
            q = self.quotes.quote(t, expiry, k, right, close, vix, t_years)
            if q is not None and math.isfinite(q.delta):
                cands.append(StrikeQuote(k, q.delta, q.bid, q.ask))
        best = choose_gap_strike(cands, atm)
        return best.strike if best is not None else atm

    def _risk_per_unit(self, tr: Trade, pos: Position, t: dt.datetime) -> float:
        """Premium lost per unit if the initial stop is hit, by the configured mapping."""
        if not self.options_mode or tr.expiry is None or tr.strike is None:
            return abs(pos.entry_underlying - pos.stop_initial)
        at_stop = option_exit_price(
            self.cfg.options.exit_price_method,
            option_last=tr.mark_price,
            underlying_now=pos.entry_underlying,
            underlying_trigger=pos.stop_initial,
            strike=tr.strike,
            right=OptionRight(tr.right),
            t_years=max(self._tte(t, tr.expiry), 1e-9),
            r=self.cfg.options.risk_free_rate,
            q=self.cfg.options.dividend_yield,
            tick=self.tick,
        )
        return max(tr.entry_price - at_stop, self.tick)

    # ------------------------------------------------------------------ equity

    _last_t: dt.datetime = dt.datetime(1970, 1, 1)

    def _equity(self, t: dt.datetime, equity: float, unrealized: float) -> None:
        self._last_t = t
        self.peak = max(self.peak, equity)
        self._on_equity(self.iso(t), equity, self.realized, unrealized)


def _opt(x: float) -> float | None:
    return None if x != x else x  # NaN -> None


def _round(x: float) -> float | None:
    return None if x != x else round(x, 4)


def _minutes_between(a: dt.time, b: dt.time) -> float:
    return (b.hour * 60 + b.minute + b.second / 60) - (a.hour * 60 + a.minute + a.second / 60)


def _offset(tz: ZoneInfo, naive: dt.datetime) -> str:
    off = naive.replace(tzinfo=tz).utcoffset() or dt.timedelta(0)
    sign = "+" if off >= dt.timedelta(0) else "-"
    mins = abs(int(off.total_seconds())) // 60
    return f"{sign}{mins // 60:02d}:{mins % 60:02d}"


def _targets(pos: Position) -> dict[str, Any]:
    return {
        "side": pos.side.value,
        "entry_underlying": pos.entry_underlying,
        "stop": pos.stop_underlying,
        "t1": pos.t1_underlying,
        "t2": pos.t2_underlying,
        "move_be": pos.move_be_underlying,
        "qty": pos.qty,
        "tier": pos.vix_tier.value,
    }
