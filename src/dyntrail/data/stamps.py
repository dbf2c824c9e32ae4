"""Reading times as data files write them.

A column of times is one of: ISO 8601 text (with or without a UTC offset, row by row), a date and
a time (in one column or two: ``dd/mm/yyyy``, ``dd-mm-yyyy``, ``mm/dd/yyyy``, ``yyyy-mm-dd``,
``yyyymmdd``, ``dd-Mon-yyyy``; ``HH:MM[:SS]``, ``hh:mm AM``, ``HHMM[SS]``), epoch numbers, or
datetimes already typed (Parquet). The way a column is written is decided once for the whole
column, deterministically: each distinct value is classified, the kind covering the most rows
wins, and a row of another kind is unparsable.

Day and month: a first field above 12 anywhere in the column means day first, a second field
above 12 means month first; when neither is seen the column is read day first, as Indian vendors
write dates. Epoch numbers are told apart by magnitude: below 1e11 seconds, below 1e14
milliseconds, below 1e17 microseconds, else nanoseconds; epochs are UTC.

Pure functions: unparsable rows come back as NaT, the caller names the file and the row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

NAT = np.datetime64("NaT", "s")
_ISO = re.compile(
    r"(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)\s*(Z|[+-]\d{2}:?\d{2})?"
)
_ZONE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_SPLIT = re.compile(r"(\S+)[ T](\S+(?:\s*[AaPp][Mm])?)")
_YMD = re.compile(r"(\d{4})([/.-])(\d{1,2})\2(\d{1,2})")
_DMY = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_MON = re.compile(r"(\d{1,2})([-/ ])([A-Za-z]{3})[A-Za-z]*\2(\d{4}|\d{2})")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp][Mm])?")
_DIGITS = re.compile(r"\d{1,6}")
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_EPOCH_UNITS = ((1e11, 1, "seconds"), (1e14, 1e3, "milliseconds"), (1e17, 1e6, "microseconds"))


@dataclass(frozen=True, slots=True)
class Parsed:
    """Times of a column, row by row (datetime64[s], NaT where a row did not parse).

    ``wall`` holds the rows written without a zone, as written; ``utc`` the rows with a zone
    (or epochs), as UTC instants; ``naive`` tells which is which. ``labels`` says how each source
    column is written; ``notes`` what a reader should know (a day/month order taken by default);
    ``offsets`` the UTC offsets seen, in order of first appearance."""

    wall: NDArray[np.datetime64]
    utc: NDArray[np.datetime64]
    naive: NDArray[np.bool_]
    labels: tuple[str, ...]
    notes: tuple[str, ...] = ()
    offsets: tuple[str, ...] = ()

    @property
    def bad(self) -> NDArray[np.bool_]:
        return np.where(self.naive, np.isnat(self.wall), np.isnat(self.utc))


def _nat(n: int) -> NDArray[np.datetime64]:
    return np.full(n, NAT, dtype="datetime64[s]")


def _factorize(col: pd.Series) -> tuple[NDArray[np.intp], pd.Series, NDArray[np.int64]]:
    """Row codes (-1 for empty cells), the distinct values as stripped text, rows per value."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str).str.strip()
    counts = np.bincount(codes[codes >= 0], minlength=len(text)).astype(np.int64)
    return np.asarray(codes, dtype=np.intp), text, counts


def _take(values: NDArray[np.datetime64], codes: NDArray[np.intp]) -> NDArray[np.datetime64]:
    """Per-row values from per-distinct-value ones; empty cells (code -1) are NaT."""
    return np.append(values.astype("datetime64[s]"), NAT)[codes]


def _kinds(text: pd.Series, kinds: tuple[tuple[str, re.Pattern[str]], ...]) -> NDArray[np.str_]:
    """Per text, the first kind whose pattern the whole text matches ("" for none)."""
    out = np.full(len(text), "", dtype=object)
    for name, pattern in reversed(kinds):
        out[text.str.fullmatch(pattern.pattern).fillna(False).to_numpy(dtype=bool)] = name
    return out.astype(str)


