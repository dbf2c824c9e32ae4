"""``dyntrail screen``: the compiled screen (``research.screen``) of one data folder and a file
of entry signals, over a search space of the kernel's five parameters, then the best sets run
again through the engine.

- **Data**: a data folder as ``dyntrail backtest`` reads it (one underlying), or the built-in
  12 months. The kernel prices options with the model, so recorded option quotes in the folder
  are not used (the engine's confirmation runs price them the same way).
- **Signals** (``--signals``, CSV or Parquet): ``timestamp`` (a bar's start, as in the data:
  ISO 8601, with the exchange's offset or without one) and ``signal`` (1/0 or true/false: go long
  at that bar's close when flat). Bars without a row have no signal; a row that names no bar of
  the data, a duplicate or a bad value is an error naming the file and its line.
- **Space**: the sweep's TOML (``research.space``) over the kernel's keys (``screen.KEYS``),
  ``grid`` or ``random``, with constraints, ``min_trades`` and an objective of ``sharpe`` or
  ``net_pnl``; the other values of the config stay as ``-c`` sets them.
- **Outputs**, in the screen folder: ``screen.parquet`` (one row per set: its parameters,
  trades, wins, net PnL, the Sharpe of its daily PnL, its largest drawdown, the objective),
  ``space.toml``, and with ``confirm`` the engine's journals of the best sets
  (``confirm/<rank>.jsonl``), each checked trade for trade against the kernel's."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from dyntrail.core.config import Config
from dyntrail.errors import ConfigError, DataError
from dyntrail.research.screen import (
    KEYS,
    PARAMS,
    Screened,
    apply_row,
    bars_of,
    best,
    confirm,
    params_of,
    screen,
)
from dyntrail.research.space import Space

OBJECTIVES = {"sharpe": "sharpe", "net_pnl": "pnl"}  # the space's name -> ``Screened``'s
CHUNK = 50_000  # parameter sets per kernel call (progress is told between calls)


@dataclass(frozen=True)
class ScreenResult:
    """A screen's table (one row per parameter set, best first) and what was confirmed."""

    table: pd.DataFrame
    bars: int
    seconds: float  # the kernel's time, compilation excluded
    confirmed: int  # best sets the engine ran again with the kernel's trades
    ranked: int  # sets with an objective (enough trades)
    unit: str  # what the PnL columns count


def load_signals(path: Path, bar_starts: npt.NDArray[np.datetime64], tz: str) -> np.ndarray:
    """One bool per bar of ``bar_starts`` (naive exchange time) from a signals file (see the
    module docstring); ``DataError`` naming the file and line otherwise."""
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={"timestamp": str}, skip_blank_lines=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such signals file") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the signals: {exc}") from None
    missing = [c for c in ("timestamp", "signal") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} (the columns: timestamp, signal)")

    frame = frame[~frame[["timestamp", "signal"]].isna().all(axis=1)]  # blank lines
    rows = frame.index.to_numpy()  # each row's place in the file

    def where(i: int) -> str:
        k = int(rows[i])
        return f"{path}: row {k + 1}" if path.suffix == ".parquet" else f"{path}: line {k + 2}"

    stamps = frame["timestamp"]
    zone = ZoneInfo(tz)
    try:  # one kind of stamp throughout (the usual file): parsed at once
        parsed = pd.to_datetime(stamps, format="ISO8601")
        if parsed.isna().any():
            raise ValueError("a missing timestamp")
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert(zone).dt.tz_localize(None)
        at = parsed.to_numpy("datetime64[s]")
    except (ValueError, TypeError, AttributeError):  # one by one, naming the first bad one
        at = np.empty(len(stamps), dtype="datetime64[s]")
        for i, text in enumerate(stamps.tolist()):
            try:
                t = dt.datetime.fromisoformat(str(text).strip())  # ISO 8601 only
            except ValueError:
                raise DataError(f"{where(i)}: timestamp {text!r} is not ISO 8601") from None
            if t.tzinfo is not None:  # naive stamps are the exchange's time already
                t = t.astimezone(zone).replace(tzinfo=None)
            at[i] = np.datetime64(t, "s")
    values = frame["signal"].tolist()
    flags = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or v in (0, 1):
            flags[i] = bool(v)
        elif isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0"):
            flags[i] = v.strip().lower() in ("true", "1")
        else:
            raise DataError(f"{where(i)}: signal {v!r} is not 1/0 or true/false")
    order = np.argsort(at, kind="stable")
    dup = np.flatnonzero(at[order][1:] == at[order][:-1])
    if dup.size:
        i = int(order[dup[0] + 1])
        raise DataError(f"{where(i)}: timestamp {stamps.iloc[i]} is given twice")
    starts = np.asarray(bar_starts, dtype="datetime64[s]")
    pos = np.searchsorted(starts, at)
    found = (pos < len(starts)) & (starts[np.minimum(pos, len(starts) - 1)] == at)
    if not found.all():
        i = int(np.flatnonzero(~found)[0])
        raise DataError(
            f"{where(i)}: timestamp {stamps.iloc[i]} is not the start of a bar of the data"
        )
    out = np.zeros(len(starts), dtype=bool)
    out[pos] = flags
    if not out.any():
        raise DataError(f"{path}: no signal (no row with signal 1): nothing would be entered")
    return out


