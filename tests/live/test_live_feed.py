"""The live feed on the official ``KiteTicker`` against the fake Kite: when the client gives
up reconnecting (Kite's gateway refused it more times than it tries), the feed starts it again
itself and every instrument is subscribed again; a live session never stays blind."""

from __future__ import annotations

from kiteconnect import KiteTicker
from replay import NIFTY_50

from dyntrail.live.feed import KiteFeed
from fakekite import FakeKite
from fakekite.kite_reactor import close_ticker, connect_ticker, wait_until
from fakekite.model import IST


def test_a_ticker_that_gives_up_is_started_again_and_subscribes_everything(
    fake: FakeKite,
) -> None:
    ticker = KiteTicker(fake.api_key, fake.access_token, root=fake.ws_root, reconnect_max_tries=2)
    feed = KiteFeed(ticker, IST)
    feed.tokens.add(NIFTY_50)  # what ``start`` subscribes
    connect_ticker(ticker)  # (the reconnect back-off shortened; the feed's own restart is not)
    try:
        wait_until(lambda: {NIFTY_50: "full"} in fake.ws_subscriptions())
        fake.faults.refuse_ws_handshakes(3)  # more than the client's two tries
        fake.faults.drop_ws()
        wait_until(lambda: any("gave up" in e for e in feed.errors), 15)
        assert not feed.connected.is_set() and fake.ws_subscriptions() == []
        wait_until(lambda: {NIFTY_50: "full"} in fake.ws_subscriptions(), 20)  # started again
        assert feed.connected.is_set() and fake.faults.fired["refused handshake"] == 3
        fake.push_tick(NIFTY_50, 24012.5)
        assert [t.last for t in feed.drain(10.0)] == [24012.5]
    finally:
        close_ticker(ticker)
