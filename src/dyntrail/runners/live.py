"""Live trading: the engine on Kite's market. Only the feed (Kite's WebSocket ticks), the clock
(the wall, or the ticks' own times for a replay) and the broker (Kite's, or the paper broker
for ``--dry-run``) differ from paper; the engine, the journal and the recovery are the same.

A session is one trading day, in one run folder:

1. Start: read the day's instruments dump, and 1-minute history of the index and the India VIX
   for the indicators; a journal of the same day in the folder is resumed (its last state
   restored, the orders journaled after it settled from the broker's book by their tags: the
   recovery of paper, the same code); then reconcile with the broker before anything else.
2. Ticks: the index's ticks make 1-minute bars (``live.bars``); each closed bar goes to the
   engine as in a backtest (entries on closed bars), and every tick of the index is also
   checked against the open positions' stops and targets at once (``Engine.on_tick``). Option
   ticks are the quotes orders are priced against. While no tick comes for ``stale_s`` the
   risk gate lets no entry out and says why.
3. The end: after the session's close the engine finishes the day (the strategy flattened at
   15:15), the orders are drained, the broker's book and positions are held against the
   journal's once more (``reconciled_close``: what differs is flagged), the outputs are written
   as paper's are. A kill (a file ``KILL`` in the run folder, SIGTERM, Ctrl-C) flattens first.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dyntrail.control.api import ApiServer
from dyntrail.control.plane import Control, ControlOptions, consumed_ids, replay_commands
from dyntrail.core.config import Config
from dyntrail.core.config_load import dump_config
from dyntrail.core.contract import Contract
from dyntrail.core.contracts import InstrumentSpec, is_monthly_expiry, next_expiry
from dyntrail.core.events import LiveHeader, SessionEnd, State
from dyntrail.core.features import StreamingFeatures
from dyntrail.core.options import OptionRight
from dyntrail.data.calendar import session_days
from dyntrail.engine import Engine, Route, Sinks
from dyntrail.engine.commands import Kill
from dyntrail.engine.ports import Broker
from dyntrail.errors import ConfigError, DyntrailError, JournalError
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.instruments import resolve_instrument
from dyntrail.journal import SCHEMA_VERSION, Journal, config_hash, read_journal
from dyntrail.live.bars import BarBuilder, ClosedBar
from dyntrail.live.credentials import KiteCredentials, RedactingFilter
from dyntrail.live.feed import KiteFeed, LiveQuotes, Tick, TickBook
from dyntrail.live.instruments import Instruments, Listed
from dyntrail.live.kite_broker import KiteBroker, KiteSettings
from dyntrail.runners.paper import (
    GROUP_COMMIT_S,
    KILL_FILE,
    PaperResult,
    Stopper,
    consume_kill_file,
    recover,
    session_outputs,
    stale_kill_file,
)
from dyntrail.runners.plan import run_calendar

log = logging.getLogger(__name__)
_GRACE = dt.timedelta(seconds=2)  # a bar with no later tick closes this long after its end
_DRAIN_S = 30.0  # wall seconds to wait for working orders to end when a session stops
_MINUTE = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class LiveClients:
    """The official client's classes (``KiteConnect``, ``KiteTicker``): given, so a caller can
    wrap them; the defaults are the real ones."""

    rest: Any
    ticker: Any

    @classmethod
    def official(cls) -> LiveClients:
        from kiteconnect import KiteConnect, KiteTicker

        return cls(KiteConnect, KiteTicker)


def run_live(
    cfg: Config,
    run_dir: Path,
    creds: KiteCredentials,
    *,
    day: dt.date | None = None,
    dry_run: bool = True,
    confirm_live: bool = False,
    clients: LiveClients | None = None,
    on_bar: Callable[[Engine, int, int], None] | None = None,
    observers: Sequence[Route] = (),
    report: bool = False,
    control: ControlOptions | None = None,
) -> PaperResult:
    """Run (or resume) one live session into ``run_dir``; see the module docstring. With
    ``control``, an operator steers it as a paper session (``dyntrail.control``)."""
    live = cfg.live
    if not dry_run and not (confirm_live or live.confirm):
        raise ConfigError(
            "real orders need --confirm-live (or [live] confirm = true); --dry-run trades the "
            "live market against the paper broker"
        )
    tz = ZoneInfo(cfg.session.timezone)
    day = day or dt.datetime.now(tz).date()
    no_session(cfg, day)
    if creds.access_token is None:
        raise ConfigError("no Kite access token for today: run `dyntrail live login` first")
    if len(cfg.traded) > 1:
        raise ConfigError("[[instruments]]: a live session trades one underlying for now")
    _guard_logs(creds.secrets())
    c = clients or LiveClients.official()
    kite = c.rest(
        api_key=creds.api_key.reveal(),
        access_token=creds.access_token.reveal(),
        root=live.rest_root or None,
        timeout=live.request_timeout_s,
    )
    jpath = run_dir / "journal.jsonl"
    config_text = dump_config(cfg)
    prior = _open(jpath, config_text, day, run_dir)
    (run_dir / "config.toml").write_text(config_text, encoding="utf-8")
    instruments = Instruments.load(kite, run_dir, day)
    spec = resolve_instrument(cfg)
    index, vix = instruments.index(spec.underlying), instruments.vix()
    begin = _start_time(cfg, tz, day, prior)
    history = _history(kite, index, day, live.warmup_days, begin)
    vix_history = _history(kite, vix, day, live.warmup_days, begin)
    vix_now = vix_history[-1].close if vix_history else 0.0
    days = sorted({b.start.date() for b in history} | {day})
    cal, _notes = run_calendar(cfg, spec, days)
    if history:
        _check_listing(cfg, spec, cal, instruments, day, history[-1].close)
    book = TickBook()
    quotes = LiveQuotes(book, instruments, dt.timedelta(seconds=live.quote_max_age_s))
    broker: KiteBroker | PaperBroker
    if dry_run:
        broker = PaperBroker(FaultProfile.none(), 0, state_path=run_dir / "broker_state.json")
    else:
        broker = KiteBroker(kite, _settings(cfg))
    journal = Journal(jpath, fsync=True, group_s=GROUP_COMMIT_S)
    stop = Stopper()
    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    feed: KiteFeed | None = None
    ctl = Control(run_dir, "live-dry-run" if dry_run else "live", consumed_ids(prior))
    server: ApiServer | None = None
    try:
        sinks = Sinks([Route(journal.emit), *observers, *([ctl.route()] if control else [])])
        engine = live_engine(cfg, spec, cal, quotes, broker, sinks, history)
        if prior:
            resumed = recover(engine, journal, prior, lambda done: None)
            replay_commands(engine, resumed.after)
            stale_kill_file(run_dir / "KILL", prior)
        else:
            journal.emit(_header(config_text, day, spec, dry_run))
        engine.market.last_vix = vix_now
        if isinstance(broker, KiteBroker):  # sent before the restart, not settled: no quick resend
            broker.unsure([*engine.orders.live, *engine.orders.recovered])
        session = Session(cfg, engine, journal, book, instruments, spec, index, vix, tz, day)
        if control is not None:
            session.control = ctl
            ctl.probe = session.health
            if control.api:
                server = ApiServer(ctl, control)
                server.start()
        session.vix = vix_now
        session.feed_time = max(session.feed_time, begin)
        engine.reconcile(session.now())
        ticker = c.ticker(
            creds.api_key.reveal(),
            creds.access_token.reveal(),
            root=live.ws_root or None,
            reconnect_max_delay=5,
        )
        update = broker.take_update if isinstance(broker, KiteBroker) else None
        feed = KiteFeed(ticker, tz, on_order_update=update)
        session.feed = feed
        near = session.near(history[-1].close if history else None)
        feed.start([index.token, vix.token, *near])
        settle_heap()
        killed = session.run(stop, run_dir / "KILL", on_bar)
        journal.emit(SessionEnd(ts=None, killed=killed, reason=stop.reason))
        if session.control is not None:
            session.control.step(engine, session.i - 1, 0, force=True)
            session.control.write()
    finally:
        if server is not None:
            server.stop()
        if feed is not None:
            feed.close()
        gc.unfreeze()  # (the next session, in this process, freezes its own)
        journal.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    result = session_outputs(cfg, run_dir, day, day, engine, killed, report)
    if not dry_run and not killed and live.logout_at_end:
        _logout(kite)
    return result


class NoSession(DyntrailError):
    """The day has no session on the exchange's calendar: nothing to trade (not a failure)."""


