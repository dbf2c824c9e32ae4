"""The KPI table printed at the end of a backtest."""

from __future__ import annotations

from typing import Any

from rich.table import Table

# (key, label, format): pct values are fractions in kpis.json and shown as percentages here.
# Drawdowns are of capital: against the running peak of every equity mark, or of daily closes.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("months", "months of data", "{:.1f}"),
    ("trades", "trades", "{:d}"),
    ("trades_per_day", "trades per day", "{:.2f}"),
    ("net_pnl", "net PnL (INR)", "{:,.2f}"),
    ("total_costs", "costs (INR)", "{:,.2f}"),
    ("return_pct", "return on capital", "pct"),
    ("profit_factor", "profit factor", "{:.2f}"),
    ("sharpe", "Sharpe (daily, annualised)", "{:.2f}"),
    ("sortino", "Sortino (daily, annualised)", "{:.2f}"),
    ("calmar", "Calmar (annual return / intraday drawdown)", "{:.2f}"),
    ("max_drawdown_pct", "max drawdown (intraday marks)", "pct"),
    ("max_drawdown_close_pct", "max drawdown (daily closes)", "pct"),
    ("longest_drawdown_days", "longest drawdown (calendar days)", "{:d}"),
    ("time_to_recover_days", "deepest drawdown: days to recover", "{:d}"),
    ("win_rate", "win rate", "pct"),
    ("max_win_streak", "longest winning streak (trades)", "{:d}"),
    ("max_loss_streak", "longest losing streak (trades)", "{:d}"),
    ("expectancy_inr", "expectancy per trade (INR)", "{:,.2f}"),
    ("expectancy_r", "expectancy per trade (R)", "{:.3f}"),
    ("avg_slippage_pct", "avg slippage (of premium)", "pct3"),
    ("exposure_pct", "time in a position", "pct"),
    ("p95_ack_ms", "p95 order ack (ms)", "{:.0f}"),
    ("reject_ratio", "reject ratio", "pct"),
)
# kpis.json's costs_breakdown, shown under the costs row.
COST_LABELS = {"brokerage": "brokerage", "stt": "STT", "exchange": "exchange txn",
               "sebi": "SEBI fee", "ipft": "IPFT", "stamp": "stamp duty", "gst": "GST"}  # fmt: skip


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "n/a"
    if fmt == "pct":
        return f"{100 * value:.2f} %"
    if fmt == "pct3":
        return f"{100 * value:.3f} %"
    if fmt == "{:d}":
        return f"{int(value):d}"
    return fmt.format(value)


def kpi_table(kpis: dict[str, Any], title: str = "backtest KPIs") -> Table:
    """A two-column table of the headline KPIs (missing ones are left out, None is n/a)."""
    table = Table(title=title)
    table.add_column("KPI")
    table.add_column("value", justify="right")
    for key, label, fmt in ROWS:
        if key == "time_to_recover_days" and kpis.get(key) is None and kpis.get("max_drawdown_pct"):
            table.add_row(label, "not recovered")
        elif key in kpis:
            table.add_row(label, _fmt(kpis[key], fmt))
        if key == "total_costs":
            _cost_rows(table, kpis.get("costs_breakdown"))
    failed = kpis.get("flatten_failures") or 0
    if failed:  # a warning a person must not miss: positions left open at a session's close
        table.add_row(
            "[yellow]flatten failures[/yellow]",
            f"[yellow]{int(failed)} (carried or settled, see trades.csv flags)[/yellow]",
        )
    return table


def _cost_rows(table: Table, breakdown: Any) -> None:
    """One indented row per cost component (none when the run did not record them)."""
    if not isinstance(breakdown, dict):
        return
    for part, label in COST_LABELS.items():
        if part in breakdown:
            table.add_row(f"  {label}", _fmt(breakdown[part], "{:,.2f}"))
