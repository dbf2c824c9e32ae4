"""The redo log of a group-committed journal: an order intent made durable without growing a file.

Appending a line to the journal and fsyncing it makes the file system commit the file's new size
as well as its data; on a busy disk that commit waits for everything else written meanwhile (the
paper broker's state, the other lines), and the order waits with it. So the journal (with
``group_s``) is fsynced only by its committer thread, and before an intent is acted on, the
journal's bytes the committer has not yet made durable (the intent's own line and any written
since the last fsync) are copied here: one write at a fixed place of a file whose blocks exist
already, with ``O_DSYNC``, so only data reaches the disk. Where the file system allows it the
write is also ``O_DIRECT`` (from an aligned buffer, whole 4 KiB blocks): the bytes go to the
device without the page cache, which takes about a third off the write's time on a virtual
disk. The copy is exact, so a journal restored from it is byte for byte the journal that was
written.

The file, ``<journal>.redo``: a 4 KiB header block (magic, generation), then records, each
starting on a 4 KiB boundary: a 16-byte head (generation, journal offset, length, CRC-32 of the
head's first fields and the data) followed by the journal's bytes, zeros to the block's end.
When it is full, the journal is fsynced and writing starts again after the header under the next
generation; a record of another generation, a zero head or a torn record (its CRC fails: the
process died during that write, so the intent was never acted on) ends the log. On a clean
close the journal is fsynced and the file removed. (A log of the first format, ``DTREDO01``,
its records one after the other, is still read.)

``restore`` runs before a journal is reopened: each record's bytes must match the journal where
both have them, and what the journal lacks (a machine that died before the committer's fsync) is
appended. Nothing the journal holds is rewritten; a mismatch is an error naming the byte.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import IO

from dyntrail.errors import JournalError

__all__ = ["GroupCommit", "RedoLog", "redo_path", "restore"]

log = logging.getLogger(__name__)

MAGIC = b"DTREDO02"  # records on block boundaries
PACKED = b"DTREDO01"  # the first format: records one after the other
BLOCK = 4096
_HEADER = struct.Struct("<8sQ")  # magic, generation
_HEAD = struct.Struct("<QQII")  # generation, journal offset, length, crc32
_FIELDS = struct.Struct("<QQI")  # what the CRC covers besides the data
SIZE = 1 << 22  # the file's size: 1023 one-block records, then a wrap (one journal fsync)
_ZEROS = memoryview(bytes(BLOCK))  # a record's padding to its block's end
NUDGE = 1 << 14  # journal bytes not yet fsynced beyond which the committer does not wait


def redo_path(journal: Path) -> Path:
    """Where the redo log of ``journal`` lives (beside it)."""
    return journal.with_name(journal.name + ".redo")


def _up(n: int, step: int) -> int:
    """``n`` rounded up to a multiple of ``step``."""
    return -(-n // step) * step


def _crc(gen: int, offset: int, data: bytes | memoryview) -> int:
    return zlib.crc32(data, zlib.crc32(_FIELDS.pack(gen, offset, len(data))))


def _records(path: Path) -> list[tuple[int, bytes]]:
    """The log's (journal offset, bytes) records of its current generation, in order."""
    raw = path.read_bytes()
    if len(raw) < BLOCK or raw[:8] not in (MAGIC, PACKED):
        raise JournalError(f"{path}: not a journal redo log (bad header)")
    magic, gen = _HEADER.unpack_from(raw)
    step = 1 if magic == PACKED else BLOCK
    out: list[tuple[int, bytes]] = []
    pos = BLOCK
    while pos + _HEAD.size <= len(raw):
        g, offset, n, crc = _HEAD.unpack_from(raw, pos)
        data = raw[pos + _HEAD.size : pos + _HEAD.size + n]
        if g != gen or n == 0 or len(data) < n or _crc(g, offset, data) != crc:
            break
        out.append((offset, data))
        pos = _up(pos + _HEAD.size + n, step)
    return out


def restore(journal: Path) -> int:
    """Bring ``journal`` up to its redo log (see the module docstring); returns the number of
    bytes appended (0 when the journal had them all, or there is no log)."""
    path = redo_path(journal)
    if not path.exists():
        return 0
    records = _records(path)
    size = journal.stat().st_size if journal.exists() else 0
    added = 0
    with journal.open("r+b" if journal.exists() else "w+b") as fh:
        for offset, data in records:
            if offset > size:
                raise JournalError(
                    f"{journal}: bytes {size}..{offset} are missing although they were made "
                    f"durable before the redo record at byte {offset} ({path.name})"
                )
            end = offset + len(data)
            fh.seek(offset)
            have = fh.read(min(end, size) - offset)
            if have != data[: len(have)]:
                at = offset + next(i for i, b in enumerate(have) if b != data[i])
                raise JournalError(f"{journal}: byte {at} differs from its redo log {path.name}")
            if end > size:
                fh.seek(size)
                fh.write(data[size - offset :])
                added += end - size
                size = end
        if added:
            fh.flush()
            os.fsync(fh.fileno())
    if added:
        log.warning(
            "%s: %d bytes the machine lost before they were fsynced restored from %s",
            journal, added, path.name,
        )  # fmt: skip
    return added


