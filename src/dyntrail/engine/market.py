"""The engine's view of the market.

- ``Market`` (one per run): the trading day, the time, the India VIX and the regime it drives
  (VIX tier and spike breaker), the bar counters and the quotes the broker fills against.
- ``Underlying`` (one per index traded): its indicators, last close, previous session's close and
  gap-morning delay.

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
    """What every underlying shares (see the module docstring); the loop advances it."""

    def __init__(self, run: Run, stamps: Stamps, regime: RegimeFeed) -> None:
        self.run = run
        self.stamps = stamps
        self.regime = regime
        self.day: dt.date | None = None
        self.last_vix = math.nan
        self.tier = VixTier.NORMAL
        self.breaker_on = False
        self.now = dt.datetime(1970, 1, 1)
        self.bars_total = 0
        self.bars_in_position = 0
        # the best bid and ask of each instrument traded, as last seen (what the broker fills
        # against): set when an order is priced and when a position is marked
        self.quotes_now: dict[str, tuple[float, float]] = {}

    def start_day(self, day: dt.date, ts: dt.datetime) -> None:
        """A session begins with the bar starting at ``ts``."""
        self.day = day
        self.stamps.new_day(ts)

    def close_bar(self, i: int, t: dt.datetime, vix: float) -> BreakerTripped | None:
        """The bar closing at ``t``: the regime takes its VIX; returns the breaker's trip, if it
        tripped on this bar."""
        br = self.regime
        br.advance(i, t, vix)
        self.tier = br.tier
        self.last_vix, self.now = vix, t
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
            "breaker": self.regime.to_dict(),
            "breaker_on": self.breaker_on,
            "tier": self.tier.value,
            "last_vix": _nan_none(self.last_vix),
            "now": self.now.isoformat(),
            "bars_total": self.bars_total,
            "bars_in_position": self.bars_in_position,
            "quotes_now": {k: list(v) for k, v in self.quotes_now.items()},
        }

    def restore(self, s: dict[str, Any]) -> None:
        self.day = dt.date.fromisoformat(s["day"]) if s["day"] else None
        self.regime.restore(s["breaker"])
        self.breaker_on, self.tier = s["breaker_on"], VixTier(s["tier"])
        self.last_vix = math.nan if s["last_vix"] is None else s["last_vix"]
        self.now = dt.datetime.fromisoformat(s["now"])
        self.bars_total, self.bars_in_position = s["bars_total"], s["bars_in_position"]
        self.quotes_now = {k: (v[0], v[1]) for k, v in s["quotes_now"].items()}
        self.stamps.forget()


class Underlying:
    """One index's own market state (see the module docstring)."""

    def __init__(self, run: Run, features: Features) -> None:
        self.run = run
        self.name = run.spec.underlying
        self.f = features
        self.last_close = math.nan
        self.prev_close: float | None = None
        self.gap_until: dt.time | None = None

    def start_day(self, day_open: float, ts: str) -> DayStart:
        """Its first bar of a session opens at ``day_open``: the gap check."""
        self.gap_until = gap_delay_until(self.run.cfg, day_open, self.prev_close)
        gap = self.gap_until.isoformat() if self.gap_until else None
        return DayStart(ts=ts, open=day_open, gap_delay_until=gap, underlying=self.name)

    def state(self) -> dict[str, Any]:
        return {
            "gap_until": self.gap_until.isoformat() if self.gap_until else None,
            "prev_close": self.prev_close,
            "last_close": _nan_none(self.last_close),
        }

    def restore(self, s: dict[str, Any]) -> None:
        self.gap_until = dt.time.fromisoformat(s["gap_until"]) if s["gap_until"] else None
        self.prev_close = s["prev_close"]
        self.last_close = math.nan if s["last_close"] is None else s["last_close"]


def _nan_none(x: float) -> float | None:
    return None if x != x else x
