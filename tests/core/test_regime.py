"""VIX tiers (half-open) and the VIX-spike breaker (on timestamps)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from dyntrail import Config, SpikeBreaker, VixTier, vix_tier
from dyntrail.core.config_load import parse_config

CFG = Config()


@pytest.mark.parametrize(
    ("vix", "tier"),
    [
        (0.0, VixTier.LOW),
        (11.99, VixTier.LOW),
        (12.0, VixTier.NORMAL),
        (17.99, VixTier.NORMAL),
        (18.0, VixTier.REDUCED),
        (24.99, VixTier.REDUCED),
        (25.0, VixTier.HIGH),
        (29.99, VixTier.HIGH),
        (30.0, VixTier.HALT),
        (80.0, VixTier.HALT),
    ],
)
def test_tier_boundaries(vix: float, tier: VixTier) -> None:
    assert vix_tier(vix, CFG) is tier
    assert vix_tier(vix, CFG.strategy) is tier
    assert vix_tier(vix, CFG.strategy.vix) is tier


@pytest.mark.parametrize("bad", [math.nan, -0.1, math.inf])
def test_bad_vix_is_a_clear_error(bad: float) -> None:
    with pytest.raises(ValueError, match="VIX must be a finite number"):
        vix_tier(bad, CFG)


T0 = dt.datetime(2025, 3, 3, 10, 0)


def _feed(br: SpikeBreaker, points: list[tuple[float, float]]) -> list[bool]:
    return [br.update(T0 + dt.timedelta(minutes=m), v).tripped for m, v in points]


def test_spike_within_window_trips_on_one_minute_data() -> None:
    br = SpikeBreaker(CFG)
    states = _feed(br, [(0, 14.0), (3, 15.0), (6, 17.5), (9, 19.1)])
    assert states == [False, False, False, True]  # 19.1 - 14.0 = 5.1 > 5 within 9 minutes


def test_same_rise_over_a_longer_time_does_not_trip() -> None:
    br = SpikeBreaker(CFG)
    assert not any(_feed(br, [(0, 14.0), (6, 16.0), (11, 18.0), (16, 19.5)]))


def test_five_minute_bars_use_timestamps_not_bar_counts() -> None:
    br = SpikeBreaker(CFG)  # two 5-minute bars are 10 minutes: inside the window
    assert _feed(br, [(0, 14.0), (5, 16.0), (10, 19.5)]) == [False, False, True]
    br = SpikeBreaker(CFG)  # 15 minutes apart: outside
    assert _feed(br, [(0, 14.0), (15, 19.5)]) == [False, False]


def test_exactly_spike_points_does_not_trip() -> None:
    br = SpikeBreaker(CFG)
    assert _feed(br, [(0, 14.0), (5, 19.0)]) == [False, False]


def test_cooldown_and_edge() -> None:
    cfg = parse_config("[strategy.breaker]\ncooldown_min = 20\n")
    br = SpikeBreaker(cfg)
    br.update(T0, 14.0)
    first = br.update(T0 + dt.timedelta(minutes=2), 20.0)
    assert first.tripped and first.just_tripped
    assert first.until == T0 + dt.timedelta(minutes=22)
    later = br.update(T0 + dt.timedelta(minutes=15), 20.0)
    assert later.tripped and not later.just_tripped
    assert not br.update(T0 + dt.timedelta(minutes=22), 20.0).tripped


def test_state_round_trips_and_time_cannot_go_back() -> None:
    br = SpikeBreaker(CFG)
    _feed(br, [(0, 14.0), (3, 15.0), (6, 20.0)])
    copy = SpikeBreaker.from_dict(CFG, br.to_dict())
    assert copy.to_dict() == br.to_dict()
    nxt = T0 + dt.timedelta(minutes=8)
    assert copy.update(nxt, 21.0) == br.update(nxt, 21.0)
    with pytest.raises(ValueError, match="backwards"):
        br.update(T0, 14.0)


def test_batch_regime_equals_streaming_on_spiky_data() -> None:
    """The backtest's batch tier and breaker equal the streaming ones bar by bar (1 and 5 min)."""
    import numpy as np

    from dyntrail.core.regime import BatchRegime, StreamingRegime
    from dyntrail.data.synthetic import generate, weekdays

    m = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 21)), seed=4, n_spikes=6)
    for step in (1, 5):
        ts = m.timestamps[::step] + np.timedelta64(60 * step, "s")
        vix = m.vix[::step]
        batch, stream = BatchRegime(CFG, ts, vix), StreamingRegime(CFG)
        tripped = 0
        for i, t in enumerate(ts.astype("datetime64[s]").astype(object).tolist()):
            batch.advance(i, t, float(vix[i]))
            stream.advance(i, t, float(vix[i]))
            got = (batch.tier, batch.tripped, batch.just_tripped, batch.until, batch.rise)
            want = (stream.tier, stream.tripped, stream.just_tripped, stream.until, stream.rise)
            assert got == want, (step, i)
            tripped += batch.just_tripped
        assert tripped >= 3, step  # the spikes were there to be caught
