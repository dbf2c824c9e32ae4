"""Writing synthetic datasets to a data folder, and the cached built-in 12-month dataset."""

from __future__ import annotations

import datetime as dt
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dyntrail.data.calendar import session_days
from dyntrail.data.synthetic import SyntheticMarket, add_months, generate

DEFAULT_START = dt.date(2025, 1, 1)


def synth_days(months: int, start: dt.date = DEFAULT_START) -> tuple[list[dt.date], list[str]]:
    """NSE trading days from ``start`` for ``months`` months (end exclusive), and warnings.
    Past the calendar's known holidays the days are the weekdays, with a warning per year."""
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    end = add_months(start, months) - dt.timedelta(days=1)
    return session_days(None, start, end)


def write_folder(m: SyntheticMarket, out: Path, fmt: str = "parquet") -> Path:
    """Write ``underlying`` and ``vix`` files in the documented data format."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be 'parquet' or 'csv', got {fmt!r}")
    out.mkdir(parents=True, exist_ok=True)
    ts = pd.Series(m.timestamps.astype("datetime64[s]"))
    und = pd.DataFrame(
        {
            "timestamp": ts,
            "open": m.open,
            "high": m.high,
            "low": m.low,
            "close": m.close,
            "volume": m.volume.astype("int64"),
        }
    )
    vix = pd.DataFrame({"timestamp": ts, "close": m.vix})
    for stem, df in (("underlying", und), ("vix", vix)):
        for old in (out / f"{stem}.csv", out / f"{stem}.parquet"):
            old.unlink(missing_ok=True)
        if fmt == "csv":
            df.assign(timestamp=df["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
                out / f"{stem}.csv", index=False
            )
        else:
            df.to_parquet(out / f"{stem}.parquet", index=False)
    return out


def synth_to_folder(
    out: Path,
    months: int = 12,
    seed: int = 7,
    start: dt.date = DEFAULT_START,
    fmt: str = "parquet",
    on_warning: Callable[[str], None] | None = None,
) -> Path:
    """Generate ``months`` of synthetic regimes with ``seed`` and write them to ``out``.

    Calendar warnings (days past the known NSE holidays are weekdays) go to ``on_warning``;
    without one they are issued as Python ``UserWarning``s.
    """
    days, notes = synth_days(months, start)
    for note in notes:
        if on_warning is not None:
            on_warning(note)
        else:
            warnings.warn(note, UserWarning, stacklevel=2)
    return write_folder(generate(days, seed=seed), out, fmt)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dyntrail"


def builtin_dataset(seed: int = 7, months: int = 12) -> Path:
    """The built-in synthetic dataset, generated once per (seed, months) and reused."""
    # v2: the calendar gained NSE's weekend special sessions (2025-02-01 Budget day).
    folder = cache_dir() / f"synthetic-{months}m-seed{seed}-v2"
    if not ((folder / "underlying.parquet").exists() and (folder / "vix.parquet").exists()):
        tmp = folder.with_name(folder.name + ".tmp")
        synth_to_folder(tmp, months=months, seed=seed)
        if folder.exists():
            for p in folder.iterdir():
                p.unlink()
            folder.rmdir()
        tmp.rename(folder)
    return folder
