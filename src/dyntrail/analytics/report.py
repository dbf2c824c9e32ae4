"""One self-contained ``report.html`` for a run folder.

The page opens with no network: plotly.js is inlined once in ``<head>``, every figure is a div
with a fixed id (``fig-equity``, ``fig-monthly``, ``fig-trade-N``) and there are no external
scripts, stylesheets or fonts. All text is HTML-escaped. The same inputs give the same bytes (no
"generated at" stamp, no random ids). Displayed numbers are rounded for reading; ``kpis.json``
keeps full precision. Times are shown in the exchange timezone (``[session] timezone``).

Per-trade charts: the 5 best and the 5 worst trades by ``pnl_net`` and the 5 that exited last
(ties by file order), de-duplicated (so at most 15), in order of entry. Each shows the underlying's
bars from 15 minutes before entry to 15 minutes after exit, the entry marker, the stop as a step
line from the journal's ``stop_moved`` events (initial, break_even (older journals: be), trail;
``stop_initial`` when the journal has none), T1 and T2 from entry to exit, and the exit fills at
their underlying price.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from dyntrail.analytics.checks import check_lines
from dyntrail.analytics.kpis import acceptance, acceptance_passed, format_check_value, parse_ts
from dyntrail.core.config import Config
from dyntrail.core.config_load import load_config
from dyntrail.errors import ConfigError, DataError

Frame: TypeAlias = pd.DataFrame
MAX_EQUITY_POINTS = 5000
TRADE_PAD = pd.Timedelta(minutes=15)
PICK = 5
TRADE_COLS = ("trade_id", "side", "entry_ts", "exit_ts", "entry_underlying", "exit_underlying",
              "exit_reason", "stop_initial", "t1", "t2", "pnl_net")  # fmt: skip
FILL_COLS = ("trade_id", "leg", "ts", "action", "qty", "price", "underlying", "tag")
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2933}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #d9e2ec}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border:1px solid #d9e2ec}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f0f4f8;text-align:left}
.PASS{color:#137333;font-weight:bold}.FAIL{color:#b00020;font-weight:bold}.N\\/A{color:#8a6d00}
.note{color:#52606d}.warn{background:#fff4e5;border:1px solid #f0b429;padding:6px 10px}
.verdict{font-size:1.3em;font-weight:bold}
"""
# (key, label, format for _fmt)
KPI_ROWS = (
    ("trades", "Trades", "int"), ("net_pnl", "Net P&L", "inr"),
    ("gross_pnl", "Gross P&L", "inr"), ("total_costs", "Costs", "inr"),
    ("return_pct", "Net P&L / capital", "pct"), ("profit_factor", "Profit factor (net)", "num"),
    ("sharpe", "Sharpe (daily, ×√252)", "num"),
    ("max_drawdown_pct", "Max drawdown / capital", "pct"),
    ("max_drawdown_inr", "Max drawdown", "inr"), ("win_rate", "Win rate", "pct"),
    ("avg_win", "Average win", "inr"), ("avg_loss", "Average loss", "inr"),
    ("expectancy_inr", "Expectancy per trade", "inr"), ("expectancy_r", "Expectancy (R)", "num"),
    ("trades_per_day", "Trades per trading day", "num"),
    ("exposure_pct", "Exposure (bars in position)", "pct"),
    ("avg_slippage_pct", "Average slippage / decision price", "pct4"),
    ("avg_slippage_inr", "Average slippage per unit", "inr"),
    ("months", "Months of data", "num"), ("trading_days", "Trading days", "int"),
    ("p95_ack_ms", "p95 order ack (ms)", "num"), ("reject_ratio", "Reject ratio", "pct"),
)  # fmt: skip


