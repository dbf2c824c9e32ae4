"""The position state machine (the design document's ``Position`` and ``open_position``).

Rules, in the order one tick applies them:

1. Break-even: before T1, once the underlying reaches ``move_be_underlying`` the stop moves to the
   entry price.
2. Trailing: after T1 the stop trails the price (ATR: ``price -/+ multiple x ATR``; swing: beyond
   the last confirmed swing low/high). A long stop never moves down; a short stop never moves up.
3. Stop: the underlying at or beyond the stop -> ``exit_stop``.
4. With a clock only: at or after ``flatten`` -> ``exit_eod``; neither break-even nor T1 within
   ``time_stop_min`` of entry -> ``exit_time``.
5. T1 (once) -> ``scale_out_t1``; then T2 -> ``exit_target2``.

Without ``now`` the position behaves exactly like the document's skeleton. With ``now`` it also
applies the time rules, the per-tier trail method and multiple (regime upgrade), whole-lot
scale-out (``scale_out_qty``; one lot: ``single_lot_at_t1``) and keeps the stop at least at
break-even after T1.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

from dyntrail.core.regime import vix_tier as _vix_tier
from dyntrail.core.targets import DynamicTargetEngine, TargetContext
from dyntrail.core.types import PositionAction, Side, StopKind, TrailMethod, VixTier

# Read on every bar a position is held: module names are found faster than enum members.
_ATR, _TRAIL, _BREAK_EVEN = TrailMethod.ATR, StopKind.TRAIL, StopKind.BREAK_EVEN
_INF = math.inf


@dataclass(frozen=True, slots=True)
class BarEvent:
    """An action taken while walking a closed bar, at the underlying level that triggered it."""

    action: PositionAction
    underlying_price: float


class StopMove(NamedTuple):
    """What the stop became when it moved: its level and kind (initial, break_even, trail). A
    named tuple: immutable, and made on every move of a stop (thousands in a backtest)."""

    level: float
    kind: StopKind


_stop_move = functools.partial(tuple.__new__, StopMove)  # without the tuple's Python __new__


# the T1 actions: each is the bar's T1 being reached (with or without an order)
T1_ACTIONS = frozenset(
    {PositionAction.SCALE_OUT_T1, PositionAction.EXIT_TARGET1, PositionAction.T1_REACHED}
)


@dataclass(slots=True)
class Position:
    """One open position's state. Mutated only by its own methods; ``to_dict``/``from_dict``
    round-trip it exactly for the journal."""

    side: Side
    entry_underlying: float
    entry_option_price: float
    qty: int
    t1_hit: bool
    stop_underlying: float
    t1_underlying: float
    t2_underlying: float
    move_be_underlying: float
    # dyntrail's additions
    stop_initial: float = math.nan
    vix_tier: VixTier = VixTier.NORMAL
    lot_size: int = 1
    entry_ts: dt.datetime | None = None
    be_moved: bool = False
    stop_kind: StopKind = StopKind.INITIAL  # what the stop is now (set where it moves)
    # the stop moved since ``take_move`` was last asked (not saved: a bar's moves are taken at
    # its close)
    moved: bool = field(default=False, compare=False, repr=False)

    def take_move(self) -> StopMove | None:
        """The stop's move since the last call, as what it is now (a bar that moves it twice,
        to break-even then to a trail, is one move, to the trail), or None if it did not move."""
        if not self.moved:
            return None
        self.moved = False
        return _stop_move((self.stop_underlying, self.stop_kind))

    def on_tick(
        self,
        engine: DynamicTargetEngine,
        underlying_price: float,
        option_price: float,
        atr_now: float | None,
        now: dt.datetime | None = None,
        *,
        tier: VixTier | None = None,
        swing_low: float | None = None,
        swing_high: float | None = None,
    ) -> PositionAction | None:
        """Apply one underlying price; return the action it asks for, or None.

        ``option_price`` is the option's last price (kept for the order layer; the rules act on
        the underlying). ``tier`` is the current VIX tier for the regime upgrade (default: the
        entry tier); ``swing_low``/``swing_high`` are the last *confirmed* swings for the swing
        trail."""
        return self._step(
            engine, underlying_price, atr_now, now, now is not None, tier, swing_low, swing_high
        )

    def on_bar(
        self,
        engine: DynamicTargetEngine,
        open_: float,
        high: float,
        low: float,
        close: float,
        atr_now: float | None,
        now: dt.datetime | None = None,
        *,
        tier: VixTier | None = None,
        swing_low: float | None = None,
        swing_high: float | None = None,
    ) -> list[BarEvent]:
        """Walk one closed bar conservatively and return the actions it triggers, in order.

        Adverse extreme first: the path is open -> low -> high -> close for a long and
        open -> high -> low -> close for a short, so a bar that touches both the stop and T1 exits
        at the stop, and a bar backtest never books a target the stop would have taken first.
        A level crossed between two path points triggers at the level itself; a gap through it at
        the open triggers at the open. ``atr_now`` and the swings must come from bars closed
        *before* this one (no lookahead); ``now`` is the bar's close time, and the time rules
        (flatten, time stop) are checked once, at the close, at the close price.
        """
        s = self.side.sign
        adverse, favourable = (low, high) if s > 0 else (high, low)
        if engine.next_bar:
            return self._next_bar(
                engine, open_, adverse, favourable, close, atr_now, now, tier, swing_low, swing_high
            )
        path = (open_, adverse, favourable, close)
        events: list[BarEvent] = []
        for j, price in enumerate(path):
            last = j == len(path) - 1
            for _ in range(3):  # T1 and T2 can both fall between two path points
                stop_before = self.stop_underlying
                action = self._step(
                    engine,
                    price,
                    atr_now,
                    now if last else None,
                    now is not None,
                    tier,
                    swing_low,
                    swing_high,
                )
                if action is None:
                    break
                events.append(BarEvent(action, self._trigger_level(action, j, price, stop_before)))
                if action.closes_position:
                    return events
        return events

    def _next_bar(
        self,
        engine: DynamicTargetEngine,
        open_: float,
        adverse: float,
        favourable: float,
        close: float,
        atr_now: float | None,
        now: dt.datetime | None,
        tier: VixTier | None,
        swing_low: float | None,
        swing_high: float | None,
    ) -> list[BarEvent]:
        """``[strategy.bars] semantics = "next_bar"``: check the stop standing since the last
        close (open, then the adverse extreme: a gap fills at the open), then the targets (open,
        then the favourable extreme); then, at the close, move to break-even if the favourable
        extreme reached it and trail with ``atr_now`` (the ATR including this bar, which the
        caller must pass); then the time rules. A stop moved at this close acts from the next
        bar, so a stop never triggers on the bar that raised it."""
        s = self.side.sign
        stop = self.stop_underlying
        if s * (open_ - stop) <= 0:
            return [BarEvent(PositionAction.EXIT_STOP, open_)]
        if s * (adverse - stop) <= 0:
            return [BarEvent(PositionAction.EXIT_STOP, stop)]
        events: list[BarEvent] = []
        clocked = now is not None
        if not self.t1_hit and s * (favourable - self.t1_underlying) >= 0:
            level = open_ if s * (open_ - self.t1_underlying) >= 0 else self.t1_underlying
            self.t1_hit = True
            action = self._t1_action(engine) if clocked else PositionAction.SCALE_OUT_T1
            if clocked:
                self._tighten(self.entry_underlying, StopKind.BREAK_EVEN)
            events.append(BarEvent(action, level))
            if action.closes_position:
                return events
        if self.t1_hit and s * (favourable - self.t2_underlying) >= 0:
            level = open_ if s * (open_ - self.t2_underlying) >= 0 else self.t2_underlying
            events.append(BarEvent(PositionAction.EXIT_TARGET2, level))
            return events
        self.close_moves(engine, favourable, close, atr_now, clocked, tier, swing_low, swing_high)
        if now is not None:
            rule = self._time_rule(engine, now)
            if rule is not None:
                events.append(BarEvent(rule, close))
        return events

    def close_moves(
        self,
        engine: DynamicTargetEngine,
        favourable: float,
        close: float,
        atr_now: float | None,
        clocked: bool,
        tier: VixTier | None,
        swing_low: float | None,
        swing_high: float | None,
    ) -> None:
        """What a next-bar close does to the stop (after the bar's exits): break-even once the
        favourable extreme reached it before T1, then the trail; the stop only ever tightens.

        A backtest calls this on almost every bar a position is held, so the ATR trail (the
        usual rule) is worked out here, with the arithmetic of ``_trail_level`` and
        ``_tighten``; the swing trail and the skeleton's trail go through ``_trail_level``."""
        s = self.side.sign
        t1_hit = self.t1_hit
        if not t1_hit and s * (favourable - self.move_be_underlying) >= 0:
            self.be_moved = True
            self._tighten(self.entry_underlying, _BREAK_EVEN)
        if not (t1_hit or engine.trail_from_entry):
            return
        if clocked and (rule := engine.trail_rules[tier or self.vix_tier])[0] is _ATR:
            if atr_now is None or not -_INF < atr_now < _INF:  # not finite: not known yet
                return
            trail = close - s * (rule[1] * atr_now)  # ``engine.update_trailing``
        else:
            level = self._trail_level(engine, close, atr_now, clocked, tier, swing_low, swing_high)
            if level is None:
                return
            trail = level
        if s * (trail - self.stop_underlying) > 0:  # ``_tighten``
            self.stop_underlying = trail
            self.stop_kind = _TRAIL
            self.moved = True

    def on_price(self, engine: DynamicTargetEngine, price: float) -> BarEvent | None:
        """A live price between closes (a tick): the stop and the targets standing since the
        last close act on it at once, at that price. T1 reached here moves the stop to
        break-even, as at a close; the trail and the time rules wait for the close
        (``at_close``)."""
        s = self.side.sign
        if s * (price - self.stop_underlying) <= 0:
            return BarEvent(PositionAction.EXIT_STOP, price)
        if not self.t1_hit:
            if s * (price - self.t1_underlying) >= 0:
                self.t1_hit = True
                self._tighten(self.entry_underlying, _BREAK_EVEN)
                return BarEvent(self._t1_action(engine), price)
        elif s * (price - self.t2_underlying) >= 0:
            return BarEvent(PositionAction.EXIT_TARGET2, price)
        return None

    def at_close(
        self,
        engine: DynamicTargetEngine,
        high: float,
        low: float,
        close: float,
        atr_now: float | None,
        now: dt.datetime,
        *,
        tier: VixTier | None = None,
        swing_low: float | None = None,
        swing_high: float | None = None,
    ) -> BarEvent | None:
        """The close of a bar whose every price was already given to ``on_price`` (live): what
        a close does to the stop (break-even, the trail: ``close_moves``), then the time rules."""
        favourable = high if self.side.sign > 0 else low
        self.close_moves(engine, favourable, close, atr_now, True, tier, swing_low, swing_high)
        rule = self._time_rule(engine, now)
        return None if rule is None else BarEvent(rule, close)

    def touches(self, open_: float, adverse: float, favourable: float) -> bool:
        """Next-bar semantics: does this bar touch the stop or a target standing before it (its
        open, then its extremes)? Together with ``time_rules_due`` this says whether a bar could
        make the position act; a bar that cannot only moves the stop (``close_moves``)."""
        s = self.side.sign
        stop = self.stop_underlying
        if s * (open_ - stop) <= 0 or s * (adverse - stop) <= 0:
            return True
        if not self.t1_hit:
            return s * (favourable - self.t1_underlying) >= 0
        return s * (favourable - self.t2_underlying) >= 0

    def calm_path(
        self,
        engine: DynamicTargetEngine,
        open_: float,
        high: float,
        low: float,
        close: float,
        atr_now: float | None,
        tier: VixTier | None,
        swing_low: float | None,
        swing_high: float | None,
    ) -> tuple[float, StopKind, bool, bool] | None:
        """Path semantics, a bar that closes before ``time_rules_due``: what ``on_bar`` (with a
        clock) would leave of the stop, as (level, kind, be_moved, moved), when the bar makes
        the position act on nothing; None when it would act (a stop, a target, T1). The
        position is not changed (the caller applies the answer, or gives the bar to
        ``on_bar``). The same float steps as ``_step`` at each point of the path: the
        break-even, then the trail (``_trail_level``), then the stop and targets."""
        s = self.side.sign
        adverse, favourable = (low, high) if s > 0 else (high, low)
        t1_hit = self.t1_hit
        stop, kind, be, moved = self.stop_underlying, self.stop_kind, self.be_moved, self.moved
        entry, move_be = self.entry_underlying, self.move_be_underlying
        t1, t2 = self.t1_underlying, self.t2_underlying
        # No trail: the stop moves only to break-even. When the bar's extremes bound its open
        # and close, each point's test is bounded by an extreme's (a difference is monotone in
        # its first term): the usual bar, away from every level, in one step.
        if (
            not (t1_hit or engine.trail_from_entry)
            and low <= open_ <= high
            and low <= close <= high
            and s * (adverse - stop) > 0
            and s * (favourable - t1) < 0
            and s * (favourable - t2) < 0
            and (s * (favourable - move_be) < 0 or (be and s * (entry - stop) <= 0))
        ):
            return stop, kind, be, moved
        fixed: float | None = None  # a swing trail's level (the same at every point)
        offset: float | None = None  # an ATR trail's distance
        if t1_hit or engine.trail_from_entry:
            method, mult = engine.trail_rules[tier or self.vix_tier]
            if method is TrailMethod.SWING:
                swing = swing_low if self.side is Side.LONG else swing_high
                if swing is not None and math.isfinite(swing):
                    fixed = swing * (1.0 - s * engine.cfg.trail.swing_buffer_pct)
            elif atr_now is not None and math.isfinite(atr_now):
                offset = mult * atr_now  # ``update_trailing``
        for price in (open_, adverse, favourable, close):
            if not t1_hit and s * (price - move_be) >= 0:
                be = True
                if s * (entry - stop) > 0:  # ``_tighten``
                    stop, kind, moved = entry, _BREAK_EVEN, True
            if offset is not None:
                level = price - s * offset
                if s * (level - stop) > 0:
                    stop, kind, moved = level, _TRAIL, True
            elif fixed is not None and s * (fixed - stop) > 0:
                stop, kind, moved = fixed, _TRAIL, True
            if s * (price - stop) <= 0:
                return None
            if not t1_hit and s * (price - t1) >= 0:
                return None
            if s * (price - t2) >= 0:
                return None
        return stop, kind, be, moved

    def time_rules_due(self, engine: DynamicTargetEngine, day: dt.date) -> dt.datetime:
        """The earliest close on ``day`` (naive exchange time) from which a time rule of
        ``_time_rule`` could make the position act: flatten, or the time stop while neither
        break-even nor T1 has come (a conservative answer: a break-even on the way calls the time
        stop off). A bar of ``day`` that closes before it can act only by ``touches``; one that
        closes later than ``day`` (past midnight) counts as due."""
        due = dt.datetime.combine(day, engine.flatten)
        if not self.be_moved and not self.t1_hit and self.entry_ts is not None:
            due = min(due, self.entry_ts + engine.time_stop)
        return due

    def _time_rule(self, engine: DynamicTargetEngine, now: dt.datetime) -> PositionAction | None:
        """The time rules at ``now``: at or after flatten -> ``exit_eod``; neither break-even nor
        T1 within the time stop of entry -> ``exit_time``; else None."""
        local = now if now.tzinfo is None else now.astimezone(engine.tz)
        if local.time() >= engine.flatten:
            return PositionAction.EXIT_EOD
        if (
            not self.be_moved
            and not self.t1_hit
            and self.entry_ts is not None
            and now - self.entry_ts >= engine.time_stop
        ):
            return PositionAction.EXIT_TIME
        return None

    def scale_out_qty(self, engine: DynamicTargetEngine) -> int:
        """Quantity to sell at T1: ``scale_out_ratio`` of the open quantity, rounded down to whole
        lots (0 when that is less than one lot)."""
        lots = self.qty // self.lot_size
        return math.floor(lots * engine.cfg.scale_out_ratio + 1e-9) * self.lot_size

    def reduce(self, qty: int) -> None:
        """Apply an exit fill of ``qty``; the open quantity never goes negative."""
        if qty < 0 or qty > self.qty:
            raise ValueError(f"cannot reduce a position of {self.qty} by {qty}")
        self.qty -= qty

    @property
    def is_open(self) -> bool:
        return self.qty > 0

    # ------------------------------------------------------------------ internals

    def _step(
        self,
        engine: DynamicTargetEngine,
        price: float,
        atr_now: float | None,
        now: dt.datetime | None,
        clocked: bool,
        tier: VixTier | None,
        swing_low: float | None,
        swing_high: float | None,
    ) -> PositionAction | None:
        s = self.side.sign
        if not self.t1_hit and s * (price - self.move_be_underlying) >= 0:
            self.be_moved = True
            if clocked:
                self._tighten(self.entry_underlying, StopKind.BREAK_EVEN)
            else:
                self._set_be()
        if self.t1_hit or engine.cfg.trail.start == "entry":
            level = self._trail_level(engine, price, atr_now, clocked, tier, swing_low, swing_high)
            if level is not None:
                self._tighten(level, StopKind.TRAIL)
        if s * (price - self.stop_underlying) <= 0:
            return PositionAction.EXIT_STOP
        if now is not None:
            rule = self._time_rule(engine, now)
            if rule is not None:
                return rule
        if not self.t1_hit and s * (price - self.t1_underlying) >= 0:
            self.t1_hit = True
            if not clocked:
                return PositionAction.SCALE_OUT_T1
            self._tighten(self.entry_underlying, StopKind.BREAK_EVEN)
            return self._t1_action(engine)
        if s * (price - self.t2_underlying) >= 0:
            return PositionAction.EXIT_TARGET2
        return None

    def _set_be(self) -> None:
        # The document's skeleton sets the stop to entry before T1; the stop is then still the
        # initial stop or already the entry, so this never loosens it.
        if self.stop_underlying != self.entry_underlying:
            self.stop_underlying = self.entry_underlying
            self.stop_kind = StopKind.BREAK_EVEN
            self.moved = True

    def _tighten(self, level: float, kind: StopKind) -> None:
        """Move the stop to ``level`` only if that is tighter: a long stop never moves down. The
        stop is then of ``kind`` (break-even or trail)."""
        if self.side.sign * (level - self.stop_underlying) > 0:
            self.stop_underlying = level
            self.stop_kind = kind
            self.moved = True

    def _trail_level(
        self,
        engine: DynamicTargetEngine,
        price: float,
        atr_now: float | None,
        clocked: bool,
        tier: VixTier | None,
        swing_low: float | None,
        swing_high: float | None,
    ) -> float | None:
        if clocked:
            method, mult = engine.trail_rules[tier or self.vix_tier]
        else:  # the document's skeleton trails on ATR only
            method, mult = TrailMethod.ATR, engine.atr_trail_mult
        if method is TrailMethod.SWING:
            swing = swing_low if self.side is Side.LONG else swing_high
            if swing is None or not math.isfinite(swing):
                return None
            return swing * (1.0 - self.side.sign * engine.cfg.trail.swing_buffer_pct)
        if atr_now is None or not math.isfinite(atr_now):
            return None
        return engine.update_trailing(self.side, price, atr_now, mult)

    def _t1_action(self, engine: DynamicTargetEngine) -> PositionAction:
        scale_qty = self.scale_out_qty(engine)
        if scale_qty >= self.qty:
            return PositionAction.EXIT_TARGET1
        if scale_qty > 0:
            return PositionAction.SCALE_OUT_T1
        if engine.cfg.targets.single_lot_at_t1 == "exit_all":
            return PositionAction.EXIT_TARGET1
        return PositionAction.T1_REACHED

    def _trigger_level(
        self, action: PositionAction, j: int, price: float, stop_before: float
    ) -> float:
        if j == 0 or action in (PositionAction.EXIT_EOD, PositionAction.EXIT_TIME):
            return price
        if action is PositionAction.EXIT_STOP:
            return stop_before if self.side.sign * (price - stop_before) <= 0 else price
        if action is PositionAction.EXIT_TARGET2:
            return self.t2_underlying
        return self.t1_underlying

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state; ``Position.from_dict(p.to_dict()) == p``."""
        d = asdict(self)
        del d["moved"]
        d["side"] = self.side.value
        d["vix_tier"] = self.vix_tier.value
        d["entry_ts"] = self.entry_ts.isoformat() if self.entry_ts else None
        d["stop_kind"] = self.stop_kind.value
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Position:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown position fields {sorted(unknown)}")
        d = dict(data)
        d["side"] = Side(d["side"])
        d["vix_tier"] = VixTier(d["vix_tier"])
        d["entry_ts"] = dt.datetime.fromisoformat(d["entry_ts"]) if d.get("entry_ts") else None
        d["stop_kind"] = StopKind(d.get("stop_kind", StopKind.INITIAL))
        return cls(**d)


def open_position(
    engine: DynamicTargetEngine,
    side: Side,
    entry_underlying: float,
    entry_option: float,
    vix: float,
    qty: int = 50,
    now: dt.datetime | None = None,
    *,
    lot_size: int = 1,
    context: TargetContext | None = None,
) -> Position | None:
    """Open a position with targets for the current VIX tier, or None at HALT (no entries).

    As in the document's example wiring; ``qty`` defaults to the document's 50."""
    if qty < 1 or lot_size < 1 or qty % lot_size:
        raise ValueError(f"qty {qty} must be a positive whole number of lots of {lot_size}")
    tier = _vix_tier(vix, engine.config)
    if tier is VixTier.HALT:
        return None
    tgt = engine.compute_targets(side, entry_underlying, tier, context)
    return Position(
        side=side,
        entry_underlying=entry_underlying,
        entry_option_price=entry_option,
        qty=qty,
        t1_hit=False,
        stop_underlying=tgt.stop_underlying,
        t1_underlying=tgt.t1_underlying,
        t2_underlying=tgt.t2_underlying,
        move_be_underlying=tgt.move_be_underlying,
        stop_initial=tgt.stop_underlying,
        vix_tier=tier,
        lot_size=lot_size,
        entry_ts=now,
    )
