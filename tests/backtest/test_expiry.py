"""Expiry day and unfillable exits, on generated days that reach them (``expiry_cases``).

NIFTY weeklies expire on Thursday in January 2025: 2025-01-09 is an expiry day, 2025-01-08 and
2025-01-10 are not.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from dyntrail.core.config_load import load_config
from dyntrail.journal import read_journal
from dyntrail.runners.backtest import run_backtest
from expiry_cases import (
    LATE,
    LATE_ENTRY_TOML,
    drop_after,
    flat,
    jump_after,
    rising,
    write_market,
    write_options,
)

WED, THU, FRI = dt.date(2025, 1, 8), dt.date(2025, 1, 9), dt.date(2025, 1, 10)
NEXT_THU = dt.date(2025, 1, 16)
NO_SHRINK = "\n[strategy.time_left]\nenabled = false\n\n[strategy.momentum]\nenabled = false\n"


def _cfg(tmp_path: Path, extra: str = ""):  # type: ignore[no-untyped-def]
    path = tmp_path / "cfg.toml"
    path.write_text(LATE_ENTRY_TOML + extra, encoding="utf-8")
    return load_config(path)


def _run(tmp_path: Path, data: Path, extra: str = ""):  # type: ignore[no-untyped-def]
    res = run_backtest(_cfg(tmp_path, extra), data, tmp_path / "run", report=False)
    trades = pd.read_csv(res.run_dir / "trades.csv", keep_default_na=False)
    fills = pd.read_csv(res.run_dir / "fills.csv", keep_default_na=False)
    events = read_journal(res.run_dir / "journal.jsonl").events
    return res, trades, fills, events


def _kinds(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["kind"] == kind]


def test_expiry_afternoon_without_a_bid_settles_at_expiry_instead_of_crashing(
    tmp_path: Path,
) -> None:
    """The report's case: a call bought at 14:51 on expiry Thursday, the index falls, the call
    has no bid at 15:15. It is not carried past its expiry: the exchange settles it (out of the
    money: at 0) and the run ends normally with every check holding."""
    data = write_market(
        tmp_path / "d", [(WED, rising()), (THU, drop_after(23400, LATE, 210)), (FRI, flat(23200))]
    )
    res, trades, fills, events = _run(tmp_path, data)
    t = trades[trades["entry_ts"].str.startswith(THU.isoformat())].iloc[0]
    assert t["exit_reason"] == "exit_settled"
    assert t["flags"] == "flatten_failed;settled"
    assert t["exit_ts"] == "2025-01-09T15:30:00+05:30"
    legs = fills[fills["trade_id"] == t["trade_id"]]
    settle = legs[legs["action"] == "exit_settled"].iloc[0]
    assert float(settle["price"]) == 0.0 and float(settle["costs"]) == 0.0
    assert settle["tag"] == "" and settle["slippage_pct"] == ""
    assert _kinds(events, "flatten_failed")[0]["reason"] == "no_bid"
    assert _kinds(events, "exit_waiting")  # journaled, no order sent into no bid
    sells = [e for e in _kinds(events, "order") if e["side"] == "sell"]
    assert sells and all(e["bid"] > 0 for e in sells)  # no order sent into no bid
    kpis = json.loads((res.run_dir / "kpis.json").read_text())
    assert all(c["ok"] for c in kpis["checks"].values()), kpis["checks"]
    assert kpis["checks"]["flat_at_flatten"]["exceptions"] == [int(t["trade_id"])]
    assert any("flatten failed for 1 trade" in w for w in kpis["warnings"])
    # nothing after the settlement trades that contract
    assert not [
        e
        for e in _kinds(events, "order")
        if e["ts"] > "2025-01-09T15:30" and e["instrument"] == t["instrument"]
    ]


def test_in_the_money_option_held_to_expiry_settles_at_intrinsic_with_exercise_stt(
    tmp_path: Path,
) -> None:
    """Recorded quotes of the bought call stop at 15:00 on expiry day (the index has risen):
    the flatten exit has no quote, and the call settles at its intrinsic value against the
    index's close, with STT on that intrinsic value."""
    data = write_market(
        tmp_path / "d", [(WED, rising()), (THU, jump_after(23400, LATE, 80)), (FRI, flat(23600))]
    )

    def keep(ts, expiry, strike, right, spot, t_years):  # type: ignore[no-untyped-def]
        if expiry == THU and ts.date() == THU and ts.time() >= dt.time(15, 0):
            return None
        return _model_ba(spot, strike, right, t_years)

    write_options(data, [THU, NEXT_THU], hook=keep)
    # full-size targets (no time-left shrink): the call stays open, in the money, below T1
    res, trades, fills, events = _run(tmp_path, data, NO_SHRINK)
    t = trades[trades["entry_ts"].str.startswith(THU.isoformat())].iloc[0]
    assert t["exit_reason"] == "exit_settled"
    settle = _kinds(events, "settlement")[0]
    close_thu = pd.read_csv(data / "underlying.csv")["close"].iloc[2 * 375 - 1]
    intrinsic = round(close_thu - float(t["strike"]), 2)
    assert intrinsic > 0 and settle["intrinsic"] == intrinsic
    leg = fills[(fills["trade_id"] == t["trade_id"]) & (fills["action"] == "exit_settled")].iloc[0]
    value = intrinsic * int(t["qty"])
    assert float(leg["price"]) == intrinsic
    assert float(leg["cost_stt"]) == pytest.approx(round(value * 0.00125, 2))
    assert float(leg["costs"]) == float(leg["cost_stt"])
    assert _kinds(events, "flatten_failed")[0]["reason"] == "no_quote"
    kpis = json.loads((res.run_dir / "kpis.json").read_text())
    assert all(c["ok"] for c in kpis["checks"].values()), kpis["checks"]


