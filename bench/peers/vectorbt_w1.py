"""W1 on vectorbt: ``Portfolio.from_signals`` with a stop-loss callback (``adjust_sl_func_nb``).

How W1 maps onto vectorbt's per-bar pipeline (``simulate_from_signal_func_nb``), which does, per
bar: call the SL callback → check SL against open/low (gap → open, else the stop price) → only if
the SL was not hit, check TP against open/high → only if no stop fired, read the entry/exit
signals and fill them at the close.

- Entry at the close: ``entries`` (W1's signal and time < EOD), ``price`` = close (the default).
- Exit at EOD at the close: ``exits`` = time ≥ EOD. A bar whose stop fired reads no signal, so a
  bar that exits on a stop never re-enters ("not exited on this bar").
- Target: ``tp_stop = RR·SL`` relative to the entry; fills at ``max(open, target)``.
- Stop wins: vectorbt checks SL first and TP only when SL did not fire.
- Stop: vectorbt holds a stop as a fraction below a reference price. The callback computes W1's
  stop level from the *previous* bar (break-even then ATR trail on its close, never down) and
  returns it as a fraction of vectorbt's reference price. ``sl_trail=True`` only makes that
  reference the running high (so the fraction stays ≥ 0 when the trail passes the entry);
  vectorbt's own trailing rule plays no part because the callback sets the level every bar.
  The fraction is nudged by an ulp or two so that ``reference·(1 − fraction)`` is the level
  bit for bit (a break-even stop at the entry meets lows on the 0.05 grid exactly).

No rule is substituted; trades should equal the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from w1_reference import W1_PARAMS, Trade, W1Params


@njit(cache=False)
def _fraction_for(level: float, ref: float) -> float:
    """The fraction ``f ≥ 0`` with ``ref·(1 − f) == level`` where a double allows it."""
    f = 1.0 - level / ref
    for _ in range(4):
        got = ref * (1.0 - f)
        if got == level:
            break
        f = np.nextafter(f, np.inf) if got > level else np.nextafter(f, -np.inf)
    return max(f, 0.0)


@njit(cache=False)
def _adjust_sl_nb(c, high, close, atr, sl_pct, be_pct, mult, level):
    """W1's stop as it stands after bar ``c.i − 1``; ``level[col]`` keeps it in index points."""
    if c.position_now <= 0.0 or np.isnan(c.curr_stop):
        return c.curr_stop, c.curr_trail
    col = c.col
    m = mult[col] if mult.size > 1 else mult[0]
    prev = c.i - 1
    entry = c.init_price
    if prev == c.init_i:
        # First bar after the entry: the initial stop, set at the entry bar's close.
        level[col] = max(entry * (1.0 - sl_pct), entry - m * atr[prev])
    else:
        if high[prev] >= entry * (1.0 + be_pct) and entry > level[col]:
            level[col] = entry
        trail = close[prev] - m * atr[prev]
        if trail > level[col]:
            level[col] = trail
    return _fraction_for(level[col], c.curr_price), True


def _signals(data, params: W1Params) -> tuple[np.ndarray, np.ndarray]:
    eod = data.minute >= params.eod_min
    return data.entries & ~eod, eod


def _portfolio(data, entries, exits, tp_stop, mults, columns: int):
    import vectorbt as vbt

    shape = (data.n, columns)

    def col(a):
        return a if columns == 1 else np.broadcast_to(a[:, None], shape)

    level = np.full(columns, np.nan)
    return vbt.Portfolio.from_signals(
        close=col(data.close),
        open=col(data.open),
        high=col(data.high),
        low=col(data.low),
        entries=col(entries),
        exits=col(exits),
        direction="longonly",
        size=1.0,
        init_cash=1e9,
        fees=0.0,
        sl_stop=W1_PARAMS.sl_pct,  # placeholder fraction; the callback sets the level
        sl_trail=True,
        tp_stop=tp_stop,
        stop_exit_price="stoplimit",  # fill at the stop level, or the open if gapped through
        adjust_sl_func_nb=_adjust_sl_nb,
        adjust_sl_args=(
            data.high,
            data.close,
            data.atr14,
            W1_PARAMS.sl_pct,
            W1_PARAMS.be_pct,
            mults,
            level,
        ),
        freq="1min",
    )


def _trades_from_orders(records, col: int = 0) -> list[Trade]:
    rec = records[records["col"] == col]
    idx = rec["idx"].tolist()
    price = rec["price"].tolist()
    side = rec["side"].tolist()  # 0 buy, 1 sell
    trades: list[Trade] = []
    for k in range(0, len(idx) - 1, 2):
        if side[k] != 0 or side[k + 1] != 1:
            raise RuntimeError(
                f"vectorbt orders out of order at record {k}: sides {side[k : k + 2]}"
            )
        trades.append(Trade(idx[k], idx[k + 1], price[k], price[k + 1], ""))
    return trades


def run(data, params: W1Params = W1_PARAMS) -> list[Trade]:
    """W1 trades from vectorbt (one column)."""
    if (params.sl_pct, params.be_pct) != (W1_PARAMS.sl_pct, W1_PARAMS.be_pct):
        raise ValueError("this adapter fixes SL and BE at W1's values; vary MULT and RR only")
    entries, exits = _signals(data, params)
    pf = _portfolio(data, entries, exits, params.rr * params.sl_pct, np.array([params.mult]), 1)
    return _trades_from_orders(pf.orders.values)


def sweep(data, grid: list[W1Params]) -> list[list[Trade]]:
    """All combinations in one call: one column per (MULT, RR)."""
    entries, exits = _signals(data, W1_PARAMS)
    tp = np.array([[p.rr * p.sl_pct for p in grid]])
    mults = np.array([p.mult for p in grid])
    pf = _portfolio(data, entries, exits, tp, mults, len(grid))
    records = pf.orders.values
    return [_trades_from_orders(records, k) for k in range(len(grid))]
