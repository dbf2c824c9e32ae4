"""The session's side of operator control: between events, on the engine's thread, it applies
the commands waiting in the inbox through the engine (``Engine.command``: the risk gate, then
journaled) and publishes the status the API, the dashboard and ``dyntrail ctl`` read.

Other threads (the API's) only read what it published (replaced whole, never changed in
place) and put requests; the engine is touched on its own thread alone. The published status
is also written to ``status.json`` in the run folder (at most once a second, atomically), so
``dyntrail ctl status --session`` answers when the session serves no API."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dyntrail.control.inbox import Inbox, Request
from dyntrail.control.status import snapshot
from dyntrail.core.events import (
    CommandRefused,
    Equity,
    Event,
    State,
)
from dyntrail.engine import Engine, Route
from dyntrail.engine.commands import CommandError, parse
from dyntrail.errors import ConfigError

log = logging.getLogger(__name__)

STOP_SOURCES = frozenset({"", "kill-file", "signal"})
"""The sources of a kill that also stops the session (the ``KILL`` file, SIGTERM/SIGINT; ""
in journals written before commands had sources)."""

_PUBLISH_S = 0.2  # the status is rebuilt at most this often (wall seconds)
_WRITE_S = 1.0  # and written to status.json at most this often


@dataclass(frozen=True, slots=True)
class ControlOptions:
    """How a session is controlled: its local API (``api``: served on ``host``:``port``,
    port 0 for any free one; a host other than loopback only with ``allow_remote``)."""

    api: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    allow_remote: bool = False
    announce: Callable[[str], None] | None = None  # told the API's URL once it listens

    def __post_init__(self) -> None:
        if self.api and not self.allow_remote and not is_loopback(self.host):
            raise ConfigError(
                f"control API host {self.host!r} is not a loopback address: the API controls "
                "real orders; bind it to 127.0.0.1, or allow it on purpose with "
                "--allow-remote (and keep the token secret)"
            )


def is_loopback(host: str) -> bool:
    """``host`` is this machine alone (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def consumed_ids(prior: Iterable[dict[str, Any]]) -> set[str]:
    """The ids of the commands a journal says were applied or refused."""
    return {
        str(ev["id"])
        for ev in prior
        if ev.get("kind") in ("command", "command_refused") and ev.get("id")
    }


class Control:
    """See the module docstring. ``health`` is the runner's probe of its feed and broker."""

    def __init__(
        self,
        run_dir: Path,
        mode: str,
        consumed: set[str],
        health: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.run_dir, self.mode = run_dir, mode
        self.inbox = Inbox(run_dir, consumed)
        self.probe = health or (lambda: {})
        self.status: dict[str, Any] = {"mode": mode, "status": None}
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._events: deque[dict[str, Any]] = deque(maxlen=200)
        self._seq = 0
        self._lock = threading.Lock()
        self._published = 0.0
        self._written = 0.0
        self._last_step = time.monotonic()
        self._series_day: str | None = None
        self._price: dict[str, list[tuple[str, float]]] = {}
        self._equity: list[tuple[str, float]] = []
        self.bar = (0, 0)

    # ------------------------------------------------------------------ engine's thread

    def route(self) -> Route:
        """The control as one of the engine's sinks: it keeps the latest events."""
        return Route(self.emit, without=frozenset({State}))

    def emit(self, ev: Event) -> None:
        if isinstance(ev, Equity):
            return
        rec = {k: v for k, v in vars(ev).items() if not isinstance(v, dict) or k == "reasons"}
        with self._lock:
            self._seq += 1
            rec["n"] = self._seq
            self._events.append(rec)

    def step(self, engine: Engine, i: int = 0, n: int = 0, force: bool = False) -> None:
        """Between events: apply what waits in the inbox, then publish the status (at most
        every ``_PUBLISH_S``, or at once after a command or when ``force``)."""
        self._last_step = time.monotonic()
        self.bar = (i, n)
        applied = self.apply(engine)
        self._sample(engine)
        now = time.monotonic()
        if applied or force or now - self._published >= _PUBLISH_S:
            self.publish(engine)

    def apply(self, engine: Engine) -> bool:
        """The waiting commands, each through the engine; True when there was one."""
        reqs = self.inbox.take()
        for req in reqs:
            try:
                cmd = parse(req.command, req.arg, req.limits or None)
                detail = engine.command(cmd, key=req.id, source=req.source)
            except CommandError as exc:
                engine.sinks.emit(
                    CommandRefused(
                        ts=engine.stamps.iso(engine.market.now),
                        command=req.command,
                        why=str(exc),
                        arg=req.arg,
                        id=req.id,
                        source=req.source,
                    )
                )
                log.warning("command %s refused: %s", req.command, exc)
                self.inbox.done(req, False, str(exc))
            else:
                log.info("command %s applied (%s): %s", req.command, req.source, detail)
                self.inbox.done(req, True, detail)
        return bool(reqs)

    def _sample(self, engine: Engine) -> None:
        """The day's series for the dashboard: each underlying's last price and the equity,
        once per market minute."""
        m = engine.market
        if m.day is None:
            return
        day = m.day.isoformat()
        if day != self._series_day:
            self._series_day, self._price, self._equity = day, {}, []
        ts = m.now.isoformat(timespec="minutes")
        for key, v in engine.venues.items():
            c = v.underlying.last_close
            if key and c == c:
                pts = self._price.setdefault(key, [])
                if pts and pts[-1][0] == ts:
                    pts[-1] = (ts, c)
                else:
                    pts.append((ts, c))
        book = engine.book
        eq = book.capital + book.realized + book.unrealized()
        if self._equity and self._equity[-1][0] == ts:
            self._equity[-1] = (ts, eq)
        else:
            self._equity.append((ts, eq))

    def publish(self, engine: Engine) -> None:
        """Build the status now and hand it to the readers."""
        self._published = time.monotonic()
        status = {
            "mode": self.mode,
            "run_dir": str(self.run_dir),
            "bar": {"done": self.bar[0] + 1 if self.bar[1] else None, "of": self.bar[1] or None},
            "status": snapshot(engine),
            "series": {
                "price": {k: list(v) for k, v in self._price.items()},
                "equity": list(self._equity),
            },
            "health": self.health(),
        }
        self.status = status
        if self._published - self._written >= _WRITE_S:
            self.write()

    def write(self) -> None:
        """The status into ``status.json`` (atomically)."""
        self._written = time.monotonic()
        path = self.run_dir / "status.json"
        tmp = path.with_suffix(".json.tmp")
        try:
            tmp.write_text(json.dumps(self.status, default=str), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # a full disk or a removed folder is no reason to stop trading
            log.warning("%s: status not written: %s", path, exc.strerror or exc)

    # ------------------------------------------------------------------ any thread

    def health(self) -> dict[str, Any]:
        """When the loop last ran, and the runner's probe (feed staleness, broker)."""
        age = time.monotonic() - self._last_step
        return {"loop_age_s": round(age, 3), "started": self.started, **self.probe()}

    def events(self, after: int = 0) -> list[dict[str, Any]]:
        """The events kept since number ``after``."""
        with self._lock:
            return [e for e in self._events if e["n"] > after]

    def ask(self, req: Request) -> Request:
        """Queue ``req`` for the engine's next event."""
        return self.inbox.put(req)


def replay_commands(engine: Engine, after: list[dict[str, Any]]) -> None:
    """The commands journaled after the last state, before a crash: applied again (the
    state that would have held their effect was never written). A kill that stopped the
    session is the runner's to finish, not replayed here."""
    for ev in after:
        if ev.get("kind") != "command":
            continue
        if ev["command"] == "kill" and ev.get("source", "") in STOP_SOURCES:
            continue
        try:
            cmd = parse(ev["command"], ev.get("arg", ""))
            engine.command(cmd, key=str(ev.get("id", "")), source="replay")
        except CommandError as exc:  # (journaled as applied: it applies again)
            log.warning("a journaled command could not be applied again: %s", exc)
