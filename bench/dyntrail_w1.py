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
  (tier NORMAL; the breaker never trips);
- ATR14 comes with W1's data, as it does for every peer (W1 excludes indicator cost from the
  timings); ``w1_data.py --check`` shows it equals dyntrail's own ATR bit for bit.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
from w1_reference import Trade

from dyntrail.core.config_load import load_config
from dyntrail.runners.backtest import run_signal_backtest

W1_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "w1.toml"
CFG = load_config(W1_CONFIG)
_REASON = {"exit_stop": "stop", "exit_target1": "target", "exit_eod": "eod"}


def run(data, journal_dir: Path | None = None, fast: bool = True) -> list[Trade]:  # type: ignore[no-untyped-def]
    """W1's trades from dyntrail's engine (bar indices into ``data``)."""
    with tempfile.TemporaryDirectory() as tmp:
        closed = run_signal_backtest(
            CFG,
            data.ts,
            data.open,
            data.high,
            data.low,
            data.close,
            data.volume,
            np.full(data.n, 15.0),
            data.entries,
            (journal_dir or Path(tmp)) / "journal.jsonl",
            fast=fast,
            atr=data.atr14,  # W1 hands every engine its ATR14 (equal to dyntrail's, bit for bit)
        )
    # bar indices from the trades' close times (dyntrail stamps a bar by its close)
    closes = data.ts.astype("datetime64[s]") + np.timedelta64(60, "s")
    stamps = [(tr.entry_ts, tr.exit_ts) for tr in closed]
    naive = np.array(
        [dt.datetime.fromisoformat(x).replace(tzinfo=None) for pair in stamps for x in pair],
        dtype="datetime64[s]",
    )
    where = np.searchsorted(closes, naive)
    if not np.array_equal(closes[np.minimum(where, data.n - 1)], naive):
        raise AssertionError("a trade's time is not a bar's close")
    at = where.tolist()
    return [
        Trade(
            at[2 * k],
            at[2 * k + 1],
            tr.entry_price,
            tr.exit_value / tr.exit_qty,
            _REASON.get(tr.exit_reason, tr.exit_reason),
        )
        for k, tr in enumerate(closed)
    ]
