"""Backtest runner: a data folder through the engine, into one run folder.

The run folder holds ``config.toml`` (resolved), ``journal.jsonl``, ``trades.csv``,
``fills.csv``, ``equity.csv``, ``kpis.json`` and ``report.html``. The same data, config and seed
write byte-identical journals and trades.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dyntrail.core.config import Config
from dyntrail.core.entries import entry_bars
from dyntrail.core.events import BacktestHeader, DataWarning, Equity
from dyntrail.core.features import BatchFeatures
from dyntrail.core.regime import BatchRegime
from dyntrail.data.loaders import Bars
from dyntrail.engine import Engine, Route, Sinks
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.instruments import resolve_instrument
from dyntrail.journal import SCHEMA_VERSION, Journal, config_hash
from dyntrail.runners.drive import (
    AfterBar,
    BarFeed,
    FastPaths,
    ModelQuotes,
    drive,
)
from dyntrail.runners.outputs import RowSink, write_run
from dyntrail.runners.plan import (
    RunPlan,
    bars_calendar,
    bars_frame,
    plan_run,
)
from dyntrail.runners.several import backtest_engine, bars_frame_of, simulate_several
from dyntrail.trade import Trade

log = logging.getLogger(__name__)

# How the progress bar weighs what follows the bars, in bars' worth: writing the tables and the
# KPIs takes about a twentieth of the bars' time, the report about a quarter (the built-in year).
OUTPUTS_SHARE, REPORT_SHARE = 0.05, 0.25
Progress = Callable[[int, int, str], None]  # (done, total, what is being done)


@contextmanager
def few_collections(young: int = 50_000) -> Iterator[None]:
    """While a backtest's loop runs, the cyclic garbage collector's young generation is
    collected after ``young`` new objects instead of Python's 700. The loop makes many
    short-lived objects that reference counting frees, and every collection also walks the
    run's long-lived per-bar lists: on W1 this is about a tenth of the run. The thresholds
    before the call are restored afterwards, whatever happens."""
    before = gc.get_threshold()
    gc.set_threshold(max(young, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    run_dir: Path
    kpis: dict[str, Any]
    trades: int
    warnings: tuple[str, ...]
    formats: tuple[str, ...] = ()  # how each data file was read, one line per file


@dataclass(frozen=True, slots=True)
class RunRows:
    """What a backtest produced, in memory: the rows of the three tables and the counters."""

    trades: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    equity: list[dict[str, Any]]
    bars_total: int
    bars_in_position: int


def simulate(
    cfg: Config,
    plan: RunPlan,
    journal: Journal,
    *,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    features: BatchFeatures | None = None,
) -> RunRows:
    """The run itself: the plan's bars, one by one, through the engine and the simulated
    broker, journaled to ``journal`` (a file, or a ``NullJournal`` that keeps nothing);
    ``features``: the first underlying's, computed already (a sweep shares them)."""
    b = plan.md.bars
    rows = RowSink(cfg.account.capital_inr)
    with few_collections():
        _write_header(journal, plan, seed)
        sinks = Sinks([Route(journal.emit, without=frozenset({Equity})), *rows.routes()])
        if plan.others:
            engine = simulate_several(cfg, plan, sinks, seed, lambda n: _reporting(progress, n))
        else:
            close_ts = b.timestamps + np.timedelta64(b.bar_minutes * 60, "s")
            regime = BatchRegime(cfg, close_ts, plan.md.vix)
            engine = backtest_engine(cfg, plan, sinks, seed, regime, features=features)
            feed = BarFeed.of(b, plan.md.vix, views=True)
            paths = gated_paths(cfg, engine, b, close_ts, regime)
            drive(engine, feed, fast=paths, after_bar=_reporting(progress, feed.n))
            if progress is not None:
                progress(feed.n, feed.n)  # (its last bars may have been a stretch)
            engine.finish()
    m = engine.market
    return RunRows(rows.trades, rows.fills, rows.curve.rows, m.bars_total, m.bars_in_position)


