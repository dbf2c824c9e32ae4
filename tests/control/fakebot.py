"""A fake Telegram Bot API and a webhook receiver, each an HTTP server on 127.0.0.1 (a free
port) in a thread, for tests that drive the real clients against them.

``FakeBotApi`` answers ``POST /bot<token>/sendMessage`` (form-encoded, as python-telegram-bot
sends it, or JSON) and ``/bot<token>/getMe`` with the Bot API's envelope, keeps the messages it
was sent, answers a wrong token with 401 and, when told (``fail_next``), fails the next
requests with a 500 or a 429 carrying ``parameters.retry_after``. ``WebhookReceiver`` keeps the
JSON bodies posted to it and can fail the next requests too."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class _Server:
    """An HTTP server in a daemon thread; ``handle(method, path, headers, body)`` answers
    ``(status, json_body)``."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.requests: list[str] = []  # every request's path, in order
        self._failures: list[tuple[int, Any]] = []
        self.delay = 0.0  # seconds each answer waits (a slow server)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def _answer(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                with outer.cond:
                    outer.requests.append(self.path)
                    failure = outer._failures.pop(0) if outer._failures else None
                if failure is not None:
                    status, reply = failure
                    if reply == b"echo":  # a proxy's error page that quotes the request
                        reply = f"<h1>502 Bad Gateway</h1><p>POST {self.path}</p>".encode()
                else:
                    status, reply = outer.handle(self.command, self.path, self.headers, body)
                if outer.delay:
                    time.sleep(outer.delay)
                if isinstance(reply, bytes):  # a proxy's page, not the API's JSON
                    data, ctype = reply, "text/html"
                else:
                    data, ctype = json.dumps(reply).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with outer.cond:
                    outer.cond.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    def fail_next(self, n: int, status: int, reply: dict[str, Any] | bytes) -> None:
        """Answer the next ``n`` requests with ``status`` and ``reply`` (JSON; bytes as a page;
        ``b"echo"``: a page that quotes the request's path)."""
        with self.cond:
            self._failures += [(status, reply)] * n

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait_until(self, check: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``check()`` holds (evaluated under the server's lock)."""
        end = time.monotonic() + timeout
        with self.cond:
            while not check():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


def parse_body(headers: Any, body: bytes) -> dict[str, Any]:
    """A request's parameters: JSON, or a form (the values of a form are strings)."""
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype == "application/json":
        data = json.loads(body or b"{}")
        return data if isinstance(data, dict) else {}
    if ctype == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    return {}


class FakeBotApi(_Server):
    """A Bot API for one bot: ``base_url`` is what the client is given (``.../bot``)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, Any]] = []  # {"chat_id": ..., "text": ...}
        self._next_id = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def texts(self) -> list[str]:
        with self.cond:
            return [str(m["text"]) for m in self.messages]

    def lines(self) -> list[str]:
        """Every line received, across messages (several lines may share a message)."""
        return [line for t in self.texts() for line in t.split("\n")]

    def wait_lines(self, n: int, timeout: float = 5.0) -> list[str]:
        """The lines once at least ``n`` have come (fewer after ``timeout``)."""

        def enough() -> bool:
            return sum(str(m["text"]).count("\n") + 1 for m in self.messages) >= n

        self.wait_until(enough, timeout)
        return self.lines()

    def fail_with_500(self, n: int = 1) -> None:
        self.fail_next(
            n, 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        )

    def fail_with_429(self, n: int = 1, retry_after: int = 1) -> None:
        self.fail_next(
            n,
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
        )

    def fail_with_echo(self, n: int = 1) -> None:
        """A proxy's 502 page quoting the request's path (the token with it)."""
        self.fail_next(n, 502, b"echo")

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(path).path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        token, endpoint = parts[0][3:], parts[1]
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        params = parse_body(headers, body)
        if endpoint == "getMe":
            return 200, {
                "ok": True,
                "result": {
                    "id": 4242,
                    "is_bot": True,
                    "first_name": "Fake",
                    "username": "fake_bot",
                },
            }
        if endpoint == "sendMessage":
            chat_id, text = params.get("chat_id"), params.get("text")
            if not chat_id or not text:
                return 400, {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: chat_id and text are required",
                }
            with self.cond:
                self._next_id += 1
                message_id = self._next_id
                self.messages.append({"chat_id": str(chat_id), "text": str(text)})
            chat = int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id
            return 200, {
                "ok": True,
                "result": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": chat, "type": "private"},
                    "text": text,
                },
            }
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}


class WebhookReceiver(_Server):
    """Keeps the JSON bodies posted to it; ``url`` carries a secret in its query."""

    def __init__(self, secret: str = "hook-secret-value") -> None:
        super().__init__()
        self.secret = secret
        self.bodies: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/notify?key={self.secret}"

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        if method != "POST":
            return 405, {"error": "POST only"}
        with self.cond:
            self.bodies.append(json.loads(body))
        return 200, {"ok": True}

    def wait_bodies(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        self.wait_until(lambda: len(self.bodies) >= n, timeout)
        with self.cond:
            return list(self.bodies)


@contextmanager
def running(server: _Server) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
