"""A recorded day for the fake Kite: synthetic 1-minute bars of NIFTY (the days before are the
history the session warms up on), replayed as ticks of the index, the India VIX and the options
a client subscribed to (priced by the project's quote model, with a one-level book), and a
`dyntrail live run` process to drive with them."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from dyntrail.core.config import CalendarSection
from dyntrail.core.contracts import is_monthly_expiry, next_expiry
from dyntrail.core.options import OptionRight
from dyntrail.data.calendar import session_days
from dyntrail.data.options_synth import QuoteModelParams, SyntheticQuotes
from dyntrail.data.synthetic import generate
from dyntrail.instruments import load_instrument
from fakekite import FakeKite, Instrument, option_instruments

IST = ZoneInfo("Asia/Kolkata")
NIFTY_50, INDIA_VIX = 256265, 264969
DAY = dt.date(2025, 1, 3)


@dataclass(frozen=True)
class Bar:
    start: dt.datetime  # naive IST
    open: float
    high: float
    low: float
    close: float
    vix: float


def market(seed: int, days: int = 4) -> tuple[list[Bar], list[Bar]]:
    """(the history before ``DAY``, ``DAY``'s bars)."""
    cal = session_days(CalendarSection(), DAY - dt.timedelta(days=12), DAY)[0][-days:]
    m = generate(cal, seed=seed)
    ts = m.timestamps.astype("datetime64[s]").astype(object).tolist()
    bars = [
        Bar(t, float(o), float(h), float(lo), float(c), float(v))
        for t, o, h, lo, c, v in zip(ts, m.open, m.high, m.low, m.close, m.vix, strict=True)
    ]
    return [b for b in bars if b.start.date() < DAY], [b for b in bars if b.start.date() == DAY]


def chain(spot: float, width: int = 12) -> list[Instrument]:
    """NIFTY options of the next two expiries, strikes around ``spot``, with the lots the
    project's contract terms give (Kite's dump and the config agree, as they must)."""
    spec = load_instrument("NIFTY")
    cal = session_days(CalendarSection(), DAY, DAY + dt.timedelta(days=60))[0]
    first = next_expiry(spec, DAY, cal)
    second = next_expiry(spec, first + dt.timedelta(days=1), cal)
    atm = round(spot / 50) * 50
    strikes = [atm + 50 * k for k in range(-width, width + 1)]
    rows: list[Instrument] = []
    for k, expiry in enumerate((first, second)):
        monthly = is_monthly_expiry(spec, expiry, cal)
        lot = spec.contract_lot(expiry, monthly=monthly)
        rows += option_instruments(
            expiry=expiry, strikes=strikes, lot=lot, monthly=monthly,
            first_token=20_000_002 + k * 1_000_000,
        )  # fmt: skip
    return rows


def candles(bars: list[Bar]) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    idx = [(b.start.replace(tzinfo=IST), b.open, b.high, b.low, b.close, 0) for b in bars]
    vix = [(b.start.replace(tzinfo=IST), b.vix, b.vix, b.vix, b.vix, 0) for b in bars]
    return idx, vix


class Replay:
    """Pushes a day's bars to the fake as ticks: four index ticks a minute (open, the two
    extremes, close), the VIX, and every subscribed option at each minute's close."""

    def __init__(self, fake: FakeKite, options: list[Instrument]) -> None:
        self.fake = fake
        self.options = {o.instrument_token: o for o in options}
        self.model = SyntheticQuotes(QuoteModelParams())

    def subscribed(self) -> set[int]:
        out: set[int] = set()
        for subs in self.fake.ws_subscriptions():
            out |= set(subs)
        return out

    def minute(self, b: Bar) -> None:
        t0 = b.start.replace(tzinfo=IST)
        path = (b.open, b.low, b.high, b.close) if b.close >= b.open else (
            b.open, b.high, b.low, b.close)  # fmt: skip
        for k, price in enumerate(path):
            ts = t0 + dt.timedelta(seconds=1 + 19 * k)
            self.fake.push_tick(NIFTY_50, round(price, 2), ts=ts)
            if k == 3:
                self.fake.push_tick(INDIA_VIX, round(b.vix, 2), ts=ts)
                self.options_at(b.close, b.vix, ts)

    def options_at(self, spot: float, vix: float, ts: dt.datetime) -> None:
        for token in sorted(self.subscribed() & set(self.options)):
            o = self.options[token]
            assert o.expiry is not None
            close = dt.datetime.combine(o.expiry, dt.time(15, 30), IST)
            years = max((close - ts).total_seconds(), 60.0) / (365.0 * 86400.0)
            right = OptionRight(o.instrument_type)
            q = self.model.quote(spot, float(o.strike), right, years, vix)
            bid = q.bid if q.bid > 0 else None
            self.fake.push_tick(
                token, q.last, bid=bid, ask=q.ask, bid_qty=1800, ask_qty=1800, ts=ts
            )


def states(run_dir: Path) -> int:
    """How many bars the session has journaled (its state lines)."""
    path = run_dir / "journal.jsonl"
    return path.read_bytes().count(b'"kind":"state"') if path.exists() else 0


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


STARTED: list[subprocess.Popen[str]] = []  # killed at each test's end (``conftest``)


def live_process(
    run_dir: Path, config: Path, fake: FakeKite, *extra: str
) -> subprocess.Popen[str]:
    """``dyntrail live run`` as a user starts it, its credentials (key, secret, the day's
    token) in its environment."""
    env = {
        **os.environ,
        "DYNTRAIL_KITE_API_KEY": fake.api_key,
        "DYNTRAIL_KITE_API_SECRET": fake.api_secret,
        "DYNTRAIL_KITE_ACCESS_TOKEN": fake.access_token,
        "DYNTRAIL_KITE_CREDENTIALS": str(run_dir.parent / "absent.toml"),
    }
    cmd = [
        sys.executable, "-c", "from dyntrail.cli.app import main; main()",
        "--log-level", "INFO", "live", "run", "--config", str(config), "--out", str(run_dir),
        "--day", DAY.isoformat(), *extra,
    ]  # fmt: skip
    out = (run_dir.parent / "live.out").open("a", encoding="utf-8")
    err = (run_dir.parent / "live.err").open("a", encoding="utf-8")
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
    STARTED.append(proc)
    return proc


def ended(proc: subprocess.Popen[str], run_dir: Path, timeout: float = 120) -> tuple[str, str]:
    """Wait for the process; its output so far (stdout, stderr: files, so a chatty log never
    blocks it on a full pipe)."""
    proc.wait(timeout=timeout)
    out = (run_dir.parent / "live.out").read_text(encoding="utf-8")
    err = (run_dir.parent / "live.err").read_text(encoding="utf-8")
    return out, err
