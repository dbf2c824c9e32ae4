"""Group commit (``Journal(..., fsync=True, group_s=...)``): every line is in the file at once
(a process that dies loses none) and fsynced by the committer within ``group_s``; an order
intent is durable before ``emit`` returns through the redo log, with every line before it, and a
journal that a machine's crash cut short is restored from it byte for byte."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyntrail import journal_redo
from dyntrail.core.events import DayStart, OrderSent
from dyntrail.errors import JournalError
from dyntrail.journal import Journal, read_journal
from dyntrail.journal_redo import redo_path

TS = "2025-01-03T09:20:00+05:30"


def order(tag: str) -> OrderSent:
    return OrderSent(
        ts=TS, tag=tag, trade_id=1, action="entry", side="buy", qty=75, limit=101.0,
        decision_price=100.0, underlying=23500.0, instrument="NIFTY2510923500CE", attempt=1,
        bid=100.0, ask=100.5,
    )  # fmt: skip


def day(n: int = 0) -> DayStart:
    return DayStart(ts=TS, open=23500.0 + n, gap_delay_until=None, underlying="NIFTY")


def crash(src: Path, dst: Path, keep: int) -> Path:
    """The run folder as a machine that died would leave it: the journal cut to its first
    ``keep`` bytes (what had reached the disk), the redo log whole (it is written durably)."""
    dst.mkdir()
    journal = dst / src.name
    journal.write_bytes(src.read_bytes()[:keep])
    shutil.copy(redo_path(src), redo_path(journal))
    return journal


def test_lines_are_written_at_once_and_fsynced_by_the_committer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(threading.current_thread().name)
        real(fd)

    path = tmp_path / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=0.05)
    monkeypatch.setattr(os, "fsync", counting)
    j.emit(day())
    assert path.read_bytes().count(b"\n") == 1  # in the file at once
    j.emit(order("D250103P01E1"))
    j.emit(day(1))
    assert "MainThread" not in calls  # never fsynced on the engine's path
    deadline = time.monotonic() + 5
    while "journal-commit" not in calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "journal-commit" in calls  # the committer caught up
    j.close()
    assert [e["kind"] for e in read_journal(path).events] == ["day_start", "order", "day_start"]
    assert not redo_path(path).exists()  # a clean close leaves no redo log


def test_an_intent_is_in_the_redo_log_with_the_lines_before_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=60.0)  # the committer never runs meanwhile
    j.emit(day())
    j.emit(day(1))
    before = path.read_bytes()
    j.emit(order("D250103P01E1"))  # durable now: a crash that keeps none of the journal...
    written = path.read_bytes()
    j.emit(day(2))  # (not an intent: may be lost)
    journal = crash(path, tmp_path / "after", keep=0)
    j.close()
    restored = Journal(journal, fsync=True, group_s=0.05)  # ...loses none of it
    restored.close()
    assert journal.read_bytes() == written
    assert written.startswith(before)


def test_a_torn_record_is_an_intent_never_acted_on(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=60.0)
    j.emit(order("D250103P01E1"))
    first = path.read_bytes()
    j.emit(order("D250103P01E2"))
    redo = redo_path(path)
    raw = bytearray(redo.read_bytes())
    second = len(path.read_bytes()) - len(first)  # the second record: its own line, a block on
    end = 2 * journal_redo.BLOCK + journal_redo._HEAD.size + second
    raw[end - 3] ^= 0xFF  # the second record's last bytes: its write did not finish
    j.close()
    (tmp_path / "after").mkdir()
    journal = tmp_path / "after" / "journal.jsonl"
    redo_path(journal).write_bytes(bytes(raw))
    Journal(journal, fsync=True, group_s=0.05).close()
    assert journal.read_bytes() == first


def test_a_journal_that_disagrees_with_its_redo_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=60.0)
    j.emit(order("D250103P01E1"))
    text = path.read_bytes()
    journal = crash(path, tmp_path / "after", keep=len(text))
    j.close()
    journal.write_bytes(text.replace(b"D250103P01E1", b"D250103P01E9"))
    with pytest.raises(JournalError, match=r"journal\.jsonl: byte \d+ differs from its redo"):
        Journal(journal, fsync=True, group_s=0.05)
    assert journal.read_bytes() == text.replace(b"D250103P01E1", b"D250103P01E9")  # untouched


def test_a_full_redo_log_starts_again_after_an_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_redo, "SIZE", 4 * journal_redo.BLOCK)
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=60.0)
    for n in range(20):  # 20 intents through a log of 3 records
        j.emit(day(n))
        j.emit(order(f"D250103P01E{n}"))
    written = path.read_bytes()
    journal = crash(path, tmp_path / "after", keep=j._group.durable)  # type: ignore[union-attr]
    j.close()
    Journal(journal, fsync=True, group_s=0.05).close()
    assert journal.read_bytes() == written
    assert [e["tag"] for e in read_journal(journal).events if e["kind"] == "order"] == [
        f"D250103P01E{n}" for n in range(20)
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.lists(st.booleans(), min_size=1, max_size=30),
    cut=st.floats(min_value=0.0, max_value=1.0),
    sync_at=st.integers(min_value=0, max_value=30),
)
def test_a_crash_anywhere_keeps_every_intent_and_every_line_before_it(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[bool], cut: float, sync_at: int
) -> None:
    """Lines (intents or not), the committer's fsync at some point, a machine crash that keeps
    any part of the journal beyond what was fsynced: the reopened journal is the written one up
    to the last intent at least, and byte for byte what was written as far as it goes."""
    tmp = tmp_path_factory.mktemp("crash")
    path = tmp / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=60.0)
    last_intent_end = 0
    for n, intent in enumerate(kinds):
        if n == sync_at:
            j.sync()
        j.emit(order(f"D250103P01E{n}") if intent else day(n))
        if intent:
            last_intent_end = path.stat().st_size
    written = path.read_bytes()
    durable = j._group.durable  # type: ignore[union-attr]
    keep = durable + int(cut * (len(written) - durable))
    journal = crash(path, tmp / "after", keep=keep)
    j.close()
    Journal(journal, fsync=True, group_s=0.05).close()
    got = journal.read_bytes()
    whole = max(last_intent_end, keep)
    assert got[:whole] == written[:whole]
    if len(got) > whole:  # the crash tore a line after the last intent: closed off, kept
        assert got[whole:].startswith(b"\n") and b'"kind":"journal_recovered"' in got[whole:]
    tags = [e["tag"] for e in read_journal(journal).events if e["kind"] == "order"]
    assert tags == [f"D250103P01E{n}" for n, intent in enumerate(kinds) if intent]


def test_a_journal_reopened_over_a_torn_line_keeps_its_log_in_step(tmp_path: Path) -> None:
    """A process killed mid-line, a restart that closes the fragment off, an intent, then a
    machine crash: the log's records sit at the journal's true offsets (the newline that closed
    the fragment counted), so the next start restores instead of refusing."""
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=60.0)
    j.emit(order("D250103P01E1"))
    j.close()
    with path.open("ab") as fh:
        fh.write(b'{"seq":2,"ts":null,"kind":"day_st')  # the line a kill tore
    j = Journal(path, fsync=True, group_s=60.0)
    j.emit(order("D250103P01E2"))
    written = path.read_bytes()
    journal = crash(path, tmp_path / "after", keep=j._group.durable)  # type: ignore[union-attr]
    j.close()
    Journal(journal, fsync=True, group_s=0.05).close()
    assert journal.read_bytes() == written
    kinds = [e["kind"] for e in read_journal(journal).events]
    assert kinds == ["order", "journal_recovered", "order"]


def test_records_sit_on_block_boundaries(tmp_path: Path) -> None:
    """Each record starts a 4 KiB block (what an ``O_DIRECT`` write needs), zeros after it."""
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=60.0)
    j.emit(order("D250103P01E1"))
    first = len(path.read_bytes())
    j.emit(order("D250103P01E2"))
    raw = redo_path(path).read_bytes()
    block, head = journal_redo.BLOCK, journal_redo._HEAD
    heads = [head.unpack_from(raw, at) for at in (block, 2 * block)]
    assert [(offset, n) for _, offset, n, _ in heads] == [(0, first), (first, first)]
    assert raw[block + head.size + first : 2 * block] == bytes(block - head.size - first)
    j.close()


def test_the_log_works_where_the_file_system_refuses_o_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system that refuses ``O_DIRECT`` at open, or at the first write: the log falls
    back to the page cache with ``O_DSYNC``, and what it holds restores the same."""
    import errno

    real_open, real_pwrite = os.open, os.pwrite
    direct = getattr(os, "O_DIRECT", 0)

    def no_direct_open(path: str, flags: int, *a: object) -> int:
        if direct and flags & direct:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *a)

    refused: list[int] = []

    def no_direct_write(fd: int, data: bytes, at: int) -> int:
        if not refused:  # the log's first write (its header)
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, at)

    for where in ("open", "write") if direct else ("open",):
        if where == "open":
            monkeypatch.setattr(os, "open", no_direct_open)
        else:
            monkeypatch.setattr(os, "pwrite", no_direct_write)
        folder = tmp_path / where
        folder.mkdir()
        path = folder / "journal.jsonl"
        j = Journal(path, fsync=True, group_s=60.0)
        j.emit(day())
        j.emit(order("D250103P01E1"))
        assert not j._group.redo.direct  # type: ignore[union-attr]
        written = path.read_bytes()
        journal = crash(path, folder / "after", keep=0)
        j.close()
        monkeypatch.setattr(os, "open", real_open)
        monkeypatch.setattr(os, "pwrite", real_pwrite)
        Journal(journal, fsync=True, group_s=0.05).close()
        assert journal.read_bytes() == written


def test_a_log_of_the_first_format_is_still_restored(tmp_path: Path) -> None:
    """A redo log written before records sat on block boundaries (one after the other) is
    read as it was written."""
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fsync=True, group_s=60.0)
    j.emit(order("D250103P01E1"))
    j.emit(order("D250103P01E2"))
    written = path.read_bytes()
    j.close()
    gen, records, at = 1, [], 0
    for line in written.splitlines(keepends=True):
        crc = journal_redo._crc(gen, at, line)
        records.append(journal_redo._HEAD.pack(gen, at, len(line), crc) + line)
        at += len(line)
    header = journal_redo._HEADER.pack(journal_redo.PACKED, gen).ljust(journal_redo.BLOCK, b"\0")
    redo_path(path).write_bytes((header + b"".join(records)).ljust(1 << 20, b"\0"))
    path.write_bytes(b"")  # the machine died before the journal reached the disk
    Journal(path, fsync=True, group_s=0.05).close()
    assert path.read_bytes() == written
