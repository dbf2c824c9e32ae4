"""What a paper session trades on: one market per underlying (a recorded folder, or a synthetic
stream), the feed that drives them (one underlying's bars, or several on one timeline) and how
their indicators are rebuilt after a restart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyntrail.core.config import Config, InstrumentSection
from dyntrail.data.calendar import session_days
from dyntrail.data.loaders import Bars, MarketData
from dyntrail.engine import Engine
from dyntrail.errors import DataError
from dyntrail.runners.drive import BarFeed, StepFeed
from dyntrail.runners.plan import check_bar_lengths, load_market

# the level a synthetic stream of an index starts from (any other: NIFTY's)
_LEVELS = {"NIFTY": 23500.0, "BANKNIFTY": 50500.0}


@dataclass(frozen=True, slots=True)
class SessionMarket:
    """One underlying of a session: its section, its config view, bars, VIX and data (None for
    a synthetic stream)."""

    instrument: InstrumentSection
    cfg: Config
    bars: Bars
    vix: np.ndarray
    md: MarketData | None


def session_markets(
    cfg: Config, data_dir: Path | None, seed: int, days: int, start: dt.date
) -> list[SessionMarket]:
    """Each traded underlying's market: from ``data_dir`` (one folder per underlying, named as
    it, when several are traded) or ``days`` synthetic trading days (seeded ``seed``, ``seed +
    1``, ... in the instruments' order)."""
    traded = cfg.traded
    if data_dir is not None and len(traded) == 1:
        md = load_market(cfg, data_dir)
        return [SessionMarket(cfg.instrument, cfg, md.bars, md.vix, md)]
    if data_dir is not None:
        out = []
        for inst in traded:
            icfg, folder = cfg.for_instrument(inst), data_dir / inst.name
            if not folder.is_dir():
                raise DataError(f"{folder}: not a folder (one per [[instruments]] entry)")
            md = load_market(icfg, folder, vix_dir=data_dir)
            out.append(SessionMarket(inst, icfg, md.bars, md.vix, md))
        check_bar_lengths(data_dir, {m.instrument.name: m.bars.bar_minutes for m in out})
        return out
    from dyntrail.data.synthetic import generate

    cal = session_days(cfg.calendar, start, start + dt.timedelta(days=days * 2 + 10))[0][:days]
    out = []
    for k, inst in enumerate(traded):
        m = generate(cal, seed=seed + k, start_price=_LEVELS.get(inst.name.upper(), 23500.0))
        bars = Bars("synthetic", m.timestamps, m.open, m.high, m.low, m.close, m.volume, 1)
        out.append(SessionMarket(inst, cfg.for_instrument(inst), bars, m.vix, None))
    return out


def session_feed(markets: list[SessionMarket], names: list[str]) -> BarFeed | StepFeed:
    """One underlying's bars, or several underlyings' on one timeline (``names``: theirs)."""
    if len(markets) == 1:
        return BarFeed.of(markets[0].bars, markets[0].vix)
    return StepFeed.of([(n, m.bars, m.vix) for n, m in zip(names, markets, strict=True)])


def replay_features(engine: Engine, feed: BarFeed | StepFeed) -> Callable[[int], None]:
    """Rebuild the indicators of every underlying from the feed's bars ``0 .. done``."""

    def replay(done: int) -> None:
        if isinstance(feed, BarFeed):
            f = engine.venue.underlying.f
            for i in range(done + 1):
                day = feed.ts[i].date()
                f.advance(i, day, feed.high[i], feed.low[i], feed.close[i], feed.volume[i])
            return
        for k in range(done + 1):
            day = feed.ts[k].date()
            for name, (j, _, high, low, close, volume) in feed.bars[k].items():
                engine.venues[name].underlying.f.advance(j, day, high, low, close, volume)

    return replay
