"""The engine's view of the market: the day, the last close and VIX, the indicators, the regime
(VIX tier and spike breaker) and the option quotes the broker fills against.

Indicators and a batch regime are rebuilt from the feed after a restart; the rest is saved."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from dyntrail.core.entries import gap_delay_until
from dyntrail.core.events import BreakerTripped, DayStart
from dyntrail.core.features import Features
from dyntrail.core.regime import RegimeFeed
from dyntrail.core.types import VixTier
from dyntrail.engine.context import Run, Stamps


class Market:
    """Market state (see the module docstring); only the engine's loop advances it."""

    def __init__(self, run: Run, stamps: Stamps, features: Features, regime: RegimeFeed) -> None:
        self.run = run
        self.stamps = stamps
        self.f = features
        self.regime = regime
        self.day: dt.date | None = None
        self.prev_close: float | None = None
        self.gap_until: dt.time | None = None
        self.last_close = math.nan
        self.last_vix = math.nan
        self.tier = VixTier.NORMAL
        self.breaker_on = False
        self.now = dt.datetime(1970, 1, 1)
        self.bars_total = 0
        self.bars_in_position = 0
        # the best bid and ask of each instrument traded, as last seen (what the broker fills
        # against): set when an order is priced and when a position is marked
        self.quotes_now: dict[str, tuple[float, float]] = {}

    def start_day(self, day: dt.date, day_open: float, ts: dt.datetime) -> DayStart:
        """A session begins with the bar starting at ``ts``: its gap check."""
        self.day = day
        self.stamps.new_day(ts)
        self.gap_until = gap_delay_until(self.run.cfg, day_open, self.prev_close)
        gap = self.gap_until.isoformat() if self.gap_until else None
        return DayStart(ts=self.stamps.iso(ts), open=day_open, gap_delay_until=gap)

    def advance_features(
        self, i: int, h: float, low: float, c: float, volume: float | None
    ) -> None:
        self.f.advance(i, self.day, h, low, c, volume)

    def close_bar(self, i: int, t: dt.datetime, c: float, vix: float) -> BreakerTripped | None:
        """The bar closing at ``t``: the regime takes its VIX; returns the breaker's trip, if it
        tripped on this bar."""
        br = self.regime
        br.advance(i, t, vix)
        self.tier = br.tier
        self.last_vix, self.last_close, self.now = vix, c, t
        self.breaker_on = br.tripped
        if not br.just_tripped:
            return None
        iso = self.stamps.iso
        return BreakerTripped(
            ts=iso(t),
            vix=vix,
            rise=round(br.rise, 4),
            until=iso(br.until) if br.until else None,
            policy=self.run.cfg.strategy.breaker.policy,
        )

    def state(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat() if self.day else None,
            "gap_until": self.gap_until.isoformat() if self.gap_until else None,
            "prev_close": self.prev_close,
            "breaker": self.regime.to_dict(),
            "breaker_on": self.breaker_on,
            "tier": self.tier.value,
            "last_close": _nan_none(self.last_close),
            "last_vix": _nan_none(self.last_vix),
            "now": self.now.isoformat(),
            "bars_total": self.bars_total,
            "bars_in_position": self.bars_in_position,
            "quotes_now": {k: list(v) for k, v in self.quotes_now.items()},
        }

    def restore(self, s: dict[str, Any]) -> None:
        self.day = dt.date.fromisoformat(s["day"]) if s["day"] else None
        self.gap_until = dt.time.fromisoformat(s["gap_until"]) if s["gap_until"] else None
        self.prev_close = s["prev_close"]
        self.regime.restore(s["breaker"])
        self.breaker_on, self.tier = s["breaker_on"], VixTier(s["tier"])
        self.last_close = math.nan if s["last_close"] is None else s["last_close"]
        self.last_vix = math.nan if s["last_vix"] is None else s["last_vix"]
        self.now = dt.datetime.fromisoformat(s["now"])
        self.bars_total, self.bars_in_position = s["bars_total"], s["bars_in_position"]
        self.quotes_now = {k: (v[0], v[1]) for k, v in s["quotes_now"].items()}
        self.stamps.forget()


def _nan_none(x: float) -> float | None:
    return None if x != x else x