def _pick(kinds: NDArray[np.str_], counts: NDArray[np.int64], order: tuple[str, ...]) -> str:
    """The kind covering the most rows (ties: the first in ``order``)."""
    totals = {k: int(counts[kinds == k].sum()) for k in order}
    return max(order, key=lambda k: (totals[k], -order.index(k)))


def parse_single(col: pd.Series, date_format: str = "") -> Parsed:
    """One column holding date and time."""
    n = len(col)
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        utc = col.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[s]")
        return Parsed(_nat(n), utc, np.zeros(n, bool), (f"as datetimes in {col.dt.tz}",))
    if pd.api.types.is_datetime64_dtype(col):
        return Parsed(col.to_numpy("datetime64[s]"), _nat(n), np.ones(n, bool), ("as datetimes",))
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return _epoch(col.to_numpy(dtype=np.float64))
    codes, text, counts = _factorize(col)
    if date_format:
        return _with_format(text, codes, date_format)
    fast = _iso_uniform(text, codes)
    if fast is not None:
        return fast
    kinds = _kinds(text, (("iso", _ISO), ("number", _NUMBER), ("split", _SPLIT)))
    kind = _pick(kinds, counts, ("iso", "split", "number"))
    chosen = text.where(kinds == kind, "")
    if kind == "number":
        p = _epoch(pd.to_numeric(chosen, errors="coerce").to_numpy(dtype=np.float64))
        return Parsed(_nat(n), _take(p.utc, codes), np.zeros(n, bool), p.labels)
    if kind == "iso":
        return _iso(chosen, codes)
    parts = chosen.str.extract(_SPLIT.pattern)
    dcodes, dtext, _ = _factorize(parts[0])
    days, dlabel, notes = parse_dates(dtext.tolist())
    tcodes, ttext, _ = _factorize(parts[1])
    secs, tlabel = parse_times(ttext.tolist())
    wall = _at(np.append(days, NAT)[dcodes], np.append(secs, np.nan)[tcodes])
    return Parsed(_take(wall, codes), _nat(n), np.ones(n, bool), (f"{dlabel} {tlabel}",), notes)


def parse_date_time(date: pd.Series, time: pd.Series, date_format: str = "") -> Parsed:
    """A date column and a time column, both without a zone."""
    n = len(date)
    if pd.api.types.is_datetime64_any_dtype(date):
        d = date.dt.tz_localize(None) if isinstance(date.dtype, pd.DatetimeTZDtype) else date
        days = d.dt.normalize().to_numpy("datetime64[D]")
        dlabel, notes = "dates", tuple[str, ...]()
    else:
        codes, text, _ = _factorize(_integers_as_text(date))
        if date_format:
            p = _with_format(text, codes, date_format)
            days = p.wall.astype("datetime64[D]")
            dlabel, notes = p.labels[0], ()
        else:
            u, dlabel, notes = parse_dates(text.tolist())
            days = _take(u.astype("datetime64[s]"), codes).astype("datetime64[D]")
    secs, tlabel = _time_column(time)
    wall = _at(days, secs)
    return Parsed(wall, _nat(n), np.ones(n, bool), (dlabel, tlabel), notes)


