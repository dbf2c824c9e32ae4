"""The fake's WebSocket side through the official ``KiteTicker``: ticks in every mode (depth
parsed), index packets, order updates, dropped connections and refused handshakes.

Every ticker here runs in the one Twisted reactor the process may have (``kite_reactor``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kiteconnect import KiteTicker
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from fakekite import FakeKite
from fakekite.kite_reactor import close_ticker, connect_ticker, in_reactor, wait_until
from fakekite.sample import CE, NIFTY_50, PE, client


class Recorder:
    """A ticker's callbacks, recorded; subscribes ``modes`` on every connect."""

    def __init__(self, ticker: KiteTicker, modes: dict[int, str]) -> None:
        self.lock = threading.Lock()
        self.ticks: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.connects = 0
        self.errors = 0
        self.modes = modes
        ticker.on_connect = self._on_connect
        ticker.on_ticks = self._on_ticks
        ticker.on_order_update = self._on_update
        ticker.on_error = self._on_error

    def _on_connect(self, ws: KiteTicker, response: Any) -> None:
        with self.lock:
            self.connects += 1
        ws.subscribe(list(self.modes))
        for mode in set(self.modes.values()):
            ws.set_mode(mode, [t for t, m in self.modes.items() if m == mode])

    def _on_ticks(self, ws: KiteTicker, ticks: list[dict[str, Any]]) -> None:
        with self.lock:
            self.ticks.extend(ticks)

    def _on_update(self, ws: KiteTicker, data: dict[str, Any]) -> None:
        with self.lock:
            self.updates.append(data)

    def _on_error(self, ws: KiteTicker, code: Any, reason: Any) -> None:
        with self.lock:
            self.errors += 1

    def statuses(self) -> list[str]:
        with self.lock:
            return [u["status"] for u in self.updates]


Start = Callable[[dict[int, str]], Recorder]


@pytest.fixture
def start_ticker(fake: FakeKite) -> Iterator[Start]:
    """Connect tickers to ``fake`` that subscribe the given token modes; wait until the fake
    sees the subscriptions; close them all afterwards."""
    tickers: list[KiteTicker] = []

    def start(modes: dict[int, str]) -> Recorder:
        ticker = KiteTicker(fake.api_key, fake.access_token, root=fake.ws_root)
        recorder = Recorder(ticker, modes)
        tickers.append(ticker)
        connect_ticker(ticker)
        wait_until(lambda: modes in fake.ws_subscriptions())
        return recorder

    yield start
    for ticker in tickers:
        close_ticker(ticker)
    wait_until(lambda: fake.ws_subscriptions() == [])


def test_full_mode_ticks_carry_depth(fake: FakeKite, start_ticker: Start) -> None:
    rec = start_ticker({CE.instrument_token: "full", PE.instrument_token: "quote"})
    fake.push_tick(
        CE.instrument_token, 100.0, bid=99.5, ask=100.5, bid_qty=300, ask_qty=150,
        volume=5000, oi=12000, last_quantity=75,
    )  # fmt: skip
    fake.push_tick(PE.instrument_token, 80.25)
    wait_until(lambda: len(rec.ticks) == 2)
    full, quote = rec.ticks
    assert (full["mode"], full["instrument_token"], full["tradable"]) == (
        "full", CE.instrument_token, True
    )  # fmt: skip
    assert (full["last_price"], full["volume_traded"], full["oi"]) == (100.0, 5000, 12000)
    assert full["last_traded_quantity"] == 75
    assert full["depth"]["buy"][0] == {"quantity": 300, "price": 99.5, "orders": 1}
    assert full["depth"]["sell"][0] == {"quantity": 150, "price": 100.5, "orders": 1}
    assert [d["price"] for d in full["depth"]["sell"]] == [100.5, 100.55, 100.6, 100.65, 100.7]
    assert full["exchange_timestamp"] is not None
    assert (quote["mode"], quote["last_price"], "depth" in quote) == ("quote", 80.25, False)


def test_ltp_mode_and_index_packets(fake: FakeKite, start_ticker: Start) -> None:
    rec = start_ticker({CE.instrument_token: "ltp", NIFTY_50: "full"})
    fake.push_tick(NIFTY_50, 24012.35)
    fake.push_tick(CE.instrument_token, 101.5)
    fake.push_tick(PE.instrument_token, 80.0)  # nobody subscribed
    wait_until(lambda: len(rec.ticks) == 2)
    index, ltp = rec.ticks
    assert (index["mode"], index["tradable"], index["last_price"]) == ("full", False, 24012.35)
    assert index["ohlc"]["open"] == 24012.35 and "exchange_timestamp" in index
    assert ltp == {
        "tradable": True, "mode": "ltp", "instrument_token": CE.instrument_token,
        "last_price": 101.5,
    }  # fmt: skip


