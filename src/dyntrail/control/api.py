"""The session's local HTTP API and its dashboard (FastAPI, served by uvicorn in a thread
beside the engine's loop).

- Bound to 127.0.0.1 by default; another address only with ``allow_remote`` (a
  ``ConfigError`` otherwise), and then still behind the token.
- Every call but the dashboard's page itself needs the session's token
  (``Authorization: Bearer TOKEN``): made at random for each session, written to
  ``control.token`` in the run folder with 0600 permissions, compared in constant time, and
  never logged (uvicorn's access log is off). The page holds no data; it asks for the token
  (or takes it from the URL's ``#token=`` fragment, which no server sees) and sends it with
  each call.
- ``GET /api/status``: the status (``dyntrail.control.status``) with the day's series and
  health; ``GET /api/events?after=N``: the latest events; ``POST /api/commands``: a command
  for the engine's next event (202 with its id; ``wait`` seconds to wait for its result);
  ``GET /api/commands/{id}``: what became of it; ``GET /health``: the loop's last run, the
  feed's staleness, the broker; ``GET /metrics``: Prometheus text.
- ``control.json`` in the run folder says where the API listens (no secret in it); both
  files are removed when the session stops."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any

from dyntrail.control.plane import Control, ControlOptions
from dyntrail.errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_FILE = "control.token"
INFO_FILE = "control.json"


def write_secret(path: Path, text: str) -> None:
    """``text`` into ``path``, readable by its owner alone (0600 from the start)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


class ApiServer:
    """uvicorn serving one session's API in a daemon thread (``start`` / ``stop``)."""

    def __init__(self, control: Control, options: ControlOptions) -> None:
        ControlOptions(True, options.host, options.port, options.allow_remote)  # checks
        self.control, self.options = control, options
        self.run_dir = control.run_dir
        self.token = secrets.token_urlsafe(32)
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Bind, write the token and ``control.json``, serve; returns the URL."""
        import uvicorn

        family = socket.AF_INET6 if ":" in self.options.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.options.host, self.options.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"control API: cannot listen on {self.options.host}:{self.options.port}: "
                f"{exc.strerror}"
            ) from None
        sock.listen(64)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"http://{shown}:{port}"
        write_secret(self.run_dir / TOKEN_FILE, self.token)
        from dyntrail.control.app import make_app

        app = make_app(self.control, self.token)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        server = self._server

        def serve() -> None:
            asyncio.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=serve, name="dyntrail-api", daemon=True)
        self._thread.start()
        info = {"url": self.url, "pid": os.getpid(), "mode": self.control.mode}
        tmp = self.run_dir / f"{INFO_FILE}.tmp"
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, self.run_dir / INFO_FILE)  # a reader never sees half of it
        log.info("control API on %s (token in %s)", self.url, self.run_dir / TOKEN_FILE)
        if self.options.announce is not None:
            self.options.announce(self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving; the token and ``control.json`` are removed (the status stays)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        for name in (INFO_FILE, TOKEN_FILE):
            (self.run_dir / name).unlink(missing_ok=True)
