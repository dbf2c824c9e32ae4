"""What a backtest needs, loaded and checked before anything is written: the data folder (one,
or one per underlying), the contract specs, the trading calendar, the option quotes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dyntrail.core.config import Config, InstrumentSection
from dyntrail.core.config_load import dump_config
from dyntrail.core.contracts import InstrumentSpec
from dyntrail.core.costs import check_cost_coverage
from dyntrail.data.calendar import session_days
from dyntrail.data.loaders import Bars, MarketData, load_folder
from dyntrail.errors import DataError
from dyntrail.instruments import check_config_coverage, resolve_instrument
from dyntrail.runners.drive import DataQuotes, ModelQuotes, choose_quotes


def run_calendar(
    cfg: Config, spec: InstrumentSpec, data_days: list[dt.date]
) -> tuple[list[dt.date], list[str]]:
    """The trading days a run needs (its data's, and 60 days beyond for the expiries ahead) and
    the calendar's warnings. Before anything runs, every fact the run will ask for is checked:
    costs on its first day, and for each trading day the contract's expiry, lot and freeze
    quantity (a ``ConfigError`` naming the key that supplies a missing fact)."""
    first, last = data_days[0], data_days[-1]
    check_cost_coverage(cfg.costs, first, futures=cfg.instrument.trade == "underlying")
    cal, notes = session_days(cfg.calendar, first, last + dt.timedelta(days=60))
    cal = sorted(set(cal) | set(data_days))
    check_config_coverage(cfg, spec, first, last, cal)
    return cal, notes


def bars_calendar(cfg: Config, spec: InstrumentSpec, timestamps: Any) -> list[dt.date]:
    """``run_calendar``'s trading days for bars starting at ``timestamps`` (a run handed its
    bars, not a data folder: a signal backtest, a compiled screen)."""
    days = np.unique(np.asarray(timestamps, dtype="datetime64[D]")).astype(object).tolist()
    return run_calendar(cfg, spec, days)[0]


def load_market(
    cfg: Config,
    data_dir: Path,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    vix_dir: Path | None = None,
) -> MarketData:
    s = cfg.session
    md = load_folder(
        data_dir, s.timezone, s.open, s.close, s.bar_minutes or None, data=cfg.data, vix_dir=vix_dir
    )
    return slice_market(md, data_dir, date_from, date_to)


def slice_market(
    md: MarketData, data_dir: Path, date_from: dt.date | None, date_to: dt.date | None
) -> MarketData:
    """``md``'s bars from ``date_from`` to ``date_to`` (both included; None: open-ended)."""
    if date_from is None and date_to is None:
        return md
    days = md.bars.timestamps.astype("datetime64[D]")
    keep = np.ones(days.shape, dtype=bool)
    if date_from is not None:
        keep &= days >= np.datetime64(date_from)
    if date_to is not None:
        keep &= days <= np.datetime64(date_to)
    if not keep.any():
        raise DataError(f"{data_dir}: no bars between {date_from} and {date_to}")
    b = md.bars
    bars = type(b)(
        b.source,
        b.timestamps[keep],
        b.open[keep],
        b.high[keep],
        b.low[keep],
        b.close[keep],
        None if b.volume is None else b.volume[keep],
        b.bar_minutes,
    )
    return MarketData(md.folder, bars, md.vix[keep], md.options, md.warnings, md.formats)


@dataclass(frozen=True, slots=True)
class RunPlan:
    """A backtest checked before anything is written: the data, the contract spec, the
    trading calendar, the warnings and the option quotes."""

    md: MarketData
    spec: InstrumentSpec
    calendar: list[dt.date]
    days: list[dt.date]  # the data's trading days
    warnings: tuple[str, ...]
    quotes: ModelQuotes | DataQuotes
    config_text: str  # the resolved config, as written to config.toml and hashed
    others: tuple[OtherUnderlying, ...] = ()  # [[instruments]] after the first

    @property
    def data(self) -> Path:
        """The data folder the run was given (of several underlyings: the one holding theirs)."""
        return self.md.folder.parent if self.others else self.md.folder

    @property
    def first(self) -> dt.date:
        return self.days[0]

    @property
    def last(self) -> dt.date:
        return self.days[-1]


