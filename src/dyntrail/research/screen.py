"""A compiled screening kernel (numba): the strategy's exits for very many parameter sets in
one call, trade-identical to the engine for the configurations it supports, so a sweep of a
million combinations takes minutes and the engine re-runs the best in full (``confirm``, which
also checks that the engine's trades are the kernel's).

Two kernels: the underlying's (``Bars``, this module) and an options run's with the option
pricing (``OptionBars``, ``dyntrail.research.screen_options``, whose docstring says what it
supports). ``bars_of`` picks the one of the configuration; ``screen``, ``trades``, ``best`` and
``confirm`` take either.

**Supported by the underlying's** (``unsupported(cfg)`` lists what is not, and ``Bars``
refuses it): the underlying traded (``[instrument] trade = "underlying"``), one unit, no costs
or slippage; entries from an external long signal (as the W1 benchmark and
``run_signal_backtest``); ``[strategy.bars] semantics = "next_bar"``; one target, all out
(``scale_out_ratio = 1``); the ATR trail from the entry with one multiple for every VIX tier;
break-even; the flatten time; the India VIX inside the NORMAL tier throughout (``rr = base_rr``)
and no breaker; no time stop, momentum, time-left cap, protections or backstop; no daily loss
limit reached. **Not supported**: the entry gates, scale-outs and T2, VIX tiers, time stops.
These run only in the engine (``dyntrail sweep``).

Per bar, in the engine's order and with its arithmetic (``core.targets``,
``core.position``): the stop standing since the last close against the open, then the low
(a gap fills at the open); the target against the open, then the high; at the close,
break-even once the high reached it, then the trail ``close - mult x ATR`` (the stop only
tightens); at or after the flatten time, out at the close. Entries at the close of a signal
bar, flat, not on a bar that exited, before the flatten time: stop ``entry - min(entry x SL,
k x ATR)`` (k the initial ATR multiple; ``entry x SL`` while ATR is unknown), target
``entry + rr x (entry x SL)``, break-even level ``entry + entry x BE``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from dyntrail.core.config import Config
from dyntrail.errors import ConfigError

if TYPE_CHECKING:
    from dyntrail.research.screen_options import OptionBars

FloatArray = npt.NDArray[np.float64]
PARAMS = ("sl_pct", "rr", "be_pct", "init_mult", "mult")
"""A parameter set's columns, in order: ``[strategy.risk] sl_underlying_pct``,
``[strategy.targets] base_rr``, ``[strategy.risk] trail_to_be_underlying_pct``,
``[strategy.risk] initial_stop_atr_mult``, ``[strategy.atr] multiplier_trail``."""
KEYS = (
    "strategy.risk.sl_underlying_pct",
    "strategy.targets.base_rr",
    "strategy.risk.trail_to_be_underlying_pct",
    "strategy.risk.initial_stop_atr_mult",
    "strategy.atr.multiplier_trail",
)
STOP, TARGET, EOD = 0, 1, 2  # exit reasons of ``trades``


class ScreenMismatch(RuntimeError):
    """``confirm``: the engine's trades of a parameter set are not the kernel's."""


def unsupported(cfg: Config) -> list[str]:
    """What in ``cfg`` the kernel of its kind (the underlying's, or an options run's:
    ``screen_options.unsupported``) does not do (empty: it is trade-identical to the engine)."""
    if cfg.instrument.trade == "options":
        from dyntrail.research.screen_options import unsupported as of_options

        return of_options(cfg)
    s, why = cfg.strategy, []
    if cfg.instrument.underlying_slippage_ticks:
        why.append("[instrument] underlying_slippage_ticks: must be 0")
    why += shape_refusals(cfg)
    if cfg.account.lots_per_trade != 1 or cfg.limits.max_open_positions != 1:
        why.append("[account] lots_per_trade and [limits] max_open_positions: must be 1")
    if s.entries.reenter_same_bar:
        why.append("[strategy.entries] reenter_same_bar: must be false")
    return why


def shape_refusals(cfg: Config) -> list[str]:
    """What either kernel refuses of the strategy's shape (the bars' semantics, the target,
    the trail, the dynamics, the time stop, the protections and the backstop)."""
    s, why = cfg.strategy, []
    if s.bars.semantics != "next_bar":
        why.append("[strategy.bars] semantics: must be next_bar")
    if s.targets.scale_out_ratio != 1.0:
        why.append("[strategy.targets] scale_out_ratio: must be 1 (one target, all out)")
    if s.trail.start != "entry" or s.trail.method != "atr" or s.trail.by_tier:
        why.append("[strategy.trail]: the ATR trail from the entry, one rule for every tier")
    if s.momentum.enabled or s.time_left.enabled:
        why.append("[strategy.momentum] / [strategy.time_left]: must be off")
    if s.risk.time_stop_min < 24 * 60:
        why.append("[strategy.risk] time_stop_min: the kernel has no time stop")
    if cfg.protections.enabled or cfg.backstop.enabled:
        why.append("[protections] / [backstop]: must be off")
    return why


@dataclass(frozen=True)
class Bars:
    """What the kernel reads of the data: per bar (by start time) open, high, low, close,
    ATR (NaN while unknown), the minute of the day the bar starts, the trading day's index
    and the entry signal; the flatten minute (a bar starting at or after it is flat)."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    atr: FloatArray
    minute: npt.NDArray[np.int64]
    day: npt.NDArray[np.int64]
    entries: npt.NDArray[np.bool_]
    flatten_minute: int

    @classmethod
    def of(
        cls, cfg: Config, ts: Any, o: Any, h: Any, lo: Any, c: Any, atr: Any, vix: Any, entries: Any
    ) -> Bars:
        """The kernel's view of a run (``ConfigError`` when ``cfg`` or the VIX is not
        supported): ``ts`` the bars' start times, ``atr`` as the engine computes it."""
        if cfg.instrument.trade != "underlying":
            raise ConfigError(
                "Bars is the underlying's kernel: an options run's is OptionBars (or bars_of)"
            )
        why = unsupported(cfg)
        vx = np.asarray(vix, dtype=float)
        t = cfg.strategy.vix
        if len(vx) and not ((vx >= t.normal_min) & (vx < t.normal_max)).all():
            why.append("the India VIX leaves the NORMAL tier (rr would change with the tier)")
        if len(vx) and np.ptp(vx) != 0.0:
            why.append("the India VIX moves (the spike breaker could trip)")
        if why:
            raise ConfigError("the screening kernel does not support: " + "; ".join(why))
        stamps = np.asarray(ts, dtype="datetime64[s]")
        days = stamps.astype("datetime64[D]")
        minute = ((stamps - days).astype(np.int64) // 60).astype(np.int64)
        _, day = np.unique(days, return_inverse=True)
        fl = cfg.strategy.time.flatten
        bar = int(cfg.session.bar_minutes or 1)
        # the engine flattens a bar whose close (start + one bar) is at or after flatten
        flatten_minute = fl.hour * 60 + fl.minute - bar + (1 if fl.second else 0)
        return cls(
            np.ascontiguousarray(o, dtype=np.float64),
            np.ascontiguousarray(h, dtype=np.float64),
            np.ascontiguousarray(lo, dtype=np.float64),
            np.ascontiguousarray(c, dtype=np.float64),
            np.ascontiguousarray(atr, dtype=np.float64),
            minute,
            day.astype(np.int64),
            np.ascontiguousarray(entries, dtype=np.bool_),
            flatten_minute,
        )


def bars_of(
    cfg: Config, ts: Any, o: Any, h: Any, lo: Any, c: Any, atr: Any, vix: Any, entries: Any
) -> Bars | OptionBars:
    """The kernel's view of a run of ``cfg``'s kind: ``Bars`` for the underlying traded,
    ``OptionBars`` for options (``ConfigError`` naming what is not supported)."""
    if cfg.instrument.trade == "options":
        from dyntrail.research.screen_options import OptionBars

        return OptionBars.of(cfg, ts, o, h, lo, c, atr, vix, entries)
    return Bars.of(cfg, ts, o, h, lo, c, atr, vix, entries)


def params_of(cfg: Config) -> FloatArray:
    """``cfg``'s parameter set as one row of ``PARAMS``."""
    s = cfg.strategy
    return np.array(
        [[s.risk.sl_underlying_pct, s.targets.base_rr, s.risk.be_underlying_pct,
          s.risk.initial_stop_atr_mult, s.atr.atr_trail_mult]], dtype=np.float64
    )  # fmt: skip


@dataclass(frozen=True)
class Screened:
    """Per parameter set: trades, winners, PnL (the underlying's: points per unit; options:
    rupees net of costs), the Sharpe of its daily PnL (x sqrt 252; 0 without variance) and the
    largest drawdown of its cumulative PnL."""

    trades: npt.NDArray[np.int64]
    wins: npt.NDArray[np.int64]
    pnl: FloatArray
    sharpe: FloatArray
    max_drawdown: FloatArray


def _numba() -> Any:
    try:
        import numba
    except ImportError:
        raise ConfigError(
            "the screening kernel needs numba: pip install 'dyntrail[research]'"
        ) from None
    return numba


_KERNELS: dict[str, Any] = {}


def _kernels() -> dict[str, Any]:
    """The compiled kernels (compiled on first use, cached on disk by numba)."""
    if _KERNELS:
        return _KERNELS
    numba = _numba()
    njit, prange = numba.njit, numba.prange
    from dyntrail.research.kernel_rules import (  # (numba is installed: checked)
        daily_sharpe,
        entry_levels,
        next_bar_exit,
    )

    @njit(cache=True, nogil=True)
    def walk(o, h, lo, c, atr, minute, day, entries, flat_min, sl, rr, be, k, mult, rec, out):  # type: ignore[no-untyped-def]
        """One parameter set over every bar. ``rec``: record each trade into ``out`` (rows
        of entry bar, exit bar, entry, exit, reason); returns (trades, wins, pnl, sharpe,
        max drawdown)."""
        n = len(c)
        in_pos = False
        entry = stop = target = be_level = 0.0
        entry_bar = 0
        trades = 0
        wins = 0
        pnl = 0.0
        peak = 0.0
        mdd = 0.0
        day_pnl = 0.0
        s1 = 0.0
        s2 = 0.0
        ndays = 0
        cur = day[0] if n else 0
        for i in range(n):
            if day[i] != cur:
                s1 += day_pnl
                s2 += day_pnl * day_pnl
                ndays += 1
                day_pnl = 0.0
                cur = day[i]
            exited = False
            if in_pos:
                px, why, stop = next_bar_exit(o[i], lo[i], h[i], c[i], atr[i], minute[i],
                                              flat_min, entry, stop, target, be_level,
                                              mult)  # fmt: skip
                if why >= 0:
                    gain = px - entry
                    if rec:
                        out[trades, 0] = entry_bar
                        out[trades, 1] = i
                        out[trades, 2] = entry
                        out[trades, 3] = px
                        out[trades, 4] = why
                    trades += 1
                    if gain > 0:
                        wins += 1
                    pnl += gain
                    day_pnl += gain
                    if pnl > peak:
                        peak = pnl
                    if peak - pnl > mdd:
                        mdd = peak - pnl
                    in_pos = False
                    exited = True
            if not in_pos and not exited and entries[i] and minute[i] < flat_min:
                entry = c[i]
                entry_bar = i
                stop, target, be_level = entry_levels(entry, sl, k, atr[i], rr, be)
                in_pos = True
        if in_pos:  # the end of the data: out at the last close, as the engine's finish
            gain = c[n - 1] - entry
            if rec:
                out[trades, 0] = entry_bar
                out[trades, 1] = n - 1
                out[trades, 2] = entry
                out[trades, 3] = c[n - 1]
                out[trades, 4] = 2
            trades += 1
            if gain > 0:
                wins += 1
            pnl += gain
            day_pnl += gain
            if peak - pnl > mdd:
                mdd = peak - pnl
        if n:
            s1 += day_pnl
            s2 += day_pnl * day_pnl
            ndays += 1
        sharpe = daily_sharpe(s1, s2, ndays)
        return trades, wins, pnl, sharpe, mdd

    @njit(cache=True, parallel=True, nogil=True)
    def many(o, h, lo, c, atr, minute, day, entries, flat_min, params):  # type: ignore[no-untyped-def]
        m = params.shape[0]
        trades = np.zeros(m, np.int64)
        wins = np.zeros(m, np.int64)
        pnl = np.zeros(m)
        sharpe = np.zeros(m)
        mdd = np.zeros(m)
        dummy = np.zeros((1, 5))
        for j in prange(m):
            p = params[j]
            t, w, q, s, d = walk(o, h, lo, c, atr, minute, day, entries, flat_min,
                                 p[0], p[1], p[2], p[3], p[4], False, dummy)  # fmt: skip
            trades[j], wins[j], pnl[j], sharpe[j], mdd[j] = t, w, q, s, d
        return trades, wins, pnl, sharpe, mdd

    _KERNELS.update(walk=walk, many=many)
    return _KERNELS


def screen(bars: Bars | OptionBars, params: npt.ArrayLike) -> Screened:
    """Every parameter set (rows of ``PARAMS``) over ``bars``, in parallel on every core."""
    p = np.ascontiguousarray(np.atleast_2d(np.asarray(params, dtype=np.float64)))
    if p.shape[1] != len(PARAMS):
        raise ValueError(f"params: {p.shape[1]} columns, expected {len(PARAMS)} ({PARAMS})")
    if not isinstance(bars, Bars):
        from dyntrail.research import screen_options

        return screen_options.screen(bars, p)
    b = bars
    t, w, q, s, d = _kernels()["many"](b.open, b.high, b.low, b.close, b.atr, b.minute, b.day,
                                       b.entries, b.flatten_minute, p)  # fmt: skip
    return Screened(t, w, q, s, d)


def trades(bars: Bars | OptionBars, params: npt.ArrayLike) -> FloatArray:
    """The trades of one parameter set: rows of (entry bar, exit bar, entry price, exit price,
    reason: ``STOP``, ``TARGET`` or ``EOD``); of ``OptionBars``, rows of
    ``screen_options.COLUMNS``."""
    if not isinstance(bars, Bars):
        from dyntrail.research import screen_options

        return screen_options.trades(bars, params)
    p = np.asarray(params, dtype=np.float64).reshape(-1)
    b = bars
    out = np.zeros((int(b.entries.sum()) + 1, 5))
    walk = _kernels()["walk"]
    n = walk(b.open, b.high, b.low, b.close, b.atr, b.minute, b.day, b.entries,
             b.flatten_minute, p[0], p[1], p[2], p[3], p[4], True, out)[0]  # fmt: skip
    return out[:n]


def apply_row(cfg: Config, row: npt.ArrayLike) -> Config:
    """``cfg`` with a parameter set's values (``KEYS``), checked as a config file is."""
    from dyntrail.core.config_load import config_from_mapping, config_to_dict

    raw = config_to_dict(cfg)
    for key, value in zip(KEYS, np.asarray(row, dtype=float).reshape(-1), strict=True):
        section, *rest = key.split(".")
        node = raw[section]
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        node[rest[-1]] = float(value)
    return config_from_mapping(raw, "screen")


def best(result: Screened, top: int, by: str = "pnl", min_trades: int = 1) -> npt.NDArray[np.int64]:
    """The indices of the ``top`` parameter sets by ``by`` (``pnl`` or ``sharpe``) among those
    with at least ``min_trades`` trades, best first."""
    score = np.where(result.trades >= min_trades, getattr(result, by), -np.inf)
    order = np.argsort(-score, kind="stable")[:top]
    return order[np.isfinite(score[order])]


def confirm(
    cfg: Config,
    ts: Any,
    o: Any,
    h: Any,
    lo: Any,
    c: Any,
    volume: Any,
    atr: Any,
    vix: Any,
    entries: Any,
    rows: npt.ArrayLike,
    folder: Any,
) -> list[Any]:
    """The engine's full run of each parameter set in ``rows`` (the screen's best, best
    first): the backtest's own engine, journal (``folder/<rank>.jsonl``, from 1; the folder's
    older journals are removed first) and trades, for each. Each run's trades are held against
    the kernel's (prices and reasons; for options also times, strike, quantity, costs and PnL,
    bit for bit): ``ScreenMismatch`` names the first that differs. Bars are ``[session]
    bar_minutes`` long (1 when it is 0)."""
    from pathlib import Path

    from dyntrail.research import screen_options as so
    from dyntrail.runners.backtest import run_signal_backtest

    out = []
    Path(folder).mkdir(parents=True, exist_ok=True)
    for old in Path(folder).glob("*.jsonl"):
        old.unlink()  # (a journal that exists would be continued; another rank's would mislead)
    bar = int(cfg.session.bar_minutes or 1)
    for k, row in enumerate(np.atleast_2d(np.asarray(rows, dtype=float)), 1):
        run = apply_row(cfg, row)
        path = Path(folder) / f"{k}.jsonl"
        bars = bars_of(run, ts, o, h, lo, c, atr, vix, entries)
        table = trades(bars, params_of(run))
        closed = run_signal_backtest(run, ts, o, h, lo, c, volume, vix, list(entries), path,
                                     atr=atr, bar_minutes=bar)  # fmt: skip
        if isinstance(bars, Bars):
            want: list[Any] = [(t.entry_price, t.exit_value / t.exit_qty, t.exit_reason)
                               for t in closed]  # fmt: skip
            names = ("exit_stop", "exit_target1", "exit_eod")
            got: list[Any] = [(r[2], r[3], names[int(r[4])]) for r in table]
        else:
            want, got = so.engine_rows(closed), so.kernel_rows(bars, table)
        if want != got:
            raise ScreenMismatch(
                f"the set ranked {k} ({row.tolist()}): " + _first_difference(want, got)
            )
        out.append(closed)
    return out


def _first_difference(want: list[Any], got: list[Any]) -> str:
    """Where the engine's trades (``want``) and the kernel's first differ, in one line."""
    at = next((j for j, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), None)
    if at is None:
        at = min(len(want), len(got))
    engine = want[at] if at < len(want) else "none"
    kernel = got[at] if at < len(got) else "none"
    return (
        f"the engine made {len(want)} trades, the kernel {len(got)}; trade {at}: "
        f"engine {engine}, kernel {kernel}"
    )
