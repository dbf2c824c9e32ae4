"""Paper trading: the engine on a market clock, against the paper broker, with a write-ahead
journal and recovery.

A session replays a feed (the synthetic regime stream, or a recorded data folder) bar by bar on
an accelerated clock (``speed`` times real time: 60 plays a market minute each wall-clock
second; ``None`` for as fast as possible), through the same loop as a backtest
(``dyntrail.runners.drive``), with the same option quotes: a folder's recorded ones when it has
them, the model's otherwise. The journal is fsynced line by
line; at the end of every bar the engine's state is journaled. The paper broker keeps its own
book in ``broker_state.json`` (an exchange outlives our process).

Every start runs the same path: read the journal (a torn last line is skipped), restore the last
state, rebuild the indicators from the feed, take the orders journaled after that state as
"recovered" (each is settled from the broker's book by its tag when the engine reaches it again,
never sent twice), reconcile with the broker (orders it has that we never journaled, positions
that differ: flagged, and no new entries while any flag stands), and continue with the next bar.
A kill switch (a file ``KILL`` in the run folder, SIGTERM or SIGINT) flattens and stops cleanly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from dyntrail.core.config import Config
from dyntrail.core.config_load import dump_config
from dyntrail.core.events import DataWarning, PaperHeader, Resume, SessionEnd, State, from_record
from dyntrail.core.features import StreamingFeatures
from dyntrail.data.calendar import session_days
from dyntrail.data.loaders import Bars, MarketData
from dyntrail.engine import Engine, Route, Sinks
from dyntrail.engine.ports import Clock
from dyntrail.errors import ConfigError, JournalError
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.journal import SCHEMA_VERSION, Journal, config_hash, read_journal
from dyntrail.runners.drive import (
    BarFeed,
    DataQuotes,
    ModelQuotes,
    Pacing,
    choose_quotes,
    drive,
)
from dyntrail.runners.outputs import project_journal, write_run
from dyntrail.runners.plan import load_market, resolve_instrument, run_calendar

log = logging.getLogger(__name__)
SETTLE = dt.timedelta(seconds=5)  # how long after sending an order the broker is polled in-bar


@dataclass(frozen=True, slots=True)
class PaperResult:
    run_dir: Path
    bars_done: int
    trades: int
    killed: bool
    flags: tuple[str, ...]
    kpis: dict[str, Any]


class _Stop:
    def __init__(self) -> None:
        self.reason: str | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.reason = signal.Signals(signum).name


def session_market(
    cfg: Config, data_dir: Path | None, seed: int, days: int, start: dt.date
) -> tuple[Bars, np.ndarray, MarketData | None]:
    """The session's bars and VIX: a recorded folder (with its market data, which may hold
    option quotes), or ``days`` synthetic trading days (None)."""
    if data_dir is not None:
        md = load_market(cfg, data_dir)
        return md.bars, md.vix, md
    from dyntrail.data.synthetic import generate

    cal = session_days(cfg.calendar, start, start + dt.timedelta(days=days * 2 + 10))[0][:days]
    m = generate(cal, seed=seed)
    bars = Bars("synthetic", m.timestamps, m.open, m.high, m.low, m.close, m.volume, 1)
    return bars, m.vix, None


@dataclass(frozen=True, slots=True)
class _Start:
    """What a start runs with: the journal's events so far (none for a new session) and the
    session's arguments (a resumed session's come from its journal's header)."""

    prior: list[dict[str, Any]]
    seed: int
    days: int
    start: dt.date
    data_dir: Path | None
    faults: FaultProfile
    quotes: str | None = None  # the quote source a resumed session started on