def _model_ba(spot: float, strike: float, right: str, t_years: float) -> tuple[float, float]:
    from dyntrail.core.options import OptionRight
    from dyntrail.data.options_synth import SyntheticQuotes

    q = SyntheticQuotes().quote(spot, strike, OptionRight(right), t_years, 14.0)
    return q.bid, q.ask


def test_no_bid_at_flatten_on_a_normal_day_is_carried_and_exits_at_the_next_open(
    tmp_path: Path,
) -> None:
    """Wednesday's call has no bid from 15:05 to the close (recorded): the flatten exit waits,
    the position is carried, flagged, and sold at Thursday's open when the bid is back."""
    data = write_market(tmp_path / "d", [(WED, rising()), (THU, flat(23500)), (FRI, flat(23500))])

    def no_bid_late(ts, expiry, strike, right, spot, t_years):  # type: ignore[no-untyped-def]
        bid, ask = _model_ba(spot, strike, right, t_years)
        if ts.date() == WED and ts.time() >= dt.time(15, 5):
            return 0.0, ask
        return bid, ask

    write_options(data, [THU, NEXT_THU], hook=no_bid_late)
    res, trades, _fills, events = _run(tmp_path, data)
    t = trades.iloc[0]
    assert t["entry_ts"].startswith("2025-01-08T14:51")
    assert t["exit_reason"] == "exit_carried"
    assert t["flags"] == "flatten_failed;carried"
    assert t["exit_ts"].startswith("2025-01-09T09:1")  # the next session's first bar
    assert _kinds(events, "position_carried")
    kpis = json.loads((res.run_dir / "kpis.json").read_text())
    assert all(c["ok"] for c in kpis["checks"].values()), kpis["checks"]


