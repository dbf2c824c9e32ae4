"""The position state machine: the document's skeleton exactly, plus the clocked rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail import Config, DynamicTargetEngine, Position, PositionAction, Side, open_position
from dyntrail.core.config_load import parse_config
from dyntrail.core.types import VixTier

ENGINE = DynamicTargetEngine(Config())
DAY = dt.datetime(2025, 3, 3, 9, 30)


@dataclass
class DocPosition:
    """A line-by-line transcription of the design document's Rust skeleton (the reference)."""

    side: Side
    entry: float
    stop: float
    t1: float
    t2: float
    be: float
    mult: float
    t1_hit: bool = False

    def on_tick(self, price: float, atr: float | None) -> str | None:
        if not self.t1_hit:
            if self.side is Side.LONG and price >= self.be:
                self.stop = self.entry
            if self.side is Side.SHORT and price <= self.be:
                self.stop = self.entry
        if self.t1_hit and atr is not None:
            if self.side is Side.LONG:
                trail = price - self.mult * atr
                if trail > self.stop:
                    self.stop = trail
            else:
                trail = price + self.mult * atr
                if trail < self.stop:
                    self.stop = trail
        if self.side is Side.LONG:
            if price <= self.stop:
                return "exit_stop"
            if not self.t1_hit and price >= self.t1:
                self.t1_hit = True
                return "scale_out_t1"
            if price >= self.t2:
                return "exit_target2"
        else:
            if price >= self.stop:
                return "exit_stop"
            if not self.t1_hit and price <= self.t1:
                self.t1_hit = True
                return "scale_out_t1"
            if price <= self.t2:
                return "exit_target2"
        return None


def _open(side: Side = Side.LONG, entry: float = 20000.0, **kw: object) -> Position:
    pos = open_position(ENGINE, side, entry, 100.0, 15.0, **kw)  # type: ignore[arg-type]
    assert pos is not None
    return pos


def test_open_position_at_halt_is_none_and_document_qty() -> None:
    assert open_position(ENGINE, Side.LONG, 20000.0, 100.0, 30.0) is None
    pos = _open()
    assert pos.qty == 50 and pos.vix_tier is VixTier.NORMAL and not pos.t1_hit
    assert pos.stop_underlying == pos.stop_initial == pytest.approx(19880.0)


def test_document_sequence_long() -> None:
    pos = _open()
    acts = [pos.on_tick(ENGINE, p, 100.0, 10.0) for p in (20050, 20080, 20181, 20200, 20241)]
    assert pos.stop_underlying >= 20000.0
    assert acts == [None, None, PositionAction.SCALE_OUT_T1, None, PositionAction.EXIT_TARGET2]


def test_document_actions_are_the_document_strings() -> None:
    assert [PositionAction.EXIT_STOP, PositionAction.SCALE_OUT_T1, PositionAction.EXIT_TARGET2] == [
        "exit_stop",
        "scale_out_t1",
        "exit_target2",
    ]


paths = st.lists(st.floats(-0.02, 0.02), min_size=1, max_size=60)
atrs = st.one_of(st.none(), st.floats(0.5, 60.0))


@settings(max_examples=300, deadline=None)
@given(side=st.sampled_from(list(Side)), moves=paths, atr=atrs)
def test_unclocked_position_is_exactly_the_document_skeleton(
    side: Side, moves: list[float], atr: float | None
) -> None:
    pos = _open(side)
    ref = DocPosition(
        side,
        20000.0,
        pos.stop_underlying,
        pos.t1_underlying,
        pos.t2_underlying,
        pos.move_be_underlying,
        2.5,
    )
    for m in moves:
        price = 20000.0 * (1 + m)
        assert pos.on_tick(ENGINE, price, 100.0, atr) == ref.on_tick(price, atr)
        assert pos.stop_underlying == ref.stop and pos.t1_hit == ref.t1_hit


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from(list(Side)), moves=paths, atr=atrs, clocked=st.booleans())
def test_stop_never_loosens(
    side: Side, moves: list[float], atr: float | None, clocked: bool
) -> None:
    pos = _open(side, qty=150, lot_size=75, now=DAY)
    last = pos.stop_underlying
    for i, m in enumerate(moves):
        now = DAY + dt.timedelta(minutes=i) if clocked else None
        pos.on_tick(ENGINE, 20000.0 * (1 + m), 100.0, atr, now)
        assert side.sign * (pos.stop_underlying - last) >= 0
        last = pos.stop_underlying


