"""One self-contained ``report.html`` for a run folder.

The page opens with no network: plotly.js is inlined once in ``<head>``, every figure is a div
with a fixed id (``fig-equity``, ``fig-monthly``; the trade chart ``trade-chart`` is drawn on
demand) and there are no external
scripts, stylesheets or fonts. All text is HTML-escaped. The same inputs give the same bytes (no
"generated at" stamp, no random ids). Displayed numbers are rounded for reading; ``kpis.json``
keeps full precision. Times are shown in the exchange timezone (``[session] timezone``).

Trades: a sortable table of every trade; a click on a row draws its chart (see
``report_trades``). The bars come from ``bars`` when the caller has them, else from the data
folder the journal's header names, so a report rewritten later has the same content.
"""

from __future__ import annotations

import datetime as dt
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
from dyntrail.analytics.report_backstop import KINDS as BACKSTOP_KINDS
from dyntrail.analytics.report_backstop import backstop_section
from dyntrail.analytics.report_trades import TABLE_CSS, load_bars, read_header, trades_section
from dyntrail.core.config import Config
from dyntrail.core.config_load import load_config
from dyntrail.errors import ConfigError, DataError

Frame: TypeAlias = pd.DataFrame
MAX_EQUITY_POINTS = 5000
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
CSS += TABLE_CSS
# (key, label, format for _fmt)
KPI_ROWS = (
    ("trades", "Trades", "int"), ("net_pnl", "Net P&L", "inr"),
    ("gross_pnl", "Gross P&L", "inr"), ("total_costs", "Costs", "inr"),
    ("return_pct", "Net P&L / capital", "pct"), ("profit_factor", "Profit factor (net)", "num"),
    ("sharpe", "Sharpe (daily, ×√252)", "num"), ("sortino", "Sortino (daily, ×√252)", "num"),
    ("calmar", "Calmar", "num"),
    ("max_drawdown_pct", "Max drawdown / capital (intraday marks vs running peak)", "pct"),
    ("max_drawdown_close_pct", "Max drawdown / capital (close to close)", "pct"),
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


# breakdowns shown only when kpis.json has them (key, label)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
OPTIONAL_BREAKDOWNS = {
    "by_side_label": "Trade (BUY CE bullish / BUY PE bearish)", "by_entry_hour": "Entry hour",
    "by_days_to_expiry": "Days to expiry (at entry)", "by_stop_kind": "Stop kind (stop exits)",
}  # fmt: skip

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


_READ = (
    '"stop_moved"',
    '"protection_engaged"',
    '"protection_released"',
    *(f'"{k}"' for k in BACKSTOP_KINDS),
)


def _read_journal(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """The journal's stop_moved events, its protection events and warnings (unreadable lines
    are skipped and reported)."""
    if not path.is_file():
        return [], [], [f"{path.name} not found: stops are drawn from stop_initial only"]
    stops: list[dict[str, Any]] = []
    guards: list[dict[str, Any]] = []
    bad: list[int] = []
    with path.open(encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not any(k in line for k in _READ):
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                bad.append(no)
                continue
            if not isinstance(ev, dict):
                continue
            if ev.get("kind") == "stop_moved":
                stops.append(ev)
            elif (
                str(ev.get("kind", "")).startswith("protection_")
                or ev.get("kind") in BACKSTOP_KINDS
            ):
                guards.append(ev)
    warn = [f"{path.name}: {len(bad)} unreadable line(s) skipped (first: {bad[0]})"] if bad else []
    return stops, guards, warn


def _protections_section(events: list[dict[str, Any]], cfg: Config) -> str:
    """How often each protection held entries back, and for how long (minutes, from each
    engage to its release)."""
    events = [ev for ev in events if str(ev.get("kind", "")).startswith("protection_")]
    if not events and not cfg.protections.enabled:
        return ""
    held: dict[str, list[float]] = {}
    since: dict[str, dt.datetime] = {}
    for ev in events:
        rule, at = str(ev["rule"]), dt.datetime.fromisoformat(str(ev["ts"]))
        if ev["kind"] == "protection_engaged":
            held.setdefault(rule, [])
            since.setdefault(rule, at)
        elif rule in since:
            held[rule].append((at - since.pop(rule)).total_seconds() / 60.0)
    if not held:
        return "<h2>Protections</h2><p class='note'>No protection engaged.</p>"
    rows = [
        [(rule, ""), (_fmt(len(spans) + (rule in since), "int"), "n"),
         (_fmt(sum(spans), "num"), "n")]
        for rule, spans in sorted(held.items())
    ]  # fmt: skip
    return "<h2>Protections</h2>" + _table(["rule", "times engaged", "minutes held"], rows)


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
    for key, label in {**labels, "by_weekday": "Weekday (of entry)", **OPTIONAL_BREAKDOWNS}.items():
        groups = kpis.get(key)
        if key in OPTIONAL_BREAKDOWNS and not isinstance(groups, dict):
            continue  # a measure this run's kpis.json does not have
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


def _drawdown_note(kpis: dict[str, Any]) -> str:
    """Which drawdown the chart shows, and the close-to-close one when kpis.json has it."""
    text = (
        "The drawdown drawn is every equity mark (intraday, open positions at their marks) "
        "against the running peak."
    )
    close = kpis.get("max_drawdown_close_pct")
    if isinstance(close, int | float) and math.isfinite(close):
        text += f" Close to close (day-end equity only) the largest is {_fmt(close, 'pct')}."
    return f"<p class='note'>{_esc(text)}</p>"


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
    fig.update_yaxes(title_text="equity (₹)", tickformat=",.0f", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", ticksuffix=" %", tickformat=",.2f", row=2, col=1)
    opens = cfg.session.open.hour + cfg.session.open.minute / 60
    closes = cfg.session.close.hour + cfg.session.close.minute / 60
    breaks: list[dict[str, Any]] = [{"bounds": ["sat", "mon"]}]
    if opens < closes:  # hide the nights (5 minutes of margin on either side)
        breaks.append({"bounds": [closes + 5 / 60, opens - 5 / 60], "pattern": "hour"})
    fig.update_xaxes(rangebreaks=breaks)
    title = "Equity and drawdown (intraday marks against the running peak)"
    fig.update_layout(height=520, title_text=title, showlegend=False)
    note = "<p class='note'>Nights and weekends are cut from the time axis."
    if len(idx) < len(values):
        note += (
            f" {len(idx):,} of {len(values):,} equity marks drawn (each segment keeps its first,"
            " lowest, highest and deepest-drawdown mark)."
        )
    return "<h2>Equity and drawdown</h2>" + _figure_html(fig, "fig-equity") + note + "</p>"


def monthly_grid(kpis: dict[str, Any]) -> tuple[list[str], list[str], list[list[float | None]]]:
    """Years, month names and returns (fractions; None for a month without data) for the heatmap:
    kpis.json's ``monthly_heatmap`` when present, else built from ``monthly_returns``
    ("YYYY-MM" keys)."""
    grid = kpis.get("monthly_heatmap")
    if isinstance(grid, dict) and {"years", "months", "values"} <= grid.keys():
        return [str(y) for y in grid["years"]], [str(m) for m in grid["months"]], grid["values"]
    monthly = kpis.get("monthly_returns") or {}
    years = sorted({str(k)[:4] for k in monthly})
    values: list[list[float | None]] = [[None] * 12 for _ in years]
    for key, v in monthly.items():
        year, month = str(key)[:4], int(str(key)[5:7])
        values[years.index(year)][month - 1] = None if v is None else float(v)
    return years, list(MONTHS), values


def _monthly_section(kpis: dict[str, Any]) -> str:
    years, months, values = monthly_grid(kpis)
    if not years:
        return "<h2>Monthly returns</h2><p class='note'>No months.</p>"
    z = [[None if v is None else round(float(v) * 100, 4) for v in row] for row in values]
    text = [["" if v is None else f"{v:.2f} %" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=months, y=years, text=text, texttemplate="%{text}", zmid=0,
            colorscale=[[0, "#b00020"], [0.5, "#ffffff"], [1, "#137333"]],
            colorbar={"ticksuffix": " %"}, hovertemplate="%{y} %{x}: %{text}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(height=160 + 40 * len(years), title_text="Monthly net P&L (% of capital)")
    fig.update_xaxes(type="category", side="top")
    fig.update_yaxes(type="category", autorange="reversed")
    return "<h2>Monthly returns</h2>" + _figure_html(fig, "fig-monthly")


def write_report(
    run_dir: Path, *, bars: pd.DataFrame | None = None, title: str | None = None
) -> Path:
    """Write ``run_dir/report.html`` from the run folder's files and return its path.

    Reads trades.csv, fills.csv, equity.csv, kpis.json, config.toml and journal.jsonl (the
    journal is optional). ``bars`` (timestamp, open, high, low, close of the underlying; naive
    timestamps are exchange time) feed the trade charts; without them the bars are loaded from
    the data folder the journal's header names (the page says why when they cannot be). The
    title follows the header's mode unless given. Raises ``DataError`` or ``ConfigError`` naming
    the file when a required file is missing or unreadable.
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
    stops, guards, warnings = _read_journal(run_dir / "journal.jsonl")
    tz, capital = cfg.session.timezone, float(cfg.account.capital_inr)
    head, why = read_header(run_dir), ""
    if title is None:  # the same page whoever writes it (the run, or `dyntrail report` later)
        paper = head is not None and head.get("mode") == "paper"
        title = "dyntrail paper session" if paper else "dyntrail backtest"
    if bars is None:
        bars, why = load_bars(head, cfg)

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
        _equity_section(equity, capital, cfg), _drawdown_note(kpis), _monthly_section(kpis),
        _breakdown_section(kpis), _protections_section(guards, cfg),
        backstop_section(guards, fills, cfg, _table),
        trades_section(trades, fills, stops, bars, why, tz),
        "<p class='note'>Numbers are rounded for display; kpis.json holds full precision. "
        "Formulas: dyntrail.analytics.kpis.</p>",
    ])  # fmt: skip
    top = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style>"
        '<script type="text/javascript">'
    )
    out = run_dir / "report.html"
    with out.open("w", encoding="utf-8") as fh:  # in parts: the page is megabytes, never copied
        for part in (top, get_plotlyjs(), "</script></head>\n<body>", body, "</body></html>\n"):
            fh.write(part)
    return out
