"""Closed sets and value objects shared by the core (the design document's types).

Names are the document's, made Pythonic: ``PositionSide`` is ``Side``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Side(enum.StrEnum):
    """Direction of the view on the underlying. LONG buys the ATM call, SHORT buys the ATM put."""

    LONG = "long"
    SHORT = "short"

    sign: int
    """+1 for LONG, -1 for SHORT: favourable underlying moves have this sign (a plain attribute,
    set once per member: it is read on every bar)."""

    def __init__(self, value: str) -> None:
        self.sign = 1 if value == "long" else -1


class VixTier(enum.StrEnum):
    """Volatility regime from India VIX (half-open ranges, see ``vix_tier``)."""

    LOW = "low"
    NORMAL = "normal"
    REDUCED = "reduced"
    HIGH = "high"
    HALT = "halt"


class PositionAction(enum.StrEnum):
    """What a position asks the engine to do. The first three are the design document's strings."""

    EXIT_STOP = "exit_stop"
    SCALE_OUT_T1 = "scale_out_t1"
    EXIT_TARGET2 = "exit_target2"
    # Added by dyntrail (clocked positions, risk layer).
    EXIT_TARGET1 = "exit_target1"  # T1 reached with one lot and single_lot_at_t1 = "exit_all"
    T1_REACHED = "t1_reached"  # T1 reached with one lot and single_lot_at_t1 = "skip": no order
    EXIT_TIME = "exit_time"  # time stop: neither break-even nor T1 within time_stop_min
    EXIT_EOD = "exit_eod"  # forced flatten at the session's flatten time
    EXIT_BREAKER = "exit_breaker"  # VIX-spike circuit breaker with policy "flatten"
    EXIT_RISK = "exit_risk"  # daily loss limit reached
    EXIT_KILL = "exit_kill"  # operator kill switch
    # Added for expiry and unfillable exits.
    EXIT_CARRIED = "exit_carried"  # a position flatten could not close, exited next session
    EXIT_SETTLED = "exit_settled"  # held to expiry: settled by the exchange at intrinsic value
    # Added for the exchange-resident stop.
    EXIT_BACKSTOP = "exit_backstop"  # the backstop's stop-limit filled at the exchange
    # Added for operator control.
    EXIT_FORCED = "exit_forced"  # an operator's force-exit of one position (or all)

    closes_position: bool
    """True when the action exits the whole remaining quantity (set once per member)."""

    def __init__(self, value: str) -> None:
        self.closes_position = value not in ("scale_out_t1", "t1_reached")

    @property
    def needs_order(self) -> bool:
        """True when the action must become an option order."""
        return self not in (PositionAction.T1_REACHED, PositionAction.EXIT_SETTLED)


class StopKind(enum.StrEnum):
    """What the stop is: the initial risk stop, break-even (the entry), or a trail."""

    INITIAL = "initial"
    BREAK_EVEN = "break_even"
    TRAIL = "trail"


class TrailMethod(enum.StrEnum):
    """How the remainder is trailed after T1."""

    ATR = "atr"
    SWING = "swing"


@dataclass(frozen=True, slots=True)
class DynamicTargets:
    """Price levels on the underlying for one entry (the design document's ``DynamicTargets``)."""

    t1_underlying: float
    t2_underlying: float
    stop_underlying: float
    move_be_underlying: float
