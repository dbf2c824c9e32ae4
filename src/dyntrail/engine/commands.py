"""Operator commands: what a person (or a control tool) tells a running engine, applied
between bars through the risk gate and journaled.

- ``Pause(reason)``: no new entries (the gate goes to REDUCING); exits and stop moves go on.
- ``Resume()``: the pause ends.
- ``ClearFlags()``: the operator has looked at the flagged problems (reconciliation, late or
  stray fills) and clears them; entries may go out again.
- ``Kill(reason)``: the kill switch: the day halts and every position is flattened at the last
  close (the engine does the flatten; ``Engine.command``).

Each applied command is a ``command`` event with what it changed; the gate's new state follows
as a ``trading_state`` event when it changes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dyntrail.core.events import CommandApplied
from dyntrail.engine.context import Stamps
from dyntrail.engine.ports import Sinks
from dyntrail.engine.risk import RiskGate


@dataclass(frozen=True, slots=True)
class Pause:
    reason: str


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class ClearFlags:
    pass


@dataclass(frozen=True, slots=True)
class Kill:
    reason: str


Command = Pause | Resume | ClearFlags | Kill


class Commands:
    """Applies commands to the risk gate and journals them; no state of its own."""

    def __init__(self, stamps: Stamps, sinks: Sinks, risk: RiskGate) -> None:
        self.stamps, self.sinks, self.risk = stamps, sinks, risk

    def apply(self, cmd: Command, now: dt.datetime) -> None:
        """Apply ``cmd`` at ``now`` (a ``Kill``'s flatten is the engine's)."""
        risk = self.risk
        detail = ""
        if isinstance(cmd, Pause):
            risk.paused = cmd.reason or "operator"
            detail = risk.paused
        elif isinstance(cmd, Resume):
            detail, risk.paused = risk.paused, ""
        elif isinstance(cmd, ClearFlags):
            detail = "; ".join(risk.flags)
            risk.flags.clear()
        else:
            detail = cmd.reason
        name = type(cmd).__name__.lower()
        self.sinks.emit(CommandApplied(ts=self.stamps.iso(now), command=name, detail=detail))
