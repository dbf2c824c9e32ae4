"""W1 on backtesting.py (``Backtest`` + ``Strategy``, ``trade_on_close=True``).

How W1 maps onto backtesting.py's bar loop, which per bar first fills orders against the bar
(``_Broker._process_orders``: SL orders sit at the head of the queue, TP orders behind) and then
calls ``Strategy.next()`` with that bar's close:

- Entry at the close: ``buy(size=1, sl=…, tp=…)`` in ``next()``; with ``trade_on_close`` the
  market order fills at this bar's close and is booked on this bar. Its SL/TP orders are then
  checked against the next bar (the stop "as it stood after the previous bar").
- Stop: a contingent stop-market order; a gap through it fills at the open, so the fill is
  ``min(open, stop)``. Target: a contingent limit order, filled at ``max(open, target)``.
- Stop wins: SL orders are processed before TP orders within a bar.
- Break-even and ATR trail: ``next()`` raises ``trade.sl`` after the bar's fills, from the bar's
  high and close and ``ATR14[i]``; never lowers it.
- EOD: ``next()`` cancels SL/TP and closes the trade; with ``trade_on_close`` the close order
  fills at this bar's close and is booked on this bar. (SL/TP are cancelled first so that the
  next bar's SL cannot fill ahead of the pending close.)
- No re-entry on an exit bar: ``next()`` skips the entry when the last closed trade exited on
  this bar.

No rule is substituted; trades should equal the reference. The timed run includes
``Backtest.run``'s statistics, which are part of that call.
"""

from __future__ import annotations

import warnings

import numpy as np
from w1_reference import W1_PARAMS, Trade, W1Params


def _strategy_class(params: W1Params):
    from backtesting import Strategy

    sl_pct, be_pct, mult, eod = params.sl_pct, params.be_pct, params.mult, params.eod_min

    class W1Strategy(Strategy):
        def init(self) -> None:
            frame = self.data.df
            self.atr = frame["ATR"].to_numpy()
            self.minute = frame["Minute"].to_numpy().astype(np.int64).tolist()
            self.entry = frame["Entry"].to_numpy().astype(bool).tolist()
            self.atr_list = self.atr.tolist()
            self.be_level = 0.0

        def next(self) -> None:
            i = len(self.data) - 1
            trades = self.trades
            close = self.data.Close[-1]
            if trades:
                trade = trades[0]
                stop = trade.sl
                if self.data.High[-1] >= self.be_level and trade.entry_price > stop:
                    stop = trade.entry_price
                trail = close - mult * self.atr_list[i]
                if trail > stop:
                    stop = trail
                if stop != trade.sl:
                    trade.sl = stop
                if self.minute[i] >= eod:
                    trade.sl = None
                    trade.tp = None
                    trade.close()
                return
            if not self.entry[i] or self.minute[i] >= eod:
                return
            closed = self.closed_trades
            if closed and closed[-1].exit_bar == i:
                return
            entry = close
            self.be_level = entry * (1.0 + be_pct)
            self.buy(
                size=1,
                sl=max(entry * (1.0 - sl_pct), entry - mult * self.atr_list[i]),
                tp=params.target(entry),
            )

    return W1Strategy


def run(data, params: W1Params = W1_PARAMS) -> list[Trade]:
    """W1 trades from backtesting.py."""
    from backtesting import Backtest

    bt = Backtest(
        data.df,
        _strategy_class(params),
        cash=1e9,
        commission=0.0,
        trade_on_close=True,
        exclusive_orders=False,
        hedging=False,
        finalize_trades=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    tr = stats["_trades"]
    return [
        Trade(int(a), int(b), float(p), float(q), "")
        for a, b, p, q in zip(
            tr["EntryBar"].tolist(),
            tr["ExitBar"].tolist(),
            tr["EntryPrice"].tolist(),
            tr["ExitPrice"].tolist(),
            strict=True,
        )
    ]