def test_order_updates_follow_every_status_change(fake: FakeKite, start_ticker: Start) -> None:
    rec = start_ticker({CE.instrument_token: "quote"})
    kite = client(fake)
    fake.set_quote(CE.tradingsymbol, 99.5, 100.5, ask_qty=75)
    oid = kite.place_order(
        "regular", "NFO", CE.tradingsymbol, "BUY", 150, "MIS", "LIMIT", price=101
    )
    fake.push_tick(CE.instrument_token, 100.5, bid=100.0, ask=100.5)
    stop = kite.place_order(
        "regular", "NFO", CE.tradingsymbol, "SELL", 75, "MIS", "SL", price=90, trigger_price=91
    )
    kite.cancel_order("regular", stop)
    fake.faults.reject_next()
    kite.place_order("regular", "NFO", CE.tradingsymbol, "BUY", 75, "MIS", "LIMIT", price=90)
    expected = ["OPEN", "UPDATE", "COMPLETE", "TRIGGER PENDING", "CANCELLED", "REJECTED"]
    wait_until(lambda: rec.statuses() == expected)
    first = rec.updates[0]
    assert (first["order_id"], first["filled_quantity"], first["pending_quantity"]) == (oid, 0, 150)
    assert (rec.updates[1]["filled_quantity"], rec.updates[1]["unfilled_quantity"]) == (75, 75)
    assert rec.updates[2]["average_price"] == 100.5
    assert rec.updates[5]["status_message"].startswith("RMS:")


def test_lost_order_updates_are_not_sent(fake: FakeKite, start_ticker: Start) -> None:
    rec = start_ticker({CE.instrument_token: "ltp"})
    kite = client(fake)
    fake.faults.lose_order_updates(1)
    kite.place_order("regular", "NFO", CE.tradingsymbol, "BUY", 75, "MIS", "LIMIT", price=90)
    fake.set_quote(CE.tradingsymbol, 89.0, 89.5)
    wait_until(lambda: rec.statuses() == ["COMPLETE"])
    assert kite.orders()[0]["status"] == "COMPLETE"


def test_a_dropped_connection_reconnects_and_resubscribes(
    fake: FakeKite, start_ticker: Start
) -> None:
    modes = {CE.instrument_token: "full"}
    rec = start_ticker(modes)
    fake.faults.drop_ws()
    wait_until(lambda: rec.connects == 2, timeout=10)
    wait_until(lambda: fake.ws_subscriptions() == [modes])
    assert rec.errors >= 1

    def full_ticks_flow() -> bool:  # the client's own resubscribe may still be in flight
        fake.push_tick(CE.instrument_token, 100.0, bid=99.5, ask=100.5)
        with rec.lock:
            return any(t["mode"] == "full" and "depth" in t for t in rec.ticks)

    wait_until(full_ticks_flow, every=0.05)


def test_a_handshake_with_a_bad_token_is_refused(fake: FakeKite) -> None:
    url = f"{fake.ws_root}/?api_key={fake.api_key}&access_token={fake.access_token}"
    with connect(url) as ws:
        ws.send('{"a": "subscribe", "v": [256265]}')
    fake.expire_session()
    with pytest.raises(InvalidStatus) as e:
        connect(url)
    assert e.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(f"{fake.ws_root}/?api_key=other&access_token={fake.access_token}")


def test_a_second_client_gets_its_own_subscriptions(fake: FakeKite, start_ticker: Start) -> None:
    a = start_ticker({CE.instrument_token: "ltp"})
    b = start_ticker({PE.instrument_token: "ltp"})
    assert fake.push_tick(CE.instrument_token, 100.0) == 1
    fake.push_tick(PE.instrument_token, 80.0)
    wait_until(lambda: len(a.ticks) == 1 and len(b.ticks) == 1)
    assert (a.ticks[0]["instrument_token"], b.ticks[0]["instrument_token"]) == (
        CE.instrument_token, PE.instrument_token
    )  # fmt: skip
    in_reactor(lambda: None)  # the reactor thread is alive and answering
