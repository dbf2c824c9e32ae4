"""Identifiers of an order: our idempotent client tag and the broker's order id, each a small
value type that validates on construction (brokers refuse anything else)."""

from __future__ import annotations

import datetime as dt
import functools
import re

_TAG_RE = re.compile(r"^[A-Za-z0-9]{1,20}$")
_BROKER_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

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
    "exit_carried": "C",
    "exit_backstop": "X",  # the stop-limit resting at the exchange (``[backstop]``)
    "exit_forced": "F",  # an operator's force-exit
}


class ClientTag(str):
    """Our idempotency key for one order: 1–20 characters of [A-Za-z0-9] (brokers reject longer
    tags). A broker never holds two orders with the same tag."""

    __slots__ = ()

    def __new__(cls, value: str) -> ClientTag:
        if isinstance(value, ClientTag):
            return value
        if not isinstance(value, str) or not _TAG_RE.match(value):
            raise ValueError(f"client tag must be 1-20 characters of [A-Za-z0-9], got {value!r}")
        return super().__new__(cls, value)


# The tags ``client_tag`` makes: an order placed by hand or by another program on the same
# account (no tag, or one of its own) is not ours.
OUR_TAGS = r"^D\d{6}P\d{2,4}[A-Z]\d{1,3}(?:Q\d{1,2})?$"


def is_client_tag(value: object) -> bool:
    """Whether ``value`` is a valid client tag (1-20 letters and digits)."""
    return isinstance(value, str) and _TAG_RE.match(value) is not None


class BrokerOrderId(str):
    """The broker's id for one order: 1–64 characters of [A-Za-z0-9_.:-]."""

    __slots__ = ()

    def __new__(cls, value: str) -> BrokerOrderId:
        if isinstance(value, BrokerOrderId):
            return value
        if not isinstance(value, str) or not _BROKER_ID_RE.match(value):
            raise ValueError(f"broker order id must be 1-64 of [A-Za-z0-9_.:-], got {value!r}")
        return super().__new__(cls, value)


def client_tag(
    day: dt.date, position_no: int, action: str, attempt: int, part: int = 0
) -> ClientTag:
    """Deterministic client tag from (session day, position number, action, attempt), at most 20
    characters of [A-Za-z0-9] (brokers reject longer tags): ``D250103P07S1`` is the first attempt
    of the stop exit of position 7 on 2025-01-03. An order split above the exchange's freeze
    quantity sends parts ``1..99`` as ``D250103P07S1Q1``, ``D250103P07S1Q2``, ... The same inputs
    always give the same tag, so a resend after a timeout is recognisable."""
    code = ACTION_CODES.get(action)
    if code is None:
        raise ValueError(f"no tag code for action {action!r}")
    if not (0 <= position_no < 10_000 and 1 <= attempt < 1000 and 0 <= part < 100):
        raise ValueError(
            f"position {position_no} / attempt {attempt} / part {part} out of range for a tag"
        )
    # digits, "D", "P", "Q" and an action letter, at most 19 characters: valid by construction
    text = f"{day_code(day)}P{position_no:02d}{code}{attempt}"
    if part:
        text += f"Q{part}"
    return str.__new__(ClientTag, text)


@functools.lru_cache(maxsize=512)
def day_code(day: dt.date) -> str:
    """``D250103`` for 2025-01-03: a day's orders all start with it (made once per day)."""
    return f"D{day.year % 100:02d}{day.month:02d}{day.day:02d}"
