"""The REST server: HTTP in, Kite's envelope out.

Every request goes through the same steps: find the route (404/405), check ``X-Kite-Version: 3``
(400) and the ``Authorization`` header (403), the order rate limit for order calls (429), an
armed HTTP fault (its status; nothing is carried out), then the route under the fake's lock.
An armed ``timeout_after_send`` then withholds an order call's response."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from fakekite.model import KiteError
from fakekite.routes import Csv, Req, find

if TYPE_CHECKING:
    from fakekite.fake import FakeKite

log = logging.getLogger(__name__)


class RateLimiter:
    """At most ``rate`` calls per rolling wall-clock second per api_key."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}

    def check(self, api_key: str) -> None:
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(api_key, deque())
            while calls and now - calls[0] >= 1.0:
                calls.popleft()
            if len(calls) >= self.rate:
                raise KiteError(429, "NetworkException", "Too many requests")
            calls.append(now)


def _params(query: str, body: bytes, content_type: str) -> dict[str, list[str]]:
    params = parse_qs(query, keep_blank_values=True)
    if body and "json" in content_type:
        with contextlib.suppress(ValueError):
            data = json.loads(body)
            if isinstance(data, dict):
                for k, v in data.items():
                    params.setdefault(k, []).append(v if isinstance(v, str) else json.dumps(v))
    elif body:
        for k, v in parse_qs(body.decode(), keep_blank_values=True).items():
            params.setdefault(k, []).extend(v)
    return params


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one request, one small response: no 40 ms ACK waits
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self, method: str) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        multi = _params(url.query, body, self.headers.get("Content-Type") or "")
        params = {k: v[-1] for k, v in multi.items()}
        carried_out = False
        order_call = False
        try:
            route, args = find(method, url.path)
            order_call = route.order_call
            if order_call:
                fake.record_order_call(method, url.path)
            if self.headers.get("X-Kite-Version") != "3":
                raise KiteError(400, "InputException", "Missing or invalid `X-Kite-Version`.")
            api_key = (
                fake.sessions.authenticate(self.headers.get("Authorization")) if route.auth else ""
            )
            if order_call:
                self.server.limiter.check(api_key)
            fault = fake.faults.take_http_error(url.path, order_call)
            if fault is not None:
                raise fault
            carried_out = True
            with fake.lock:
                data = route.handler(fake, Req(method, url.path, args, params, multi))
            status, payload = 200, data
        except KiteError as e:
            status, payload = e.status, e
        except Exception as e:  # a bug in the fake: answer as Kite's catch-all would
            log.exception("fakekite route failed")
            status, payload = 500, KiteError(500, "GeneralException", f"Fake failed: {e!r}")
        fake.record_request(method, url.path, status)
        if order_call and carried_out and (withheld := fake.faults.take_timeout()) is not None:
            if withheld.delay is None:
                self.close_connection = True
                return
            fake.stopping.wait(withheld.delay)
        self._reply(status, payload)

    def _reply(self, status: int, payload: Any) -> None:
        if isinstance(payload, Csv):
            body, content_type = payload.text.encode(), "text/csv"
        elif isinstance(payload, KiteError):
            envelope = {
                "status": "error",
                "message": payload.message,
                "error_type": payload.error_type,
                "data": None,
            }
            body, content_type = json.dumps(envelope).encode(), "application/json"
        else:
            body = json.dumps({"status": "success", "data": payload}).encode()
            content_type = "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (a withheld response after its timeout)
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeKite, order_rate: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self.limiter = RateLimiter(order_rate)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (a killed process) is what Kite sees too: not
        an error of the fake's, so no traceback; anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class RestServer:
    def __init__(self, fake: FakeKite, order_rate: int) -> None:
        self._server = _Server(fake, order_rate)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
