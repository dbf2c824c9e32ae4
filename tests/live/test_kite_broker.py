"""The Kite adapter keeps the broker contract, through the official ``kiteconnect`` client,
against the local fake Kite (``tests/fakekite``): the same promises the paper broker keeps
(``tests/execution/broker_contract.py``, reused unchanged), then Kite's own ways of failing."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kiteconnect import KiteConnect, KiteTicker

from dyntrail.execution.broker import (
    BrokerEventKind,
    Disconnected,
    DuplicateTag,
    QuoteFn,
    RateLimited,
)
from dyntrail.execution.orders import OrderIntent, OrderState
from dyntrail.execution.tags import OUR_TAGS
from dyntrail.live.feed import KiteFeed
from dyntrail.live.kite_broker import KiteBroker, KiteSettings, SessionExpired
from dyntrail.live.throttle import TokenBucket
from execution.broker_contract import CE, T0, TOUCH, BrokerContract, Clock, intent
from fakekite import FakeKite, option_instruments
from fakekite.kite_reactor import close_ticker, connect_ticker, wait_until
from fakekite.model import IST

CHAIN = option_instruments(
    expiry=dt.date(2025, 1, 30), strikes=[24000], lot=25, monthly=True, first_token=12_000_002
)


class OnFakeExchange:
    """The adapter, with the fake exchange's market moved by the test's quotes: the exchange
    matches the orders (as Kite's does), the adapter only reads what happened."""

    def __init__(self, fake: FakeKite, broker: KiteBroker) -> None:
        self.fake, self.broker = fake, broker

    def __getattr__(self, name: str) -> Any:
        return getattr(self.broker, name)

    def _time(self, now: dt.datetime) -> None:
        if now >= self.fake.now():
            self.fake.set_time(now)

    def place(self, intent: OrderIntent, now: dt.datetime) -> None:
        self._time(now)
        self.broker.place(intent, now)

    def on_market(self, now: dt.datetime, quote: QuoteFn) -> list[Any]:
        if now >= self.fake.now():
            self.fake.set_market(now, quote)
        return self.broker.on_market(now, quote)


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    with FakeKite("kitekey", "kitesecret", CHAIN) as f:
        f.set_time(T0)
        yield f


def kite_broker(fake: FakeKite, **settings: Any) -> KiteBroker:
    kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root, timeout=2)
    # the contract's tags (B1, S1) are not the engine's (D250103P01E1): count any as ours
    opts = {"poll_s": 0.0, "resend_after_s": 0.5, "backoff_s": 0.05, "tags": ".", **settings}
    return KiteBroker(kite, KiteSettings(**opts))


class TestKiteBrokerContract(BrokerContract):
    @pytest.fixture(autouse=True)
    def _fake(self, fake: FakeKite) -> None:
        self.fake = fake

    def make_broker(self, tmp_path: Path) -> Any:
        return OnFakeExchange(self.fake, kite_broker(self.fake))


# ---------------------------------------------------------------------------- Kite's own ways


def settle(broker: OnFakeExchange, clock: Clock, tag: str) -> list[Any]:
    events: list[Any] = []
    for _ in range(50):
        events += broker.on_market(clock.tick(), TOUCH)
        rows = [r for r in broker.order_book() if r.tag == tag]
        if rows and rows[0].state in (OrderState.FILLED, OrderState.REJECTED):
            return events
    raise AssertionError(f"{tag} never settled")


def test_orders_carry_the_tag_and_market_protection(fake: FakeKite) -> None:
    inner = kite_broker(fake, algo_id="ALGO7")
    sent: list[dict[str, Any]] = []
    place = inner.kite.place_order
    inner.kite.place_order = lambda **kw: (sent.append(kw), place(**kw))[1]
    b = OnFakeExchange(fake, inner)
    clock = Clock()
    b.place(intent("B1"), clock.now)
    (row,) = fake.orders()
    assert (row["tag"], row["order_type"], row["product"]) == ("B1", "LIMIT", "MIS")
    assert (sent[0]["market_protection"], sent[0]["algo_id"]) == (-1, "ALGO7")
    assert settle(b, clock, "B1")


