"""Backtest runner: a data folder through the engine, into one run folder.

The run folder holds ``config.toml`` (resolved), ``journal.jsonl``, ``trades.csv``,
``fills.csv``, ``equity.csv``, ``kpis.json`` and ``report.html``. The same data, config and seed
write byte-identical journals and trades.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dyntrail.core.config import Config
from dyntrail.core.config_load import dump_config
from dyntrail.core.contracts import InstrumentSpec
from dyntrail.core.costs import check_cost_coverage
from dyntrail.core.features import BatchFeatures, column_view
from dyntrail.core.options import OptionRight
from dyntrail.core.regime import BatchRegime
from dyntrail.data.calendar import session_days
from dyntrail.data.loaders import MarketData, infer_bar_minutes, load_folder
from dyntrail.data.options_synth import (
    OptionQuote,
    QuoteModelParams,
    RecordedQuotes,
    SyntheticQuotes,
)
from dyntrail.engine import Engine
from dyntrail.errors import DataError
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.instruments import check_config_coverage, load_instrument
from dyntrail.journal import SCHEMA_VERSION, Journal, config_hash
from dyntrail.runners.outputs import EquityCurve, write_run
from dyntrail.trade import Trade


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


class ModelQuotes:
    """Option quotes from the pricing model (data without options)."""

    def __init__(self, cfg: Config) -> None:
        self._model = SyntheticQuotes(
            QuoteModelParams(r=cfg.options.risk_free_rate, q=cfg.options.dividend_yield)
        )

    def quote(
        self,
        ts: dt.datetime,
        expiry: dt.date,
        strike: float,
        right: OptionRight,
        spot: float,
        vix: float,
        t_years: float,
    ) -> OptionQuote | None:
        return self._model.quote(spot, strike, right, max(t_years, 0.0), vix)


class DataQuotes:
    """Recorded option quotes: the data always wins; a contract without a recent quote has none.

    At time ``ts`` only option bars that have closed by ``ts`` are visible: the lookup asks for
    the latest bar starting at or before ``ts - option bar length``."""

    def __init__(self, recorded: RecordedQuotes, bar_minutes: int) -> None:
        self._rec = recorded
        self._bar = dt.timedelta(minutes=bar_minutes)

    def quote(
        self,
        ts: dt.datetime,
        expiry: dt.date,
        strike: float,
        right: OptionRight,
        spot: float,
        vix: float,
        t_years: float,
    ) -> OptionQuote | None:
        return self._rec.quote(ts - self._bar, expiry, strike, right)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    run_dir: Path
    kpis: dict[str, Any]
    trades: int
    warnings: tuple[str, ...]
    formats: tuple[str, ...] = ()  # how each data file was read, one line per file


def resolve_instrument(cfg: Config) -> InstrumentSpec:
    name = cfg.instrument.name
    return load_instrument(name, {name: cfg.instrument.spec} if cfg.instrument.spec else None)


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


def load_market(
    cfg: Config, data_dir: Path, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> MarketData:
    s = cfg.session
    md = load_folder(data_dir, s.timezone, s.open, s.close, s.bar_minutes or None, data=cfg.data)
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


def run_backtest(
    cfg: Config,
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 7,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
    report: bool = True,
) -> BacktestResult:
    """Run the strategy over a data folder and write the run folder."""
    md = load_market(cfg, data_dir, date_from, date_to)
    spec = resolve_instrument(cfg)
    b = md.bars
    ts_list: list[dt.datetime] = b.timestamps.astype("datetime64[s]").astype(object).tolist()
    first, last = ts_list[0].date(), ts_list[-1].date()
    data_days = sorted({t.date() for t in ts_list})
    cal, notes = run_calendar(cfg, spec, data_days)
    warnings = (*md.warnings, *notes)

    quotes: ModelQuotes | DataQuotes
    if md.options is not None:
        opath = next(
            p for p in (md.folder / "options.parquet", md.folder / "options.csv") if p.exists()
        )
        recorded = RecordedQuotes.from_frame(md.options, str(opath), cfg.session.timezone)
        stamps = pd.to_datetime(md.options["timestamp"], format="ISO8601", utc=True)
        opt_ts = np.unique(stamps.dt.tz_localize(None).to_numpy("datetime64[s]"))
        quotes = DataQuotes(recorded, infer_bar_minutes(opt_ts))
    else:
        quotes = ModelQuotes(cfg)

    out_dir.mkdir(parents=True, exist_ok=True)
    config_text = dump_config(cfg)
    (out_dir / "config.toml").write_text(config_text, encoding="utf-8")
    journal_path = out_dir / "journal.jsonl"
    journal_path.unlink(missing_ok=True)

    trades: list[dict[str, Any]] = []
    fills: list[dict[str, Any]] = []
    curve = EquityCurve(cfg.account.capital_inr)

    def on_trade(tr: Trade) -> None:
        trades.append(tr.row())

    sessions = b.timestamps.astype("datetime64[D]").astype(np.int64)
    with few_collections(), Journal(journal_path) as journal:
        features = BatchFeatures(cfg, sessions, b.high, b.low, b.close, b.volume)
        journal.write(
            "header",
            None,
            schema=SCHEMA_VERSION,
            mode="backtest",
            config_hash=config_hash(config_text),
            seed=seed,
            data=str(data_dir),
            bars=len(ts_list),
            first=str(first),
            last=str(last),
            bar_minutes=b.bar_minutes,
            quotes=type(quotes).__name__,
        )
        for w in warnings:
            journal.write("data_warning", None, message=w)
        engine = Engine(
            cfg,
            spec,
            cal,
            quotes,
            PaperBroker(FaultProfile.none(), seed),
            journal,
            features,
            b.bar_minutes,
            on_trade,
            fills.append,
            curve.add,
            regime=BatchRegime(cfg, b.timestamps + np.timedelta64(b.bar_minutes * 60, "s"), md.vix),
            record_acks=False,
        )
        o, h, lo, c, vix = (
            b.open.tolist(),
            b.high.tolist(),
            b.low.tolist(),
            b.close.tolist(),
            md.vix.tolist(),
        )
        vol = b.volume.tolist() if b.volume is not None else [None] * len(ts_list)
        n = len(ts_list)
        for i in range(n):
            engine.on_bar(i, ts_list[i], o[i], h[i], lo[i], c[i], vol[i], vix[i])
            if progress is not None and (i % 5000 == 0 or i == n - 1):
                progress(i + 1, n)
        engine.finish()
    bars_total, bars_in_position = engine.bars_total, engine.bars_in_position
    # The per-bar lists are done with: free them before the report builds its figures.
    del engine, features, o, h, lo, c, vix, vol, ts_list
    gc.collect()

    kpis = write_run(
        out_dir,
        cfg,
        trades,
        fills,
        curve.rows,
        first=first,
        last=last,
        days=data_days,
        bars_total=bars_total,
        bars_in_position=bars_in_position,
        bar_minutes=b.bar_minutes,
    )
    if report:
        from dyntrail.analytics.report import write_report

        bars_df = pd.DataFrame(
            {
                "timestamp": b.timestamps,
                "open": b.open,
                "high": b.high,
                "low": b.low,
                "close": b.close,
            }
        )
        write_report(out_dir, bars=bars_df)
    return BacktestResult(out_dir, kpis, len(trades), warnings, md.formats)


@few_collections()  # the per-bar lists are built in here too
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
    bar's close when flat) instead of the entry gates; exits, orders, journal as in any run.

    With ``fast``, stretches of bars are accounted for in one step (``dyntrail.stretches``):
    flat ones between signals, where nothing but counters can change until the next signal,
    session start or breaker edge, and, with next-bar semantics, a position's bars that can only
    move its stop. The trades and the journal are the same as without it (tests hold them
    equal). ``atr`` hands in an ATR computed elsewhere (as a benchmark's data), otherwise the
    engine computes its own."""
    n = len(close)
    ts_list: list[dt.datetime] = timestamps.astype("datetime64[s]").astype(object).tolist()
    days = timestamps.astype("datetime64[D]")
    sessions = days.astype(np.int64)
    features = BatchFeatures(cfg, sessions, high, low, close, volume, entry_gates=False, atr=atr)
    regime = BatchRegime(
        cfg, timestamps.astype("datetime64[s]") + np.timedelta64(bar_minutes * 60, "s"), vix
    )
    boundary = np.asarray(regime.edges(), dtype=bool)  # a session start or a breaker edge
    boundary[0] = True
    boundary[1:] |= days[1:] != days[:-1]
    sig = np.ascontiguousarray(signals, dtype=bool)
    if sig.shape != (n,):
        raise ValueError(f"signals has shape {sig.shape} for {n} bars")
    eventful = boundary | sig
    nxt_l, nxt_b = _next_true(eventful), _next_true(boundary)
    closed: list[Trade] = []
    # Views, not lists: a bar's value becomes a Python float only when it is read (most bars
    # of a signal backtest are skipped or walked, and a list would make them all, then free them).
    o, h, lo, c, vx = (column_view(a) for a in (open_, high, low, close, vix))
    vol: Sequence[float | None] = column_view(volume) if volume is not None else [None] * n
    with Journal(journal_path) as journal:
        engine = Engine(
            cfg,
            resolve_instrument(cfg),
            [],
            ModelQuotes(cfg),
            PaperBroker(FaultProfile.none(), 0),
            journal,
            features,
            bar_minutes,
            closed.append,
            lambda row: None,
            None,
            signals=sig.data.toreadonly(),  # items are Python bools
            regime=regime,
            record_acks=False,
        )
        i = 0
        while i < n:
            if fast:
                if engine.quiet():
                    j = nxt_l[i]
                    if j > i:
                        engine.skip(i, j, ts_list[j - 1], c[j - 1], vx[j - 1])
                        i = j
                elif engine.calm():
                    i = engine.hold(i, nxt_b[i], ts_list, o, h, lo, c, vx)
                if i >= n:
                    break
            engine.on_bar(i, ts_list[i], o[i], h[i], lo[i], c[i], vol[i], vx[i])
            i += 1
        engine.finish()
    return closed


def _next_true(flags: np.ndarray) -> memoryview:
    """For each index, the first index at or after it where ``flags`` is true (len when none)."""
    n = len(flags)
    at = np.where(flags, np.arange(n, dtype=np.int64), n)
    return column_view(np.minimum.accumulate(at[::-1])[::-1], np.int64)