def no_session(cfg: Config, day: dt.date) -> None:
    """``NoSession`` when ``day`` is a weekend or a holiday of the calendar (the exchange's,
    with the config's ``[calendar]`` holidays and sessions), naming the next session."""
    days, _ = session_days(cfg.calendar, day, day + dt.timedelta(days=15))
    if day not in days:
        after = next((d for d in days if d > day), None)
        then = f"; the next is {after.isoformat()} ({after:%A})" if after else ""
        raise NoSession(
            f"{day.isoformat()} ({day:%A}) is not a trading day on the calendar (a weekend or "
            f"a holiday; `[calendar]` adds holidays and sessions): no session to trade{then}"
        )


def settle_heap() -> None:
    """Before the first tick: what the start-up made (the instruments dump's rows, the history,
    a resumed journal's lines) is collected once, then moved out of the garbage collector's
    reach (``gc.freeze``), so a full collection during the day walks only the day's own objects
    instead of stalling a tick, and the order it may send, for the whole dump. The session's end
    gives them back (``gc.unfreeze``)."""
    gc.collect()
    gc.freeze()


def _logout(kite: Any) -> None:
    """The day is over: the access token is invalidated (Kite's logout), so it is good for
    nothing if it leaks; a failure to log out is only logged (the token ends tomorrow anyway)."""
    try:
        kite.invalidate_access_token()
        log.info("logged out of Kite: the day's access token is invalidated")
    except Exception as exc:  # the client's errors, any network error
        why = type(exc).__name__
        log.warning("Kite logout failed (%s): the token still ends early tomorrow", why)


