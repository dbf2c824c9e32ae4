"""The ``Broker`` on Zerodha Kite Connect, through the official ``kiteconnect`` client.

How it keeps the broker protocol's promises (``dyntrail.execution.broker``) on a service that
does not:

- **One order per tag.** Kite does not refuse a second order with a tag it holds, so we do: a
  tag placed, refused or seen on the day's book is never placed again (``DuplicateTag``). A send
  whose outcome is unknown (a timeout, a 5xx, a dropped connection) raises ``Disconnected`` and
  its tag is *unsure*: it is not sent again before ``resend_after_s`` has passed (doubled for
  each send of the tag lost in a row, up to 8 times: a network that stays down is not hammered)
  and the day's order book has been read without it; found there, it is adopted, never doubled.
- **Rate.** Every order call (place, modify, cancel) takes a token from one bucket kept below
  Kite's 10 a second; a 429 is retried after a pause (nothing was placed), then ``RateLimited``.
- **Updates.** Order updates from the WebSocket (``take_update``) are applied as they come; the
  order book is read at least every ``poll_s`` seconds while an order of ours is working, and
  whenever an update is incomplete. The book is the truth: each change becomes the protocol's
  events once (``kite_rows.news``); fills carry Kite's trade ids.
- **Refusals.** An order Kite refuses outright (400: bad input, margins) is booked here as
  rejected with Kite's message, and the engine hears a reject, as for an exchange rejection.
- **Session.** A 403 ``TokenException`` raises ``SessionExpired`` (a ``Disconnected``: nothing is
  assumed) and sets ``session_expired``; the runner stops and asks for a new login.

No credential is ever part of a message: the client holds them, we never format them."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from kiteconnect import exceptions as kex

from dyntrail.core.order_pricing import OrderSide
from dyntrail.errors import BrokerError
from dyntrail.execution.broker import (
    AlreadyTriggered,
    BrokerEvent,
    BrokerOrder,
    Disconnected,
    DuplicateTag,
    OrderNotWorking,
    QuoteFn,
    RateLimited,
    TooManyModifications,
    UnknownOrder,
)
from dyntrail.execution.orders import (
    BrokerOrderId,
    Order,
    OrderIntent,
    OrderState,
    OrderType,
    check_prices,
)
from dyntrail.execution.tags import OUR_TAGS
from dyntrail.live.kite_rows import (
    KiteRow,
    Told,
    book_row,
    fills_of,
    is_stop,
    news,
    our_tag,
    shows_trigger,
    triggered_in_history,
)
from dyntrail.live.throttle import TokenBucket

log = logging.getLogger(__name__)

_ENDED = frozenset({"COMPLETE", "REJECTED", "CANCELLED", "LAPSED", "EXPIRED"})


class SessionExpired(Disconnected):
    """Kite refused the access token (403): log in again (``dyntrail live login``)."""


@dataclass(frozen=True, slots=True)
class KiteSettings:
    """How orders go to Kite (``[live]`` in the config); see the README's Live section."""

    exchange: str = "NFO"
    product: str = "MIS"
    variety: str = "regular"
    market_protection: int = -1  # -1: Kite's automatic protection; else a percentage 1-100
    algo_id: str | None = None
    tick: float = 0.05
    poll_s: float = 1.0
    resend_after_s: float = 10.0
    rate_per_s: float = 8.0
    burst: int = 2
    tries_429: int = 3
    backoff_s: float = 0.25
    tags: str = OUR_TAGS  # the orders that are ours (a regex on Kite's tag)