def _integers_as_text(col: pd.Series) -> pd.Series:
    """Whole numbers (``20250103`` read as a number, or as ``20250103.0``) as digits."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        v = col.to_numpy(dtype=np.float64)
        ok = np.isfinite(v) & (v == np.round(v))
        digits = np.round(np.where(ok, v, 0)).astype(np.int64).astype(str)
        return pd.Series(np.where(ok, digits, ""))
    return col


def _at(days: NDArray[np.datetime64], secs: NDArray[np.float64]) -> NDArray[np.datetime64]:
    """Day plus seconds after midnight (NaT where either is missing)."""
    out: NDArray[np.datetime64] = np.add(days.astype("datetime64[s]"), _seconds(secs))
    return out


def _seconds(secs: NDArray[np.float64]) -> NDArray[np.timedelta64]:
    out = np.full(secs.shape, np.timedelta64("NaT", "s"), dtype="timedelta64[s]")
    ok = np.isfinite(secs)
    out[ok] = secs[ok].astype(np.int64).astype("timedelta64[s]")
    return out


def _digit_stamps(values: NDArray[np.float64]) -> Parsed | None:
    """Whole numbers that are written dates and times, ``yyyymmddHHMM`` (12 digits) or
    ``yyyymmddHHMMSS`` (14), as wall times; None when they are not (then: epochs)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not (finite == np.round(finite)).all():
        return None
    digits = np.round(finite).astype(np.int64)
    for width, label in ((12, "yyyymmddHHMM"), (14, "yyyymmddHHMMSS")):
        if ((digits >= 10 ** (width - 1)) & (digits < 10**width)).all():
            whole = np.where(np.isfinite(values), np.round(values), 0).astype(np.int64)
            text = pd.Series(whole.astype(str))
            fmt = "%Y%m%d%H%M" if width == 12 else "%Y%m%d%H%M%S"
            wall = pd.to_datetime(text, format=fmt, errors="coerce").to_numpy("datetime64[s]")
            if np.isnat(wall[np.isfinite(values)]).any():
                return None
            return Parsed(wall, _nat(values.size), np.ones(values.size, bool), (f"as {label}",))
    return None


def _epoch(values: NDArray[np.float64]) -> Parsed:
    stamps = _digit_stamps(values)
    if stamps is not None:
        return stamps
    n = values.size
    finite = np.isfinite(values)
    mag = float(np.abs(values[finite]).max()) if finite.any() else 0.0
    scale, unit = next(((s, u) for top, s, u in _EPOCH_UNITS if mag < top), (1e9, "nanoseconds"))
    secs = np.floor(values / scale)
    ok = finite & (np.abs(secs) < 1e11)
    utc = _nat(n)
    utc[ok] = secs[ok].astype(np.int64).astype("datetime64[s]")
    return Parsed(_nat(n), utc, np.zeros(n, bool), (f"as epoch {unit}, UTC",))


def _with_format(text: pd.Series, codes: NDArray[np.intp], fmt: str) -> Parsed:
    parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    aware = np.array([bool(re.search(r"%[zZ]", fmt))] * len(codes))
    label = f"{fmt} ([data] date_format)"
    if aware.any():
        utc = parsed.dt.tz_localize(None).to_numpy("datetime64[s]")
        return Parsed(_nat(len(codes)), _take(utc, codes), ~aware, (label,))
    wall = parsed.dt.tz_localize(None).to_numpy("datetime64[s]")
    return Parsed(_take(wall, codes), _nat(len(codes)), ~aware, (label,))


def _iso_uniform(text: pd.Series, codes: NDArray[np.intp]) -> Parsed | None:
    """The common case, read at once: every value ISO 8601, all without a zone or all with
    one offset. None otherwise."""
    try:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # several offsets, or rows with and without one
        return None
    n = len(codes)
    if len(text) == 0 or parsed.isna().any():
        return None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        utc = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[s]")
        offset = _offset(parsed.iloc[0].strftime("%z"))
        return Parsed(_nat(n), _take(utc, codes), np.zeros(n, bool), ("ISO 8601",), (), (offset,))
    wall = parsed.to_numpy("datetime64[s]")
    return Parsed(_take(wall, codes), _nat(n), np.ones(n, bool), ("ISO 8601",))


def _offset(text: str) -> str:
    """``Z``, ``+0530`` or ``+05:30`` as ``+HH:MM``."""
    if text in ("Z", ""):
        return "+00:00"
    return text if ":" in text else f"{text[:3]}:{text[3:]}"


