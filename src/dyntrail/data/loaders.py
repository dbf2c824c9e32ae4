"""Reading and validating a data folder.

A data folder holds ``underlying.csv`` or ``underlying.parquet`` (``timestamp, open, high, low,
close`` and optional ``volume``; 1- or 5-minute bars), ``vix.csv|.parquet`` (``timestamp, close``,
optionally OHLC, on its own timestamps) and optionally ``options.csv|.parquet``. A bar's timestamp
is its start (09:15 is the 09:15-09:16 bar). Timestamps are exchange time: naive ones are taken in
the configured timezone, aware ones are converted to it.

Every problem is a ``DataError`` naming the file, the line (CSV, counting the header as line 1) or
row (Parquet, from 1), and what is wrong. Gaps are warnings: nothing is filled across a gap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dyntrail.errors import DataError

UNDERLYING_COLUMNS = ("timestamp", "open", "high", "low", "close")
VIX_COLUMNS = ("timestamp", "close")


@dataclass(frozen=True, slots=True)
class Bars:
    """Validated bars: naive exchange-time bar starts (datetime64[s]) and float64 columns."""

    source: str
    timestamps: NDArray[np.datetime64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64] | None
    bar_minutes: int


@dataclass(frozen=True, slots=True)
class MarketData:
    """One data folder, validated and aligned: ``vix[i]`` is the last VIX close known when
    underlying bar ``i`` closed (no lookahead)."""

    folder: Path
    bars: Bars
    vix: NDArray[np.float64]
    options: pd.DataFrame | None = None
    warnings: tuple[str, ...] = field(default=())


def find_file(folder: Path, stem: str) -> Path | None:
    """``stem.parquet`` or ``stem.csv`` in ``folder`` (at most one of them), or None."""
    found = [p for p in (folder / f"{stem}.parquet", folder / f"{stem}.csv") if p.exists()]
    if len(found) > 1:
        raise DataError(f"{folder}: both {stem}.parquet and {stem}.csv exist; keep one")
    return found[0] if found else None


def require_file(folder: Path, stem: str) -> Path:
    """Like ``find_file``, but a missing file is an error."""
    path = find_file(folder, stem)
    if path is None:
        raise DataError(f"{folder}: missing {stem}.csv or {stem}.parquet")
    return path


def read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc


def _where(path: Path, i: int) -> str:
    """Human position of data row ``i`` (0-based)."""
    return f"{path}: line {i + 2}" if path.suffix == ".csv" else f"{path}: row {i + 1}"


def parse_timestamps(df: pd.DataFrame, path: Path, tz: str) -> NDArray[np.datetime64]:
    """Timestamps as naive exchange time; unparsable, duplicate or unordered rows are errors."""
    raw = df["timestamp"]
    try:
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601", utc=False)
    except ValueError:  # mixed UTC offsets: parse as instants, then exchange time
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601", utc=True)
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise DataError(f"{_where(path, i)}: unparsable timestamp {raw.iloc[i]!r}")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert(tz).dt.tz_localize(None)
    ts: NDArray[np.datetime64] = parsed.to_numpy(dtype="datetime64[s]")
    d = np.diff(ts.astype(np.int64))
    if (d == 0).any():
        i = int(np.flatnonzero(d == 0)[0]) + 1
        raise DataError(f"{_where(path, i)}: duplicate timestamp {raw.iloc[i]!r}")
    if (d < 0).any():
        i = int(np.flatnonzero(d < 0)[0]) + 1
        raise DataError(
            f"{_where(path, i)}: timestamp {raw.iloc[i]!r} is before the previous row's "
            f"{raw.iloc[i - 1]!r}: rows must be in time order"
        )
    return ts


def _numeric(df: pd.DataFrame, cols: Sequence[str], path: Path) -> dict[str, NDArray[np.float64]]:
    out: dict[str, NDArray[np.float64]] = {}
    for c in cols:
        values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{_where(path, i)}: column '{c}' is not a number ({df[c].iloc[i]!r})")
        out[c] = values
    return out


def _require(df: pd.DataFrame, cols: Sequence[str], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        has = ", ".join(map(str, df.columns))
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (has: {has})")


def validate_ohlc(v: dict[str, NDArray[np.float64]], path: Path) -> None:
    """Prices positive, high >= low, open and close inside [low, high]."""
    checks = [
        (v["low"] <= 0, "non-positive price (low <= 0)"),
        (v["high"] < v["low"], "high < low"),
        ((v["open"] < v["low"]) | (v["open"] > v["high"]), "open outside [low, high]"),
        ((v["close"] < v["low"]) | (v["close"] > v["high"]), "close outside [low, high]"),
    ]
    for mask, what in checks:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            row = {k: float(v[k][i]) for k in ("open", "high", "low", "close")}
            raise DataError(f"{_where(path, i)}: {what}: {row}")


def infer_bar_minutes(ts: NDArray[np.datetime64]) -> int:
    """The most common spacing between consecutive bars of one day, in minutes."""
    mins = ts.astype("datetime64[m]").astype(np.int64)
    same_day = ts.astype("datetime64[D]")[1:] == ts.astype("datetime64[D]")[:-1]
    d = np.diff(mins)[same_day]
    if d.size == 0:
        return 1
    values, counts = np.unique(d, return_counts=True)
    return int(values[np.argmax(counts)])


def load_underlying(
    path: Path,
    tz: str,
    session_open: dt.time,
    session_close: dt.time,
    bar_minutes: int | None = None,
) -> tuple[Bars, list[str]]:
    """Read and validate underlying bars; bars outside the session are dropped with a warning."""
    df = read_table(path)
    _require(df, UNDERLYING_COLUMNS, path)
    if df.empty:
        raise DataError(f"{path}: no rows")
    ts = parse_timestamps(df, path, tz)
    v = _numeric(df, ("open", "high", "low", "close"), path)
    validate_ohlc(v, path)
    volume = _numeric(df, ("volume",), path)["volume"] if "volume" in df.columns else None
    if volume is not None and (volume < 0).any():
        i = int(np.flatnonzero(volume < 0)[0])
        raise DataError(f"{_where(path, i)}: negative volume {volume[i]}")
    bm = bar_minutes or infer_bar_minutes(ts)
    warnings: list[str] = []
    tod = (ts - ts.astype("datetime64[D]")).astype(np.int64)
    lo = session_open.hour * 3600 + session_open.minute * 60
    hi = session_close.hour * 3600 + session_close.minute * 60
    inside = (tod >= lo) & (tod + bm * 60 <= hi)
    if not inside.all():
        n_out = int((~inside).sum())
        i = int(np.flatnonzero(~inside)[0])
        warnings.append(
            f"{path}: {n_out} bar(s) outside the session {session_open}-{session_close} ignored "
            f"(first: {_where(path, i).split(': ', 1)[1]})"
        )
    warnings += gap_warnings(ts[inside], bm, lo, path)
    keep = inside
    bars = Bars(
        source=str(path),
        timestamps=ts[keep],
        open=v["open"][keep],
        high=v["high"][keep],
        low=v["low"][keep],
        close=v["close"][keep],
        volume=volume[keep] if volume is not None else None,
        bar_minutes=bm,
    )
    if bars.timestamps.size == 0:
        raise DataError(f"{path}: no bars inside the session {session_open}-{session_close}")
    return bars, warnings


def gap_warnings(
    ts: NDArray[np.datetime64], bar_minutes: int, open_s: int, path: Path
) -> list[str]:
    """Missing bars inside a day and late opens, summarised (a warning, never an error)."""
    if ts.size == 0:
        return []
    days = ts.astype("datetime64[D]")
    secs = (ts - days).astype(np.int64)
    new_day = np.r_[True, days[1:] != days[:-1]]
    late = new_day & (secs > open_s)
    step = np.diff(ts.astype(np.int64))
    gaps = (~new_day[1:]) & (step > bar_minutes * 60)
    out = []
    if late.any():
        first = str(ts[np.flatnonzero(late)[0]])
        out.append(f"{path}: {int(late.sum())} day(s) open late (first: {first})")
    if gaps.any():
        first = str(ts[np.flatnonzero(gaps)[0]])
        out.append(f"{path}: {int(gaps.sum())} gap(s) inside a session (first after {first})")
    return out


def load_vix(path: Path, tz: str) -> tuple[NDArray[np.datetime64], NDArray[np.float64], int]:
    """VIX closes with their bar starts and bar length in minutes."""
    df = read_table(path)
    _require(df, VIX_COLUMNS, path)
    if df.empty:
        raise DataError(f"{path}: no rows")
    ts = parse_timestamps(df, path, tz)
    close = _numeric(df, ("close",), path)["close"]
    if (close < 0).any():
        i = int(np.flatnonzero(close < 0)[0])
        raise DataError(f"{_where(path, i)}: negative VIX {close[i]}")
    if {"open", "high", "low"} <= set(df.columns):
        validate_ohlc(_numeric(df, ("open", "high", "low", "close"), path), path)
    return ts, close, infer_bar_minutes(ts)


def align_asof(
    bar_close: NDArray[np.datetime64],
    obs_close: NDArray[np.datetime64],
    values: NDArray[np.float64],
) -> NDArray[np.float64]:
    """For each bar close time, the last observation that closed at or before it (NaN if none)."""
    idx = np.searchsorted(obs_close, bar_close, side="right") - 1
    out = np.full(bar_close.shape, np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


def load_folder(
    folder: str | Path,
    tz: str,
    session_open: dt.time,
    session_close: dt.time,
    bar_minutes: int | None = None,
) -> MarketData:
    """Load a data folder, validate it and align VIX to the underlying bars."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    upath, vpath = require_file(root, "underlying"), require_file(root, "vix")
    bars, warnings = load_underlying(upath, tz, session_open, session_close, bar_minutes)
    vts, vclose, vbm = load_vix(vpath, tz)
    step = np.timedelta64(bars.bar_minutes * 60, "s")
    vix = align_asof(bars.timestamps + step, vts + np.timedelta64(vbm * 60, "s"), vclose)
    if np.isnan(vix).any():
        i = int(np.flatnonzero(np.isnan(vix))[0])
        raise DataError(
            f"{vpath}: no VIX value closed by {bars.timestamps[i] + step} "
            f"(needed by {upath} bar {bars.timestamps[i]}); VIX must start no later than the bars"
        )
    opath = find_file(root, "options")
    options = read_table(opath) if opath is not None else None
    return MarketData(root, bars, vix, options, tuple(warnings))
