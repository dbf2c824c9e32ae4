"""The one-line messages of operator notifications (``dyntrail.control.notify``), one per
kind of event that is told the same way every time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from dyntrail.core.events import (
    BreakerTripped,
    CloseReconciled,
    CommandApplied,
    Event,
    Fill,
    FlattenFailed,
    KillSwitch,
    OpenAtEnd,
    OrderRejected,
    RiskHalt,
    StopMoved,
    TradingStateChanged,
)


def number(x: float) -> str:
    """A number in at most four decimals, without trailing zeros."""
    text = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _clock(iso: str | None) -> str:
    """The time of day of an ISO timestamp (HH:MM), or the text as it is."""
    if not iso:
        return ""
    try:
        return dt.datetime.fromisoformat(iso).strftime("%H:%M")
    except ValueError:
        return iso


def rejected(ev: OrderRejected) -> str:
    return (
        f"REJECTED trade {ev.trade_id} {ev.side.upper()} {ev.qty} (order {ev.tag}): "
        f"{ev.reason or 'no reason given'}"
    )


def _stop_moved(ev: StopMoved) -> str | None:
    if ev.reason != "break_even":
        return None
    return f"STOP trade {ev.trade_id} to break-even at {ev.level:.2f}"


def _breaker(ev: BreakerTripped) -> str:
    until = f", until {_clock(ev.until)}" if ev.until else ""
    return f"BREAKER tripped: VIX {ev.vix:.2f} (+{number(ev.rise)}), policy {ev.policy}{until}"


def _risk_halt(ev: RiskHalt) -> str:
    return f"RISK HALT: day P&L {ev.day_pnl:.2f}; no new entries today"


def _kill(ev: KillSwitch) -> str:
    return f"KILL SWITCH: {ev.reason}"


def _flatten_failed(ev: FlattenFailed) -> str:
    return f"FLATTEN FAILED trade {ev.trade_id} {ev.instrument}: {ev.qty} still open ({ev.reason})"


def _open_at_end(ev: OpenAtEnd) -> str | None:
    if ev.qty == 0:
        return None
    return f"OPEN AT END trade {ev.trade_id} {ev.instrument}: {ev.qty} open (mark {ev.mark:.2f})"


def _command(ev: CommandApplied) -> str:
    source = f" from {ev.source}" if ev.source else ""
    detail = f": {ev.detail}" if ev.detail else ""
    return f"COMMAND {ev.command}{source}{detail}"


def _close_reconciled(ev: CloseReconciled) -> str:
    if ev.flags:
        return f"CLOSE RECONCILE FLAGGED: {'; '.join(ev.flags)}"
    held = ", ".join(f"{k} {v}" for k, v in ev.broker.items()) or "flat"
    return f"CLOSE reconciled: the broker and the journal agree ({held})"


# The events told the same way every time (the others need the notifier's state).
FORMATS: dict[type[Event], Callable[[Any], str | None]] = {
    StopMoved: _stop_moved,
    BreakerTripped: _breaker,
    RiskHalt: _risk_halt,
    KillSwitch: _kill,
    FlattenFailed: _flatten_failed,
    OpenAtEnd: _open_at_end,
    CommandApplied: _command,
    CloseReconciled: _close_reconciled,
}


# The events an operator hears about, by their journal kind.
NOTIFIED: dict[str, type[Event]] = {
    str(cls.__dataclass_fields__["kind"].default): cls
    for cls in (
        Fill,
        OrderRejected,
        StopMoved,
        BreakerTripped,
        RiskHalt,
        KillSwitch,
        TradingStateChanged,
        FlattenFailed,
        OpenAtEnd,
        CommandApplied,
        CloseReconciled,
    )
}
NOTIFIED_KINDS: frozenset[str] = frozenset(NOTIFIED)