def test_a_429_is_retried_under_the_same_tag_and_never_doubles(fake: FakeKite) -> None:
    b = OnFakeExchange(fake, kite_broker(fake))
    clock = Clock()
    fake.faults.http_error(429, n=2)
    b.place(intent("B1"), clock.now)  # two refusals, then placed
    assert [r["tag"] for r in fake.orders()] == ["B1"]
    fake.faults.http_error(429, n=5)
    with pytest.raises(RateLimited):
        b.place(intent("B2"), clock.tick())
    assert [r["tag"] for r in fake.orders()] == ["B1"]


def test_a_send_whose_answer_is_lost_is_found_on_the_book_not_sent_again(
    fake: FakeKite,
) -> None:
    b = OnFakeExchange(fake, kite_broker(fake))
    clock = Clock()
    fake.faults.timeout_after_send(1, delay=3.0)  # placed, but the client times out (2 s)
    with pytest.raises(Disconnected):
        b.place(intent("B1"), clock.now)
    with pytest.raises(Disconnected, match="outcome is unknown"):  # too soon to tell
        b.place(intent("B1"), clock.tick())

    time.sleep(0.6)
    with pytest.raises(DuplicateTag):  # the book has it: adopted, never a second order
        b.place(intent("B1"), clock.tick())
    assert [r["tag"] for r in fake.orders()] == ["B1"]
    assert any(e.kind is BrokerEventKind.FILL for e in settle(b, clock, "B1"))


def test_an_exchange_reject_and_a_refused_order_both_reach_the_engine(fake: FakeKite) -> None:
    b = OnFakeExchange(fake, kite_broker(fake))
    clock = Clock()
    fake.faults.reject_next(1, reason="RMS: margin exceeds")
    b.place(intent("B1"), clock.now)
    b.place(intent("B2", qty=30), clock.tick())  # not a multiple of the lot: Kite's 400
    events = b.on_market(clock.tick(), TOUCH)
    rejects = {e.tag: e.reason for e in events if e.kind is BrokerEventKind.REJECT}
    assert set(rejects) == {"B1", "B2"} and "margin" in rejects["B1"]
    with pytest.raises(DuplicateTag):
        b.place(intent("B2"), clock.tick())


def test_an_expired_session_says_so_and_leaks_no_credential(fake: FakeKite) -> None:
    inner = kite_broker(fake)
    b = OnFakeExchange(fake, inner)
    fake.expire_session()
    with pytest.raises(SessionExpired) as info:
        b.place(intent("B1"), Clock().now)
    assert inner.session_expired
    assert fake.access_token not in str(info.value) and "kitesecret" not in str(info.value)


def test_websocket_order_updates_are_applied_without_a_poll(fake: FakeKite) -> None:
    """With no poll due, an order update from the WebSocket alone brings the fill (its trades
    read once); without the update nothing is heard."""
    inner = kite_broker(fake, poll_s=3600.0)
    b = OnFakeExchange(fake, inner)
    clock = Clock()
    b.place(intent("B1", limit=95.0), clock.now)  # rests
    assert inner.on_market(clock.tick(), TOUCH) == []  # no poll due, no update: nothing
    inner.take_update(dict(fake.orders()[0]))  # OPEN, as the ticker hands it over
    assert [e.kind for e in inner.on_market(clock.tick(), TOUCH)] == [BrokerEventKind.ACK]
    fake.set_quote(CE, 94.0, 95.0)  # fills at once at the exchange
    assert inner.on_market(clock.tick(), TOUCH) == []  # no poll due, no update: nothing yet
    inner.take_update(dict(fake.orders()[0]))  # COMPLETE
    fills = [e for e in inner.on_market(clock.tick(), TOUCH) if e.kind is BrokerEventKind.FILL]
    assert [(f.qty, f.price) for f in fills] == [(75, 95.0)]