class Session:
    """The day's loop (see the module docstring, steps 2 and 3)."""

    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        journal: Journal,
        book: TickBook,
        instruments: Instruments,
        spec: InstrumentSpec,
        index: Listed,
        vix: Listed,
        tz: ZoneInfo,
        day: dt.date,
    ) -> None:
        self.cfg, self.engine, self.journal, self.book = cfg, engine, journal, book
        self.instruments, self.spec, self.index, self.vix_listed = instruments, spec, index, vix
        self.tz, self.day = tz, day
        self.bars = BarBuilder(1, cumulative_volume=False)
        self.feed: KiteFeed | None = None
        self.vix = 0.0
        self.feed_time = dt.datetime.combine(day, dt.time(0))
        self.close_at = dt.datetime.combine(day, cfg.session.close)
        self.i = engine.market.bars_total
        self.underlying = engine.venue.name
        self.expired = False
        self.control: Control | None = None  # an operator's commands, between events

    def now(self) -> dt.datetime:
        """Market time: the ticks' (a replay), else the wall's or the ticks', the later."""
        if self.cfg.live.clock == "feed":
            return self.feed_time
        wall = dt.datetime.now(self.tz).replace(tzinfo=None)
        return max(wall, self.feed_time)

    def near(self, spot: float | None) -> list[int]:
        """The option tokens to follow around ``spot``."""
        if spot is None:
            return []
        width = self.cfg.live.strikes_around * self.spec.strike_step
        found = self.instruments.options_near(self.spec.underlying, self.day, spot, width)
        return [x.token for x in found]

    def run(
        self,
        stop: Stopper,
        kill_file: Path,
        on_bar: Callable[[Engine, int, int], None] | None,
    ) -> bool:
        """Ticks until the session is over (False) or a kill stopped it, flat (True)."""
        assert self.feed is not None
        feed, engine = self.feed, self.engine
        while True:
            for tick in feed.drain(0.2):
                self.take(tick, on_bar)
            now = self.now()
            for bar in self.bars.close_due(now - _GRACE):
                self.bar(bar, on_bar)
            self.watch_feed(now)
            if engine.orders.live:
                engine.orders.pump(now)
            if self.control is not None:
                self.control.step(engine, self.i - 1, 0)
            if kill_file.exists() and stop.reason is None:
                stop.reason = KILL_FILE
            if stop.reason is not None:
                self.flatten(stop.reason)
                consume_kill_file(kill_file)
                return True
            if now >= self.close_at + _GRACE:
                self.finish()
                return False

    def take(self, tick: Tick, on_bar: Callable[[Engine, int, int], None] | None) -> None:
        self.book.put(tick)
        if tick.stamped and tick.ts > self.feed_time:  # (a wall-clock stamp is no market time)
            self.feed_time = tick.ts
        if tick.token == self.vix_listed.token:
            self.vix = tick.last
            return
        if tick.token != self.index.token:
            listed = self.instruments.by_token.get(tick.token)
            if listed is not None:
                self.engine.market.quotes_now[listed.symbol] = (tick.bid, tick.ask)
            return
        if tick.ts.date() != self.day or tick.ts.time() < self.cfg.session.open:
            return
        for bar in self.bars.add(tick.ts, tick.last):
            self.bar(bar, on_bar)
        if self.engine.book.open:
            self.engine.on_tick(self.underlying, tick.ts, tick.last)

    def bar(self, bar: ClosedBar, on_bar: Callable[[Engine, int, int], None] | None) -> None:
        """A closed bar of the index: through the engine, then its state line."""
        engine = self.engine
        vix = self.vix or engine.market.last_vix
        engine.on_bar(self.i, bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume, vix)
        self.journal.emit(State(ts=None, i=self.i, state=engine.state()))
        if on_bar is not None:
            on_bar(engine, self.i, self.i + 1)
        self.i += 1
        if self.feed is not None:
            self.feed.subscribe(self.near(bar.close))

    def watch_feed(self, now: dt.datetime) -> None:
        """No tick for ``stale_s``: no entries, and the gate says why; ticks back: it clears.
        A broker session that expired is flagged once (log in again, then restart)."""
        assert self.feed is not None
        broker = self.engine.orders.broker
        if getattr(broker, "session_expired", False) and not self.expired:
            self.expired = True
            log.error("Kite refused the access token: run `dyntrail live login`, then restart")
            self.engine.risk.flag("Kite session expired: log in again and restart")
        quiet = self.feed.quiet_for()
        risk = self.engine.risk
        was = risk.stale
        risk.stale = f"no tick for {quiet:.0f} s" if quiet >= self.cfg.live.stale_s else ""
        if bool(risk.stale) != bool(was):
            risk.update(now, self.engine.book.open.values())

    def health(self) -> dict[str, Any]:
        """The feed's staleness and the broker's state, for the control's ``/health``."""
        quiet = self.feed.quiet_for() if self.feed is not None else None
        broker = self.engine.orders.broker
        if getattr(broker, "session_expired", False):
            state = "session expired"
        elif any("broker unreachable" in f for f in self.engine.risk.flags.values()):
            state = "unreachable"
        else:
            state = "ok"
        return {
            "feed_stale_s": None if quiet is None else round(quiet, 3),
            "feed_stale": bool(self.engine.risk.stale),
            "broker": state,
        }

    def finish(self) -> None:
        engine = self.engine
        engine.finish()
        self.drain()
        self.reconcile_close()
        self.journal.emit(State(ts=None, i=self.i - 1, state=engine.state(), final=True))

    def flatten(self, reason: str) -> None:
        """The kill switch: every position exited, the orders drained (on the wall clock); a
        position that could not be closed is journaled open and flagged."""
        engine = self.engine
        engine.command(Kill(reason), source="kill-file" if reason == KILL_FILE else "signal")
        self.drain()
        engine.left_open("still open after the kill switch")
        self.reconcile_close()
        self.journal.emit(State(ts=None, i=self.i - 1, state=engine.state(), final=True))

    def reconcile_close(self) -> None:
        """The broker's positions and book held against the journal's at the end (journaled
        as ``reconciled_close``); what differs is flagged, logged and printed at the end."""
        for line in self.engine.reconcile_close(self.now()):
            log.warning("at the close: %s", line)

    def drain(self) -> None:
        """Poll the broker until no order is live, for up to ``_DRAIN_S`` wall seconds."""
        orders = self.engine.orders
        until = time.monotonic() + _DRAIN_S
        while orders.live and time.monotonic() < until:
            if self.feed is not None:
                for tick in self.feed.drain(0.1):
                    self.book.put(tick)
            orders.pump(self.now())


