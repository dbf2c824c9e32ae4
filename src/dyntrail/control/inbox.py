"""Where an operator's commands wait for the engine: requests put by the local API (in the
process) and files dropped into the run folder's ``control/inbox`` by ``dyntrail ctl
--session`` when no API answers (so a command reaches a session that is not running yet, or
runs without its API). The engine takes them at its next event.

A request has an id; once the engine has applied (or refused) it, the id is *consumed*: its
file is deleted, and a restart that finds the id in the journal deletes a file left behind
instead of applying it again. A command is applied once."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

INBOX = Path("control") / "inbox"
_KEEP_RESULTS = 256


@dataclass(frozen=True, slots=True)
class Request:
    """One command asked for: its name and argument as typed (``engine.commands.parse``),
    for ``reload-limits`` the values, where it came from, and its id."""

    command: str
    arg: str = ""
    limits: dict[str, float] = field(default_factory=dict)
    source: str = "api"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Request:
        return cls(
            command=str(d["command"]),
            arg=str(d.get("arg") or ""),
            limits={str(k): float(v) for k, v in (d.get("limits") or {}).items()},
            source=str(d.get("source") or "file"),
            id=str(d["id"]),
        )


def drop(run_dir: Path, req: Request) -> Path:
    """Write ``req`` into ``run_dir``'s inbox (atomically: a reader never sees half a file)."""
    folder = run_dir / INBOX
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns()}-{req.id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(req.to_json(), encoding="utf-8")
    os.replace(tmp, path)
    return path


class Inbox:
    """The requests waiting for the engine, and what became of each (see the module
    docstring). ``put`` and ``result`` are for other threads; ``take`` and ``done`` are the
    engine's."""

    def __init__(self, run_dir: Path, consumed: set[str]) -> None:
        self.folder = run_dir / INBOX
        self.consumed = set(consumed)
        self._queue: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._files: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cond = threading.Condition(self._lock)

    def put(self, req: Request) -> Request:
        with self._lock:
            self._results[req.id] = {"id": req.id, "command": req.command, "state": "pending"}
            self._trim()
        self._queue.put(req)
        return req

    def take(self) -> list[Request]:
        """The requests waiting, oldest first (a file left behind by a request already
        consumed is deleted, not taken; a file that cannot be read is renamed ``.bad``)."""
        out: list[Request] = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.json")):
                try:
                    req = Request.from_dict(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError, KeyError, TypeError):
                    path.rename(path.with_suffix(".bad"))
                    continue
                if req.id in self.consumed:
                    path.unlink(missing_ok=True)
                    continue
                if req.id not in self._files:
                    self._files[req.id] = path
                    out.append(req)
        return out

    def done(self, req: Request, ok: bool, text: str) -> None:
        """``req`` was applied (``ok``) or refused, with what it did or why: consumed."""
        self.consumed.add(req.id)
        path = self._files.pop(req.id, None)
        if path is not None:
            path.unlink(missing_ok=True)
        with self._cond:
            state = "applied" if ok else "refused"
            self._results[req.id] = {
                "id": req.id,
                "command": req.command,
                "state": state,
                "detail" if ok else "error": text,
            }
            self._trim()
            self._cond.notify_all()

    def result(self, key: str, wait_s: float = 0.0) -> dict[str, Any] | None:
        """What became of request ``key`` (None: unknown here), waiting up to ``wait_s`` for
        it to leave ``pending``."""
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                r = self._results.get(key)
                left = deadline - time.monotonic()
                if r is None or r["state"] != "pending" or left <= 0:
                    return None if r is None else dict(r)
                self._cond.wait(left)

    def _trim(self) -> None:
        while len(self._results) > _KEEP_RESULTS:
            self._results.popitem(last=False)