def test_a_5xx_on_a_send_is_an_unknown_outcome_never_a_refusal(fake: FakeKite) -> None:
    """An OrderException that comes as a 500 may have been taken: never booked as a reject
    (its fills would be lost); the tag is resent only after the book says it is not there."""
    b = OnFakeExchange(fake, kite_broker(fake))
    clock = Clock()
    fake.faults.http_error(500, n=1, error_type="OrderException")
    with pytest.raises(Disconnected):
        b.place(intent("B1"), clock.now)

    time.sleep(0.6)
    b.place(intent("B1"), clock.tick())  # not on the book: sent again, under its tag
    assert [r["tag"] for r in fake.orders()] == ["B1"]
    assert not [e for e in b.on_market(clock.tick(), TOUCH) if e.kind is BrokerEventKind.REJECT]


def test_a_cancel_kite_refuses_while_the_order_works_is_not_taken_for_done(
    fake: FakeKite,
) -> None:
    b = OnFakeExchange(fake, kite_broker(fake))
    clock = Clock()
    b.place(intent("B1", limit=95.0), clock.now)  # rests
    fake.faults.http_error(400, n=1, error_type="InputException")
    with pytest.raises(Disconnected, match="not taken yet"):
        b.cancel("B1", clock.tick())
    b.cancel("B1", clock.tick())  # the retry goes through
    assert fake.orders()[0]["status"] == "CANCELLED"


def test_reads_kite_throttles_are_unknown_not_a_crash(fake: FakeKite) -> None:
    b = OnFakeExchange(fake, kite_broker(fake))
    fake.faults.http_error(429, n=10, paths="all")
    with pytest.raises(Disconnected):
        b.order_book()
    fake.faults.clear()


def test_orders_placed_by_hand_on_the_account_are_not_ours(fake: FakeKite) -> None:
    """The engine's broker reads only its own tags: an order another program (or a person)
    placed on the same account, with a tag of its own, is no order of the engine's."""
    kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
    kite.place_order(
        variety="regular", exchange="NFO", tradingsymbol=CE, transaction_type="BUY",
        quantity=25, product="MIS", order_type="LIMIT", price=95.0, tag="manual1",
    )  # fmt: skip
    engine_broker = KiteBroker(kite, KiteSettings(poll_s=0.0))
    assert engine_broker.order_book() == []
    assert engine_broker.on_market(T0 + dt.timedelta(seconds=1), TOUCH) == []


def test_order_updates_come_through_the_official_ticker_and_need_no_poll(fake: FakeKite) -> None:
    """The whole path an update takes in a session: the fake's WebSocket, the official
    ``KiteTicker``, the feed (``KiteFeed``), ``take_update``. An update wakes the runner's wait
    for ticks (it is applied when it comes), and with no poll due the fill is heard from it
    alone: after the order is sent, the adapter never reads the order book."""
    inner = kite_broker(fake, poll_s=3600.0)
    ticker = KiteTicker(fake.api_key, fake.access_token, root=fake.ws_root)
    feed = KiteFeed(ticker, IST, on_order_update=inner.take_update)
    connect_ticker(ticker)
    try:
        wait_until(lambda: len(fake.ws_subscriptions()) == 1)
        clock = Clock()
        OnFakeExchange(fake, inner).place(intent("B1", limit=95.0), clock.now)  # rests
        sent = len(fake.requests)
        fake.set_quote(CE, 94.0, 95.0)  # the exchange fills it
        began = time.monotonic()
        assert feed.drain(60.0) == []  # no tick came, yet the update ended the runner's wait
        assert time.monotonic() - began < 30.0
        heard: list[Any] = []

        def filled() -> bool:
            heard.extend(inner.on_market(clock.tick(), TOUCH))
            return any(e.kind is BrokerEventKind.FILL for e in heard)

        wait_until(filled)
        fills = [(e.qty, e.price) for e in heard if e.kind is BrokerEventKind.FILL]
        assert fills == [(75, 95.0)]
        reads = [(m, p) for _, m, p, _ in fake.requests[sent:]]
        assert ("GET", "/orders") not in reads, reads
    finally:
        close_ticker(ticker)