@settings(max_examples=150, deadline=None)
@given(moves=paths, atr=atrs)
def test_long_short_mirror(moves: list[float], atr: float | None) -> None:
    lo, sh = _open(Side.LONG), _open(Side.SHORT)
    for m in moves:
        a = lo.on_tick(ENGINE, 20000.0 * (1 + m), 100.0, atr)
        b = sh.on_tick(ENGINE, 20000.0 * (1 - m), 100.0, atr)
        # reflected paths give the same actions, up to float rounding at a level's edge: the
        # entry (the stop after break-even or T1), break-even, the stop, T1 and T2
        if all(abs(abs(m) - level) > 1e-9 for level in (0.0, 0.004, 0.006, 0.009, 0.012)):
            assert a == b
        assert lo.stop_underlying - 20000.0 == pytest.approx(20000.0 - sh.stop_underlying)


def test_clocked_scale_out_whole_lots_and_be_floor() -> None:
    pos = _open(qty=225, lot_size=75, now=DAY)  # 3 lots: half rounds down to 1 lot
    assert pos.on_tick(ENGINE, 20181.0, 100.0, 100.0, DAY) is PositionAction.SCALE_OUT_T1
    assert pos.scale_out_qty(ENGINE) == 75
    assert pos.stop_underlying == 20000.0  # at least break-even after T1, despite a huge ATR
    pos.reduce(75)
    assert pos.qty == 150 and pos.is_open


@pytest.mark.parametrize(
    ("policy", "action"),
    [("exit_all", PositionAction.EXIT_TARGET1), ("skip", PositionAction.T1_REACHED)],
)
def test_single_lot_at_t1(policy: str, action: PositionAction) -> None:
    eng = DynamicTargetEngine(parse_config(f'[strategy.targets]\nsingle_lot_at_t1 = "{policy}"'))
    pos = open_position(eng, Side.LONG, 20000.0, 100.0, 15.0, qty=75, lot_size=75, now=DAY)
    assert pos is not None
    assert pos.on_tick(eng, 20181.0, 100.0, 10.0, DAY) is action
    assert action.closes_position == (policy == "exit_all")


def test_time_stop_and_flatten() -> None:
    pos = _open(now=DAY)
    assert pos.on_tick(ENGINE, 20010.0, 100.0, 10.0, DAY + dt.timedelta(minutes=29)) is None
    assert (
        pos.on_tick(ENGINE, 20010.0, 100.0, 10.0, DAY + dt.timedelta(minutes=30))
        is PositionAction.EXIT_TIME
    )
    moved = _open(now=DAY)
    moved.on_tick(ENGINE, 20090.0, 100.0, 10.0, DAY + dt.timedelta(minutes=5))  # BE reached
    assert moved.on_tick(ENGINE, 20010.0, 100.0, 10.0, DAY + dt.timedelta(minutes=40)) is None
    eod = DAY.replace(hour=15, minute=15)
    assert moved.on_tick(ENGINE, 20010.0, 100.0, 10.0, eod) is PositionAction.EXIT_EOD
    aware = dt.datetime(2025, 3, 3, 9, 45, tzinfo=dt.UTC)  # 15:15 in Kolkata
    assert moved.on_tick(ENGINE, 20010.0, 100.0, 10.0, aware) is PositionAction.EXIT_EOD


def test_regime_upgrade_swing_trail() -> None:
    eng = DynamicTargetEngine(parse_config('[strategy.trail.by_tier.normal]\nmethod = "swing"'))
    pos = open_position(eng, Side.LONG, 20000.0, 100.0, 15.0, qty=150, lot_size=75, now=DAY)
    assert pos is not None
    pos.on_tick(eng, 20181.0, 100.0, 10.0, DAY, swing_low=20100.0)
    pos.on_tick(eng, 20190.0, 100.0, 10.0, DAY, swing_low=20100.0)
    assert pos.stop_underlying == 20100.0  # swing low, not price - 2.5 x ATR
    pos.on_tick(eng, 20190.0, 100.0, 10.0, DAY, swing_low=20050.0)
    assert pos.stop_underlying == 20100.0  # never loosens


