"""The journal: an append-only JSONL write-ahead log of every decision and order event.

One JSON object per line: ``{"seq": n, "ts": "...", "kind": "...", ...}`` with sequence numbers
that rise by one from 1; the first line is a ``header`` with the schema version and the hash of
the resolved config. Lines are UTF-8, written by orjson in a fixed key order with the shortest
float repr (a str enum as its value), so the same run writes the same bytes; NaN is refused.
With ``fsync=True`` each line is flushed and fsynced before ``write`` returns: an intent is on
disk before it is acted on. With ``group_s`` as well (group commit, live and paper), every line is
written to the file at once (a crash of the process loses none of them) and fsynced by a
committer thread within ``group_s`` seconds; an order intent or a command (``order``,
``order_cancel``, ``command``, ``kill_switch``) is made durable before ``emit`` returns by
copying the bytes not yet fsynced, its own line and those before it, into the journal's redo log
(``journal_redo``), which a reopening restores from. A crash of the machine may lose up to
``group_s`` of the lines after the last intent, never an intent nor a line before one; what they
said, fills above all, the broker's book gives back on the restart.

A crash can tear the last line. Reopening a journal whose last line is torn keeps those bytes (they
are never rewritten), ends the fragment with a newline and appends a ``journal_recovered`` event
naming its line; readers skip a torn line with a warning. Any other unreadable line is an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import operator
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import orjson

from dyntrail.core.events import (
    SCHEMA_VERSION,
    CommandApplied,
    Event,
    JournalRecovered,
    KillSwitch,
    OrderCancel,
    OrderSent,
    StopModify,
    StopSent,
    UnknownEvent,
    from_record,
)
from dyntrail.errors import JournalError
from dyntrail.journal_redo import GroupCommit, redo_path, restore

__all__ = ["SCHEMA_VERSION", "Journal", "NullJournal", "read_events", "read_journal"]

# orjson: about ten times faster than the standard library's encoder on these small records
# (the journal was a fifth of a backtest's time). Datetimes are passed through to ``_default``
# so that one is refused (write ``iso`` strings), as the standard library would.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def _default(o: Any) -> Any:
    """numpy scalars as Python numbers; anything else orjson cannot write is an error."""
    if isinstance(o, np.generic) and isinstance(o.item(), bool | int | float):
        return o.item()
    raise TypeError(f"cannot journal a {type(o).__name__}: {o!r}")


def _not_finite(o: Any) -> str | None:
    """The key path of the first NaN or infinity in ``o`` (orjson writes them as null)."""
    items = o.items() if isinstance(o, dict) else enumerate(o)
    for k, v in items:
        if isinstance(v, float):
            if not math.isfinite(v):
                return str(k)
        elif isinstance(v, dict | list | tuple):
            bad = _not_finite(v)
            if bad is not None:
                return f"{k}.{bad}"
    return None


def encode_line(record: dict[str, Any]) -> bytes:
    """One journal line, ending with its newline: compact JSON, keys in the record's order.
    A NaN or infinite number is refused (``JournalError`` naming the key): it could not be
    read back as a number."""
    try:
        line = orjson.dumps(record, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:  # a type it cannot write, an int beyond 64 bits
        raise JournalError(f"cannot journal a {record.get('kind', 'record')}: {exc}") from exc
    # Each top-level None writes one null; any more (a NaN, a nested None, "null" in a string)
    # and the record is searched.
    if b"null" in line and line.count(b"null") != list(record.values()).count(None):
        bad = _not_finite(record)
        if bad is not None:
            raise JournalError(
                f"refusing to journal a {record.get('kind', 'record')} with a non-finite "
                f"number at {bad!r}"
            )
    return line


# each event class's fields but kind, read all at once (``attrgetter`` of two names or more
# gives a tuple; ``ts`` and one field at least)
_VALUES: dict[type[Event], Callable[[Event], tuple[Any, ...]]] = {}


def _values(cls: type[Event]) -> Callable[[Event], tuple[Any, ...]]:
    names = [n for n in cls.__dataclass_fields__ if n != "kind"]
    if len(names) == 1:
        get = operator.attrgetter(names[0])
        _VALUES[cls] = values = lambda ev: (get(ev),)
    else:
        _VALUES[cls] = values = operator.attrgetter(*names)
    return values


def encode_event(seq: int, ev: Event) -> bytes:
    """One journal line of a typed event: the same bytes as ``encode_line`` of its record
    (``seq``, then the event's fields in its class's order)."""
    try:
        body = orjson.dumps(ev, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise JournalError(f"cannot journal a {ev.kind}: {exc}") from exc
    nulls = body.count(b"null")  # (faster than ``in``)
    if nulls:  # a NaN is written as null: search only when one may be there
        values = _VALUES.get(type(ev)) or _values(type(ev))
        if nulls != values(ev).count(None):
            record = {"ts": ev.ts, **ev.fields()}
            bad = _not_finite(record)
            if bad is not None:
                raise JournalError(
                    f"refusing to journal a {ev.kind} with a non-finite number at {bad!r}"
                )
    return b'{"seq":%d,' % seq + body[1:]


SECRET_KEYS = ("api_key", "api_secret", "access_token", "password", "totp", "secret")
_CHECKED_KEYS: set[str] = set()  # field names already found not to be credentials
_CHECKED_EVENTS: set[type[Event]] = set()  # event classes whose fields were checked


def config_hash(config_toml: str) -> str:
    """A short stable hash of the resolved config text."""
    return hashlib.sha256(config_toml.encode("utf-8")).hexdigest()[:16]


@dataclass(slots=True)
class JournalRead:
    """The events of a journal and what was skipped."""

    events: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    torn_tail: bool = False


def read_events(path: str | Path) -> list[Event]:
    """A journal's events, typed (``dyntrail.core.events``); a torn line is skipped as by
    ``read_journal``. A line of a kind this schema does not know is an error naming its line."""
    out: list[Event] = []
    for n, record in enumerate(read_journal(path).events, start=1):
        try:
            out.append(from_record(record))
        except (UnknownEvent, TypeError) as exc:
            raise JournalError(f"{path}: event {n} (seq {record.get('seq')}): {exc}") from exc
    return out


def read_journal(path: str | Path) -> JournalRead:
    """Parse a journal; a torn line is skipped with a warning (see the module docstring)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise JournalError(f"{p}: cannot read journal: {exc.strerror or exc}") from exc
    lines = raw.split(b"\n")
    ends_clean = raw.endswith(b"\n") or not raw
    if ends_clean:
        lines = lines[:-1]
    out = JournalRead([])
    pending_torn: int | None = None
    for n, line in enumerate(lines, start=1):
        try:
            ev = orjson.loads(line)
            if not isinstance(ev, dict) or "seq" not in ev or "kind" not in ev:
                raise ValueError("not a journal event")
        except ValueError:
            last = n == len(lines)
            if last and not ends_clean:
                out.warnings.append(f"{p}: line {n}: torn last line (crash mid-write) skipped")
                out.torn_tail = True
                continue
            if pending_torn is not None:
                raise JournalError(f"{p}: line {n}: unreadable line") from None
            pending_torn = n
            continue
        if pending_torn is not None:
            if ev.get("kind") != "journal_recovered" or ev.get("torn_line") != pending_torn:
                raise JournalError(f"{p}: line {pending_torn}: unreadable line")
            out.warnings.append(f"{p}: line {pending_torn}: torn line skipped (recovered)")
            pending_torn = None
        if out.events and ev["seq"] != out.events[-1]["seq"] + 1:
            raise JournalError(
                f"{p}: line {n}: sequence {ev['seq']} after {out.events[-1]['seq']} "
                "(numbers must rise by one)"
            )
        out.events.append(ev)
    if pending_torn is not None:
        raise JournalError(f"{p}: line {pending_torn}: unreadable line")
    return out