def test_place_modify_and_cancel_share_one_bucket_below_kites_rate(fake: FakeKite) -> None:
    """Every order call of the adapter, whatever it is, takes from one bucket: a burst of
    places, modifies and cancels asked at once reaches Kite at no more than 10 in any second,
    so Kite never answers one with a 429 (none retried, none refused)."""
    inner = kite_broker(fake, backoff_s=5.0)  # a 429 retried would show as a 5 s stall
    b = OnFakeExchange(fake, inner)
    clock = Clock()
    for n in range(8):
        b.place(intent(f"B{n}", limit=95.0), clock.now)  # all rest
    for n in range(8):
        b.modify(f"B{n}", 94.5, clock.now)
    for n in range(8):
        b.cancel(f"B{n}", clock.now)
    calls = [(t, s) for t, m, p, s in fake.requests if p.startswith("/orders/regular")]
    assert len(calls) == 24 and {s for _, s in calls} == {200}
    times = [t for t, _ in calls]
    worst = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert worst <= 10, worst
    assert times[-1] - times[0] >= (24 - 10) / 10  # paced, not let through at once


def test_a_send_lost_again_and_again_waits_longer_each_time_and_is_never_doubled(
    fake: FakeKite,
) -> None:
    """A network that keeps failing (503s: nothing placed): each resend of the tag comes only
    after the order book says it is not there, and after twice the wait of the one before."""
    wall = [0.0]
    kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root, timeout=2)
    settings = KiteSettings(resend_after_s=1.0, poll_s=0.0, tags=".")
    b = KiteBroker(kite, settings, bucket=TokenBucket(8.0, 2), wall=lambda: wall[0])
    clock = Clock()
    fake.faults.http_error(503, n=3, paths="/orders/regular")

    def sends() -> int:
        return sum(1 for _, method, _, _ in fake.requests if method == "POST")

    for lost, wait in enumerate((1.0, 2.0, 4.0), start=1):
        with pytest.raises(Disconnected):
            b.place(intent("B1"), clock.tick())  # sent: its answer lost
        assert sends() == lost
        wall[0] += wait - 0.5
        with pytest.raises(Disconnected, match=f"decides after {wait:g} s"):
            b.place(intent("B1"), clock.tick())  # too soon: not sent
        assert sends() == lost
        wall[0] += 0.5
    b.place(intent("B1"), clock.tick())  # the book has no B1: sent, and taken this time
    assert sends() == 4 and [r["tag"] for r in fake.orders()] == ["B1"]


def test_an_order_above_the_freeze_quantity_reaches_kite_in_parts_it_takes() -> None:
    """The engine's order layer on the Kite adapter: an entry of two freeze quantities and a
    lot goes to Kite as three orders (its own tags), each within the freeze limit Kite
    enforces (a larger one it refuses), all taken and filled."""
    from dyntrail.core.order_pricing import OrderSide
    from engine.factories import FREEZE, LOT, at, make_orders, make_trade

    chain = option_instruments(
        expiry=dt.date(2025, 3, 27), strikes=[23500], lot=LOT, monthly=True, first_token=13_000_002
    )
    with FakeKite("kitekey", "kitesecret", chain) as fake:
        fake.set_time(dt.datetime(2025, 3, 3, 9, 30, tzinfo=IST))
        fake.set_quote("NIFTY25MAR23500CE", 99.5, 100.5)
        p = make_orders(broker=kite_broker(fake, tags=OUR_TAGS))  # type: ignore[arg-type]
        qty = 2 * FREEZE + LOT
        tr = make_trade(3, run=p.run, filled=False, qty=qty)
        p.orders.send(tr, "entry", OrderSide.BUY, qty, 100.0, 23500.0, at(0), 1, 99.5, 100.5)
        rows = sorted(fake.orders(), key=lambda r: r["tag"])
        assert [(r["tag"], r["quantity"], r["status"]) for r in rows] == [
            ("D250303P03E1Q1", FREEZE, "COMPLETE"),
            ("D250303P03E1Q2", FREEZE, "COMPLETE"),
            ("D250303P03E1Q3", LOT, "COMPLETE"),
        ]
        assert fake.positions() == {"NIFTY25MAR23500CE": qty}
