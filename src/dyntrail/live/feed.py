"""The live market feed: Kite's WebSocket (``KiteTicker``, the official client) in full mode,
turned into ``Tick`` values on a queue the runner drains, and the latest quote of every
instrument (``TickBook``) that the engine's option quotes read (``LiveQuotes``).

The ticker runs on its own thread and reconnects by itself (with backoff); the feed counts the
reconnects and remembers when the last tick came, so the runner can call the feed stale (no new
entries while it is) and say so. Order updates that come on the same socket go to the broker
(``on_order_update``) and wake the runner's wait for ticks, so an update is applied (and an ack
or fill stamped) when it comes, not at the next tick or the wait's end."""

from __future__ import annotations

import datetime as dt
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from dyntrail.core.contract import Contract
from dyntrail.data.options_synth import OptionQuote
from dyntrail.live.instruments import Instruments

_NAN = math.nan


@dataclass(frozen=True, slots=True)
class Tick:
    """One instrument's tick: naive exchange time, last price, best bid and ask (0 when the
    book has none; an index has neither) and the day's traded volume so far (None: an index).
    ``stamped``: the exchange gave its time (a tick in a mode without one, as right after a
    reconnect, has the wall's, which never moves a replay's market time)."""

    token: int
    ts: dt.datetime
    last: float
    bid: float
    ask: float
    volume: float | None
    stamped: bool = True


def tick_of(raw: dict[str, Any], tz: dt.tzinfo, wall: Callable[[], float] = time.time) -> Tick:
    """A ``KiteTicker`` tick as a ``Tick``. The client makes times with ``fromtimestamp`` (the
    machine's zone); they are turned back into exchange time here."""
    stamp = raw.get("exchange_timestamp") or raw.get("last_trade_time")
    epoch = stamp.timestamp() if isinstance(stamp, dt.datetime) else wall()
    ts = dt.datetime.fromtimestamp(epoch, tz).replace(tzinfo=None)
    bid = ask = 0.0
    depth = raw.get("depth")
    if depth:
        buys, sells = depth.get("buy") or [], depth.get("sell") or []
        bid = float(buys[0]["price"]) if buys and buys[0].get("quantity") else 0.0
        ask = float(sells[0]["price"]) if sells and sells[0].get("quantity") else 0.0
    volume = raw.get("volume_traded") if raw.get("tradable", True) else None
    return Tick(
        int(raw["instrument_token"]),
        ts,
        float(raw["last_price"]),
        bid,
        ask,
        float(volume) if volume is not None else None,
        isinstance(stamp, dt.datetime),
    )


class TickBook:
    """The latest tick of each instrument (written by the feed's thread, read by the engine's;
    a dict item assignment is atomic)."""

    def __init__(self) -> None:
        self.latest: dict[int, Tick] = {}

    def put(self, tick: Tick) -> None:
        self.latest[tick.token] = tick

    def get(self, token: int) -> Tick | None:
        return self.latest.get(token)


class LiveQuotes:
    """The engine's ``QuoteSource`` on live ticks: an option's best bid and ask as its last
    tick had them, when that tick is at most ``max_age`` old at ``now``; the delta is not
    known (NaN), so the mapping uses its model, as with recorded quotes."""

    deltas: ClassVar[bool] = False  # (the gap strike's choice, which needs them, takes the ATM)

    def __init__(self, book: TickBook, instruments: Instruments, max_age: dt.timedelta) -> None:
        self.book, self.instruments, self.max_age = book, instruments, max_age

    def quote(
        self, contract: Contract, now: dt.datetime, *, spot: float, vix: float, t_years: float
    ) -> OptionQuote | None:
        if not contract.is_option:
            return None
        listed = self.instruments.by_symbol.get(contract.symbol)
        tick = self.book.get(listed.token) if listed is not None else None
        if tick is None or now - tick.ts > self.max_age:
            return None
        return OptionQuote(tick.bid, tick.ask, tick.last, _NAN, _NAN)


