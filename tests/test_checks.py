"""The run's own checks fail when they should (hand-made trades and fills)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from dyntrail.analytics.checks import run_checks

ARGS = {"flatten": dt.time(15, 15), "session_close": dt.time(15, 30), "bar_minutes": 1,
        "tz": "Asia/Kolkata"}  # fmt: skip


def _trade(tid: int, entry: str, exit_: str, expiry: str, flags: str, pnl: float) -> dict:
    return {"trade_id": tid, "entry_ts": entry, "exit_ts": exit_, "expiry": expiry,
            "flags": flags, "pnl_net": pnl}  # fmt: skip


def _fill(tid: int, side: str, price: float, qty: int, costs: float) -> dict:
    return {"trade_id": tid, "action": "x", "side": side, "price": price, "qty": qty,
            "costs": costs, "tag": "T"}  # fmt: skip


def test_each_check_fails_on_what_it_guards() -> None:
    trades = pd.DataFrame(
        [
            _trade(
                1, "2025-01-08T14:51:00+05:30", "2025-01-08T15:15:00+05:30", "2025-01-09", "", 9.0
            ),
            # exits the next day without a flag: not flat at flatten
            _trade(
                2, "2025-01-08T14:00:00+05:30", "2025-01-09T09:16:00+05:30", "2025-01-16", "", 0.0
            ),
            # flagged: the documented exception, but past its expiry's close
            _trade(
                3,
                "2025-01-09T14:00:00+05:30",
                "2025-01-10T09:16:00+05:30",
                "2025-01-09",
                "flatten_failed;carried",
                0.0,
            ),
        ]
    )
    fills = pd.DataFrame(
        [
            _fill(1, "buy", 10.0, 1, 0.5), _fill(1, "sell", 20.0, 1, 0.5),  # pnl 9.0: reconciles
            _fill(2, "buy", 10.0, 1, 0.0), _fill(2, "sell", 11.0, 1, 0.0),  # pnl 1.0, says 0.0
            _fill(3, "buy", 10.0, 1, 0.0), _fill(3, "sell", 10.0, 1, 0.0),
            _fill(4, "buy", 10.0, 1, 0.0),  # trade 4 never closed
        ]
    )  # fmt: skip
    c = run_checks(trades, fills, **ARGS)
    assert c["flat_at_flatten"]["failures"] == [2]
    assert c["flat_at_flatten"]["exceptions"] == [3]
    assert c["within_expiry"]["failures"] == [3]
    assert c["pnl_reconciles"]["failures"] == ["trade 2: legs 1.00, trades.csv 0.00"]
    assert c["flat_at_end"]["failures"] == [4]
    assert not any(v["ok"] for v in c.values())
