"""The journal: an append-only JSONL log of every decision and order event.

One JSON object per line: ``{"seq": n, "ts": "...", "kind": "...", ...}`` with monotonic
sequence numbers from 1; the first line is a ``header`` with the schema version and the hash of
the resolved config. Lines are written in a fixed key order with Python's shortest float repr, so
the same run writes the same bytes. With ``fsync=True`` each line is flushed and fsynced before
``write`` returns (write-ahead use); a backtest flushes at the end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any

SCHEMA_VERSION = 1


def config_hash(config_toml: str) -> str:
    """A short stable hash of the resolved config text."""
    return hashlib.sha256(config_toml.encode("utf-8")).hexdigest()[:16]


class Journal:
    """Append JSONL events to ``path`` (created, or continued after its last sequence number)."""

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self.seq = 0
        self._fh: IO[str] = self.path.open("a", encoding="utf-8", newline="\n")

    def write(self, kind: str, ts: dt.datetime | str | None, **fields: Any) -> int:
        """Append one event; returns its sequence number."""
        self.seq += 1
        stamp = ts.isoformat() if isinstance(ts, dt.datetime) else ts
        record: dict[str, Any] = {"seq": self.seq, "ts": stamp, "kind": kind}
        record.update(fields)
        self._fh.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        if self._fsync:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return self.seq

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """All events of a journal, in order."""
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line))
    return out