class Journal:
    """Append events to ``path``: a new file, or an existing journal continued after its last
    sequence number (a torn tail is closed off first, see the module docstring)."""

    def __init__(
        self, path: str | Path, *, fsync: bool = False, group_s: float | None = None
    ) -> None:
        self.path = Path(path)
        self._fsync = fsync and group_s is None  # every line fsynced at once
        self._group: GroupCommit | None = None
        self.seq = 0
        torn_line: int | None = None
        if group_s is not None:
            restore(self.path)  # what a machine's crash took from the journal's tail
        if self.path.exists() and self.path.stat().st_size > 0:
            read = read_journal(self.path)
            self.seq = read.events[-1]["seq"] if read.events else 0
            if read.torn_tail:
                torn_line = self.path.read_bytes().count(b"\n") + 1
        # a journal that is not fsynced line by line (a backtest's) writes in large blocks; a
        # group-committed one writes each line at once (no buffer in this process)
        buffering = 0 if group_s is not None else -1 if fsync else 1 << 20
        self._fh: IO[bytes] = self.path.open("ab", buffering=buffering)
        if group_s is not None:
            self._group = GroupCommit(self._fh, group_s, redo_path(self.path))
        if torn_line is not None:
            if self._group is not None:  # (its count of the file's bytes must see it)
                self._group.write(b"\n", False)
            else:
                self._fh.write(b"\n")
            self.emit(JournalRecovered(ts=None, torn_line=torn_line))

    def write(self, kind: str, ts: dt.datetime | str | None, **fields: Any) -> int:
        """Append one event; returns its sequence number."""
        if not _CHECKED_KEYS.issuperset(fields):
            for key in fields:
                if key.lower() in SECRET_KEYS:
                    raise JournalError(f"refusing to journal a credential field {key!r}")
            _CHECKED_KEYS.update(fields)
        seq = self.seq + 1
        stamp = ts.isoformat() if isinstance(ts, dt.datetime) else ts
        line = encode_line({"seq": seq, "ts": stamp, "kind": kind, **fields})
        self.seq = seq  # (a refused record took no sequence number)
        if self._group is not None:
            self._group.write(line, kind in _INTENT_KINDS)
            return seq
        self._fh.write(line)
        if self._fsync:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return seq

    def emit(self, ev: Event) -> int:
        """Append one typed event; returns its sequence number."""
        cls = type(ev)
        if cls not in _CHECKED_EVENTS:
            for key in ev.fields():
                if key.lower() in SECRET_KEYS:
                    raise JournalError(f"refusing to journal a credential field {key!r}")
            _CHECKED_EVENTS.add(cls)
        seq = self.seq + 1
        line = encode_event(seq, ev)
        self.seq = seq  # (a refused record took no sequence number)
        if self._group is not None:
            self._group.write(line, cls in _INTENTS)
            return seq
        self._fh.write(line)
        if self._fsync:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return seq

    def sync(self) -> None:
        """Make every line written so far durable now (what the committer of a group-committed
        journal does on its own within ``group_s``)."""
        if self._group is not None:
            self._group.sync()
        else:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Flush and close; a durable journal (``fsync=True``) is fsynced first."""
        if not self._fh.closed:
            self._fh.flush()
            if self._group is not None:
                self._group.stop()  # the journal fsynced, its redo log removed
            elif self._fsync:
                os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_INTENTS: frozenset[type[Event]] = frozenset(
    {OrderSent, StopSent, StopModify, OrderCancel, CommandApplied, KillSwitch}
)
_INTENT_KINDS = frozenset(
    next(str(f.default) for f in fields(c) if f.name == "kind") for c in _INTENTS
)


class NullJournal(Journal):
    """A journal that keeps nothing, for a run whose results stay in memory
    (``dyntrail.backtest`` without ``out``): events are numbered as a journal numbers them and
    dropped unread, so it also refuses nothing a file journal would refuse (a NaN, a credential
    field). ``path`` is the null device."""

    def __init__(self) -> None:  # no file is opened
        self.path = Path(os.devnull)
        self._fsync = False
        self._group = None
        self.seq = 0

    def write(self, kind: str, ts: dt.datetime | str | None, **fields: Any) -> int:
        """Drop one event; returns the sequence number it would have had."""
        self.seq += 1
        return self.seq

    def emit(self, ev: Event) -> int:
        """Drop one typed event; returns the sequence number it would have had."""
        self.seq += 1
        return self.seq

    def close(self) -> None:
        """Nothing to flush."""


def summarize(read: JournalRead) -> dict[str, Any]:
    """What ``dyntrail journal verify`` prints: counts by kind, span, trades, open state."""
    events = read.events
    kinds = Counter(ev["kind"] for ev in events)
    header = events[0] if events and events[0]["kind"] == "header" else None
    stamps = [ev["ts"] for ev in events if ev.get("ts")]
    opened = {ev["trade_id"] for ev in events if ev["kind"] == "position_open"}
    closed = {ev["trade_id"] for ev in events if ev["kind"] == "position_closed"}
    pnl = sum(ev.get("pnl_net", 0.0) for ev in events if ev["kind"] == "position_closed")
    return {
        "events": len(events),
        "schema": header.get("schema") if header else None,
        "mode": header.get("mode") if header else None,
        "config_hash": header.get("config_hash") if header else None,
        "first_ts": stamps[0] if stamps else None,
        "last_ts": stamps[-1] if stamps else None,
        "trades_closed": len(closed),
        "positions_open": sorted(opened - closed),
        "net_pnl": round(pnl, 2),
        "kinds": dict(sorted(kinds.items())),
        "warnings": list(read.warnings),
    }