class KiteFeed:
    """Kite's WebSocket feed (see the module docstring). ``ticker`` is a ``KiteTicker`` (made
    by the caller with the day's token; the feed never sees the credentials)."""

    def __init__(
        self,
        ticker: Any,
        tz: dt.tzinfo,
        *,
        on_order_update: Callable[[dict[str, Any]], None] | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ticker, self.tz, self._wall = ticker, tz, wall
        self.ticks: queue.SimpleQueue[Tick | None] = queue.SimpleQueue()  # None: an update came
        self.tokens: set[int] = set()
        self.connected = threading.Event()
        self.reconnects = 0
        self.last_tick = wall()
        self.errors: list[str] = []
        ticker.on_ticks = self._on_ticks
        ticker.on_connect = self._on_connect
        ticker.on_close = lambda ws, code, reason: self.connected.clear()
        ticker.on_error = lambda ws, code, reason: self._note(f"error {code}: {reason}")
        ticker.on_reconnect = self._on_reconnect
        ticker.on_noreconnect = self._on_noreconnect
        if on_order_update is not None:

            def update(ws: Any, data: dict[str, Any]) -> None:
                on_order_update(data)
                self.ticks.put(None)  # the runner's wait ends: it applies the update now

            ticker.on_order_update = update

    def start(self, tokens: Iterable[int]) -> None:
        self.tokens.update(int(t) for t in tokens)
        self.ticker.connect(threaded=True)

    def subscribe(self, tokens: Iterable[int]) -> None:
        """Add instruments (full mode: depth gives the option's bid and ask)."""
        new = sorted(set(int(t) for t in tokens) - self.tokens)
        if not new:
            return
        self.tokens.update(new)  # a reconnect subscribes all of them (``_on_connect``)
        if self.connected.is_set():
            self._on_reactor(lambda: self._send_subscribe(new))

    def _send_subscribe(self, tokens: list[int]) -> None:
        """On the ticker's thread (Twisted is not thread-safe); a socket that just dropped is
        not an error here: the reconnect subscribes everything."""
        try:
            self.ticker.subscribe(tokens)
            self.ticker.set_mode(self.ticker.MODE_FULL, tokens)
        except Exception as exc:
            self._note(f"subscribe failed ({type(exc).__name__}): the reconnect will")

    @staticmethod
    def _on_reactor(fn: Callable[[], object]) -> None:
        from twisted.internet import reactor

        reactor.callFromThread(fn)

    def drain(self, timeout: float) -> list[Tick]:
        """The ticks that came since the last call, waiting up to ``timeout`` for the first
        (or for an order update: the wait ends with what came, perhaps nothing)."""
        out: list[Tick] = []
        try:
            tick = self.ticks.get(timeout=timeout)
            while True:
                if tick is not None:
                    out.append(tick)
                tick = self.ticks.get_nowait()
        except queue.Empty:
            return out

    def quiet_for(self) -> float:
        """Seconds since the last tick (or since the feed started)."""
        return self._wall() - self.last_tick

    def close(self) -> None:
        """Close the socket and stop reconnecting (never ``ticker.stop()``: that stops the
        process's one Twisted reactor for good)."""
        self.ticker.close()

    def _on_ticks(self, ws: Any, ticks: list[dict[str, Any]]) -> None:
        self.last_tick = self._wall()
        for raw in ticks:
            self.ticks.put(tick_of(raw, self.tz))

    def _on_connect(self, ws: Any, response: Any) -> None:
        self.connected.set()
        tokens = sorted(self.tokens)
        if tokens:
            ws.subscribe(tokens)
            ws.set_mode(ws.MODE_FULL, tokens)

    def _on_noreconnect(self, ws: Any) -> None:
        """The ticker gave up its retries: start it again (a live session never stays blind;
        meanwhile the feed is stale and no entry goes out)."""
        self._note("the ticker gave up reconnecting: connecting again")
        timer = threading.Timer(5.0, lambda: self._on_reactor(self._reconnect))
        timer.daemon = True
        timer.start()

    def _reconnect(self) -> None:
        try:
            self.ticker.connect(threaded=True)
        except Exception as exc:
            self._note(f"connect failed ({type(exc).__name__})")

    def _on_reconnect(self, ws: Any, attempts: int) -> None:
        self.reconnects += 1
        self._note(f"reconnecting (attempt {attempts})")

    def _note(self, text: str) -> None:
        self.errors.append(text)
        del self.errors[:-20]
