"""What the paper sessions' crash tests share."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

_STATE = re.compile(rb'"kind":"state","i":(\d+)')


def _last_bar(run: Path) -> int:
    """The last bar whose end state is journaled in ``run`` (-1 before any)."""
    path = run / "journal.jsonl"
    if not path.exists():
        return -1
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 200_000))
        found = _STATE.findall(fh.read())
    return int(found[-1]) if found else -1


@pytest.fixture
def last_bar() -> Callable[[Path], int]:
    """``last_bar(run)``: the last bar a running session has journaled its state after."""
    return _last_bar
