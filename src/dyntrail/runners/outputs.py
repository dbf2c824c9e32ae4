"""Run-folder outputs: CSV writers and the projection of a journal into trades, fills and equity.

A paper session's outputs are derived from its journal, the record that survives a crash: a
fill is counted once per fill id, a trade once per trade id, an equity mark once per timestamp
(the last one written wins), whatever a restart wrote twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dyntrail.core.config import Config
from dyntrail.core.decimals import round_places
from dyntrail.core.events import Equity, Fill, OrderRejected, PositionClosed
from dyntrail.engine.ports import Route
from dyntrail.trade import FILL_COLUMNS, TRADE_COLUMNS, flags_of

if TYPE_CHECKING:
    import pandas as pd

EQUITY_COLUMNS = ("timestamp", "equity", "realized", "unrealized", "drawdown_pct")


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        _write_rows(fh, columns, rows)


def _write_rows(fh: IO[str], columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)


def csv_frame(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a reader of the CSV file ``write_csv`` would write gets them
    (``pandas.read_csv``: the same columns, types and missing values), without a file."""
    import pandas as pd

    buf = io.StringIO()
    _write_rows(buf, columns, rows)
    buf.seek(0)
    return pd.read_csv(buf)


class EquityCurve:
    """Collects equity marks with the running drawdown (of capital)."""

    def __init__(self, capital: float) -> None:
        self.capital = capital
        self.peak = capital
        self.rows: list[dict[str, Any]] = []

    def add(self, ts: str, equity: float, realized: float, unrealized: float) -> None:
        self.peak = max(self.peak, equity)
        self.rows.append(
            {
                "timestamp": ts,
                "equity": round(equity, 2),
                "realized": round(realized, 2),
                "unrealized": round(unrealized, 2),
                "drawdown_pct": round((self.peak - equity) / self.capital, 6),
            }
        )

    def add_mark(self, ev: Equity) -> None:
        """``add`` of an ``Equity`` event (``add_rounded`` of its values)."""
        self.add_rounded(ev.ts, ev.equity, ev.realized, ev.unrealized)

    def add_rounded(
        self, ts: str | None, equity: float, realized: float, unrealized: float
    ) -> None:
        """``add`` of amounts rounded to the paisa already (a second rounding would change
        nothing): the row without it. Once per bar in a position."""
        if equity > self.peak:  # max(), without the call
            self.peak = equity
        self.rows.append(
            {
                "timestamp": ts,
                "equity": equity,
                "realized": realized,
                "unrealized": unrealized,
                "drawdown_pct": round_places((self.peak - equity) / self.capital, 6),
            }
        )


class RowSink:
    """The run's tables as the engine's events arrive (a backtest's, kept in memory): a
    ``trades.csv`` row per closed trade, a ``fills.csv`` row per fill or rejection, and the
    equity curve."""

    def __init__(self, capital: float) -> None:
        self.trades: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self.curve = EquityCurve(capital)

    def routes(self) -> list[Route]:
        return [
            Route(self._closed, only=frozenset({PositionClosed})),
            Route(self._fill, only=frozenset({Fill, OrderRejected})),
            Route(
                self.curve.add_mark,
                only=frozenset({Equity}),
                equity_values=self.curve.add_rounded,
            ),
        ]

    def _closed(self, ev: PositionClosed) -> None:
        self.trades.append(ev.row)

    def _fill(self, ev: Fill | OrderRejected) -> None:
        self.fills.append(ev.row())