def _write_header(journal: Journal, plan: RunPlan, seed: int) -> None:
    b = plan.md.bars
    journal.emit(
        BacktestHeader(
            ts=None,
            schema=SCHEMA_VERSION,
            mode="backtest",
            config_hash=config_hash(plan.config_text),
            seed=seed,
            data=str(plan.data.resolve()),  # in full: `dyntrail report` reads it anywhere
            bars=len(b.timestamps) + sum(len(o.md.bars.timestamps) for o in plan.others),
            first=str(plan.first),
            last=str(plan.last),
            bar_minutes=b.bar_minutes,
            quotes="+".join(
                [type(plan.quotes).__name__, *(type(o.quotes).__name__ for o in plan.others)]
            ),
        )
    )
    for w in plan.warnings:
        journal.emit(DataWarning(ts=None, message=w))


def gated_paths(
    cfg: Config, engine: Engine, b: Bars, close_ts: np.ndarray, regime: BatchRegime
) -> FastPaths | None:
    """The exact fast paths of a backtest whose entries come from the entry gates: the bars
    the gates refuse whatever the state (``entry_bars``, and the regime's halt tier and
    tripped breaker after each bar) are flat stretches that a flat book with nothing in flight
    accounts for in one step, up to the next bar they may let through, a session start or a
    breaker edge; once the day's entries reach ``max_trades_per_day``, up to the next session
    start or breaker edge. None (every bar through ``on_bar``) when the protections or the
    backstop follow every bar, or the features are not precomputed."""
    f = engine.venue.underlying.f
    if cfg.protections.enabled or cfg.backstop.enabled or not isinstance(f, BatchFeatures):
        return None
    vwap, adx, plus_di, minus_di = (np.asarray(x) for x in f.gate_columns())
    possible = entry_bars(cfg, close_ts, b.close, vwap, adx, plus_di, minus_di)
    # the regime's gates after each bar (a halt tier, a tripped breaker): refused there too
    possible &= ~regime.halts()
    possible &= ~np.asarray(regime.tiers_and_trips()[1], dtype=bool)
    engine.stretches.gated = True
    engine.stretches.day_cap = cfg.strategy.entries.max_trades_per_day
    return FastPaths.plan(b.timestamps, regime.edges(), possible)


