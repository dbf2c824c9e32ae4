"""Reading and validating a data folder.

A data folder holds ``underlying.csv`` or ``underlying.parquet`` (open, high, low, close and
optional volume; 1- or 5-minute bars), ``vix.csv|.parquet`` (close, optionally open, high, low,
on its own timestamps) and optionally ``options.csv|.parquet``. The layout of each file is
recognised (dyntrail's own, Kite candles, vendor exports, epochs, Parquet: see
``dyntrail.data.formats``) and reported. A bar's timestamp is its start (09:15 is the
09:15-09:16 bar). Timestamps come out as naive exchange time: times written without a zone are
in ``[data] timezone`` (default: the session's), the others are converted, row by row.

Every problem is a ``DataError`` naming the file, the line (CSV, counting the header as line 1) or
row (Parquet, from 1), and what is wrong. Gaps and a few bars outside the session are warnings
(nothing is filled across a gap); most bars outside the session mean the file's clock is wrong,
an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dyntrail.core.config import DataSection
from dyntrail.data.formats import Table, recognise, recognise_options, show, where
from dyntrail.data.session_fit import (
    Hours,
    clock_check,
    gap_warnings,
    inside_session,
)
from dyntrail.errors import DataError

UNDERLYING_COLUMNS = ("timestamp", "open", "high", "low", "close")
VIX_COLUMNS = ("timestamp", "close")
_OHLC = ("open", "high", "low", "close")
VIX_MARGIN_S = 30 * 60  # VIX files may carry pre-open and closing values: half an hour each side


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
    underlying bar ``i`` closed (no lookahead). ``formats`` says how each file was read, one line
    per file (``"underlying.csv: kite candles (date with +05:30 offsets)"``)."""

    folder: Path
    bars: Bars
    vix: NDArray[np.float64]
    options: pd.DataFrame | None = None
    warnings: tuple[str, ...] = field(default=())
    formats: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class VixBars:
    """Validated VIX closes on their own bar starts (naive exchange time)."""

    source: str
    timestamps: NDArray[np.datetime64]
    close: NDArray[np.float64]
    bar_minutes: int


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One file of a folder: how it was read, its rows and their time range (exchange time)."""

    name: str
    format: str
    rows: int
    first: np.datetime64
    last: np.datetime64


@dataclass(frozen=True, slots=True)
class FolderDetail:
    """Everything loading a folder found: the market data and what ``dyntrail data check``
    reports besides (the files, the VIX bars, the underlying bars dropped outside the session)."""

    market: MarketData
    files: tuple[FileInfo, ...]
    vix_bars: VixBars
    outside_session: int
    options_path: Path | None


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


def check_order(table: Table) -> None:
    """Duplicate or unordered timestamps are errors (compared in exchange time)."""
    d = np.diff(table.timestamps.astype(np.int64))
    if (d == 0).any():
        i = int(np.flatnonzero(d == 0)[0]) + 1
        raise DataError(f"{where(table.path, i)}: duplicate timestamp {table.shown(i)!r}")
    if (d < 0).any():
        i = int(np.flatnonzero(d < 0)[0]) + 1
        raise DataError(
            f"{where(table.path, i)}: timestamp {table.shown(i)!r} is before the previous row's "
            f"{table.shown(i - 1)!r}: rows must be in time order"
        )


def _numeric(df: pd.DataFrame, cols: Sequence[str], path: Path) -> dict[str, NDArray[np.float64]]:
    out: dict[str, NDArray[np.float64]] = {}
    for c in cols:
        values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            shown = show(df[c].iloc[i])
            raise DataError(f"{where(path, i)}: column '{c}' is not a number ({shown})")
        out[c] = values
    return out


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
            row = ", ".join(f"{k} {float(v[k][i]):g}" for k in _OHLC)
            raise DataError(f"{where(path, i)}: {what}: {row}")


def infer_bar_minutes(ts: NDArray[np.datetime64]) -> int:
    """The most common spacing between consecutive bars of one day, in minutes."""
    mins = ts.astype("datetime64[m]").astype(np.int64)
    same_day = ts.astype("datetime64[D]")[1:] == ts.astype("datetime64[D]")[:-1]
    d = np.diff(mins)[same_day]
    if d.size == 0:
        return 1
    values, counts = np.unique(d, return_counts=True)
    return int(values[np.argmax(counts)])


def _volume(frame: pd.DataFrame, path: Path) -> NDArray[np.float64] | None:
    """Volume, if the file has it; an entirely empty column (index data) counts as none."""
    if "volume" not in frame.columns or frame["volume"].isna().all():
        return None
    volume = _numeric(frame, ("volume",), path)["volume"]
    if (volume < 0).any():
        i = int(np.flatnonzero(volume < 0)[0])
        raise DataError(f"{where(path, i)}: negative volume {show(volume[i])}")
    return volume


def load_underlying(
    path: Path, hours: Hours, bar_minutes: int | None, data: DataSection
) -> tuple[Bars, list[str], FileInfo, int]:
    """Read and validate underlying bars; a few bars outside the session are dropped with a
    warning. Returns the bars, the warnings, the file's description and the bars dropped."""
    df = read_table(path)
    if df.empty:
        raise DataError(f"{path}: no rows")
    table = recognise(
        df, path, required=_OHLC, optional=("volume",), data=data, exchange_tz=hours.tz
    )
    check_order(table)
    ts = table.timestamps
    v = _numeric(table.frame, _OHLC, path)
    validate_ohlc(v, path)
    volume = _volume(table.frame, path)
    bm = bar_minutes or infer_bar_minutes(ts)
    lo, hi = hours.bounds_s
    inside = inside_session(ts, bm, lo, hi)
    clock_check(table, inside, bm, hours)
    warnings: list[str] = []
    n_out = int((~inside).sum())
    if n_out:
        i = int(np.flatnonzero(~inside)[0])
        warnings.append(
            f"{path}: {n_out} bar(s) outside the session {hours.open}-{hours.close} ignored "
            f"(first: {where(path, i).split(': ', 1)[1]})"
        )
    warnings += gap_warnings(ts[inside], bm, lo, path)
    bars = Bars(
        source=str(path),
        timestamps=ts[inside],
        open=v["open"][inside],
        high=v["high"][inside],
        low=v["low"][inside],
        close=v["close"][inside],
        volume=volume[inside] if volume is not None else None,
        bar_minutes=bm,
    )
    info = FileInfo(path.name, table.format, len(df), ts.min(), ts.max())
    return bars, warnings, info, n_out


