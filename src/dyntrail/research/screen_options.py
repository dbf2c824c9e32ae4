"""The compiled screen of an options run: the strategy's exits **and the option pricing** for
very many parameter sets in one call, trade-identical to the engine for the configurations it
supports (every trade's bars, strike, quantity, fill prices, costs and PnL equal the engine's,
bit for bit; ``tests/research/test_screen_options.py`` holds them equal on generated data).

What the engine does with one long signal, and the kernel repeats (``option_kernel``):

- **Entry** at the close of a signal bar, flat, not halted, before the flatten time (and not on
  a bar that exited unless ``reenter_same_bar``): the first expiry on or after the day
  (``next_expiry`` with ``skip_expiry_day`` / ``min_days_to_expiry`` and the exchange
  calendar), the ATM call (on a gap morning the liquid strike with delta nearest 0.5), quoted by
  the pricing model at the close (``SyntheticQuotes``: spot, the India VIX, the years to the
  expiry's close). No entry when the ask is under ``min_premium_inr``, the contract expires
  within ``min_minutes_to_expiry`` or the VIX is in the HALT tier. The buy fills whole at the
  ask (the paper broker without latency: a marketable limit at or above the ask); the quantity
  is ``min(lots_per_trade, max_lots)`` lots of that contract's lot (dated by its expiry, weekly
  or monthly). The stop, target and break-even are the underlying's (``screen``), the target's
  multiple that of the VIX tier at entry.
- **Exits** as the underlying's (stop, target, break-even, ATR trail, flatten), each a sell
  that fills whole at the model's bid with the underlying at the exit's level, at the bar's
  close, with the VIX of the bar before (the engine's last known). With no bid the exit waits
  and goes out again at each later bar's open; a position still open at a session's close is
  settled at its intrinsic value on its expiry day (STT on exercise; at the next session when
  the data has no bar of that day), otherwise carried and sold at the next session's open. At
  each close with a position: the breaker's flatten (policy ``flatten``), else the daily loss
  limit on the day's PnL with the option marked at the model's last price (the mark is made
  only when a mark of one tick could reach the limit); at each close without one, the limit on
  the day's realized PnL (a stop that took the day there halts it: no entry after). At the end
  of the data: out at the last close.
- **Costs** as ``[costs]`` sets them (brokerage, STT, exchange, SEBI, IPFT, stamp, GST, each to
  the paisa, by the fill's date); all zero gives none.

The expected option price of an exit (``[options] exit_price_method``) and the order's cushion
only set the limit of an order that fills at the touch anyway: they change no fill, so any is
supported. They set the trade row's ``r_multiple``, which the kernel does not make.

**Supported**: ``[instrument] trade = "options"`` with quotes from the pricing model (data
without recorded option quotes); entries from an external long signal (calls; an external
signal has no short side); ``next_bar`` semantics; one target, all out; the ATR trail from the
entry with one multiple for every tier; break-even; the flatten time; any VIX (its tier sets the
target's multiple at entry, HALT no entry) and the spike breaker; the daily loss limit; a fixed
number of lots per trade up to the freeze quantity; costs on or off; ``reenter_same_bar``;
gap-morning strikes; expiry-day exits without a bid, settlement and carried positions.
**Refused** (``unsupported``): the entry gates, scale-outs and T2, other trails or per-tier
trails, time stops, momentum, the time-left cap, protections, the backstop, several open
positions, a strike step that is not a whole number, and an order above the freeze quantity.
These run in the engine (``dyntrail sweep``). The model's quotes are on the instrument's tick,
as the engine's are.

The engine's own run of the same (``confirm`` re-runs sets through it) is
``runners.backtest.run_signal_backtest``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from dyntrail.core.config import Config
from dyntrail.core.contracts import is_monthly_expiry, next_expiry
from dyntrail.core.costs import rate_on
from dyntrail.core.entries import gap_delay_until
from dyntrail.core.options import DAYS_PER_YEAR
from dyntrail.core.order_pricing import _fraction
from dyntrail.core.regime import BatchRegime, vix_tier
from dyntrail.core.risk import RiskLimits, entry_lots
from dyntrail.core.types import VixTier
from dyntrail.errors import ConfigError
from dyntrail.instruments import resolve_instrument
from dyntrail.runners.drive import quote_model_params

if TYPE_CHECKING:
    from dyntrail.research.screen import Screened
    from dyntrail.trade import Trade

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
REASONS = (
    "exit_stop", "exit_target1", "exit_eod", "exit_risk", "exit_breaker", "exit_carried",
    "exit_settled",
)  # fmt: skip
"""The exit reasons of ``trades``' ``reason`` column, by code (the engine's names)."""
COLUMNS = (
    "entry_bar", "exit_bar", "entry_price", "exit_price", "reason", "strike", "qty", "costs",
    "pnl_net", "exit_time", "expiry",
)  # fmt: skip
"""The columns of ``trades``: bars by index, ``exit_time`` in seconds since 1970 (naive exchange
time: a close, an open or a session's close), ``expiry`` in days since 1970."""
STOP, TARGET, EOD, RISK, BREAKER, CARRIED, SETTLED = range(len(REASONS))
LOW, NORMAL, REDUCED, HIGH, HALT = range(5)  # the VIX tier codes of ``OptionBars.tier``
_TIERS = {VixTier.LOW: LOW, VixTier.NORMAL: NORMAL, VixTier.REDUCED: REDUCED, VixTier.HIGH: HIGH,
          VixTier.HALT: HALT}  # fmt: skip
# where the kernel finds the quote model's numbers (``OptionBars.qp``) ...
(Q_R, Q_Q, Q_TICK, Q_NUM, Q_DEN, Q_SLOPE, Q_REF_YEARS, Q_TERM_MIN, Q_TERM_MAX, Q_SKEW, Q_SMILE,
 Q_IV_MIN, Q_IV_MAX, Q_SPREAD_K, Q_CHEAP, Q_CHEAP_HALF) = range(16)  # fmt: skip
# ... and the run's (``OptionBars.kc``)
(K_FLAT_MIN, K_STEP, K_WIDTH, K_MIN_MINUTES, K_MIN_PREMIUM, K_LOSS_FLOOR, K_REENTER,
 K_CLOSE_SEC, K_RR_LOW, K_RR_REDUCED, K_RR_HIGH, K_BROKERAGE, K_SEBI, K_IPFT, K_STAMP,
 K_GST) = range(16)  # fmt: skip
_EPOCH = dt.date(1970, 1, 1)


def unsupported(cfg: Config) -> list[str]:
    """What in ``cfg`` (an options run) the kernel does not do (empty: it is trade-identical
    to the engine; the data can still refuse an order above the freeze quantity)."""
    from dyntrail.research.screen import shape_refusals

    why = shape_refusals(cfg)
    if cfg.limits.max_open_positions != 1:
        why.append("[limits] max_open_positions: must be 1")
    spec = resolve_instrument(cfg)
    if spec.strike_step != int(spec.strike_step):
        why.append("[instrument.spec] strike_step: must be a whole number")
    return why


def quote_params(cfg: Config) -> FloatArray:
    """The quote model's numbers in ``option_kernel``'s order (``Q_*``), as the engine's model
    quotes have them (``runners.drive.quote_model_params``: the instrument's tick included)."""
    p = quote_model_params(cfg)
    num, den, _ = _fraction(float(p.tick))
    return np.array(
        [p.r, p.q, p.tick, num, den, p.term_slope, p.term_ref_days / DAYS_PER_YEAR, p.term_min,
         p.term_max, p.skew, p.smile, p.iv_min_mult, p.iv_max_mult, p.spread_pct / p.vix_ref,
         p.cheap_price, p.cheap_half_spread_ticks * p.tick], dtype=np.float64,
    )  # fmt: skip


@dataclass(frozen=True)
class OptionBars:
    """What the options kernel reads: per bar the underlying's open, high, low, close, ATR
    (NaN while unknown), the India VIX, the minute of the day it starts, its day's index, the
    entry signal, its start and close in seconds since 1970 (naive exchange time), the VIX tier
    (0 LOW .. 4 HALT) and whether the breaker flattens after it; per day its date (days since
    1970), the expiry an entry takes (its close in seconds, its date), the entry's quantity,
    whether it is a gap morning, the option STT and exchange rates, and the exercise STT rate on
    it and on its expiry; the quote model's numbers (``qp``) and the run's (``kc``)."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    atr: FloatArray
    vix: FloatArray
    minute: IntArray
    day: IntArray
    entries: npt.NDArray[np.bool_]
    start_sec: IntArray
    close_sec: IntArray
    tier: IntArray
    breaker: npt.NDArray[np.bool_]
    day_date: IntArray
    expiry_close: IntArray
    expiry_date: IntArray
    qty: IntArray
    gap: npt.NDArray[np.bool_]
    stt: FloatArray
    txn: FloatArray
    exercise: FloatArray
    exercise_at_expiry: FloatArray
    qp: FloatArray
    kc: FloatArray

    @classmethod
    def of(
        cls, cfg: Config, ts: Any, o: Any, h: Any, lo: Any, c: Any, atr: Any, vix: Any, entries: Any
    ) -> OptionBars:
        """The kernel's view of an options run (``ConfigError`` naming what is not supported):
        ``ts`` the bars' start times, ``atr`` as the engine computes it."""
        from dyntrail.runners.plan import bars_calendar

        why = unsupported(cfg)
        if why:
            raise ConfigError("the screening kernel does not support: " + "; ".join(why))
        spec = resolve_instrument(cfg)
        stamps = np.asarray(ts, dtype="datetime64[s]")
        days = stamps.astype("datetime64[D]")
        minute = ((stamps - days).astype(np.int64) // 60).astype(np.int64)
        uniq, day = np.unique(days, return_inverse=True)
        bar = int(cfg.session.bar_minutes or 1)
        start_sec = stamps.astype(np.int64)
        close_sec = start_sec + bar * 60
        vx = np.ascontiguousarray(vix, dtype=np.float64)
        close = np.ascontiguousarray(c, dtype=np.float64)
        opens = np.ascontiguousarray(o, dtype=np.float64)
        sig = np.ascontiguousarray(entries, dtype=np.bool_)
        s, opt, costs = cfg.strategy, cfg.options, cfg.costs
        # the breaker after each bar, and the tier at each signal (``open_position``'s)
        regime = BatchRegime(cfg, stamps + np.timedelta64(bar * 60, "s"), vx)
        trips = np.asarray(regime.tiers_and_trips()[1], dtype=bool)
        breaker = trips & (s.breaker.policy == "flatten")
        tier = np.full(len(close), _TIERS[VixTier.NORMAL], dtype=np.int64)
        for i in np.flatnonzero(sig).tolist():
            tier[i] = _TIERS[vix_tier(float(vx[i]), cfg)]
        # per day: the expiry an entry takes, its lot, the gap morning, the dated rates
        cal = bars_calendar(cfg, spec, stamps)
        lots = entry_lots(RiskLimits.of(cfg))
        close_of_day = cfg.session.close
        close_s = close_of_day.hour * 3600 + close_of_day.minute * 60 + close_of_day.second
        firsts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        n_days = len(uniq)
        cols = {k: np.zeros(n_days, dtype=np.int64) for k in ("date", "exp_close", "exp", "qty")}
        gap = np.zeros(n_days, dtype=np.bool_)
        rates = {k: np.zeros(n_days) for k in ("stt", "txn", "ex", "ex_exp")}
        for d, on in enumerate(uniq.astype(object).tolist()):
            expiry = next_expiry(spec, on, cal, skip_expiry_day=opt.skip_expiry_day,
                                 min_days_to_expiry=opt.min_days_to_expiry)  # fmt: skip
            lot = spec.contract_lot(expiry, monthly=is_monthly_expiry(spec, expiry, cal))
            cols["date"][d] = (on - _EPOCH).days
            cols["exp"][d] = (expiry - _EPOCH).days
            cols["exp_close"][d] = cols["exp"][d] * 86400 + close_s
            cols["qty"][d] = lots * lot
            freeze = spec.freeze_qty_on(on)
            if lots * lot > freeze:  # (the engine would slice the order: the kernel cannot)
                raise ConfigError(
                    f"the screening kernel does not support: on {on} an order of {lots * lot} "
                    f"units is above the freeze quantity {freeze} (lower [account] "
                    "lots_per_trade or [limits] max_lots)"
                )
            first = int(firsts[d])
            prev = float(close[first - 1]) if first else None
            gap[d] = gap_delay_until(cfg, float(opens[first]), prev) is not None
            rates["stt"][d] = rate_on(costs.stt_sell_pct, on, "stt_sell_pct")
            rates["txn"][d] = rate_on(costs.exchange_txn_pct, on, "exchange_txn_pct")
            rates["ex"][d] = rate_on(costs.exercise_stt_pct, on, "exercise_stt_pct")
            rates["ex_exp"][d] = rate_on(costs.exercise_stt_pct, expiry, "exercise_stt_pct")
        fl = s.time.flatten
        kc = np.zeros(K_GST + 1)
        kc[K_FLAT_MIN] = fl.hour * 60 + fl.minute - bar + (1 if fl.second else 0)
        kc[K_STEP] = spec.strike_step
        kc[K_WIDTH] = s.entries.gap_strike_range
        kc[K_MIN_MINUTES] = opt.min_minutes_to_expiry
        kc[K_MIN_PREMIUM] = opt.min_premium_inr
        kc[K_LOSS_FLOOR] = RiskLimits.of(cfg).loss_floor
        kc[K_REENTER] = 1.0 if s.entries.reenter_same_bar else 0.0
        kc[K_CLOSE_SEC] = close_s
        kc[K_RR_LOW] = s.targets.rr_low_vix
        kc[K_RR_REDUCED] = s.targets.rr_elevated_vix
        kc[K_RR_HIGH] = s.targets.rr_high_vix
        kc[K_BROKERAGE] = round(costs.brokerage_per_order_inr, 2)
        kc[K_SEBI] = costs.sebi_per_crore_inr
        kc[K_IPFT] = costs.ipft_per_crore_inr
        kc[K_STAMP] = costs.stamp_buy_pct
        kc[K_GST] = costs.gst_pct
        f64 = np.float64
        return cls(
            opens,
            np.ascontiguousarray(h, dtype=f64),
            np.ascontiguousarray(lo, dtype=f64),
            close,
            np.ascontiguousarray(atr, dtype=f64),
            vx,
            minute,
            day.astype(np.int64),
            sig,
            start_sec,
            close_sec,
            tier,
            breaker,
            cols["date"],
            cols["exp_close"],
            cols["exp"],
            cols["qty"],
            gap,
            rates["stt"],
            rates["txn"],
            rates["ex"],
            rates["ex_exp"],
            quote_params(cfg),
            kc,
        )

    def arrays(self) -> tuple[Any, ...]:
        """The kernel's arguments before the parameters, in its order."""
        return (self.open, self.high, self.low, self.close, self.atr, self.vix, self.minute,
                self.day, self.entries, self.start_sec, self.close_sec, self.tier, self.breaker,
                self.day_date, self.expiry_close, self.expiry_date, self.qty, self.gap, self.stt,
                self.txn, self.exercise, self.exercise_at_expiry, self.qp, self.kc)  # fmt: skip


def _kernel() -> Any:
    from dyntrail.research.screen import _numba

    _numba()  # the message naming the extra when numba is missing
    from dyntrail.research import option_kernel

    return option_kernel


def screen(bars: OptionBars, params: FloatArray) -> Screened:
    """Every parameter set (rows of ``screen.PARAMS``) over ``bars``, in parallel; PnL in
    rupees net of costs."""
    from dyntrail.research.screen import Screened

    t, w, q, s, d = _kernel().many(*bars.arrays(), params)
    return Screened(t, w, q, s, d)


def trades(bars: OptionBars, params: npt.ArrayLike) -> FloatArray:
    """The trades of one parameter set: rows of ``COLUMNS``."""
    p = np.asarray(params, dtype=np.float64).reshape(-1)
    out = np.zeros((int(bars.entries.sum()) + 1, len(COLUMNS)))
    n = _kernel().walk(*bars.arrays(), p[0], p[1], p[2], p[3], p[4], True, out)[0]
    return out[:n]


Row = tuple[float, float, str, float, int, float, float, float, float]
"""A trade as the two sides compare it: entry time and exit time (seconds since 1970, naive
exchange time), exit reason, strike, quantity, entry price, exit price, costs, PnL net."""


def kernel_rows(bars: OptionBars, table: FloatArray) -> list[Row]:
    """``trades``' rows as ``Row``s."""
    return [
        (float(bars.close_sec[int(r[0])]), float(r[9]), REASONS[int(r[4])], float(r[5]), int(r[6]),
         float(r[2]), float(r[3]), float(r[7]), float(r[8]))
        for r in table
    ]  # fmt: skip


def engine_rows(closed: list[Trade]) -> list[Row]:
    """The engine's closed trades as ``Row``s."""
    from dyntrail.engine.context import Stamps

    def sec(iso: str) -> float:
        return float(np.datetime64(Stamps.naive(iso), "s").astype(np.int64))

    return [
        (sec(t.entry_ts), sec(t.exit_ts), t.exit_reason, float(t.strike or 0.0), t.qty,
         t.entry_price, t.exit_value / t.exit_qty, t.costs, t.pnl_net())
        for t in closed
    ]  # fmt: skip
