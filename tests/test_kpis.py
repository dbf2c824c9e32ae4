"""KPIs on hand-built frames with answers computed by hand; the acceptance gate; accept_run."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from dyntrail.analytics.kpis import (
    Check,
    accept_run,
    acceptance,
    acceptance_passed,
    compute_kpis,
    months_between,
)
from dyntrail.analytics.report import _costs_section
from dyntrail.analytics.summary import kpi_table
from dyntrail.core.config import AcceptanceSection, Config
from dyntrail.core.config_load import dump_config
from dyntrail.core.costs import PARTS as COST_PARTS
from dyntrail.core.costs import order_costs
from dyntrail.errors import DataError
from dyntrail.runners.outputs import write_csv
from dyntrail.trade import FILL_COLUMNS

CAP = 100_000.0
D = [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5)]  # Mon..Fri
FILL_COLS = ["trade_id", "leg", "ts", "action", "side", "qty", "price", "decision_price"]
FILL_COLS += ["slippage", "slippage_pct", "underlying", "costs", "tag", "ack_ms"]


def trades(rows: list[tuple[dt.date, float]], **cols: list[Any]) -> pd.DataFrame:
    """One trade per (exit day, pnl_net), entered and exited that day at 10:00 / 11:00 IST."""
    n = len(rows)
    df = pd.DataFrame(
        {
            "trade_id": range(1, n + 1),
            "entry_ts": [f"{d.isoformat()}T10:00:00+05:30" for d, _ in rows],
            "exit_ts": [f"{d.isoformat()}T11:00:00+05:30" for d, _ in rows],
            "pnl_net": [p for _, p in rows],
            "pnl_gross": [p + 10.0 for _, p in rows],
            "costs": [10.0] * n,
            "r_multiple": [p / 50.0 for _, p in rows],
            "vix_tier": ["normal"] * n,
            "exit_reason": ["exit_stop" if p < 0 else "exit_target2" for _, p in rows],
        }
    )
    for k, v in cols.items():
        df[k] = v
    return df


def fills(rows: list[tuple[str, float | None, float, float | None]]) -> pd.DataFrame:
    """(action, price, slippage_pct, ack_ms) rows."""
    data = [
        [1, 0, "2024-01-01T10:00:00+05:30", a, "buy", 50, p, 100.0, s * 100, s, 21000.0, 5.0, a, k]
        for a, p, s, k in rows
    ]
    return pd.DataFrame(data, columns=FILL_COLS)


def equity(values: list[float]) -> pd.DataFrame:
    ts = [f"2024-01-01T{9 + i // 60:02d}:{i % 60:02d}:00+05:30" for i in range(len(values))]
    return pd.DataFrame({"timestamp": ts, "equity": values})


def kpis_of(tr: pd.DataFrame, fi: pd.DataFrame | None = None, eq: pd.DataFrame | None = None,
            days: list[dt.date] | int = D, **kw: Any) -> dict[str, Any]:  # fmt: skip
    fi = fills([("buy", 100.0, 0.001, None)]) if fi is None else fi
    eq = equity([CAP]) if eq is None else eq
    return compute_kpis(tr, fi, eq, capital=CAP, data_start=D[0], data_end=D[-1],
                        trading_days=days, **kw)  # fmt: skip


def test_profit_factor_and_trade_stats() -> None:
    k = kpis_of(trades([(D[0], 100.0), (D[1], -30.0), (D[2], 50.0), (D[3], -20.0)]))
    assert k["profit_factor"] == 3.0
    assert (k["gross_profit"], k["gross_loss"]) == (150.0, 50.0)
    assert k["trades"] == 4 and k["win_rate"] == 0.5
    assert (k["avg_win"], k["avg_loss"]) == (75.0, -25.0)
    assert (k["net_pnl"], k["gross_pnl"], k["total_costs"]) == (100.0, 140.0, 40.0)
    assert k["expectancy_inr"] == 25.0 and k["expectancy_r"] == pytest.approx(0.5)
    assert (k["largest_win"], k["largest_loss"]) == (100.0, -30.0)
    assert k["trades_per_day"] == 4 / 5 and k["return_pct"] == 100.0 / CAP


def test_breakeven_trade_is_neither_win_nor_loss() -> None:
    k = kpis_of(trades([(D[0], 100.0), (D[1], 0.0)]))
    assert k["win_rate"] == 0.5 and k["avg_loss"] is None and k["profit_factor"] is None
    assert k["gross_loss"] == 0.0  # PF infinite: acceptance passes it, saying so
    pf = acceptance(k, AcceptanceSection())[0]
    assert pf.passed is True and "infinite" in pf.note


def test_sharpe_counts_days_without_trades() -> None:
    # daily r = [0.01, 0, -0.005, 0.02, 0]: mean 0.005, sample std 0.01 -> 0.5 * sqrt(252)
    rows = [(D[0], 600.0), (D[0], 400.0), (D[2], -500.0), (D[3], 2000.0)]
    expected = 0.5 * math.sqrt(252)
    assert kpis_of(trades(rows))["sharpe"] == pytest.approx(expected, rel=1e-12)
    assert kpis_of(trades(rows), days=5)["sharpe"] == pytest.approx(expected, rel=1e-12)
    # a trade on a day missing from the calendar still counts (6 days, one more zero)
    k = kpis_of(trades([*rows, (dt.date(2024, 1, 6), 0.0)]))
    assert k["trading_days"] == 6 and k["days_traded"] == 4


def test_sharpe_undefined() -> None:
    assert kpis_of(trades([(D[0], 100.0)]), days=[D[0]])["sharpe"] is None  # one day
    assert kpis_of(trades([]))["sharpe"] is None  # zero std
    assert kpis_of(trades([(d, 10.0) for d in D]))["sharpe"] is None  # equal returns


def test_max_drawdown() -> None:
    path = [100_000.0, 101_000.0, 99_000.0, 102_000.0, 98_000.0, 100_000.0]
    k = kpis_of(trades([]), eq=equity(path))
    assert k["max_drawdown_inr"] == 4000.0 and k["max_drawdown_pct"] == 0.04
    # the running peak starts at capital: a first mark below it is a drawdown
    assert kpis_of(trades([]), eq=equity([99_000.0, 100_500.0]))["max_drawdown_pct"] == 0.01
    # rows are taken in time order, not file order
    shuffled = equity(path).iloc[[5, 0, 3, 1, 4, 2]]
    assert kpis_of(trades([]), eq=shuffled)["max_drawdown_pct"] == 0.04


def test_fills_slippage_rejects_and_acks() -> None:
    fi = fills([
        ("buy", 100.0, 0.001, 100.0), ("sell", 101.0, 0.003, 200.0),
        ("sell", 99.0, -0.001, 300.0), ("buy", 100.0, 0.001, 400.0),
        ("rejected", None, float("nan"), 500.0),
    ])  # fmt: skip
    k = kpis_of(trades([(D[0], 10.0)]), fi=fi)
    assert k["avg_slippage_pct"] == pytest.approx(0.001) and k["executed_fills"] == 4
    assert (k["orders_sent"], k["orders_rejected"], k["reject_ratio"]) == (5, 1, 0.2)
    assert k["p95_ack_ms"] == pytest.approx(480.0)  # 400 + 0.8 * (500 - 400)
    bt = kpis_of(trades([(D[0], 10.0)]))  # a backtest: no acks
    assert bt["p95_ack_ms"] is None and bt["broker_acks"] == 0 and bt["reject_ratio"] == 0.0


def test_exposure_and_months() -> None:
    k = kpis_of(trades([]), bars_total=400, bars_in_position=100)
    assert k["exposure_pct"] == 0.25 and kpis_of(trades([]))["exposure_pct"] is None
    assert months_between(dt.date(2023, 1, 1), dt.date(2023, 12, 31)) == 12.0
    assert months_between(dt.date(2024, 1, 15), dt.date(2024, 2, 14)) == 1.0
    assert months_between(dt.date(2024, 1, 31), dt.date(2024, 2, 28)) == 1.0
    assert months_between(dt.date(2024, 1, 1), dt.date(2024, 1, 16)) == 16 / 31
    with pytest.raises(ValueError, match="before"):
        months_between(dt.date(2024, 2, 1), dt.date(2024, 1, 1))


def test_breakdowns_and_monthly() -> None:
    rows = [(D[0], 100.0), (D[0], -50.0), (D[4], 30.0), (dt.date(2024, 3, 1), -10.0)]
    tr = trades(rows, vix_tier=["high", "low", "low", ""])
    k = compute_kpis(tr, fills([]), equity([]), capital=CAP, data_start=D[0],
                     data_end=dt.date(2024, 3, 31), trading_days=D)  # fmt: skip
    assert list(k["by_vix_tier"]) == ["low", "high", "unknown"]
    low = k["by_vix_tier"]["low"]
    assert (low["trades"], low["net_pnl"], low["win_rate"], low["profit_factor"]) == (
        2, -20.0, 0.5, 0.6,
    )  # fmt: skip
    assert list(k["by_weekday"]) == ["Mon", "Fri"] and k["by_weekday"]["Fri"]["trades"] == 2
    assert k["by_exit_reason"]["exit_target2"]["profit_factor"] is None
    assert k["monthly_returns"] == {"2024-01": 80.0 / CAP, "2024-02": 0.0, "2024-03": -10 / CAP}


def test_empty_run_no_nan() -> None:
    empty = pd.DataFrame()
    k = compute_kpis(empty, empty, empty, capital=CAP, data_start=D[0], data_end=D[-1],
                     trading_days=0)  # fmt: skip
    json.dumps(k, allow_nan=False)
    assert k["trades"] == 0 and k["net_pnl"] == 0.0 and k["trading_days"] == 0
    for key in ("profit_factor", "sharpe", "win_rate", "max_drawdown_pct", "avg_slippage_pct"):
        assert k[key] is None, key
    assert not acceptance_passed(acceptance(k, AcceptanceSection()))


def test_missing_money_is_an_error() -> None:
    with pytest.raises(DataError, match="pnl_net"):
        kpis_of(trades([(D[0], float("nan"))]))
    with pytest.raises(DataError, match="slippage_pct"):
        kpis_of(trades([(D[0], 1.0)]), fi=fills([("buy", 100.0, float("nan"), None)]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(D), st.floats(-1e5, 1e5)), max_size=12))
def test_json_never_has_nan(rows: list[tuple[dt.date, float]]) -> None:
    k = kpis_of(trades(rows), eq=equity([CAP + p for _, p in rows]))
    json.dumps(k, allow_nan=False)
    if k["profit_factor"] is not None:
        assert k["profit_factor"] == pytest.approx(k["gross_profit"] / k["gross_loss"])


GOOD = {"profit_factor": 1.5, "sharpe": 1.2, "max_drawdown_pct": 0.05,
        "avg_slippage_pct": 0.001, "months": 12.0, "p95_ack_ms": None, "reject_ratio": 0.0,
        "broker_acks": 0, "orders_rejected": 0, "gross_profit": 3.0, "gross_loss": 2.0}  # fmt: skip


def test_acceptance_thresholds() -> None:
    checks = acceptance(GOOD, AcceptanceSection())
    assert acceptance_passed(checks)
    by = {c.name: c for c in checks}
    assert by["months"] == Check("months", 12.0, 12.0, ">=", True)  # equality passes
    assert by["p95_ack_s"].status == by["reject_ratio"].status == "N/A"
    assert "n/a" in by["p95_ack_s"].note and "n/a" in by["reject_ratio"].note
    for key, bad in [("profit_factor", 1.29), ("sharpe", 0.99), ("max_drawdown_pct", 0.11),
                     ("avg_slippage_pct", 0.0021), ("months", 11.9), ("sharpe", None)]:  # fmt: skip
        checks = acceptance({**GOOD, key: bad}, AcceptanceSection())
        assert not acceptance_passed(checks), key
        assert [c.name for c in checks if c.passed is False] == [key]


def test_acceptance_broker_checks_when_present() -> None:
    live = {**GOOD, "p95_ack_ms": 1600.0, "broker_acks": 10, "reject_ratio": 0.02}
    by = {c.name: c for c in acceptance(live, AcceptanceSection())}
    assert by["p95_ack_s"].value == 1.6 and by["p95_ack_s"].passed is False
    assert by["reject_ratio"].passed is False
    ok = {**live, "p95_ack_ms": 1500.0, "reject_ratio": 0.01}
    assert acceptance_passed(acceptance(ok, AcceptanceSection()))


def _run_dir(tmp_path: Path, kpis: Any) -> Path:
    (tmp_path / "config.toml").write_text(dump_config(Config()), encoding="utf-8")
    text = kpis if isinstance(kpis, str) else json.dumps(kpis)
    (tmp_path / "kpis.json").write_text(text, encoding="utf-8")
    return tmp_path


def _accept(run: Path) -> tuple[int, str]:
    buf = io.StringIO()
    code = accept_run(run, Console(file=buf, width=150, color_system=None))
    return code, buf.getvalue()


def test_accept_run_exit_codes(tmp_path: Path) -> None:
    for sub in "abc":
        (tmp_path / sub).mkdir()
    code, out = _accept(_run_dir(tmp_path / "a", GOOD))
    assert code == 0 and "PASS" in out and "N/A" in out and "ACCEPTED" in out
    code, out = _accept(_run_dir(tmp_path / "b", {**GOOD, "sharpe": 0.5}))
    assert code == 1 and "FAIL" in out and "REJECTED" in out
    run = _run_dir(tmp_path / "c", "{not json")
    code, out = _accept(run)
    assert code == 1 and "kpis.json" in out
    (run / "kpis.json").unlink()
    code, out = _accept(run)
    assert code == 1 and "kpis.json" in out and "not found" in out
    run = _run_dir(run, {k: v for k, v in GOOD.items() if k != "sharpe"})
    assert _accept(run)[0] == 1
    run = _run_dir(run, GOOD)
    (run / "config.toml").write_text("[acceptance]\nmin_sharpe = 'high'\n", encoding="utf-8")
    code, out = _accept(run)
    assert code == 1 and "config.toml" in out
    (run / "config.toml").unlink()
    code, out = _accept(run)
    assert code == 1 and "config.toml" in out


# --------------------------------------------------------------------------- costs by component


def _fill_row(tid: int, side: str, value: float, day: dt.date) -> dict[str, Any]:
    """A fills.csv row as the engine writes it: costs and cost_<part> from order_costs."""
    c = order_costs(Config().costs, day, is_buy=side == "buy", value_inr=value, futures=False)
    price = value / 150
    return {
        "trade_id": tid, "leg": 0 if side == "buy" else 1, "side": side, "qty": 150,
        "action": "entry" if side == "buy" else "exit_target2", "price": price,
        "decision_price": price, "slippage": 0.0, "slippage_pct": 0.0, "underlying": 22000.0,
        "ts": f"{day.isoformat()}T10:00:00+05:30", "tag": f"T{tid}{side}", "costs": c.total,
        **{f"cost_{k}": v for k, v in c.parts().items()},
    }  # fmt: skip


def _through_csv(tmp_path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Any:
    path = tmp_path / "fills.csv"
    write_csv(path, columns, rows)
    return pd.read_csv(path)


def _cost_run(tmp_path: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Two option round trips either side of 2024-10-01 (STT and exchange charges change) and a
    rejected order (costs 0, no components)."""
    days = (dt.date(2024, 9, 30), dt.date(2024, 10, 1))
    rows = [_fill_row(t, s, v, d) for t, d in enumerate(days, 1)
            for s, v in (("buy", 15_000.0), ("sell", 18_000.0))]  # fmt: skip
    reject = {k: v for k, v in _fill_row(3, "buy", 1.0, days[1]).items() if k[:5] != "cost_"}
    reject |= {"action": "rejected", "price": "", "costs": 0.0}
    rows.append(reject)
    per_trade = [sum(r["costs"] for r in rows if r["trade_id"] == t) for t in (1, 2)]
    tr = trades([(days[0], 100.0), (days[1], 50.0)], costs=per_trade)
    return tr, rows


