"""Live latency: a recorded day of ticks through the live session's own code (``dyntrail.runners
.live``: ticks into 1-minute bars, the engine on each closed bar, every index tick checked
against the open positions' stops and targets), with the journal as durable as a live run's and
the dry run's paper broker. Prints figures, asserts nothing.

The day: synthetic 1-minute bars of NIFTY (seeded), three days before it for the indicators'
warm-up. Each minute becomes ticks: the index once a second along open -> adverse extreme ->
favourable extreme -> close (straight lines between them), the India VIX every 5 s, and each
option within ``--strikes`` strikes of the money of the next expiry every 2 s (priced by the
project's quote model). Each tick is handed to the session's ``take`` (then the loop's pump when
an order is working), timed with ``perf_counter_ns``:

- **tick to order sent**: from the tick's arrival to the broker's ``place`` call (the order
  journaled durably before it, as always);
- **an event that sends no order**: every other tick, whatever it did (a bar close included).

The loop runs far faster than the ticks would arrive (about 300 times real time), so the
group-committed journal's committer thread, which fsyncs within 50 ms of wall time, would fsync
300 times as often against the market's clock as in a live session, and hold the interpreter's
lock against the loop at moments no live session sees. So its period is set beyond the run, and
where the ticks' arrival times leave it 50 ms of idle time, the loop fsyncs for it (untimed), as
the thread would at that speed.

At ``--speed`` times real time (default 50) the ticks arrive at their market times divided by
the speed; the queue is simulated from the measured costs (arrival, start = max(arrival, the
previous tick's end), end = start + cost), so "never falls behind" is the largest lag of a tick
behind its arrival, without waiting the day out.

    python bench/live_latency.py [--seed 11] [--days 10] [--speed 50] [--strikes 5]
                                 [--journal group|fsync|none]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dyntrail.core.config import Config
from dyntrail.core.config_load import parse_config
from dyntrail.core.contracts import is_monthly_expiry, next_expiry
from dyntrail.core.options import OptionRight
from dyntrail.data.calendar import session_days
from dyntrail.data.options_synth import QuoteModelParams, SyntheticQuotes
from dyntrail.data.synthetic import generate
from dyntrail.engine import Route, Sinks
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.instruments import load_instrument
from dyntrail.journal import Journal
from dyntrail.live.bars import ClosedBar
from dyntrail.live.feed import LiveQuotes, Tick, TickBook
from dyntrail.live.instruments import Instruments
from dyntrail.runners.live import Session, live_engine, settle_heap

DAY = dt.date(2025, 1, 3)
NIFTY_50, INDIA_VIX = 256265, 264969


class TimedBroker:
    """The paper broker, with the time of each ``place`` call noted."""

    def __init__(self, inner: PaperBroker) -> None:
        self.inner = inner
        self.placed: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def place(self, intent: Any, now: dt.datetime) -> None:
        self.placed.append(time.perf_counter_ns())
        self.inner.place(intent, now)


def market(
    seed: int,
) -> tuple[list[ClosedBar], list[tuple[dt.datetime, float, float, float, float, float]]]:
    cal = session_days(Config().calendar, DAY - dt.timedelta(days=10), DAY)[0][-4:]
    m = generate(cal, seed=seed)
    ts = m.timestamps.astype("datetime64[s]").astype(object).tolist()
    rows = list(
        zip(
            ts,
            m.open.tolist(),
            m.high.tolist(),
            m.low.tolist(),
            m.close.tolist(),
            m.vix.tolist(),
            strict=True,
        )
    )
    history = [ClosedBar(t, o, h, lo, c, None, 0) for t, o, h, lo, c, _ in rows if t.date() < DAY]
    return history, [r for r in rows if r[0].date() == DAY]


def chain(spot: float, strikes: int) -> tuple[Instruments, list[dict[str, Any]]]:
    spec = load_instrument("NIFTY")
    cal = session_days(Config().calendar, DAY, DAY + dt.timedelta(days=60))[0]
    expiry = next_expiry(spec, DAY, cal)
    monthly = is_monthly_expiry(spec, expiry, cal)
    lot = spec.contract_lot(expiry, monthly=monthly)
    from dyntrail.core.contract import Contract

    atm = round(spot / 50) * 50
    rows: list[dict[str, Any]] = [
        {
            "instrument_token": NIFTY_50,
            "tradingsymbol": "NIFTY 50",
            "exchange": "NSE",
            "name": "NIFTY 50",
        },
        {
            "instrument_token": INDIA_VIX,
            "tradingsymbol": "INDIA VIX",
            "exchange": "NSE",
            "name": "INDIA VIX",
        },
    ]
    token = 30_000_002
    for k in range(-3 * strikes, 3 * strikes + 1):
        for right in (OptionRight.CE, OptionRight.PE):
            c = Contract("NIFTY", expiry, float(atm + 50 * k), right, lot, monthly)
            rows.append({"instrument_token": token, "tradingsymbol": c.symbol, "exchange": "NFO",
                         "name": "NIFTY", "expiry": expiry.isoformat(), "strike": c.strike,
                         "lot_size": lot, "tick_size": 0.05, "right": right})  # fmt: skip
            token += 256
    return Instruments(rows, DAY), rows


def ticks(bars: list[Any], options: list[dict[str, Any]], strikes: int) -> list[Tick]:
    """The day's ticks in time order (see the module docstring)."""
    model = SyntheticQuotes(QuoteModelParams())
    out: list[Tick] = []
    for t0, o, h, lo, c, vix in bars:
        path = (o, lo, h, c) if c >= o else (o, h, lo, c)
        prices = np.interp(np.arange(60), [0, 20, 40, 59], path)
        for s in range(60):
            ts = t0 + dt.timedelta(seconds=s, milliseconds=100)
            out.append(Tick(NIFTY_50, ts, round(float(prices[s]), 2), 0.0, 0.0, None))
            if s % 5 == 4:
                out.append(Tick(INDIA_VIX, ts, round(vix, 2), 0.0, 0.0, None))
            if s % 2 == 1:
                spot = float(prices[s])
                atm = round(spot / 50) * 50
                for row in options[2:]:
                    if abs(row["strike"] - atm) > 50 * strikes:
                        continue
                    expiry = dt.date.fromisoformat(row["expiry"])
                    years = (
                        max((dt.datetime.combine(expiry, dt.time(15, 30)) - ts).total_seconds(), 60)
                        / 31_536_000
                    )
                    q = model.quote(spot, row["strike"], row["right"], years, vix)
                    out.append(Tick(row["instrument_token"], ts, q.last, q.bid, q.ask, 1000.0))
    return out


