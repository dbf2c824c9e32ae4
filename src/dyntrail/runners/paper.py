"""Paper trading: the engine on a market clock, against the paper broker, with a write-ahead
journal and recovery.

A session replays a feed (the synthetic regime stream, or a recorded data folder) bar by bar on
an accelerated clock (``speed`` market minutes per second; ``None`` for as fast as possible). The
journal is fsynced line by line; at the end of every bar the engine's state is journaled. The
paper broker keeps its own book in ``broker_state.json`` (an exchange outlives our process).

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
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from dyntrail.core.config import Config
from dyntrail.core.config_load import dump_config
from dyntrail.core.features import StreamingFeatures
from dyntrail.core.order_pricing import OrderSide
from dyntrail.data.calendar import session_days
from dyntrail.data.loaders import Bars
from dyntrail.engine import Engine
from dyntrail.errors import JournalError
from dyntrail.execution.orders import Order, OrderIntent
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.journal import SCHEMA_VERSION, Journal, config_hash, read_journal
from dyntrail.runners.backtest import ModelQuotes, resolve_instrument, run_calendar
from dyntrail.runners.outputs import project_journal, write_run

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


def feed_bars(
    cfg: Config, data_dir: Path | None, seed: int, days: int, start: dt.date
) -> tuple[Bars, np.ndarray]:
    """The session's bars and VIX: a recorded folder, or ``days`` synthetic trading days."""
    if data_dir is not None:
        from dyntrail.runners.backtest import load_market

        md = load_market(cfg, data_dir)
        return md.bars, md.vix
    from dyntrail.data.synthetic import generate

    cal = session_days(cfg.calendar, start, start + dt.timedelta(days=days * 2 + 10))[0][:days]
    m = generate(cal, seed=seed)
    bars = Bars("synthetic", m.timestamps, m.open, m.high, m.low, m.close, m.volume, 1)
    return bars, m.vix


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
    report: bool = False,
    settle: dt.timedelta = SETTLE,
) -> PaperResult:
    """Run (or resume) a paper session into ``run_dir``; see the module docstring."""
    jpath = run_dir / "journal.jsonl"
    if resume and not jpath.exists():  # checked before anything is made: nothing left behind
        raise JournalError(f"{jpath}: no session here to resume; start one with --out {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_text = dump_config(cfg)
    prior: list[dict[str, Any]] = []
    if jpath.exists() and jpath.stat().st_size > 0:
        if not resume:
            raise JournalError(f"{jpath}: a session exists here; use --resume to continue it")
        prior = read_journal(jpath).events
        if not prior:  # killed while writing the very first line: nothing was journaled
            jpath.rename(jpath.with_name(f"journal.jsonl.torn-{int(time.time())}"))
    if prior:
        head = prior[0]
        if head.get("kind") != "header" or head.get("mode") != "paper":
            mode = head.get("mode") if head.get("kind") == "header" else None
            raise JournalError(
                f"{jpath}: not a paper session's journal (mode {mode or 'unknown'}): "
                "--resume continues a folder that `dyntrail paper --out` started"
            )
        if head.get("config_hash") != config_hash(config_text):
            raise JournalError(
                f"{jpath}: the session was started with another config "
                f"(hash {head.get('config_hash')}); resume it with that config"
            )
        seed, days = int(head["seed"]), int(head["days"])
        start = dt.date.fromisoformat(head["start"])
        data_dir = Path(head["data"]) if head.get("data") else None
        faults = FaultProfile(**head["faults"])
    (run_dir / "config.toml").write_text(config_text, encoding="utf-8")
    profile = faults if faults is not None else FaultProfile()
    bars, vix = feed_bars(cfg, data_dir, seed, days, start)
    spec = resolve_instrument(cfg)
    ts_list: list[dt.datetime] = bars.timestamps.astype("datetime64[s]").astype(object).tolist()
    first, last = ts_list[0].date(), ts_list[-1].date()
    cal, notes = run_calendar(cfg, spec, sorted({t.date() for t in ts_list}))
    broker = PaperBroker(profile, seed, state_path=run_dir / "broker_state.json")
    features = StreamingFeatures(cfg)
    journal = Journal(jpath, fsync=True)
    stop = _Stop()
    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        engine = Engine(
            cfg,
            spec,
            cal,
            ModelQuotes(cfg),
            broker,
            journal,
            features,
            bars.bar_minutes,
            lambda tr: None,
            lambda row: None,
            _equity_to(journal),
            settle=settle,
        )
        o, h, lo, c = (
            bars.open.tolist(),
            bars.high.tolist(),
            bars.low.tolist(),
            bars.close.tolist(),
        )
        vol = bars.volume.tolist() if bars.volume is not None else [None] * len(ts_list)
        vx = vix.tolist()
        begin = 0
        if prior:
            begin = _recover(engine, prior, features, ts_list, h, lo, c, vol)
        else:
            journal.write(
                "header",
                None,
                schema=SCHEMA_VERSION,
                mode="paper",
                config_hash=config_hash(config_text),
                seed=seed,
                days=days,
                start=start.isoformat(),
                data=str(data_dir) if data_dir else None,
                bars=len(ts_list),
                bar_minutes=bars.bar_minutes,
                faults=dataclasses.asdict(profile),
            )
            for w in notes:
                journal.write("data_warning", None, message=w)
        engine.reconcile(ts_list[begin] if begin < len(ts_list) else ts_list[-1])
        n = len(ts_list)
        bar_s = bars.bar_minutes * 60 / speed if speed else 0.0
        killed = False
        for i in range(begin, n):
            tick = time.monotonic()
            engine.on_bar(i, ts_list[i], o[i], h[i], lo[i], c[i], vol[i], vx[i])
            journal.write("state", None, i=i, state=engine.state())
            if on_bar is not None:
                on_bar(engine, i, n)
            if (run_dir / "KILL").exists() and stop.reason is None:
                stop.reason = "kill file"
            if stop.reason is not None:
                _flatten(engine, stop.reason, ts_list[i] + engine.bar)
                killed = True
                break
            if bar_s:
                time.sleep(max(0.0, bar_s - (time.monotonic() - tick)))
        else:
            engine.finish()
            _drain(engine, engine.now)
            journal.write("state", None, i=n - 1, state=engine.state(), final=True)
        journal.write("session_end", None, killed=killed, reason=stop.reason)
    finally:
        journal.close()
        for s, h_ in old.items():
            signal.signal(s, h_)
    return _outputs(cfg, run_dir, first, last, engine, killed, report)


def _equity_to(journal: Journal) -> Callable[[str, float, float, float], None]:
    def on_equity(ts: str, equity: float, realized: float, unrealized: float) -> None:
        journal.write(
            "equity",
            ts,
            equity=round(equity, 2),
            realized=round(realized, 2),
            unrealized=round(unrealized, 2),
        )

    return on_equity


def _recover(
    engine: Engine,
    prior: list[dict[str, Any]],
    features: StreamingFeatures,
    ts_list: list[dt.datetime],
    h: list[float],
    lo: list[float],
    c: list[float],
    vol: list[float | None],
) -> int:
    """Restore the last journaled state and the intents journaled after it; rebuild the
    indicators from the feed. Returns the first bar still to process."""
    states = [ev for ev in prior if ev["kind"] == "state"]
    last = states[-1] if states else None
    after = prior[prior.index(last) + 1 :] if last is not None else prior
    if last is not None:
        engine.restore(last["state"])
        done = int(last["i"])
        for i in range(done + 1):
            features.advance(i, ts_list[i].date(), h[i], lo[i], c[i], vol[i])
        begin = done + 1
    else:
        begin = 0
    for ev in after:
        if ev["kind"] == "order":
            intent = OrderIntent(
                ev["tag"],
                ev["trade_id"],
                0,
                ev["action"],
                OrderSide(ev["side"]),
                ev["qty"],
                ev["limit"],
                ev["decision_price"],
                ev["instrument"],
                dt.datetime.fromisoformat(ev["ts"]).replace(tzinfo=None),
            )
            engine.recovered[ev["tag"]] = {
                "order": Order(intent).to_dict(),
                "meta": {
                    "trade_id": ev["trade_id"],
                    "action": ev["action"],
                    "attempt": ev["attempt"],
                    "decision": ev["decision_price"],
                    "underlying": ev["underlying"],
                    "sent": intent.ts.isoformat(),
                    "ack": None,
                },
            }
    engine.journal.write(
        "resume",
        None,
        from_bar=begin,
        recovered=sorted(engine.recovered),
        state_seq=last["seq"] if last else None,
    )
    return begin


def _drain(engine: Engine, now: dt.datetime, seconds: int = 600) -> None:
    """Poll the broker until no order is live (or ``seconds`` of market time pass)."""
    t = now
    while engine.orders and t < now + dt.timedelta(seconds=seconds):
        t += dt.timedelta(seconds=1)
        engine.pump(t)


def _flatten(engine: Engine, reason: str, now: dt.datetime) -> None:
    engine.kill(reason)
    _drain(engine, now)
    engine.journal.write("state", None, i=engine.bars_total - 1, state=engine.state(), final=True)


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
        bars_total=engine.bars_total,
        bars_in_position=engine.bars_in_position,
        bar_minutes=engine.bar_minutes,
    )
    if report:
        from dyntrail.analytics.report import write_report

        write_report(run_dir, title="dyntrail paper session")
    return PaperResult(run_dir, engine.bars_total, len(trades), killed, tuple(engine.blocked), kpis)
