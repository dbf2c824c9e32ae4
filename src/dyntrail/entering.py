"""The engine's entries: the gates (or an external signal) decide, the contract is chosen (the
ATM option of the next eligible expiry; on a gap morning the strike whose delta is nearest 0.5),
the position opens with its targets from the context at entry, and the entry order goes out.

``Entering`` is a part of ``dyntrail.engine.Engine`` kept in its own room; it extends
``dyntrail.orderflow.OrderFlow`` (an entry ends in an order) and is not used on its own.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dyntrail.core.contract import Contract
from dyntrail.core.contracts import (
    InstrumentSpec,
    StrikeQuote,
    atm_strike,
    candidate_strikes,
    choose_gap_strike,
    is_monthly_expiry,
    next_expiry,
)
from dyntrail.core.entries import EntryInputs, decide_entry
from dyntrail.core.features import Features
from dyntrail.core.options import OptionRight
from dyntrail.core.order_pricing import OrderSide
from dyntrail.core.position import open_position
from dyntrail.core.targets import DynamicTargetEngine, TargetContext
from dyntrail.core.types import Side, VixTier
from dyntrail.orderflow import OrderFlow
from dyntrail.trade import Trade

if TYPE_CHECKING:
    from dyntrail.core.config import OptionsSection
    from dyntrail.engine import Quote, QuoteSource


class Entering(OrderFlow):
    """Entries of the engine (see the module docstring); an entry's order goes out through the
    order flow it extends."""

    # The engine's state this part reads and writes besides the order flow's (set by
    # ``Engine.__init__``).
    spec: InstrumentSpec
    trading_days: list[dt.date]
    quotes: QuoteSource
    f: Features
    targets: DynamicTargetEngine
    signals: Sequence[int] | None
    bar_minutes: int
    trade_no: int
    tier: VixTier
    breaker_on: bool
    day_halted: bool
    gap_until: dt.time | None
    _slip: float
    _contracts: dict[tuple[dt.date, float | None, str], Contract]  # each contract traded

    if TYPE_CHECKING:  # provided by Engine

        def _tte(self, at: dt.datetime, expiry: dt.date) -> float: ...

    def _maybe_enter(self, i: int, t: dt.datetime, close: float, vix: float) -> None:
        if self.signals is not None:  # external signals: long on a signal, before flatten
            if self.signals[i] and t.time() < self.cfg.strategy.time.flatten:
                self._enter(Side.LONG, t, close, vix)
            return
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
        if decision.side is not None:
            self._enter(decision.side, t, close, vix)

    def _enter(self, side: Side, t: dt.datetime, close: float, vix: float) -> None:
        day = t.date()
        right, strike, expiry = "", None, None
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
            q = self.quotes.quote(t, expiry, strike, opt_right, close, vix, t_years)
            skip = _entry_guard(o, q, t_years)
            if skip or q is None:
                self.journal.write("entry_skipped", self.iso(t), reason=skip, side=side.value)
                return
            decision, bid, ask = q.last, q.bid, q.ask
        else:
            decision = close
            slip = self._slip
            bid, ask = close - slip, close + slip
        contract = self._contract(day, expiry, strike, right)
        instrument, lot = contract.symbol, contract.lot
        qty = min(self.cfg.account.lots_per_trade, self.cfg.limits.max_lots) * lot
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
        pos.qty = 0  # grows with the entry's fills
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
            0,
            risk_per_unit=0.0,
            mark_price=decision,
            mark_underlying=close,
            legs=0,
        )
        self.trade = tr
        self.trades_today += 1
        self.journal.write(
            "entry_signal",
            self.iso(t),
            trade_id=tr.trade_id,
            side=side,
            underlying=close,
            vix=vix,
            tier=pos.vix_tier,
            adx=_round(self.f.adx),
            vwap=_round(self.f.vwap),
            instrument=instrument,
        )
        buy_side = OrderSide.BUY if tr.is_long_instrument else OrderSide.SELL
        self._order(tr, "entry", buy_side, qty, decision, close, t, 1, bid, ask)

    def _contract(
        self, day: dt.date, expiry: dt.date | None, strike: float | None, right: str
    ) -> Contract:
        """The contract traded: the option of ``expiry`` (its own lot, weekly or monthly), or the
        underlying (the nearest monthly's lot, as futures). A contract's facts never change:
        each is looked up once (the underlying's once a day)."""
        key = (expiry or day, strike, right)
        contract = self._contracts.get(key)
        if contract is not None:
            return contract
        if expiry is None or strike is None:
            lot = self.spec.futures_lot_size_on(day)
            contract = Contract(self.spec.underlying, lot=lot, monthly=True)
        else:
            monthly = is_monthly_expiry(self.spec, expiry, self.trading_days)
            lot = self.spec.contract_lot(expiry, monthly=monthly)
            contract = Contract(
                self.spec.underlying, expiry, strike, OptionRight(right), lot, monthly
            )
        self._contracts[key] = contract
        return contract

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