def project_journal(
    events: list[dict[str, Any]], capital: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(trades, fills, equity) rows from a journal's events (see the module docstring)."""
    fills: dict[str, dict[str, Any]] = {}
    rejects: dict[str, dict[str, Any]] = {}
    trades: dict[int, dict[str, Any]] = {}
    marks: dict[str, tuple[float, float, float]] = {}
    for ev in events:
        kind = ev["kind"]
        if kind == "fill":
            row = {k: ev.get(k, "") for k in FILL_COLUMNS}
            row["ts"] = ev["ts"]
            fills.setdefault(ev["fill_id"], row)
        elif kind == "order_rejected":
            row = {k: ev.get(k, "") for k in FILL_COLUMNS}
            row["ts"] = ev["ts"]
            rejects.setdefault(ev["tag"], row)
        elif kind == "position_closed":
            trades[ev["trade_id"]] = ev["row"]
        elif kind == "equity":
            marks[ev["ts"]] = (ev["equity"], ev["realized"], ev["unrealized"])
    curve = EquityCurve(capital)
    for ts in sorted(marks, key=_instant):
        curve.add(ts, *marks[ts])
    fill_rows = sorted(
        [*fills.values(), *rejects.values()], key=lambda r: (_instant(str(r["ts"])), str(r["tag"]))
    )
    return [trades[k] for k in sorted(trades)], fill_rows, curve.rows


def _instant(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts)


@dataclass(frozen=True, slots=True)
class RunSpan:
    """What the KPIs need to know of a run besides its tables."""

    first: dt.date
    last: dt.date
    days: list[dt.date]
    bars_total: int
    bars_in_position: int
    bar_minutes: int = 1


def run_tables(
    cfg: Config,
    trades: list[dict[str, Any]],
    fills: list[dict[str, Any]],
    equity: list[dict[str, Any]],
    span: RunSpan,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``trades``, ``fills`` and ``equity`` as frames equal to a run folder's CSV files read
    back, written nowhere (the equity curve starts at the first open, as ``equity.csv``)."""
    return (
        csv_frame(TRADE_COLUMNS, trades),
        csv_frame(FILL_COLUMNS, fills),
        csv_frame(EQUITY_COLUMNS, _from_start(equity, cfg, span.days or [span.first])),
    )


def run_kpis(
    cfg: Config,
    trades: pd.DataFrame,
    fills: pd.DataFrame,
    equity: pd.DataFrame,
    span: RunSpan,
) -> dict[str, Any]:
    """The KPIs of a run's tables as ``kpis.json`` holds them: the figures, the run's own
    checks (``checks``) and what a person must not miss (``warnings``)."""
    from dyntrail.analytics.checks import run_checks
    from dyntrail.analytics.kpis import compute_kpis

    kpis = compute_kpis(
        trades,
        fills,
        equity,
        capital=cfg.account.capital_inr,
        data_start=span.first,
        data_end=span.last,
        trading_days=span.days,
        bars_total=span.bars_total,
        bars_in_position=span.bars_in_position,
    )
    checks = run_checks(
        trades,
        fills,
        flatten=cfg.strategy.time.flatten,
        session_close=cfg.session.close,
        bar_minutes=span.bar_minutes,
        tz=cfg.session.timezone,
    )
    kpis["checks"] = checks
    kpis["warnings"] = run_warnings(trades, checks)
    return kpis


def write_run(
    out_dir: Path,
    cfg: Config,
    trades: list[dict[str, Any]],
    fills: list[dict[str, Any]],
    equity: list[dict[str, Any]],
    *,
    first: dt.date,
    last: dt.date,
    days: list[dt.date],
    bars_total: int,
    bars_in_position: int,
    bar_minutes: int = 1,
) -> dict[str, Any]:
    """Write ``trades.csv``, ``fills.csv`` and ``equity.csv``, compute the KPIs from the files
    as written (what a user reads is what is measured) and write ``kpis.json``."""
    import pandas as pd

    write_csv(out_dir / "trades.csv", TRADE_COLUMNS, trades)
    write_csv(out_dir / "fills.csv", FILL_COLUMNS, fills)
    write_csv(out_dir / "equity.csv", EQUITY_COLUMNS, _from_start(equity, cfg, days or [first]))
    span = RunSpan(first, last, days, bars_total, bars_in_position, bar_minutes)
    trades_df, fills_df = pd.read_csv(out_dir / "trades.csv"), pd.read_csv(out_dir / "fills.csv")
    kpis = run_kpis(cfg, trades_df, fills_df, pd.read_csv(out_dir / "equity.csv"), span)
    (out_dir / "kpis.json").write_text(
        json.dumps(kpis, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return kpis


def _from_start(
    rows: list[dict[str, Any]], cfg: Config, days: list[dt.date]
) -> list[dict[str, Any]]:
    """The equity curve starts at the first session's open with the starting capital."""
    tz = ZoneInfo(cfg.session.timezone)
    start = dt.datetime.combine(min(days), cfg.session.open, tzinfo=tz)
    if rows and _instant(str(rows[0]["timestamp"])) <= start:
        return rows
    capital = round(cfg.account.capital_inr, 2)
    first = {
        "timestamp": start.isoformat(),
        "equity": capital,
        "realized": 0.0,
        "unrealized": 0.0,
        "drawdown_pct": 0.0,
    }
    return [first, *rows]


def run_warnings(trades: Any, checks: dict[str, dict[str, Any]]) -> list[str]:
    """What a person must not miss in a run: flatten failures and failed checks."""
    out: list[str] = []
    flagged = (
        [(int(t), flags_of(c)) for t, c in zip(trades["trade_id"], trades["flags"], strict=True)]
        if "flags" in trades
        else []
    )
    failed = [t for t, f in flagged if "flatten_failed" in f]
    if failed:
        settled = sum("settled" in f for _, f in flagged)
        carried = sum("carried" in f and "settled" not in f for _, f in flagged)
        ids = ", ".join(map(str, failed[:10])) + (" ..." if len(failed) > 10 else "")
        out.append(
            f"flatten failed for {len(failed)} trade(s) (nothing to sell into at the close): "
            f"{carried} exited at the next open, {settled} settled at expiry; trades {ids}"
        )
    stale = [t for t, f in flagged if "no_expiry_bars" in f]
    if stale:
        out.append(
            f"the data has no bar on the expiry day of trade(s) {', '.join(map(str, stale))}: "
            "settled against the last close before it"
        )
    for name, c in checks.items():
        if not c["ok"]:
            out.append(f"check {name} failed: {c['failures'][:5]}")
    return out
