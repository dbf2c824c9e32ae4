"""``FakeKite``: a local Kite Connect (REST and WebSocket) for the official ``kiteconnect``
client, with an exchange behind it that a test drives (time, quotes, ticks) and faults it arms.

    with FakeKite(instruments=option_instruments(expiry=..., strikes=[24000])) as fake:
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        ticker = KiteTicker(fake.api_key, fake.access_token, root=fake.ws_root)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from fakekite.exchange import Exchange
from fakekite.faults import Faults
from fakekite.gtt import GttBook
from fakekite.instruments import Instrument, index_instruments
from fakekite.market import Candle, tick_packet
from fakekite.model import APP_ID, IST, USER_ID, Order
from fakekite.rest import RestServer
from fakekite.routes import fire_gtts
from fakekite.sessions import Sessions
from fakekite.ws import TickerHub

DEFAULT_FREEZE_LIMITS = {"NIFTY": 1800, "BANKNIFTY": 900, "FINNIFTY": 1800, "MIDCPNIFTY": 2800}
QuoteFn = Callable[[str], "tuple[float, float] | None"]


class FakeKite:
    def __init__(
        self,
        api_key: str = "kitekey",
        api_secret: str = "kitesecret",
        instruments: Iterable[Instrument] = (),
        *,
        order_rate: int = 10,
        freeze_limits: Mapping[str, int] | None = None,
        cash: float = 1_000_000.0,
    ) -> None:
        self.api_key, self.api_secret, self.cash = api_key, api_secret, cash
        self.freeze_limits = dict(DEFAULT_FREEZE_LIMITS if freeze_limits is None else freeze_limits)
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self._now: dt.datetime | None = None
        rows = {i.key: i for i in index_instruments()}
        rows.update({i.key: i for i in instruments})
        self.sessions = Sessions(api_key, api_secret, self.now)
        self.hub = TickerHub(self.sessions.valid)
        self.faults = Faults(self.hub.drop_all)
        self.hub.refuse = self.faults.take_refused_handshake
        self.exchange = Exchange(rows, self.now, self._notify, self.faults, self.freeze_limits)
        self.gtts = GttBook(rows, self.freeze_limits)
        self.candles: dict[tuple[int, str], list[Candle]] = {}
        self.order_calls: list[tuple[str, str]] = []
        # every request answered: (time.monotonic() at the answer, method, path, HTTP status)
        self.requests: list[tuple[float, str, str, int]] = []
        self._rest = RestServer(self, order_rate)
        self._ws_port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> FakeKite:
        self._rest.start()
        self._ws_port = self.hub.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.hub.stop()
        self._rest.stop()

    def __enter__(self) -> FakeKite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def rest_root(self) -> str:
        return f"http://127.0.0.1:{self._rest.port}"

    @property
    def ws_root(self) -> str:
        if self._ws_port is None:
            raise RuntimeError("FakeKite is not started")
        return f"ws://127.0.0.1:{self._ws_port}"

    # -- session -----------------------------------------------------------------------------------
    @property
    def access_token(self) -> str:
        return self.sessions.access_token

    def request_token(self) -> str:
        """A request token, as Kite's login redirect hands it over; good for one session."""
        return self.sessions.request_token()

    def expire_session(self) -> None:
        """The access token stops working: REST calls with it get 403 TokenException and
        WebSocket handshakes with it are refused (open connections stay)."""
        self.sessions.expire()

    # -- time and the market -----------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """Market time (IST): the last ``set_time``, or the wall clock before any."""
        if self._now is not None:
            return self._now
        return dt.datetime.now(IST).replace(microsecond=0)

    def set_time(self, now: dt.datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("market time must be timezone-aware")
        with self.lock:
            if self._now is not None and now < self._now:
                raise ValueError(f"time went backwards: {now} < {self._now}")
            self._now = now.astimezone(IST)
            self.exchange.expire_ttl(self._now)

    def instrument(self, tradingsymbol: str) -> Instrument:
        """The instrument with this trading symbol (any exchange)."""
        for inst in self.exchange.instruments.values():
            if inst.tradingsymbol == tradingsymbol:
                return inst
        raise KeyError(tradingsymbol)

    def set_quote(
        self,
        tradingsymbol: str,
        bid: float | None,
        ask: float | None,
        last: float | None = None,
        bid_qty: int | None = None,
        ask_qty: int | None = None,
    ) -> None:
        """The exchange's touch (None or 0: no bid or ask; a quantity None: unlimited).
        Without ``last`` the last price stays (or is the mid when there is none yet). Working
        orders and GTTs on the instrument are matched at once; no tick is sent."""
        inst = self.instrument(tradingsymbol)
        with self.lock:
            q = self.exchange.quote(inst)
            q.set_touch(bid, ask, bid_qty, ask_qty)
            if last is None and q.last <= 0 and q.bid > 0 and q.ask > 0:
                last = round((q.bid + q.ask) / 2, 4)
            if last is not None:
                q.set_last(last, self.now())
            self._after_quote(inst)

    def set_market(self, now: dt.datetime, quote_fn: QuoteFn) -> None:
        """Set the time, then quote every instrument with a working order or an active GTT from
        ``quote_fn(tradingsymbol) -> (bid, ask) | None`` (called once per instrument; None
        leaves the quote as it is) and match. The last price becomes the mid."""
        with self.lock:
            self.set_time(now)
            wanted = {i.key: i for i in self.exchange.working_symbols()}
            for gtt in self.gtts.visible():
                if gtt.status == "active":
                    key = f"{gtt.condition['exchange']}:{gtt.condition['tradingsymbol']}"
                    wanted[key] = self.exchange.instruments[key]
            for inst in wanted.values():
                touch = quote_fn(inst.tradingsymbol)
                if touch is None:
                    continue
                bid, ask = touch
                q = self.exchange.quote(inst)
                q.set_touch(bid, ask, None, None)
                if q.bid > 0 and q.ask > 0:
                    q.set_last(round((q.bid + q.ask) / 2, 4), self.now())
                self._after_quote(inst)

    def push_tick(
        self,
        instrument_token: int,
        last: float,
        *,
        bid: float | None = None,
        ask: float | None = None,
        bid_qty: int | None = None,
        ask_qty: int | None = None,
        volume: int | None = None,
        oi: int | None = None,
        last_quantity: int | None = None,
        ts: dt.datetime | None = None,
    ) -> int:
        """A trade at ``last``: the quote moves (bid and ask default to ``last``), working
        orders and GTTs match, and every WebSocket client subscribed to the token gets a tick in
        its mode. ``ts`` (later than now) moves market time. Returns how many clients got it."""
        inst = self.exchange.by_token[instrument_token]
        with self.lock:
            if ts is not None and (self._now is None or ts >= self._now):
                self.set_time(ts)
            q = self.exchange.quote(inst)
            if not inst.is_index:
                q.set_touch(
                    last if bid is None else bid, last if ask is None else ask, bid_qty, ask_qty
                )
            q.set_last(last, self.now())
            if volume is not None:
                q.volume = volume
            if last_quantity is not None:
                q.last_quantity = last_quantity
            if oi is not None:
                q.oi = oi
                q.oi_day_high = max(q.oi_day_high, oi)
                q.oi_day_low = oi if q.oi_day_low == 0 else min(q.oi_day_low, oi)
            q.timestamp = ts or self.now()
            stamp = q.timestamp
            sent = self.hub.send_ticks(
                instrument_token, lambda mode: tick_packet(inst, q, mode, stamp)
            )
            self._after_quote(inst)
            return sent

    def _after_quote(self, inst: Instrument) -> None:
        self.exchange.match(inst)
        fire_gtts(self, inst.instrument_token, self.exchange.quote(inst).last)

    # -- what a test asserts on --------------------------------------------------------------------
    def orders(self) -> list[dict[str, Any]]:
        """The day's order book, as ``GET /orders`` returns it."""
        with self.lock:
            return [o.row() for o in self.exchange.orders.values()]

    def positions(self) -> dict[str, int]:
        """Net signed quantity by trading symbol (flat ones left out)."""
        with self.lock:
            return self.exchange.net_positions()

    def ws_subscriptions(self) -> list[dict[int, str]]:
        """Per connected WebSocket client: token -> mode."""
        return self.hub.subscriptions()

    def record_order_call(self, method: str, path: str) -> None:
        with self.lock:
            self.order_calls.append((method, path))

    def record_request(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append((time.monotonic(), method, path, status))

    def margins(self) -> dict[str, Any]:
        with self.lock:
            spent = sum(
                t.quantity * t.price * (1 if t.order.is_buy else -1) for t in self.exchange.trades
            )
        premium = max(spent, 0.0)
        return {"equity": _segment(self.cash, premium), "commodity": _segment(0.0, 0.0)}

    # -- order updates -----------------------------------------------------------------------------
    def _notify(self, order: Order, status: str) -> None:
        if self.faults.take_lost_update():
            return
        data = order.row(status)
        stamp = data["order_timestamp"] or ""
        checksum = hashlib.sha256((order.order_id + stamp + self.api_secret).encode()).hexdigest()
        data.update(
            user_id=USER_ID,
            unfilled_quantity=order.remaining if order.working else 0,
            app_id=APP_ID,
            checksum=checksum,
        )
        self.hub.send_order_update(data)


def _segment(cash: float, premium: float) -> dict[str, Any]:
    net = cash - premium
    return {
        "enabled": cash > 0,
        "net": net,
        "available": {
            "adhoc_margin": 0.0,
            "cash": cash,
            "opening_balance": cash,
            "live_balance": net,
            "collateral": 0.0,
            "intraday_payin": 0.0,
        },
        "utilised": {
            "debits": premium,
            "exposure": 0.0,
            "m2m_realised": 0.0,
            "m2m_unrealised": 0.0,
            "option_premium": premium,
            "payout": 0.0,
            "span": 0.0,
            "holding_sales": 0.0,
            "turnover": 0.0,
            "liquid_collateral": 0.0,
            "stock_collateral": 0.0,
            "delivery": 0.0,
        },
    }
