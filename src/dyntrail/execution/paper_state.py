"""The paper exchange's memory: its record of each order (``BookEntry``) and the state file it
keeps so that it outlives our process.

The file is JSON, written atomically (temp file, fsync, rename, fsync the folder) after every
call, and read back only with the seed and fault profile that wrote it. Version 2 added order
types (a stop-limit's order type, trigger and tick, inside its order); version 1 files, which
hold limit orders only, still load.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from dyntrail.errors import BrokerError
from dyntrail.execution.faults import FaultProfile
from dyntrail.execution.orders import BrokerOrderId, Order, OrderState

STATE_VERSION = 2
_SUBMITTED = OrderState.SUBMITTED
_EXPIRING = frozenset({OrderState.ACKED, OrderState.PARTIALLY_FILLED, OrderState.TRIGGER_PENDING})
_READABLE = (1, 2)


@dataclass(slots=True)
class BookEntry:
    """The exchange's record of one order: the order itself plus its schedule and counters. A
    stop-limit's ``expire_ts`` is None until it triggers (the timeout counts from the trigger)."""

    order: Order
    boid: BrokerOrderId
    ack_ts: dt.datetime
    fill_from_ts: dt.datetime
    expire_ts: dt.datetime | None
    attempts: int = 0  # fill attempts (index of the partial-fill draws)
    emitted: int = 0  # events emitted (index of the delivery draws)
    requests: int = 0  # modify/cancel calls (index of the took-effect-anyway draws)
    held_ack: bool = False  # an out-of-order ack waiting for the first fill
    modified: int = 0  # modifications taken (at most MAX_MODIFICATIONS)
    last_try: dt.datetime | None = None  # matching runs once per order per market instant

    def due_ts(self) -> dt.datetime | None:
        """When this order next needs the exchange without a quote: ack or expiry."""
        state = self.order.state
        if state is _SUBMITTED:
            return self.ack_ts
        if state in _EXPIRING:
            return self.expire_ts
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.order.to_dict(),
            "boid": self.boid,
            "ack_ts": self.ack_ts.isoformat(),
            "fill_from_ts": self.fill_from_ts.isoformat(),
            "expire_ts": None if self.expire_ts is None else self.expire_ts.isoformat(),
            "attempts": self.attempts,
            "emitted": self.emitted,
            "requests": self.requests,
            "held_ack": self.held_ack,
            "modified": self.modified,
            "last_try": None if self.last_try is None else self.last_try.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BookEntry:
        exp = d["expire_ts"]
        return cls(
            order=Order.from_dict(d["order"]),
            boid=BrokerOrderId(d["boid"]),
            ack_ts=dt.datetime.fromisoformat(d["ack_ts"]),
            fill_from_ts=dt.datetime.fromisoformat(d["fill_from_ts"]),
            expire_ts=None if exp is None else dt.datetime.fromisoformat(exp),
            attempts=int(d["attempts"]),
            emitted=int(d["emitted"]),
            requests=int(d["requests"]),
            held_ack=bool(d["held_ack"]),
            modified=int(d.get("modified", 0)),
            last_try=None
            if d.get("last_try") is None
            else dt.datetime.fromisoformat(d["last_try"]),
        )


def write_state(
    path: Path, seed: int, profile: FaultProfile, body: dict[str, Any], last: bytes = b""
) -> bytes:
    """Write ``body`` (with the version, seed and profile) atomically: a temp file renamed over
    the last state, unless its bytes are ``last`` (what the previous call wrote: nothing
    changed); returns the bytes. No fsync: the paper exchange's state only has to outlive our
    process (a process that dies leaves its written files to the system), and it is written on
    every call, on the engine's path. A machine that loses its last writes loses at most orders
    the exchange had taken: the engine finds them missing from the book and sends them again
    under their own tags (the journal's intents are durable)."""
    state = {
        "version": STATE_VERSION,
        "seed": seed,
        "profile": dataclasses.asdict(profile),
        **body,
    }
    data = orjson.dumps(state)
    if data != last:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return data


def read_state(path: Path, seed: int, profile: FaultProfile) -> dict[str, Any]:
    """The state saved at ``path``, checked against the ``seed`` and ``profile`` that must have
    written it; raises BrokerError naming what is wrong."""
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if state["version"] not in _READABLE:
            raise ValueError(f"version {state['version']}, expected one of {_READABLE}")
        saved = (state["seed"], state["profile"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BrokerError(f"paper broker state {path} is unreadable: {exc}") from exc
    if saved != (seed, dataclasses.asdict(profile)):
        raise BrokerError(
            f"paper broker state {path} was written with seed {state['seed']} and "
            f"profile {state['profile']}; pass the same seed and profile to resume"
        )
    return state
