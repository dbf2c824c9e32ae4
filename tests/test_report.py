"""report.html: self-contained (no network), complete and byte-for-byte deterministic.

``build_run`` fabricates a small run folder (4 trades on 3 days with matching 1-minute bars,
fills, equity marks, a journal with initial/BE/trail stop moves and kpis.json from
``compute_kpis``); ``test_report_browser`` uses it too. ``trade_data`` reads back the chart
data the page embeds for its trade table. The end-to-end tests run a month of the project's own
synthetic data (seed 3) through a backtest.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dyntrail.analytics.kpis import compute_kpis
from dyntrail.analytics.report import write_report
from dyntrail.analytics.report_trades import side_label
from dyntrail.core.config import Config
from dyntrail.core.config_load import dump_config
from dyntrail.data.builtin import synth_to_folder
from dyntrail.errors import DataError
from dyntrail.runners.backtest import run_backtest

DAYS = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
CAPITAL = 1_000_000.0
# (day index, side, entry minute after 09:15, exit minute, pnl_net, exit_reason, scale-out?)
TRADES = [
    (0, "long", 30, 95, 5200.0, "exit_target2", True),
    (0, "short", 200, 230, -2100.0, "exit_stop", False),
    (1, "long", 60, 90, -800.0, "exit_time", False),
    (2, "short", 45, 120, 3100.0, "exit_eod", True),
]


def _price(day: int, minute: int) -> float:
    return 21700.0 + 40.0 * day + 60.0 * math.sin(minute / 40.0) + 0.5 * minute % 7


def _ts(day: int, minute: int) -> dt.datetime:
    base = dt.datetime.combine(DAYS[day], dt.time(9, 15))
    return base + dt.timedelta(minutes=minute)


def _iso(day: int, minute: int) -> str:
    return _ts(day, minute).isoformat() + "+05:30"


def build_bars() -> pd.DataFrame:
    rows = []
    for d in range(len(DAYS)):
        for m in range(375):
            o, c = _price(d, m), _price(d, m + 1)
            rows.append((_ts(d, m), o, max(o, c) + 3.0, min(o, c) - 3.0, c))
    return pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close"])


def build_run(root: Path, data: str | None = "") -> tuple[Path, pd.DataFrame]:
    """Write a run folder under ``root`` and return it with its bars. ``data`` is the data
    folder the journal's header records (None: a synthetic stream; "": no header at all)."""
    run = root / "run"
    run.mkdir()
    trades, fills, equity, journal = [], [], [], []
    eq, seq = CAPITAL, 0
    if data != "":
        seq += 1
        journal.append({"seq": seq, "ts": None, "kind": "header", "mode": "paper", "data": data})
    for tid, (d, side, m0, m1, pnl, reason, scale) in enumerate(TRADES, 1):
        e_u = _price(d, m0)
        sign = 1.0 if side == "long" else -1.0
        risk = e_u * 0.006
        stop, t1, t2 = e_u - sign * risk, e_u + sign * 1.5 * risk, e_u + sign * 2.0 * risk
        trades.append(
            {
                "trade_id": tid, "side": side, "instrument": "NIFTY24JAN",
                "right": "CE" if side == "long" else "PE", "strike": 21700, "expiry": "2024-01-04",
                "entry_ts": _iso(d, m0), "exit_ts": _iso(d, m1), "entry_underlying": e_u,
                "exit_underlying": _price(d, m1), "qty": 100, "entry_price": 120.0,
                "exit_price": 120.0 + pnl / 100, "exit_reason": reason, "vix_tier": "normal",
                "stop_initial": stop, "t1": t1, "t2": t2, "r_multiple": pnl / 2500.0,
                "costs": 80.0, "pnl_gross": pnl + 80.0, "pnl_net": pnl,
            }
        )  # fmt: skip
        legs = [(0, m0, "buy", 100, "entry")]
        if scale:
            legs.append((1, (m0 + m1) // 2, "sell", 50, "scale_out_t1"))
        legs.append((len(legs), m1, "sell", 100 - 50 * scale, reason))
        for leg, m, act, qty, tag in legs:
            fills.append(
                {
                    "trade_id": tid, "leg": leg, "ts": _iso(d, m), "action": act, "side": act,
                    "qty": qty, "price": 120.0, "decision_price": 119.9, "slippage": 0.1,
                    "slippage_pct": 0.1 / 119.9, "underlying": _price(d, m), "costs": 40.0,
                    "tag": tag, "ack_ms": "",
                }
            )  # fmt: skip
            seq += 1
            journal.append({"seq": seq, "ts": _iso(d, m), "kind": "fill", "trade_id": tid})
        moves = [(m0, stop, "initial"), (m0 + 10, e_u, "be"), (m0 + 20, e_u + sign * 20, "trail")]
        for m, level, why in moves if pnl > 0 else moves[:1]:
            seq += 1
            journal.append(
                {"seq": seq, "ts": _iso(d, m), "kind": "stop_moved", "trade_id": tid,
                 "level": level, "reason": why}
            )  # fmt: skip
        equity.append({"timestamp": _iso(d, m0), "equity": eq})
        equity.append({"timestamp": _iso(d, (m0 + m1) // 2), "equity": eq - 900.0})
        eq += pnl
        equity.append({"timestamp": _iso(d, m1), "equity": eq})
    tr, fi, eqf = pd.DataFrame(trades), pd.DataFrame(fills), pd.DataFrame(equity)
    eqf["realized"], eqf["unrealized"], eqf["drawdown_pct"] = 0.0, 0.0, 0.0
    tr.to_csv(run / "trades.csv", index=False)
    fi.to_csv(run / "fills.csv", index=False)
    eqf.to_csv(run / "equity.csv", index=False)
    (run / "journal.jsonl").write_text("".join(json.dumps(j) + "\n" for j in journal))
    (run / "config.toml").write_text(dump_config(Config()), encoding="utf-8")
    kpis = compute_kpis(
        pd.read_csv(run / "trades.csv"), pd.read_csv(run / "fills.csv"),
        pd.read_csv(run / "equity.csv"), capital=CAPITAL, data_start=DAYS[0],
        data_end=DAYS[-1], trading_days=DAYS, bars_total=1125, bars_in_position=200,
    )  # fmt: skip
    (run / "kpis.json").write_text(json.dumps(kpis, indent=2, allow_nan=False))
    return run, build_bars()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run, bars = build_run(tmp_path_factory.mktemp("rep"))
    path = write_report(run, bars=bars)
    return run, path.read_text(encoding="utf-8")


def trade_data(page: str) -> dict[str, Any]:
    """The chart data the page embeds for its trade table."""
    m = re.search(r'<script type="application/json" id="trade-data">(.*?)</script>', page, re.S)
    assert m, "no trade data"
    data: dict[str, Any] = json.loads(m.group(1))
    return data


OPTIONAL = ("sortino", "calmar", "max_drawdown_close_pct", "by_entry_hour", "monthly_heatmap")


def _kpis_with(run: Path, **extra: Any) -> None:
    """kpis.json without the optional measures, plus ``extra``."""
    kpis = json.loads((run / "kpis.json").read_text())
    kpis = {k: v for k, v in kpis.items() if k not in OPTIONAL}
    (run / "kpis.json").write_text(json.dumps({**kpis, **extra}))


def _without_bundle(page: str) -> str:
    """The page with the (single) inlined plotly.js bundle cut out."""
    start = page.index('<script type="text/javascript">/**\n* plotly.js')
    return page[:start] + page[page.index("</script>", start) :]


def test_no_external_resources(report: tuple[Path, str]) -> None:
    _, page = report
    assert not re.search(r"<script[^>]+src=", page, re.I)
    assert not re.search(r"<link\b", page, re.I)
    assert not re.search(r"@import|url\(", _without_bundle(page))
    assert not re.search(r"https?://", _without_bundle(page))


def test_one_plotly_bundle_and_fixed_ids(report: tuple[Path, str]) -> None:
    _, page = report
    assert page.count("* plotly.js v") == 1
    ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', page)
    assert ids == ["fig-equity", "fig-monthly"]
    assert page.count('<div id="trade-chart"></div>') == 1  # drawn on a row click


def test_contents(report: tuple[Path, str]) -> None:
    _, page = report
    keys = ["profit_factor", "sharpe", "max_drawdown_pct", "avg_slippage_pct", "win_rate"]
    keys += ["net_pnl", "expectancy_r", "months", "trades_per_day", "exposure_pct", "trades"]
    for key in keys:
        assert f">{key}<" in page, key
    for text in ("Acceptance", "REJECTED", "2024-01-02 to 2024-01-04", "₹1,000,000.00"):
        assert text in page
    for group in ("normal", "exit_target2", "exit_stop", "Tue", "Wed", "Thu"):
        assert f">{group}<" in page
    assert "NaN" not in _without_bundle(page)


def test_table_has_every_trade_with_side_labels(report: tuple[Path, str]) -> None:
    _, page = report
    table = page[
        page.index('<table id="trade-table">') : page.index(
            "</table>", page.index('id="trade-table"')
        )
    ]
    assert re.findall(r'<tr data-id="([^"]+)">', table) == ["1", "2", "3", "4"]
    labels = re.findall(r'<td data-v="(BUY [CP]E)">', table)
    assert labels == ["BUY CE", "BUY PE", "BUY CE", "BUY PE"]
    assert ">long<" not in table and ">short<" not in table
    for head in ("exit rule", "stop kind", "legs", "T1 exit premium", "R", "costs", "net P&amp;L"):
        assert f">{head}</th>" in table, head
    assert '<td data-v="exit_target2">exit_target2</td>' in table
    assert '<td class="n" data-v="5200.0">5,200.00</td>' in table


def test_side_label() -> None:
    assert side_label("long", "CE") == "BUY CE" and side_label("short", "PE") == "BUY PE"
    assert side_label("long", float("nan")) == "BUY FUT" and side_label("short", "") == "SELL FUT"


def test_chart_data_for_every_trade(report: tuple[Path, str]) -> None:
    _, page = report
    data = trade_data(page)
    assert data["why"] == ""
    trades = {t["id"]: t for t in data["trades"]}
    assert sorted(trades) == ["1", "2", "3", "4"]
    for t in trades.values():
        bars = t["bars"]
        assert len(bars["m"]) == len(bars["o"]) == len(bars["c"]) > 30
        first = pd.Timestamp(bars["t0"])
        last = first + pd.Timedelta(minutes=bars["m"][-1])
        assert first <= pd.Timestamp(t["entry_x"]) - pd.Timedelta(minutes=15)
        assert pd.Timestamp(t["exit_x"]) + pd.Timedelta(minutes=15) <= last
        assert t["t1"] is not None and t["t2"] is not None and t["entry_p"] == 120.0
        assert t["exits"] and all(e[2] is not None for e in t["exits"])  # premium at each exit
    assert [s[2] for s in trades["1"]["stops"]] == ["initial", "break_even", "trail"]
    assert [s[2] for s in trades["2"]["stops"]] == ["initial"]
    assert [e[3] for e in trades["1"]["exits"]] == ["T1 partial", "exit_target2"]
    assert [e[3] for e in trades["2"]["exits"]] == ["exit_stop"]
    assert trades["2"]["title"].startswith("#2 BUY PE · exit_stop")


def test_full_prices_and_drawdown_stated(report: tuple[Path, str]) -> None:
    _, page = report
    body = _without_bundle(page)
    assert '"tickformat":",.0f"' in body and "tickformat:',.2f'" in body
    assert '"tickformat":"~s"' not in body and '"tickformat":"s"' not in body
    assert "intraday marks against the running peak" in body
    assert '"type":"heatmap"' in body


def test_optional_measures_when_present(tmp_path: Path) -> None:
    run, bars = build_run(tmp_path)
    _kpis_with(run)
    page = write_report(run, bars=bars).read_text(encoding="utf-8")
    for key in ("sortino", "calmar", "max_drawdown_close_pct"):
        assert f">{key}<" not in page
    assert "Entry hour" not in page and "Close to close" not in page
    _kpis_with(
        run, sortino=1.5, calmar=2.25, max_drawdown_close_pct=0.0123,
        by_entry_hour={"09": {"trades": 2, "net_pnl": 100.0, "win_rate": 0.5}},
        monthly_heatmap={"years": [2024], "months": ["Jan", "Feb"], "values": [[0.0314, None]]},
    )  # fmt: skip
    page = write_report(run, bars=bars).read_text(encoding="utf-8")
    for key in ("sortino", "calmar", "max_drawdown_close_pct"):
        assert f">{key}<" in page
    assert "Close to close (day-end equity only) the largest is 1.23 %" in page
    assert ">Entry hour<" in page and ">09<" in page
    assert '"z":[[3.14,null]]' in page and '"x":["Jan","Feb"]' in page


def test_deterministic(report: tuple[Path, str]) -> None:
    run, page = report
    again = write_report(run, bars=build_bars()).read_bytes()
    assert again == page.encode("utf-8")


def test_without_bars_says_why(tmp_path: Path) -> None:
    run, _ = build_run(tmp_path)
    page = write_report(run, title="t <&> x").read_text(encoding="utf-8")
    assert "journal.jsonl has no header, so the data folder is unknown." in page
    assert "t &lt;&amp;&gt; x" in page and "t <&> x" not in page
    data = trade_data(page)
    assert len(data["trades"]) == 4 and all("bars" not in t for t in data["trades"])
    assert page.count('<tr data-id="') == 4  # the table still lists every trade


def test_a_header_without_a_folder_or_a_stream_says_so(tmp_path: Path) -> None:
    run, _ = build_run(tmp_path, data=None)
    page = write_report(run).read_text(encoding="utf-8")
    assert "does not say how to remake it" in page
    assert "<title>dyntrail paper session</title>" in page  # the header's mode


def test_a_paper_session_on_the_synthetic_stream_gets_its_charts(tmp_path: Path) -> None:
    """The stream is made again from the header (seed, days, first day): the page charts every
    trade, as a backtest's does, when written by the session and when rewritten."""
    from dyntrail.core.config import Config
    from dyntrail.execution.paper import FaultProfile
    from dyntrail.runners.paper import run_paper

    res = run_paper(Config(), tmp_path / "pp", days=3, faults=FaultProfile.none(), report=True)
    assert res.trades > 0
    for page in ((tmp_path / "pp" / "report.html").read_text(encoding="utf-8"),
                 write_report(tmp_path / "pp").read_text(encoding="utf-8")):  # fmt: skip
        data = trade_data(page)
        assert len(data["trades"]) == res.trades
        assert all(t.get("bars") for t in data["trades"])


@pytest.fixture(scope="module")
def backtest_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A month of synthetic data (seed 3) and its backtest run folder (report written)."""
    data = synth_to_folder(tmp_path_factory.mktemp("data"), months=1, seed=3, fmt="csv")
    run = tmp_path_factory.mktemp("bt")
    run_backtest(Config(), data, run)
    return data, run


def test_rewritten_report_is_the_same_and_charts_every_trade(
    backtest_run: tuple[Path, Path],
) -> None:
    _, run = backtest_run
    first = (run / "report.html").read_bytes()
    again = write_report(run).read_bytes()  # as `dyntrail report RUN_DIR` does
    assert again == first
    page = first.decode("utf-8")
    trades = pd.read_csv(run / "trades.csv")
    data = trade_data(page)
    assert len(trades) > 0 and len(data["trades"]) == len(trades)
    assert all(len(t["bars"]["m"]) > 0 for t in data["trades"])
    assert page.count('<tr data-id="') == len(trades)


def test_data_folder_gone_says_so(backtest_run: tuple[Path, Path], tmp_path: Path) -> None:
    data, run = backtest_run
    copy = tmp_path / "run"
    copy.mkdir()
    for f in run.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    header = json.loads((copy / "journal.jsonl").read_text().splitlines()[0])
    assert header["kind"] == "header" and Path(header["data"]) == data
    lines = (copy / "journal.jsonl").read_text().splitlines(keepends=True)
    header["data"] = str(tmp_path / "gone")
    lines[0] = json.dumps(header) + "\n"
    (copy / "journal.jsonl").write_text("".join(lines))
    page = write_report(copy).read_text(encoding="utf-8")
    assert "no longer exists" in page and str(tmp_path / "gone") in page
    assert all("bars" not in t for t in trade_data(page)["trades"])


def test_large_equity_is_downsampled(tmp_path: Path) -> None:
    run, _ = build_run(tmp_path)
    start = pd.Timestamp("2024-01-02 09:15", tz="Asia/Kolkata")
    n = 20_000
    eq = pd.DataFrame(
        {
            "timestamp": [(start + pd.Timedelta(minutes=i)).isoformat() for i in range(n)],
            "equity": [CAPITAL - (i % 500) for i in range(n)],
        }
    )
    eq.to_csv(run / "equity.csv", index=False)
    page = write_report(run).read_text(encoding="utf-8")
    match = re.search(r"([\d,]+) of 20,000 equity marks drawn", page)
    assert match and int(match.group(1).replace(",", "")) <= 5000


def test_missing_file_is_named(tmp_path: Path) -> None:
    run, _ = build_run(tmp_path)
    (run / "fills.csv").unlink()
    with pytest.raises(DataError, match=r"fills\.csv"):
        write_report(run)
