"""Fixtures for the fake's own tests: a started ``FakeKite`` with a small NIFTY chain at a
fixed market time, and an official ``KiteConnect`` client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kiteconnect import KiteConnect

from fakekite import FakeKite
from fakekite.sample import CHAIN, T0, client


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    with FakeKite("kitekey", "kitesecret", CHAIN) as f:
        f.set_time(T0)
        yield f


@pytest.fixture
def kite(fake: FakeKite) -> KiteConnect:
    return client(fake)