def test_recorded_quotes_that_stop_while_a_position_is_open_do_not_crash(tmp_path: Path) -> None:
    """The recording of every contract ends at 15:00 on Wednesday and starts again on Friday:
    the exit waits (no quote), the position is carried, and sold when quotes return."""
    data = write_market(tmp_path / "d", [(WED, rising()), (THU, flat(23500)), (FRI, flat(23500))])

    def gap(ts, expiry, strike, right, spot, t_years):  # type: ignore[no-untyped-def]
        if (ts.date() == WED and ts.time() >= dt.time(15, 0)) or ts.date() == THU:
            return None
        return _model_ba(spot, strike, right, t_years)

    write_options(data, [THU, NEXT_THU], hook=gap)
    res, trades, _, _events = _run(tmp_path, data)
    first = trades.iloc[0]
    # Wednesday's call expires Thursday, whose quotes are missing all day: settled at Thursday's
    # close, never carried past it
    assert first["exit_reason"] == "exit_settled"
    assert first["flags"] == "flatten_failed;carried;flatten_failed;settled"
    kpis = json.loads((res.run_dir / "kpis.json").read_text())
    assert all(c["ok"] for c in kpis["checks"].values()), kpis["checks"]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("min_minutes_to_expiry = 60\n", "near_expiry"),
        ("min_premium_inr = 50.0\n", "premium_below_min"),
    ],
)
def test_entry_guards_refuse_lottery_tickets(tmp_path: Path, extra: str, reason: str) -> None:
    """At 14:51 on expiry day an ATM weekly has 39 minutes left and costs a few rupees: each
    guard alone refuses it (the config's later key wins over LATE_ENTRY_TOML's 0)."""
    data = write_market(tmp_path / "d", [(THU, rising())])
    toml = LATE_ENTRY_TOML.replace(
        "min_premium_inr = 0.0\n" if "premium" in extra else "min_minutes_to_expiry = 0\n", extra
    )
    path = tmp_path / "g.toml"
    path.write_text(toml, encoding="utf-8")
    res = run_backtest(load_config(path), data, tmp_path / "run", report=False)
    events = read_journal(res.run_dir / "journal.jsonl").events
    assert res.trades == 0
    assert [e["reason"] for e in _kinds(events, "entry_skipped")] == [reason]


def test_default_guards_keep_the_late_expiry_entry_out(tmp_path: Path) -> None:
    """With the documented defaults (60 minutes, Rs 10) the report's 14:51 expiry-day entry is
    never made."""
    data = write_market(tmp_path / "d", [(THU, rising())])
    path = tmp_path / "d.toml"
    path.write_text(LATE_ENTRY_TOML.split("[options]")[0], encoding="utf-8")
    res = run_backtest(load_config(path), data, tmp_path / "run", report=False)
    assert res.trades == 0


@pytest.mark.parametrize(("base_rr", "trail"), [(1.2, 1.5), (1.2, 3.5), (2.0, 1.5), (2.0, 3.5)])
def test_a_sweep_of_targets_and_trails_runs_through_every_expiry(
    data_2m: Path, tmp_path: Path, base_rr: float, trail: float
) -> None:
    """The sweep that used to crash on an unfillable expiry-day exit: every parameter set
    finishes, and the run's own checks hold."""
    path = tmp_path / "sweep.toml"
    path.write_text(
        f"[strategy.targets]\nbase_rr = {base_rr}\n[strategy.atr]\nmultiplier_trail = {trail}\n"
        "[options]\nmin_premium_inr = 0.0\nmin_minutes_to_expiry = 0\n",
        encoding="utf-8",
    )
    res = run_backtest(load_config(path), data_2m, tmp_path / "run", report=False)
    assert res.trades > 50
    assert all(c["ok"] for c in res.kpis["checks"].values()), res.kpis["checks"]


def test_the_equity_curve_starts_at_the_first_session_with_the_capital(run_2m) -> None:  # type: ignore[no-untyped-def]
    eq = pd.read_csv(run_2m.run_dir / "equity.csv")
    first = eq.iloc[0]
    assert first["timestamp"] == f"{run_2m.kpis['data_start']}T09:15:00+05:30"
    assert (first["equity"], first["realized"], first["drawdown_pct"]) == (1_000_000.0, 0.0, 0.0)


def test_the_report_shows_the_flatten_failure_and_the_run_checks(tmp_path: Path) -> None:
    data = write_market(
        tmp_path / "d", [(WED, rising()), (THU, drop_after(23400, LATE, 210)), (FRI, flat(23200))]
    )
    res = run_backtest(_cfg(tmp_path), data, tmp_path / "run", report=True)
    page = (res.run_dir / "report.html").read_text(encoding="utf-8")
    assert "flatten failed for 1 trade(s)" in page
    assert "<h2>Run checks</h2>" in page and "PnL reconciles to the paisa" in page