def _open(jpath: Path, config_text: str, day: dt.date, run_dir: Path) -> list[dict[str, Any]]:
    """The journal so far of this day's session in ``run_dir`` (empty: a new one); one of
    another day, mode or config is refused, naming it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if not jpath.exists() or jpath.stat().st_size == 0:
        return []
    prior = read_journal(jpath).events
    if not prior:
        return []
    head = prior[0]
    if head.get("kind") != "header" or head.get("mode") != "live":
        raise JournalError(f"{jpath}: not a live session's journal; use another --out folder")
    if head.get("schema") != SCHEMA_VERSION:
        raise JournalError(
            f"{jpath}: journaled with schema {head.get('schema')}, this version writes "
            f"{SCHEMA_VERSION}: start a new session in another folder"
        )
    if head.get("day") != day.isoformat():
        raise JournalError(
            f"{jpath}: the session of {head.get('day')}; a live run folder holds one day "
            f"(use --out for {day})"
        )
    if head.get("config_hash") != config_hash(config_text):
        raise JournalError(
            f"{jpath}: the session was started with another config; resume it with that one"
        )
    if any(ev.get("kind") == "session_end" for ev in prior):
        raise JournalError(f"{jpath}: the session of {day} has ended; its outputs are in {run_dir}")
    return prior


def _header(config_text: str, day: dt.date, spec: InstrumentSpec, dry_run: bool) -> LiveHeader:
    return LiveHeader(
        ts=None,
        schema=SCHEMA_VERSION,
        mode="live",
        config_hash=config_hash(config_text),
        day=day.isoformat(),
        broker="paper" if dry_run else "kite",
        underlying=spec.underlying,
        bar_minutes=1,
        quotes="LiveQuotes",
    )


def _check_listing(
    cfg: Config,
    spec: InstrumentSpec,
    cal: list[dt.date],
    instruments: Instruments,
    day: dt.date,
    spot: float,
) -> None:
    """The contract the engine would trade now (the next expiry's option at the money) is
    listed by Kite with the lot the config's contract terms give: a ``DataError`` before any
    order otherwise (a wrong expiry calendar or lot schedule would send wrong orders)."""
    o = cfg.options
    expiry = next_expiry(
        spec, day, cal, skip_expiry_day=o.skip_expiry_day, min_days_to_expiry=o.min_days_to_expiry
    )
    monthly = is_monthly_expiry(spec, expiry, cal)
    strike = round(spot / spec.strike_step) * spec.strike_step
    lot = spec.contract_lot(expiry, monthly=monthly)
    for right in (OptionRight.CE, OptionRight.PE):
        instruments.option(Contract(spec.underlying, expiry, strike, right, lot, monthly))


def _settings(cfg: Config) -> KiteSettings:
    live = cfg.live
    return KiteSettings(
        product=live.product,
        market_protection=live.market_protection,
        algo_id=live.algo_id or None,
        poll_s=live.poll_s,
        resend_after_s=live.resend_after_s,
        rate_per_s=live.order_rate_per_s,
    )


def _start_time(
    cfg: Config, tz: ZoneInfo, day: dt.date, prior: list[dict[str, Any]]
) -> dt.datetime:
    """Market time at the start: the wall's; in a replay (``clock = "feed"``) the close of the
    last bar the journal's last state took, or the day's first moment (no bar still to be
    replayed is history)."""
    if cfg.live.clock == "wall":
        return dt.datetime.now(tz).replace(tzinfo=None)
    start = dt.datetime.combine(day, dt.time(0))
    for ev in reversed(prior):
        if ev.get("kind") == "state":
            return max(start, dt.datetime.fromisoformat(ev["state"]["market"]["now"]))
    return start


def _history(
    kite: Any, listed: Listed, day: dt.date, days: int, before: dt.datetime
) -> list[ClosedBar]:
    """The instrument's 1-minute bars of the ``days`` calendar days before ``day`` and of
    ``day`` so far, closed by ``before`` (the indicators' warm-up), oldest first."""
    start = dt.datetime.combine(day - dt.timedelta(days=days), dt.time(0))
    candles = kite.historical_data(listed.token, start, before, "minute")
    out = []
    for c in candles:
        ts = c["date"]
        if isinstance(ts, dt.datetime):
            ts = ts.replace(tzinfo=None)
        else:
            ts = dt.datetime.fromisoformat(str(ts)[:19])
        if ts + _MINUTE > before:
            continue  # the minute still forming
        vol = c.get("volume")
        out.append(ClosedBar(ts, c["open"], c["high"], c["low"], c["close"], vol or None, 0))
    return out


def live_engine(
    cfg: Config,
    spec: InstrumentSpec,
    cal: list[dt.date],
    quotes: LiveQuotes,
    broker: Broker,
    sinks: Sinks,
    history: list[ClosedBar],
) -> Engine:
    """The engine of a live session: 1-minute bars, every price also a tick, the indicators
    warmed on ``history``'s bars (nothing is traded on them)."""
    engine = Engine(cfg, spec, cal, quotes, broker, sinks, StreamingFeatures(cfg), 1, ticked=True)
    u = engine.venue.underlying
    for k, b in enumerate(history):
        u.f.advance(k, b.start.date(), b.high, b.low, b.close, b.volume)
    if history:
        u.prev_close = u.last_close = history[-1].close
    return engine


def _guard_logs(secrets: list[str]) -> None:
    """Every log handler drops the credentials from what it writes, and the client's debug
    log (its request headers) stays off."""
    logging.getLogger("kiteconnect").setLevel(logging.INFO)
    flt = RedactingFilter(secrets)
    root = logging.getLogger()
    for h in root.handlers:
        h.addFilter(flt)
    root.addFilter(flt)