@dataclass(frozen=True, slots=True)
class OtherUnderlying:
    """One more underlying of a run that trades several: its section, spec, data and quotes."""

    instrument: InstrumentSection
    spec: InstrumentSpec
    md: MarketData
    quotes: ModelQuotes | DataQuotes


def plan_run(
    cfg: Config, data_dir: Path, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> RunPlan:
    """Load and check everything a backtest needs (``DataError``/``ConfigError`` before any
    file is written). Several ``[[instruments]]``: ``data_dir`` holds one folder per underlying,
    named as the instrument (``NIFTY/``, ``BANKNIFTY/``), each with its ``underlying`` file (and
    ``options`` quotes if recorded); the India VIX file is in each or in ``data_dir`` itself."""
    if len(cfg.traded) == 1:
        return plan_of(cfg, load_market(cfg, data_dir, date_from, date_to))
    loaded = []
    for inst in cfg.traded:
        icfg = cfg.for_instrument(inst)
        folder = data_dir / inst.name
        if not folder.is_dir():
            raise DataError(
                f"{folder}: not a folder; a run of several [[instruments]] reads one folder per "
                f"underlying in {data_dir}, named as the instrument"
            )
        md = load_market(icfg, folder, date_from, date_to, vix_dir=data_dir)
        spec = resolve_instrument(icfg)
        loaded.append((inst, icfg, md, spec))
    check_bar_lengths(data_dir, {inst.name: md.bars.bar_minutes for inst, _, md, _ in loaded})
    days = sorted({d for _, _, md, _ in loaded for d in _days(md)})
    calendars, warnings = set(), []
    for _inst, icfg, md, spec in loaded:
        cal, notes = run_calendar(icfg, spec, days)
        calendars |= set(cal)
        warnings += [*md.warnings, *notes]
    (_, icfg0, md0, spec0), rest = loaded[0], loaded[1:]
    others = tuple(
        OtherUnderlying(inst, spec, md, choose_quotes(icfg, md)) for inst, icfg, md, spec in rest
    )
    return RunPlan(
        md0,
        spec0,
        sorted(calendars),
        days,
        tuple(dict.fromkeys(warnings)),  # the calendar's notes once
        choose_quotes(icfg0, md0),
        dump_config(cfg),
        others,
    )


def plan_of(cfg: Config, md: MarketData) -> RunPlan:
    """The plan of one underlying's run on data loaded already (a sweep loads it once for
    many configs)."""
    spec = resolve_instrument(cfg)
    cal, notes = run_calendar(cfg, spec, _days(md))
    quotes = choose_quotes(cfg, md)
    return RunPlan(md, spec, cal, _days(md), (*md.warnings, *notes), quotes, dump_config(cfg))


def check_bar_lengths(data_dir: Path, minutes: dict[str, int]) -> None:
    """Several underlyings run on one timeline, a bar's close being its start plus one length:
    their bars must be of one length (``DataError`` listing them otherwise)."""
    if len(set(minutes.values())) > 1:
        listed = ", ".join(f"{name} {m} min" for name, m in minutes.items())
        raise DataError(
            f"{data_dir}: the underlyings' bars differ in length ({listed}); a run of several "
            "[[instruments]] needs bars of one length (set [session] bar_minutes to check it)"
        )


def _days(md: MarketData) -> list[dt.date]:
    stamps = np.unique(md.bars.timestamps.astype("datetime64[D]"))
    days: list[dt.date] = stamps.astype(object).tolist()
    return days


def bars_frame(b: Bars) -> pd.DataFrame:
    """The underlying's bars as the report draws them."""
    return pd.DataFrame(
        {"timestamp": b.timestamps, "open": b.open, "high": b.high, "low": b.low, "close": b.close}
    )
