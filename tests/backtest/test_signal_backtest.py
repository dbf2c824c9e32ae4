"""Backtests driven by an external entry signal (as in the W1 benchmark): the fast path that
skips quiet flat bars changes nothing, and the next_bar rules hold on real runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from dyntrail.core.config_load import load_config
from dyntrail.data.synthetic import generate, weekdays
from dyntrail.runners.backtest import run_signal_backtest

CFG = load_config(Path(__file__).resolve().parents[2] / "examples" / "w1.toml")


def _run(tmp: Path, name: str, fast: bool):  # type: ignore[no-untyped-def]
    m = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 14)), seed=8, n_spikes=3)
    signals = (np.random.default_rng(3).random(m.close.size) < 0.01).tolist()
    path = tmp / f"{name}.jsonl"
    trades = run_signal_backtest(
        CFG, m.timestamps, m.open, m.high, m.low, m.close, m.volume, m.vix, signals, path, fast=fast
    )
    return trades, path.read_bytes(), m


def test_fast_path_changes_no_trade_and_no_journal_byte(tmp_path: Path) -> None:
    slow, slow_journal, _ = _run(tmp_path, "slow", fast=False)
    fast, fast_journal, _ = _run(tmp_path, "fast", fast=True)
    assert len(slow) > 10
    assert [t.row() for t in fast] == [t.row() for t in slow]
    assert fast_journal == slow_journal


def test_next_bar_exits_obey_w1_rules(tmp_path: Path) -> None:
    trades, _, m = _run(tmp_path, "rules", fast=True)
    starts = m.timestamps.astype("datetime64[s]")
    for t in trades:
        row = t.row()
        exit_close = np.datetime64(row["exit_ts"][:19])
        i = int(np.flatnonzero(starts + np.timedelta64(60, "s") == exit_close)[0])
        price = row["exit_price"]
        if row["exit_reason"] == "exit_stop":  # min(open, stop): never above the bar's open
            assert price <= m.open[i] + 1e-9 and price >= m.low[i] - 1e-9
        elif row["exit_reason"] == "exit_target1":  # max(open, target): never below the target
            assert price >= row["t1"] - 0.01 and price <= m.high[i] + 1e-9
        else:
            assert row["exit_reason"] in ("exit_eod", "exit_breaker")  # at the close
            assert price == m.close[i]