def run(seeds: list[int], speed: float, strikes: int, journal_mode: str) -> None:
    """Each seed's day through a fresh session; the figures pool every day's ticks."""
    to_order: list[int] = []
    no_order: list[int] = []
    lags: list[float] = []
    total = 0.0
    n_ticks = n_bars = 0
    for seed in seeds:
        a, b, lag, spent, ticks_, bars_ = one_day(seed, speed, strikes, journal_mode)
        to_order += a
        no_order += b
        lags.append(lag)
        total += spent
        n_ticks += ticks_
        n_bars += bars_
    print(f"python {platform.python_version()}, {platform.machine()}, journal {journal_mode}")
    print(
        f"ticks: {n_ticks:,} in {len(seeds)} day(s) ({n_bars} bars), {len(to_order)} with an "
        f"order; engine time {total:.2f} s, {n_ticks / total:,.0f} ticks/s"
    )
    for name, xs in (("tick to order sent", to_order), ("event with no order", no_order)):
        if xs:
            q = np.percentile(np.array(xs) / 1e3, [50, 99, 100])
            print(
                f"{name:>22}: p50 {q[0]:8.1f} us  p99 {q[1]:8.1f} us  max {q[2]:8.1f} us  "
                f"(n={len(xs)})"
            )
    lag = max(lags)
    print(
        f"at {speed:g}x real time: largest lag behind arrival {lag * 1e3:.2f} ms "
        f"(falls behind: {'yes' if lag > 1.0 else 'no'})"
    )