COST_ROWS = (
    ("brokerage", "Brokerage"), ("stt", "STT (securities transaction tax)"),
    ("exchange", "Exchange transaction charge"), ("sebi", "SEBI turnover fee"),
    ("ipft", "IPFT (NSE investor protection fund)"), ("stamp", "Stamp duty"), ("gst", "GST"),
)  # fmt: skip


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any, kind: str) -> str:
    """Display text: int, inr (₹, 2 decimals), pct (fraction as %, 2 decimals; pct4: 4), num."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    x = float(v)
    if kind == "int":
        return f"{int(x):,}"
    if kind == "inr":
        return f"{'−' if x < 0 else ''}₹{abs(x):,.2f}"
    if kind.startswith("pct"):
        return f"{x * 100:.{4 if kind == 'pct4' else 2}f} %"
    return f"{x:,.4f}"


def _pf(group: dict[str, Any]) -> str:
    """Profit factor text: ∞ with winners and no loser (kpis.json has null), — with no trade."""
    if group.get("profit_factor") is None and (group.get("gross_profit") or 0) > 0:
        return "∞ (no loss)"
    return _fmt(group.get("profit_factor"), "num")


def _s(v: Any) -> str:
    """A cell as text: '' for missing, 22000.0 as '22000'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, dtype={"trade_id": str, "tag": str, "right": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not readable CSV: {exc}") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def _read_journal(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The journal's stop_moved events and warnings (unreadable lines are skipped and reported)."""
    if not path.is_file():
        return [], [f"{path.name} not found: stops are drawn from stop_initial only"]
    events: list[dict[str, Any]] = []
    bad: list[int] = []
    with path.open(encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if '"stop_moved"' not in line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                bad.append(no)
                continue
            if isinstance(ev, dict) and ev.get("kind") == "stop_moved":
                events.append(ev)
    warn = [f"{path.name}: {len(bad)} unreadable line(s) skipped (first: {bad[0]})"] if bad else []
    return events, warn


def _naive(values: Iterable[Any], tz: str) -> pd.Series:
    """Timestamps as naive wall-clock times in ``tz`` (what the charts show)."""
    return parse_ts(values, tz).dt.tz_localize(None)


def _x(values: Any) -> list[str]:
    """Naive timestamps as ISO strings for plotly (to the second)."""
    return [pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%S") for v in values]


def _figure_html(fig: go.Figure, div_id: str) -> str:
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 40})
    out: str = pio.to_html(
        fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOT_CONFIG
    )
    return out


def _table(head: list[str], rows: list[list[tuple[str, str]]]) -> str:
    """rows of (text, css class) cells; text is escaped here."""
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f'<td class="{c}">{_esc(t)}</td>' for t, c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _kpi_section(kpis: dict[str, Any]) -> str:
    rows = []
    for key, label, kind in KPI_ROWS:
        if key not in kpis:
            continue
        text = _pf(kpis) if key == "profit_factor" else _fmt(kpis[key], kind)
        rows.append([(label, ""), (key, "note"), (text, "n")])
    return "<h2>Key figures</h2>" + _table(["KPI", "key", "value"], rows)


def _costs_section(kpis: dict[str, Any]) -> str:
    """Costs by component (kpis.json's costs_breakdown) with each one's share of the total."""
    parts = kpis.get("costs_breakdown")
    if not isinstance(parts, dict):
        return "<h2>Costs</h2><p class='note'>fills.csv has no per-component costs.</p>"
    values = [(label, float(parts.get(key) or 0.0)) for key, label in COST_ROWS]
    total = sum(v for _, v in values)
    rows = [
        [(label, ""), (_fmt(v, "inr"), "n"), (_fmt(v / total if total else None, "pct"), "n")]
        for label, v in [*values, ("Total", total)]
    ]
    html_ = "<h2>Costs</h2>" + _table(["component", "amount", "share"], rows)
    listed = kpis.get("total_costs")
    if isinstance(listed, int | float) and abs(listed - total) > 0.005:
        html_ += (
            f"<p class='warn'>The components add up to {_esc(_fmt(total, 'inr'))}; trades.csv's "
            f"costs add up to {_esc(_fmt(listed, 'inr'))}.</p>"
        )
    return html_


def _checks_section(kpis: dict[str, Any]) -> str:
    """The run's own checks (flat at flatten, within expiry, PnL reconciles, flat at the end)."""
    checks = kpis.get("checks")
    if not isinstance(checks, dict):
        return ""
    rows = [
        [(line, ""), ("ok" if ok else "FAIL", "PASS" if ok else "FAIL")]
        for ok, line in check_lines(checks)
    ]
    return "<h2>Run checks</h2>" + _table(["check", "result"], rows)


def _acceptance_section(kpis: dict[str, Any], cfg: Config) -> str:
    checks = acceptance(kpis, cfg.acceptance)
    rows = [
        [(c.name, ""), (format_check_value(c.name, c.value), "n"),
         (f"{c.op} {format_check_value(c.name, c.threshold)}", "n"), (c.status, c.status),
         (c.note, "note")]
        for c in checks
    ]  # fmt: skip
    ok = acceptance_passed(checks)
    verdict = f'<p class="verdict {("FAIL", "PASS")[ok]}">{("REJECTED", "ACCEPTED")[ok]}</p>'
    head = ["check", "value", "threshold", "result", "note"]
    return "<h2>Acceptance</h2>" + _table(head, rows) + verdict


def _breakdown_section(kpis: dict[str, Any]) -> str:
    parts = ["<h2>Breakdowns</h2>"]
    labels = {"by_vix_tier": "VIX tier", "by_exit_reason": "Exit reason"}
    for key, label in {**labels, "by_weekday": "Weekday (of entry)"}.items():
        groups = kpis.get(key)
        if not isinstance(groups, dict) or not groups:
            parts.append(f"<p class='note'>{_esc(label)}: no data.</p>")
            continue
        rows = [
            [(name, ""), (_fmt(g.get("trades"), "int"), "n"), (_fmt(g.get("net_pnl"), "inr"), "n"),
             (_fmt(g.get("win_rate"), "pct"), "n"), (_pf(g), "n")]
            for name, g in groups.items()
        ]  # fmt: skip
        parts.append(f"<h3>{_esc(label)}</h3>")
        parts.append(_table([label, "trades", "net P&L", "win rate", "profit factor"], rows))
    return "".join(parts)


def downsample_indices(equity: np.ndarray, dd: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` row indices: per bucket the first row and those of min/max equity and
    max drawdown (so peaks and troughs survive), plus the last row."""
    n = len(equity)
    if n <= limit:
        return np.arange(n)
    buckets = max(1, (limit - 1) // 4)
    keep: set[int] = {n - 1}
    for chunk in np.array_split(np.arange(n), buckets):
        e, d = equity[chunk], dd[chunk]
        keep.update(int(chunk[i]) for i in (0, e.argmin(), e.argmax(), d.argmax()))
    return np.array(sorted(keep))


def _equity_section(equity: pd.DataFrame, capital: float, cfg: Config) -> str:
    if equity.empty:
        return "<h2>Equity and drawdown</h2><p class='note'>equity.csv has no rows.</p>"
    t = _naive(equity["timestamp"], cfg.session.timezone).to_numpy()
    eq = equity.assign(_t=t).sort_values("_t", kind="stable")
    values = pd.to_numeric(eq["equity"], errors="coerce").to_numpy(dtype=float)
    peak = np.maximum.accumulate(np.concatenate([[capital], values]))[1:]
    dd = (peak - values) / capital
    idx = downsample_indices(values, dd, MAX_EQUITY_POINTS)
    x = _x(eq["_t"].to_numpy()[idx])
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3])
    fig.add_trace(go.Scatter(x=x, y=values[idx], name="equity", line={"width": 1.5}), 1, 1)
    dd_trace = go.Scatter(x=x, y=-dd[idx] * 100, name="drawdown", fill="tozeroy", line_width=1)
    fig.add_trace(dd_trace, 2, 1)
    fig.update_yaxes(title_text="equity (₹)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", ticksuffix=" %", row=2, col=1)
    opens = cfg.session.open.hour + cfg.session.open.minute / 60
    closes = cfg.session.close.hour + cfg.session.close.minute / 60
    breaks: list[dict[str, Any]] = [{"bounds": ["sat", "mon"]}]
    if opens < closes:  # hide the nights (5 minutes of margin on either side)
        breaks.append({"bounds": [closes + 5 / 60, opens - 5 / 60], "pattern": "hour"})
    fig.update_xaxes(rangebreaks=breaks)
    fig.update_layout(height=520, title_text="Equity and drawdown", showlegend=False)
    note = "<p class='note'>Nights and weekends are cut from the time axis."
    if len(idx) < len(values):
        note += (
            f" {len(idx):,} of {len(values):,} equity marks drawn (each segment keeps its first,"
            " lowest, highest and deepest-drawdown mark)."
        )
    return "<h2>Equity and drawdown</h2>" + _figure_html(fig, "fig-equity") + note + "</p>"


def _monthly_section(kpis: dict[str, Any]) -> str:
    monthly = kpis.get("monthly_returns") or {}
    if not monthly:
        return "<h2>Monthly returns</h2><p class='note'>No months.</p>"
    vals = [float(v or 0.0) * 100 for v in monthly.values()]
    colours = ["#137333" if v >= 0 else "#b00020" for v in vals]
    text = [f"{v:.2f} %" for v in vals]
    fig = go.Figure(go.Bar(x=list(monthly), y=vals, marker_color=colours, text=text))
    fig.update_layout(height=360, title_text="Monthly net P&L (% of capital)")
    fig.update_xaxes(type="category")
    fig.update_yaxes(ticksuffix=" %")
    return "<h2>Monthly returns</h2>" + _figure_html(fig, "fig-monthly")


def select_trades(trades: pd.DataFrame, tz: str, k: int = PICK) -> list[int]:
    """Row positions of the charted trades: k best and k worst pnl_net, k last exits (stable
    ties by file order), de-duplicated, ordered by entry time."""
    if trades.empty:
        return []
    pnl = pd.to_numeric(trades["pnl_net"], errors="coerce").to_numpy(dtype=float)
    pos = np.arange(len(trades))
    best = pos[np.argsort(-pnl, kind="stable")][:k]
    worst = pos[np.argsort(pnl, kind="stable")][:k]
    exits = _naive(trades["exit_ts"], tz).to_numpy()
    recent = pos[np.argsort(exits, kind="stable")][::-1][:k]
    chosen = sorted({int(i) for i in (*best, *worst, *recent)})
    entries = _naive(trades["entry_ts"], tz).to_numpy()
    return sorted(chosen, key=lambda i: (entries[i], i))


def _trade_figure(
    tr: pd.Series, bars: pd.DataFrame, fills: pd.DataFrame, stops: list[dict[str, Any]], tz: str
) -> go.Figure:
    entry, exit_ = _naive([tr["entry_ts"], tr["exit_ts"]], tz).tolist()
    w = bars[(bars["_t"] >= entry - TRADE_PAD) & (bars["_t"] <= exit_ + TRADE_PAD)]
    fig = go.Figure(
        go.Candlestick(x=_x(w["_t"]), open=w["open"], high=w["high"], low=w["low"],
                       close=w["close"], name="underlying")
    )  # fmt: skip
    what = f"{tr['side']} {_s(tr.get('right'))} {_s(tr.get('strike'))}".strip()
    symbol = "triangle-up" if str(tr["side"]).lower() == "long" else "triangle-down"
    fig.add_scatter(
        x=_x([entry]), y=[tr["entry_underlying"]], mode="markers", name="entry",
        text=[_esc(f"entry {what} @ {_s(tr.get('entry_price'))}")],
        marker={"symbol": symbol, "size": 14, "color": "#1f6feb", "line_width": 1},
    )  # fmt: skip
    if stops:
        xs = [max(t, entry) for t in _naive([s["ts"] for s in stops], tz)]
        ys = [float(s["level"]) for s in stops]
        text = [_esc(s.get("reason", "")) for s in stops]
    else:
        xs, ys, text = [entry], [float(tr["stop_initial"])], ["initial (trades.csv)"]
    fig.add_scatter(
        x=_x([*xs, exit_]), y=[*ys, ys[-1]], mode="lines+markers", line_shape="hv", name="stop",
        text=[*text, ""], line={"color": "#b00020", "width": 2}, marker_size=5,
    )  # fmt: skip
    for name, dash in (("t1", "dash"), ("t2", "dot")):
        level = pd.to_numeric(tr.get(name), errors="coerce")
        if pd.notna(level):
            fig.add_scatter(
                x=_x([entry, exit_]), y=[level, level], mode="lines", name=name.upper(),
                line={"color": "#137333", "dash": dash, "width": 1.5},
            )  # fmt: skip
    if not fills.empty:
        under = pd.to_numeric(fills["underlying"], errors="coerce").fillna(tr["exit_underlying"])
        legs = zip(fills["action"], fills["qty"], fills["price"], fills["tag"], strict=True)
        fig.add_scatter(
            x=_x(_naive(fills["ts"], tz)), y=under, mode="markers", name="exit",
            text=[_esc(f"{_s(a)} {_s(q)} @ {_s(p)} ({_s(t)})") for a, q, p, t in legs],
            marker={"symbol": "x", "size": 12, "color": "black"},
        )  # fmt: skip
    pnl = _fmt(tr["pnl_net"], "inr")
    title = f"#{tr['trade_id']} {what} · {tr['exit_reason']} · net {pnl}"
    fig.update_layout(height=420, title_text=_esc(title), xaxis_rangeslider_visible=False)
    fig.update_yaxes(title_text="underlying")
    return fig


def _trades_section(
    trades: Frame, fills: Frame, stops: list[Any], bars: Frame | None, tz: str
) -> str:
    head = "<h2>Selected trades</h2>"
    if bars is None:
        return head + "<p class='note'>No bars were passed: per-trade charts are skipped.</p>"
    chosen = select_trades(trades, tz)
    if not chosen:
        return head + "<p class='note'>No trades.</p>"
    bars = bars.assign(_t=_naive(bars["timestamp"], tz).to_numpy())
    trades = trades.astype({"trade_id": str})
    fills = fills.astype({"trade_id": str})
    executed = fills[(fills["action"].astype(str) != "rejected") & fills["price"].notna()]
    by_trade: dict[str, list[dict[str, Any]]] = {}
    for ev in sorted(stops, key=lambda e: e.get("seq", 0)):
        by_trade.setdefault(str(ev.get("trade_id")), []).append(ev)
    parts = [
        head,
        f"<p class='note'>{len(chosen)} of {len(trades)} trades: the {PICK} best and {PICK} worst "
        f"by net P&L and the {PICK} that exited last, in order of entry; bars from "
        f"{TRADE_PAD.seconds // 60} minutes before entry to as long after exit.</p>",
    ]
    for n, i in enumerate(chosen):
        tr = trades.iloc[i]
        tid = str(tr["trade_id"])
        legs = executed[(executed["trade_id"] == tid) & (pd.to_numeric(executed["leg"]) > 0)]
        fig = _trade_figure(tr, bars, legs, by_trade.get(tid, []), tz)
        parts.append(_figure_html(fig, f"fig-trade-{n}"))
    return "".join(parts)


def write_report(
    run_dir: Path, *, bars: pd.DataFrame | None = None, title: str = "dyntrail backtest"
) -> Path:
    """Write ``run_dir/report.html`` from the run folder's files and return its path.

    Reads trades.csv, fills.csv, equity.csv, kpis.json, config.toml and journal.jsonl (the
    journal is optional). ``bars`` (timestamp, open, high, low, close of the underlying; naive
    timestamps are exchange time) enables the per-trade charts. Raises ``DataError`` or
    ``ConfigError`` naming the file when a required file is missing or unreadable.
    """
    run_dir = Path(run_dir)
    trades = _read_csv(run_dir / "trades.csv", TRADE_COLS)
    fills = _read_csv(run_dir / "fills.csv", FILL_COLS)
    equity = _read_csv(run_dir / "equity.csv", ("timestamp", "equity"))
    kpi_path = run_dir / "kpis.json"
    try:
        kpis = json.loads(kpi_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{kpi_path}: missing or not readable JSON: {exc}") from exc
    if not isinstance(kpis, dict):
        raise DataError(f"{kpi_path}: expected a JSON object")
    cfg_path = run_dir / "config.toml"
    if not cfg_path.is_file():
        raise ConfigError(f"{cfg_path}: file not found")
    cfg = load_config(cfg_path)
    stops, warnings = _read_journal(run_dir / "journal.jsonl")
    tz, capital = cfg.session.timezone, float(cfg.account.capital_inr)

    if "trades" in kpis and kpis["trades"] != len(trades):
        warnings.append(f"kpis.json counts {kpis['trades']} trades, trades.csv has {len(trades)}")
    if kpis.get("capital") not in (None, capital):
        warnings.append(f"kpis.json capital {kpis['capital']} differs from config.toml's {capital}")
    net = float(pd.to_numeric(trades["pnl_net"]).sum())
    if isinstance(kpis.get("net_pnl"), int | float) and abs(kpis["net_pnl"] - net) > 0.005:
        warnings.append(f"kpis.json net_pnl {kpis['net_pnl']} differs from trades.csv's {net}")

    period = f"{kpis.get('data_start', '?')} to {kpis.get('data_end', '?')}"
    months = kpis.get("months")
    header = (
        f"<h1>{_esc(title)}</h1><p>Strategy <b>{_esc(cfg.strategy.name)}</b> on "
        f"<b>{_esc(cfg.instrument.name)}</b> · period <b>{_esc(period)}</b>"
        + (f" ({months:.2f} months)" if isinstance(months, int | float) else "")
        + f" · capital <b>{_esc(_fmt(capital, 'inr'))}</b> · times in {_esc(tz)}</p>"
    )
    run_warnings = kpis.get("warnings")
    warnings += [str(w) for w in run_warnings] if isinstance(run_warnings, list) else []
    warn_html = "".join(f"<p class='warn'>{_esc(w)}</p>" for w in warnings)
    body = "".join([
        header, warn_html, _kpi_section(kpis), _costs_section(kpis), _checks_section(kpis),
        _acceptance_section(kpis, cfg),
        _equity_section(equity, capital, cfg), _monthly_section(kpis), _breakdown_section(kpis),
        _trades_section(trades, fills, stops, bars, tz),
        "<p class='note'>Numbers are rounded for display; kpis.json holds full precision. "
        "Formulas: dyntrail.analytics.kpis.</p>",
    ])  # fmt: skip
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>\n'
        f"<body>{body}</body></html>\n"
    )
    out = run_dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
