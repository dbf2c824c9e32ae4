"""Fault injection: each armed fault fires on the next matching event and is used up as it
fires; ``fired`` counts what fired, by kind, so a test can show its faults happened.
Thread-safe: tests arm faults from their thread while server threads consume them."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fakekite.model import KiteError

_T = TypeVar("_T")

DEFAULT_ERROR_TYPES = {
    400: "InputException",
    403: "TokenException",
    404: "GeneralException",
    429: "NetworkException",
    500: "GeneralException",
    502: "NetworkException",
    503: "NetworkException",
    504: "NetworkException",
}
DEFAULT_MESSAGES = {
    429: "Too many requests",
    500: "Something went wrong. Please try again.",
    502: "Couldn't reach the OMS. Please try again.",
    503: "Service unavailable. Please try again.",
    504: "Gateway timeout. Please try again.",
}
DEFAULT_REJECTION = "RMS:Margin Exceeds, Required:150000.00, Available:0.00"


@dataclass
class _HttpFault:
    status: int
    error_type: str
    message: str
    paths: tuple[str, ...]
    left: int

    def matches(self, path: str, is_order_call: bool) -> bool:
        for p in self.paths:
            if p in ("all", "*"):
                return True
            if p == "orders" and is_order_call:
                return True
            if p.startswith("/") and path.startswith(p):
                return True
        return False


@dataclass(frozen=True)
class Withheld:
    """How an order call's response is withheld: after ``delay`` seconds, or never (the
    connection is closed without a response) when ``delay`` is None."""

    delay: float | None


class Faults:
    def __init__(self, drop_ws: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._drop_ws = drop_ws
        self._http: list[_HttpFault] = []
        self._timeouts: deque[Withheld] = deque()
        self._rejects: deque[str] = deque()
        self._partials: deque[int] = deque()
        self._counted: Counter[str] = Counter()  # faults armed as a count, by kind
        self.fired: Counter[str] = Counter()  # "http 429", "timeout", "reject", ... -> times

    # -- arming ------------------------------------------------------------------------------------
    def http_error(
        self,
        status: int,
        n: int = 1,
        error_type: str | None = None,
        paths: str | Sequence[str] = "orders",
        message: str | None = None,
    ) -> None:
        """The next ``n`` matching requests fail with ``status`` and Kite's error envelope, and
        are not carried out. ``paths``: ``"orders"`` (order calls: place, modify, cancel),
        ``"all"``, or path prefixes such as ``"/quote"`` or ``"/orders"`` (any method)."""
        kinds = (paths,) if isinstance(paths, str) else tuple(paths)
        fault = _HttpFault(
            status=status,
            error_type=error_type or DEFAULT_ERROR_TYPES.get(status, "GeneralException"),
            message=message or DEFAULT_MESSAGES.get(status, "Something went wrong."),
            paths=kinds,
            left=n,
        )
        with self._lock:
            self._http.append(fault)

    def timeout_after_send(self, n: int = 1, delay: float | None = None) -> None:
        """The next ``n`` order calls are carried out, but their response is withheld for
        ``delay`` seconds, or never sent (the connection is closed) when ``delay`` is None."""
        with self._lock:
            self._timeouts.extend([Withheld(delay)] * n)

    def reject_next(self, n: int = 1, reason: str = DEFAULT_REJECTION) -> None:
        """The next ``n`` orders placed (autoslice children and GTT orders count one each) go
        REJECTED with ``status_message`` ``reason``."""
        with self._lock:
            self._rejects.extend([reason] * n)

    def lose_order_updates(self, n: int = 1) -> None:
        """The next ``n`` WebSocket order updates are not sent."""
        with self._lock:
            self._counted["lost update"] += n

    def partial_fill_next(self, qty: int) -> None:
        """The next fill is at most ``qty``; the rest keeps working."""
        with self._lock:
            self._partials.append(qty)

    def refuse_ws_handshakes(self, n: int = 1) -> None:
        """The next ``n`` WebSocket handshakes are refused with 503 (Kite's gateway down)."""
        with self._lock:
            self._counted["refused handshake"] += n

    def drop_ws(self) -> None:
        """Close every WebSocket connection abruptly (no close frame)."""
        with self._lock:
            self.fired["dropped ws"] += 1
        self._drop_ws()

    def clear(self) -> None:
        with self._lock:
            self._http.clear()
            self._timeouts.clear()
            self._rejects.clear()
            self._partials.clear()
            self._counted.clear()

    # -- firing ------------------------------------------------------------------------------------
    def take_http_error(self, path: str, is_order_call: bool) -> KiteError | None:
        with self._lock:
            for fault in self._http:
                if fault.matches(path, is_order_call):
                    fault.left -= 1
                    if fault.left <= 0:
                        self._http.remove(fault)
                    self.fired[f"http {fault.status}"] += 1
                    return KiteError(fault.status, fault.error_type, fault.message)
        return None

    def take_timeout(self) -> Withheld | None:
        with self._lock:
            return self._fire("timeout", self._timeouts.popleft() if self._timeouts else None)

    def take_reject(self) -> str | None:
        with self._lock:
            return self._fire("reject", self._rejects.popleft() if self._rejects else None)

    def take_partial_fill(self) -> int | None:
        with self._lock:
            return self._fire("partial fill", self._partials.popleft() if self._partials else None)

    def take_lost_update(self) -> bool:
        return self._take_counted("lost update")

    def take_refused_handshake(self) -> bool:
        return self._take_counted("refused handshake")

    def _take_counted(self, kind: str) -> bool:
        """One of the faults armed as a count (``_counted[kind]``) fires, if one is left."""
        with self._lock:
            if self._counted[kind] > 0:
                self._counted[kind] -= 1
                self.fired[kind] += 1
                return True
            return False

    def _fire(self, kind: str, fault: _T) -> _T:
        if fault is not None:
            self.fired[kind] += 1
        return fault
