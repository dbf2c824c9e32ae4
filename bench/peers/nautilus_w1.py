"""W1 on nautilus_trader (``BacktestEngine`` over 1-minute bars), run in its own interpreter.

nautilus_trader pins its own numpy/pandas, so it lives in a separate venv (``.venv-nautilus``
at the repository's root by default, or ``$W1_NAUTILUS_PYTHON``). The harness calls
:func:`measure` / :func:`run`, which write the dataset to a ``.npz`` file and start this file
as a script in that interpreter; the script times the runs itself (imports and the ``.npz``
read excluded) and prints JSON.

How W1 maps onto nautilus_trader: the simulated exchange turns each bar into four trade prices,
open → high → low → close, and matches resting orders against each before the strategy's
``on_bar`` sees the bar. Commands are processed at once (``use_message_queue=False``).

- Entry at the close: a bracket (market buy + stop-market SL + limit TP, OUO) sent in
  ``on_bar``; the market buy fills at the bar's close (the last price).
- Stop: stop-market sell; triggered by the open it fills at the open, by the low at the trigger
  price: ``min(open, stop)``. Target: limit sell at ``max(open, target)``.
- Break-even and ATR trail: ``on_bar`` modifies the SL's trigger after the bar's matching.
- EOD: ``on_bar`` cancels SL/TP and sends a market sell, filled at the bar's close.

Substituted rules (the harness shows what they change; ``--edge`` exercises both):
- Stop wins: nautilus walks a bar's open, then one extreme, then the other, then the close.
  With ``bar_adaptive_high_low_ordering=True`` (used here) it takes the extreme nearer the open
  first, so on a bar that touches both the stop wins only when the low is nearer the open (with
  the fixed order open-high-low-close the target would always win).
- A stop raised to or above the bar's close (break-even after a bar that reached the BE level
  but closed at or below the entry) cannot rest at the venue (the modify is rejected as "in the
  market"), so ``on_bar`` exits at once with a market sell at this bar's close; W1 exits on the
  next bar at its open, the same price within a session, one bar later.
- Prices carry 9 decimals (instrument precision 9), so stop levels are rounded to 1e-9.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from w1_reference import W1_PARAMS, Trade, W1Params  # noqa: E402

PRICE_PRECISION = 9
DEFAULT_PYTHON = str(BENCH.parent / ".venv-nautilus" / "bin" / "python")


def python_path() -> str:
    return os.environ.get("W1_NAUTILUS_PYTHON", DEFAULT_PYTHON)


def available() -> bool:
    py = python_path()
    if not Path(py).exists():
        return False
    probe = subprocess.run([py, "-c", "import nautilus_trader"], capture_output=True)
    return probe.returncode == 0


# --------------------------------------------------------------------------- parent side

_NPZ_CACHE: dict[int, Path] = {}


def _npz_for(data) -> Path:
    key = id(data)
    if key not in _NPZ_CACHE:
        path = Path(tempfile.mkdtemp(prefix="w1_")) / "w1.npz"
        data.save_npz(path)
        _NPZ_CACHE[key] = path
    return _NPZ_CACHE[key]


def measure(data, runs: int) -> dict:
    """Start the child: one first run and ``runs`` warm runs. Returns its JSON report with
    ``trades``, ``first_s``, ``warm_s``, ``median_s``, ``tracemalloc_peak_mb``, ``peak_rss_mb``
    and ``rss_base_mb``."""
    cmd = [python_path(), __file__, "--npz", str(_npz_for(data)), "--runs", str(runs)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nautilus child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["trades"] = [Trade(*t) for t in report["trades"]]
    return report


def run(data, params: W1Params = W1_PARAMS) -> list[Trade]:
    if params != W1_PARAMS:
        raise ValueError("the nautilus child runs W1's default parameters only")
    return measure(data, 0)["trades"]


# --------------------------------------------------------------------------- child side


def _engine_and_strategy(data, params: W1Params):
    import pandas as pd
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, OrderType
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
    from nautilus_trader.model.instruments import Equity
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.persistence.wranglers import BarDataWrangler
    from nautilus_trader.trading.strategy import Strategy

    venue = Venue("SIM")
    instrument = Equity(
        instrument_id=InstrumentId(Symbol("W1"), venue),
        raw_symbol=Symbol("W1"),
        currency=USD,
        price_precision=PRICE_PRECISION,
        price_increment=Price(10.0**-PRICE_PRECISION, PRICE_PRECISION),
        lot_size=Quantity.from_int(1),
        ts_event=0,
        ts_init=0,
    )
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    frame = pd.DataFrame(
        {
            "open": data.open,
            "high": data.high,
            "low": data.low,
            "close": data.close,
            "volume": data.volume,
        },
        index=pd.DatetimeIndex(data.ts, tz="UTC"),
    )
    bars = BarDataWrangler(bar_type, instrument).process(frame)
    bar_of_ts = {int(t): i for i, t in enumerate(data.ts.astype("int64").tolist())}

    atr = data.atr14.tolist()
    high = data.high.tolist()
    closes = data.close.tolist()
    minute = data.minute.tolist()
    signal = data.entries.tolist()
    sl_pct, be_pct, mult, eod = params.sl_pct, params.be_pct, params.mult, params.eod_min
    qty = Quantity.from_int(1)

    def px(value: float) -> Price:
        return Price(value, PRICE_PRECISION)

    class W1Strategy(Strategy):
        def __init__(self) -> None:
            super().__init__()
            self.i = -1
            self.w1_trades: list[Trade] = []
            self.sl = self.tp = None
            self.entry_bar = -1
            self.exit_bar = -1
            self.entry = self.stop_pts = self.be_level = 0.0
            self.kind: dict[object, str] = {}

        def on_start(self) -> None:
            self.subscribe_bars(bar_type)

        def on_order_filled(self, event) -> None:
            kind = self.kind[event.client_order_id]
            bar = bar_of_ts[event.ts_event]
            price = event.last_px.as_double()
            if kind == "entry":
                self.entry, self.entry_bar = price, bar
                return
            self.w1_trades.append(Trade(self.entry_bar, bar, self.entry, price, kind))
            self.exit_bar = bar
            self.sl = self.tp = None

        def _exit_now(self, kind: str) -> None:
            self.cancel_order(self.sl)
            self.cancel_order(self.tp)
            self.sl = self.tp = None
            order = self.order_factory.market(instrument.id, OrderSide.SELL, qty)
            self.kind[order.client_order_id] = kind
            self.submit_order(order)

        def on_bar(self, bar) -> None:
            self.i += 1
            i = self.i
            close = closes[i]
            if self.sl is not None:
                stop = self.stop_pts
                if high[i] >= self.be_level and self.entry > stop:
                    stop = self.entry
                trail = close - mult * atr[i]
                if trail > stop:
                    stop = trail
                if minute[i] >= eod:
                    self._exit_now("eod")
                    return
                if stop >= close:
                    # A sell stop at or above the market cannot rest (the venue rejects the
                    # modify): exit now at the close, as a stop.
                    self._exit_now("stop")
                    return
                if stop != self.stop_pts:
                    self.stop_pts = stop
                    self.modify_order(self.sl, trigger_price=px(stop))
                return
            if not signal[i] or minute[i] >= eod or self.exit_bar == i:
                return
            self.stop_pts = max(close * (1.0 - sl_pct), close - mult * atr[i])
            self.be_level = close * (1.0 + be_pct)
            orders = self.order_factory.bracket(
                instrument.id,
                OrderSide.BUY,
                qty,
                entry_order_type=OrderType.MARKET,
                sl_trigger_price=px(self.stop_pts),
                tp_price=px(params.target(close)),
            )
            entry, sl, tp = orders.orders
            self.kind = {
                entry.client_order_id: "entry",
                sl.client_order_id: "stop",
                tp.client_order_id: "target",
            }
            self.sl, self.tp = sl, tp
            self.submit_order_list(orders)

    engine = BacktestEngine(
        config=BacktestEngineConfig(
            trader_id=TraderId("W1-001"),
            logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
        )
    )
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(1_000_000_000, USD)],
        default_leverage=None,
        use_message_queue=False,
        bar_execution=True,
        bar_adaptive_high_low_ordering=True,
    )
    engine.add_instrument(instrument)
    engine.add_data(bars)
    strategy = W1Strategy()
    engine.add_strategy(strategy)
    return engine, strategy


def _run_once(data, params: W1Params) -> list[Trade]:
    engine, strategy = _engine_and_strategy(data, params)
    engine.run()
    trades = list(strategy.w1_trades)
    engine.dispose()
    return trades


def _child(argv: list[str]) -> None:
    import argparse
    import gc
    import statistics
    import time
    import tracemalloc

    import w1_memory
    from w1_data import W1Data

    parser = argparse.ArgumentParser()
    parser.add_argument("--npz", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    data = W1Data.load_npz(args.npz)
    t0 = time.perf_counter()
    trades = _run_once(data, W1_PARAMS)
    first = time.perf_counter() - t0
    warm = []
    for _ in range(args.runs):
        gc.collect()
        t0 = time.perf_counter()
        _run_once(data, W1_PARAMS)
        warm.append(time.perf_counter() - t0)
    traced_mb = base_mb = peak_mb = None
    if args.runs:
        w1_memory.reset_peak()
        base_mb = w1_memory.rss_mb()
        _run_once(data, W1_PARAMS)
        peak_mb = w1_memory.peak_mb()
        tracemalloc.start()
        _run_once(data, W1_PARAMS)
        traced_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    report = {
        "trades": [list(t) for t in trades],
        "first_s": first,
        "warm_s": warm,
        "median_s": statistics.median(warm) if warm else None,
        "tracemalloc_peak_mb": traced_mb,
        "peak_rss_mb": peak_mb,
        "rss_base_mb": base_mb,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    _child(sys.argv[1:])
