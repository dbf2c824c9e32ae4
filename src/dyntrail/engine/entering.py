"""Entries: the gates (or an external signal) decide, the contract is chosen (the ATM option of
the next eligible expiry; on a gap morning the strike whose delta is nearest 0.5), the position
opens with its targets from the context at entry, and the entry order goes out. The risk gate
has said yes before any of this (``dyntrail.engine.risk``)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence

from dyntrail.core.config import Config, OptionsSection
from dyntrail.core.contract import Contract
from dyntrail.core.contracts import (
    StrikeQuote,
    atm_strike,
    candidate_strikes,
    choose_gap_strike,
    next_expiry,
)
from dyntrail.core.entries import EntryInputs, decide_entry
from dyntrail.core.events import EntrySignal, EntrySkipped
from dyntrail.core.options import OptionRight
from dyntrail.core.order_pricing import OrderSide
from dyntrail.core.position import open_position
from dyntrail.core.risk import entry_lots
from dyntrail.core.targets import TargetContext
from dyntrail.core.types import Side
from dyntrail.engine.book import Book
from dyntrail.engine.catalog import Catalog
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.market import Market, Underlying
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import Quote, QuoteSource, Sinks
from dyntrail.trade import Trade


class Entering:
    """Entries (see the module docstring); it keeps the contracts it has looked up."""

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
        signals: Sequence[int] | None,
    ) -> None:
        self.run, self.stamps, self.sinks = run, stamps, sinks
        self.market, self.underlying = market, underlying
        self.book, self.orders, self.quotes = book, orders, quotes
        self.signals = signals  # truthy: a long entry signal at that bar (replaces the gates)
        self.catalog = catalog
        self._deltas = getattr(quotes, "deltas", True)  # (see ``QuoteSource``)
        self._expiries: dict[dt.date, dt.date] = {}  # day -> the expiry its entries take
        # why the risk gate's protections hold an entry of a side back now ("": they don't)
        self.held: Callable[[dt.datetime, str], str] | None = None

    def maybe_enter(self, i: int, t: dt.datetime, close: float, vix: float) -> None:
        cfg = self.run.cfg
        if self.signals is not None:  # external signals: long on a signal, before flatten
            if self.signals[i] and t.time() < cfg.strategy.time.flatten:
                self.enter(Side.LONG, t, close, vix)
            return
        m, u = self.market, self.underlying
        f = u.f
        vwap, adx, plus_di, minus_di = f.vwap, f.adx, f.plus_di, f.minus_di
        x = EntryInputs(  # positional, NaN as None (``_opt`` written out): on every flat bar
            t.time(),
            m.tier,
            m.breaker_on,
            self.book.trades_today,
            u.gap_until,
            close,
            None if vwap != vwap else vwap,
            None if adx != adx else adx,
            None if plus_di != plus_di else plus_di,
            None if minus_di != minus_di else minus_di,
        )
        decision = decide_entry(cfg, x)
        if decision.side is not None:
            self.enter(decision.side, t, close, vix)

    def why_not(self, t: dt.datetime, close: float) -> str:
        """Why the entry gates would not enter at ``t`` at ``close`` ("" when they would), in
        words an operator reads (the status's "why no entry now"); it decides nothing."""
        cfg = self.run.cfg
        if self.signals is not None:
            return "" if t.time() < cfg.strategy.time.flatten else "window: past the flatten time"
        m, f = self.market, self.underlying.f
        x = EntryInputs(
            t.time(),
            m.tier,
            m.breaker_on,
            self.book.trades_today,
            self.underlying.gap_until,
            close,
            _opt(f.vwap),
            _opt(f.adx),
            _opt(f.plus_di),
            _opt(f.minus_di),
        )
        d = decide_entry(cfg, x)
        if d.side is not None:
            held = self.held(t, d.side.value) if self.held is not None else ""
            return f"protection: {held}" if held else ""
        return _why(cfg, x, d.reason)

    def enter(self, side: Side, t: dt.datetime, close: float, vix: float) -> None:
        if self.held is not None and self.held(t, side.value):
            return  # a protection holds it back (journaled when it engaged)
        run = self.run
        day = t.date()
        if run.options_mode:
            o = run.cfg.options
            expiry = self._expiry(day)
            opt_right = OptionRight.CE if side is Side.LONG else OptionRight.PE
            t_years = run.tte(t, expiry)
            strike = self._choose_strike(t, expiry, opt_right, close, vix, t_years)
            contract = self.catalog.option(expiry, strike, opt_right)
            q = self.quotes.quote(contract, t, spot=close, vix=vix, t_years=t_years)
            skip = _entry_guard(o, q, t_years)
            if skip or q is None:
                self.sinks.emit(EntrySkipped(ts=self.stamps.iso(t), reason=skip, side=side.value))
                return
            decision, bid, ask = q.last, q.bid, q.ask
        else:
            decision = close
            bid, ask = close - run.slip, close + run.slip
            contract = self.catalog.underlying(day)
        tr = self._open(side, t, close, vix, decision, contract)
        if tr is None:
            return
        buy_side = OrderSide.BUY if tr.is_long_instrument else OrderSide.SELL
        qty = entry_lots(self.orders.risk.limits) * contract.lot
        if not self.orders.send(tr, "entry", buy_side, qty, decision, close, t, 1, bid, ask):
            self.book.abandon(tr, "refused", t)  # the risk gate said no: no trade

    def prepare(self, day: dt.date, ts: dt.datetime) -> None:
        """The session's first bar: the day's expiry, its contracts' lot and form and the
        years to its close worked out now, once, so that the day's first entry, whose tick to
        order is otherwise the day's slowest, finds them known (the same values). A fact the
        contract terms lack (a lot size before the table's first date) is left to that entry
        to report, as before: a day without one does not need it."""
        if self.run.options_mode:
            try:
                expiry = self._expiry(day)
                self.catalog.expiry_facts(expiry)
                self.run.tte(ts, expiry)
            except ValueError:  # (``MissingFact`` among them)
                return

    def _expiry(self, day: dt.date) -> dt.date:
        """The expiry the entries of ``day`` take (worked out once a day)."""
        expiry = self._expiries.get(day)
        if expiry is not None:
            return expiry
        run, o = self.run, self.run.cfg.options
        expiry = self._expiries[day] = next_expiry(
            run.spec,
            day,
            run.trading_days,
            skip_expiry_day=o.skip_expiry_day,
            min_days_to_expiry=o.min_days_to_expiry,
        )
        return expiry

    def _open(
        self,
        side: Side,
        t: dt.datetime,
        close: float,
        vix: float,
        decision: float,
        contract: Contract,
    ) -> Trade | None:
        """The position with its targets from the context at entry, as a trade of the book
        (its quantity grows with the entry's fills); None when the targets refuse it."""
        run, f = self.run, self.underlying.f
        lot = contract.lot
        ctx = TargetContext(
            atr=_opt(f.atr),
            vwap=_opt(f.vwap),
            swing_structure=f.structure,
            minutes_to_flatten=_minutes_between(t.time(), run.cfg.strategy.time.flatten),
            bar_minutes=float(run.bar_minutes),
        )
        qty = entry_lots(self.orders.risk.limits) * lot
        pos = open_position(
            run.targets, side, close, decision, vix, qty=qty, now=t, lot_size=lot, context=ctx
        )
        if pos is None:
            return None
        pos.qty = 0  # grows with the entry's fills
        at = self.stamps.iso(t)
        tr = Trade(
            self.book.next_id(),
            pos,
            contract.symbol,
            contract.right.value if contract.right is not None else "",
            contract.strike,
            contract.expiry,
            at,
            0.0,
            0,
            risk_per_unit=0.0,
            mark_price=decision,
            mark_underlying=close,
            legs=0,
            underlying=self.underlying.name,
            contract=contract,
        )
        self.book.add(tr)
        self.sinks.emit(
            EntrySignal(
                ts=at,
                trade_id=tr.trade_id,
                side=side,
                underlying=close,
                vix=vix,
                tier=pos.vix_tier,
                adx=_round(f.adx),
                vwap=_round(f.vwap),
                instrument=tr.instrument,
            )
        )
        return tr

    def _choose_strike(
        self,
        t: dt.datetime,
        expiry: dt.date,
        right: OptionRight,
        close: float,
        vix: float,
        t_years: float,
    ) -> float:
        step = self.run.spec.strike_step
        atm = atm_strike(close, step)
        if self.underlying.gap_until is None or not self._deltas:
            return atm
        cands = []
        for k in candidate_strikes(close, step, self.run.cfg.strategy.entries.gap_strike_range):
            contract = self.catalog.option(expiry, k, right)
            q = self.quotes.quote(contract, t, spot=close, vix=vix, t_years=t_years)
            if q is not None and math.isfinite(q.delta):
                cands.append(StrikeQuote(k, q.delta, q.bid, q.ask))
        best = choose_gap_strike(cands, atm)
        return best.strike if best is not None else atm


def _opt(x: float) -> float | None:
    return None if x != x else x  # NaN -> None


def _round(x: float) -> float | None:
    return None if x != x else round(x, 4)


def _minutes_between(a: dt.time, b: dt.time) -> float:
    return (b.hour * 60 + b.minute + b.second / 60) - (a.hour * 60 + a.minute + a.second / 60)


_MINUTES_PER_YEAR = 365.0 * 24 * 60  # the ACT/365 basis of ``time_to_expiry_years``


def _entry_guard(o: OptionsSection, q: Quote | None, t_years: float) -> str:
    """Why an option entry is refused ("" when it is not): no quote to buy at, a contract that
    expires within ``min_minutes_to_expiry``, or an ask below ``min_premium_inr``."""
    if q is None or q.ask <= 0:
        return "no_quote"
    if t_years * _MINUTES_PER_YEAR < o.min_minutes_to_expiry:
        return "near_expiry"
    if q.ask < o.min_premium_inr:
        return "premium_below_min"
    return ""


def _why(cfg: Config, x: EntryInputs, gate: str) -> str:
    """The gate ``gate`` that refused ``x``, with the values it judged."""
    s = cfg.strategy
    if gate == "window":
        return f"window: entries {s.time.entry_start:%H:%M}-{s.time.entry_end:%H:%M}"
    if gate == "vix_halt":
        return "tier: VIX in the halt tier"
    if gate == "max_trades":
        return f"max trades: {x.trades_today} of {s.entries.max_trades_per_day} today"
    if gate == "gap_delay":
        return f"gap morning: no entry before {x.gap_delay_until}"
    if gate == "no_bias":
        adx = "n/a" if x.adx is None else f"{x.adx:.1f}"
        return f"ADX: no trend bias (ADX {adx})"
    if gate in ("no_vwap", "vwap_gate"):
        vwap = "n/a" if x.vwap is None else f"{x.vwap:.2f}"
        return f"VWAP: close {x.close:.2f} on the wrong side of VWAP {vwap}"
    return "breaker: the VIX-spike circuit breaker is tripped"