MAX_SETS = 20_000_000  # 800 MB of parameter rows: a larger space is refused before it is made


def space_rows(space: Space, cfg: Config) -> npt.NDArray[np.float64]:
    """The parameter sets of ``space``: rows of ``PARAMS``, the values it does not vary as
    ``cfg`` has them (``ConfigError`` naming what the screen cannot take)."""
    src = space.source
    if space.method not in ("grid", "random"):
        raise ConfigError(
            f"{src}: [sweep] method {space.method!r}: the screen takes grid or random (an "
            "adaptive search runs trial by trial: dyntrail sweep)"
        )
    if space.walk_forward is not None:
        raise ConfigError(f"{src}: [walk_forward]: the screen has none (dyntrail sweep)")
    if space.objective not in OBJECTIVES:
        raise ConfigError(f"{src}: [sweep] objective {space.objective!r}: the screen ranks by "
                          f"{' or '.join(OBJECTIVES)}")  # fmt: skip
    if space.direction != "maximize":
        raise ConfigError(f"{src}: [sweep] direction {space.direction!r}: the screen ranks "
                          "the largest first (maximize)")  # fmt: skip
    column = {key: k for k, key in enumerate(KEYS)}
    size = 1
    for p in space.params:
        if p.name not in column:
            raise ConfigError(f"{src}: [params] {p.name!r}: the screen varies only "
                              f"{', '.join(KEYS)}")  # fmt: skip
        for value in p.choices:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{src}: [params] {p.name!r}: {value!r} is not a number")
        # the values a set can take are checked as a config file's (a range: at both ends)
        ends = (
            [float(v) for v in p.choices] if p.choices else [float(p.low or 0), float(p.high or 0)]
        )
        for end in ends:
            row = params_of(cfg)[0]
            row[column[p.name]] = end
            apply_row(cfg, row)
        if space.method == "grid":  # (counted: a mistyped step must not be made first)
            if p.choices or p.step is None:
                size *= len(p.grid())  # (a range without a step: its error)
            else:
                size *= math.floor((float(p.high or 0) - float(p.low or 0)) / p.step + 1e-9) + 1
    size = size if space.method == "grid" else space.trials
    if size > MAX_SETS:
        raise ConfigError(f"{src}: {size:,} parameter sets: the screen takes at most "
                          f"{MAX_SETS:,} (a coarser step, fewer values or trials)")  # fmt: skip
    rows = np.tile(params_of(cfg)[0], (size, 1))
    n = 0
    for point in space.points():  # (each made, checked and dropped: only the rows are kept)
        for name, value in point.items():
            rows[n, column[name]] = float(value)
        n += 1
    return rows[:n]


