"""Protections, pure: the day's rules that hold new entries back after losses.

- ``cooldown_after_stop``: a trade closed by its stop (``exit_stop``, or its backstop
  ``exit_backstop``) holds new entries for
  ``cooldown_after_stop_min`` minutes; another stop meanwhile starts the wait again.
- ``losing_trades``: the ``max_losing_trades``-th losing trade of the day (net PnL below zero)
  holds new entries for the rest of the day, or until ``unlock_at``.
- ``drawdown``: the day's PnL (realized plus open positions as marked) ``drawdown_lockout_pct``
  of capital or more below its high-water mark of the day holds new entries likewise.
- ``same_direction_long`` / ``_short``: after ``max_same_direction`` entries in one direction,
  none more in that direction that day.

Each function takes the state and returns the new state with what happened (``Engaged``,
``Released``: the journal's lines); nothing is mutated and no clock is read: time comes in as
``at``, naive exchange time. A rule engages once and releases once: at its time (a cooldown), at
``unlock_at`` (a lockout) or when the day ends. A restarted cooldown is journaled as a second
``Engaged`` with the later ``until``. A lockout released at ``unlock_at`` starts afresh: the
losing trades count from zero and the high-water mark from the next mark, so the rest of the day
has a budget of its own (a second lockout lasts the day: the unlock time is past).

Every function first rolls to ``at``'s day (``new_day``) and releases what ``at`` has passed
(``tick``), so the answers do not depend on how often the caller ticks.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from typing import Any

from dyntrail.core.config_protections import ProtectionsSection
from dyntrail.core.types import PositionAction

COOLDOWN = "cooldown_after_stop"
LOSING_TRADES = "losing_trades"
DRAWDOWN = "drawdown"
SAME_LONG = "same_direction_long"
SAME_SHORT = "same_direction_short"
# Each rule's [protections] key: 0 switches the rule off.
SWITCHES: dict[str, str] = {
    COOLDOWN: "cooldown_after_stop_min",
    LOSING_TRADES: "max_losing_trades",
    DRAWDOWN: "drawdown_lockout_pct",
    SAME_LONG: "max_same_direction",
    SAME_SHORT: "max_same_direction",
}
RULES: tuple[str, ...] = tuple(SWITCHES)
SIDES: tuple[str, ...] = ("long", "short")


@dataclass(frozen=True, slots=True)
class Engaged:
    """A rule started holding entries back, until ``until`` (None: until the day ends)."""

    rule: str
    at: dt.datetime
    until: dt.datetime | None
    detail: str


@dataclass(frozen=True, slots=True)
class Released:
    """A rule stopped holding entries back at ``at``."""

    rule: str
    at: dt.datetime


ProtectionEvent = Engaged | Released


@dataclass(frozen=True, slots=True)
class Lockout:
    """A rule holding entries back: since when, until when (None: the day's end), and why."""

    rule: str
    since: dt.datetime
    until: dt.datetime | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        since, until = self.since.isoformat(), self.until.isoformat() if self.until else None
        return {"rule": self.rule, "since": since, "until": until, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lockout:
        rule, since, until = data["rule"], data["since"], data["until"]
        if rule not in RULES:
            raise ValueError(f"unknown protection rule {rule!r}; rules: {RULES}")
        until = dt.datetime.fromisoformat(until) if until is not None else None
        return cls(rule, dt.datetime.fromisoformat(since), until, data["detail"])


@dataclass(frozen=True, slots=True)
class ProtectionState:
    """The protections' state of one day. ``losing_trades`` counts since the day began, or since
    the losing-trade lockout was released at ``unlock_at``; ``pnl_high`` is the day's high-water
    mark of its PnL (0 at the start of the day; None after the drawdown lockout's release: the
    next mark). ``active`` holds the engaged rules in the order they engaged."""

    day: dt.date | None = None
    losing_trades: int = 0
    entries_long: int = 0
    entries_short: int = 0
    pnl_high: float | None = 0.0
    active: tuple[Lockout, ...] = ()

    def lockout(self, rule: str) -> Lockout | None:
        """The rule's lockout while it is engaged, else None."""
        return next((lock for lock in self.active if lock.rule == rule), None)

    @property
    def cooldown_until(self) -> dt.datetime | None:
        """The end of the cooldown after a stop, None when none holds."""
        lock = self.lockout(COOLDOWN)
        return lock.until if lock is not None else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state; ``ProtectionState.from_dict(s.to_dict()) == s``."""
        return {
            "day": self.day.isoformat() if self.day is not None else None,
            "losing_trades": self.losing_trades,
            "entries_long": self.entries_long,
            "entries_short": self.entries_short,
            "pnl_high": self.pnl_high,
            "active": [lock.to_dict() for lock in self.active],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProtectionState:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown protection state fields {sorted(unknown)}")
        day = data.get("day")
        high = data.get("pnl_high", 0.0)
        return cls(
            day=dt.date.fromisoformat(day) if day is not None else None,
            losing_trades=int(data.get("losing_trades", 0)),
            entries_long=int(data.get("entries_long", 0)),
            entries_short=int(data.get("entries_short", 0)),
            pnl_high=float(high) if high is not None else None,
            active=tuple(Lockout.from_dict(d) for d in data.get("active", ())),
        )


Step = tuple[ProtectionState, list[ProtectionEvent]]


def new_day(state: ProtectionState, day: dt.date) -> Step:
    """A new day starts with nothing counted and nothing held: every engaged rule is released,
    at its own end when that came first, else at the day's start. The same day again is no
    change; an earlier day is an error (the state is the later day's)."""
    if state.day == day:
        return state, []
    if state.day is not None and day < state.day:
        raise ValueError(f"protections: day {day} is before the state's day {state.day}")
    start = dt.datetime.combine(day, dt.time())
    ends = [(min(lock.until or start, start), lock.rule) for lock in state.active]
    return ProtectionState(day=day), [Released(rule, at) for at, rule in sorted(ends)]


def tick(state: ProtectionState, cfg: ProtectionsSection, at: dt.datetime) -> Step:
    """Release what ``at`` has passed: a cooldown at its end, a lockout at ``unlock_at``, each at
    its own time. A rule switched off in ``cfg`` (a session resumed with another configuration)
    is released at ``at``."""
    state, events = new_day(state, at.date())
    if not state.active:
        return state, events
    ends: dict[str, dt.datetime] = {}
    for lock in state.active:
        if not _on(cfg, lock.rule):
            ends[lock.rule] = at
        elif lock.until is not None and at >= lock.until:
            ends[lock.rule] = lock.until
    if not ends:
        return state, events
    events += [Released(rule, end) for rule, end in sorted(ends.items(), key=lambda e: e[1])]
    state = replace(
        state,
        active=tuple(lock for lock in state.active if lock.rule not in ends),
        losing_trades=0 if LOSING_TRADES in ends else state.losing_trades,
        pnl_high=None if DRAWDOWN in ends else state.pnl_high,
    )
    return state, events


def trade_opened(
    state: ProtectionState, cfg: ProtectionsSection, at: dt.datetime, side: str
) -> Step:
    """Count an entry in the direction ``side``; the ``max_same_direction``-th engages that
    direction's cap for the rest of the day."""
    side = _side(side)
    state, events = tick(state, cfg, at)
    if side == "long":
        rule, n = SAME_LONG, state.entries_long + 1
        state = replace(state, entries_long=n)
    else:
        rule, n = SAME_SHORT, state.entries_short + 1
        state = replace(state, entries_short=n)
    cap = cfg.max_same_direction
    if cap and n >= cap and state.lockout(rule) is None:
        state = _engage(state, events, Lockout(rule, at, None, f"{side} entries capped at {cap}"))
    return state, events


def trade_closed(
    state: ProtectionState, cfg: ProtectionsSection, at: dt.datetime, reason: str, pnl_net: float
) -> Step:
    """A trade closed at ``at`` for ``reason`` (its exit reason) with ``pnl_net`` (after costs):
    a stop starts the cooldown (or starts it again), and a loss counts towards the losing-trade
    lockout."""
    if not math.isfinite(pnl_net):
        raise ValueError(f"protections: a trade's net PnL must be a finite number, got {pnl_net}")
    state, events = tick(state, cfg, at)
    wait = cfg.cooldown_after_stop_min
    if wait and reason in (PositionAction.EXIT_STOP, PositionAction.EXIT_BACKSTOP):
        until = at + dt.timedelta(minutes=wait)
        held = state.cooldown_until
        if held is None or held < until:
            state = _engage(state, events, Lockout(COOLDOWN, at, until, "cooldown after a stop"))
    if pnl_net < 0:
        n = state.losing_trades + 1
        state = replace(state, losing_trades=n)
        cap = cfg.max_losing_trades
        if cap and n >= cap and state.lockout(LOSING_TRADES) is None:
            detail = f"lockout after {n} losing trade{'s' if n > 1 else ''}"
            state = _engage(state, events, Lockout(LOSING_TRADES, at, _unlock(cfg, at), detail))
    return state, events


def marked(
    state: ProtectionState, cfg: ProtectionsSection, at: dt.datetime, day_pnl: float, capital: float
) -> Step:
    """The day's PnL as marked at ``at`` (realized plus open positions, after costs): it raises
    the day's high-water mark, and ``drawdown_lockout_pct`` of ``capital`` or more below the
    mark engages the drawdown lockout."""
    if not (math.isfinite(day_pnl) and math.isfinite(capital) and capital > 0):
        raise ValueError(f"protections: PnL {day_pnl} must be finite, capital {capital} > 0")
    state, events = tick(state, cfg, at)
    high = day_pnl if state.pnl_high is None else max(state.pnl_high, day_pnl)
    if high != state.pnl_high:
        state = replace(state, pnl_high=high)
    pct, down = cfg.drawdown_lockout_pct, high - day_pnl
    if pct and down >= pct * capital and state.lockout(DRAWDOWN) is None:
        detail = (
            f"lockout after a drawdown of {down / capital * 100:.2f} % of capital from the high"
        )
        state = _engage(state, events, Lockout(DRAWDOWN, at, _unlock(cfg, at), detail))
    return state, events


def entry_block(state: ProtectionState, cfg: ProtectionsSection, at: dt.datetime, side: str) -> str:
    """Why no entry in the direction ``side`` may go at ``at`` ("" when one may): the rule that
    holds longest, as that is when an entry may go again, and until when, e.g. "cooldown after
    a stop until 10:45". The state is read as ``tick`` would leave it at ``at``."""
    side = _side(side)
    if not state.active:
        return ""
    state, _ = tick(state, cfg, at)
    other = SAME_SHORT if side == "long" else SAME_LONG
    holding = [lock for lock in state.active if lock.rule != other]
    if not holding:
        return ""
    last = max(holding, key=lambda lock: (lock.until is None, lock.until or at))
    if last.until is None:
        return f"{last.detail} for the rest of the day"
    return f"{last.detail} until {_clock(last.until)}"


# --------------------------------------------------------------------------- helpers


def _engage(
    state: ProtectionState, events: list[ProtectionEvent], lock: Lockout
) -> ProtectionState:
    """The state with ``lock`` engaged (in place of the rule's earlier one), journaled."""
    events.append(Engaged(lock.rule, lock.since, lock.until, lock.detail))
    kept = tuple(held for held in state.active if held.rule != lock.rule)
    return replace(state, active=(*kept, lock))


def _unlock(cfg: ProtectionsSection, at: dt.datetime) -> dt.datetime | None:
    """When a lockout that starts at ``at`` ends: ``unlock_at`` that day if it is still ahead,
    else None (the day's end)."""
    if cfg.unlock_at is None:
        return None
    unlock = dt.datetime.combine(at.date(), cfg.unlock_at)
    return unlock if unlock > at else None


def _on(cfg: ProtectionsSection, rule: str) -> bool:
    """True when ``cfg`` switches ``rule`` on (its key is not 0)."""
    return bool(getattr(cfg, SWITCHES[rule]))


def _side(side: str) -> str:
    """``side`` as "long" or "short" (a ``Side`` is one); anything else is an error."""
    if side not in SIDES:
        raise ValueError(f"protections: side must be 'long' or 'short', got {side!r}")
    return str(side)


def _clock(t: dt.datetime) -> str:
    """A time of day as the status shows it: HH:MM, with seconds when there are some."""
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")
