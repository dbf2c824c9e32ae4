"""Honesty: determinism, no lookahead, conservative bars, PnL reconciliation, rules obeyed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dyntrail.core.config import Config
from dyntrail.core.config_load import parse_config
from dyntrail.core.features import BatchFeatures, StreamingFeatures
from dyntrail.data.loaders import load_folder
from dyntrail.runners.backtest import BacktestResult, run_backtest

CFG = Config()


def test_two_runs_are_byte_identical(data_2m: Path, run_2m: BacktestResult, tmp_path: Path) -> None:
    again = run_backtest(CFG, data_2m, tmp_path / "again", report=False)
    for name in ("journal.jsonl", "trades.csv", "fills.csv", "equity.csv", "kpis.json"):
        assert (again.run_dir / name).read_bytes() == (run_2m.run_dir / name).read_bytes(), name
    assert run_2m.trades > 10


def test_no_lookahead_truncation(data_2m: Path, run_2m: BacktestResult, tmp_path: Path) -> None:
    full = pd.read_csv(run_2m.run_dir / "trades.csv")
    days = sorted({ts[:10] for ts in full["entry_ts"]})
    cut = dt.date.fromisoformat(days[len(days) // 2])
    part = run_backtest(CFG, data_2m, tmp_path / "part", date_to=cut, report=False)
    short = pd.read_csv(part.run_dir / "trades.csv")
    closed_before = full[full["exit_ts"].str[:10] < cut.isoformat()]
    assert len(closed_before) > 0
    pd.testing.assert_frame_equal(
        short.iloc[: len(closed_before)].reset_index(drop=True),
        closed_before.reset_index(drop=True),
    )


def test_pnl_reconciles_to_the_paisa(run_2m: BacktestResult) -> None:
    trades = pd.read_csv(run_2m.run_dir / "trades.csv")
    equity = pd.read_csv(run_2m.run_dir / "equity.csv")
    total = round(float(trades["pnl_net"].sum()), 2)
    assert round(float(equity["equity"].iloc[-1]) - CFG.account.capital_inr, 2) == total
    fills = pd.read_csv(run_2m.run_dir / "fills.csv")
    assert round(float(fills["costs"].sum()), 2) == round(float(trades["costs"].sum()), 2)
    for _, t in trades.iterrows():  # gross = sells - buys, over the trade's fills
        f = fills[fills["trade_id"] == t["trade_id"]]
        sign = np.where(f["side"] == "sell", 1.0, -1.0)
        assert round(float((sign * f["price"] * f["qty"]).sum()), 2) == t["pnl_gross"]
        assert int(f.loc[f["leg"] > 0, "qty"].sum()) == t["qty"]


def _stops(run_dir: Path) -> dict[int, float]:
    last: dict[int, float] = {}
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        ev = json.loads(line)
        if ev["kind"] == "stop_moved":
            last[ev["trade_id"]] = ev["level"]
    return last


def test_every_exit_obeys_its_rule(run_2m: BacktestResult) -> None:
    trades = pd.read_csv(run_2m.run_dir / "trades.csv")
    stops = _stops(run_2m.run_dir)
    flatten = CFG.strategy.time.flatten.isoformat()
    start, end = CFG.strategy.time.entry_start.isoformat(), CFG.strategy.time.entry_end.isoformat()
    for _, t in trades.iterrows():
        sign = 1 if t["side"] == "long" else -1
        x = t["exit_underlying"]
        if t["exit_reason"] == "exit_stop":  # at or beyond the stop that stood
            assert sign * (x - stops[t["trade_id"]]) <= 1e-6
        if t["exit_reason"] == "exit_target2":
            assert sign * (x - t["t2"]) >= -0.01
        assert t["exit_ts"][11:19] <= flatten  # flat by flatten
        assert start <= t["entry_ts"][11:19] < end  # entries only inside the window
        assert t["vix_tier"] != "halt"
        assert t["exit_reason"] != "scale_out_t1"


def test_adverse_extreme_first_at_engine_level(tmp_path: Path) -> None:
    """A bar that spans both the stop and T1 of an open long books the stop, never T1."""
    from dyntrail.data.builtin import write_folder
    from dyntrail.data.synthetic import generate, weekdays

    m = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 7)), seed=5)
    run = run_backtest(CFG, write_folder(m, tmp_path / "d"), tmp_path / "r", report=False)
    trades = pd.read_csv(run.run_dir / "trades.csv")
    if trades.empty:
        pytest.skip("no trade in this week")
    t = trades.iloc[0]
    i = int(np.flatnonzero(m.timestamps == np.datetime64(t["entry_ts"][:19]))[0]) + 1
    sign = 1 if t["side"] == "long" else -1
    hi, lo = (
        (t["t1"] + 5, t["stop_initial"] - 5) if sign > 0 else (t["stop_initial"] + 5, t["t1"] - 5)
    )
    m.high[i], m.low[i] = max(hi, m.open[i], m.close[i]), min(lo, m.open[i], m.close[i])
    run = run_backtest(CFG, write_folder(m, tmp_path / "d2"), tmp_path / "r2", report=False)
    first = pd.read_csv(run.run_dir / "trades.csv").iloc[0]
    assert first["exit_reason"] == "exit_stop"
    assert first["exit_underlying"] == pytest.approx(t["stop_initial"], abs=0.01)


def test_batch_features_equal_streaming(data_2m: Path) -> None:
    s = CFG.session
    b = load_folder(data_2m, s.timezone, s.open, s.close).bars
    sessions = b.timestamps.astype("datetime64[D]").astype(np.int64)
    batch = BatchFeatures(CFG, sessions, b.high, b.low, b.close, b.volume)
    stream = StreamingFeatures(CFG)
    vol = b.volume.tolist() if b.volume is not None else [None] * len(b.close)
    for i in range(len(b.close)):
        args = (i, int(sessions[i]), float(b.high[i]), float(b.low[i]), float(b.close[i]), vol[i])
        batch.advance(*args)
        stream.advance(*args)
        assert np.array_equal(
            np.array(batch.values(), dtype=float),
            np.array(stream.values(), dtype=float),
            equal_nan=True,
        ), i


def test_underlying_mode_trades_the_index(data_2m: Path, tmp_path: Path) -> None:
    cfg = parse_config('[instrument]\ntrade = "underlying"\n')
    run = run_backtest(cfg, data_2m, tmp_path / "u", report=False)
    trades = pd.read_csv(run.run_dir / "trades.csv")
    assert len(trades) > 0 and set(trades["instrument"]) == {"NIFTY"}
    assert trades["right"].isna().all()
    short = trades[trades["side"] == "short"].iloc[0]
    gross = (short["entry_price"] - short["exit_price"]) * short["qty"]
    assert short["pnl_gross"] == pytest.approx(gross, abs=0.01)
