"""trades.csv says which stop closed a trade and keeps the T1 leg visible."""

from __future__ import annotations

import pandas as pd

from dyntrail.journal import read_journal
from dyntrail.runners.backtest import BacktestResult


def test_stop_kind_exit_legs_and_t1_price_agree_with_the_fills(run_2m: BacktestResult) -> None:
    trades = pd.read_csv(run_2m.run_dir / "trades.csv", keep_default_na=False)
    fills = pd.read_csv(run_2m.run_dir / "fills.csv", keep_default_na=False)
    exits = fills[(fills["action"] != "entry") & (fills["action"] != "rejected")]
    stopped = trades[trades["exit_reason"] == "exit_stop"]
    assert set(stopped["stop_kind"]) == {"initial", "break_even", "trail"}  # all three occur
    assert (trades.loc[trades["exit_reason"] != "exit_stop", "stop_kind"] == "").all()
    for _, t in trades.iterrows():
        legs = exits[exits["trade_id"] == t["trade_id"]]
        assert int(t["exit_legs"]) == len(legs)
        t1 = legs[legs["action"] == "scale_out_t1"]
        if len(t1):
            price = (t1["price"] * t1["qty"]).sum() / t1["qty"].sum()
            assert float(t["t1_exit_price"]) == round(price, 4)
        else:
            assert t["t1_exit_price"] == ""
    # the journal's last stop move before each stop exit names the same kind
    last_kind: dict[int, str] = {}
    for ev in read_journal(run_2m.run_dir / "journal.jsonl").events:
        if ev["kind"] == "stop_moved":
            last_kind[ev["trade_id"]] = ev["reason"]
    for _, t in stopped.iterrows():
        assert last_kind[int(t["trade_id"])] == t["stop_kind"]
