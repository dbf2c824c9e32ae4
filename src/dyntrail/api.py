"""Run a backtest from Python: ``dyntrail.backtest(config, data) -> Result``, for notebooks and
sweeps. The run is the command's run (``dyntrail backtest``): the same engine, data checks,
quotes, costs and KPIs; only where the results go differs."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dyntrail.core.config import Config

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, slots=True, eq=False)
class Result:
    """A backtest's results. ``trades``, ``fills`` and ``equity`` are the run folder's
    ``trades.csv``, ``fills.csv`` and ``equity.csv`` as ``pandas.read_csv`` reads them (the
    same columns, one row per closed trade, per fill or rejected order, per equity mark);
    ``kpis`` is ``kpis.json`` (with its ``checks`` and ``warnings``); ``warnings`` is every
    warning the command prints (the data's, the calendar's, then the KPIs'); ``run_dir`` is
    the folder written, None when nothing was."""

    trades: pd.DataFrame
    fills: pd.DataFrame
    equity: pd.DataFrame
    kpis: dict[str, Any]
    warnings: tuple[str, ...]
    run_dir: Path | None

    def __repr__(self) -> str:
        return (
            f"Result(trades={len(self.trades)}, fills={len(self.fills)}, "
            f"equity={len(self.equity)} marks, net_pnl={self.kpis.get('net_pnl')}, "
            f"warnings={len(self.warnings)}, run_dir={self.run_dir})"
        )


def backtest(
    config: Config | PathLike | None = None,
    data: PathLike | None = None,
    *,
    seed: int = 7,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    out: PathLike | None = None,
    journal: bool = False,
) -> Result:
    """Backtest the strategy and return its trades, fills, equity and KPIs.

    - ``config``: a ``Config``, the path of a TOML file (checked as ``dyntrail config check``
      checks it: ``ConfigError`` naming the key), or None for the documented defaults.
    - ``data``: a data folder (``underlying`` and ``vix`` files, and ``options`` quotes, which
      are then used), or None for the built-in synthetic dataset of ``seed`` (built once into
      the user's cache, as the command builds it).
    - ``seed``: the built-in dataset's seed and the simulated broker's.
    - ``date_from``, ``date_to``: the first and last day to trade (dates or ``"YYYY-MM-DD"``),
      both included; None for the data's first or last.
    - ``out``: a folder to write the run into, exactly as ``dyntrail backtest --out`` writes it
      (``config.toml``, ``journal.jsonl``, the CSVs, ``kpis.json``, ``report.html``); the
      frames are then read from the files written.
    - ``journal``: without ``out``, also write the run's journal (``journal.jsonl`` and the
      ``config.toml`` its header's hash is of) into a new temporary folder, ``run_dir``. With
      ``out`` the journal is always written.

    With neither ``out`` nor ``journal`` nothing is written: the engine journals to a
    ``NullJournal`` and the KPIs are computed from the frames, by the code that computes
    ``kpis.json`` from the files. The same config, data and seed give the same trades, fills
    and KPIs either way. Raises ``ConfigError`` and ``DataError`` as the command reports them.
    """
    from dyntrail.core.config_load import load_config
    from dyntrail.data.builtin import builtin_dataset

    if isinstance(config, Config):
        cfg = config
    else:
        cfg = load_config(None if config is None else Path(config))
    first, last = _day(date_from, "date_from"), _day(date_to, "date_to")
    if first is not None and last is not None and first > last:
        raise ValueError(
            f"date_from {first} is later than date_to {last}: give the first day first"
        )
    folder = Path(data) if data is not None else builtin_dataset(seed=seed)
    if out is not None:
        return _written(cfg, folder, Path(out), seed, first, last)
    return _in_memory(cfg, folder, seed, first, last, journal)


def _day(value: dt.date | str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r} is not a date: give a date or 'YYYY-MM-DD'") from None


def _written(
    cfg: Config, data: Path, out: Path, seed: int, first: dt.date | None, last: dt.date | None
) -> Result:
    import pandas as pd

    from dyntrail.runners.backtest import run_backtest

    res = run_backtest(cfg, data, out, seed=seed, date_from=first, date_to=last)
    trades, fills, equity = (pd.read_csv(out / f"{t}.csv") for t in ("trades", "fills", "equity"))
    warnings = (*res.warnings, *res.kpis["warnings"])
    return Result(trades, fills, equity, res.kpis, warnings, out)


def _in_memory(
    cfg: Config,
    data: Path,
    seed: int,
    first: dt.date | None,
    last: dt.date | None,
    journal: bool,
) -> Result:
    from dyntrail.journal import Journal, NullJournal
    from dyntrail.runners.backtest import simulate
    from dyntrail.runners.outputs import RunSpan, run_kpis, run_tables
    from dyntrail.runners.plan import plan_run

    plan = plan_run(cfg, data, first, last)
    run_dir: Path | None = None
    sink: Journal = NullJournal()
    if journal:
        run_dir = Path(tempfile.mkdtemp(prefix="dyntrail-run-"))
        (run_dir / "config.toml").write_text(plan.config_text, encoding="utf-8")
        sink = Journal(run_dir / "journal.jsonl")
    with sink:
        rows = simulate(cfg, plan, sink, seed=seed)
    span = RunSpan(
        plan.first,
        plan.last,
        plan.days,
        rows.bars_total,
        rows.bars_in_position,
        plan.md.bars.bar_minutes,
    )
    trades, fills, equity = run_tables(cfg, rows.trades, rows.fills, rows.equity, span)
    kpis = run_kpis(cfg, trades, fills, equity, span)
    return Result(trades, fills, equity, kpis, (*plan.warnings, *kpis["warnings"]), run_dir)
