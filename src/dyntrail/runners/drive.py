"""The one driving loop, and what a runner chooses for it.

Backtest, signal backtest and paper differ only in what they hand this loop: the feed of
closed bars (``BarFeed``), the option quotes (``choose_quotes``: recorded when the data has
them, the model otherwise), the broker and the journal's durability (given to the engine), the
clock (``Pacing``, or none for as fast as possible), the exact fast paths (``FastPaths``, for a
backtest) and what happens after each bar (``AfterBar``: a state line, a live view, a kill
check). ``drive`` runs every bar of the feed through the engine in
order; nothing at a bar's close sees a later bar.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dyntrail.core.config import Config
from dyntrail.core.contract import Contract
from dyntrail.core.features import column_view
from dyntrail.data.loaders import Bars, MarketData, infer_bar_minutes
from dyntrail.data.options_synth import (
    OptionQuote,
    QuoteModelParams,
    RecordedQuotes,
    SyntheticQuotes,
)
from dyntrail.engine import Engine
from dyntrail.engine.engine import Bar
from dyntrail.engine.ports import Clock
from dyntrail.instruments import resolve_instrument

AfterBar = Callable[[int], bool]
"""Called with a bar's index after the engine has taken that bar; True stops the loop."""


@dataclass(frozen=True, slots=True)
class BarFeed:
    """Closed bars of the underlying with the India VIX known at each bar's close, as per-bar
    sequences the loop indexes: ``ts[i]`` is bar ``i``'s start (naive exchange time)."""

    ts: Sequence[dt.datetime]
    open: Sequence[float]
    high: Sequence[float]
    low: Sequence[float]
    close: Sequence[float]
    volume: Sequence[float | None]
    vix: Sequence[float]
    bar_minutes: int

    @property
    def n(self) -> int:
        return len(self.ts)

    @classmethod
    def of(cls, bars: Bars, vix: np.ndarray, *, views: bool = False) -> BarFeed:
        """The feed of validated bars. With ``views`` the price columns are read-only views
        whose items become Python floats only when read (a signal backtest reads few of its
        bars one by one); otherwise lists, made once (a bar-by-bar run reads every bar)."""
        n = len(bars.timestamps)
        ts: list[dt.datetime] = bars.timestamps.astype("datetime64[s]").astype(object).tolist()
        cols = (bars.open, bars.high, bars.low, bars.close, vix)
        if views:
            o, h, lo, c, vx = (column_view(a) for a in cols)
            vol: Sequence[float | None] = (
                column_view(bars.volume) if bars.volume is not None else [None] * n
            )
        else:
            o, h, lo, c, vx = (a.tolist() for a in cols)
            vol = bars.volume.tolist() if bars.volume is not None else [None] * n
        return cls(ts, o, h, lo, c, vol, vx, bars.bar_minutes)


@dataclass(frozen=True, slots=True)
class FastPaths:
    """Where the engine's exact fast paths may go (``dyntrail.engine.fast``): for each bar, the
    first bar at or after it with a signal, a session start or a breaker edge
    (``next_event``: a flat stretch ends there), and the first with a session start or a breaker
    edge (``next_boundary``: a position's calm walk ends there)."""

    next_event: Sequence[int]
    next_boundary: Sequence[int]

    @classmethod
    def plan(
        cls, timestamps: np.ndarray, breaker_edges: np.ndarray, signals: np.ndarray
    ) -> FastPaths:
        days = timestamps.astype("datetime64[D]")
        boundary = np.array(breaker_edges, dtype=bool)  # a copy: the caller keeps its own
        boundary[0] = True
        boundary[1:] |= days[1:] != days[:-1]
        return cls(_next_true(boundary | signals), _next_true(boundary))


def _next_true(flags: np.ndarray) -> memoryview:
    """For each index, the first index at or after it where ``flags`` is true (len when none)."""
    n = len(flags)
    at = np.where(flags, np.arange(n, dtype=np.int64), n)
    return column_view(np.minimum.accumulate(at[::-1])[::-1], np.int64)


