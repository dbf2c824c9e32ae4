"""A session process a test started never outlives the test, whatever it asserted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from replay import STARTED


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