def test_costs_breakdown_adds_up_to_total_costs(tmp_path: Path) -> None:
    tr, rows = _cost_run(tmp_path)
    k = kpis_of(tr, fi=_through_csv(tmp_path, rows, FILL_COLUMNS))
    b = k["costs_breakdown"]
    assert list(b) == list(COST_PARTS)
    assert round(sum(b.values()), 2) == round(k["total_costs"], 2)  # to the paisa
    # STT on the two sells: 0.0625 % of 18,000 on 2024-09-30, 0.1 % on 2024-10-01
    assert b["stt"] == pytest.approx(11.25 + 18.0)
    assert b["brokerage"] == 80.0 and b["ipft"] == pytest.approx(2 * (0.07 + 0.09))  # Rs 50/crore
    json.dumps(k, allow_nan=False)


def test_costs_breakdown_absent_for_older_fills(tmp_path: Path) -> None:
    tr, rows = _cost_run(tmp_path)
    old = _through_csv(tmp_path, rows, tuple(FILL_COLS))  # a fills.csv from before the columns
    assert kpis_of(tr, fi=old)["costs_breakdown"] is None
    bare = [{k: v for k, v in r.items() if not k.startswith("cost_")} for r in rows]
    unwired = _through_csv(tmp_path, bare, FILL_COLUMNS)  # columns written, values empty
    assert unwired["cost_stt"].isna().all()
    assert kpis_of(tr, fi=unwired)["costs_breakdown"] is None
    no_fills = _through_csv(tmp_path, [], FILL_COLUMNS)
    assert kpis_of(trades([]), fi=no_fills)["costs_breakdown"] == dict.fromkeys(COST_PARTS, 0.0)


