"""The fake Kite of a replayed day; a session process a test started never outlives the test,
whatever it asserted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from replay import STARTED, chain, market

from fakekite import FakeKite

SEED = 11  # the replayed day's market


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    """The fake Kite listing the replayed day's option chain, on 127.0.0.1."""
    _, today = market(SEED)
    with FakeKite("kitekey", "kitesecret", chain(today[0].open)) as f:
        yield f