def test_on_bar_adverse_extreme_first() -> None:
    pos = _open(now=DAY)
    ev = pos.on_bar(ENGINE, 20000.0, 20200.0, 19870.0, 20100.0, 10.0, DAY)
    assert [(e.action, e.underlying_price) for e in ev] == [
        (PositionAction.EXIT_STOP, pos.stop_underlying)
    ]
    short = _open(Side.SHORT, now=DAY)
    ev = short.on_bar(ENGINE, 20000.0, 20130.0, 19800.0, 19900.0, 10.0, DAY)
    assert ev[0].action is PositionAction.EXIT_STOP and ev[0].underlying_price == pytest.approx(
        20120.0
    )


def test_on_bar_levels_and_gaps() -> None:
    pos = _open(qty=150, lot_size=75, now=DAY)
    ev = pos.on_bar(ENGINE, 20010.0, 20300.0, 20005.0, 20250.0, 10.0, DAY)
    assert [(e.action, round(e.underlying_price, 6)) for e in ev] == [
        (PositionAction.SCALE_OUT_T1, 20180.0),
        (PositionAction.EXIT_TARGET2, 20240.0),
    ]
    gap = _open(now=DAY)
    ev = gap.on_bar(ENGINE, 19800.0, 19850.0, 19790.0, 19820.0, 10.0, DAY)
    assert (ev[0].action, ev[0].underlying_price) == (PositionAction.EXIT_STOP, 19800.0)


def test_on_bar_be_then_back_to_entry_exits_at_entry() -> None:
    pos = _open(now=DAY)
    ev = pos.on_bar(ENGINE, 20010.0, 20100.0, 20005.0, 19990.0, 10.0, DAY)
    assert [(e.action, e.underlying_price) for e in ev] == [(PositionAction.EXIT_STOP, 20000.0)]


def test_on_bar_time_rules_at_close() -> None:
    pos = _open(now=DAY)
    ev = pos.on_bar(
        ENGINE, 20010.0, 20020.0, 20000.0, 20015.0, 10.0, DAY.replace(hour=15, minute=15)
    )
    assert [(e.action, e.underlying_price) for e in ev] == [(PositionAction.EXIT_EOD, 20015.0)]


def test_state_round_trips_exactly() -> None:
    pos = _open(qty=150, lot_size=75, now=DAY)
    pos.on_tick(ENGINE, 20181.3, 101.25, 7.123456789, DAY)
    again = Position.from_dict(pos.to_dict())
    assert again == pos
    import json

    assert Position.from_dict(json.loads(json.dumps(pos.to_dict()))) == pos
    with pytest.raises(ValueError, match="unknown position fields"):
        Position.from_dict({**pos.to_dict(), "oops": 1})


NEXT_BAR = DynamicTargetEngine(
    parse_config(
        '[strategy.bars]\nsemantics = "next_bar"\n[strategy.trail]\nstart = "entry"\n'
        "[strategy.targets]\nscale_out_ratio = 1.0\n[strategy.risk]\ninitial_stop_atr_mult = 2.5\n"
        "[strategy.momentum]\nenabled = false\n[strategy.time_left]\nenabled = false\n"
    )
)


def _next_bar_long() -> Position:
    from dyntrail.core.targets import TargetContext

    pos = open_position(
        NEXT_BAR, Side.LONG, 20000.0, 100.0, 15.0, qty=1, now=DAY, context=TargetContext(atr=40.0)
    )
    assert pos is not None
    return pos


def test_initial_stop_is_the_tighter_of_sl_and_atr() -> None:
    pos = _next_bar_long()
    assert pos.stop_underlying == 20000.0 - min(120.0, 2.5 * 40.0)  # 19900, the ATR stop


def test_next_bar_stop_moves_at_the_close_and_acts_from_the_next_bar() -> None:
    pos = _next_bar_long()
    now = DAY + dt.timedelta(minutes=1)
    # reaches break-even (20080) and closes back at 19990: on this bar nothing triggers
    assert pos.on_bar(NEXT_BAR, 20010.0, 20090.0, 19950.0, 19990.0, 40.0, now) == []
    assert pos.stop_underlying == 20000.0  # BE applied at the close
    ev = pos.on_bar(NEXT_BAR, 19995.0, 20005.0, 19980.0, 19990.0, 40.0, now)
    assert [(e.action, e.underlying_price) for e in ev] == [(PositionAction.EXIT_STOP, 19995.0)]


