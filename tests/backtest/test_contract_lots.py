"""End to end: the engine sizes an entry with the lot of the contract it trades (NSE keeps an
already listed contract's lot through a revision), not with the lot of the trade date."""

from __future__ import annotations

import pandas as pd

from dyntrail.runners.backtest import BacktestResult


def test_january_2025_monthly_keeps_its_25_lot(run_2m: BacktestResult) -> None:
    # Two lots a trade (the default). NIFTY weeklies from 2025-01-02 carry 75; the monthly of
    # 2025-01-30 was listed before 2024-11-20 and kept 25; the February monthly carries 75.
    trades = pd.read_csv(run_2m.run_dir / "trades.csv")
    qty = trades.groupby("expiry")["qty"].agg(["min", "max"])
    assert tuple(qty.loc["2025-01-30"]) == (50, 50)
    for later in ("2025-01-23", "2025-02-27"):  # a weekly, and the February monthly
        assert tuple(qty.loc[later]) == (150, 150)


def test_trades_name_contracts_by_their_exchange_symbols(run_2m: BacktestResult) -> None:
    """Monthlies as NIFTY25JAN<strike>CE, weeklies as NIFTY25123<strike>CE (Kite's forms)."""
    trades = pd.read_csv(run_2m.run_dir / "trades.csv")
    for _, t in trades.iterrows():
        strike, right = int(t["strike"]), t["right"]
        if t["expiry"] in ("2025-01-30", "2025-02-27"):  # the monthlies
            month = {"2025-01-30": "JAN", "2025-02-27": "FEB"}[t["expiry"]]
            assert t["instrument"] == f"NIFTY25{month}{strike}{right}"
        else:
            y, m, d = t["expiry"].split("-")
            assert t["instrument"] == f"NIFTY{y[2:]}{int(m)}{d}{strike}{right}"
