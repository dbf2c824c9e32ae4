"""The one driving loop, on its own: the feed, the fast paths' plan, the loop's order of calls
with a scripted engine, the pacing and the choice of option quotes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dyntrail.core.config import Config
from dyntrail.data.builtin import write_folder
from dyntrail.data.calendar import trading_days
from dyntrail.data.loaders import Bars
from dyntrail.data.options_record import write_option_quotes
from dyntrail.data.synthetic import generate
from dyntrail.runners import drive as drive_mod
from dyntrail.runners.drive import (
    BarFeed,
    DataQuotes,
    FastPaths,
    ModelQuotes,
    Pacing,
    choose_quotes,
    drive,
)
from dyntrail.runners.plan import load_market


def _bars(days: int = 2, per_day: int = 4, volume: bool = True) -> tuple[Bars, np.ndarray]:
    """``per_day`` one-minute bars from 09:15 on each of ``days`` days; prices 100 + i."""
    start = np.datetime64("2025-03-03T09:15:00")
    ts = np.array(
        [
            start + np.timedelta64(d, "D") + np.timedelta64(m, "m")
            for d in range(days)
            for m in range(per_day)
        ]
    )
    x = 100.0 + np.arange(ts.size, dtype=float)
    vol = np.full(ts.size, 10.0) if volume else None
    return Bars("t", ts, x, x + 1, x - 1, x + 0.5, vol, 1), np.full(ts.size, 14.0)


class Scripted:
    """An engine that records what the loop asks of it. Flat until a bar in ``enter_on``,
    then in a position for ``hold_for`` bars; ``hold`` walks at most ``walk`` bars."""

    def __init__(self, enter_on: set[int], hold_for: int = 3, walk: int = 2) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.enter_on, self.hold_for, self.walk = enter_on, hold_for, walk
        self.left = 0  # bars left in the position
        self.stretches = self  # the fast paths' guest is the scripted engine itself
        self.cap = False  # the day's entries capped: a flat stretch runs to the next boundary

    def quiet(self) -> bool:
        return self.left == 0

    def calm(self) -> bool:
        return self.left > 0

    def capped(self) -> bool:
        return self.cap

    def skip(self, i: int, j: int, ts: dt.datetime, c: float, vix: float) -> None:
        self.calls.append(("skip", i, j, c))

    def hold(self, i: int, j: int, *columns: Any) -> int:
        k = min(j, i + self.walk, i + self.left - 1)
        self.left -= max(k - i, 0)
        self.calls.append(("hold", i, j, k))
        return k

    def on_bar(self, i: int, ts: dt.datetime, *values: Any) -> None:
        self.calls.append(("bar", i))
        if self.left:
            self.left -= 1
        elif i in self.enter_on:
            self.left = self.hold_for


def test_lists_and_views_feed_the_same_bars() -> None:
    bars, vix = _bars()
    lists, views = BarFeed.of(bars, vix), BarFeed.of(bars, vix, views=True)
    assert lists.n == views.n == 8 and lists.bar_minutes == 1
    assert lists.ts[4] == dt.datetime(2025, 3, 4, 9, 15)
    for name in ("ts", "open", "high", "low", "close", "volume", "vix"):
        assert list(getattr(lists, name)) == list(getattr(views, name)), name
    assert type(views.close[3]) is float
    assert list(BarFeed.of(_bars(volume=False)[0], vix, views=True).volume) == [None] * 8


def test_fast_paths_end_at_signals_session_starts_and_breaker_edges() -> None:
    bars, _ = _bars()  # sessions start at bars 0 and 4
    edges = np.zeros(8, dtype=bool)
    edges[2] = True  # the breaker trips on bar 2
    signals = np.zeros(8, dtype=bool)
    signals[5] = True
    plan = FastPaths.plan(bars.timestamps, edges, signals)
    assert list(plan.next_boundary) == [0, 2, 2, 4, 4, 8, 8, 8]
    assert list(plan.next_event) == [0, 2, 2, 4, 4, 5, 8, 8]
    assert edges.sum() == 1  # the caller's array is left as it was


def test_the_loop_gives_each_bar_once_and_stops_where_asked() -> None:
    bars, vix = _bars()
    feed = BarFeed.of(bars, vix)
    eng = Scripted(set())
    assert drive(eng, feed) is False  # type: ignore[arg-type]
    assert eng.calls == [("bar", i) for i in range(8)]
    for stop_on in (3, 7):  # the last bar too: stopped, not ended
        eng = Scripted(set())
        seen: list[int] = []
        after = _stopping_on(stop_on, seen)
        assert drive(eng, feed, start=1, after_bar=after) is True  # type: ignore[arg-type]
        assert seen == list(range(1, stop_on + 1))
        assert eng.calls == [("bar", i) for i in range(1, stop_on + 1)]


def _stopping_on(bar: int, seen: list[int]) -> Any:
    def after(i: int) -> bool:
        seen.append(i)
        return i == bar

    return after


def test_the_fast_paths_are_asked_before_each_bar() -> None:
    """Flat: ``skip`` up to the next event, then that bar; in a position: ``hold`` up to the
    next boundary, then the bar it stopped at (as ``run_signal_backtest`` always did)."""
    bars, vix = _bars(days=2, per_day=6)  # sessions start at 0 and 6
    signals = np.zeros(12, dtype=bool)
    signals[2] = True
    eng = Scripted({2}, hold_for=5, walk=2)
    plan = FastPaths.plan(bars.timestamps, np.zeros(12, dtype=bool), signals)
    seen: list[int] = []

    def after(i: int) -> bool:
        seen.append(i)
        return False

    assert drive(eng, BarFeed.of(bars, vix), fast=plan, after_bar=after) is False  # type: ignore[arg-type]
    assert eng.calls == [
        ("bar", 0),  # bar 0 is an event (a session start): no skip
        ("skip", 1, 2, 101.5),
        ("bar", 2),  # the signal: in a position for 5 bars
        ("hold", 3, 6, 5),
        ("bar", 5),
        ("hold", 6, 6, 6),  # a session start ends a walk before it begins
        ("bar", 6),
        ("hold", 7, 12, 7),  # nothing left to walk
        ("bar", 7),  # the position's last bar
        ("skip", 8, 12, 111.5),  # flat to the end
    ]
    assert seen == [0, 2, 5, 6, 7]  # the hook sees the bars given to on_bar


def test_a_capped_day_skips_flat_to_the_next_boundary_past_its_signals() -> None:
    bars, vix = _bars(days=2, per_day=6)  # sessions start at 0 and 6
    signals = np.zeros(12, dtype=bool)
    signals[[2, 4, 8]] = True
    eng = Scripted(set())
    eng.cap = True
    plan = FastPaths.plan(bars.timestamps, np.zeros(12, dtype=bool), signals)
    assert drive(eng, BarFeed.of(bars, vix), fast=plan) is False  # type: ignore[arg-type]
    assert [c[:3] for c in eng.calls] == [
        ("bar", 0),
        ("skip", 1, 6),  # past the signals at 2 and 4: the session start ends it
        ("bar", 6),
        ("skip", 7, 12),
    ]


def test_pacing_waits_out_the_bar_and_never_makes_up(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [10.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    monkeypatch.setattr(drive_mod.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(drive_mod.time, "sleep", sleep)
    pace = Pacing(1, speed=60.0)  # a one-minute bar per second
    now[0] += 0.25
    pace.wait()
    now[0] += 1.5  # a slow bar
    pace.wait()
    assert slept == [0.75, 0.0]
    with pytest.raises(ValueError, match="speed 0"):
        Pacing(1, speed=0)


def test_quotes_are_recorded_when_the_folder_has_them(tmp_path: Path) -> None:
    cfg = Config()
    days = trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    folder = write_folder(generate(days, seed=4), tmp_path / "d", fmt="csv")
    assert isinstance(choose_quotes(cfg, None), ModelQuotes)  # a synthetic stream
    assert isinstance(choose_quotes(cfg, load_market(cfg, folder)), ModelQuotes)
    write_option_quotes(folder, fmt="csv", strikes_each_side=1)
    assert isinstance(choose_quotes(cfg, load_market(cfg, folder)), DataQuotes)


def test_quotes_are_keyed_by_contract_and_time(tmp_path: Path) -> None:
    """A recorded quote of a contract at ``now`` is the option bar closed by ``now`` (never a
    later one); the model prices a contract at the market it is given; the underlying itself has
    no option quote."""
    import pandas as pd

    from dyntrail.core.contract import Contract
    from dyntrail.core.options import OptionRight

    cfg = Config()
    days = trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    folder = write_folder(generate(days, seed=4), tmp_path / "d", fmt="csv")
    write_option_quotes(folder, fmt="csv", strikes_each_side=1)
    quotes = choose_quotes(cfg, load_market(cfg, folder))
    rec = pd.read_csv(folder / "options.csv")
    row = rec.iloc[len(rec) // 2]
    start = pd.Timestamp(row["timestamp"]).tz_localize(None).to_pydatetime()
    expiry = dt.date.fromisoformat(str(row["expiry"])[:10])
    c = Contract("NIFTY", expiry, float(row["strike"]), OptionRight(row["right"]), lot=75)
    market = {"spot": 22000.0, "vix": 14.0, "t_years": 0.01}
    assert quotes.quote(c, start, **market) != quotes.quote(
        c, start + dt.timedelta(minutes=1), **market
    )
    q = quotes.quote(c, start + dt.timedelta(minutes=1), **market)  # the bar has closed
    assert q is not None and q.last == pytest.approx(float(row["close"]))
    model = ModelQuotes(cfg)
    k = float(row["strike"])
    low, high = (model.quote(c, start, spot=s, vix=14.0, t_years=0.01) for s in (k, k + 100.0))
    assert low is not None and high is not None
    assert (high.last > low.last) == (c.right is OptionRight.CE)
    assert model.quote(Contract("NIFTY", lot=75), start, **market) is None
