"""What a data folder holds, as ``dyntrail data check`` reports it.

The folder is loaded exactly as a backtest loads it (the same loaders, the same errors); the
report then says how each file was read and what the bars look like: sessions, bars per
session, gaps, late opens and early closes, bars outside the session, how fresh the VIX is, and
what the options file holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dyntrail.core.config import Config
from dyntrail.data.loaders import FolderDetail, load_folder_detail
from dyntrail.data.options_synth import RecordedQuotes
from dyntrail.data.session_fit import Hours, session_gaps


@dataclass(frozen=True, slots=True)
class FileSummary:
    """One file: how it was read, its rows and their time range (exchange time)."""

    name: str
    format: str
    rows: int
    first: str
    last: str


@dataclass(frozen=True, slots=True)
class VixSummary:
    """The VIX file's bars and how old the VIX value each underlying bar uses is: the bar's close
    minus the close of the VIX bar it uses, in minutes."""

    bar_minutes: int
    first: str
    last: str
    max_age_min: float
    median_age_min: float
    sessions_on_previous_day: int  # sessions with a bar that uses an earlier day's VIX


@dataclass(frozen=True, slots=True)
class OptionsSummary:
    """The options file: rows, contracts (expiry, strike, right), expiries and strikes."""

    rows: int
    contracts: int
    expiries: int
    strikes: int
    first: str
    last: str


@dataclass(frozen=True, slots=True)
class DataReport:
    """A loaded folder, summarised. Counts are of underlying bars inside the session."""

    folder: str
    files: tuple[FileSummary, ...]
    bar_minutes: int
    sessions: int
    first_session: str
    last_session: str
    bars_per_session: dict[str, float]  # min, median, max
    full_session_bars: int  # bars in a session from open to close
    gaps: int  # places inside a session where bars are missing
    missing_bars: int  # bars missing in those gaps
    late_opens: int
    early_closes: int
    outside_session: int  # underlying bars outside the session, ignored
    vix: VixSummary
    options: OptionsSummary | None
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lines(self) -> list[str]:
        """The report as plain text lines."""
        out = [f"{self.folder}: loads"]
        width = max(len(f.name) for f in self.files)
        for f in self.files:
            span = f"{f.rows:,} rows, {f.first} .. {f.last}"
            out.append(f"  {f.name:<{width}}  {f.format}; {span}")
        b = self.bars_per_session
        v = self.vix
        out += [
            f"bars             {self.bar_minutes}-minute; {self.sessions} sessions, "
            f"{self.first_session} .. {self.last_session}",
            f"bars a session   min {b['min']:g}, median {b['median']:g}, max {b['max']:g} "
            f"(a full session has {self.full_session_bars})",
            f"gaps             {self.gaps} inside sessions ({self.missing_bars} bars missing); "
            f"{self.late_opens} late opens, {self.early_closes} early closes",
            f"outside session  {self.outside_session} bars, ignored",
            f"VIX              {v.bar_minutes}-minute bars; the value a bar uses is at most "
            f"{v.max_age_min:g} minutes old (median {v.median_age_min:g}); "
            f"{v.sessions_on_previous_day} sessions use an earlier day's VIX",
        ]
        if self.options is None:
            out.append("options          none: option prices come from the pricing model")
        else:
            o = self.options
            out.append(
                f"options          {o.rows:,} rows, {o.contracts} contracts, {o.expiries} "
                f"expiries, {o.strikes} strikes"
            )
        return out


def _text(ts: np.datetime64) -> str:
    return "" if np.isnat(ts) else str(ts.astype("datetime64[s]")).replace("T", " ")


def _vix_summary(detail: FolderDetail) -> VixSummary:
    bars, vb = detail.market.bars, detail.vix_bars
    bar_close = bars.timestamps + np.timedelta64(bars.bar_minutes * 60, "s")
    vix_close = vb.timestamps + np.timedelta64(vb.bar_minutes * 60, "s")
    idx = np.searchsorted(vix_close, bar_close, side="right") - 1  # >= 0: checked on load
    age_min = (bar_close - vix_close[idx]).astype(np.int64) / 60.0
    days = bars.timestamps.astype("datetime64[D]")
    earlier = vb.timestamps[idx].astype("datetime64[D]") < days
    return VixSummary(
        bar_minutes=vb.bar_minutes,
        first=_text(vb.timestamps[0]),
        last=_text(vb.timestamps[-1]),
        max_age_min=float(age_min.max()),
        median_age_min=float(np.median(age_min)),
        sessions_on_previous_day=int(np.unique(days[earlier]).size),
    )


def _options_summary(detail: FolderDetail, tz: str) -> OptionsSummary | None:
    df, path = detail.market.options, detail.options_path
    if df is None or path is None:
        return None
    recorded = RecordedQuotes.from_frame(df, str(path), tz)  # the backtest's checks
    info = next(f for f in detail.files if f.name == path.name)
    return OptionsSummary(
        rows=len(df),
        contracts=len(recorded),
        expiries=len(recorded.expiries),
        strikes=int(pd.to_numeric(df["strike"]).nunique()),
        first=_text(info.first),
        last=_text(info.last),
    )


def check_folder(folder: Path, cfg: Config) -> DataReport:
    """Load ``folder`` as a backtest with ``cfg`` would and summarise it. Raises the loaders'
    ``DataError`` when the folder does not load."""
    s = cfg.session
    detail = load_folder_detail(
        folder, s.timezone, s.open, s.close, s.bar_minutes or None, data=cfg.data
    )
    bars = detail.market.bars
    bm = bars.bar_minutes
    open_s, close_s = Hours(s.timezone, s.open, s.close).bounds_s
    bar_days = bars.timestamps.astype("datetime64[D]")
    days, per_day = np.unique(bar_days, return_counts=True)
    late, gaps = session_gaps(bars.timestamps, bm, open_s)
    step_s = np.diff(bars.timestamps.astype(np.int64))
    last_bar = np.r_[bar_days[1:] != bar_days[:-1], True]
    ends = (bars.timestamps[last_bar] - days).astype(np.int64) + bm * 60  # one per session
    return DataReport(
        folder=str(folder),
        files=tuple(
            FileSummary(f.name, f.format, f.rows, _text(f.first), _text(f.last))
            for f in detail.files
        ),
        bar_minutes=bm,
        sessions=int(days.size),
        first_session=str(days[0]),
        last_session=str(days[-1]),
        bars_per_session={
            "min": int(per_day.min()),
            "median": float(np.median(per_day)),
            "max": int(per_day.max()),
        },
        full_session_bars=(close_s - open_s) // (bm * 60),
        gaps=int(gaps.sum()),
        missing_bars=int((step_s[gaps] // (bm * 60) - 1).sum()),
        late_opens=int(late.sum()),
        early_closes=int((ends < close_s).sum()),
        outside_session=detail.outside_session,
        vix=_vix_summary(detail),
        options=_options_summary(detail, s.timezone),
        warnings=detail.market.warnings,
    )
