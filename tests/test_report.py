"""report.html: self-contained (no network), complete and byte-for-byte deterministic.

``build_run`` fabricates a small run folder (4 trades on 3 days with matching 1-minute bars,
fills, equity marks, a journal with initial/BE/trail stop moves and kpis.json from
``compute_kpis``); ``test_report_browser`` uses it too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from dyntrail.analytics.kpis import compute_kpis
from dyntrail.analytics.report import select_trades, write_report
from dyntrail.core.config import Config
from dyntrail.core.config_load import dump_config
from dyntrail.errors import DataError

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


def build_run(root: Path) -> tuple[Path, pd.DataFrame]:
    """Write a run folder under ``root`` and return it with its bars."""
    run = root / "run"
    run.mkdir()
    trades, fills, equity, journal = [], [], [], []
    eq, seq = CAPITAL, 0
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
    assert ids[:2] == ["fig-equity", "fig-monthly"]
    assert ids[2:] == [f"fig-trade-{i}" for i in range(4)]


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
    stop = re.findall(r'"name":"stop","text":\[([^\]]*)\]', page)
    assert stop[0] == '"initial","be","trail",""' and stop[1] == '"initial",""'
    assert page.count('"shape":"hv"') == 4
    assert page.count('"name":"T1"') == 4 and page.count('"name":"exit"') == 4
    assert "NaN" not in _without_bundle(page)


def test_deterministic(report: tuple[Path, str]) -> None:
    run, page = report
    again = write_report(run, bars=build_bars()).read_bytes()
    assert again == page.encode("utf-8")


def test_without_bars_says_so(tmp_path: Path) -> None:
    run, _ = build_run(tmp_path)
    page = write_report(run, title="t <&> x").read_text(encoding="utf-8")
    assert "per-trade charts are skipped" in page
    assert "t &lt;&amp;&gt; x" in page and "t <&> x" not in page
    assert "fig-trade-0" not in page


def test_selection_rule() -> None:
    n = 40
    pnl = [float((i * 37) % 101 - 50) for i in range(n)]
    trades = pd.DataFrame(
        {
            "pnl_net": pnl,
            "entry_ts": [_iso(0, i) for i in range(n)],
            "exit_ts": [_iso(0, i + 1) for i in range(n)],
        }
    )
    chosen = select_trades(trades, "Asia/Kolkata")
    order = sorted(range(n), key=lambda i: pnl[i])
    expected = set(order[:5]) | set(order[-5:]) | set(range(n - 5, n))
    assert chosen == sorted(expected) and len(chosen) <= 15


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
