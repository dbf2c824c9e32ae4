"""The fake's state as values: errors, quotes, orders and trades, and how Kite writes them."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
USER_ID = "AB1234"
APP_ID = 12345

WORKING = ("OPEN", "TRIGGER PENDING")
TERMINAL = ("COMPLETE", "CANCELLED", "REJECTED")


class KiteError(Exception):
    """An error the REST layer answers with Kite's envelope and this HTTP status."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def input_error(message: str) -> KiteError:
    return KiteError(400, "InputException", message)


def kite_ts(t: dt.datetime | None) -> str | None:
    """Kite's ``YYYY-MM-DD HH:MM:SS`` in IST (19 characters; the client parses exactly those)."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(IST)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def on_tick(price: float, tick: float) -> bool:
    if tick <= 0:
        return True
    steps = price / tick
    return abs(steps - round(steps)) < 1e-6


def to_tick(price: float, tick: float, up: bool) -> float:
    """Round to the tick grid, up or down, shedding float noise."""
    if tick <= 0:
        return price
    steps = price / tick
    n = math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)
    return round(n * tick, 6)


@dataclass
class Quote:
    """The exchange's touch for one instrument, and the day's running numbers.

    ``bid_avail``/``ask_avail`` are what is left at the touch after fills (None: unlimited);
    a new quote resets them to ``bid_qty``/``ask_qty``."""

    last: float = 0.0
    bid: float = 0.0
    ask: float = 0.0
    bid_qty: int | None = None
    ask_qty: int | None = None
    bid_avail: int | None = None
    ask_avail: int | None = None
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    volume: int = 0
    oi: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    last_quantity: int = 0
    last_trade_time: dt.datetime | None = None
    timestamp: dt.datetime | None = None

    def set_touch(
        self, bid: float | None, ask: float | None, bid_qty: int | None, ask_qty: int | None
    ) -> None:
        self.bid = float(bid or 0.0)
        self.ask = float(ask or 0.0)
        self.bid_qty, self.ask_qty = bid_qty, ask_qty
        self.bid_avail, self.ask_avail = bid_qty, ask_qty

    def set_last(self, last: float, now: dt.datetime) -> None:
        if last <= 0:
            return
        if self.open <= 0:
            self.open = self.high = self.low = last
            if self.close <= 0:
                self.close = last
        self.high, self.low = max(self.high, last), min(self.low, last)
        self.last = last
        self.last_trade_time = now


@dataclass
class Order:
    """One order in the day's book; ``row()`` renders it as ``GET /orders`` does."""

    order_id: str
    variety: str
    exchange: str
    tradingsymbol: str
    instrument_token: int
    transaction_type: str
    order_type: str
    product: str
    validity: str
    quantity: int
    price: float
    trigger_price: float
    market_protection: float
    tag: str | None
    order_timestamp: dt.datetime
    guid: str
    parent_order_id: str | None = None
    validity_ttl: int = 0
    disclosed_quantity: int = 0
    tags: list[str] = field(default_factory=list)
    status: str = "PUT ORDER REQ RECEIVED"
    status_message: str | None = None
    exchange_order_id: str | None = None
    exchange_timestamp: dt.datetime | None = None
    exchange_update_timestamp: dt.datetime | None = None
    filled_quantity: int = 0
    filled_value: float = 0.0
    cancelled_quantity: int = 0
    modifications: int = 0
    protection_limit: float | None = None  # a market order's worst acceptable price
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_buy(self) -> bool:
        return self.transaction_type == "BUY"

    @property
    def working(self) -> bool:
        return self.status in WORKING

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_quantity - self.cancelled_quantity

    @property
    def average_price(self) -> float:
        return round(self.filled_value / self.filled_quantity, 4) if self.filled_quantity else 0.0

    def row(self, status: str | None = None) -> dict[str, Any]:
        status = status or self.status
        pending = self.remaining if status in (*WORKING, "UPDATE") else 0
        return {
            "account_id": USER_ID,
            "placed_by": USER_ID,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "parent_order_id": self.parent_order_id,
            "status": status,
            "status_message": self.status_message,
            "status_message_raw": self.status_message,
            "order_timestamp": kite_ts(self.order_timestamp),
            "exchange_update_timestamp": kite_ts(self.exchange_update_timestamp),
            "exchange_timestamp": kite_ts(self.exchange_timestamp),
            "variety": self.variety,
            "modified": self.modifications > 0,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "order_type": self.order_type,
            "transaction_type": self.transaction_type,
            "validity": self.validity,
            "validity_ttl": self.validity_ttl,
            "product": self.product,
            "quantity": self.quantity,
            "disclosed_quantity": self.disclosed_quantity,
            "price": self.price,
            "trigger_price": self.trigger_price,
            "average_price": self.average_price,
            "filled_quantity": self.filled_quantity,
            "pending_quantity": pending,
            "cancelled_quantity": self.cancelled_quantity,
            "market_protection": self.market_protection,
            "meta": {},
            "tag": self.tag,
            "tags": list(self.tags),
            "guid": self.guid,
        }


@dataclass(frozen=True)
class Trade:
    trade_id: str
    order: Order
    price: float
    quantity: int
    at: dt.datetime

    def row(self) -> dict[str, Any]:
        o = self.order
        return {
            "trade_id": self.trade_id,
            "order_id": o.order_id,
            "exchange": o.exchange,
            "tradingsymbol": o.tradingsymbol,
            "instrument_token": o.instrument_token,
            "product": o.product,
            "average_price": self.price,
            "quantity": self.quantity,
            "exchange_order_id": o.exchange_order_id,
            "transaction_type": o.transaction_type,
            "fill_timestamp": kite_ts(self.at),
            "order_timestamp": self.at.astimezone(IST).strftime("%H:%M:%S"),
            "exchange_timestamp": kite_ts(self.at),
        }


class Ids:
    """Kite-looking ids: order ids ``YYMMDD`` + 9 digits (15), exchange order ids 16 digits,
    trade ids 8 digits, GTT trigger ids plain integers."""

    def __init__(self) -> None:
        self._order = 100_000
        self._exchange = 1_100_000_000_000_000
        self._trade = 50_000_000
        self._trigger = 200_000
        self._guid = 0

    def order_id(self, now: dt.datetime) -> str:
        self._order += 1
        return f"{now.astimezone(IST):%y%m%d}{self._order:09d}"

    def exchange_order_id(self) -> str:
        self._exchange += 1
        return str(self._exchange)

    def trade_id(self) -> str:
        self._trade += 1
        return str(self._trade)

    def trigger_id(self) -> int:
        self._trigger += 1
        return self._trigger

    def guid(self) -> str:
        self._guid += 1
        return f"{APP_ID}X{self._guid:011d}"
