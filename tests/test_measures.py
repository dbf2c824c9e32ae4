"""The risk measures, streaks, breakdowns and heatmap of kpis.json on small frames with answers
worked out by hand in the comments; older trades.csv files; a whole backtest run."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

from dyntrail.analytics.kpis import compute_kpis
from dyntrail.analytics.summary import kpi_table
from dyntrail.core.config import Config
from dyntrail.data.builtin import synth_to_folder
from dyntrail.runners.backtest import BacktestResult, run_backtest
from dyntrail.runners.outputs import write_csv
from dyntrail.trade import TRADE_COLUMNS

CAP = 100_000.0
D = [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5)]  # Mon..Fri
NEW_KEYS = ("sortino", "calmar", "max_drawdown_close_pct", "max_drawdown_close_inr",
            "longest_drawdown_days", "time_to_recover_days", "max_win_streak", "max_loss_streak",
            "avg_r_win", "avg_r_loss", "by_entry_hour", "by_days_to_expiry", "by_stop_kind",
            "by_side_label", "monthly_heatmap")  # fmt: skip


def trades(rows: list[tuple[str, float]], **cols: list[Any]) -> pd.DataFrame:
    """One trade per (exit timestamp, pnl_net), entered an hour before it."""
    exits = [pd.Timestamp(ts) for ts, _ in rows]
    df = pd.DataFrame(
        {
            "trade_id": range(1, len(rows) + 1),
            "entry_ts": [(t - pd.Timedelta(hours=1)).isoformat() for t in exits],
            "exit_ts": [t.isoformat() for t in exits],
            "pnl_net": [p for _, p in rows],
            "pnl_gross": [p + 10.0 for _, p in rows],
            "costs": [10.0] * len(rows),
            "r_multiple": [p / 50.0 for _, p in rows],
        }
    )
    for k, v in cols.items():
        df[k] = v
    return df


def day_trades(rows: list[tuple[dt.date, float]], **cols: list[Any]) -> pd.DataFrame:
    return trades([(f"{d.isoformat()}T11:00:00+05:30", p) for d, p in rows], **cols)


def marks(rows: list[tuple[dt.date, str, float]]) -> pd.DataFrame:
    """equity.csv rows: (day, "HH:MM" IST, equity)."""
    ts = [f"{d.isoformat()}T{hm}:00+05:30" for d, hm, _ in rows]
    return pd.DataFrame({"timestamp": ts, "equity": [v for _, _, v in rows]})


def kpis_of(tr: pd.DataFrame, eq: pd.DataFrame | None = None, *, start: dt.date = D[0],
            end: dt.date = D[-1], days: list[dt.date] | int = D) -> dict[str, Any]:  # fmt: skip
    eq = marks([(start, "09:15", CAP)]) if eq is None else eq
    return compute_kpis(tr, pd.DataFrame(), eq, capital=CAP, data_start=start, data_end=end,
                        trading_days=days)  # fmt: skip


# daily r = [0.01, 0, -0.005, 0.02, 0] over Mon..Fri: mean 0.005
SHARPE_ROWS = [(D[0], 600.0), (D[0], 400.0), (D[2], -500.0), (D[3], 2000.0)]


def test_sortino_uses_the_downside_of_every_day() -> None:
    # DD = sqrt(0.005² / 5) = 0.005 / √5, so Sortino = √5 · √252
    k = kpis_of(day_trades(SHARPE_ROWS))
    assert k["sortino"] == pytest.approx(math.sqrt(5 * 252), rel=1e-12)
    assert kpis_of(day_trades([(D[0], 100.0)]))["sortino"] is None  # no losing day
    assert kpis_of(day_trades([(D[0], -100.0)]), days=[D[0]])["sortino"] is None  # one day


def test_calmar_is_the_annual_return_over_the_intraday_drawdown() -> None:
    path = [(D[0], "10:00", 101_000.0), (D[0], "11:00", 97_000.0), (D[0], "15:29", 101_000.0)]
    k = kpis_of(day_trades(SHARPE_ROWS), marks(path))
    assert k["max_drawdown_pct"] == 0.04 and k["max_drawdown_close_pct"] == 0.0
    assert k["calmar"] == pytest.approx(0.005 * 252 / 0.04)  # 31.5
    rising = marks([(D[0], "10:00", CAP), (D[1], "10:00", CAP + 1.0)])
    assert kpis_of(day_trades(SHARPE_ROWS), rising)["calmar"] is None  # no drawdown


# Intraday marks: peak 101,000 (Mon 10:00), trough 97,000 (Tue 10:00), back above on Wed; peak
# 102,000 (Wed), 98,000 on Thu (4,000 again: the first is the deepest), back on Fri.
# Closes 100,500 / 99,500 / 102,000 / 101,000 / 103,000: at worst 1,000 under their peak.
TWO_DIPS = [
    (D[0], "10:00", 101_000.0), (D[0], "15:29", 100_500.0),
    (D[1], "10:00", 97_000.0), (D[1], "15:29", 99_500.0),
    (D[2], "15:29", 102_000.0),
    (D[3], "10:00", 98_000.0), (D[3], "15:29", 101_000.0),
    (D[4], "15:29", 103_000.0),
]  # fmt: skip


def test_drawdown_intraday_and_close_to_close() -> None:
    k = kpis_of(day_trades([]), marks(TWO_DIPS))
    assert (k["max_drawdown_inr"], k["max_drawdown_pct"]) == (4000.0, 0.04)
    assert (k["max_drawdown_close_inr"], k["max_drawdown_close_pct"]) == (1000.0, 0.01)
    assert k["longest_drawdown_days"] == 2  # Mon -> Wed and Wed -> Fri
    assert k["time_to_recover_days"] == 1  # trough Tue -> recovered Wed
    # the close's running peak starts at capital too; file order does not matter
    shuffled = marks(TWO_DIPS).iloc[::-1]
    assert kpis_of(day_trades([]), shuffled)["max_drawdown_close_pct"] == 0.01
    first_close_below = marks([(D[0], "15:29", 99_000.0), (D[1], "15:29", 100_000.0)])
    assert kpis_of(day_trades([]), first_close_below)["max_drawdown_close_pct"] == 0.01


def test_drawdown_durations_unrecovered() -> None:
    jan = [dt.date(2024, 1, d) for d in range(1, 11)]
    # at capital Jan 1, 99,000 Jan 2, back Jan 3 (2 days); 97,000 Jan 5, still under on Jan 9
    open_deepest = [(jan[0], "10:00", CAP), (jan[1], "10:00", 99_000.0),
                    (jan[2], "10:00", CAP), (jan[4], "10:00", 97_000.0),
                    (jan[8], "10:00", 99_000.0)]  # fmt: skip
    k = kpis_of(day_trades([]), marks(open_deepest), end=jan[9])
    assert k["longest_drawdown_days"] == 6  # Jan 3 (the peak) -> Jan 9 (the end)
    assert k["time_to_recover_days"] is None
    # opens under capital on Jan 1 (deepest, 2,000), back Jan 4; 99,500 from Jan 5 to the end
    recovered = [(jan[0], "10:00", 98_000.0), (jan[3], "10:00", CAP),
                 (jan[4], "10:00", 99_500.0), (jan[7], "10:00", 99_500.0)]  # fmt: skip
    k = kpis_of(day_trades([]), marks(recovered), end=jan[9])
    assert (k["longest_drawdown_days"], k["time_to_recover_days"]) == (4, 3)
    rising = marks([(jan[0], "10:00", CAP), (jan[1], "10:00", CAP + 5.0)])
    k = kpis_of(day_trades([]), rising)
    assert (k["longest_drawdown_days"], k["time_to_recover_days"]) == (0, 0)


def test_drawdowns_without_equity_or_timestamps() -> None:
    k = kpis_of(day_trades([]), pd.DataFrame())
    for key in ("max_drawdown_pct", "max_drawdown_close_pct", "longest_drawdown_days",
                "time_to_recover_days", "calmar"):  # fmt: skip
        assert k[key] is None, key
    k = kpis_of(day_trades([]), pd.DataFrame({"equity": [CAP, 99_000.0]}))
    assert k["max_drawdown_pct"] == 0.01 and k["max_drawdown_close_pct"] is None


def test_streaks_follow_exit_time_not_file_order() -> None:
    # by exit time: + + - 0 + + + - -  -> 3 winners in a row, then 2 losers
    pnl = [10.0, 20.0, -5.0, 0.0, 1.0, 2.0, 3.0, -1.0, -2.0]
    rows = [(f"2024-01-01T{10 + i // 6:02d}:{(i % 6) * 10:02d}:00+05:30", p)
            for i, p in enumerate(pnl)]  # fmt: skip
    shuffled = [rows[i] for i in (8, 3, 0, 5, 2, 7, 1, 6, 4)]
    k = kpis_of(trades(shuffled))
    assert (k["max_win_streak"], k["max_loss_streak"]) == (3, 2)
    # a zero trade ends a run: + + 0 + is a streak of 2
    k = kpis_of(trades([rows[0], rows[1], rows[3], rows[4]]))
    assert (k["max_win_streak"], k["max_loss_streak"]) == (2, 0)
    none = kpis_of(day_trades([]))
    assert (none["max_win_streak"], none["max_loss_streak"]) == (0, 0)


def test_expectancy_in_inr_and_r() -> None:
    # r_multiple = pnl / 50: winners 2.0, 1.0; losers -0.6, -0.4
    k = kpis_of(day_trades([(D[0], 100.0), (D[1], -30.0), (D[2], 50.0), (D[3], -20.0)]))
    assert k["expectancy_inr"] == 25.0 and k["expectancy_r"] == pytest.approx(0.5)
    assert k["avg_r_win"] == pytest.approx(1.5) and k["avg_r_loss"] == pytest.approx(-0.5)
    k = kpis_of(day_trades([(D[0], 100.0)], r_multiple=[float("nan")]))
    assert k["avg_r_win"] is None and k["avg_r_loss"] is None and k["expectancy_r"] is None


# Entries (the exit an hour later): 09:20, 09:45, 13:05 and 15:10 IST; the first given in UTC.
BREAKDOWN = {
    "exits": ["2024-01-01T04:50:00Z", "2024-01-01T10:45:00+05:30",
              "2024-01-02T14:05:00+05:30", "2024-01-03T16:10:00+05:30"],
    "pnl": [100.0, -40.0, 30.0, -10.0],
    "expiry": ["2024-01-01", "2024-01-04", "2024-01-11", ""],  # 0, 3 (Mon -> Thu), 9 -> 4+, none
    "exit_reason": ["exit_target2", "exit_stop", "exit_stop", "exit_stop"],
    "stop_kind": ["", "trail", "initial", "trail"],
    "right": ["CE", "PE", "CE", ""],
    "side": ["long", "short", "long", "short"],
}  # fmt: skip


def breakdown_trades() -> pd.DataFrame:
    b = BREAKDOWN
    cols = {k: b[k] for k in ("expiry", "exit_reason", "stop_kind", "right", "side")}
    return trades(list(zip(b["exits"], b["pnl"], strict=True)), **cols)


def summary(group: dict[str, Any]) -> dict[str, tuple[int, float]]:
    return {k: (v["trades"], v["net_pnl"]) for k, v in group.items()}


def test_breakdowns_by_hour_expiry_stop_and_side() -> None:
    k = kpis_of(breakdown_trades())
    assert summary(k["by_entry_hour"]) == {"09": (2, 60.0), "13": (1, 30.0), "15": (1, -10.0)}
    assert summary(k["by_days_to_expiry"]) == {"0": (1, 100.0), "3": (1, -40.0), "4+": (1, 30.0)}
    assert summary(k["by_stop_kind"]) == {"initial": (1, 30.0), "trail": (2, -50.0)}
    assert summary(k["by_side_label"]) == {"BUY CE": (2, 130.0), "BUY PE": (1, -40.0),
                                           "SELL FUT": (1, -10.0)}  # fmt: skip
    ce = k["by_side_label"]["BUY CE"]  # the same per-group fields as by_vix_tier
    assert (ce["win_rate"], ce["profit_factor"], ce["gross_profit"], ce["gross_loss"]) == (
        1.0, None, 130.0, 0.0,
    )  # fmt: skip
    assert k["by_stop_kind"]["trail"]["win_rate"] == 0.0
    assert list(k["by_entry_hour"]) == ["09", "13", "15"]


def test_breakdowns_through_trades_csv(tmp_path: Path) -> None:
    """Empty cells come back as NaN: no expiry is left out, a stop without its kind is unknown."""
    tr = breakdown_trades()
    tr.loc[3, "stop_kind"] = ""
    rows = [{c: r.get(c, "") for c in TRADE_COLUMNS} for r in tr.to_dict("records")]
    write_csv(tmp_path / "trades.csv", TRADE_COLUMNS, rows)
    k = kpis_of(pd.read_csv(tmp_path / "trades.csv"))
    assert summary(k["by_days_to_expiry"]) == {"0": (1, 100.0), "3": (1, -40.0), "4+": (1, 30.0)}
    assert summary(k["by_stop_kind"]) == {"initial": (1, 30.0), "trail": (1, -40.0),
                                          "unknown": (1, -10.0)}  # fmt: skip
    assert k["by_side_label"]["SELL FUT"]["trades"] == 1


def test_older_trades_files_still_compute() -> None:
    old = breakdown_trades().drop(columns=["expiry", "stop_kind", "right", "side"])
    k = kpis_of(old)
    assert k["by_days_to_expiry"] == {} and k["by_stop_kind"] == {} and k["by_side_label"] == {}
    assert sum(g["trades"] for g in k["by_entry_hour"].values()) == 4
    json.dumps(k, allow_nan=False)
    futures = breakdown_trades().drop(columns=["right"])  # no right: the side is what it is
    assert summary(kpis_of(futures)["by_side_label"]) == {
        "BUY FUT": (2, 130.0),
        "SELL FUT": (2, -50.0),
    }
    empty = compute_kpis(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), capital=CAP,
                         data_start=D[0], data_end=D[-1], trading_days=0)  # fmt: skip
    for key in ("by_entry_hour", "by_days_to_expiry", "by_stop_kind", "by_side_label"):
        assert empty[key] == {}, key
    assert empty["sortino"] is None and empty["max_win_streak"] == 0
    json.dumps(empty, allow_nan=False)


def test_monthly_heatmap() -> None:
    start, end = dt.date(2023, 11, 15), dt.date(2024, 2, 10)
    tr = day_trades([(dt.date(2023, 12, 5), 500.0), (dt.date(2024, 1, 8), -200.0)])
    k = kpis_of(tr, start=start, end=end, days=10)
    hm = k["monthly_heatmap"]
    assert hm["years"] == [2023, 2024]
    assert hm["months"] == ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]  # fmt: skip
    none = [None] * 10
    assert hm["values"] == [[*none, 0.0, 500.0 / CAP], [-200.0 / CAP, 0.0, *none]]
    json.dumps(hm, allow_nan=False)


def test_terminal_table_names_each_drawdown() -> None:
    k = kpis_of(day_trades(SHARPE_ROWS), marks(TWO_DIPS))
    buf = io.StringIO()
    Console(file=buf, width=120, color_system=None).print(kpi_table(k))
    text = buf.getvalue()
    labels = ("Sortino", "Calmar", "max drawdown (intraday marks)", "4.00 %",
              "max drawdown (daily closes)", "1.00 %", "longest drawdown", "winning streak",
              "losing streak", "expectancy per trade (INR)",
              "expectancy per trade (R)")  # fmt: skip
    for label in labels:
        assert label in text, label
    buf = io.StringIO()
    unrecovered = {**k, "time_to_recover_days": None}
    Console(file=buf, width=120, color_system=None).print(kpi_table(unrecovered))
    assert "not recovered" in buf.getvalue()


# --------------------------------------------------------------------------- a whole run


@pytest.fixture(scope="module")
def run_2m(tmp_path_factory: pytest.TempPathFactory) -> BacktestResult:
    """The backtest tests' two-month run (seed 11), built here as tests/ cannot share it."""
    data = synth_to_folder(tmp_path_factory.mktemp("data2m"), months=2, seed=11, fmt="csv")
    return run_backtest(Config(), data, tmp_path_factory.mktemp("run2m"), report=False)