def test_next_bar_trails_from_entry_with_the_close_and_this_bars_atr() -> None:
    pos = _next_bar_long()
    now = DAY + dt.timedelta(minutes=1)
    pos.on_bar(NEXT_BAR, 20000.0, 20050.0, 19990.0, 20040.0, 10.0, now)
    assert pos.stop_underlying == 20040.0 - 2.5 * 10.0
    ev = pos.on_bar(NEXT_BAR, 20040.0, 20300.0, 20030.0, 20250.0, 10.0, now)  # target 20240
    assert [(e.action, e.underlying_price) for e in ev] == [
        (PositionAction.EXIT_TARGET1, pos.t1_underlying)
    ]


def test_next_bar_stop_wins_when_both_are_inside_one_bar() -> None:
    pos = _next_bar_long()
    ev = pos.on_bar(
        NEXT_BAR, 20000.0, 20400.0, 19800.0, 20100.0, 40.0, DAY + dt.timedelta(minutes=1)
    )
    assert [(e.action, e.underlying_price) for e in ev] == [(PositionAction.EXIT_STOP, 19900.0)]


def test_the_position_says_what_its_stop_is() -> None:
    """The stop's kind is set where the stop moves: initial, then break-even at +0.4 %, then a
    trail after T1 (a state that round-trips; an older state without it reads as initial)."""
    from dyntrail.core.types import StopKind

    pos = _open(qty=150, lot_size=75, now=DAY)
    assert pos.stop_kind is StopKind.INITIAL
    pos.on_tick(ENGINE, 20085.0, 100.0, None, DAY)  # past move_be (20080), before T1 (20180)
    assert (pos.stop_underlying, pos.stop_kind) == (20000.0, StopKind.BREAK_EVEN)
    pos.on_tick(ENGINE, 20181.0, 100.0, 10.0, DAY)  # T1: scale out; the trail starts
    pos.on_tick(ENGINE, 20250.0, 100.0, 10.0, DAY)  # 20250 - 2.5 x 10 = 20225 > entry
    assert (pos.stop_underlying, pos.stop_kind) == (20225.0, StopKind.TRAIL)
    assert Position.from_dict(pos.to_dict()) == pos
    old = {k: v for k, v in pos.to_dict().items() if k != "stop_kind"}
    assert Position.from_dict(old).stop_kind is StopKind.INITIAL


def test_the_position_returns_each_move_of_its_stop_once() -> None:
    """``take_move`` says what the stop became (level and kind) once per move, so the engine
    journals it without comparing stops; a bar moving it twice is one move, to where it ends."""
    from dyntrail.core.position import StopMove
    from dyntrail.core.types import StopKind

    pos = _open(qty=150, lot_size=75, now=DAY)
    assert pos.take_move() is None  # the initial stop is the position's opening, not a move
    pos.on_tick(ENGINE, 20050.0, 100.0, None, DAY)  # below move_be: nothing moves
    assert pos.take_move() is None
    pos.on_tick(ENGINE, 20085.0, 100.0, None, DAY)
    assert pos.take_move() == StopMove(20000.0, StopKind.BREAK_EVEN)
    assert pos.take_move() is None  # taken
    pos.on_tick(ENGINE, 20181.0, 100.0, 10.0, DAY)  # T1
    pos.on_tick(ENGINE, 20250.0, 100.0, 10.0, DAY)
    assert pos.take_move() == StopMove(20225.0, StopKind.TRAIL)
    assert "moved" not in pos.to_dict()  # not state: a bar's moves are taken at its close


def test_a_bar_reaching_break_even_and_t1_reports_t1_and_one_move() -> None:
    from dyntrail.core.position import T1_ACTIONS, StopMove
    from dyntrail.core.types import StopKind

    pos = _open(qty=150, lot_size=75, now=DAY)
    events = pos.on_bar(ENGINE, 20010.0, 20190.0, 20005.0, 20150.0, 10.0, DAY)
    assert [e.action for e in events if e.action in T1_ACTIONS] == [PositionAction.SCALE_OUT_T1]
    move = pos.take_move()
    assert move is not None and move.kind in (StopKind.BREAK_EVEN, StopKind.TRAIL)
    assert move == StopMove(pos.stop_underlying, pos.stop_kind)