def _iso(text: pd.Series, codes: NDArray[np.intp]) -> Parsed:
    """ISO 8601 text, each row naive or with its own offset."""
    has_zone = text.str.contains(_ZONE.pattern).fillna(False).to_numpy(dtype=bool)
    wall, utc = _nat(len(text)), _nat(len(text))
    if (~has_zone).any():
        w = pd.to_datetime(text[~has_zone], format="ISO8601", errors="coerce")
        wall[~has_zone] = w.to_numpy("datetime64[s]")
    if has_zone.any():
        u = pd.to_datetime(text[has_zone], format="ISO8601", errors="coerce", utc=True)
        utc[has_zone] = u.dt.tz_localize(None).to_numpy("datetime64[s]")
    offsets: list[str] = []
    for tail in pd.unique(text[has_zone].str[-6:].to_numpy(dtype=object)):
        m = _ZONE.search(str(tail))
        if m and _offset(m.group(0)) not in offsets:
            offsets.append(_offset(m.group(0)))
    naive = np.append(~has_zone, True)[codes]
    return Parsed(_take(wall, codes), _take(utc, codes), naive, ("ISO 8601",), (), tuple(offsets))


def parse_dates(text: list[str]) -> tuple[NDArray[np.datetime64], str, tuple[str, ...]]:
    """Distinct date texts as datetime64[D] (NaT where unparsable), the way they are written,
    and notes. Raises ValueError for a column mixing day-first and month-first dates."""
    patterns = {"ymd": _YMD, "dmy": _DMY, "compact": _COMPACT, "mon": _MON}
    kinds = np.array(
        [next((k for k, pat in patterns.items() if pat.fullmatch(t)), "") for t in text], dtype=str
    )
    kind = _pick(kinds, np.ones(len(text), np.int64), tuple(patterns))
    pattern = patterns[kind]
    found = [pattern.fullmatch(t) if k == kind else None for t, k in zip(text, kinds, strict=True)]
    groups = [m.groups() for m in found if m]
    notes: tuple[str, ...] = ()
    if kind == "dmy":
        first = [m.group(0) for m in found if m and int(m.group(1)) > 12]
        second = [m.group(0) for m in found if m and int(m.group(3)) > 12]
        if first and second:
            raise ValueError(f"dates mix day first ({first[0]!r}) and month first ({second[0]!r})")
        day_first = not second
        if not first and not second:  # ambiguous: trading days are weekdays
            day_first, why = _ambiguous_order(groups)
            notes = (why,)
        sep, yy = (groups[0][1], len(groups[0][3])) if groups else ("/", 4)
        label = sep.join(("dd", "mm") if day_first else ("mm", "dd")) + sep + "y" * yy
        order: Callable[[tuple[str, ...]], tuple[int, int, int]] = (
            (lambda g: (_year(g[3]), int(g[2]), int(g[0])))
            if day_first
            else (lambda g: (_year(g[3]), int(g[0]), int(g[2])))
        )
    elif kind == "ymd":
        label = "yyyy{0}mm{0}dd".format(groups[0][1] if groups else "-")
        order = lambda g: (int(g[0]), int(g[2]), int(g[3]))  # noqa: E731
    elif kind == "compact":
        label = "yyyymmdd"
        order = lambda g: (int(g[0]), int(g[1]), int(g[2]))  # noqa: E731
    else:
        label = "dd{0}Mon{0}yyyy".format(groups[0][1] if groups else "-")
        order = lambda g: (_year(g[3]), _MONTHS.get(g[2].lower(), 0), int(g[0]))  # noqa: E731
    out = np.full(len(text), np.datetime64("NaT", "D"), dtype="datetime64[D]")
    for i, m in enumerate(found):
        if m:
            with contextlib.suppress(ValueError):  # no such day: stays NaT
                out[i] = np.datetime64(dt.date(*order(m.groups())), "D")
    return out, label, notes


def _ambiguous_order(groups: list[tuple[str, ...]]) -> tuple[bool, str]:
    """Day first or month first for dd/mm dates none of which has a field above 12: the reading
    that puts fewer of them on a weekend (sessions are weekdays); day first on a tie, as Indian
    vendors write dates. Returns (day_first, the note that says why)."""

    def weekends(day_first: bool) -> int:
        n = 0
        for g in groups:
            a, b, y = int(g[0]), int(g[2]), _year(g[3])
            with contextlib.suppress(ValueError):
                n += (
                    dt.date(y, b, a).weekday() >= 5
                    if day_first
                    else dt.date(y, a, b).weekday() >= 5
                )
        return n

    dmy, mdy = weekends(True), weekends(False)
    if mdy < dmy:
        return False, f"no day above 12: read month first (day first puts {dmy} dates on weekends)"
    if dmy < mdy:
        return True, f"no day above 12: read day first (month first puts {mdy} dates on weekends)"
    return True, "no day above 12: read day first"