class RedoLog:
    """Durable copies of journal bytes (see the module docstring). ``append`` returns once the
    record is on disk; ``wrap`` is called by the owner (with the journal fsynced) when ``fits``
    says no."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        self.path = path
        size = size or SIZE
        gen = 0
        if path.exists() and path.stat().st_size >= size:
            try:
                with path.open("rb") as fh:
                    magic, gen = _HEADER.unpack(fh.read(_HEADER.size))
                if magic != MAGIC:
                    gen = 0
            except (OSError, struct.error):
                gen = 0
        if gen == 0:  # a new file: its blocks written (not just reserved) and the name durable
            tmp = path.with_name(path.name + ".new")
            with tmp.open("wb") as fh:
                fh.write(_HEADER.pack(MAGIC, 1).ljust(size, b"\0"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
            gen = 1
        self.size = path.stat().st_size
        self.direct = False  # whether writes bypass the page cache (``O_DIRECT``)
        self._dsync = hasattr(os, "O_DSYNC")  # (else each write is fsynced)
        self._buf = mmap.mmap(-1, BLOCK)  # page-aligned, as ``O_DIRECT`` needs
        self._fd = self._open(direct=hasattr(os, "O_DIRECT"))
        self.gen = gen
        self.wrap()

    def _open(self, direct: bool) -> int:
        """The file opened for durable writes: ``O_DSYNC`` (an fsync after each write where
        the platform lacks it), and ``O_DIRECT`` when ``direct`` and the file system takes it."""
        flags = os.O_RDWR | getattr(os, "O_DSYNC", 0)
        if direct:
            try:
                fd = os.open(self.path, flags | os.O_DIRECT)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
            else:
                self.direct = True
                return fd
        self.direct = False
        return os.open(self.path, flags)

    def fits(self, n: int) -> bool:
        """Whether a record of ``n`` bytes fits before the end of the file."""
        return self._pos + _up(_HEAD.size + n, BLOCK) <= self.size

    def wrap(self) -> None:
        """Start again after the header under the next generation (the bytes of every record
        written so far must be durable in the journal already)."""
        self.gen += 1
        self._write(_HEADER.pack(MAGIC, self.gen), 0)
        self._pos = BLOCK

    def append(self, offset: int, data: bytes | memoryview) -> None:
        """One record: the journal's ``data`` at ``offset``, on disk when this returns."""
        head = _HEAD.pack(self.gen, offset, len(data), _crc(self.gen, offset, data))
        self._pos += self._write(head + data, self._pos)

    def _write(self, data: bytes, at: int) -> int:
        """``data`` at ``at`` (a block boundary), zeros to the end of its last block, durable
        when this returns; the number of bytes written (whole blocks)."""
        n = _up(len(data), BLOCK)
        if n > len(self._buf):
            self._buf.close()
            self._buf = mmap.mmap(-1, n)
        buf = self._buf
        buf[: len(data)] = data
        buf[len(data) : n] = _ZEROS[: n - len(data)]  # (less than a block: no allocation)
        out = memoryview(buf)[:n]
        try:
            written = os.pwrite(self._fd, out, at)
        except OSError as exc:  # a file system that opened O_DIRECT but does not write it
            if not self.direct or exc.errno != errno.EINVAL:
                raise
            os.close(self._fd)
            self._fd = self._open(direct=False)
            written = os.pwrite(self._fd, out, at)
        finally:
            out.release()
        if written != n:
            raise JournalError(f"{self.path}: wrote {written} of {n} bytes")
        if not self._dsync:
            os.fsync(self._fd)
        return n

    def close(self, remove: bool) -> None:
        """Close the file; ``remove`` (the journal is fsynced) deletes it."""
        os.close(self._fd)
        self._buf.close()
        if remove:
            self.path.unlink(missing_ok=True)


class GroupCommit:
    """Group commit of a journal opened as ``fh`` (unbuffered): every line is written at once
    and fsynced by a thread at most ``every`` seconds later (sooner once ``NUDGE`` bytes wait,
    so that the copies stay short); an intent's line, with the bytes before it not yet
    fsynced, is made durable at once in the redo log ``redo``."""

    def __init__(self, fh: IO[bytes], every: float, redo: Path) -> None:
        self.fh, self.fd, self.every = fh, fh.fileno(), every
        os.fsync(self.fd)  # what a process that died wrote: durable before the log starts again
        self.end = self.durable = os.fstat(self.fd).st_size  # journal bytes written / fsynced
        self._pending = bytearray()  # the journal's bytes from ``_pending_at`` to ``end``
        self._pending_at = self.end
        self.redo = RedoLog(redo)
        self._done = False
        self._wake = threading.Event()  # set when the bytes not yet fsynced pass ``NUDGE``
        self._thread = threading.Thread(target=self._run, name="journal-commit", daemon=True)
        self._thread.start()

    def write(self, line: bytes, intent: bool) -> None:
        self.fh.write(line)
        self.end += len(line)
        self._pending += line
        durable = self.durable  # (the thread may move it on meanwhile: a longer copy is safe)
        if durable > self._pending_at:  # drop what the thread has fsynced
            del self._pending[: durable - self._pending_at]
            self._pending_at = durable
        if len(self._pending) > NUDGE:  # keep an intent's copy short: fsync now
            self._wake.set()
        if intent:
            if self.redo.fits(len(self._pending)):
                self.redo.append(self._pending_at, bytes(self._pending))
            else:  # full: the journal fsynced holds it all; the log starts again
                self.sync()
                self.redo.wrap()
            self._pending.clear()
            self._pending_at = self.end

    def sync(self) -> None:
        """fsync the journal, if a line was written since the last fsync (nothing new: no
        fsync, which costs the disk and the caches of the process for nothing)."""
        end = self.end
        if end > self.durable:
            os.fsync(self.fd)
            self.durable = max(self.durable, end)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.every)
            self._wake.clear()
            if self._done:
                return
            self.sync()

    def stop(self) -> None:
        self._done = True
        self._wake.set()
        self._thread.join()
        self.sync()
        self.redo.close(remove=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a platform that cannot open a directory
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
