"""Paper sessions run the backtest's engine: a call with no bid on an expiry afternoon is
settled, not carried, and the paper broker's positions agree with the journal afterwards (a
resume raises no reconciliation flag)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from dyntrail.core.config_load import load_config
from dyntrail.execution.paper import FaultProfile
from dyntrail.journal import read_journal
from dyntrail.runners.paper import run_paper
from expiry_cases import LATE, LATE_ENTRY_TOML, drop_after, flat, rising, write_market

WED, THU, FRI = dt.date(2025, 1, 8), dt.date(2025, 1, 9), dt.date(2025, 1, 10)


def test_paper_settles_at_expiry_and_reconciles_on_resume(tmp_path: Path) -> None:
    data = write_market(
        tmp_path / "d", [(WED, rising()), (THU, drop_after(23400, LATE, 210)), (FRI, flat(23200))]
    )
    path = tmp_path / "cfg.toml"
    path.write_text(LATE_ENTRY_TOML, encoding="utf-8")
    cfg = load_config(path)
    run = tmp_path / "pp"
    first = run_paper(cfg, run, data_dir=data, faults=FaultProfile.none(), settle=dt.timedelta(0))
    trades = pd.read_csv(run / "trades.csv", keep_default_na=False)
    settled = trades[trades["exit_reason"] == "exit_settled"]
    assert len(settled) == 1 and settled.iloc[0]["flags"] == "flatten_failed;settled"
    assert first.flags == ()
    again = run_paper(cfg, run, resume=True, settle=dt.timedelta(0))
    assert again.flags == ()  # the paper broker knows the exchange settled the contract
    events = read_journal(run / "journal.jsonl").events
    assert [e["flags"] for e in events if e["kind"] == "reconciled"][-1] == []
