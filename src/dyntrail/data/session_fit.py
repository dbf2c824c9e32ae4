"""Where a data file's bars sit in the trading session: bars outside the session,
late opens and gaps, and the check that a file's clock is right.

Pure functions on naive exchange-time bar starts (datetime64[s]).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dyntrail.data.formats import Table
from dyntrail.data.stamps import convert
from dyntrail.errors import DataError


@dataclass(frozen=True, slots=True)
class Hours:
    """The session: the exchange's timezone and its open and close (exchange time)."""

    tz: str
    open: dt.time
    close: dt.time

    @property
    def bounds_s(self) -> tuple[int, int]:
        """Session open and close in seconds after midnight."""
        return (
            self.open.hour * 3600 + self.open.minute * 60 + self.open.second,
            self.close.hour * 3600 + self.close.minute * 60 + self.close.second,
        )

    def __str__(self) -> str:
        return f"{self.open}-{self.close} ({self.tz})"


def inside_session(
    ts: NDArray[np.datetime64], bar_minutes: int, open_s: int, close_s: int
) -> NDArray[np.bool_]:
    """Bars that start at or after the open and end by the close."""
    tod = (ts - ts.astype("datetime64[D]")).astype(np.int64)
    return (tod >= open_s) & (tod + bar_minutes * 60 <= close_s)  # type: ignore[no-any-return]


def clock_check(
    table: Table, inside: NDArray[np.bool_], bar_minutes: int, hours: Hours, margin_s: int = 0
) -> None:
    """Most bars outside the session: the file's clock is off (a DataError saying how to fix
    it when reading the times without a zone in another zone would put them inside)."""
    n, n_out = inside.size, int((~inside).sum())
    if 2 * n_out <= n:
        return
    lo, hi = hours.bounds_s
    span = f"the session {hours}"
    span += f" (give or take {margin_s // 60} minutes)" if margin_s else ""
    hint = f"; the file's clock looks wrong (times without a zone are read as {table.naive_tz})"
    if not table.naive.any():
        hint = "; the file's clock looks wrong (its times carry their zone or are epochs)"
    else:
        ts = table.timestamps[table.naive]
        wall = ts if table.naive_tz == hours.tz else convert(ts, hours.tz, table.naive_tz)
        for zone in ("UTC", hours.tz):
            if zone == table.naive_tz:
                continue
            moved = convert(wall, zone, hours.tz)
            ok = inside_session(moved, bar_minutes, lo - margin_s, hi + margin_s)
            if 2 * int(ok.sum()) > ok.size:
                hint = (
                    '; the file looks like UTC saved without a zone: set [data] timezone = "UTC"'
                    if zone == "UTC"
                    else f"; its times without a zone look like exchange time ({hours.tz}): "
                    'set [data] timezone = "" or remove the key'
                )
                break
    share = f"{n_out} of {n} bars ({n_out / n:.0%})"
    raise DataError(f"{table.path}: {share} fall outside {span}{hint}")


def session_gaps(
    ts: NDArray[np.datetime64], bar_minutes: int, open_s: int
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per bar: opens its day late (after ``open_s``); per step between bars of one day: longer
    than one bar (a gap)."""
    days = ts.astype("datetime64[D]")
    secs = (ts - days).astype(np.int64)
    new_day = np.r_[True, days[1:] != days[:-1]] if ts.size else np.zeros(0, bool)
    late = new_day & (secs > open_s)
    step = np.diff(ts.astype(np.int64))
    gaps = (~new_day[1:]) & (step > bar_minutes * 60)
    return late, gaps


def gap_warnings(
    ts: NDArray[np.datetime64], bar_minutes: int, open_s: int, path: Path
) -> list[str]:
    """Missing bars inside a day and late opens, summarised (a warning, never an error)."""
    if ts.size == 0:
        return []
    late, gaps = session_gaps(ts, bar_minutes, open_s)
    out = []
    if late.any():
        first = str(ts[np.flatnonzero(late)[0]])
        out.append(f"{path}: {int(late.sum())} day(s) open late (first: {first})")
    if gaps.any():
        first = str(ts[np.flatnonzero(gaps)[0]])
        out.append(f"{path}: {int(gaps.sum())} gap(s) inside a session (first after {first})")
    return out