def one_day(
    seed: int, speed: float, strikes: int, journal_mode: str
) -> tuple[list[int], list[int], float, float, int, int]:
    history, bars = market(seed)
    instruments, rows = chain(bars[0][1], strikes)
    day_ticks = ticks(bars, rows, strikes)
    cfg = parse_config('[live]\nclock = "feed"\n')
    spec = load_instrument("NIFTY")
    cal = session_days(cfg.calendar, DAY - dt.timedelta(days=10), DAY + dt.timedelta(days=60))[0]
    with tempfile.TemporaryDirectory() as tmp:
        book = TickBook()
        broker = TimedBroker(
            PaperBroker(FaultProfile.none(), 0, state_path=Path(tmp) / "broker_state.json")
        )
        group = 0.05 if journal_mode == "group" else None
        durable = journal_mode != "none"  # none: the engine's own share, without the disk
        # (the committer's own period beyond the run: the loop fsyncs for it, see the docstring)
        journal = Journal(
            Path(tmp) / "journal.jsonl", fsync=durable, group_s=None if group is None else 1e6
        )
        quotes = LiveQuotes(book, instruments, dt.timedelta(seconds=10))
        sinks = Sinks([Route(journal.emit)])
        engine = live_engine(cfg, spec, cal, quotes, broker, sinks, history)  # type: ignore[arg-type]
        s = Session(
            cfg,
            engine,
            journal,
            book,
            instruments,
            spec,
            instruments.index("NIFTY"),
            instruments.vix(),
            None,
            DAY,
        )  # type: ignore[arg-type]
        s.vix = bars[0][5]
        no_order: list[int] = []
        to_order: list[int] = []
        costs: list[int] = []
        orders = engine.orders
        settle_heap()  # as the live runner does before its first tick
        start, synced = day_ticks[0].ts, 0.0
        for tk in day_ticks:
            if group is not None:  # the committer's fsync in the idle time between arrivals
                arrival = (tk.ts - start).total_seconds() / speed
                if arrival - synced >= group:
                    journal.sync()
                    synced = arrival
            n = len(broker.placed)
            t0 = time.perf_counter_ns()
            s.take(tk, None)
            if orders.live:
                orders.pump(s.feed_time)
            t1 = time.perf_counter_ns()
            costs.append(t1 - t0)
            if len(broker.placed) > n:
                to_order.append(broker.placed[n] - t0)
            else:
                no_order.append(t1 - t0)
        journal.close()
        gc.unfreeze()
    lag = simulate_lag(day_ticks, costs, speed)
    return to_order, no_order, lag, sum(costs) / 1e9, len(day_ticks), len(bars)


def simulate_lag(day_ticks: list[Tick], costs: list[int], speed: float) -> float:
    start = day_ticks[0].ts
    end = 0.0
    worst = 0.0
    for tk, c in zip(day_ticks, costs, strict=True):
        arrival = (tk.ts - start).total_seconds() / speed
        begin = max(arrival, end)
        end = begin + c / 1e9
        worst = max(worst, end - arrival)
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=11, help="the first day's seed")
    p.add_argument("--days", type=int, default=10, help="days replayed (seeds seed, seed+1, ...)")
    p.add_argument("--speed", type=float, default=50.0)
    p.add_argument("--strikes", type=int, default=5)
    p.add_argument(
        "--journal",
        choices=["group", "fsync", "none"],
        default="group",
        help="group: the live runner's group commit; fsync: every line at once; "
        "none: no fsync (the engine's own share of the latency)",
    )
    a = p.parse_args()
    run(list(range(a.seed, a.seed + a.days)), a.speed, a.strikes, a.journal)


if __name__ == "__main__":
    sys.exit(main())
