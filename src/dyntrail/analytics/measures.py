"""Risk and trade-sequence measures behind ``compute_kpis`` (pure functions, no I/O).

The conventions of ``kpis`` hold: ``*_pct`` values are fractions of capital, money is INR, an
undefined value is None. Each function states its formula; ``compute_kpis`` passes the run's
daily returns, its equity marks and its trades.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dyntrail.trade import side_label

TRADING_DAYS_PER_YEAR = 252
MONTH_NAMES = tuple(calendar.month_abbr[1:])  # "Jan".."Dec"
ENTRY_HOURS = tuple(f"{h:02d}" for h in range(9, 16))  # "09".."15", the NSE session
DAYS_TO_EXPIRY_ORDER = ("0", "1", "2", "3", "4+")
STOP_KIND_ORDER = ("initial", "break_even", "trail")
SIDE_LABEL_ORDER = ("BUY CE", "BUY PE", "BUY FUT", "SELL FUT")


def sortino(returns: np.ndarray) -> float | None:
    """``mean(r) / DD · √252`` with DD = √(Σ_{r_d<0} r_d² / N), the downside deviation against 0
    over all N days (days without a loss count as 0). None with fewer than 2 days or no losing
    day (DD = 0)."""
    if len(returns) < 2:
        return None
    downside = np.minimum(returns, 0.0)
    dd = math.sqrt(float((downside**2).sum()) / len(returns))
    if dd == 0:
        return None
    return float(returns.mean()) / dd * math.sqrt(TRADING_DAYS_PER_YEAR)


def calmar(returns: np.ndarray, max_drawdown_pct: float | None) -> float | None:
    """``mean(r) · 252 / max_drawdown_pct``: the annualised return (simple, no compounding, as
    for Sharpe) over the intraday-marks drawdown. None without days or without a drawdown."""
    if not len(returns) or not max_drawdown_pct:
        return None
    return float(returns.mean()) * TRADING_DAYS_PER_YEAR / max_drawdown_pct


def daily_closes(stamps: pd.Series, values: np.ndarray) -> np.ndarray:
    """The last equity mark of each calendar day (``stamps`` tz-aware and sorted)."""
    closes: dict[dt.date, float] = {}
    for t, v in zip(stamps, values, strict=True):
        closes[t.date()] = float(v)  # later marks overwrite: the day's last one wins
    return np.array(list(closes.values()), dtype=float)


def max_drawdown(values: np.ndarray, capital: float) -> float:
    """max of (peak − equity) in INR, peak the running maximum starting at ``capital``."""
    peak = np.maximum.accumulate(np.concatenate([[capital], values]))[1:]
    return float((peak - values).max()) if len(values) else 0.0


def drawdown_durations(
    days: Sequence[dt.date], values: np.ndarray, capital: float
) -> tuple[int, int | None]:
    """``(longest_drawdown_days, time_to_recover_days)`` from equity marks in time order.

    A drawdown starts at the mark that set the running peak (the first mark when equity opens
    below ``capital``) and ends at the first later mark back at or above that peak. Its length
    is the calendar days between the two marks' days, or to the last mark's day when it has not
    recovered; ``longest`` is the largest (0 without a drawdown). ``time_to_recover`` is the
    calendar days from the trough of the deepest drawdown (largest peak − equity, the first on a
    tie) to its recovery mark; None when that drawdown has not recovered, 0 without one.
    """
    if not len(values):
        return 0, 0
    peak, peak_day = capital, days[0]
    longest, in_dd, deepest_open = 0, False, False
    deepest, trough_day = 0.0, days[0]
    recover: int | None = 0
    for day, v in zip(days, values, strict=True):
        if v >= peak:
            if in_dd:
                longest = max(longest, (day - peak_day).days)
                if deepest_open:
                    recover, deepest_open = (day - trough_day).days, False
                in_dd = False
            peak, peak_day = float(v), day
            continue
        if not in_dd:
            in_dd, deepest_open = True, False
        if peak - v > deepest:
            deepest, trough_day, deepest_open, recover = peak - v, day, True, None
    if in_dd:
        longest = max(longest, (days[-1] - peak_day).days)
    return longest, recover


def streaks(pnl: pd.Series, exit_ts: pd.Series) -> tuple[int, int]:
    """``(max_win_streak, max_loss_streak)``: the longest runs of consecutive winning
    (pnl_net > 0) and losing (pnl_net < 0) trades in exit-time order (ties keep file order); a
    trade at exactly zero ends both runs."""
    order = np.argsort(exit_ts.to_numpy(dtype="datetime64[ns]"), kind="stable")
    best = {1: 0, -1: 0}
    run_sign, run = 0, 0
    for sign in np.sign(pnl.to_numpy()[order]).astype(int):
        run = run + 1 if sign == run_sign and sign != 0 else 1
        run_sign = sign
        if sign:
            best[sign] = max(best[sign], run)
    return best[1], best[-1]


def avg_r(pnl: pd.Series, r_multiple: pd.Series, winners: bool) -> float | None:
    """Mean non-missing r_multiple of the winners (pnl_net > 0) or losers (< 0); None if none."""
    mask = pnl > 0 if winners else pnl < 0
    r = r_multiple[mask].dropna()
    return float(r.mean()) if len(r) else None


def entry_hours(entry_ts: pd.Series) -> pd.Series:
    """The exchange-time hour of each entry, "09".."15"."""
    return pd.Series([f"{t.hour:02d}" for t in entry_ts], index=entry_ts.index, dtype=object)


def days_to_expiry(trades: pd.DataFrame, entry_ts: pd.Series) -> pd.Series:
    """Calendar days from the entry date to ``expiry``: "0".."3", then "4+"; None (left out of
    the breakdown) for trades without an expiry (the underlying) or files without the column."""
    out = pd.Series([None] * len(entry_ts), index=entry_ts.index, dtype=object)
    if "expiry" not in trades.columns:
        return out
    expiry = pd.to_datetime(trades["expiry"].replace("", None), errors="coerce")
    for i, (exp, t) in enumerate(zip(expiry, entry_ts, strict=True)):
        if pd.notna(exp):
            d = (exp.date() - t.date()).days
            out.iloc[i] = "4+" if d >= 4 else str(d)
    return out


def stop_kinds(trades: pd.DataFrame) -> pd.Series:
    """``stop_kind`` of the ``exit_stop`` trades; None (left out) for other trades and for
    files without the column (runs from before it existed)."""
    n = len(trades)
    if "stop_kind" not in trades.columns or "exit_reason" not in trades.columns:
        return pd.Series([None] * n, index=trades.index, dtype=object)
    stopped = trades["exit_reason"].astype(str).eq("exit_stop")
    kind = trades["stop_kind"].where(trades["stop_kind"].notna(), "").astype(str)
    return kind.where(stopped, None)


def side_labels(trades: pd.DataFrame) -> pd.Series:
    """How a person reads each trade (``dyntrail.trade.side_label``: BUY CE / BUY PE, BUY FUT /
    SELL FUT on the underlying). None (left out) for every trade of a file with neither a
    ``right`` nor a ``side`` column."""
    n = len(trades)
    if "right" not in trades.columns and "side" not in trades.columns:
        return pd.Series([None] * n, index=trades.index, dtype=object)
    rights = trades["right"] if "right" in trades.columns else [None] * n
    sides = trades["side"] if "side" in trades.columns else [None] * n
    labels = [side_label(s, r) for r, s in zip(rights, sides, strict=True)]
    return pd.Series(labels, index=trades.index, dtype=object)


def pnl_stats(pnl: pd.Series) -> dict[str, Any]:
    """trades, net_pnl, win_rate, profit_factor, gross_profit, gross_loss of one pnl_net set."""
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gp, gl = float(wins.sum()), float(-losses.sum())
    win_rate = len(wins) / len(pnl) if len(pnl) else None
    pf = gp / gl if gl > 0 else None
    return {"trades": len(pnl), "net_pnl": float(pnl.sum()), "win_rate": win_rate,
            "profit_factor": pf, "gross_profit": gp, "gross_loss": gl}  # fmt: skip


def grouped(pnl: pd.Series, keys: pd.Series, order: Sequence[str], *, skip_none: bool = False
            ) -> dict[str, Any]:  # fmt: skip
    """``pnl_stats`` per key, keys in ``order`` first and then any others sorted. Missing or
    empty keys group as "unknown", or are left out with ``skip_none``."""
    if skip_none:
        keep = keys.notna().to_numpy()
        pnl, keys = pnl[keep], keys[keep]
    keys = keys.astype(object).fillna("unknown").astype(str).replace("", "unknown")
    present = set(keys)
    ordered = [k for k in order if k in present] + sorted(present - set(order))
    return {k: pnl_stats(pnl[keys == k]) for k in ordered}


def _add_months(d: dt.date, k: int) -> dt.date:
    y, m = divmod(d.month - 1 + k, 12)
    year, month = d.year + y, m + 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def months_between(start: dt.date, end: dt.date) -> float:
    """Length of the inclusive date range ``[start, end]`` in calendar months.

    ``n`` whole months fit from ``start`` (a month on from 31 Jan is 28/29 Feb) to the day after
    ``end``; the rest is the remaining days over the length of the next month step. So
    2023-01-01..2023-12-31 is exactly 12.0 and 2024-01-15..2024-02-14 is 1.0.
    """
    if end < start:
        raise ValueError(f"data_end {end} is before data_start {start}")
    stop = end + dt.timedelta(days=1)
    whole = 12 * (stop.year - start.year) + stop.month - start.month
    while whole > 0 and _add_months(start, whole) > stop:
        whole -= 1
    anchor, nxt = _add_months(start, whole), _add_months(start, whole + 1)
    return whole + (stop - anchor).days / (nxt - anchor).days


def _month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    out, m = [], dt.date(start.year, start.month, 1)
    while m <= end:
        out.append(m)
        m = _add_months(m, 1)
    return out


def monthly_returns(pnl: pd.Series, exit_day: pd.Series, start: dt.date, end: dt.date,
                    capital: float) -> dict[str, float]:  # fmt: skip
    """Month "YYYY-MM" → (Σ pnl_net exiting in that month) / capital, for every month from
    ``start`` to ``end`` (0.0 without trades) and any month with an exit."""
    keys = pd.Series([f"{d.year:04d}-{d.month:02d}" for d in exit_day], index=pnl.index)
    by_month = pnl.groupby(keys).sum() if len(pnl) else pd.Series(dtype=float)
    all_months = {f"{m.year:04d}-{m.month:02d}" for m in _month_starts(start, end)}
    return {m: float(by_month.get(m, 0.0)) / capital
            for m in sorted(all_months | set(by_month.index))}  # fmt: skip


def monthly_heatmap(monthly_returns: dict[str, float]) -> dict[str, Any]:
    """``{"years": [...], "months": ["Jan".."Dec"], "values": [[...]]}``: one row per year of
    ``monthly_returns`` ("YYYY-MM" → return), ``values[i][j]`` the return of year i, month j+1,
    None where that month is outside the data."""
    years = sorted({int(k[:4]) for k in monthly_returns})
    values = [[monthly_returns.get(f"{y:04d}-{m:02d}") for m in range(1, 13)] for y in years]
    return {"years": years, "months": list(MONTH_NAMES), "values": values}
