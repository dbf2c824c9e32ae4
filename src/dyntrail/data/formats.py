"""Recognising a data file's layout: which columns hold the time and the prices.

Recognised without any setting (headers in any case; ``<DATE>``-style brackets, spaces and a
byte-order mark ignored):

- dyntrail's own: ``timestamp, open, high, low, close[, volume]``;
- Kite Connect candles: ``date, open, high, low, close, volume[, oi]``, the date with its
  ``+0530`` offset;
- vendor exports: a ``Date`` and a ``Time`` column (or ``Datetime``), capitalised headers, and
  a ticker or symbol column, which is ignored: one file holds one instrument;
- epoch numbers in the time column (see ``dyntrail.data.stamps``);
- any of these as Parquet.

``[data.columns]`` names a header that is not recognised (it applies to every file that has
that header; elsewhere recognition goes on); ``[data] date_format`` the date format (a file it
reads in no row is recognised as usual); ``[data] timezone`` the zone of times written without
one. The recognised layout is described in one
short line, e.g. ``kite candles (date with +05:30 offsets)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dyntrail.core.config import DataSection
from dyntrail.data.stamps import Parsed, parse_date_time, parse_single, to_exchange
from dyntrail.errors import DataError

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "datetime", "date_time", "time_stamp"),
    "date": ("date", "trade_date", "tradedate"),
    "time": ("time", "trade_time", "tradetime"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
}
_TICKERS = ("ticker", "symbol", "instrument", "tradingsymbol", "trading_symbol", "scrip", "name")
_OPTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "expiry": ("expiry", "expiry_date", "expirydate"),
    "strike": ("strike", "strike_price", "strikeprice"),
    "right": ("right", "option_type", "optiontype"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "bid": ("bid",),
    "ask": ("ask",),
    "volume": ("volume", "vol"),
    "oi": ("oi", "open_interest"),
}
_TIME_KEYS = ("timestamp", "date", "time")


def where(path: Path, i: int) -> str:
    """Human position of data row ``i`` (0-based): the CSV line (the header is line 1) or the
    Parquet row (from 1)."""
    return f"{path}: line {i + 2}" if path.suffix == ".csv" else f"{path}: row {i + 1}"


def show(value: Any) -> str:
    """A cell as a person reads it: text quoted, numbers plain, an empty cell ``empty``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA:
        return "empty"
    if isinstance(value, float) and math.isnan(value):
        return "empty"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def header_key(header: object) -> str:
    """A header compared loosely: ``" <Open> "`` and ``"OPEN"`` both read ``open``."""
    return re.sub(r"[\ufeff<>]", "", str(header)).strip().lower().replace(" ", "_")


@dataclass(frozen=True, slots=True)
class Table:
    """A data file read in dyntrail's names: ``frame`` holds the recognised value columns
    (``open``, ``high``, ``low``, ``close``, ``volume`` where present), ``timestamps`` the rows'
    times as naive exchange time (datetime64[s], in file order, not yet checked for order)."""

    path: Path
    format: str
    frame: pd.DataFrame
    timestamps: NDArray[np.datetime64]
    naive: NDArray[np.bool_]  # rows whose time was written without a zone
    naive_tz: str  # the zone those rows were read in
    time_columns: tuple[pd.Series, ...]  # the file's time column(s), for messages

    def shown(self, i: int) -> str:
        """Row ``i``'s time as the file writes it."""
        return " ".join(_plain(c.iloc[i]) for c in self.time_columns)


def _plain(value: Any) -> str:
    text = show(value)
    return text[1:-1] if isinstance(value, str) else text


def find_columns(
    df: pd.DataFrame, path: Path, data: DataSection, names: dict[str, tuple[str, ...]]
) -> tuple[dict[str, str], set[str]]:
    """Our name -> the file's header, for each of ``names`` found: a ``[data.columns]`` mapping
    first, then the usual headers. Also the names found through the mapping."""
    mapping = {k: v for k, v in data.columns.model_dump().items() if v and v in df.columns}
    claimed = set(mapping.values())
    by_key: dict[str, list[str]] = {}
    for h in df.columns:
        if str(h) not in claimed:
            by_key.setdefault(header_key(h), []).append(str(h))
    found: dict[str, str] = {}
    for ours, keys in names.items():
        if ours in mapping:
            found[ours] = mapping[ours]
            continue
        hits = [h for k in keys for h in by_key.get(k, [])]
        if len(hits) > 1:
            both = " and ".join(repr(h) for h in hits)
            raise DataError(
                f"{path}: columns {both} both read as {ours!r}: name the one to use with "
                f'[data.columns] {ours} = "..."'
            )
        if hits:
            found[ours] = hits[0]
    return found, {k for k in mapping if k in names}


