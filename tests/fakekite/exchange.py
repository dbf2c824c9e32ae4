"""The OMS and the exchange behind the fake: the order book, matching against the touch, trades
and positions. Not thread-safe by itself; ``FakeKite`` calls it under its lock.

Matching: a BUY fills at a positive ask when its limit is at or above it, a SELL at a positive
bid when its limit is at or below it, up to what is left at the touch (None: unlimited). A
market order's limit is its market-protection price (reference price ± protection %). A stop
sell triggers once the bid (the last price without a bid) is at or below its trigger, a stop
buy once the ask is at or above it; triggered, it works as a limit (SL) or market (SL-M) order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from fakekite.faults import Faults
from fakekite.instruments import Instrument
from fakekite.model import (
    Ids,
    Order,
    Quote,
    Trade,
    input_error,
    to_tick,
)
from fakekite.validation import ModifyRequest, PlaceRequest, parse_modify

AUTO_PROTECTION_PCT = 2.0  # what market_protection=-1 stands for here
MAX_MODIFICATIONS = 25

Notify = Callable[[Order, str], None]


class Exchange:
    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        clock: Callable[[], dt.datetime],
        notify: Notify,
        faults: Faults,
        freeze_limits: Mapping[str, int],
    ) -> None:
        self.instruments = instruments
        self.by_token = {i.instrument_token: i for i in instruments.values()}
        self.clock = clock
        self.notify = notify
        self.faults = faults
        self.freeze_limits = freeze_limits
        self.ids = Ids()
        self.quotes: dict[int, Quote] = {}
        self.orders: dict[str, Order] = {}
        self.trades: list[Trade] = []

    # -- quotes ------------------------------------------------------------------------------------
    def quote(self, inst: Instrument) -> Quote:
        q = self.quotes.get(inst.instrument_token)
        if q is None:
            q = Quote(last=inst.last_price, close=inst.last_price)
            self.quotes[inst.instrument_token] = q
        return q

    def working_symbols(self) -> list[Instrument]:
        seen: dict[str, Instrument] = {}
        for o in self.orders.values():
            if o.working:
                seen.setdefault(
                    o.tradingsymbol, self.instruments[f"{o.exchange}:{o.tradingsymbol}"]
                )
        return list(seen.values())

    def match(self, inst: Instrument) -> None:
        """Match every working order on ``inst`` against its current quote, oldest first."""
        for o in list(self.orders.values()):
            if o.working and o.instrument_token == inst.instrument_token:
                self._match_one(o)

    def expire_ttl(self, now: dt.datetime) -> None:
        for o in list(self.orders.values()):
            ttl = dt.timedelta(minutes=o.validity_ttl)
            if o.working and o.validity == "TTL" and now >= o.order_timestamp + ttl:
                self._cancel(o, "Order expired (TTL).")

    # -- order calls -------------------------------------------------------------------------------
    def place(
        self,
        req: PlaceRequest,
        parent_order_id: str | None = None,
        extra_tags: tuple[str, ...] = (),
    ) -> Order:
        now = self.clock()
        inst = req.instrument
        tags = ([req.tag] if req.tag else []) + list(extra_tags)
        o = Order(
            order_id=self.ids.order_id(now),
            variety=req.variety,
            exchange=inst.exchange,
            tradingsymbol=inst.tradingsymbol,
            instrument_token=inst.instrument_token,
            transaction_type=req.transaction_type,
            order_type=req.order_type,
            product=req.product,
            validity=req.validity,
            validity_ttl=req.validity_ttl,
            quantity=req.quantity,
            disclosed_quantity=req.disclosed_quantity,
            price=req.price,
            trigger_price=req.trigger_price,
            market_protection=req.market_protection,
            tag=req.tag,
            tags=tags,
            order_timestamp=now,
            guid=self.ids.guid(),
            parent_order_id=parent_order_id,
        )
        self.orders[o.order_id] = o
        self._record(o, "PUT ORDER REQ RECEIVED")
        self._record(o, "VALIDATION PENDING")
        reason = self.faults.take_reject() or self._rms_reason(o)
        if reason is not None:
            o.status_message = reason
            self._set(o, "REJECTED")
            return o
        self._record(o, "OPEN PENDING")
        o.exchange_order_id = self.ids.exchange_order_id()
        o.exchange_timestamp = o.exchange_update_timestamp = now
        if o.order_type in ("SL", "SL-M"):
            self._set(o, "TRIGGER PENDING")
        else:
            self._set(o, "OPEN")
            self._arm_protection(o)
        self._match_one(o)
        self._ioc(o)
        return o

    def modify(self, order_id: str, params: Mapping[str, str]) -> Order:
        o = self.get(order_id)
        if not o.working:
            raise input_error(f"Order cannot be modified as it is already {o.status.lower()}.")
        if o.modifications >= MAX_MODIFICATIONS:
            raise input_error("Maximum allowed order modifications exceeded.")
        inst = self.instruments[f"{o.exchange}:{o.tradingsymbol}"]
        triggered = o.status == "OPEN" and o.order_type in ("SL", "SL-M")
        current = ModifyRequest(
            o.quantity, o.price, o.trigger_price, o.order_type, o.validity, o.market_protection
        )
        new = parse_modify(
            params, current, o.transaction_type, inst, self.freeze_limits.get(inst.name)
        )
        _check_type_change(o.order_type, new.order_type, triggered)
        if triggered and new.trigger_price != o.trigger_price:
            raise input_error("Trigger price cannot be modified once the order is triggered.")
        if new.quantity <= o.filled_quantity:
            raise input_error("Quantity should be greater than the filled quantity.")
        pending = new.order_type in ("SL", "SL-M") and not triggered
        if pending and (
            reason := self._trigger_reason(inst, o.transaction_type, new.trigger_price)
        ):
            raise input_error(reason)
        o.quantity, o.price, o.trigger_price = new.quantity, new.price, new.trigger_price
        o.order_type, o.validity, o.market_protection = (
            new.order_type, new.validity, new.market_protection
        )  # fmt: skip
        o.modifications += 1
        o.exchange_update_timestamp = self.clock()
        self._record(o, "MODIFY VALIDATION PENDING")
        self._record(o, "MODIFY PENDING")
        o.status = "TRIGGER PENDING" if pending else "OPEN"
        self._record(o, o.status)
        self.notify(o, "UPDATE")
        self._arm_protection(o)
        self._match_one(o)
        return o

    def cancel(self, order_id: str) -> Order:
        o = self.get(order_id)
        if not o.working:
            raise input_error(f"Order cannot be cancelled as it is already {o.status.lower()}.")
        self._record(o, "CANCEL PENDING")
        self._cancel(o, None)
        return o

    def get(self, order_id: str) -> Order:
        o = self.orders.get(order_id)
        if o is None:
            raise input_error("Couldn't find that `order_id`.")
        return o

    # -- the book's views --------------------------------------------------------------------------
    def position_rows(self) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str, str], list[Trade]] = {}
        for t in self.trades:
            o = t.order
            groups.setdefault((o.exchange, o.tradingsymbol, o.product), []).append(t)
        rows = []
        for (exchange, symbol, product), trades in groups.items():
            inst = self.instruments[f"{exchange}:{symbol}"]
            rows.append(_position(inst, product, trades, self.quote(inst)))
        return rows

    def net_positions(self) -> dict[str, int]:
        net: dict[str, int] = {}
        for t in self.trades:
            sign = 1 if t.order.is_buy else -1
            net[t.order.tradingsymbol] = net.get(t.order.tradingsymbol, 0) + sign * t.quantity
        return {k: v for k, v in net.items() if v}

    # -- internals ---------------------------------------------------------------------------------
    def _record(self, o: Order, status: str) -> None:
        o.status = status
        o.history.append(o.row())

    def _set(self, o: Order, status: str) -> None:
        self._record(o, status)
        self.notify(o, status)

    def _cancel(self, o: Order, message: str | None) -> None:
        o.cancelled_quantity = o.remaining
        o.status_message = message
        o.exchange_update_timestamp = self.clock()
        self._set(o, "CANCELLED")

    def _ioc(self, o: Order) -> None:
        if o.validity == "IOC" and o.status == "OPEN":
            self._cancel(o, None)

    def _trigger_reason(self, inst: Instrument, side: str, trigger: float) -> str | None:
        last = self.quote(inst).last
        if last <= 0:
            return None
        if side == "SELL" and trigger >= last:
            return "Trigger price for stoploss sell orders should be lower than the last price."
        if side == "BUY" and trigger <= last:
            return "Trigger price for stoploss buy orders should be higher than the last price."
        return None

    def _rms_reason(self, o: Order) -> str | None:
        if o.order_type not in ("SL", "SL-M"):
            return None
        inst = self.instruments[f"{o.exchange}:{o.tradingsymbol}"]
        return self._trigger_reason(inst, o.transaction_type, o.trigger_price)

    def _arm_protection(self, o: Order) -> None:
        """A market order's limit: the reference price (last, else the touch) ± protection."""
        if o.order_type not in ("MARKET", "SL-M") or o.status != "OPEN":
            o.protection_limit = None
            return
        inst = self.instruments[f"{o.exchange}:{o.tradingsymbol}"]
        q = self.quote(inst)
        ref = q.last or (q.ask if o.is_buy else q.bid) or o.trigger_price
        if ref <= 0:
            o.protection_limit = None
            return
        pct = AUTO_PROTECTION_PCT if o.market_protection == -1 else o.market_protection
        factor = 1 + pct / 100 if o.is_buy else 1 - pct / 100
        o.protection_limit = to_tick(ref * factor, inst.tick_size, up=not o.is_buy)

    def _match_one(self, o: Order) -> None:
        inst = self.instruments[f"{o.exchange}:{o.tradingsymbol}"]
        q = self.quote(inst)
        if o.status == "TRIGGER PENDING":
            ref = (q.ask or q.last) if o.is_buy else (q.bid or q.last)
            hit = ref > 0 and (ref >= o.trigger_price if o.is_buy else ref <= o.trigger_price)
            if not hit:
                return
            o.exchange_update_timestamp = self.clock()
            self._set(o, "OPEN")
            self._arm_protection(o)
            self._fill_at_touch(o, q)
            self._ioc(o)
            return
        if o.status == "OPEN":
            self._fill_at_touch(o, q)

    def _fill_at_touch(self, o: Order, q: Quote) -> None:
        px, avail = (q.ask, q.ask_avail) if o.is_buy else (q.bid, q.bid_avail)
        if px <= 0:
            return
        limit = o.price if o.order_type in ("LIMIT", "SL") else o.protection_limit
        if limit is not None and (px > limit + 1e-9 if o.is_buy else px < limit - 1e-9):
            return
        qty = o.remaining if avail is None else min(o.remaining, avail)
        cap = self.faults.take_partial_fill()
        if cap is not None:
            qty = min(qty, cap)
        if qty <= 0:
            return
        if avail is not None:
            if o.is_buy:
                q.ask_avail = avail - qty
            else:
                q.bid_avail = avail - qty
        self._fill(o, px, qty)

    def _fill(self, o: Order, price: float, qty: int) -> None:
        now = self.clock()
        self.trades.append(Trade(self.ids.trade_id(), o, price, qty, now))
        o.filled_quantity += qty
        o.filled_value += price * qty
        o.exchange_update_timestamp = now
        if o.remaining == 0:
            self._set(o, "COMPLETE")
        else:
            self._record(o, "OPEN")
            self.notify(o, "UPDATE")


