"""Key performance indicators of a run, the acceptance gate and ``dyntrail accept``.

Conventions (they hold for every KPI below):

- Money is INR. Every ``*_pct`` value is a fraction (0.05 means 5 %), like ``drawdown_pct`` in
  ``equity.csv`` and the ``[acceptance]`` thresholds.
- A trade is a winner when ``pnl_net > 0`` and a loser when ``pnl_net < 0``; a trade at exactly
  zero is neither but counts in ``trades`` (so it lowers ``win_rate``).
- A trade belongs to the calendar day (and month) of its ``exit_ts`` in the exchange timezone
  (``tz``, IST by default); ``by_weekday`` uses the weekday of its ``entry_ts``. Naive timestamps
  are read in that timezone.
- Values are plain Python floats at full precision (nothing is rounded; JSON keeps them as they
  are). A value that is undefined is ``None`` (JSON ``null``), never NaN or infinity.
- Profit factor, everywhere: ``gross_profit / gross_loss`` with ``gross_profit`` the sum of the
  winners' ``pnl_net`` and ``gross_loss`` minus the sum of the losers'. With no losing trade it
  is ``None``: infinite when there are winners (``gross_loss == 0 < gross_profit``; the
  acceptance check passes it and says so), undefined with no winner either.
- Missing or NaN values in the money columns (``pnl_net``, ``pnl_gross``, ``costs``), in
  ``equity`` or in an executed fill's ``slippage_pct`` raise ``DataError``: a sum that silently
  skipped them would be wrong.
- ``costs_breakdown`` is ``None`` when fills.csv has no per-component cost columns (a run from
  before they existed) or when they are empty on every row; a row whose ``cost_*`` values are
  missing while its ``costs`` is not zero, or do not add up to its ``costs``, raises ``DataError``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dyntrail.analytics import measures as ms
from dyntrail.analytics.measures import months_between
from dyntrail.core.config import AcceptanceSection
from dyntrail.core.config_load import load_config
from dyntrail.core.costs import PARTS as COST_PARTS
from dyntrail.errors import ConfigError, DataError
from dyntrail.trade import flags_of

IST = "Asia/Kolkata"
TRADING_DAYS_PER_YEAR = ms.TRADING_DAYS_PER_YEAR
VIX_TIER_ORDER = ("low", "normal", "reduced", "high")
EXIT_REASON_ORDER: tuple[str, ...] = ("exit_stop", "exit_target1", "exit_target2", "exit_time")
EXIT_REASON_ORDER += ("exit_eod", "exit_breaker", "exit_risk", "exit_kill", "exit_forced")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
REQUIRED_KPIS = ("profit_factor", "sharpe", "max_drawdown_pct", "avg_slippage_pct", "months")


def parse_ts(values: Iterable[Any], tz: str = IST) -> pd.Series:
    """Parse timestamps (ISO 8601 strings or datetimes) to tz-aware ``tz``; naive ones are in it."""
    if isinstance(values, pd.Series) and pd.api.types.is_datetime64_any_dtype(values):
        aware = getattr(values.dt, "tz", None) is not None
        return values.dt.tz_convert(tz) if aware else values.dt.tz_localize(tz)
    s = pd.Series(list(values), dtype=object)
    if s.empty:
        return pd.Series(pd.DatetimeIndex([], tz=tz))
    if s.isna().any():
        raise DataError(f"missing timestamp in row {int(np.flatnonzero(s.isna())[0])}")
    strs = s.map(lambda v: v.isoformat() if isinstance(v, dt.datetime) else str(v))
    aware = strs.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    try:
        if aware.all():
            return pd.to_datetime(strs, utc=True, format="ISO8601").dt.tz_convert(tz)
        if not aware.any():
            return pd.to_datetime(strs, format="ISO8601").dt.tz_localize(tz)
    except (ValueError, TypeError) as exc:
        raise DataError(f"unreadable timestamp: {exc}") from exc
    raise DataError("timestamps mix values with and without a UTC offset")


def _num(df: pd.DataFrame, col: str, what: str, *, allow_nan: bool = False) -> pd.Series:
    """Column ``col`` as floats; a missing column in a non-empty frame or a NaN raises."""
    if col not in df.columns:
        if df.empty:
            return pd.Series([], dtype=float)
        raise DataError(f"{what}: missing column '{col}'")
    s = pd.to_numeric(df[col], errors="coerce").astype(float)
    if not allow_nan and s.isna().any():
        bad = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise DataError(f"{what}: column '{col}' row {bad}: missing or non-numeric value")
    return s


def _f(x: Any) -> float | None:
    """A finite Python float, or None."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _jsonable(obj: Any) -> Any:
    """Recursively turn numpy/pandas scalars into Python ones and NaN/inf into None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return _f(obj)
    return obj


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _flagged(trades: pd.DataFrame, flag: str) -> int:
    """Trades whose ``flags`` (";"-joined) hold ``flag``; 0 for files without the column."""
    if "flags" not in trades.columns or trades.empty:
        return 0
    return sum(flag in flags_of(cell) for cell in trades["flags"])


def _as_date(d: Any) -> dt.date:
    ts = pd.Timestamp(d)
    return dt.date(ts.year, ts.month, ts.day)


def compute_kpis(
    trades: pd.DataFrame,
    fills: pd.DataFrame,
    equity: pd.DataFrame,
    *,
    capital: float,
    data_start: dt.date,
    data_end: dt.date,
    trading_days: list[dt.date] | int,
    bars_total: int | None = None,
    bars_in_position: int | None = None,
    tz: str = IST,
) -> dict[str, Any]:
    """The run's KPIs as a JSON-able dict (see the module docstring for the conventions).

    - ``trades``; ``net_pnl`` = Σ pnl_net; ``gross_pnl`` = Σ pnl_gross; ``total_costs`` = Σ costs;
      ``return_pct`` = net_pnl / capital; ``gross_profit``, ``gross_loss``, ``profit_factor``.
    - ``costs_breakdown``: brokerage, stt, exchange, sebi, ipft, stamp, gst → Σ of fills.csv's
      ``cost_<part>`` over every row (INR), or None (see the module docstring).
    - ``win_rate`` = winners / trades; ``avg_win`` = mean pnl_net of winners; ``avg_loss`` = mean
      pnl_net of losers (negative); ``largest_win`` / ``largest_loss`` = max / min pnl_net;
      ``expectancy_inr`` = mean pnl_net; ``expectancy_r`` = mean of the non-missing r_multiple.
      ``avg_r_win`` / ``avg_r_loss`` = mean r_multiple of winners / losers. Each is None with
      no trade (or no winner / loser / r_multiple).
    - ``max_win_streak`` / ``max_loss_streak``: the most consecutive winners / losers in exit
      time order (a zero trade ends both runs); 0 with none.
    - ``trading_days``: the days of the data = the given list (or count) united with the days
      on which trades exited. ``days_traded``: days with an exit. ``trades_per_day`` = trades /
      trading_days.
    - ``sharpe`` = mean(r) / std(r, ddof=1) · √252 with r_d = (Σ pnl_net exiting on day d) /
      capital for every trading day (0 on days without a trade; no compounding, no risk-free
      rate). None with fewer than 2 days or when every r_d is equal (zero std).
    - ``sortino`` = mean(r) / DD · √252 over the same r_d, DD = √(Σ_{r_d<0} r_d² / N) with N
      all trading days (downside deviation against 0). None with fewer than 2 days or no losing
      day.
    - ``max_drawdown_pct`` (intraday marks) = max over equity.csv rows (sorted by timestamp) of
      (peak − equity) / capital, where peak is the running maximum of equity starting from
      ``capital`` (the account's starting equity); ``max_drawdown_inr`` is the same in INR.
      ``max_drawdown_close_pct`` / ``_close_inr`` (close to close) = the same over each
      exchange day's closing equity (its last mark) only. None when equity.csv has no row.
    - ``calmar`` = mean(r) · 252 / max_drawdown_pct: the annualised return (simple, as for
      Sharpe) over the intraday-marks drawdown. None without a day or without a drawdown.
    - ``longest_drawdown_days``: calendar days from the mark that set a peak to the first later
      mark back at or above it (to the last mark if not recovered), the longest such span (0
      without a drawdown). ``time_to_recover_days``: calendar days from the trough of the deepest
      drawdown (first on a tie) to that recovery mark; None if it has not recovered, 0 without
      a drawdown. Both on the intraday marks. These three need equity.csv's ``timestamp``
      (None without it or without rows).
    - ``avg_slippage_pct`` = arithmetic mean of ``slippage_pct`` over executed fills (action not
      ``rejected`` and a price present; unweighted, favourable slippage counts negative);
      ``avg_slippage_inr`` likewise with ``slippage``. None without executed fills. An
      ``exit_settled`` row (the exchange's settlement at expiry) is not an order: it counts in
      neither slippage nor ``orders_sent``; ``settlements`` counts them.
    - ``flatten_failures``: trades flagged ``flatten_failed`` (still open at a session's close).
    - ``exposure_pct`` = bars_in_position / bars_total when both are given and bars_total > 0.
    - ``months`` = ``months_between(data_start, data_end)`` (inclusive range, calendar months).
    - ``orders_sent`` = rows of fills.csv (executed and rejected); ``orders_rejected`` = rows with
      action ``rejected``; ``reject_ratio`` = orders_rejected / orders_sent, None with no order.
      ``broker_acks`` = rows with a numeric ack_ms; ``p95_ack_ms`` = 95th percentile of those
      ack_ms (linear interpolation, numpy's default), None without any.
    - ``by_vix_tier``, ``by_exit_reason``, ``by_weekday``, ``by_entry_hour`` (hour of entry_ts,
      "09".."15"), ``by_days_to_expiry`` (calendar days from the entry date to ``expiry``: "0",
      "1", "2", "3", "4+"; trades without an expiry left out), ``by_stop_kind`` (``exit_stop``
      trades by ``stop_kind``: initial, break_even, trail), ``by_side_label`` ("BUY CE" / "BUY
      PE" from ``right``, "BUY FUT" / "SELL FUT" from ``side`` without one): per group trades,
      net_pnl, win_rate, profit_factor, gross_profit, gross_loss. A column missing from an older
      trades.csv leaves its breakdown empty ({}).
    - ``monthly_returns``: "YYYY-MM" → (Σ pnl_net exiting in that month) / capital, for every
      month from data_start to data_end (0.0 without trades) and any month with an exit.
      ``monthly_heatmap``: the same as {"years", "months" ("Jan".."Dec"), "values"}, one row
      per year, None for a month outside them.
    """
    if not capital > 0:
        raise ValueError(f"capital must be positive, got {capital}")
    start, end = _as_date(data_start), _as_date(data_end)
    months = months_between(start, end)
    trades = trades.reset_index(drop=True)
    pnl = _num(trades, "pnl_net", "trades")
    gross = _num(trades, "pnl_gross", "trades")
    costs = _num(trades, "costs", "trades")
    r_all = _num(trades, "r_multiple", "trades", allow_nan=True)
    r_mult = r_all.dropna()
    n = len(pnl)
    exit_ts = parse_ts(trades["exit_ts"], tz) if n else parse_ts([], tz)
    entry_ts = parse_ts(trades["entry_ts"], tz) if n else parse_ts([], tz)
    exit_day = pd.Series([t.date() for t in exit_ts], index=pnl.index, dtype=object)

    # Daily returns over every trading day (days without an exit return 0).
    by_day = pnl.groupby(exit_day).sum() if n else pd.Series(dtype=float)
    if isinstance(trading_days, int):
        n_days = max(trading_days, len(by_day))
    else:
        n_days = len({_as_date(d) for d in trading_days} | set(by_day.index))
    returns = np.concatenate([by_day.to_numpy() / capital, np.zeros(n_days - len(by_day))])
    sharpe = None
    if n_days >= 2 and np.ptp(returns) > 0:  # not all equal (rounding could fake a tiny std)
        sd = float(returns.std(ddof=1))
        sharpe = _f(returns.mean() / sd * math.sqrt(TRADING_DAYS_PER_YEAR)) if sd > 0 else None

    dd = _drawdowns(equity, capital, tz)

    # Fills: slippage, orders, acks.
    action = fills["action"].astype(str) if "action" in fills.columns else pd.Series(dtype=str)
    rejected = action.str.lower().eq("rejected").to_numpy()
    settled = action.str.lower().eq("exit_settled").to_numpy()  # the exchange's, not an order
    price = _num(fills, "price", "fills", allow_nan=True).to_numpy()
    executed = fills[~rejected & ~settled & ~np.isnan(price)] if len(fills) else fills
    slip_pct = _num(executed, "slippage_pct", "fills (executed)")
    slip_inr = _num(executed, "slippage", "fills (executed)")
    acks = _num(fills, "ack_ms", "fills", allow_nan=True).dropna().to_numpy()

    stats = ms.pnl_stats(pnl)
    streak = ms.streaks(pnl, exit_ts.set_axis(pnl.index)) if n else (0, 0)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    monthly = ms.monthly_returns(pnl, exit_day, start, end, capital)
    weekday = pd.Series([WEEKDAYS[t.weekday()] for t in entry_ts], index=pnl.index, dtype=object)
    exposure = None
    if bars_total and bars_in_position is not None and bars_total > 0:
        exposure = bars_in_position / bars_total

    kpis: dict[str, Any] = {
        "capital": float(capital), "data_start": start.isoformat(), "data_end": end.isoformat(),
        "months": months, "trading_days": n_days, "days_traded": len(by_day),
        **stats,  # trades, net_pnl, win_rate, profit_factor, gross_profit, gross_loss
        "trades_per_day": n / n_days if n_days else None,
        "gross_pnl": float(gross.sum()), "total_costs": float(costs.sum()),
        "costs_breakdown": costs_breakdown(fills),
        "return_pct": stats["net_pnl"] / capital,
        "avg_win": float(wins.mean()) if len(wins) else None,
        "avg_loss": float(losses.mean()) if len(losses) else None,
        "largest_win": float(pnl.max()) if len(wins) else None,
        "largest_loss": float(pnl.min()) if len(losses) else None,
        "expectancy_inr": float(pnl.mean()) if n else None,
        "expectancy_r": float(r_mult.mean()) if len(r_mult) else None,
        "avg_r_win": ms.avg_r(pnl, r_all, winners=True),
        "avg_r_loss": ms.avg_r(pnl, r_all, winners=False),
        "max_win_streak": streak[0], "max_loss_streak": streak[1],
        "sharpe": sharpe, "sortino": ms.sortino(returns),
        "calmar": ms.calmar(returns, dd["max_drawdown_pct"]), **dd,
        "exposure_pct": exposure, "executed_fills": len(executed),
        "avg_slippage_pct": float(slip_pct.mean()) if len(slip_pct) else None,
        "avg_slippage_inr": float(slip_inr.mean()) if len(slip_inr) else None,
        "orders_sent": len(fills) - int(settled.sum()), "orders_rejected": int(rejected.sum()),
        "settlements": int(settled.sum()), "flatten_failures": _flagged(trades, "flatten_failed"),
        "reject_ratio": _ratio(int(rejected.sum()), len(fills) - int(settled.sum())),
        "broker_acks": len(acks),
        "p95_ack_ms": float(np.percentile(acks, 95)) if len(acks) else None,
        "by_vix_tier": ms.grouped(pnl, _col(trades, "vix_tier", n), VIX_TIER_ORDER),
        "by_exit_reason": ms.grouped(pnl, _col(trades, "exit_reason", n), EXIT_REASON_ORDER),
        "by_weekday": ms.grouped(pnl, weekday, WEEKDAYS),
        "by_entry_hour": ms.grouped(pnl, ms.entry_hours(entry_ts), ms.ENTRY_HOURS),
        "by_days_to_expiry": ms.grouped(pnl, ms.days_to_expiry(trades, entry_ts),
                                      ms.DAYS_TO_EXPIRY_ORDER, skip_none=True),
        "by_stop_kind": ms.grouped(pnl, ms.stop_kinds(trades), ms.STOP_KIND_ORDER, skip_none=True),
        "by_side_label": ms.grouped(pnl, ms.side_labels(trades), ms.SIDE_LABEL_ORDER,
                                    skip_none=True),
        "monthly_returns": monthly, "monthly_heatmap": ms.monthly_heatmap(monthly),
    }  # fmt: skip
    result: dict[str, Any] = _jsonable(kpis)
    return result


def _drawdowns(equity: pd.DataFrame, capital: float, tz: str) -> dict[str, Any]:
    """Drawdown KPIs of equity.csv (see ``compute_kpis``); those needing timestamps are None
    without a ``timestamp`` column."""
    out: dict[str, Any] = dict.fromkeys(
        ("max_drawdown_pct", "max_drawdown_inr", "max_drawdown_close_pct",
         "max_drawdown_close_inr", "longest_drawdown_days", "time_to_recover_days"))  # fmt: skip
    if not len(equity):
        return out
    eq, stamps = equity, None
    if "timestamp" in eq.columns:
        stamps = parse_ts(eq["timestamp"], tz)
        order = np.argsort(stamps.to_numpy(dtype="datetime64[ns]"), kind="stable")
        eq, stamps = eq.iloc[order], stamps.iloc[order]
    values = _num(eq, "equity", "equity").to_numpy()
    out["max_drawdown_inr"] = ms.max_drawdown(values, capital)
    out["max_drawdown_pct"] = out["max_drawdown_inr"] / capital
    if stamps is not None:
        closes = ms.daily_closes(stamps, values)
        out["max_drawdown_close_inr"] = ms.max_drawdown(closes, capital)
        out["max_drawdown_close_pct"] = out["max_drawdown_close_inr"] / capital
        mark_days = [t.date() for t in stamps]
        longest, recover = ms.drawdown_durations(mark_days, values, capital)
        out["longest_drawdown_days"], out["time_to_recover_days"] = longest, recover
    return out


def costs_breakdown(fills: pd.DataFrame) -> dict[str, float] | None:
    """Σ of each cost component over fills.csv's rows (see the module docstring for None)."""
    cols = [f"cost_{p}" for p in COST_PARTS]
    if any(c not in fills.columns for c in cols):
        return None
    parts = fills[cols].apply(pd.to_numeric, errors="coerce").astype(float)
    if len(parts) and parts.isna().all(axis=None):
        return None
    row_costs = _num(fills, "costs", "fills").to_numpy()
    gaps = parts.isna().any(axis=1).to_numpy() & (row_costs != 0)
    if gaps.any():
        bad = int(np.flatnonzero(gaps)[0])
        raise DataError(f"fills: row {bad}: costs {row_costs[bad]} without its cost_* components")
    off = np.abs(parts.fillna(0.0).sum(axis=1).to_numpy() - row_costs) > 0.005
    if off.any():
        bad = int(np.flatnonzero(off)[0])
        got = float(parts.iloc[bad].fillna(0.0).sum())
        raise DataError(f"fills: row {bad}: cost_* components add up to {got:.2f}, costs is "
                        f"{row_costs[bad]:.2f}")  # fmt: skip
    return {p: float(parts[c].fillna(0.0).sum()) for p, c in zip(COST_PARTS, cols, strict=True)}


def _col(df: pd.DataFrame, col: str, n: int) -> pd.Series:
    return df[col] if col in df.columns else pd.Series([None] * n, index=df.index[:n])


@dataclass(frozen=True)
class Check:
    """One acceptance check: ``value op threshold``.

    ``passed`` is True or False, or None when the check does not apply (n/a: the run has no
    broker data for it); ``acceptance_passed`` does not fail on n/a.
    """

    name: str
    value: float | None
    threshold: float
    op: str  # ">=" or "<="
    passed: bool | None
    note: str = ""

    @property
    def status(self) -> str:
        return "N/A" if self.passed is None else ("PASS" if self.passed else "FAIL")


def _cmp(name: str, value: Any, threshold: float, op: str, why_missing: str) -> Check:
    v = _f(value) if isinstance(value, int | float) else None
    if v is None:
        return Check(name, None, threshold, op, False, why_missing)
    ok = v >= threshold if op == ">=" else v <= threshold
    return Check(name, v, threshold, op, ok)


def acceptance(kpis: dict[str, Any], thresholds: AcceptanceSection) -> list[Check]:
    """The go-live gate. Each check passes when ``value op threshold`` holds (equality passes).

    profit_factor ≥ min_profit_factor (None passes only when there are winners and no loser:
    infinite PF); sharpe ≥ min_sharpe; max_drawdown_pct ≤ max_drawdown_pct; avg_slippage_pct ≤
    max_avg_slippage_pct; months ≥ min_months; a missing value fails. p95_ack_s (p95_ack_ms /
    1000) ≤ max_p95_ack_s only when the broker reported acks, else n/a; reject_ratio ≤
    max_reject_ratio only when there are broker acks or rejections (a backtest's simulated fills
    cannot be rejected, so its 0 proves nothing), else n/a.
    """
    t = thresholds
    gates = [
        ("profit_factor", t.min_profit_factor, ">=", "undefined: no winning or losing trade"),
        ("sharpe", t.min_sharpe, ">=", "undefined: < 2 days or zero variance"),
        ("max_drawdown_pct", t.max_drawdown_pct, "<=", "no equity data"),
        ("avg_slippage_pct", t.max_avg_slippage_pct, "<=", "no executed fills"),
        ("months", t.min_months, ">=", "data period unknown"),
    ]
    checks = [_cmp(name, kpis.get(name), thr, op, why) for name, thr, op, why in gates]
    gp, gl = kpis.get("gross_profit"), kpis.get("gross_loss")
    if kpis.get("profit_factor") is None and isinstance(gp, int | float) and gp > 0 and gl == 0:
        inf_note = "no losing trade: PF is infinite"
        checks[0] = Check("profit_factor", None, t.min_profit_factor, ">=", True, inf_note)
    p95 = kpis.get("p95_ack_ms")
    if isinstance(p95, int | float) and _f(p95) is not None:
        checks.append(_cmp("p95_ack_s", p95 / 1000.0, t.max_p95_ack_s, "<=", ""))
    else:
        checks.append(Check("p95_ack_s", None, t.max_p95_ack_s, "<=", None, "n/a: no broker acks"))
    ratio = kpis.get("reject_ratio")
    broker = (kpis.get("broker_acks") or 0) > 0 or (kpis.get("orders_rejected") or 0) > 0
    if ratio is not None and broker:
        checks.append(_cmp("reject_ratio", ratio, t.max_reject_ratio, "<=", ""))
    else:
        note = "n/a: no orders" if ratio is None else "n/a: simulated fills, no broker data"
        checks.append(Check("reject_ratio", None, t.max_reject_ratio, "<=", None, note))
    return checks


def acceptance_passed(checks: Iterable[Check]) -> bool:
    """True when no check failed (n/a checks do not fail)."""
    return all(c.passed is not False for c in checks)


def format_check_value(name: str, value: float | None) -> str:
    """A check's value or threshold for people: fractions as percent, enough digits to compare."""
    if value is None:
        return "—"
    if name.endswith("_pct") or name == "reject_ratio":
        return f"{value * 100:.6g} %"
    if name == "p95_ack_s":
        return f"{value:.6g} s"
    return f"{value:.6g}"


def _fail(console: Console, *lines: str) -> int:
    for line in lines:
        console.print(f"[red]error[/red] {escape(line)}", highlight=False)
    return 1


def run_acceptance(run_dir: Path) -> list[Check]:
    """A run folder's ``kpis.json`` against its ``config.toml``'s [acceptance] (``acceptance``).

    Raises ``DataError`` naming ``kpis.json`` (missing, not JSON, keys missing) or
    ``ConfigError`` naming ``config.toml`` (missing or invalid)."""
    kpi_path, cfg_path = run_dir / "kpis.json", run_dir / "config.toml"
    if not kpi_path.is_file():
        raise DataError(f"{kpi_path}: file not found")
    try:
        kpis = json.loads(kpi_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{kpi_path}: not readable JSON: {exc}") from None
    if not isinstance(kpis, dict):
        raise DataError(f"{kpi_path}: expected a JSON object")
    missing = [k for k in REQUIRED_KPIS if k not in kpis]
    if missing:
        raise DataError(f"{kpi_path}: missing keys {', '.join(missing)}")
    if not cfg_path.is_file():
        raise ConfigError(f"{cfg_path}: file not found")
    return acceptance(kpis, load_config(cfg_path).acceptance)


def acceptance_json(checks: Sequence[Check]) -> dict[str, Any]:
    """The verdict and every check as plain data (``--json``): value and threshold as in
    kpis.json (fractions), status PASS, FAIL or N/A."""
    rows = [
        {
            "name": c.name,
            "value": c.value,
            "op": c.op,
            "threshold": c.threshold,
            "status": c.status,
            "note": c.note,
        }
        for c in checks
    ]
    return {"accepted": acceptance_passed(checks), "checks": rows}


def accept_run(
    run_dir: Path, console: Console, *, errors: Console | None = None, as_json: bool = False
) -> int:
    """Check a run folder's kpis.json against its config.toml's [acceptance] and print a table
    (``as_json``: one JSON object, ``run_dir`` and ``acceptance_json``) on ``console``.

    Returns 0 when every check passes (n/a does not fail), 1 when one fails, and 1 when
    kpis.json or config.toml is missing or unreadable: the message names the file and goes to
    ``errors`` (default: ``console``).
    """
    run_dir = Path(run_dir)
    try:
        checks = run_acceptance(run_dir)
    except ConfigError as exc:
        return _fail(errors or console, *exc.problems)
    except DataError as exc:
        return _fail(errors or console, str(exc))
    ok = acceptance_passed(checks)
    if as_json:
        text = json.dumps({"run_dir": str(run_dir), **acceptance_json(checks)}, indent=2)
        console.out(text, highlight=False)
        return 0 if ok else 1
    table = Table(title=escape(f"acceptance: {run_dir}"))
    for col in ("check", "value", "threshold", "result", "note"):
        table.add_column(col, justify="right" if col in ("value", "threshold") else "left")
    colour = {"PASS": "green", "FAIL": "red", "N/A": "yellow"}
    for c in checks:
        table.add_row(
            c.name,
            format_check_value(c.name, c.value),
            f"{c.op} {format_check_value(c.name, c.threshold)}",
            f"[{colour[c.status]}]{c.status}[/{colour[c.status]}]",
            escape(c.note),
        )
    console.print(table)
    console.print("[green]ACCEPTED[/green]" if ok else "[red]REJECTED[/red]")
    return 0 if ok else 1