def _reporting(progress: Callable[[int, int], None] | None, n: int) -> AfterBar | None:
    """After each bar: the progress at each 5,000 bars passed (a stretch of bars taken in one
    step may pass one) and at the last."""
    if progress is None:
        return None
    due = 0

    def after(i: int) -> bool:
        nonlocal due
        if i >= due or i == n - 1:
            progress(i + 1, n)
            due = (i // 5000 + 1) * 5000
        return False

    return after


def run_backtest(
    cfg: Config,
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 7,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    progress: Progress | None = None,
    report: bool = True,
) -> BacktestResult:
    """Run the strategy over a data folder and write the run folder.

    A ``report.html`` an earlier run left in the folder is removed first, so the folder never
    shows another run's report (``report=False`` leaves none). ``progress`` hears of the bars,
    then of writing the run folder and the report; it reaches its total when all is written."""
    plan = plan_run(cfg, data_dir, date_from, date_to)
    _log_plan(plan, data_dir, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.html").unlink(missing_ok=True)
    (out_dir / "config.toml").write_text(plan.config_text, encoding="utf-8")
    journal_path = out_dir / "journal.jsonl"
    journal_path.unlink(missing_ok=True)
    stage = _Stages(progress, len(plan.md.bars.timestamps), report)
    on_bars = stage.bar if progress is not None else None  # no listener: nothing per bar
    with Journal(journal_path) as journal:
        rows = simulate(
            cfg,
            plan,
            journal,
            seed=seed,
            progress=on_bars,
        )
    stage.start("writing the run folder")
    gc.collect()  # the run's per-bar lists are done with: free them before the outputs
    kpis = write_run(
        out_dir,
        cfg,
        rows.trades,
        rows.fills,
        rows.equity,
        first=plan.first,
        last=plan.last,
        days=plan.days,
        bars_total=rows.bars_total,
        bars_in_position=rows.bars_in_position,
        bar_minutes=plan.md.bars.bar_minutes,
    )
    n_trades = len(rows.trades)
    del rows  # written: its rows (an equity mark each) are not held while the report is built
    if report:
        from dyntrail.analytics.report import write_report

        stage.start("writing report.html")
        bars = bars_frame_of(plan) if plan.others else bars_frame(plan.md.bars)
        log.info("wrote %s", write_report(out_dir, bars=bars))
    stage.start("done")
    return BacktestResult(out_dir, kpis, n_trades, plan.warnings, plan.md.formats)


def _log_plan(plan: RunPlan, data_dir: Path, out_dir: Path) -> None:
    b = plan.md.bars
    n, minutes = len(b.timestamps), b.bar_minutes
    log.info("data %s: %d bars of %d min, %s to %s", data_dir, n, minutes, plan.first, plan.last)
    for line in plan.md.formats:
        log.info("read %s", line)
    for w in plan.warnings:
        log.info("warning: %s", w)
    log.info("run folder %s", out_dir)


class _Stages:
    """The progress of a run in bars' worth: the bars, then writing the run folder and the
    report (``OUTPUTS_SHARE``, ``REPORT_SHARE``), so that the total is reached when the last
    file is written."""

    def __init__(self, progress: Progress | None, bars: int, report: bool) -> None:
        self.progress = progress
        after_bars = bars + max(1, round(bars * OUTPUTS_SHARE))
        self.total = after_bars + (max(1, round(bars * REPORT_SHARE)) if report else 0)
        self.starts = {"writing the run folder": bars, "writing report.html": after_bars}

    def bar(self, done: int, n: int) -> None:
        self.tell(done, "bars")

    def tell(self, done: int, what: str) -> None:
        if self.progress is not None:
            self.progress(done, self.total, what)

    def start(self, what: str) -> None:
        """``what`` begins (a key of ``starts``), or ``"done"``: the total is reached."""
        self.tell(self.total if what == "done" else self.starts[what], what)


@few_collections()  # the per-bar columns are built in here too
def run_signal_backtest(
    cfg: Config,
    timestamps: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray | None,
    vix: np.ndarray,
    signals: Sequence[bool] | np.ndarray,
    journal_path: Path,
    *,
    bar_minutes: int = 1,
    fast: bool = True,
    atr: np.ndarray | None = None,
) -> list[Trade]:
    """Backtest with entries from an external signal series (one bool per bar: go long at that
    bar's close when flat; a call when options are traded, quoted by the pricing model) instead
    of the entry gates; exits, orders, journal as in any run.

    With ``fast``, stretches of bars are accounted for in one step (``dyntrail.engine.fast``):
    flat ones between signals, where nothing but counters can change until the next signal,
    session start or breaker edge, and a position's bars that can only move its stop. The
    trades and the journal are the same as without it (tests hold them equal). ``atr`` hands in
    an ATR computed elsewhere (as a benchmark's data), otherwise the engine computes its own."""
    n = len(close)
    sessions = timestamps.astype("datetime64[D]").astype(np.int64)
    features = BatchFeatures(cfg, sessions, high, low, close, volume, entry_gates=False, atr=atr)
    regime = BatchRegime(
        cfg, timestamps.astype("datetime64[s]") + np.timedelta64(bar_minutes * 60, "s"), vix
    )
    sig = np.ascontiguousarray(signals, dtype=bool)
    if sig.shape != (n,):
        raise ValueError(f"signals has shape {sig.shape} for {n} bars")
    # the protections follow every bar's marks and times: with one on, no stretch is skipped
    fast = fast and not cfg.protections.enabled and not cfg.backstop.enabled
    paths = FastPaths.plan(timestamps, regime.edges(), sig) if fast else None
    # Views, not lists: a bar's value becomes a Python float only when it is read (most bars
    # of a signal backtest are skipped or walked, and a list would make them all, then free them).
    bars = Bars("signals", timestamps, open_, high, low, close, volume, bar_minutes)
    feed = BarFeed.of(bars, vix, views=True)
    spec = resolve_instrument(cfg)
    # options need the exchange's calendar (expiries, lots); the underlying traded does not
    days = bars_calendar(cfg, spec, timestamps) if cfg.instrument.trade == "options" else []
    with Journal(journal_path) as journal:
        engine = Engine(
            cfg,
            spec,
            days,
            ModelQuotes(cfg),
            PaperBroker(FaultProfile.none(), 0),
            Sinks([Route(journal.emit, without=frozenset({Equity}))]),
            features,
            bar_minutes,
            signals=sig.data.toreadonly(),  # items are Python bools
            regime=regime,
            record_acks=False,
            keep_trades=True,
        )
        drive(engine, feed, fast=paths)
        engine.finish()
    return engine.book.closed or []