def _missing(df: pd.DataFrame, path: Path, data: DataSection, missing: Sequence[str]) -> DataError:
    has = ", ".join(map(str, df.columns))
    mapped = data.columns.model_dump()
    hints = [
        f"[data.columns] {k} = {mapped[k]!r} is not a header of this file"
        for k in ("timestamp", *missing)
        if mapped.get(k) and mapped[k] not in df.columns
    ]
    hint = "; " + "; ".join(hints) if hints else ""
    return DataError(f"{path}: missing column(s) {', '.join(missing)} (has: {has}){hint}")


def _time_headers(found: dict[str, str], mapped: set[str]) -> tuple[str, ...] | None:
    """The header(s) holding the time: mapped ones first, then timestamp, date + time, date."""
    if "timestamp" in mapped:
        return (found["timestamp"],)
    if "date" in mapped:
        return (found["date"], found["time"]) if "time" in found else (found["date"],)
    if "timestamp" in found:
        return (found["timestamp"],)
    if "date" in found:
        return (found["date"], found["time"]) if "time" in found else (found["date"],)
    return None


def read_times(
    df: pd.DataFrame, path: Path, cols: tuple[str, ...], data: DataSection, exchange_tz: str
) -> tuple[NDArray[np.datetime64], Parsed, str]:
    """The rows' times as naive exchange time, how they were written, and a description."""
    naive_tz = data.timezone or exchange_tz
    try:
        p = _parse(df, cols, data.date_format)
        if data.date_format and p.bad.all():  # written another way: recognise it
            p = _parse(df, cols, "")
    except ValueError as exc:
        raise DataError(f"{path}: column {cols[0]!r}: {exc}") from None
    bad = p.bad
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        text = " ".join(_plain(df[c].iloc[i]) for c in cols)
        layout = (
            "no row is written in a layout dyntrail knows: give it with [data] date_format, "
            'e.g. "%d/%m/%Y %H:%M"'
            if bad.all()
            else f"the column reads as {_describe_times(cols, p, naive_tz, exchange_tz)}"
        )
        raise DataError(f"{where(path, i)}: unparsable timestamp {text!r} ({layout})")
    ts = to_exchange(p, naive_tz, exchange_tz)
    lost = np.isnat(ts)
    if lost.any():
        i = int(np.flatnonzero(lost)[0])
        text = " ".join(_plain(df[c].iloc[i]) for c in cols)
        raise DataError(
            f"{where(path, i)}: timestamp {text!r} does not exist in {naive_tz}, or occurs "
            "twice there (a daylight-saving change): write it with its UTC offset"
        )
    return ts, p, _describe_times(cols, p, naive_tz, exchange_tz)


def _parse(df: pd.DataFrame, cols: tuple[str, ...], date_format: str) -> Parsed:
    if len(cols) == 2:
        return parse_date_time(df[cols[0]], df[cols[1]], date_format)
    return parse_single(df[cols[0]], date_format)


def _describe_times(cols: tuple[str, ...], p: Parsed, naive_tz: str, exchange_tz: str) -> str:
    n_naive = int(p.naive.sum())
    offsets = " and ".join(p.offsets)
    if len(cols) == 2:
        text = f"{cols[0]} {p.labels[0]} + {cols[1]} {p.labels[1]}"
    elif p.labels[0] == "ISO 8601" and p.offsets and n_naive == 0:
        text = f"{cols[0]} with {offsets} offsets"
    elif p.labels[0] == "ISO 8601" and p.offsets:
        n_zone = p.naive.size - n_naive
        text = f"{cols[0]} ISO 8601: {n_naive} rows without a zone, {n_zone} with {offsets} offsets"
    else:
        text = f"{cols[0]} {p.labels[0]}"
    if n_naive and naive_tz != exchange_tz:
        text += f", times without a zone read as {naive_tz}"
    return "; ".join((text, *p.notes))