def load_vix(path: Path, hours: Hours, data: DataSection) -> tuple[VixBars, FileInfo]:
    """VIX closes with their bar starts and bar length in minutes."""
    df = read_table(path)
    if df.empty:
        raise DataError(f"{path}: no rows")
    optional = ("open", "high", "low")
    table = recognise(
        df, path, required=("close",), optional=optional, data=data, exchange_tz=hours.tz
    )
    check_order(table)
    ts = table.timestamps
    close = _numeric(table.frame, ("close",), path)["close"]
    if (close < 0).any():
        i = int(np.flatnonzero(close < 0)[0])
        raise DataError(f"{where(path, i)}: negative VIX {show(close[i])}")
    if set(optional) <= set(table.frame.columns):
        validate_ohlc(_numeric(table.frame, _OHLC, path), path)
    bm = infer_bar_minutes(ts)
    lo, hi = hours.bounds_s
    inside = inside_session(ts, bm, lo - VIX_MARGIN_S, hi + VIX_MARGIN_S)
    clock_check(table, inside, bm, hours, VIX_MARGIN_S)
    info = FileInfo(path.name, table.format, len(df), ts.min(), ts.max())
    return VixBars(str(path), ts, close, bm), info


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


def load_folder_detail(
    folder: str | Path,
    tz: str,
    session_open: dt.time,
    session_close: dt.time,
    bar_minutes: int | None = None,
    *,
    data: DataSection | None = None,
    vix_dir: Path | None = None,
) -> FolderDetail:
    """Load a data folder, validate it, align VIX to the underlying bars, and keep what was
    found on the way (for ``dyntrail data check``). ``vix_dir``: where the VIX file is when the
    folder has none of its own (the parent of one underlying's folder, in a run of several)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    data = data or DataSection()
    hours = Hours(tz, session_open, session_close)
    upath = require_file(root, "underlying")
    vpath = find_file(root, "vix") or require_file(vix_dir or root, "vix")
    bars, warnings, uinfo, n_out = load_underlying(upath, hours, bar_minutes, data)
    vbars, vinfo = load_vix(vpath, hours, data)
    step = np.timedelta64(bars.bar_minutes * 60, "s")
    vstep = np.timedelta64(vbars.bar_minutes * 60, "s")
    vix = align_asof(bars.timestamps + step, vbars.timestamps + vstep, vbars.close)
    if np.isnan(vix).any():
        i = int(np.flatnonzero(np.isnan(vix))[0])
        raise DataError(
            f"{vpath}: no VIX value closed by {bars.timestamps[i] + step} "
            f"(needed by {upath} bar {bars.timestamps[i]}); VIX must start no later than the bars"
        )
    files = [uinfo, vinfo]
    opath = find_file(root, "options")
    options = None
    if opath is not None:
        raw = read_table(opath)
        options, ofmt, ots = recognise_options(raw, opath, data=data, exchange_tz=tz)
        first, last = (ots.min(), ots.max()) if ots.size else (np.datetime64("NaT"),) * 2
        files.append(FileInfo(opath.name, ofmt, len(raw), first, last))
    formats = tuple(f"{f.name}: {f.format}" for f in files)
    market = MarketData(root, bars, vix, options, tuple(warnings), formats)
    return FolderDetail(market, tuple(files), vbars, n_out, opath)


def load_folder(
    folder: str | Path,
    tz: str,
    session_open: dt.time,
    session_close: dt.time,
    bar_minutes: int | None = None,
    *,
    data: DataSection | None = None,
    vix_dir: Path | None = None,
) -> MarketData:
    """Load a data folder, validate it and align VIX to the underlying bars. ``tz`` is the
    exchange's timezone (``[session] timezone``); ``data`` says how to read the files (``[data]``:
    the zone of times written without one, column names, a date format); ``vix_dir`` as for
    ``load_folder_detail``."""
    return load_folder_detail(
        folder, tz, session_open, session_close, bar_minutes, data=data, vix_dir=vix_dir
    ).market
