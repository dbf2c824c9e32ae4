"""GTT (good till triggered) triggers: stored as ``/gtt/triggers`` takes them (form fields
``type``, ``condition`` and ``orders``, the last two JSON), and fired when the last price
crosses a trigger value. A single trigger below the last price at placement fires once the last
price is at or below it (above: at or above); a two-leg (OCO) trigger fires its first order at
or below the lower value, its second at or above the upper one."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fakekite.instruments import Instrument
from fakekite.model import USER_ID, KiteError, Order, input_error, kite_ts
from fakekite.validation import parse_place

GTT_TYPES = ("single", "two-leg")


@dataclass
class Gtt:
    id: int
    type: str
    condition: dict[str, Any]
    orders: list[dict[str, Any]]
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str = "active"
    results: list[dict[str, Any] | None] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": USER_ID,
            "parent_trigger": None,
            "type": self.type,
            "created_at": kite_ts(self.created_at),
            "updated_at": kite_ts(self.updated_at),
            "expires_at": kite_ts(self.created_at + dt.timedelta(days=365)),
            "status": self.status,
            "condition": dict(self.condition),
            "orders": [
                {**leg, "result": result}
                for leg, result in zip(self.orders, self.results, strict=True)
            ],
            "meta": {},
        }

    def due_leg(self, last: float) -> int | None:
        """Which order fires at this last price, if any."""
        if self.status != "active" or last <= 0:
            return None
        values = self.condition["trigger_values"]
        if self.type == "single":
            below = values[0] <= self.condition["last_price"]
            hit = last <= values[0] if below else last >= values[0]
            return 0 if hit else None
        if last <= values[0]:
            return 0
        if last >= values[1]:
            return 1
        return None


def _json(params: Mapping[str, str], name: str) -> Any:
    try:
        return json.loads(params.get(name) or "")
    except ValueError:
        raise input_error(f"Invalid `{name}`.") from None


def leg_params(leg: Mapping[str, Any]) -> dict[str, str]:
    """A GTT order as the form fields of an ordinary LIMIT order."""
    return {
        "exchange": str(leg["exchange"]),
        "tradingsymbol": str(leg["tradingsymbol"]),
        "transaction_type": str(leg["transaction_type"]),
        "quantity": str(leg["quantity"]),
        "product": str(leg["product"]),
        "order_type": str(leg["order_type"]),
        "price": str(leg["price"]),
    }


class GttBook:
    def __init__(
        self, instruments: Mapping[str, Instrument], freeze_limits: Mapping[str, int]
    ) -> None:
        self.instruments = instruments
        self.freeze_limits = freeze_limits
        self.triggers: dict[int, Gtt] = {}

    def parse(self, params: Mapping[str, str]) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        kind = params.get("type") or ""
        if kind not in GTT_TYPES:
            raise input_error("Invalid `type`.")
        condition, orders = _json(params, "condition"), _json(params, "orders")
        if not isinstance(condition, dict) or not isinstance(orders, list):
            raise input_error("Invalid `condition` or `orders`.")
        values = condition.get("trigger_values")
        want = 1 if kind == "single" else 2
        if not isinstance(values, list) or len(values) != want or len(orders) != want:
            raise input_error(f"A {kind} GTT needs {want} trigger value(s) and order(s).")
        if kind == "two-leg" and not values[0] < values[1]:
            raise input_error("Trigger values of a two-leg GTT should be [lower, upper].")
        inst = self.instruments.get(f"{condition.get('exchange')}:{condition.get('tradingsymbol')}")
        if inst is None:
            raise input_error("Invalid `tradingsymbol`: instrument not found.")
        for leg in orders:
            if leg.get("order_type") != "LIMIT":
                raise input_error("Only LIMIT orders are allowed in a GTT.")
            parse_place("regular", leg_params(leg), self.instruments, self.freeze_limits)
        condition = {
            "exchange": inst.exchange,
            "tradingsymbol": inst.tradingsymbol,
            "instrument_token": inst.instrument_token,
            "trigger_values": [float(v) for v in values],
            "last_price": float(condition.get("last_price") or 0.0),
        }
        return kind, condition, orders

    def place(self, trigger_id: int, params: Mapping[str, str], now: dt.datetime) -> Gtt:
        kind, condition, orders = self.parse(params)
        gtt = Gtt(trigger_id, kind, condition, orders, now, now, results=[None] * len(orders))
        self.triggers[trigger_id] = gtt
        return gtt

    def get(self, trigger_id: int) -> Gtt:
        gtt = self.triggers.get(trigger_id)
        if gtt is None:
            raise KiteError(404, "GeneralException", "Couldn't find that trigger.")
        return gtt

    def modify(self, trigger_id: int, params: Mapping[str, str], now: dt.datetime) -> Gtt:
        gtt = self.get(trigger_id)
        if gtt.status != "active":
            raise input_error(f"Trigger is {gtt.status}; only active triggers can be modified.")
        gtt.type, gtt.condition, gtt.orders = self.parse(params)
        gtt.results = [None] * len(gtt.orders)
        gtt.updated_at = now
        return gtt

    def delete(self, trigger_id: int, now: dt.datetime) -> Gtt:
        gtt = self.get(trigger_id)
        if gtt.status != "active":
            raise input_error(f"Trigger is {gtt.status}; only active triggers can be deleted.")
        gtt.status, gtt.updated_at = "deleted", now
        return gtt

    def visible(self) -> list[Gtt]:
        return [g for g in self.triggers.values() if g.status != "deleted"]

    def due(self, token: int, last: float) -> list[tuple[Gtt, int]]:
        out = []
        for gtt in self.triggers.values():
            if gtt.condition["instrument_token"] == token:
                leg = gtt.due_leg(last)
                if leg is not None:
                    out.append((gtt, leg))
        return out

    @staticmethod
    def fired(gtt: Gtt, leg: int, last: float, now: dt.datetime, order: Order | KiteError) -> None:
        spec = gtt.orders[leg]
        if isinstance(order, Order):
            failed = order.status == "REJECTED"
            result = {
                "status": "failed" if failed else "success",
                "order_id": order.order_id,
                "rejection_reason": order.status_message or "",
            }
        else:
            result = {"status": "failed", "order_id": "", "rejection_reason": order.message}
        gtt.results[leg] = {
            "account_id": USER_ID,
            **spec,
            "validity": "DAY",
            "meta": "",
            "timestamp": kite_ts(now),
            "triggered_at": last,
            "order_result": result,
        }
        gtt.status, gtt.updated_at = "triggered", now
