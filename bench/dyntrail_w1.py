"""W1 on dyntrail's real engine: the event loop, the position state machine, the paper broker
with no latency or faults, and the journal (written to a temporary file, as in a backtest).

W1's rules are dyntrail configuration, not code written for the benchmark:

- ``[strategy.bars] semantics = "next_bar"``: stop and target are checked against the stop that
  stood after the previous bar (open first, then the extreme: exit at min(open, stop) / max(open,
  target)); break-even and the ATR trail move the stop at the close with ATR14 of that bar;
- ``[strategy.trail] start = "entry"``, ``multiplier_trail = 2.5``;
- ``[strategy.risk] initial_stop_atr_mult = 2.5``: stop = max(entry(1 - SL), entry - 2.5 ATR);
- ``base_rr = 2.0`` and ``scale_out_ratio = 1.0``: one target at entry(1 + 2 SL), all out;
- ``flatten = "15:16:00"``: the bar that starts at 15:15 exits at its close (dyntrail stamps bars
  by their close); entries on W1's signal series (``Engine(signals=...)``) before flatten, not on
  a bar that exited (``reenter_same_bar = false``);
- the underlying is traded, one unit, no costs, no slippage, no order cushion; VIX is held at 15
  (tier NORMAL; the breaker never trips).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
from w1_reference import Trade

from dyntrail.core.config_load import parse_config
from dyntrail.core.features import BatchFeatures
from dyntrail.core.regime import BatchRegime
from dyntrail.engine import Engine
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.journal import Journal
from dyntrail.runners.backtest import ModelQuotes, resolve_instrument
from dyntrail.trade import Trade as DtTrade

W1_TOML = """
[strategy.risk]
sl_underlying_pct = 0.006
trail_to_be_underlying_pct = 0.004
time_stop_min = 100000
initial_stop_atr_mult = 2.5
[strategy.targets]
base_rr = 2.0
scale_out_ratio = 1.0
[strategy.atr]
period = 14
multiplier_trail = 2.5
[strategy.time]
entry_start = "09:15:00"
entry_end = "15:16:00"
flatten = "15:16:00"
[strategy.bars]
semantics = "next_bar"
[strategy.trail]
start = "entry"
[strategy.momentum]
enabled = false
[strategy.time_left]
enabled = false
[strategy.entries]
reenter_same_bar = false
max_trades_per_day = 1000
[instrument]
trade = "underlying"
underlying_slippage_ticks = 0
[instrument.spec]
lot_sizes = [{ from = 2000-01-01, lot_size = 1 }]
[account]
lots_per_trade = 1
[limits]
daily_loss_limit_pct = 0.99
[costs]
brokerage_per_order_inr = 0.0
stt_sell_pct = [{ from = 2000-01-01, pct = 0.0 }]
futures_stt_sell_pct = [{ from = 2000-01-01, pct = 0.0 }]
exchange_txn_pct = 0.0
futures_exchange_txn_pct = 0.0
sebi_per_crore_inr = 0.0
stamp_buy_pct = 0.0
futures_stamp_buy_pct = 0.0
gst_pct = 0.0
[options]
cushion_ticks = 0
"""
CFG = parse_config(W1_TOML, "W1")
_REASON = {"exit_stop": "stop", "exit_target1": "target", "exit_eod": "eod"}


def run(data, journal_dir: Path | None = None) -> list[Trade]:  # type: ignore[no-untyped-def]
    """W1's trades from dyntrail's engine (bar indices into ``data``)."""
    ts_list = data.ts.astype("datetime64[s]").astype(object).tolist()
    bar = dt.timedelta(minutes=1)
    close_iso = {t + bar: i for i, t in enumerate(ts_list)}
    sessions = data.day.astype(np.int64)
    features = BatchFeatures(
        CFG, sessions, data.high, data.low, data.close, data.volume, entry_gates=False
    )
    closed: list[DtTrade] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = (journal_dir or Path(tmp)) / "journal.jsonl"
        with Journal(path) as journal:
            engine = Engine(
                CFG,
                resolve_instrument(CFG),
                [],
                ModelQuotes(CFG),
                PaperBroker(FaultProfile.none(), 0),
                journal,
                features,
                1,
                closed.append,
                lambda row: None,
                lambda ts, eq, re, un: None,
                signals=data.entries.tolist(),
                regime=BatchRegime(
                    CFG,
                    data.ts.astype("datetime64[s]") + np.timedelta64(60, "s"),
                    np.full(len(ts_list), 15.0),
                ),
            )
            o, h, lo, c = (
                data.open.tolist(),
                data.high.tolist(),
                data.low.tolist(),
                data.close.tolist(),
            )
            vol = data.volume.tolist()
            for i, t in enumerate(ts_list):
                engine.on_bar(i, t, o[i], h[i], lo[i], c[i], vol[i], 15.0)
            engine.finish()
    out = []
    for tr in closed:
        entry_t = dt.datetime.fromisoformat(tr.entry_ts).replace(tzinfo=None)
        exit_t = dt.datetime.fromisoformat(tr.exit_ts).replace(tzinfo=None)
        exit_price = tr.exit_value / tr.exit_qty
        out.append(
            Trade(
                close_iso[entry_t],
                close_iso[exit_t],
                tr.entry_price,
                exit_price,
                _REASON.get(tr.exit_reason, tr.exit_reason),
            )
        )
    return out