def _year(text: str) -> int:
    return 2000 + int(text) if len(text) == 2 else int(text)


def _time_column(col: pd.Series) -> tuple[NDArray[np.float64], str]:
    """Seconds since midnight per row (NaN where unparsable) and the way they are written."""
    if pd.api.types.is_timedelta64_dtype(col):
        return col.dt.total_seconds().to_numpy(dtype=np.float64), "durations"
    if pd.api.types.is_datetime64_any_dtype(col):
        t = col.dt.tz_localize(None) if isinstance(col.dtype, pd.DatetimeTZDtype) else col
        secs = (t - t.dt.normalize()).dt.total_seconds().to_numpy(dtype=np.float64)
        return secs, "times of datetimes"
    codes, text, _ = _factorize(_integers_as_text(col))
    secs, label = parse_times(text.tolist())
    return np.append(secs, np.nan)[codes], label


def parse_times(text: list[str]) -> tuple[NDArray[np.float64], str]:
    """Distinct time texts as seconds since midnight (NaN where unparsable) and the way they are
    written: ``HH:MM[:SS]``, ``hh:mm[:ss] AM`` or digits ``HHMM``/``HHMMSS``."""
    clock = [_CLOCK.fullmatch(t) for t in text]
    digits = [bool(_DIGITS.fullmatch(t)) for t in text]
    if sum(digits) > sum(m is not None for m in clock):
        width = 6 if any(d and len(t) >= 5 for t, d in zip(text, digits, strict=True)) else 4
        out = np.array(
            [
                _hms(t.zfill(width)[:2], t.zfill(width)[2:4], t.zfill(width)[4:] or "0", None)
                if d
                else np.nan
                for t, d in zip(text, digits, strict=True)
            ]
        )
        return out, "HHMMSS" if width == 6 else "HHMM"
    out = np.array([_hms(*m.groups()) if m else np.nan for m in clock])
    has_s = any(m and m.group(3) for m in clock)
    ampm = any(m and m.group(4) for m in clock)
    label = (
        ("hh:mm:ss" if has_s else "hh:mm") + " AM/PM"
        if ampm
        else ("HH:MM:SS" if has_s else "HH:MM")
    )
    return out, label


def _hms(h: str, m: str, s: str | None, ampm: str | None) -> float:
    hour, minute, sec = int(h), int(m), int(s or 0)
    if ampm:
        if not 1 <= hour <= 12:
            return np.nan
        hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
    if hour > 23 or minute > 59 or sec > 59:
        return np.nan
    return float(hour * 3600 + minute * 60 + sec)


def to_exchange(p: Parsed, naive_tz: str, exchange_tz: str) -> NDArray[np.datetime64]:
    """Naive exchange time (datetime64[s]): rows without a zone are taken in ``naive_tz``, the
    others converted from UTC. A wall time that does not exist in ``naive_tz`` or occurs twice
    there (daylight saving) becomes NaT."""
    out = _nat(p.naive.size)
    if p.naive.any():
        w = p.wall[p.naive]
        out[p.naive] = w if naive_tz == exchange_tz else convert(w, naive_tz, exchange_tz)
    if (~p.naive).any():
        out[~p.naive] = convert(p.utc[~p.naive], "UTC", exchange_tz)
    return out


def convert(wall: NDArray[np.datetime64], from_tz: str, to_tz: str) -> NDArray[np.datetime64]:
    """Wall times in ``from_tz`` as wall times in ``to_tz`` (NaT in, or ambiguous: NaT out)."""
    idx = pd.DatetimeIndex(wall).tz_localize(from_tz, ambiguous="NaT", nonexistent="NaT")
    out: NDArray[np.datetime64] = idx.tz_convert(to_tz).tz_localize(None).to_numpy("datetime64[s]")
    return out