class Pacing:
    """A ``Clock``, the market's on the wall: a bar of ``bar_minutes`` takes
    ``bar_minutes * 60 / speed`` seconds (``speed`` times real time: 60 plays a market minute
    each second); a bar that took longer is not made up."""

    def __init__(self, bar_minutes: int, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed {speed!r}: times real time, must be above 0")
        self.bar_s = bar_minutes * 60 / speed
        self._tick = time.monotonic()

    def left(self) -> float:
        """Seconds until the bar's time since the last ``wait`` (or the start) has passed."""
        return self.bar_s - (time.monotonic() - self._tick)

    def wait(self) -> None:
        """Sleep until the bar's time since the last ``wait`` (or the start) has passed."""
        time.sleep(max(0.0, self.bar_s - (time.monotonic() - self._tick)))
        self._tick = time.monotonic()


def drive(
    engine: Engine,
    feed: BarFeed,
    *,
    start: int = 0,
    fast: FastPaths | None = None,
    after_bar: AfterBar | None = None,
    pacing: Clock | None = None,
) -> bool:
    """Give the engine the feed's bars from ``start`` on, one closed bar at a time; returns
    True when ``after_bar`` stopped the loop (on whichever bar, the last included), False when
    the feed ran out. The caller ends the run (``engine.finish``, a kill's flatten).

    With ``fast``, before each bar the engine may account for a stretch in one step, exactly:
    flat and ``quiet`` up to the next event (``skip``; up to the next boundary once the day's
    entries are ``capped``), or in a ``calm`` position up to the next
    boundary (``hold``, which returns the first bar it did not walk). ``after_bar`` and
    ``pacing`` see the bars given to ``on_bar``, not those of a stretch."""
    ts, o, h, lo, c, vol, vx = (
        feed.ts,
        feed.open,
        feed.high,
        feed.low,
        feed.close,
        feed.volume,
        feed.vix,
    )
    n = len(ts)
    i = start
    st = engine.stretches
    while i < n:
        if fast is not None:
            if st.quiet():
                j = (fast.next_boundary if st.capped() else fast.next_event)[i]
                if j > i:
                    st.skip(i, j, ts[j - 1], c[j - 1], vx[j - 1])
                    i = j
            elif st.calm():
                i = st.hold(i, fast.next_boundary[i], ts, o, h, lo, c, vx)
            if i >= n:
                break
        engine.on_bar(i, ts[i], o[i], h[i], lo[i], c[i], vol[i], vx[i])
        if after_bar is not None and after_bar(i):
            return True
        if pacing is not None:
            pacing.wait()
        i += 1
    return False


@dataclass(frozen=True, slots=True)
class StepFeed:
    """The closed bars of several underlyings on one timeline: step ``k`` starts at ``ts[k]``
    and has the bars (by underlying) that start then, each as (its index in its own feed, open,
    high, low, close, volume), with the India VIX known at their close (``vix[k]``)."""

    ts: Sequence[dt.datetime]
    bars: Sequence[dict[str, Bar]]
    vix: Sequence[float]

    @classmethod
    def of(cls, feeds: Sequence[tuple[str, Bars, np.ndarray]]) -> StepFeed:
        """The steps of the underlyings' bars (the first one's VIX wins where both have it)."""
        stamps = np.unique(np.concatenate([b.timestamps for _, b, _ in feeds]))
        steps: list[dict[str, Bar]] = [{} for _ in range(len(stamps))]
        vix = np.full(len(stamps), np.nan)
        for name, b, _ in feeds:
            at = np.searchsorted(stamps, b.timestamps).tolist()
            vol = b.volume.tolist() if b.volume is not None else [None] * len(at)
            prices = (b.open.tolist(), b.high.tolist(), b.low.tolist(), b.close.tolist())
            cols = zip(at, *prices, vol, strict=True)
            for i, (k, o, h, lo, c, v) in enumerate(cols):
                steps[k][name] = (i, o, h, lo, c, v)
        for _, b, vx in reversed(feeds):
            vix[np.searchsorted(stamps, b.timestamps)] = vx
        ts: list[dt.datetime] = stamps.astype("datetime64[s]").astype(object).tolist()
        return cls(ts, steps, vix.tolist())


def drive_steps(
    engine: Engine,
    feed: StepFeed,
    *,
    start: int = 0,
    after_step: AfterBar | None = None,
    pacing: Clock | None = None,
) -> bool:
    """``drive`` for several underlyings: each step of the feed from ``start`` on through
    ``Engine.on_step``, in order; True when ``after_step`` stopped the loop."""
    ts, bars, vix = feed.ts, feed.bars, feed.vix
    for k in range(start, len(ts)):
        engine.on_step(k, ts[k], bars[k], vix[k])
        if after_step is not None and after_step(k):
            return True
        if pacing is not None:
            pacing.wait()
    return False


# ----------------------------------------------------------------------------- option quotes


def quote_model_params(cfg: Config) -> QuoteModelParams:
    """The pricing model's parameters for ``cfg``'s run: its rates (``[options]``), and the tick
    of the instrument it trades, so that the model's quotes are on the grid its orders are."""
    return QuoteModelParams(
        r=cfg.options.risk_free_rate,
        q=cfg.options.dividend_yield,
        tick=resolve_instrument(cfg).tick_size,
    )


class ModelQuotes:
    """Option quotes from the pricing model (data without options), at the market the engine
    assumes (``spot``, ``vix``, ``t_years``), on the traded instrument's tick."""

    def __init__(self, cfg: Config) -> None:
        self._model = SyntheticQuotes(quote_model_params(cfg))

    def quote(
        self, contract: Contract, now: dt.datetime, *, spot: float, vix: float, t_years: float
    ) -> OptionQuote | None:
        strike, right = contract.strike, contract.right
        if strike is None or right is None:
            return None  # the underlying itself has no option quote
        return self._model.quote(spot, strike, right, max(t_years, 0.0), vix)

    def last(
        self, contract: Contract, now: dt.datetime, *, spot: float, vix: float, t_years: float
    ) -> float | None:
        """``quote(...).last`` alone (``ports.LastSource``): the same float, cheaper."""
        strike, right = contract.strike, contract.right
        if strike is None or right is None:
            return None
        return self._model.last(spot, strike, right, max(t_years, 0.0), vix)

    def last_fn(self, contract: Contract) -> Callable[[float, float, float], float] | None:
        """``last`` of one contract as a function of ``(spot, t_years, vix)``, for ``t_years``
        >= 0 as ``Run.tte`` gives it (``ports.LastFnSource``): the same float as ``last``, with
        the contract bound once; None for the underlying itself."""
        strike, right = contract.strike, contract.right
        if strike is None or right is None:
            return None
        return self._model.last_fn(strike, right)


class DataQuotes:
    """Recorded option quotes: the data always wins; a contract without a recent quote has none.

    At ``now`` only option bars that have closed by ``now`` are visible: the lookup asks for
    the latest bar starting at or before ``now - option bar length``."""

    def __init__(self, recorded: RecordedQuotes, bar_minutes: int) -> None:
        self._rec = recorded
        self._bar = dt.timedelta(minutes=bar_minutes)

    def quote(
        self, contract: Contract, now: dt.datetime, *, spot: float, vix: float, t_years: float
    ) -> OptionQuote | None:
        expiry, strike, right = contract.expiry, contract.strike, contract.right
        if expiry is None or strike is None or right is None:
            return None
        return self._rec.quote(now - self._bar, expiry, strike, right)


def choose_quotes(cfg: Config, md: MarketData | None) -> ModelQuotes | DataQuotes:
    """A run's option quotes, the same rule in every mode: the data folder's recorded quotes
    (``options.parquet`` or ``options.csv``) when it has them, the pricing model otherwise
    (and for a feed that is not a folder)."""
    if md is None or md.options is None:
        return ModelQuotes(cfg)
    path = next(p for p in (md.folder / "options.parquet", md.folder / "options.csv") if p.exists())
    recorded = RecordedQuotes.from_frame(md.options, str(path), cfg.session.timezone)
    stamps = pd.to_datetime(md.options["timestamp"], format="ISO8601", utc=True)
    opt_ts = np.unique(stamps.dt.tz_localize(None).to_numpy("datetime64[s]"))
    return DataQuotes(recorded, infer_bar_minutes(opt_ts))