class KiteBroker:
    """The broker protocol on a ``KiteConnect`` client (see the module docstring)."""

    def __init__(
        self,
        kite: Any,
        settings: KiteSettings | None = None,
        *,
        bucket: TokenBucket | None = None,
        wall: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        s = self.settings = settings or KiteSettings()
        self.kite = kite
        self.bucket = bucket or TokenBucket(s.rate_per_s, s.burst, clock=wall, sleep=sleep)
        self._wall, self._sleep = wall, sleep
        self.clock: dt.datetime | None = None
        self.session_expired = False
        self._ids: dict[str, str] = {}  # tag -> Kite order id
        self._rows: dict[str, KiteRow] = {}  # order id -> its latest row
        self._trades: dict[str, list[KiteRow]] = {}  # order id -> its trades, as last read
        self._told: dict[str, Told] = {}
        self._refused: dict[str, BrokerOrder] = {}  # refused by Kite before it took them
        self._unsure: dict[str, float] = {}  # tag -> wall time its send's outcome was lost
        self._lost: dict[str, int] = {}  # tag -> its sends lost in a row
        self._triggered: set[str] = set()
        self._expired: set[str] = set()  # instruments the exchange settled
        self._expired_tags: set[str] = set()
        self._updates: collections.deque[KiteRow] = collections.deque()
        self._book_read = False
        self._ours = re.compile(s.tags)
        self._last_poll = -math.inf

    # ------------------------------------------------------------------ the protocol

    def place(self, intent: OrderIntent, now: dt.datetime) -> None:
        order = Order(intent)  # the intent's rules (tag, qty, prices) before anything is sent
        self._advance(now)
        tag = intent.tag
        if not self._book_read:
            self._take_book()
        if tag in self._ids or tag in self._refused:
            raise DuplicateTag(f"place {tag}: the broker already holds it")
        if tag in self._unsure:
            self._resolve_unsure(tag)
        params = self._place_params(order)
        try:
            order_id = self._call(self.kite.place_order, order_call=True, **params)
        except Disconnected:
            self._unsure[tag] = self._wall()
            self._lost[tag] = self._lost.get(tag, 0) + 1
            raise
        except _Refused as exc:
            self._refuse(order, str(exc))
            return
        self._unsure.pop(tag, None)
        self._lost.pop(tag, None)
        self._ids[tag] = str(order_id)

    def modify(
        self, tag: str, limit: float, now: dt.datetime, trigger: float | None = None
    ) -> None:
        for name, value in (("limit", limit), ("trigger", trigger)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"modify {tag}: {name} must be finite and > 0, got {value}")
        self._advance(now)
        row = self._fresh_row(tag, "modify")
        stop = is_stop(row)
        if str(row.get("status")) in _ENDED:
            raise OrderNotWorking(f"modify {tag}: order is {str(row.get('status')).lower()}")
        if trigger is not None and stop and self._is_triggered(tag, row):
            raise AlreadyTriggered(
                f"modify {tag}: the stop has triggered, so only its limit can change (its "
                f"trigger stays {row.get('trigger_price')}, asked {trigger})"
            )
        side = _side(row)
        kind = OrderType.STOP_LIMIT if stop else OrderType.LIMIT
        new_trigger = trigger
        if stop and trigger is None:
            new_trigger = float(row["trigger_price"])
        check_prices(tag, side, kind, limit, new_trigger, self.settings.tick)
        params: dict[str, Any] = {"variety": self.settings.variety, "order_id": row["order_id"]}
        params["price"] = limit
        if stop:
            params["trigger_price"] = new_trigger
        try:
            self._call(self.kite.modify_order, order_call=True, **params)
        except _Refused as exc:
            self._take_book()
            if str(self._rows[str(row["order_id"])].get("status")) in _ENDED:
                raise OrderNotWorking(f"modify {tag}: {exc}") from None
            if "modif" in str(exc).lower():
                raise TooManyModifications(f"modify {tag}: {exc}") from None
            raise BrokerError(f"modify {tag}: Kite refused it: {exc}") from None

    def cancel(self, tag: str, now: dt.datetime) -> None:
        self._advance(now)
        if tag in self._refused:
            return
        row = self._fresh_row(tag, "cancel")
        if str(row.get("status")) in _ENDED:
            return
        try:
            self._call(
                self.kite.cancel_order,
                order_call=True,
                variety=self.settings.variety,
                order_id=row["order_id"],
            )
        except _Refused as exc:  # ended meanwhile (nothing to cancel), or still being processed
            self._take_book()
            if str(self._rows[str(row["order_id"])].get("status")) not in _ENDED:
                raise Disconnected(f"cancel {tag}: not taken yet ({exc}); try again") from None

    def order_book(self) -> list[BrokerOrder]:
        self._take_book()
        out = [self._row(r) for r in self._rows.values() if self._our(r) is not None]
        return out + list(self._refused.values())

    def positions(self) -> dict[str, int]:
        held = self._call(self.kite.positions, order_call=False)
        out: dict[str, int] = {}
        for p in held.get("net", []):
            symbol, qty = str(p["tradingsymbol"]), int(p["quantity"])
            if p.get("exchange") == self.settings.exchange and qty and symbol not in self._expired:
                out[symbol] = out.get(symbol, 0) + qty
        return out

    def on_market(self, now: dt.datetime, quote: QuoteFn) -> list[BrokerEvent]:
        """Kite's exchange fills against its own market: ``quote`` is not used. Updates that
        came on the WebSocket are applied; the book is read when a poll is due."""
        self._advance(now)
        rows = self._drain_updates()
        working = any(t not in self._told or not self._told[t].ended for t in self._ids)
        if working and self._wall() - self._last_poll >= self.settings.poll_s:
            self._take_book()
            rows = [r for r in self._rows.values() if self._our(r) is not None]
        events: list[BrokerEvent] = []
        for r in rows:
            tag = self._our(r)
            if tag is None or self._told_of(tag).ended:
                continue
            br = self._row(r)
            if br.filled_qty < int(r.get("filled_quantity") or 0):  # its trades not read yet
                self._read_trades()
                br = self._row(r)
                if br.filled_qty < int(r.get("filled_quantity") or 0):
                    self._last_poll = -math.inf  # read again on the next call
                    continue
            events += news(br, self._told_of(tag), now)
        for refused, br in self._refused.items():
            events += news(br, self._told_of(refused), now)
        return events

    def settle_expired(self, instrument: str, now: dt.datetime) -> None:
        """The exchange settled the contract: it leaves ``positions``, and an order of ours
        still working on it is cancelled (and reported expired)."""
        self._advance(now)
        self._expired.add(instrument)
        self._take_book()
        for r in list(self._rows.values()):
            tag = self._our(r)
            if tag and r["tradingsymbol"] == instrument and str(r.get("status")) not in _ENDED:
                self._expired_tags.add(tag)
                self.cancel(tag, now)

    def unsure(self, tags: list[str]) -> None:
        """Tags a restart found sent but not settled: any the day's book does not hold yet is
        not sent again before ``resend_after_s`` (Kite's book can lag an order in flight)."""
        self._take_book()
        now = self._wall()
        for tag in tags:
            if tag not in self._ids:
                self._unsure.setdefault(tag, now)

    # ------------------------------------------------------------------ WebSocket updates

    def take_update(self, data: KiteRow) -> None:
        """An order update from the WebSocket (any thread): applied on the next ``on_market``."""
        self._updates.append(dict(data))

    def _drain_updates(self) -> list[KiteRow]:
        latest: dict[str, KiteRow] = {}
        while self._updates:
            r = self._updates.popleft()
            tag = self._our(r)
            if tag is None or "order_id" not in r:
                continue
            oid = str(r["order_id"])
            self._ids.setdefault(tag, oid)
            if not _older(r, self._rows.get(oid)):
                self._rows[oid] = latest[oid] = r
        return list(latest.values())

    # ------------------------------------------------------------------ reading the book

    def _take_book(self) -> None:
        """Read the day's orders and trades (the truth); our tags learn their order ids."""
        orders = self._call(self.kite.orders, order_call=False)
        self._read_trades()
        for r in orders:
            oid = str(r["order_id"])
            self._rows[oid] = r
            tag = self._our(r)
            if tag is not None:
                known = self._ids.setdefault(tag, oid)
                if known != oid:
                    log.warning("tag %s names two orders at the broker: %s and %s", tag, known, oid)
        self._book_read = True
        self._last_poll = self._wall()

    def _read_trades(self) -> None:
        by_order: dict[str, list[KiteRow]] = {}
        for t in self._call(self.kite.trades, order_call=False):
            by_order.setdefault(str(t["order_id"]), []).append(t)
        self._trades = by_order

    def _row(self, r: KiteRow) -> BrokerOrder:
        tag = self._our(r)
        oid = str(r["order_id"])
        tz = self.clock.tzinfo if self.clock is not None else None
        fills = fills_of(self._trades.get(oid, []), tz)
        expired = tag in self._expired_tags
        triggered = self._is_triggered(tag, r)
        return book_row(r, fills, triggered=triggered, expired=expired)

    def _is_triggered(self, tag: str | None, r: KiteRow) -> bool:
        """A stop's trigger was reached: its row shows it, or (ended unfilled, which a row
        cannot tell) its history does; remembered once known."""
        if tag is None or not is_stop(r):
            return False
        if tag in self._triggered or shows_trigger(r):
            self._triggered.add(tag)
            return True
        if str(r.get("status")) in ("CANCELLED", "REJECTED"):
            history = self._call(self.kite.order_history, order_call=False, order_id=r["order_id"])
            if triggered_in_history(history):
                self._triggered.add(tag)
                return True
        return False

    def _fresh_row(self, tag: str, what: str) -> KiteRow:
        """The order's row as the book has it now (``UnknownOrder`` when it has none)."""
        self._take_book()
        oid = self._ids.get(tag)
        if oid is None or oid not in self._rows:
            raise UnknownOrder(f"{what} {tag}: the broker holds no order with that tag")
        return self._rows[oid]

    def _our(self, row: KiteRow) -> str | None:
        return our_tag(row, self._ours)

    def _told_of(self, tag: str) -> Told:
        told = self._told.get(tag)
        if told is None:
            told = self._told[tag] = Told()
        return told

    # ------------------------------------------------------------------ sending

    def _place_params(self, order: Order) -> dict[str, Any]:
        s, i = self.settings, order.intent
        params: dict[str, Any] = {
            "variety": s.variety,
            "exchange": s.exchange,
            "tradingsymbol": i.instrument,
            "transaction_type": "BUY" if i.side.value == "buy" else "SELL",
            "quantity": i.qty,
            "product": s.product,
            "order_type": "SL" if i.order_type is OrderType.STOP_LIMIT else "LIMIT",
            "price": order.limit,
            "validity": "DAY",
            "tag": i.tag,
            "market_protection": s.market_protection,
        }
        if order.trigger is not None:
            params["trigger_price"] = order.trigger
        if s.algo_id:
            params["algo_id"] = s.algo_id
        return params

    def _resolve_unsure(self, tag: str) -> None:
        """A resend of a tag whose last send's outcome was lost: not before ``resend_after_s``
        (the order may still be on its way; doubled for each lost send in a row, at most 8
        times), and only if the book still does not have it."""
        waited = self._wall() - self._unsure[tag]
        lost = max(self._lost.get(tag, 1), 1)
        wait = self.settings.resend_after_s * min(2 ** (lost - 1), 8)
        if waited < wait:
            raise Disconnected(
                f"place {tag}: the last send's outcome is unknown; the order book decides after "
                f"{wait:g} s ({waited:.1f} s so far)"
            )
        self._take_book()
        if tag in self._ids:
            self._unsure.pop(tag)
            self._lost.pop(tag, None)
            raise DuplicateTag(f"place {tag}: the lost send reached the broker")

    def _refuse(self, order: Order, why: str) -> None:
        """Kept as a rejected row of ours (Kite has none): the engine hears a reject."""
        self._refused[order.tag] = BrokerOrder(
            tag=order.tag,
            broker_order_id=BrokerOrderId(f"refused-{order.tag}"),
            instrument=order.instrument,
            side=order.side,
            qty=order.qty,
            limit=order.limit,
            state=OrderState.REJECTED,
            filled_qty=0,
            avg_price=0.0,
            fills=(),
            reason=why,
            order_type=order.order_type,
            trigger=order.trigger,
            triggered=False,
        )

    def _call(self, fn: Callable[..., Any], *, order_call: bool, **kwargs: Any) -> Any:
        """One request through the client: throttled when it is an order call; a 429 retried
        after a pause; failures in the protocol's terms."""
        what = getattr(fn, "__name__", "request")
        for attempt in range(self.settings.tries_429):
            if order_call:
                self.bucket.take()
            try:
                return fn(**kwargs)
            except kex.KiteException as exc:
                code = getattr(exc, "code", None)
                if code == 429:
                    self._sleep(self.settings.backoff_s * 2**attempt)
                    continue
                raise self._failure(what, exc, order_call) from None
            except requests.exceptions.RequestException as exc:
                raise Disconnected(f"{what}: no answer from Kite ({type(exc).__name__})") from None
            except Exception as exc:  # the client choking on a reply: its outcome is unknown
                raise Disconnected(f"{what}: unreadable answer ({type(exc).__name__})") from None
        if not order_call:  # a read that cannot be made now: as if unanswered, never a crash
            raise Disconnected(f"{what}: Kite answered 429 (too many requests) {attempt + 1} times")
        raise RateLimited(f"{what}: Kite answered 429 (too many requests) {attempt + 1} times")

    def _failure(self, what: str, exc: Exception, order_call: bool) -> Exception:
        """Kite's error in the protocol's terms. Only a 4xx (bad input, margins, a finished
        order) is a refusal, and only for an order call: anything else (a 5xx of any type, a
        read that failed) may or may not have happened and is ``Disconnected``."""
        code = getattr(exc, "code", None)
        text = f"{what}: Kite {code} {type(exc).__name__}: {exc}"
        if isinstance(exc, kex.TokenException) or code == 403:
            self.session_expired = True
            return SessionExpired(text + " (log in again: dyntrail live login)")
        if order_call and isinstance(code, int) and 400 <= code < 500:
            return _Refused(text)
        return Disconnected(text)

    def _advance(self, now: dt.datetime) -> None:
        if self.clock is not None and now < self.clock:
            raise ValueError(f"time went backwards: {now} is before the broker clock {self.clock}")
        self.clock = now


class _Refused(BrokerError):
    """Kite refused the request outright (4xx other than 403/429): nothing happened."""


def _side(row: KiteRow) -> OrderSide:
    return OrderSide.BUY if row["transaction_type"] == "BUY" else OrderSide.SELL


def _older(new: KiteRow, old: KiteRow | None) -> bool:
    """An update older than the row we hold (updates can arrive out of order)."""
    if old is None:
        return False
    return int(new.get("filled_quantity") or 0) < int(old.get("filled_quantity") or 0) or (
        str(old.get("status")) in _ENDED and str(new.get("status")) not in _ENDED
    )