def test_costs_breakdown_that_does_not_reconcile_is_an_error(tmp_path: Path) -> None:
    tr, rows = _cost_run(tmp_path)
    rows[1]["cost_gst"] += 1.0
    with pytest.raises(DataError, match=r"row 1: cost_\* components add up to"):
        kpis_of(tr, fi=_through_csv(tmp_path, rows, FILL_COLUMNS))
    tr, rows = _cost_run(tmp_path)
    rows[2] = {k: v for k, v in rows[2].items() if not k.startswith("cost_")}
    with pytest.raises(DataError, match=r"row 2: costs .* without its cost_"):
        kpis_of(tr, fi=_through_csv(tmp_path, rows, FILL_COLUMNS))


def test_costs_breakdown_in_the_terminal_table_and_the_report(tmp_path: Path) -> None:
    tr, rows = _cost_run(tmp_path)
    k = kpis_of(tr, fi=_through_csv(tmp_path, rows, FILL_COLUMNS))
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(kpi_table(k))
    text = buf.getvalue()
    assert "  STT" in text and "  IPFT" in text and f"{k['costs_breakdown']['stt']:,.2f}" in text
    page = _costs_section(k)
    assert "IPFT (NSE investor protection fund)" in page and "Total" in page
    assert "class='warn'" not in page
    assert "class='warn'" in _costs_section({**k, "total_costs": k["total_costs"] + 1.0})
    assert "no per-component costs" in _costs_section({**k, "costs_breakdown": None})
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(kpi_table({**k, "costs_breakdown": None}))
    assert "  STT" not in buf.getvalue()
