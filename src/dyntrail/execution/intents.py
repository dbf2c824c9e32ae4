"""What an order asks for (``OrderIntent``, with its ``OrderType``), what it got (``Fill``), and
the price rules of each order type (``check_prices``).

- A ``limit`` order works at once: it fills at its limit or better. It has no trigger.
- A ``stop_limit`` order (Kite's ``SL``) rests untriggered until the price reaches its trigger,
  then works as a limit at its limit: a sell's trigger is at or above its limit (it triggers as
  the price falls), a buy's at or below (it triggers as the price rises).
- A stop-limit carries its instrument's tick; an intent that carries a tick has its limit and
  trigger on that grid.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass
from typing import Any

from dyntrail.core.fast_init import fast_init
from dyntrail.core.order_pricing import OrderSide, TickRounding, round_to_tick


class OrderType(enum.StrEnum):
    """How an order works at the exchange (Kite's names: ``LIMIT``, ``SL``); see the module
    docstring for the rules."""

    LIMIT = "limit"
    STOP_LIMIT = "stop_limit"


@fast_init
@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What the engine asks a broker to do; ``decision_price`` is what the rule expected.

    The last three fields default to a plain limit order: ``order_type`` limit or stop_limit,
    ``trigger`` the stop-limit's trigger price (None for a limit order), ``tick`` the
    instrument's price step (a stop-limit must give it; when given, the limit and trigger must be
    whole multiples of it). ``Order(intent)`` checks them."""

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
    order_type: OrderType = OrderType.LIMIT
    trigger: float | None = None
    tick: float | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of (part of) an order."""

    tag: str
    fill_id: str
    qty: int
    price: float
    ts: dt.datetime
    ack_ms: float | None = None


def fill_to_dict(f: Fill) -> dict[str, Any]:
    return {
        "tag": f.tag,
        "fill_id": f.fill_id,
        "qty": f.qty,
        "price": f.price,
        "ts": f.ts.isoformat(),
        "ack_ms": f.ack_ms,
    }


def fill_from_dict(d: dict[str, Any]) -> Fill:
    ack = d.get("ack_ms")
    return Fill(
        tag=str(d["tag"]),
        fill_id=str(d["fill_id"]),
        qty=int(d["qty"]),
        price=float(d["price"]),
        ts=dt.datetime.fromisoformat(d["ts"]),
        ack_ms=None if ack is None else float(ack),
    )


def check_prices(
    tag: str,
    side: OrderSide,
    order_type: OrderType,
    limit: float,
    trigger: float | None,
    tick: float | None,
) -> None:
    """The price rules of an order, as the module docstring states them; a ValueError names
    the tag, the values and what would be valid. Used for an intent and for a modify."""
    check_price(limit, "order", tag, "limit")
    if order_type is OrderType.LIMIT:
        if trigger is not None:
            raise ValueError(
                f"order {tag}: a limit order has no trigger, got trigger {trigger!r} "
                f"(send order_type={OrderType.STOP_LIMIT.value!r} for a stop)"
            )
    else:
        sell = side is OrderSide.SELL
        where = "at or above" if sell else "at or below"
        if trigger is None:
            raise ValueError(
                f"order {tag}: a stop-limit needs a trigger price, {where} its limit {limit}"
            )
        check_price(trigger, "order", tag, "trigger")
        if tick is None:
            raise ValueError(
                f"order {tag}: a stop-limit needs its instrument's tick to check its prices "
                "against (NSE index options: tick=0.05)"
            )
        if (trigger < limit) if sell else (trigger > limit):
            falls, past = ("falls", "or less") if sell else ("rises", "or more")
            raise ValueError(
                f"order {tag}: a {side.value} stop-limit triggers when the price {falls} to its "
                f"trigger and then trades at its limit or better, so the trigger must be {where} "
                f"the limit; got trigger {trigger} and limit {limit} (valid: a trigger of {limit} "
                f"{'or more' if sell else 'or less'}, or a limit of {trigger} {past})"
            )
    if tick is not None:
        if not (isinstance(tick, (int, float)) and math.isfinite(tick) and tick > 0):
            raise ValueError(f"order {tag}: tick must be finite and > 0, got {tick!r}")
        for field, value in (("limit", limit), ("trigger", trigger)):
            if value is None:
                continue
            down = round_to_tick(value, tick, TickRounding.DOWN)
            up = round_to_tick(value, tick, TickRounding.UP)
            if down != up:
                raise ValueError(
                    f"order {tag}: {field} {value} is not on the {tick} tick grid; the nearest "
                    f"valid prices are {down} and {up}"
                )


def check_price(value: float, kind: str, name: str, field: str) -> None:
    """``value`` must be a finite number > 0 (the message, made only on failure, names the
    ``kind`` ("order"/"fill"), its ``name`` and the ``field``)."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{kind} {name}: {field} must be finite and > 0, got {value!r}")
