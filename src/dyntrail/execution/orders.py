"""Order intents, fills and idempotent client tags."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dyntrail.core.order_pricing import OrderSide

_TAG_RE = re.compile(r"^[A-Za-z0-9]{1,20}$")

# One letter per action in tags (kept stable: tags identify orders across restarts).
ACTION_CODES = {
    "entry": "E",
    "exit_stop": "S",
    "scale_out_t1": "H",
    "exit_target1": "O",
    "exit_target2": "T",
    "exit_time": "M",
    "exit_eod": "D",
    "exit_breaker": "B",
    "exit_risk": "R",
    "exit_kill": "K",
}


def client_tag(day: dt.date, position_no: int, action: str, attempt: int) -> str:
    """Deterministic client tag from (session day, position number, action, attempt), at most 20
    characters of [A-Za-z0-9] (brokers reject longer tags): ``D250103P07S1`` is the first attempt
    of the stop exit of position 7 on 2025-01-03. The same inputs always give the same tag, so a
    resend after a timeout is recognisable."""
    code = ACTION_CODES.get(action)
    if code is None:
        raise ValueError(f"no tag code for action {action!r}")
    if not (0 <= position_no < 10_000 and 1 <= attempt < 1000):
        raise ValueError(f"position {position_no} / attempt {attempt} out of range for a tag")
    tag = f"D{day:%y%m%d}P{position_no:02d}{code}{attempt}"
    if not _TAG_RE.match(tag):
        raise ValueError(f"bad tag {tag!r}")
    return tag


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What the engine asks a broker to do; ``decision_price`` is what the rule expected."""

    tag: str
    trade_id: int
    leg: int
    action: str
    side: OrderSide
    qty: int
    limit: float
    decision_price: float
    instrument: str
    ts: dt.datetime


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of (part of) an order."""

    tag: str
    fill_id: str
    qty: int
    price: float
    ts: dt.datetime
    ack_ms: float | None = None
