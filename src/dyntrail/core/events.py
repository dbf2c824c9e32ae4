"""The journal's schema: one frozen dataclass per kind of event.

Every event has ``ts`` (exchange time, ISO 8601 with the offset; None for records that belong to
the run rather than to the market) and ``kind`` (the class's, never given). Its other fields are
the journal line's keys, in the class's order: the journal writes an event as
``{"seq": n, "ts": ..., "kind": ..., <fields>}``, so the class *is* the line's shape.

Events keep their fields in an instance ``__dict__`` (no ``__slots__``): the journal's encoder
writes such a dataclass about five times as fast, and an event lives only while it is handed on.

Values are what the line holds: strings for enums and times (a ``Side`` is journaled as its
value), plain floats and ints, None for unknown. ``from_record`` turns a line read back into its
event, typed; ``SCHEMA_VERSION`` changes whenever a shape does (a journal of another version is
read as it is, but not resumed).

Version 2 (this one): ``trading_state`` and ``command`` added (the risk gate's state changes,
an operator's commands); ``order_adopted``
has one shape (``tag, state, filled, flagged``); ``day_start`` names its ``underlying``;
``state`` lines hold each engine part's state under its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from dyntrail.core.fast_init import fast_init

SCHEMA_VERSION = 2


@dataclass(frozen=True, kw_only=True)
class Event:
    """The fields every event has; ``kind`` is set by each class."""

    ts: str | None
    kind: str = field(default="", repr=False)

    KINDS: ClassVar[dict[str, type[Event]]] = {}

    def fields(self) -> dict[str, Any]:
        """The event's fields after ``kind`` (the journal line's own keys)."""
        names = _OWN.get(type(self))
        if names is None:
            names = _OWN[type(self)] = tuple(f.name for f in fields(self)[2:])
        return {n: getattr(self, n) for n in names}


_OWN: dict[type[Event], tuple[str, ...]] = {}  # each class's field names after ``kind``


def _kind(name: str) -> Any:
    """The ``kind`` field of an event class: its default is the journal's kind string. It is
    set by ``__init__`` (never given), so that it sits second in the instance's fields, where
    the journal line has it."""
    return field(default=name, repr=False)


def _register(*classes: type[Event]) -> None:
    for cls in classes:
        Event.KINDS.setdefault(str(cls.__dataclass_fields__["kind"].default), cls)
        fast_init(cls)


# ---------------------------------------------------------------------------- the run's records


@dataclass(frozen=True, kw_only=True)
class BacktestHeader(Event):
    kind: str = _kind("header")
    schema: int
    mode: str
    config_hash: str
    seed: int
    data: str
    bars: int
    first: str
    last: str
    bar_minutes: int
    quotes: str


@dataclass(frozen=True, kw_only=True)
class PaperHeader(Event):
    kind: str = _kind("header")
    schema: int
    mode: str
    config_hash: str
    seed: int
    days: int
    start: str
    data: str | None
    bars: int
    bar_minutes: int
    faults: dict[str, Any]
    quotes: str


@dataclass(frozen=True, kw_only=True)
class LiveHeader(Event):
    """The first line of a live session's journal: the day, the broker (``kite``, or ``paper``
    for a dry run on the live feed) and what it trades; never a credential."""

    kind: str = _kind("header")
    schema: int
    mode: str
    config_hash: str
    day: str
    broker: str
    underlying: str
    bar_minutes: int
    quotes: str


@dataclass(frozen=True, kw_only=True)
class DataWarning(Event):
    kind: str = _kind("data_warning")
    message: str


@dataclass(frozen=True, kw_only=True)
class State(Event):
    """The engine's parts' states after bar ``i`` (``final``: the session's last)."""

    kind: str = _kind("state")
    i: int
    state: dict[str, Any]
    final: bool = False


@dataclass(frozen=True, kw_only=True)
class Resume(Event):
    kind: str = _kind("resume")
    from_bar: int
    recovered: list[str]
    state_seq: int | None


@dataclass(frozen=True, kw_only=True)
class SessionEnd(Event):
    kind: str = _kind("session_end")
    killed: bool
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class JournalRecovered(Event):
    kind: str = _kind("journal_recovered")
    torn_line: int


# ---------------------------------------------------------------------------- the market's day


@dataclass(frozen=True, kw_only=True)
class DayStart(Event):
    kind: str = _kind("day_start")
    open: float
    gap_delay_until: str | None
    underlying: str  # the index whose session opened (one line each when several are traded)


@dataclass(frozen=True, kw_only=True)
class DayEnd(Event):
    kind: str = _kind("day_end")
    realized: float
    equity: float
    trades: int


@dataclass(frozen=True, kw_only=True)
class BreakerTripped(Event):
    kind: str = _kind("breaker_tripped")
    vix: float
    rise: float
    until: str | None
    policy: str


@dataclass(frozen=True, kw_only=True)
class Equity(Event):
    """A mark of the account (journaled by paper sessions; a backtest keeps its curve apart)."""

    kind: str = _kind("equity")
    equity: float
    realized: float
    unrealized: float


# ---------------------------------------------------------------------------- risk


@dataclass(frozen=True, kw_only=True)
class TradingStateChanged(Event):
    """The risk gate's state changed: ``active``, ``reducing`` (no new risk, exits and stop
    moves go on) or ``halted`` (no new risk for the day); ``reasons`` say why."""

    kind: str = _kind("trading_state")
    state: str
    reasons: list[str]


@dataclass(frozen=True, kw_only=True)
class CommandApplied(Event):
    """An operator's command, applied between events (``dyntrail.engine.commands``): its
    name, its argument as ``parse`` reads it, what it concerned (the reason given, the pause
    ended, the flags cleared, the trades exited, the limits now), its id (a command is
    applied once: a restart that finds its id journaled does not apply it again) and where it
    came from (``cli``, ``api``, ``dashboard``, ``kill-file``, ``signal``...)."""

    kind: str = _kind("command")
    command: str
    detail: str
    arg: str = ""
    id: str = ""
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class CommandRefused(Event):
    """An operator's command that could not apply (no such flag or trade, an unlock without
    its confirmation, a bad value): nothing changed; ``why`` says what was wrong."""

    kind: str = _kind("command_refused")
    command: str
    why: str
    arg: str = ""
    id: str = ""
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class RiskHalt(Event):
    kind: str = _kind("risk_halt")
    day_pnl: float


@dataclass(frozen=True, kw_only=True)
class KillSwitch(Event):
    kind: str = _kind("kill_switch")
    reason: str


# ---------------------------------------------------------------------------- positions


@dataclass(frozen=True, kw_only=True)
class EntrySignal(Event):
    kind: str = _kind("entry_signal")
    trade_id: int
    side: str
    underlying: float
    vix: float
    tier: str
    adx: float | None
    vwap: float | None
    instrument: str


@dataclass(frozen=True, kw_only=True)
class EntrySkipped(Event):
    kind: str = _kind("entry_skipped")
    reason: str
    side: str


@dataclass(frozen=True, kw_only=True)
class EntryAbandoned(Event):
    kind: str = _kind("entry_abandoned")
    trade_id: int
    state: str


@dataclass(frozen=True, kw_only=True)
class PositionOpen(Event):
    kind: str = _kind("position_open")
    trade_id: int
    side: str
    entry_underlying: float
    stop: float
    t1: float
    t2: float
    move_be: float
    qty: int
    tier: str


@dataclass(frozen=True, kw_only=True)
class StopMoved(Event):
    """The stop moved to ``level``; ``reason`` is what it is now: initial, break_even or
    trail."""

    kind: str = _kind("stop_moved")
    trade_id: int
    level: float
    reason: str


@dataclass(frozen=True, kw_only=True)
class T1Hit(Event):
    kind: str = _kind("t1_hit")
    trade_id: int
    level: float


@dataclass(frozen=True, kw_only=True)
class ExitWaiting(Event):
    kind: str = _kind("exit_waiting")
    trade_id: int
    action: str
    qty: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class FlattenFailed(Event):
    kind: str = _kind("flatten_failed")
    trade_id: int
    instrument: str
    qty: int
    reason: str
    closing: str | None


@dataclass(frozen=True, kw_only=True)
class PositionCarried(Event):
    kind: str = _kind("position_carried")
    trade_id: int
    qty: int


@dataclass(frozen=True, kw_only=True)
class Settlement(Event):
    kind: str = _kind("settlement")
    trade_id: int
    instrument: str
    expiry: str | None
    underlying_close: float
    intrinsic: float
    qty: int


@dataclass(frozen=True, kw_only=True)
class PositionClosed(Event):
    """A round trip ended; ``row`` is its ``trades.csv`` row."""

    kind: str = _kind("position_closed")
    trade_id: int
    reason: str
    pnl_net: float
    costs: float
    row: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class OpenAtEnd(Event):
    kind: str = _kind("open_at_end")
    trade_id: int
    instrument: str
    qty: int
    mark: float


# ---------------------------------------------------------------------------- orders and fills


@dataclass(frozen=True, kw_only=True)
class OrderSent(Event):
    """An order's intent, journaled before it is sent."""

    kind: str = _kind("order")
    tag: str
    trade_id: int
    action: str
    side: str
    qty: int
    limit: float
    decision_price: float
    underlying: float
    instrument: str
    attempt: int
    bid: float
    ask: float


@dataclass(frozen=True, kw_only=True)
class StopSent(Event):
    """A backstop's intent (a stop-limit resting at the exchange), journaled before it is
    sent: its trigger and limit on the option, and the underlying ``level`` they map."""

    kind: str = _kind("stop_order")
    tag: str
    trade_id: int
    action: str
    side: str
    qty: int
    trigger: float
    limit: float
    level: float
    instrument: str
    attempt: int


@dataclass(frozen=True, kw_only=True)
class StopModify(Event):
    """A backstop moved after the engine's stop (journaled before the modify is sent); ``used``
    counts the order's modifications with this one."""

    kind: str = _kind("stop_modify")
    tag: str
    trigger: float
    limit: float
    level: float
    used: int


@dataclass(frozen=True, kw_only=True)
class BackstopEscalated(Event):
    """A backstop triggered and did not fill within ``[backstop] escalate_after_s``: it is
    cancelled and the engine sends its own exit."""

    kind: str = _kind("backstop_escalated")
    tag: str
    trade_id: int
    waited_s: float


@dataclass(frozen=True, kw_only=True)
class OrderCancel(Event):
    kind: str = _kind("order_cancel")
    tag: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderRefused(Event):
    kind: str = _kind("order_refused")
    tag: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderUnknown(Event):
    kind: str = _kind("order_unknown")
    tag: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderSynced(Event):
    kind: str = _kind("order_synced")
    tag: str
    state: str
    on_book: bool


@dataclass(frozen=True, kw_only=True)
class OrderRecovered(Event):
    kind: str = _kind("order_recovered")
    tag: str


@dataclass(frozen=True, kw_only=True)
class OrderAdopted(Event):
    """An order we did not decide in this process: on the broker's book but never journaled,
    or journaled before a restart and not decided again (``state``/``filled`` None)."""

    kind: str = _kind("order_adopted")
    tag: str
    state: str | None
    filled: int | None
    flagged: bool


@dataclass(frozen=True, kw_only=True)
class BrokerUpdate(Event):
    """An update from the broker, as it arrived (``event``: ack, fill, cancel, reject...)."""

    kind: str = _kind("broker_event")
    tag: str
    broker_order_id: str | None
    fill_id: str | None
    qty: int
    price: float
    reason: str
    event: str


@dataclass(frozen=True, kw_only=True)
class OrphanEvent(Event):
    kind: str = _kind("orphan_event")
    tag: str
    event: str


@dataclass(frozen=True, kw_only=True)
class Fill(Event):
    """One leg booked on a trade: an order's fill, or the exchange's settlement (no tag, no
    decision price). Its fields after ``fill_id`` are the ``fills.csv`` row but ``ts``."""

    kind: str = _kind("fill")
    fill_id: str
    trade_id: int
    leg: int
    action: str
    side: str
    qty: int
    price: float
    decision_price: float | str
    slippage: float | str
    slippage_pct: float | str
    underlying: float
    costs: float
    cost_brokerage: float
    cost_stt: float
    cost_exchange: float
    cost_sebi: float
    cost_ipft: float
    cost_stamp: float
    cost_gst: float
    tag: str
    ack_ms: float | str

    def row(self) -> dict[str, Any]:
        """The ``fills.csv`` row."""
        row = self.fields()
        del row["fill_id"]
        row["ts"] = self.ts
        return row


@dataclass(frozen=True, kw_only=True)
class OrderRejected(Event):
    """An order the broker rejected; its fields after ``reason`` are its ``fills.csv`` row
    but ``ts``."""

    kind: str = _kind("order_rejected")
    reason: str | None
    trade_id: int
    leg: str
    action: str
    side: str
    qty: int
    price: str
    decision_price: float
    slippage: str
    slippage_pct: str
    underlying: float
    costs: float
    tag: str
    ack_ms: str

    def row(self) -> dict[str, Any]:
        """The ``fills.csv`` row."""
        row = self.fields()
        del row["reason"]
        row["ts"] = self.ts
        return row


@dataclass(frozen=True, kw_only=True)
class LateFill(Event):
    kind: str = _kind("late_fill")
    tag: str
    trade_id: int
    qty: int


@dataclass(frozen=True, kw_only=True)
class ProtectionEngaged(Event):
    """A protection (``[protections]``) holds new entries back from ``ts`` until ``until``
    (None: the rest of the day)."""

    kind: str = _kind("protection_engaged")
    rule: str
    until: str | None
    detail: str


@dataclass(frozen=True, kw_only=True)
class ProtectionReleased(Event):
    kind: str = _kind("protection_released")
    rule: str


@dataclass(frozen=True, kw_only=True)
class Reconciled(Event):
    kind: str = _kind("reconciled")
    flags: list[str]
    live_orders: list[str]
    recovered: list[str]


@dataclass(frozen=True, kw_only=True)
class CloseReconciled(Event):
    """The broker held against the journal once the session is over (flattened, drained):
    positions by instrument, the broker's and the journal's (flat ones left out), and the flags
    this check raised (``flags`` empty: they agree)."""

    kind: str = _kind("reconciled_close")
    broker: dict[str, int]
    journal: dict[str, int]
    flags: list[str]


_register(
    DataWarning, State, Resume, SessionEnd, JournalRecovered, DayStart, DayEnd, BreakerTripped,
    Equity, TradingStateChanged, CommandApplied, CommandRefused, RiskHalt, KillSwitch, EntrySignal,
    EntrySkipped, EntryAbandoned,
    PositionOpen, StopMoved, T1Hit, ExitWaiting, FlattenFailed, PositionCarried, Settlement,
    PositionClosed, OpenAtEnd, OrderSent, OrderCancel, OrderRefused, OrderUnknown, OrderSynced,
    OrderRecovered, OrderAdopted, BrokerUpdate, OrphanEvent, Fill, OrderRejected, LateFill,
    Reconciled, CloseReconciled, ProtectionEngaged, ProtectionReleased, StopSent, StopModify,
    BackstopEscalated,
)  # fmt: skip
_HEADERS: dict[str, type[Event]] = {
    "backtest": BacktestHeader,
    "paper": PaperHeader,
    "live": LiveHeader,
}


class UnknownEvent(ValueError):
    """A journal line whose kind (or header mode) this schema does not know."""


def from_record(record: dict[str, Any]) -> Event:
    """The typed event of a journal line read back (``seq`` dropped). Raises ``UnknownEvent``
    for a kind this schema does not have, ``TypeError`` for a line whose keys are not its
    kind's."""
    kind = record.get("kind")
    cls = _HEADERS.get(record.get("mode", "")) if kind == "header" else Event.KINDS.get(str(kind))
    if cls is None:
        raise UnknownEvent(f"unknown event kind {kind!r}")
    args = {k: v for k, v in record.items() if k not in ("seq", "kind")}
    return cls(**args)
