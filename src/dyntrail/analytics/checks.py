"""The run's own checks, computed from the files a user reads (``trades.csv``, ``fills.csv``):

- ``flat_at_flatten``: every trade exited on its entry day, by the flatten time (plus one bar:
  the rule acts at a bar's close, and a paper order fills seconds later). The documented
  exception is a trade flagged ``flatten_failed`` (nothing to sell into at the close): it is
  listed, carried to the next session's open or settled at expiry, and is not a failure.
- ``within_expiry``: no option position outlived its contract: every exit at or before the
  expiry day's session close.
- ``pnl_reconciles``: every trade's ``pnl_net`` equals its legs in ``fills.csv`` (sell value −
  buy value − costs, settlement legs included) to the paisa (that every fill's cost components
  add up to its ``costs`` is checked with the KPIs, ``costs_breakdown``).
- ``flat_at_end``: no position is open when the data ends (a fill without a closed trade).

Each check is ``{"ok": bool, "failures": [...], "exceptions": [...]}`` (trade ids or lines).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from dyntrail.analytics.kpis import parse_ts
from dyntrail.trade import flags_of

PAISA = 0.005  # half a paisa: rounding to the paisa leaves at most this


def run_checks(
    trades: pd.DataFrame,
    fills: pd.DataFrame,
    *,
    flatten: dt.time,
    session_close: dt.time,
    bar_minutes: int,
    tz: str,
) -> dict[str, dict[str, Any]]:
    """The checks of the module docstring over one run's trades and fills."""
    trades = trades.reset_index(drop=True)
    ids = [int(t) for t in trades["trade_id"]]
    failed = [
        "flatten_failed" in flags_of(c)
        for c in (trades["flags"] if "flags" in trades else [""] * len(trades))
    ]
    entry = parse_ts(trades["entry_ts"], tz) if len(trades) else parse_ts([], tz)
    exit_ = parse_ts(trades["exit_ts"], tz) if len(trades) else parse_ts([], tz)
    # the latest exit time allowed: the entry day's flatten plus one bar and a minute (vectorised:
    # a run has hundreds of trades)
    day = entry.dt.normalize()
    limit = day + pd.Timedelta(hours=flatten.hour, minutes=flatten.minute + bar_minutes + 1)
    late = (exit_ > limit).to_numpy()
    flat: dict[str, Any] = {
        "ok": True,
        "failures": [t for t, f, x in zip(ids, failed, late, strict=True) if x and not f],
        "exceptions": [t for t, f in zip(ids, failed, strict=True) if f],
    }
    expiry_ok: dict[str, Any] = {"ok": True, "failures": [], "exceptions": []}
    if "expiry" in trades and len(trades):
        expiry = pd.to_datetime(trades["expiry"], errors="coerce")  # NaT: not an option
        close = expiry.dt.tz_localize(tz) + pd.Timedelta(
            hours=session_close.hour, minutes=session_close.minute
        )
        past = (expiry.notna() & (exit_ > close)).to_numpy()
        expiry_ok["failures"] = [t for t, x in zip(ids, past, strict=True) if x]
    flat["ok"] = not flat["failures"]
    expiry_ok["ok"] = not expiry_ok["failures"]
    return {
        "flat_at_flatten": flat,
        "within_expiry": expiry_ok,
        "pnl_reconciles": _reconcile(trades, fills),
        "flat_at_end": _open_at_end(trades, fills),
    }


def _executed(fills: pd.DataFrame) -> pd.DataFrame:
    if fills.empty:
        return fills
    price = pd.to_numeric(fills["price"], errors="coerce")
    return fills[(fills["action"].astype(str) != "rejected") & price.notna()]


def _reconcile(trades: pd.DataFrame, fills: pd.DataFrame) -> dict[str, Any]:
    ex = _executed(fills)
    failures: list[str] = []
    if not ex.empty:
        value = pd.to_numeric(ex["price"]) * pd.to_numeric(ex["qty"])
        signed = value.where(ex["side"].astype(str) == "sell", -value)
        net = (signed - pd.to_numeric(ex["costs"])).groupby(ex["trade_id"]).sum()
        for tid, pnl in zip(trades["trade_id"], trades["pnl_net"], strict=True):
            legs = float(net.get(tid, 0.0))
            if abs(legs - float(pnl)) > PAISA * 2:
                failures.append(f"trade {tid}: legs {legs:.2f}, trades.csv {float(pnl):.2f}")
    elif len(trades):
        failures.append("trades without any fill")
    return {"ok": not failures, "failures": failures, "exceptions": []}


def _open_at_end(trades: pd.DataFrame, fills: pd.DataFrame) -> dict[str, Any]:
    ex = _executed(fills)
    closed = set(trades["trade_id"].astype(int)) if len(trades) else set()
    open_ids = sorted({int(t) for t in ex["trade_id"]} - closed) if not ex.empty else []
    return {"ok": not open_ids, "failures": open_ids, "exceptions": []}


def check_lines(checks: dict[str, dict[str, Any]]) -> list[tuple[bool, str]]:
    """One (ok, line) per check, for a person."""
    names = {
        "flat_at_flatten": "flat at the flatten time every day",
        "within_expiry": "no position past its contract's expiry",
        "pnl_reconciles": "PnL reconciles to the paisa (settlement legs included)",
        "flat_at_end": "flat at the end of the data",
    }
    out: list[tuple[bool, str]] = []
    for key, label in names.items():
        c = checks.get(key)
        if c is None:
            continue
        line = label
        if c["exceptions"]:
            ids = ", ".join(str(x) for x in c["exceptions"][:10])
            line += f" (except flatten failures, carried or settled: trade {ids})"
        if c["failures"]:
            shown = "; ".join(str(x) for x in c["failures"][:5])
            line += f": FAILED for {len(c['failures'])}: {shown}"
        out.append((bool(c["ok"]), line))
    return out
