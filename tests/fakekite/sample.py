"""A small NIFTY chain and market time shared by the fake's tests (and handy for others)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from kiteconnect import KiteConnect

from fakekite.fake import FakeKite
from fakekite.instruments import Instrument, option_instruments

IST = ZoneInfo("Asia/Kolkata")
T0 = dt.datetime(2025, 1, 3, 9, 20, tzinfo=IST)  # a Friday session
EXPIRY = dt.date(2025, 1, 9)
CHAIN = option_instruments(expiry=EXPIRY, strikes=[24000, 24050])
CE: Instrument = CHAIN[0]  # NIFTY2510924000CE: lot 75, tick 0.05
PE: Instrument = CHAIN[1]  # NIFTY2510924000PE
NIFTY_50, INDIA_VIX = 256265, 264969


def client(fake: FakeKite, timeout: float = 3.0) -> KiteConnect:
    """The official client, logged in with the fake's current access token."""
    return KiteConnect(
        fake.api_key, access_token=fake.access_token, root=fake.rest_root, timeout=timeout
    )
