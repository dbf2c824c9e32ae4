"""Running ``KiteTicker`` in tests: Twisted's reactor runs once per process, so every ticker
shares one reactor thread, started by the first ``connect_ticker`` and never stopped (do not
call ``KiteTicker.stop``; ``close_ticker`` closes one connection for good).

Twisted is not thread-safe: a test thread reaches a ticker only through ``in_reactor``.
``connect_ticker(..., fast_reconnect=True)`` shortens the client's reconnect back-off (it
starts at about 2.7 s) so reconnection tests stay fast; nothing else about the client changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kiteconnect import KiteTicker
from twisted.internet import reactor

FAST_RECONNECT_DELAY = 0.05  # seconds; the client multiplies it by e per failed attempt

_lock = threading.Lock()
_running = threading.Event()


def _on_reactor(fn: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Run ``fn`` in the reactor thread and wait for its result."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:
            box["error"] = e
        finally:
            done.set()

    reactor.callFromThread(call)
    if not done.wait(timeout):
        raise TimeoutError("the reactor did not run the call")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def in_reactor(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` in the reactor thread and return its result."""
    return _on_reactor(lambda: fn(*args, **kwargs))


def connect_ticker(ticker: KiteTicker, *, fast_reconnect: bool = True) -> None:
    """Connect ``ticker`` in the shared reactor, starting the reactor thread the first time."""

    def tune() -> None:
        if fast_reconnect:
            ticker.factory.initialDelay = FAST_RECONNECT_DELAY
            ticker.factory.delay = FAST_RECONNECT_DELAY

    with _lock:
        if not _running.is_set():
            reactor.callWhenRunning(_running.set)
            ticker.connect(threaded=True)
            if not _running.wait(10):
                raise TimeoutError("the Twisted reactor did not start")
            _on_reactor(tune)
            return

    def connect_and_tune() -> None:
        ticker.connect(threaded=True)
        tune()

    _on_reactor(connect_and_tune)


def close_ticker(ticker: KiteTicker) -> None:
    """Close the connection and stop reconnecting (the reactor keeps running)."""
    in_reactor(ticker.close)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, every: float = 0.01) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)
