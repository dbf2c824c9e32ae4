"""The ticker: a WebSocket server speaking Kite's streaming protocol.

The handshake carries ``?api_key=...&access_token=...``; a bad pair is refused with HTTP 403.
Clients send ``{"a": "subscribe" | "unsubscribe", "v": [tokens]}`` and
``{"a": "mode", "v": [mode, [tokens]]}`` (a subscription starts in ``quote`` mode). The server
sends binary ticks, JSON text order updates (``{"type": "order", "data": {...}}``) and a one-byte
heartbeat after each idle second."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from fakekite.market import frame

MODES = ("ltp", "quote", "full")
HEARTBEAT_AFTER = 1.0  # seconds without a message
Authorize = Callable[[str, str], bool]

log = logging.getLogger(__name__)


class TickerHub:
    def __init__(self, authorize: Authorize) -> None:
        self._authorize = authorize
        self.refuse: Callable[[], bool] = lambda: False  # a fault: refuse this handshake (503)
        self._lock = threading.Lock()  # guards _clients and serialises sends
        self._clients: dict[ServerConnection, dict[int, str]] = {}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> int:
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_handshake,
            compression=None,
            ping_interval=None,
            logger=log,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fakekite-ws", daemon=True
        )
        self._thread.start()
        return int(self._server.socket.getsockname()[1])

    def stop(self) -> None:
        if self._server is not None:
            self.drop_all()
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- what the fake sends -----------------------------------------------------------------------
    def send_ticks(self, token: int, packet: Callable[[str], bytes]) -> int:
        """Send one tick for ``token`` to every client subscribed to it, built in the client's
        mode; returns how many clients got it."""
        sent = 0
        with self._lock:
            for conn, subs in list(self._clients.items()):
                mode = subs.get(token)
                if mode is not None and self._send(conn, frame([packet(mode)])):
                    sent += 1
        return sent

    def send_order_update(self, data: dict[str, Any]) -> None:
        message = json.dumps({"type": "order", "id": "", "data": data})
        with self._lock:
            for conn in list(self._clients):
                self._send(conn, message)

    def drop_all(self) -> None:
        """Close every connection abruptly: the TCP stream ends without a close frame."""
        with self._lock:
            conns = list(self._clients)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.socket.shutdown(socket.SHUT_RDWR)

    def subscriptions(self) -> list[dict[int, str]]:
        with self._lock:
            return [dict(subs) for subs in self._clients.values()]

    # -- connection handling -----------------------------------------------------------------------
    def _send(self, conn: ServerConnection, message: str | bytes) -> bool:
        try:
            conn.send(message)
            return True
        except (ConnectionClosed, OSError):
            return False

    def _check_handshake(self, conn: ServerConnection, request: Request) -> Response | None:
        query = parse_qs(urlsplit(request.path).query)
        api_key = (query.get("api_key") or [""])[0]
        token = (query.get("access_token") or [""])[0]
        if self.refuse():
            return conn.respond(503, "Service Unavailable\n")
        if not self._authorize(api_key, token):
            return conn.respond(403, "Forbidden: invalid api_key or access_token\n")
        return None

    def _handle(self, conn: ServerConnection) -> None:
        with self._lock:
            self._clients[conn] = {}
        try:
            while True:
                try:
                    message = conn.recv(timeout=HEARTBEAT_AFTER)
                except TimeoutError:
                    with self._lock:
                        self._send(conn, b"\x00")
                    continue
                if isinstance(message, str):
                    self._on_text(conn, message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._clients.pop(conn, None)

    def _on_text(self, conn: ServerConnection, message: str) -> None:
        try:
            msg = json.loads(message)
            action, value = msg["a"], msg["v"]
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            subs = self._clients.get(conn)
            if subs is None:
                return
            if action == "subscribe":
                for token in value:
                    subs[int(token)] = "quote"
            elif action == "unsubscribe":
                for token in value:
                    subs.pop(int(token), None)
            elif action == "mode" and len(value) == 2 and value[0] in MODES:
                for token in value[1]:
                    if int(token) in subs:
                        subs[int(token)] = value[0]
