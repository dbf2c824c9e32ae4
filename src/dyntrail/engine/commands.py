"""Operator commands: what a person (or a control surface: ``dyntrail ctl``, the local API, the
dashboard) tells a running engine, applied between events through the risk gate and journaled.

- ``Pause(reason)`` / ``Resume()``: no new entries (the gate goes to REDUCING) / again;
  exits and stop moves go on.
- ``ClearFlag(key)``: the operator has looked at a flagged problem (reconciliation, late or
  stray fills) and clears it by its id (``F3``; None: every flag); entries may go out again.
- ``ForceExit(trade)``: exit one open position (its trade id; None: every one) at the last
  price, as ``exit_forced``; trading goes on.
- ``Kill(reason)``: the kill switch: every position flattened, working entries cancelled,
  HALTED until an ``Unlock`` (a new day does not end it); exits and protective stops still
  move.
- ``Unlock(confirm)``: leaves the kill switch; ``confirm`` must be ``UNLOCK`` (a person
  typed it).
- ``ReloadLimits(...)``: new limits (daily loss, caps) from the next decision on; the values
  are in the command (so the journal says what they were) and in the engine's state (so a
  restart keeps them).

Each applied command is a ``command`` event with what it changed, its id and its source; the
gate's new state follows as a ``trading_state`` event when it changes. A command that cannot
apply (no such flag, no such trade, an unlock without its confirmation) raises
``CommandError`` and changes nothing. ``parse`` turns the command line's and the API's words
into a command."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from dyntrail.core.events import CommandApplied
from dyntrail.core.risk import RiskLimits
from dyntrail.engine.context import Stamps
from dyntrail.engine.ports import Sinks
from dyntrail.engine.risk import RiskGate

UNLOCK_WORD = "UNLOCK"


class CommandError(ValueError):
    """A command that cannot apply, and why (nothing was changed)."""


@dataclass(frozen=True, slots=True)
class Pause:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class ClearFlag:
    key: str | None = None  # None: every flag


ClearFlags = ClearFlag  # (the name of earlier versions: clears every flag)


@dataclass(frozen=True, slots=True)
class ForceExit:
    trade: int | None = None  # None: every open position


@dataclass(frozen=True, slots=True)
class Kill:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Unlock:
    confirm: str = ""


@dataclass(frozen=True, slots=True)
class ReloadLimits:
    """The limits to change (None: unchanged); ``daily_loss_limit_pct`` of the capital."""

    daily_loss_limit_pct: float | None = None
    max_open_positions: int | None = None
    max_lots: int | None = None
    lots_per_trade: int | None = None


Command = Pause | Resume | ClearFlag | ForceExit | Kill | Unlock | ReloadLimits

NAMES: dict[str, type[Command]] = {
    "pause-entries": Pause,
    "resume-entries": Resume,
    "clear-flag": ClearFlag,
    "force-exit": ForceExit,
    "kill": Kill,
    "unlock": Unlock,
    "reload-limits": ReloadLimits,
}
"""The commands by the name the command line, the API and the journal use."""

NAME_OF = {cls: name for name, cls in NAMES.items()}


def parse(name: str, arg: str | None = None, limits: dict[str, float] | None = None) -> Command:
    """The command ``name`` with its one argument (a reason, a flag id, a trade id or ``all``,
    the unlock word) or, for ``reload-limits``, its values; ``CommandError`` saying what is
    wrong otherwise."""
    cls = NAMES.get(name)
    if cls is None:
        raise CommandError(f"unknown command {name!r}; one of: {', '.join(NAMES)}")
    a = (arg or "").strip()
    if cls is Pause:
        return Pause(a)
    if cls is Kill:
        return Kill(a)
    if cls is Resume:
        return Resume()
    if cls is Unlock:
        return Unlock(a)
    if cls is ClearFlag:
        if not a:
            raise CommandError("clear-flag needs a flag id (F1, F2...) or 'all'")
        return ClearFlag(None if a.lower() == "all" else a.upper())
    if cls is ForceExit:
        if not a or a.lower() == "all":
            return ForceExit(None)
        try:
            return ForceExit(int(a.lstrip("#")))
        except ValueError:
            raise CommandError(f"force-exit takes a trade id or 'all', not {a!r}") from None
    if limits is None and a:
        limits = {}
        for part in a.split(","):
            k, eq, v = part.partition("=")
            try:
                limits[k.strip()] = float(v)
            except ValueError:
                eq = ""
            if not eq:
                raise CommandError(f"reload-limits: {part.strip()!r} is not NAME=VALUE")
    return _limits(limits or {})


def arg_of(cmd: Command) -> str:
    """``cmd``'s argument as ``parse`` reads it back."""
    if isinstance(cmd, Pause | Kill):
        return cmd.reason
    if isinstance(cmd, ClearFlag):
        return cmd.key or "all"
    if isinstance(cmd, ForceExit):
        return "all" if cmd.trade is None else str(cmd.trade)
    if isinstance(cmd, ReloadLimits):
        values = dataclasses.asdict(cmd)
        return ",".join(f"{k}={v}" for k, v in values.items() if v is not None)
    return ""


