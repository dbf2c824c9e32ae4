"""``Position.calm_path`` is ``on_bar`` (path semantics, with a clock, before any time rule) on
a bar that makes the position act on nothing, and None on one that would: the same stop, kind
and flags, bit for bit, on random positions and bars around their levels (open and close
inside the bar's extremes or not), either side, before and after T1, after a break-even, with
the ATR or swing trail, from T1 or from the entry, per tier."""

from __future__ import annotations

import copy
import datetime as dt
import random

import pytest

from dyntrail.core.config_load import parse_config
from dyntrail.core.position import Position, open_position
from dyntrail.core.targets import DynamicTargetEngine
from dyntrail.core.types import Side, VixTier

_NOW = dt.datetime(2025, 3, 3, 10, 0)
_CLOSE = _NOW + dt.timedelta(minutes=1)  # before flatten and the time stop
_NAN = float("nan")

TRAILS = {
    "atr from T1": "",
    "swing from T1": '[strategy.trail]\nmethod = "swing"\n',
    "atr from the entry": '[strategy.trail]\nstart = "entry"\n',
    "swing from the entry": '[strategy.trail]\nstart = "entry"\nmethod = "swing"\n',
    "per tier": '[strategy.trail.by_tier.high]\nmethod = "swing"\n'
    "[strategy.trail.by_tier.normal]\nmultiplier = 1.5\n",
}


def _position(engine: DynamicTargetEngine, rng: random.Random) -> Position:
    side = rng.choice((Side.LONG, Side.SHORT))
    pos = open_position(engine, side, 23_500.0, 120.0, 14.0, qty=150, now=_NOW, lot_size=75)
    assert pos is not None
    pos.t1_hit, pos.be_moved, pos.moved = (rng.random() < 0.4 for _ in range(3))
    if rng.random() < 0.3:  # a stop moved up already (to or past the entry)
        pos.stop_underlying = 23_500.0 + side.sign * rng.uniform(-60.0, 60.0)
    return pos


@pytest.mark.parametrize("trail", TRAILS)
def test_calm_path_is_on_bar_without_events(trail: str) -> None:
    engine = DynamicTargetEngine(parse_config(TRAILS[trail]))
    rng = random.Random(trail)
    seen = {"acts": 0, "calm": 0, "moved": 0}
    for _ in range(6_000):
        pos = _position(engine, rng)
        levels = (pos.stop_underlying, pos.move_be_underlying, pos.t1_underlying)
        levels += (pos.t2_underlying, pos.entry_underlying)
        # four prices near the levels; the extremes are all four's or only two's
        o, a, b, c = (rng.choice(levels) + rng.uniform(-40.0, 40.0) for _ in range(4))
        wide = rng.random() < 0.5
        high, low = (max(o, a, b, c), min(o, a, b, c)) if wide else (max(a, b), min(a, b))
        atr = _NAN if rng.random() < 0.1 else rng.uniform(1.0, 60.0)
        swing = _NAN if rng.random() < 0.1 else rng.choice(levels) + rng.uniform(-80.0, 80.0)
        tier = rng.choice((VixTier.NORMAL, VixTier.HIGH))

        asked = copy.deepcopy(pos)
        answer = asked.calm_path(engine, o, high, low, c, atr, tier, swing, swing)
        assert asked == pos and asked.moved == pos.moved  # the position is not changed
        walked = copy.deepcopy(pos)
        events = walked.on_bar(
            engine, o, high, low, c, atr, _CLOSE, tier=tier, swing_low=swing, swing_high=swing
        )
        if events:
            seen["acts"] += 1
            assert answer is None, (o, high, low, c)
            continue
        seen["calm"] += 1
        seen["moved"] += walked.stop_underlying != pos.stop_underlying
        assert answer is not None, (o, high, low, c)
        level, kind, be, moved = answer
        assert level.hex() == walked.stop_underlying.hex()  # the same float, not a near one
        assert (kind, be, moved) == (walked.stop_kind, walked.be_moved, walked.moved)
    assert min(seen.values()) > 100, seen  # each outcome is met often
