"""The market parts: the session's start, an underlying's gap check, the regime's breaker at
each close, and their saved states."""

from __future__ import annotations

import datetime as dt
import json

from factories import DAY, make_cfg, make_market, make_run, make_underlying

from dyntrail.core.events import BreakerTripped, DayStart
from dyntrail.core.regime import StreamingRegime
from dyntrail.core.types import VixTier

OPEN = dt.datetime.combine(DAY, dt.time(9, 15))
OPEN_TS = "2025-03-03T09:15:00+05:30"
VIX = [15.0] * 5 + [16.0, 21.5, 22.0, 21.0] + [15.0] * 3 + [21.0, 31.0]  # two spikes of > 5


def _bar(k: int) -> dt.datetime:
    return OPEN + dt.timedelta(minutes=k + 1)  # the close of bar k


def test_a_gap_morning_delays_entries() -> None:
    u = make_underlying()
    u.prev_close = 23500.0
    ev = u.start_day(23500.0 * 1.01, OPEN_TS)  # above the 0.5 % gap
    assert u.gap_until == dt.time(9, 30)  # the open plus 15 minutes
    assert ev == DayStart(ts=OPEN_TS, open=23735.0, gap_delay_until="09:30:00", underlying="NIFTY")


def test_a_quiet_morning_and_the_first_day_have_no_delay() -> None:
    u = make_underlying()
    assert u.start_day(23500.0, OPEN_TS).gap_delay_until is None  # no close before
    u.prev_close = 23500.0
    ev = u.start_day(23500.0 * 1.004, OPEN_TS)
    assert ev.gap_delay_until is None and u.gap_until is None


def test_the_gap_threshold_is_the_configured_one() -> None:
    u = make_underlying(
        make_run(make_cfg("[strategy.entries]\ngap_pct = 0.02\ngap_delay_min = 5\n"))
    )
    u.prev_close = 100.0
    assert u.start_day(101.5, OPEN_TS).gap_delay_until is None
    assert u.start_day(97.0, OPEN_TS).gap_delay_until == "09:20:00"  # a gap down counts


def test_a_session_start_sets_the_day_and_the_stamps_offset() -> None:
    m = make_market()
    m.start_day(DAY, OPEN)
    assert m.day == DAY
    assert m.stamps.iso(OPEN) == OPEN_TS


def test_close_bar_reports_the_trip_exactly_when_the_regime_trips() -> None:
    cfg = make_cfg('[strategy.breaker]\nspike_points = 5.0\ncooldown_min = 3\npolicy = "flatten"\n')
    m = make_market(make_run(cfg))
    m.start_day(DAY, OPEN)
    shadow = StreamingRegime(cfg)
    trips = []
    for k, vix in enumerate(VIX):
        ev = m.close_bar(k, _bar(k), vix)
        shadow.advance(k, _bar(k), vix)
        assert (ev is not None) == shadow.just_tripped
        assert m.breaker_on == shadow.tripped and m.tier is shadow.tier
        assert (m.last_vix, m.now) == (vix, _bar(k))
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
    m, u = make_market(), make_underlying()
    u.prev_close = 23000.0
    m.start_day(DAY, OPEN)
    u.start_day(23500.0, OPEN_TS)
    for k, vix in enumerate(VIX[:8]):
        m.close_bar(k, _bar(k), vix)
    u.last_close = 23507.0
    m.bars_total, m.bars_in_position = 8, 3
    m.quotes_now["NIFTY25MAR23500CE"] = (101.0, 101.5)
    saved, usaved = json.loads(json.dumps(m.state())), json.loads(json.dumps(u.state()))
    other, ou = make_market(), make_underlying()
    other.restore(saved)
    ou.restore(usaved)
    assert other.state() == m.state() and ou.state() == u.state()
    assert other.breaker_on and ou.gap_until == dt.time(9, 30)
    for k, vix in enumerate(VIX[8:], start=8):  # both go on identically
        assert m.close_bar(k, _bar(k), vix) == other.close_bar(k, _bar(k), vix)
    assert other.state() == m.state()


def test_a_fresh_state_has_no_numbers_that_json_refuses() -> None:
    m, u = make_market(), make_underlying()
    s, us = m.state(), u.state()
    assert us["last_close"] is None and s["last_vix"] is None
    other, ou = make_market(), make_underlying()
    other.restore(json.loads(json.dumps(s, allow_nan=False)))
    ou.restore(json.loads(json.dumps(us, allow_nan=False)))
    assert other.state() == s and ou.state() == us