def run_screen(
    space: Space,
    cfg: Config,
    data: Path,
    signals: Path,
    folder: Path,
    *,
    confirm_best: int = 0,
    progress: Callable[[int, int], None] | None = None,
    notice: Callable[[str, str], None] | None = None,
) -> ScreenResult:
    """The screen (see the module docstring): ``screen.parquet`` in ``folder``, and with
    ``confirm_best`` the best sets run again through the engine (``ScreenMismatch`` when a
    trade differs)."""
    from dyntrail.core.indicators import atr as atr_of
    from dyntrail.runners.plan import plan_run

    rows = space_rows(space, cfg)
    if not len(rows):
        raise ConfigError(f"{space.source}: no parameter set meets the constraints")
    plan = plan_run(cfg, data)
    if plan.others:
        raise ConfigError("the screen runs one underlying: [[instruments]] lists several")
    b = plan.md.bars
    if plan.md.options is not None and notice is not None:
        notice("warning", f"{plan.data}: its recorded option quotes are not used: the screen "
               "and its confirmation price options with the model")  # fmt: skip
    if not cfg.session.bar_minutes:  # (0: the data's own, as a backtest takes it)
        cfg = _with_bar_minutes(cfg, b.bar_minutes)
    ts = np.asarray(b.timestamps, dtype="datetime64[s]")
    entries = load_signals(signals, ts, cfg.session.timezone)
    atr = atr_of(b.high, b.low, b.close, cfg.strategy.atr_period)
    vix = np.asarray(plan.md.vix, dtype=np.float64)
    bars = bars_of(cfg, ts, b.open, b.high, b.low, b.close, atr, vix, entries)
    screen(bars, rows[:1])  # compiled (or loaded from numba's cache) before the clock starts
    t0 = time.perf_counter()
    parts: list[Screened] = []
    for start in range(0, len(rows), CHUNK):
        parts.append(screen(bars, rows[start : start + CHUNK]))
        if progress is not None:
            progress(min(start + CHUNK, len(rows)), len(rows))
    seconds = time.perf_counter() - t0
    result = Screened(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))
    by = OBJECTIVES[space.objective]
    order = best(result, len(rows), by=by, min_trades=max(space.min_trades, 1))
    table = pd.DataFrame({name: rows[:, k] for k, name in enumerate(KEYS)})
    for f in _FIELDS:
        table[f] = getattr(result, f)
    objective = np.full(len(rows), np.nan)  # the ranked sets' (``best``'s), NaN for the rest
    objective[order] = getattr(result, by)[order]
    table["objective"] = objective
    table = table.iloc[np.r_[order, np.setdiff1d(np.arange(len(rows)), order)]]
    table = table.reset_index(drop=True)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_parquet(folder / "screen.parquet", index=False)
    confirmed = 0
    if confirm_best and len(order):  # (``confirm`` clears the folder's older journals)
        chosen = rows[order[:confirm_best]]
        ran = confirm(cfg, ts, b.open, b.high, b.low, b.close, b.volume, atr, vix, entries,
                      chosen, folder / "confirm")  # fmt: skip
        confirmed = len(ran)
    else:
        for old in (folder / "confirm").glob("*.jsonl"):
            old.unlink()  # an earlier screen's: they would be taken for this one's
    unit = "rupees, net of costs" if cfg.instrument.trade == "options" else "points per unit, gross"
    return ScreenResult(table, len(ts), seconds, confirmed, len(order), unit)


_FIELDS = ("trades", "wins", "pnl", "sharpe", "max_drawdown")


def _with_bar_minutes(cfg: Config, minutes: int) -> Config:
    from dyntrail.core.config_load import config_from_mapping, config_to_dict

    raw = config_to_dict(cfg)
    raw.setdefault("session", {})["bar_minutes"] = int(minutes)
    return config_from_mapping(raw, "screen")


def top_lines(table: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` best rows as lines a person reads."""
    out = []
    for rank, values in enumerate(table.head(n).to_dict("records"), 1):
        objective = values["objective"]
        if not (isinstance(objective, float) and math.isfinite(objective)):
            break
        params = "  ".join(f"{p}={values[k]:g}" for p, k in zip(PARAMS, KEYS, strict=True))
        out.append(
            f"{rank:>3}. {params}  trades {values['trades']}  pnl {values['pnl']:,.2f}  "
            f"sharpe {values['sharpe']:.3f}  max dd {values['max_drawdown']:,.2f}"
        )
    return out
