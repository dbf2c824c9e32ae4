"""Paper trading: the engine on a market clock, against the paper broker, with a write-ahead
journal and recovery.

A session replays a feed (the synthetic regime stream, or a recorded data folder) bar by bar on
an accelerated clock (``speed`` times real time: 60 plays a market minute each wall-clock
second; ``None`` for as fast as possible), through the same loop as a backtest
(``dyntrail.runners.drive``), with the same option quotes: a folder's recorded ones when it has
them, the model's otherwise. The journal is fsynced line by
line (order intents at once, the other lines by group commit within 50 ms); at the end of
every bar the engine's state is journaled. The paper broker keeps its own
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

from dyntrail.control.api import ApiServer
from dyntrail.control.plane import (
    STOP_SOURCES,
    Control,
    ControlOptions,
    consumed_ids,
    replay_commands,
)
from dyntrail.core.config import Config
from dyntrail.core.config_load import dump_config
from dyntrail.core.events import DataWarning, PaperHeader, Resume, SessionEnd, State, from_record
from dyntrail.core.features import StreamingFeatures
from dyntrail.engine import Engine, Route, Sinks
from dyntrail.engine.commands import Kill
from dyntrail.engine.ports import Clock
from dyntrail.engine.venue import VenueSpec
from dyntrail.errors import JournalError
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.instruments import resolve_instrument
from dyntrail.journal import SCHEMA_VERSION, Journal, config_hash, read_journal
from dyntrail.runners.drive import (
    BarFeed,
    DataQuotes,
    ModelQuotes,
    Pacing,
    StepFeed,
    choose_quotes,
    drive,
    drive_steps,
)
from dyntrail.runners.outputs import project_journal, write_run
from dyntrail.runners.paper_market import (
    SessionMarket,
    replay_features,
    session_feed,
    session_markets,
)
from dyntrail.runners.plan import run_calendar

log = logging.getLogger(__name__)
KILL_FILE = "kill file"  # the stop reason of a file KILL in the run folder
GROUP_COMMIT_S = 0.05  # lines other than intents are fsynced within this (``Journal``)
SETTLE = dt.timedelta(seconds=5)  # how long after sending an order the broker is polled in-bar


@dataclass(frozen=True, slots=True)
class PaperResult:
    run_dir: Path
    bars_done: int
    trades: int
    killed: bool
    flags: tuple[str, ...]
    kpis: dict[str, Any]


class Stopper:
    def __init__(self) -> None:
        self.reason: str | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.reason = signal.Signals(signum).name


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
    control: ControlOptions | None = None,
) -> PaperResult:
    """Run (or resume) a paper session into ``run_dir``; see the module docstring. With
    ``control``, an operator steers it (``dyntrail.control``): commands from the run folder's
    inbox and, when ``control.api``, the local API and dashboard."""
    jpath = run_dir / "journal.jsonl"
    config_text = dump_config(cfg)
    given = _Start([], seed, days, start, data_dir, faults or FaultProfile())
    s = _open_session(jpath, config_text, resume, given, run_dir)
    (run_dir / "config.toml").write_text(config_text, encoding="utf-8")
    markets = session_markets(cfg, s.data_dir, s.seed, s.days, s.start)
    specs = [resolve_instrument(m.cfg) for m in markets]
    feed = session_feed(markets, [spec.underlying for spec in specs])
    n = len(feed.ts)
    log.info("paper session %s: %d bars, %s", run_dir, n, "resumed" if s.prior else "new")
    session = sorted({t.date() for t in feed.ts})
    calendars = [run_calendar(m.cfg, sp, session) for m, sp in zip(markets, specs, strict=True)]
    cal = sorted({d for c, _ in calendars for d in c})
    notes = list(dict.fromkeys(w for _, ws in calendars for w in ws))
    quotes = _session_quotes(markets, s, jpath)
    broker = PaperBroker(s.faults, s.seed, state_path=run_dir / "broker_state.json")
    features = [StreamingFeatures(m.cfg) for m in markets]
    others = [
        VenueSpec(m.instrument, spec, f, q)
        for m, spec, f, q in zip(markets[1:], specs[1:], features[1:], quotes[1:], strict=True)
    ]
    journal = Journal(jpath, fsync=True, group_s=GROUP_COMMIT_S)
    ctl = Control(run_dir, "paper", consumed_ids(s.prior), _paper_health) if control else None
    server: ApiServer | None = None
    stop = Stopper()
    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        routes = [Route(journal.emit), *observers, *([ctl.route()] if ctl else [])]
        bar_minutes = markets[0].bars.bar_minutes
        engine = Engine(
            cfg,
            specs[0],
            cal,
            quotes[0],
            broker,
            # the journal first (equity marks too: the outputs are the journal's), then observers
            Sinks(routes),
            features[0],
            bar_minutes,
            settle=settle,
            others=others,
        )
        if s.prior:
            resumed = recover(engine, journal, s.prior, replay_features(engine, feed))
        else:
            resumed = Resumed(0, False, None)
            bars = sum(len(m.bars.timestamps) for m in markets)
            _write_header(journal, config_text, s, (bars, bar_minutes), _names(quotes), notes)
        begin = resumed.begin
        engine.reconcile(feed.ts[begin] if begin < n else feed.ts[-1])
        replay_commands(engine, resumed.after)
        if stale_kill_file(run_dir / "KILL", s.prior):
            log.warning(
                "%s: acted on before the restart; renamed, not acted on again", run_dir / "KILL"
            )
        clock = Pacing(bar_minutes, speed) if speed is not None and speed > 0 else None
        pacing: Clock | None = clock
        if ctl is not None:
            ctl.step(engine, max(begin - 1, 0), n, force=True)
            if control is not None and control.api:
                server = ApiServer(ctl, control)
                server.start()
            if clock is not None:  # commands are taken while a bar's time passes, too
                pacing = Steered(clock, lambda: ctl.step(engine, ctl.bar[0], n))
        if resumed.kill is not None:  # killed, and the process died in the flatten: finish it
            engine.recovery.adopt_leftovers(engine.market.now)
            flatten(engine, journal, resumed.kill, engine.market.now)
            killed = True
        elif resumed.ended:  # ended already (the process died before its last line)
            killed = any(ev["kind"] == "kill_switch" for ev in s.prior)
        else:
            killed = _run_bars(
                engine, journal, feed, begin, run_dir / "KILL", stop, on_bar, pacing, ctl
            )
        journal.emit(SessionEnd(ts=None, killed=killed, reason=stop.reason))
        if ctl is not None:
            ctl.step(engine, ctl.bar[0], n, force=True)
            ctl.write()
    finally:
        if server is not None:
            server.stop()
        journal.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    first, last = feed.ts[0].date(), feed.ts[-1].date()
    return session_outputs(cfg, run_dir, first, last, engine, killed, report)


def _session_quotes(
    markets: list[SessionMarket], s: _Start, jpath: Path
) -> list[ModelQuotes | DataQuotes]:
    """The option quotes of each underlying of a new session by the one rule
    (``choose_quotes``); a resumed session continues on the sources it started on, or is
    refused when its data no longer gives them."""
    model = s.quotes is not None and "DataQuotes" not in s.quotes
    quotes = [choose_quotes(m.cfg, None if model else m.md) for m in markets]
    if s.quotes is not None and _names(quotes) != s.quotes:
        raise JournalError(
            f"{jpath}: the session started on {s.quotes} and its data folder {s.data_dir} now "
            f"gives {_names(quotes)}: resume it on the data it started with"
        )
    return quotes


def _names(quotes: list[ModelQuotes | DataQuotes]) -> str:
    """The quote sources as the header names them ("DataQuotes"; several: joined by "+")."""
    return "+".join(type(q).__name__ for q in quotes)


def _write_header(
    journal: Journal,
    config_text: str,
    s: _Start,
    bars: tuple[int, int],  # the bars of every underlying, and their length in minutes
    quotes: str,
    notes: list[str],
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
            bars=bars[0],
            bar_minutes=bars[1],
            faults=dataclasses.asdict(s.faults),
            quotes=quotes,
        )
    )
    for w in notes:
        journal.emit(DataWarning(ts=None, message=w))


def _run_bars(
    engine: Engine,
    journal: Journal,
    feed: BarFeed | StepFeed,
    begin: int,
    kill_file: Path,
    stop: Stopper,
    on_bar: Callable[[Engine, int, int], None] | None,
    pacing: Clock | None,
    ctl: Control | None = None,
) -> bool:
    """The session's bars from ``begin``, each followed by its state line, the live view and
    the kill switch's check; returns True when the kill switch stopped it (flat), False when
    the feed ended (the position closed or left open, orders drained). Several underlyings:
    each step of their bars is one "bar" here."""
    n = len(feed.ts)
    stopped: list[tuple[int, str]] = []

    def after(i: int) -> bool:
        if ctl is not None:  # commands first: the bar's state line holds what they did
            ctl.step(engine, i, n)
        journal.emit(State(ts=None, i=i, state=engine.state()))
        if on_bar is not None:
            on_bar(engine, i, n)
        if kill_file.exists() and stop.reason is None:
            stop.reason = KILL_FILE
        if stop.reason is not None:
            stopped.append((i, stop.reason))
            return True
        return False

    if isinstance(feed, StepFeed):
        stopped_early = drive_steps(engine, feed, start=begin, after_step=after, pacing=pacing)
    else:
        stopped_early = drive(engine, feed, start=begin, after_bar=after, pacing=pacing)
    if stopped_early:
        i, reason = stopped[0]
        flatten(engine, journal, reason, feed.ts[i] + engine.run.bar)
        consume_kill_file(kill_file)
        return True
    engine.finish()
    drain(engine, engine.market.now)
    journal.emit(State(ts=None, i=n - 1, state=engine.state(), final=True))
    return False


def recover(
    engine: Engine,
    journal: Journal,
    prior: list[dict[str, Any]],
    replay: Callable[[int], None],
) -> Resumed:
    """Restore the last journaled state and the intents journaled after it; rebuild the
    indicators from the feed (``replay``, up to the last bar done). Says where to go on: the
    first bar still to process, whether the session had ended (its last state final), and the
    kill journaled after the last state, if any (its flatten is done again, not the bars)."""
    states = [ev for ev in prior if ev["kind"] == "state"]
    last = states[-1] if states else None
    after = prior[prior.index(last) + 1 :] if last is not None else prior
    if last is not None:
        engine.restore(last["state"])
        done = int(last["i"])
        replay(done)
        begin = done + 1
    else:
        begin = 0
    kill: str | None = None
    for ev in after:
        if ev["kind"] in ("order", "stop_order"):
            engine.recovery.remember(from_record(ev))
        elif ev["kind"] == "kill_switch" and _stopping(after, ev):
            kill = str(ev["reason"])
    journal.emit(
        Resume(
            ts=None,
            from_bar=begin,
            recovered=sorted(engine.orders.recovered),
            state_seq=last["seq"] if last else None,
        )
    )
    return Resumed(begin, bool(last and last.get("final")), kill, after)


def _stopping(after: list[dict[str, Any]], ev: dict[str, Any]) -> bool:
    """A ``kill_switch`` that stopped the session (the kill file, a signal), not an
    operator's ``kill`` command (which halts and goes on): the command journaled just
    before it says which."""
    k = after.index(ev)
    cmd = next((e for e in reversed(after[:k]) if e["kind"] == "command"), None)
    return cmd is None or cmd.get("source", "") in STOP_SOURCES


@dataclass(frozen=True, slots=True)
class Resumed:
    begin: int  # the first bar still to process
    ended: bool  # the last state was the session's final one: nothing is left to run
    kill: str | None  # a kill journaled after the last state: its flatten is done again
    after: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # journaled since


class Steered:
    """A ``Clock`` whose wait lets an operator's commands in: the bar's time passes in
    slices, ``step`` (the control's) between them."""

    def __init__(self, clock: Pacing, step: Callable[[], None], slice_s: float = 0.2) -> None:
        self.clock, self.step, self.slice_s = clock, step, slice_s

    def wait(self) -> None:
        while self.clock.left() > self.slice_s:
            time.sleep(self.slice_s)
            self.step()
        self.clock.wait()


def stale_kill_file(path: Path, prior: list[dict[str, Any]]) -> bool:
    """A kill file that a journaled kill already acted on (the process died before it was
    renamed): renamed now, and True."""
    acted = any(
        ev["kind"] == "command" and ev["command"] == "kill" and ev.get("source") == "kill-file"
        for ev in prior
    )
    if acted and path.exists():
        consume_kill_file(path)
        return True
    return False


def consume_kill_file(path: Path) -> None:
    """The kill file acted on (its kill journaled): renamed, so a later ``--resume`` does not
    stop again by surprise."""
    if path.exists():
        path.replace(path.with_name(f"{path.name}.consumed"))


def drain(engine: Engine, now: dt.datetime, seconds: int = 600) -> None:
    """Poll the broker until no order is live (or ``seconds`` of market time pass)."""
    t = now
    orders = engine.orders
    while orders.live and t < now + dt.timedelta(seconds=seconds):
        t += dt.timedelta(seconds=1)
        orders.pump(t)


def flatten(engine: Engine, journal: Journal, reason: str, now: dt.datetime) -> None:
    """The kill switch that stops the session (the kill file, a signal): every position
    exited, the orders drained; a position that could not be closed (no bid, an exit
    rejected) is journaled open at the end and flagged."""
    engine.command(Kill(reason), source="kill-file" if reason == KILL_FILE else "signal")
    drain(engine, now)
    engine.left_open("still open after the kill switch")
    i = engine.market.bars_total - 1
    journal.emit(State(ts=None, i=i, state=engine.state(), final=True))


def _paper_health() -> dict[str, Any]:
    """The paper session's feed and broker: a replayed feed is never stale, the paper broker
    always answers."""
    return {"feed_stale_s": 0.0, "broker": "ok"}


def session_outputs(
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