def _layout(path: Path, found: dict[str, str], cols: tuple[str, ...], mapped: set[str]) -> str:
    if mapped:
        return "columns from [data.columns]"
    exact = all(found[k] == k for k in found if k not in _TIME_KEYS)
    if exact and cols == ("timestamp",):
        return "dyntrail"
    if exact and cols == ("date",):
        return "kite candles"
    return "vendor CSV" if path.suffix == ".csv" else "vendor Parquet"


def _ticker_note(df: pd.DataFrame, path: Path, used: set[str]) -> str:
    """One instrument per file: a ticker column with several values is an error."""
    for h in df.columns:
        if str(h) in used or header_key(h) not in _TICKERS:
            continue
        values = [v for v in pd.unique(df[h].dropna())]
        if len(values) > 1:
            listed = ", ".join(_plain(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
            raise DataError(
                f"{path}: column {str(h)!r} holds {len(values)} instruments ({listed}); a data "
                "file holds one instrument: split it into one folder per instrument"
            )
        if values:
            return f"{h} {_plain(values[0])} ignored"
    return ""


def recognise(
    df: pd.DataFrame,
    path: Path,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    data: DataSection | None = None,
    exchange_tz: str = "Asia/Kolkata",
) -> Table:
    """Find the time and the value columns of an underlying or VIX file and read the times."""
    data = data or DataSection()
    names = {k: _SYNONYMS[k] for k in (*_TIME_KEYS, *required, *optional)}
    found, mapped = find_columns(df, path, data, names)
    cols = _time_headers(found, mapped)
    missing = [k for k in required if k not in found]
    if cols is None:
        missing.insert(0, "timestamp (or date and time)")
    if missing or cols is None:
        raise _missing(df, path, data, missing)
    used = set(cols) | {found[k] for k in (*required, *optional) if k in found}
    note = _ticker_note(df, path, used)
    ts, p, times = read_times(df, path, cols, data, exchange_tz)
    values = {k: df[found[k]] for k in (*required, *optional) if k in found}
    layout = _layout(path, found, cols, mapped)
    described = f"{layout} ({times}{'; ' + note if note else ''})"
    return Table(
        path=path,
        format=described,
        frame=pd.DataFrame(values).reset_index(drop=True),
        timestamps=ts,
        naive=p.naive,
        naive_tz=data.timezone or exchange_tz,
        time_columns=tuple(df[c].reset_index(drop=True) for c in cols),
    )


def recognise_options(
    df: pd.DataFrame, path: Path, *, data: DataSection | None = None, exchange_tz: str
) -> tuple[pd.DataFrame, str, NDArray[np.datetime64]]:
    """An options table with dyntrail's column names and its timestamps as the options parser
    reads them (a file already in dyntrail's format keeps its own; any other time layout is
    rewritten as naive exchange-time text, ``2025-03-03 09:15:00``), the layout's description,
    and the rows' times as naive exchange time."""
    data = data or DataSection()
    found, mapped = find_columns(df, path, data, {k: _SYNONYMS[k] for k in _TIME_KEYS})
    cols = _time_headers(found, mapped)
    if cols is None:
        raise _missing(df, path, data, ["timestamp (or date and time)"])
    ts, p, times = read_times(df, path, cols, data, exchange_tz)
    rest = df.drop(columns=list(cols))
    rename: dict[str, str] = {}
    for h in map(str, rest.columns):
        key = header_key(h)
        ours = next((k for k, keys in _OPTION_COLUMNS.items() if key in keys), None)
        if ours is not None and ours not in rest.columns and ours not in rename.values():
            rename[h] = ours
    rest = rest.rename(columns=rename)
    keep = (
        len(cols) == 1
        and p.labels[0] == "ISO 8601"
        and (p.naive.all() or not p.naive.any())
        and not (p.naive.any() and data.timezone not in ("", exchange_tz))
    )
    if keep:
        stamp = df[cols[0]]
    else:
        codes, uniques = pd.factorize(ts)
        text = pd.DatetimeIndex(uniques).strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object)
        stamp = pd.Series(text[codes], index=df.index)
    rest.insert(0, "timestamp", stamp)
    layout = _layout(path, {}, cols, mapped)
    return rest, f"{layout} ({times})", ts
