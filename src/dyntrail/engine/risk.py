"""The risk gate: the one place that says whether new risk may go out.

It keeps the trading state (``dyntrail.core.risk``: ACTIVE, REDUCING, HALTED), the day's halt,
the flags that need an operator (reconciliation problems, late fills) and an operator's pause.
Every entry and every order asks it; the daily loss limit, the breaker's policy, the position
cap and the kill switch are its rules, each written once in ``dyntrail.core.risk``. A change of
state is an event (``trading_state``) with its reasons, so an exit that cannot fill shows as
REDUCING, never as a crash."""

from __future__ import annotations

import dataclasses
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
        # problems an operator must clear, by id ("F1", "F2"...): no entries meanwhile
        self.flags: dict[str, str] = {}
        self._flag_seq = 0
        self.paused = ""  # an operator's pause, with its reason
        self.killed = ""  # the kill switch's reason: halted until an operator's unlock
        self.reloaded = False  # the limits were reloaded by an operator (kept in the state)
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

    def flag(self, problem: str) -> str:
        """A problem an operator must see and clear (by its id, ``clear-flag``); entries stop
        until then. Returns its id."""
        self._flag_seq += 1
        key = f"F{self._flag_seq}"
        self.flags[key] = problem
        return key

    def flag_lines(self) -> list[str]:
        """The flags standing, each as "id text"."""
        return [f"{k} {text}" for k, text in self.flags.items()]

    def clear_flags(self, key: str | None) -> list[str]:
        """Clear flag ``key`` (None: every flag); returns what was cleared, as "id text".
        ``KeyError`` naming the flags that stand when ``key`` is not one of them."""
        keys = list(self.flags) if key is None else [key]
        if key is not None and key not in self.flags:
            standing = ", ".join(self.flags) or "none"
            raise KeyError(f"no flag {key} (flags standing: {standing})")
        return [f"{k} {self.flags.pop(k)}" for k in keys]

    def reload(self, limits: RiskLimits) -> None:
        """An operator's new limits (daily loss, caps), from the next decision on."""
        self.limits = limits
        self.reloaded = True

    def halt_on_loss(self, t: dt.datetime, day_pnl: float) -> None:
        """The daily loss limit is reached: the day halts (the caller exits what is open)."""
        self.halted = "daily_loss"
        self.sinks.emit(RiskHalt(ts=self.stamps.iso(t), day_pnl=round(day_pnl, 2)))

    def kill(self, t: dt.datetime, reason: str) -> None:
        """The kill switch: trading halts (the caller flattens) until an operator unlocks it,
        whatever the day."""
        self.halted = "kill_switch"
        self.killed = reason or "operator"
        self.sinks.emit(KillSwitch(ts=self.stamps.iso(t), reason=reason))

    def unlock(self) -> str:
        """The kill switch released (an operator's ``unlock``): returns why it had been set
        ("" when it was not)."""
        was, self.killed = self.killed, ""
        if self.halted == "kill_switch":
            self.halted = ""
        return was

    def new_day(self, day: dt.date | None = None) -> None:
        """A day's halt ends with its day, the kill switch's does not (only ``unlock``); flags
        and a pause stay until cleared. The day's protections end too."""
        self.halted = "kill_switch" if self.killed else ""
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
        reasons = self.flag_lines()
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
            "flags": list(self.flags.values()),
            "paused": self.paused,
            "state": self.state.value,
            "reasons": list(self.reasons),
        }
        # what an operator set, only when set (states saved before these still load, and a
        # run without an operator journals the same state lines)
        if self.flags:
            out["flag_ids"] = list(self.flags)
        if self._flag_seq:
            out["flag_seq"] = self._flag_seq
        if self.killed:
            out["killed"] = self.killed
        if self.reloaded:
            out["limits"] = dataclasses.asdict(self.limits)
        if self.protections.enabled:  # (absent otherwise: states saved before it still load)
            out["protections"] = self.guard.to_dict()
        return out

    def restore(self, s: dict[str, Any]) -> None:
        self.halted, self.paused = s["halted"], s["paused"]
        texts = list(s["flags"])
        ids = s.get("flag_ids") or [f"F{k}" for k in range(1, len(texts) + 1)]
        self.flags = dict(zip(ids, texts, strict=True))
        self._flag_seq = int(s.get("flag_seq", len(texts)))
        self.killed = s.get("killed", "")
        if "limits" in s:
            self.limits, self.reloaded = RiskLimits(**s["limits"]), True
        self.state, self.reasons = TradingState(s["state"]), list(s["reasons"])
        if "protections" in s:
            self.guard = guards.ProtectionState.from_dict(s["protections"])