def test_a_run_has_every_measure(run_2m: BacktestResult) -> None:
    k = run_2m.kpis
    json.dumps(k, allow_nan=False)
    saved = json.loads((run_2m.run_dir / "kpis.json").read_text(encoding="utf-8"))
    for key in NEW_KEYS:
        assert key in saved, key
    n = k["trades"]
    assert n > 0
    for key in ("by_entry_hour", "by_side_label"):
        assert sum(g["trades"] for g in k[key].values()) == n, key
    assert set(k["by_side_label"]) <= {"BUY CE", "BUY PE", "BUY FUT", "SELL FUT"}
    assert set(k["by_entry_hour"]) <= {f"{h:02d}" for h in range(9, 16)}
    stops = k["by_exit_reason"].get("exit_stop", {"trades": 0})["trades"]
    assert sum(g["trades"] for g in k["by_stop_kind"].values()) == stops
    assert set(k["by_stop_kind"]) <= {"initial", "break_even", "trail"}
    assert 0 <= k["max_drawdown_close_pct"] <= k["max_drawdown_pct"]
    assert k["max_win_streak"] + k["max_loss_streak"] <= n
    assert [v for row in k["monthly_heatmap"]["values"] for v in row if v is not None] == list(
        k["monthly_returns"].values()
    )


def test_a_run_from_older_files_still_computes(run_2m: BacktestResult) -> None:
    tr = pd.read_csv(run_2m.run_dir / "trades.csv").drop(columns=["stop_kind"])
    fi = pd.read_csv(run_2m.run_dir / "fills.csv")
    eq = pd.read_csv(run_2m.run_dir / "equity.csv")
    k = compute_kpis(tr, fi, eq, capital=Config().account.capital_inr,
                     data_start=dt.date.fromisoformat(run_2m.kpis["data_start"]),
                     data_end=dt.date.fromisoformat(run_2m.kpis["data_end"]),
                     trading_days=run_2m.kpis["trading_days"])  # fmt: skip
    json.dumps(k, allow_nan=False)
    assert k["by_stop_kind"] == {}
    for key in ("sortino", "calmar", "max_drawdown_close_pct", "by_days_to_expiry"):
        assert k[key] == run_2m.kpis[key], key
