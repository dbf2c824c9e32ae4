"""The market part: the day's start and its gap check, the regime's breaker at each close, and
its saved state."""

from __future__ import annotations

import datetime as dt
import json

from factories import DAY, make_cfg, make_market, make_run

from dyntrail.core.events import BreakerTripped, DayStart
from dyntrail.core.regime import StreamingRegime
from dyntrail.core.types import VixTier

OPEN = dt.datetime.combine(DAY, dt.time(9, 15))
VIX = [15.0] * 5 + [16.0, 21.5, 22.0, 21.0] + [15.0] * 3 + [21.0, 31.0]  # two spikes of > 5


def _bar(k: int) -> dt.datetime:
    return OPEN + dt.timedelta(minutes=k + 1)  # the close of bar k


def test_a_gap_morning_delays_entries() -> None:
    m = make_market()
    m.prev_close = 23500.0
    ev = m.start_day(DAY, 23500.0 * 1.01, OPEN)  # above the 0.5 % gap
    assert m.day == DAY
    assert m.gap_until == dt.time(9, 30)  # the open plus 15 minutes
    assert ev == DayStart(ts="2025-03-03T09:15:00+05:30", open=23735.0, gap_delay_until="09:30:00")


def test_a_quiet_morning_and_the_first_day_have_no_delay() -> None:
    m = make_market()
    assert m.start_day(DAY, 23500.0, OPEN).gap_delay_until is None  # no close before
    m.prev_close = 23500.0
    ev = m.start_day(DAY + dt.timedelta(days=1), 23500.0 * 1.004, OPEN + dt.timedelta(days=1))
    assert ev.gap_delay_until is None and m.gap_until is None
    assert ev.ts == "2025-03-04T09:15:00+05:30"


def test_the_gap_threshold_is_the_configured_one() -> None:
    m = make_market(make_run(make_cfg("[strategy.entries]\ngap_pct = 0.02\ngap_delay_min = 5\n")))
    m.prev_close = 100.0
    assert m.start_day(DAY, 101.5, OPEN).gap_delay_until is None
    assert m.start_day(DAY, 97.0, OPEN).gap_delay_until == "09:20:00"  # a gap down counts


def test_close_bar_reports_the_trip_exactly_when_the_regime_trips() -> None:
    cfg = make_cfg('[strategy.breaker]\nspike_points = 5.0\ncooldown_min = 3\npolicy = "flatten"\n')
    m = make_market(make_run(cfg))
    m.start_day(DAY, 23500.0, OPEN)
    shadow = StreamingRegime(cfg)
    trips = []
    for k, vix in enumerate(VIX):
        ev = m.close_bar(k, _bar(k), 23500.0 + k, vix)
        shadow.advance(k, _bar(k), vix)
        assert (ev is not None) == shadow.just_tripped
        assert m.breaker_on == shadow.tripped and m.tier is shadow.tier
        assert (m.last_close, m.last_vix, m.now) == (23500.0 + k, vix, _bar(k))
        if ev is not None:
            trips.append((k, ev))
    assert [k for k, _ in trips] == [6, 12]  # bar 12 is past the first cooldown
    k, ev = trips[0]
    assert isinstance(ev, BreakerTripped)
    assert ev == BreakerTripped(
        ts=_bar(6).isoformat() + "+05:30",
        vix=21.5,
        rise=6.5,
        until=(_bar(6) + dt.timedelta(minutes=3)).isoformat() + "+05:30",
        policy="flatten",
    )
    assert m.tier is VixTier.HALT  # 31 is above the halt level


def test_state_round_trip_continues_the_same_way() -> None:
    m = make_market()
    m.prev_close = 23000.0
    m.start_day(DAY, 23500.0, OPEN)
    for k, vix in enumerate(VIX[:8]):
        m.close_bar(k, _bar(k), 23500.0 + k, vix)
    m.bars_total, m.bars_in_position = 8, 3
    m.quotes_now["NIFTY25MAR23500CE"] = (101.0, 101.5)
    saved = json.loads(json.dumps(m.state()))
    other = make_market()
    other.restore(saved)
    assert other.state() == m.state()
    assert other.breaker_on and other.gap_until == dt.time(9, 30)
    for k, vix in enumerate(VIX[8:], start=8):  # both go on identically
        a = m.close_bar(k, _bar(k), 23500.0, vix)
        b = other.close_bar(k, _bar(k), 23500.0, vix)
        assert a == b
    assert other.state() == m.state()


def test_a_fresh_state_has_no_numbers_that_json_refuses() -> None:
    m = make_market()
    s = m.state()
    assert s["last_close"] is None and s["last_vix"] is None
    other = make_market()
    other.restore(json.loads(json.dumps(s, allow_nan=False)))
    assert other.state() == s
