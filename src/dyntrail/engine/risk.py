"""The risk gate: the one place that says whether new risk may go out.

It keeps the trading state (``dyntrail.core.risk``: ACTIVE, REDUCING, HALTED), the day's halt,
the flags that need an operator (reconciliation problems, late fills) and an operator's pause.
Every entry and every order asks it; the daily loss limit, the breaker's policy, the position
cap and the kill switch are its rules, each written once in ``dyntrail.core.risk``. A change of
state is an event (``trading_state``) with its reasons, so an exit that cannot fill shows as
REDUCING, never as a crash."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from dyntrail.core import protections as guards
from dyntrail.core import risk as rules
from dyntrail.core.config_protections import ProtectionsSection
from dyntrail.core.events import (
    KillSwitch,
    PositionClosed,
    PositionOpen,
    ProtectionEngaged,
    ProtectionReleased,
    RiskHalt,
    TradingStateChanged,
)
from dyntrail.core.risk import RiskLimits, TradingState
from dyntrail.engine.context import Stamps
from dyntrail.engine.ports import Sinks
from dyntrail.trade import Trade


class RiskGate:
    """The trading state and its rules (see the module docstring)."""

    def __init__(
        self,
        limits: RiskLimits,
        stamps: Stamps,
        sinks: Sinks,
        protections: ProtectionsSection | None = None,
        capital: float = 1.0,
    ) -> None:
        self.limits = limits
        self.stamps = stamps
        self.sinks = sinks
        # the protections (``core.protections``): followed only when one is switched on
        self.protections = protections or ProtectionsSection()
        self.capital = capital
        self.guard = guards.ProtectionState()
        self.halted = ""  # why the day is halted ("" when it is not)
        self.flags: list[str] = []  # problems an operator must clear: no entries meanwhile
        self.paused = ""  # an operator's pause, with its reason
        self.stale = ""  # a live feed that went quiet, and since when (not saved: it is now's)
        self.state = TradingState.ACTIVE
        self.reasons: list[str] = []

    # ------------------------------------------------------------------ questions

    def entry_refusal(self, open_positions: int) -> str:
        """Why no entry may go out now ("" when one may)."""
        return rules.entry_refusal(self.state, open_positions, self.limits)

    def order_refusal(self, action: str) -> str:
        """Why an order for ``action`` may not go out ("" when it may): exits always may."""
        return rules.order_refusal(self.state, reduces=action != "entry")

    def protection_block(self, t: dt.datetime, side: str) -> str:
        """Why a protection holds an entry of ``side`` back at ``t`` ("" when none does)."""
        if not self.protections.enabled:
            return ""
        return guards.entry_block(self.guard, self.protections, t, side)

    def loss_limit_hit(self, day_pnl: float) -> bool:
        return rules.loss_limit_hit(day_pnl, self.limits)

    def breaker_flattens(self, tripped: bool) -> bool:
        return rules.breaker_flattens(tripped, self.limits)

    # ------------------------------------------------------------------ changes

    def flag(self, problem: str) -> None:
        """A problem an operator must see and clear; entries stop until then."""
        self.flags.append(problem)

    def halt_on_loss(self, t: dt.datetime, day_pnl: float) -> None:
        """The daily loss limit is reached: the day halts (the caller exits what is open)."""
        self.halted = "daily_loss"
        self.sinks.emit(RiskHalt(ts=self.stamps.iso(t), day_pnl=round(day_pnl, 2)))

    def kill(self, t: dt.datetime, reason: str) -> None:
        """The kill switch: the day halts (the caller flattens)."""
        self.halted = "kill_switch"
        self.sinks.emit(KillSwitch(ts=self.stamps.iso(t), reason=reason))

    def new_day(self, day: dt.date | None = None) -> None:
        """A day's halt ends with its day; flags and a pause stay until cleared. The day's
        protections end too."""
        self.halted = ""
        if day is not None and self.protections.enabled:
            self._guard(guards.new_day(self.guard, day))

    # ------------------------------------------------------------------ protections

    def follow(self, ev: PositionOpen | PositionClosed) -> None:
        """A position opened or closed (a route of the engine's sinks, when a protection is
        on): the protections count it."""
        if ev.ts is None:  # (every position event has its time)
            return
        t = self.stamps.naive(ev.ts)
        if isinstance(ev, PositionOpen):
            self._guard(guards.trade_opened(self.guard, self.protections, t, ev.side))
        else:
            step = guards.trade_closed(self.guard, self.protections, t, ev.reason, ev.pnl_net)
            self._guard(step)

    def marked(self, t: dt.datetime, day_pnl: float) -> None:
        """The day's PnL as marked at ``t`` (the drawdown lockout); releases what ended."""
        if self.protections.enabled:
            step = guards.marked(self.guard, self.protections, t, day_pnl, self.capital)
            self._guard(step)

    def tick(self, t: dt.datetime) -> None:
        """Time passed: a cooldown or a lockout whose time came is released."""
        if self.protections.enabled and self.guard.active:
            self._guard(guards.tick(self.guard, self.protections, t))

    def _guard(self, step: guards.Step) -> None:
        self.guard, events = step
        iso = self.stamps.iso
        for e in events:
            if isinstance(e, guards.Engaged):
                until = iso(e.until) if e.until is not None else None
                self.sinks.emit(
                    ProtectionEngaged(ts=iso(e.at), rule=e.rule, until=until, detail=e.detail)
                )
            else:
                self.sinks.emit(ProtectionReleased(ts=iso(e.at), rule=e.rule))

    def update(self, t: dt.datetime, trades: Iterable[Trade]) -> TradingState:
        """Work out the state at ``t`` from the halt, the flags, a pause and the open trades
        (an exit waiting for a bid, a position carried overnight); a change is journaled."""
        if self.state is TradingState.ACTIVE and not (
            self.halted or self.flags or self.paused or self.stale
        ):
            for tr in trades:  # a loop, not any(): this runs on every bar
                if tr.waiting or tr.carried:
                    break
            else:
                return self.state  # the common bar: nothing stands, nothing changed
        reasons = list(self.flags)
        if self.paused:
            reasons.append(f"paused: {self.paused}")
        if self.stale:
            reasons.append(f"feed stale: {self.stale}")
        for tr in trades:
            if tr.waiting:
                reasons.append(f"trade {tr.trade_id}: exit waiting ({tr.waiting})")
            elif tr.carried:
                reasons.append(f"trade {tr.trade_id}: carried past the close")
        if self.halted:
            reasons.insert(0, self.halted)
        state = rules.state_of(bool(self.halted), reasons)
        if state is not self.state or reasons != self.reasons:
            changed = state is not self.state
            self.state, self.reasons = state, reasons
            if changed:
                self.sinks.emit(
                    TradingStateChanged(ts=self.stamps.iso(t), state=state.value, reasons=reasons)
                )
        return state

    # ------------------------------------------------------------------ persistence

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "halted": self.halted,
            "flags": list(self.flags),
            "paused": self.paused,
            "state": self.state.value,
            "reasons": list(self.reasons),
        }
        if self.protections.enabled:  # (absent otherwise: states saved before it still load)
            out["protections"] = self.guard.to_dict()
        return out

    def restore(self, s: dict[str, Any]) -> None:
        self.halted, self.flags, self.paused = s["halted"], list(s["flags"]), s["paused"]
        self.state, self.reasons = TradingState(s["state"]), list(s["reasons"])
        if "protections" in s:
            self.guard = guards.ProtectionState.from_dict(s["protections"])