def _open_session(
    jpath: Path, config_text: str, resume: bool, given: _Start, run_dir: Path
) -> _Start:
    """Check the run folder for a new or a resumed session (``JournalError`` naming the
    journal otherwise) and return what the start runs with."""
    if resume and not jpath.exists():  # checked before anything is made: nothing left behind
        raise JournalError(f"{jpath}: no session here to resume; start one with --out {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    prior: list[dict[str, Any]] = []
    if jpath.exists() and jpath.stat().st_size > 0:
        if not resume:
            raise JournalError(f"{jpath}: a session exists here; use --resume to continue it")
        prior = read_journal(jpath).events
        if not prior:  # killed while writing the very first line: nothing was journaled
            jpath.rename(jpath.with_name(f"journal.jsonl.torn-{int(time.time())}"))
    if not prior:
        return given
    head = prior[0]
    if head.get("kind") != "header" or head.get("mode") != "paper":
        mode = head.get("mode") if head.get("kind") == "header" else None
        raise JournalError(
            f"{jpath}: not a paper session's journal (mode {mode or 'unknown'}): "
            "--resume continues a folder that `dyntrail paper --out` started"
        )
    if head.get("schema") != SCHEMA_VERSION:
        raise JournalError(
            f"{jpath}: the session was journaled with schema {head.get('schema')}, this version "
            f"writes {SCHEMA_VERSION}: it cannot resume it (its outputs are in the folder; start "
            "a new session)"
        )
    if head.get("config_hash") != config_hash(config_text):
        raise JournalError(
            f"{jpath}: the session was started with another config "
            f"(hash {head.get('config_hash')}); resume it with that config"
        )
    return _Start(
        prior,
        int(head["seed"]),
        int(head["days"]),
        dt.date.fromisoformat(head["start"]),
        Path(head["data"]) if head.get("data") else None,
        FaultProfile(**head["faults"]),
        head.get("quotes", "ModelQuotes"),  # sessions journaled without it traded the model
    )


def run_paper(
    cfg: Config,
    run_dir: Path,
    *,
    data_dir: Path | None = None,
    seed: int = 7,
    days: int = 5,
    start: dt.date = dt.date(2025, 3, 3),
    speed: float | None = None,
    faults: FaultProfile | None = None,
    resume: bool = False,
    on_bar: Callable[[Engine, int, int], None] | None = None,
    observers: Sequence[Route] = (),
    report: bool = False,
    settle: dt.timedelta = SETTLE,
) -> PaperResult:
    """Run (or resume) a paper session into ``run_dir``; see the module docstring."""
    if len(cfg.traded) > 1:
        raise ConfigError(
            "[[instruments]] lists several underlyings: a paper session trades one in this "
            "version (backtests trade several); keep one [instrument]"
        )
    jpath = run_dir / "journal.jsonl"
    config_text = dump_config(cfg)
    given = _Start([], seed, days, start, data_dir, faults or FaultProfile())
    s = _open_session(jpath, config_text, resume, given, run_dir)
    (run_dir / "config.toml").write_text(config_text, encoding="utf-8")
    bars, vix, md = session_market(cfg, s.data_dir, s.seed, s.days, s.start)
    spec = resolve_instrument(cfg)
    feed = BarFeed.of(bars, vix)
    log.info("paper session %s: %d bars, %s", run_dir, feed.n, "resumed" if s.prior else "new")
    cal, notes = run_calendar(cfg, spec, sorted({t.date() for t in feed.ts}))
    quotes = _session_quotes(cfg, md, s, jpath)
    broker = PaperBroker(s.faults, s.seed, state_path=run_dir / "broker_state.json")
    features = StreamingFeatures(cfg)
    journal = Journal(jpath, fsync=True)
    stop = _Stop()
    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        engine = Engine(
            cfg,
            spec,
            cal,
            quotes,
            broker,
            # the journal first (equity marks too: the outputs are the journal's), then observers
            Sinks([Route(journal.emit), *observers]),
            features,
            bars.bar_minutes,
            settle=settle,
        )
        if s.prior:
            begin = _recover(engine, journal, s.prior, features, feed)
        else:
            begin = 0
            _write_header(journal, config_text, s, feed, type(quotes).__name__, notes)
        engine.reconcile(feed.ts[begin] if begin < feed.n else feed.ts[-1])
        pacing = Pacing(bars.bar_minutes, speed) if speed is not None and speed > 0 else None
        killed = _run_bars(engine, journal, feed, begin, run_dir / "KILL", stop, on_bar, pacing)
        journal.emit(SessionEnd(ts=None, killed=killed, reason=stop.reason))
    finally:
        journal.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return _outputs(cfg, run_dir, feed.ts[0].date(), feed.ts[-1].date(), engine, killed, report)


def _session_quotes(
    cfg: Config, md: MarketData | None, s: _Start, jpath: Path
) -> ModelQuotes | DataQuotes:
    """The option quotes of a new session by the one rule (``choose_quotes``); a resumed
    session continues on the source it started on, or is refused when its data no longer
    gives that source."""
    quotes = choose_quotes(cfg, None if s.quotes == "ModelQuotes" else md)
    if s.quotes is not None and type(quotes).__name__ != s.quotes:
        raise JournalError(
            f"{jpath}: the session started on {s.quotes} and its data folder {s.data_dir} now "
            f"gives {type(quotes).__name__}: resume it on the data it started with"
        )
    return quotes


def _write_header(
    journal: Journal, config_text: str, s: _Start, feed: BarFeed, quotes: str, notes: list[str]
) -> None:
    journal.emit(
        PaperHeader(
            ts=None,
            schema=SCHEMA_VERSION,
            mode="paper",
            config_hash=config_hash(config_text),
            seed=s.seed,
            days=s.days,
            start=s.start.isoformat(),
            data=str(Path(s.data_dir).resolve()) if s.data_dir else None,
            bars=feed.n,
            bar_minutes=feed.bar_minutes,
            faults=dataclasses.asdict(s.faults),
            quotes=quotes,
        )
    )
    for w in notes:
        journal.emit(DataWarning(ts=None, message=w))


def _run_bars(
    engine: Engine,
    journal: Journal,
    feed: BarFeed,
    begin: int,
    kill_file: Path,
    stop: _Stop,
    on_bar: Callable[[Engine, int, int], None] | None,
    pacing: Clock | None,
) -> bool:
    """The session's bars from ``begin``, each followed by its state line, the live view and
    the kill switch's check; returns True when the kill switch stopped it (flat), False when
    the feed ended (the position closed or left open, orders drained)."""
    n = feed.n
    stopped: list[tuple[int, str]] = []

    def after(i: int) -> bool:
        journal.emit(State(ts=None, i=i, state=engine.state()))
        if on_bar is not None:
            on_bar(engine, i, n)
        if kill_file.exists() and stop.reason is None:
            stop.reason = "kill file"
        if stop.reason is not None:
            stopped.append((i, stop.reason))
            return True
        return False

    if drive(engine, feed, start=begin, after_bar=after, pacing=pacing):
        i, reason = stopped[0]
        _flatten(engine, journal, reason, feed.ts[i] + engine.run.bar)
        return True
    engine.finish()
    _drain(engine, engine.market.now)
    journal.emit(State(ts=None, i=n - 1, state=engine.state(), final=True))
    return False


def _recover(
    engine: Engine,
    journal: Journal,
    prior: list[dict[str, Any]],
    features: StreamingFeatures,
    feed: BarFeed,
) -> int:
    """Restore the last journaled state and the intents journaled after it; rebuild the
    indicators from the feed. Returns the first bar still to process."""
    states = [ev for ev in prior if ev["kind"] == "state"]
    last = states[-1] if states else None
    after = prior[prior.index(last) + 1 :] if last is not None else prior
    if last is not None:
        engine.restore(last["state"])
        done = int(last["i"])
        ts, h, lo, c, vol = feed.ts, feed.high, feed.low, feed.close, feed.volume
        for i in range(done + 1):
            features.advance(i, ts[i].date(), h[i], lo[i], c[i], vol[i])
        begin = done + 1
    else:
        begin = 0
    for ev in after:
        if ev["kind"] == "order":
            engine.recovery.remember(from_record(ev))
    journal.emit(
        Resume(
            ts=None,
            from_bar=begin,
            recovered=sorted(engine.orders.recovered),
            state_seq=last["seq"] if last else None,
        )
    )
    return begin


def _drain(engine: Engine, now: dt.datetime, seconds: int = 600) -> None:
    """Poll the broker until no order is live (or ``seconds`` of market time pass)."""
    t = now
    orders = engine.orders
    while orders.live and t < now + dt.timedelta(seconds=seconds):
        t += dt.timedelta(seconds=1)
        orders.pump(t)


def _flatten(engine: Engine, journal: Journal, reason: str, now: dt.datetime) -> None:
    engine.kill(reason)
    _drain(engine, now)
    i = engine.market.bars_total - 1
    journal.emit(State(ts=None, i=i, state=engine.state(), final=True))


def _outputs(
    cfg: Config,
    run_dir: Path,
    first: dt.date,
    last: dt.date,
    engine: Engine,
    killed: bool,
    report: bool,
) -> PaperResult:
    events = read_journal(run_dir / "journal.jsonl").events
    trades, fills, equity = project_journal(events, cfg.account.capital_inr)
    days = sorted(
        {dt.date.fromisoformat(ev["ts"][:10]) for ev in events if ev["kind"] == "day_start"}
    )
    kpis = write_run(
        run_dir,
        cfg,
        trades,
        fills,
        equity,
        first=first,
        last=last,
        days=days,
        bars_total=engine.market.bars_total,
        bars_in_position=engine.market.bars_in_position,
        bar_minutes=engine.run.bar_minutes,
    )
    if report:
        from dyntrail.analytics.report import write_report

        write_report(run_dir, title="dyntrail paper session")
    bars = engine.market.bars_total
    return PaperResult(run_dir, bars, len(trades), killed, tuple(engine.flags), kpis)