def _limits(values: dict[str, float]) -> ReloadLimits:
    known = {f.name for f in dataclasses.fields(ReloadLimits)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CommandError(f"reload-limits: unknown limit {unknown[0]!r}; known: {sorted(known)}")
    if not values:
        raise CommandError(f"reload-limits needs at least one of {sorted(known)}")
    out: dict[str, float | int] = {}
    for k, v in values.items():
        if k == "daily_loss_limit_pct":
            if not 0 < float(v) < 1:
                raise CommandError(f"reload-limits: {k} must be a fraction in (0, 1), got {v}")
            out[k] = float(v)
        else:
            if int(v) != v or int(v) < 1:
                raise CommandError(f"reload-limits: {k} must be a whole number >= 1, got {v}")
            out[k] = int(v)
    return ReloadLimits(**out)  # type: ignore[arg-type]


def new_limits(old: RiskLimits, cmd: ReloadLimits, capital: float) -> RiskLimits:
    """``old`` with what ``cmd`` changes."""
    changes: dict[str, float | int] = {}
    if cmd.daily_loss_limit_pct is not None:
        changes["loss_floor"] = -cmd.daily_loss_limit_pct * capital
    for k in ("max_open_positions", "max_lots", "lots_per_trade"):
        v = getattr(cmd, k)
        if v is not None:
            changes[k] = v
    return dataclasses.replace(old, **changes)  # type: ignore[arg-type]


class Commands:
    """Applies the risk gate's part of a command and journals it; no state of its own (the
    positions' part, a kill's or a force-exit's flatten, is the engine's)."""

    def __init__(self, stamps: Stamps, sinks: Sinks, risk: RiskGate) -> None:
        self.stamps, self.sinks, self.risk = stamps, sinks, risk

    def apply(
        self,
        cmd: Command,
        now: dt.datetime,
        detail: str = "",
        key: str = "",
        source: str = "",
    ) -> str:
        """Apply ``cmd`` at ``now`` and journal it with ``detail`` (what the engine did for
        it), its id ``key`` and its ``source``; returns the journaled detail, or raises
        ``CommandError`` before any change when it cannot apply."""
        risk = self.risk
        if isinstance(cmd, Pause):
            risk.paused = cmd.reason or "operator"
            detail = risk.paused
        elif isinstance(cmd, Resume):
            detail, risk.paused = risk.paused, ""
        elif isinstance(cmd, ClearFlag):
            try:
                detail = "; ".join(risk.clear_flags(cmd.key))
            except KeyError as exc:
                raise CommandError(str(exc.args[0])) from None
        elif isinstance(cmd, Unlock):
            if cmd.confirm != UNLOCK_WORD:
                raise CommandError(f"unlock needs the confirmation word {UNLOCK_WORD}")
            if not risk.killed:
                raise CommandError("unlock: the kill switch is not set")
            detail = f"kill switch ({risk.unlock()}) released"
        elif isinstance(cmd, ReloadLimits):
            risk.reload(new_limits(risk.limits, cmd, risk.capital))
            detail = _describe(risk.limits)
        elif isinstance(cmd, Kill):
            detail = cmd.reason or "operator"
        self.sinks.emit(
            CommandApplied(
                ts=self.stamps.iso(now),
                command=name_of(cmd),
                detail=detail,
                arg=arg_of(cmd),
                id=key,
                source=source,
            )
        )
        return detail


def name_of(cmd: Command) -> str:
    return NAME_OF[type(cmd)]


def _describe(limits: RiskLimits) -> str:
    return (
        f"loss_floor {limits.loss_floor:.2f}, max_open_positions {limits.max_open_positions}, "
        f"max_lots {limits.max_lots}, lots_per_trade {limits.lots_per_trade}"
    )
