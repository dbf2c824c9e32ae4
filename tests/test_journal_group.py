"""Group commit (``Journal(..., fsync=True, group_s=...)``): an order intent is fsynced before
``emit`` returns, with every line before it; any other line is in the file at once (a process
that dies loses none) and fsynced by the committer within ``group_s``."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from dyntrail.core.events import DayStart, OrderSent
from dyntrail.journal import Journal, read_journal

TS = "2025-01-03T09:20:00+05:30"


def order(tag: str) -> OrderSent:
    return OrderSent(
        ts=TS, tag=tag, trade_id=1, action="entry", side="buy", qty=75, limit=101.0,
        decision_price=100.0, underlying=23500.0, instrument="NIFTY2510923500CE", attempt=1,
        bid=100.0, ask=100.5,
    )  # fmt: skip


def test_intents_are_fsynced_at_once_and_the_rest_soon_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(threading.current_thread().name)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=0.05)
    j.emit(DayStart(ts=TS, open=23500.0, gap_delay_until=None, underlying="NIFTY"))
    assert path.read_bytes().count(b"\n") == 1  # in the file at once
    assert "MainThread" not in calls  # but not fsynced on the engine's path
    j.emit(order("D250103P01E1"))
    assert calls.count("MainThread") == 1  # the intent, with the line before it
    j.emit(DayStart(ts=TS, open=23500.0, gap_delay_until=None, underlying="NIFTY"))
    deadline = time.monotonic() + 5
    while "journal-commit" not in calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "journal-commit" in calls  # the committer caught up
    j.close()
    assert [e["kind"] for e in read_journal(path).events] == ["day_start", "order", "day_start"]
