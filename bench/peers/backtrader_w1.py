"""W1 on backtrader (``Cerebro`` + ``Strategy``, broker with cheat-on-close).

How W1 maps onto backtrader, whose broker fills pending orders against a bar (in queue order)
before the strategy's ``next()`` sees that bar:

- Entry at the close: a market buy in ``next()``; with ``broker.set_coc(True)`` it fills at the
  close of the bar it was issued on. The entry bar is that bar.
- Stop: a sell ``Stop`` order, which fills at the open when the bar gaps through it, else at
  the stop: ``min(open, stop)``. Target: a sell ``Limit`` order, ``max(open, target)``.
  The two are one OCO group: when one fills the other is cancelled.
- Stop wins: the broker tries pending orders in queue order, and the stop is always queued
  before the target (whenever the stop moves, both are cancelled and re-issued, stop first).
- Break-even and ATR trail: ``next()`` computes the new stop from the bar's high and close and
  ``ATR14[i]`` after the bar's fills; the new orders are checked from the next bar on.
- EOD: ``next()`` cancels stop and target and issues a market sell, filled (cheat-on-close) at
  this bar's close; the exit bar is this bar.
- No re-entry on an exit bar: a stop or target fill is notified before ``next()`` of that bar,
  which then skips the entry.

``checksubmit`` is off (there is no cash limit to check: cash is 1e9 for one unit), so orders go
straight to the broker's queue in the order they are issued. No rule is substituted.
"""

from __future__ import annotations

from w1_reference import W1_PARAMS, Trade, W1Params


def _feed_class():
    import backtrader as bt

    class W1Feed(bt.feeds.PandasData):
        lines = ("atr", "entry", "minute", "bar")
        params = (
            ("datetime", None),
            ("open", "Open"),
            ("high", "High"),
            ("low", "Low"),
            ("close", "Close"),
            ("volume", "Volume"),
            ("openinterest", None),
            ("atr", "ATR"),
            ("entry", "Entry"),
            ("minute", "Minute"),
            ("bar", "Bar"),
        )

    return W1Feed


def _strategy_class(params: W1Params):
    import backtrader as bt

    sl_pct, be_pct, mult, eod = params.sl_pct, params.be_pct, params.mult, params.eod_min

    class W1Strategy(bt.Strategy):
        def __init__(self) -> None:
            self.w1_trades: list[Trade] = []
            self.in_pos = False
            self.pending_entry = False
            self.exit_bar = -1
            self.entry_bar = 0
            self.entry_price = self.stop_pts = self.target_pts = self.be_level = 0.0
            self.stop_order = self.target_order = None
            self.exit_refs: dict[int, str] = {}
            self.eod_bar = -1

        def _place_exits(self) -> None:
            self.stop_order = self.sell(exectype=bt.Order.Stop, price=self.stop_pts, size=1)
            self.target_order = self.sell(
                exectype=bt.Order.Limit, price=self.target_pts, size=1, oco=self.stop_order
            )
            self.exit_refs = {self.stop_order.ref: "stop", self.target_order.ref: "target"}

        def _cancel_exits(self) -> None:
            # Cancelling one order of the OCO group cancels the other.
            if self.stop_order is not None:
                self.cancel(self.stop_order)
            self.stop_order = self.target_order = None
            self.exit_refs = {}

        def notify_order(self, order) -> None:
            if order.status != order.Completed:
                return
            if order.isbuy():
                self.entry_price = order.executed.price
                self.in_pos = True
                self.pending_entry = False
                return
            bar = int(self.data.bar[0])
            # Notifications carry clones of the orders: match them by reference number.
            if order.ref in self.exit_refs:
                reason = self.exit_refs[order.ref]
                self.exit_bar = bar
                self.stop_order = self.target_order = None
            else:  # the EOD market sell, filled at its own bar's close
                reason = "eod"
                bar = self.eod_bar
            self.w1_trades.append(
                Trade(self.entry_bar, bar, self.entry_price, order.executed.price, reason)
            )
            self.in_pos = False

        def next(self) -> None:
            data = self.data
            i = int(data.bar[0])
            minute = data.minute[0]
            if self.in_pos and self.stop_order is not None:
                close = data.close[0]
                stop = self.stop_pts
                if data.high[0] >= self.be_level and self.entry_price > stop:
                    stop = self.entry_price
                trail = close - mult * data.atr[0]
                if trail > stop:
                    stop = trail
                if minute >= eod:
                    self._cancel_exits()
                    self.eod_bar = i
                    self.sell(size=1)
                    return
                if stop != self.stop_pts:
                    self.stop_pts = stop
                    self._cancel_exits()
                    self._place_exits()
                return
            if self.in_pos or self.pending_entry or self.exit_bar == i:
                return
            if data.entry[0] <= 0.0 or minute >= eod:
                return
            entry = data.close[0]
            self.entry_bar = i
            self.stop_pts = max(entry * (1.0 - sl_pct), entry - mult * data.atr[0])
            self.target_pts = params.target(entry)
            self.be_level = entry * (1.0 + be_pct)
            self.pending_entry = True
            self.buy(size=1)
            self._place_exits()

    return W1Strategy


def run(data, params: W1Params = W1_PARAMS) -> list[Trade]:
    """W1 trades from backtrader."""
    import backtrader as bt

    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=False)
    cerebro.adddata(_feed_class()(dataname=data.df))
    cerebro.addstrategy(_strategy_class(params))
    cerebro.broker.setcash(1e9)
    cerebro.broker.set_coc(True)
    cerebro.broker.set_checksubmit(False)
    (strategy,) = cerebro.run()
    return strategy.w1_trades