def _check_type_change(old: str, new: str, triggered: bool) -> None:
    plain, stops = ("LIMIT", "MARKET"), ("SL", "SL-M")
    if old in plain and new in stops:
        raise input_error(f"Order type cannot be modified from {old} to {new}.")
    if triggered and new != old:
        raise input_error("Order type cannot be modified once the order is triggered.")


def _position(inst: Instrument, product: str, trades: list[Trade], q: Quote) -> dict[str, Any]:
    buy_q = sum(t.quantity for t in trades if t.order.is_buy)
    sell_q = sum(t.quantity for t in trades if not t.order.is_buy)
    buy_v = sum(t.quantity * t.price for t in trades if t.order.is_buy)
    sell_v = sum(t.quantity * t.price for t in trades if not t.order.is_buy)
    buy_p = buy_v / buy_q if buy_q else 0.0
    sell_p = sell_v / sell_q if sell_q else 0.0
    qty = buy_q - sell_q
    last = q.last or (buy_p if qty > 0 else sell_p)
    pnl = (sell_v - buy_v) + qty * last
    realised = min(buy_q, sell_q) * (sell_p - buy_p)
    avg = buy_p if qty > 0 else sell_p if qty < 0 else 0.0
    day = {
        "day_buy_quantity": buy_q,
        "day_buy_price": buy_p,
        "day_buy_value": buy_v,
        "day_sell_quantity": sell_q,
        "day_sell_price": sell_p,
        "day_sell_value": sell_v,
    }
    return {
        "tradingsymbol": inst.tradingsymbol,
        "exchange": inst.exchange,
        "instrument_token": inst.instrument_token,
        "product": product,
        "quantity": qty,
        "overnight_quantity": 0,
        "multiplier": 1,
        "average_price": avg,
        "close_price": q.close,
        "last_price": q.last,
        "value": sell_v - buy_v,
        "pnl": pnl,
        "m2m": pnl,
        "unrealised": pnl - realised,
        "realised": realised,
        "buy_quantity": buy_q,
        "buy_price": buy_p,
        "buy_value": buy_v,
        "buy_m2m": buy_v,
        "sell_quantity": sell_q,
        "sell_price": sell_p,
        "sell_value": sell_v,
        "sell_m2m": sell_v,
        **day,
    }
