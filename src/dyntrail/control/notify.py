"""Operator notifications: the events an operator must hear about, as short messages, sent to
Telegram and/or a webhook without ever holding the engine up.

- ``NotifySettings`` says where messages go: a webhook URL, a Telegram bot's token and chat,
  and optionally which event kinds to send (``from_env`` reads them from the environment).
- ``Notifier`` takes the engine's events through ``route()``, turns the ones that matter into
  one line each (fills, partial fills, rejects, the stop moved to break-even, the breaker, the
  risk halt, the kill switch, feed and broker outages, a flatten that failed, a position left
  open, an operator's command) and queues them. A worker thread sends them: one JSON POST per
  event to the webhook, and to Telegram about one message a second at most, several lines to a
  message when many wait. A full queue drops the message (counted in ``dropped``); a failed
  send is retried twice with a short pause, then given up (counted in ``failed``) and logged
  without the token or the webhook's secret parts.

Telegram goes through the official client (``python-telegram-bot``, the ``notify`` extra),
imported only when a Telegram chat is configured, so the rest of the package never needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dyntrail.control.messages import FORMATS as _FORMATS
from dyntrail.control.messages import NOTIFIED as _NOTIFIED
from dyntrail.control.messages import NOTIFIED_KINDS, number, rejected
from dyntrail.control.notify_settings import (
    ENV_KINDS,
    ENV_TELEGRAM_API,
    ENV_TELEGRAM_CHAT,
    ENV_TELEGRAM_TOKEN,
    ENV_WEBHOOK,
    INSTALL_HINT,
    NotifySettings,
)
from dyntrail.core.events import (
    Event,
    OrderRejected,
    OrderSent,
    StopSent,
    TradingStateChanged,
)
from dyntrail.core.events import Fill as FillEvent
from dyntrail.engine.ports import Route
from dyntrail.errors import ConfigError
from dyntrail.live.credentials import MASK, RedactingFilter

if TYPE_CHECKING:
    import httpx
    from telegram import Bot
    from telegram.request import HTTPXRequest

__all__ = [
    "ENV_KINDS",
    "ENV_TELEGRAM_API",
    "ENV_TELEGRAM_CHAT",
    "ENV_TELEGRAM_TOKEN",
    "ENV_WEBHOOK",
    "NOTIFIED_KINDS",
    "Notifier",
    "NotifySettings",
]

log = logging.getLogger(__name__)


# Words in a trading-state reason that mean the feed or the broker is in trouble.
_OUTAGE_WORDS = ("feed stale", "broker", "session expired")

_TELEGRAM_MAX_CHARS = 4096  # Telegram's limit on one message's text
_TRACKED_ORDERS = 512  # orders whose filled quantity is followed (the oldest are forgotten)
_LOGGERS_TO_SCRUB = (  # the client's loggers that may print a request's URL (with the token)
    "httpx",
    "telegram.Bot",
    "telegram.request.BaseRequest",
    "telegram.request.HTTPXRequest",
)


# ---------------------------------------------------------------------------- the notifier


@dataclass(slots=True)
class _Note:
    """One event's message: its line for the chat, its JSON for the webhook."""

    text: str
    payload: dict[str, Any] | None = None


_WAKE = _Note("")  # put by close() to wake the worker


@dataclass
class _Order:
    qty: int
    filled: int = 0


class Notifier:
    """Turns the engine's events into messages and sends them from its own thread.

    ``route()`` plugs it into the engine's sinks; ``emit(ev)`` never blocks and never raises;
    ``close(timeout)`` sends what is queued (within ``timeout`` seconds) and stops the thread.
    ``sent`` and ``failed`` count requests (one Telegram message may carry several lines, the
    webhook gets one request per event); ``dropped`` counts messages lost to a full queue or
    to the end of ``close``'s time.

    ``max_lines`` lines at most go in one Telegram message, ``min_interval`` seconds at least
    pass between two (Telegram allows about one a second in a chat); a failed request is tried
    ``retries`` more times, ``backoff`` seconds apart and more each time; ``timeout`` bounds
    each request."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        queue_size: int = 1000,
        max_lines: int = 20,
        min_interval: float = 1.0,
        retries: int = 2,
        backoff: float = 0.5,
        timeout: float = 5.0,
        max_retry_after: float = 10.0,
    ) -> None:
        self.settings = settings
        self.max_lines = max(1, max_lines)
        self.min_interval = min_interval
        self.retries = max(0, retries)
        self.backoff = backoff
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._secrets = settings.secrets()
        self._kinds = NOTIFIED_KINDS if settings.kinds is None else settings.kinds
        self._orders: dict[str, _Order] = {}  # by tag: quantity sent and filled so far
        self._outage: tuple[str, ...] = ()  # the feed/broker reasons last told
        self._lock = threading.Lock()  # around the formatting state and ``dropped``
        self._queue: queue.Queue[_Note] = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._deadline = float("inf")  # monotonic time by which close() wants the worker done
        self._closed = False
        self._bot: Bot | None = None
        self._requests: list[HTTPXRequest] = []
        self._client: httpx.Client | None = None
        self._filter: RedactingFilter | None = None
        self._thread: threading.Thread | None = None
        if not settings.enabled:
            return
        # before the client is made: it logs its URL, token and all, at DEBUG
        self._filter = RedactingFilter(self._secrets)
        for name in _LOGGERS_TO_SCRUB:
            logging.getLogger(name).addFilter(self._filter)
        try:
            self._build_clients()
        except BaseException:
            self._unfilter()
            raise
        self._thread = threading.Thread(target=self._work, name="dyntrail-notify", daemon=True)
        self._thread.start()

    def _build_clients(self) -> None:
        """The Telegram bot and the webhook's HTTP client (imported here: the ``notify``
        extra); a ConfigError says how to install what is missing."""
        s = self.settings
        try:
            import httpx
        except ImportError:
            raise ConfigError(f"notifications need httpx: {INSTALL_HINT}") from None
        if s.telegram and s.telegram_token is not None:
            try:
                from telegram import Bot
                from telegram.request import HTTPXRequest
            except ImportError:
                raise ConfigError(
                    f"Telegram notifications need python-telegram-bot: {INSTALL_HINT}"
                ) from None
            t = self.timeout
            send = HTTPXRequest(
                connection_pool_size=2,
                connect_timeout=t,
                read_timeout=t,
                write_timeout=t,
                pool_timeout=t,
            )
            updates = HTTPXRequest(connection_pool_size=1)  # the bot's own; never used here
            self._requests = [send, updates]
            try:
                self._bot = Bot(
                    token=s.telegram_token.reveal(),
                    base_url=s.telegram_base_url or "https://api.telegram.org/bot",
                    request=send,
                    get_updates_request=updates,
                )
            except Exception as exc:  # the client refuses a malformed token
                raise ConfigError(
                    f"{ENV_TELEGRAM_TOKEN}: not accepted ({type(exc).__name__})"
                ) from None
        if s.webhook_url:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)

    # ------------------------------------------------------------------ the engine's side

    def route(self) -> Route:
        """The engine's route to this notifier: the kinds it tells, and the orders it
        follows to tell a partial fill (nothing at all when notifications are off)."""
        if not self.settings.enabled:
            return Route(self.emit, only=frozenset())
        only = {_NOTIFIED[k] for k in self._kinds}
        if "fill" in self._kinds:
            only |= {OrderSent, StopSent, OrderRejected}
        return Route(self.emit, only=frozenset(only))

    def emit(self, ev: Event) -> None:
        """Format ``ev`` and queue its message; cheap, never blocks, never raises."""
        if self._thread is None:
            return
        with self._lock:
            try:
                text = self._format(ev)
                if text is None:
                    return
                if self._closed:
                    self.dropped += 1
                    return
                payload = None
                if self._client is not None:
                    payload = {"kind": ev.kind, "ts": ev.ts, "text": text, "event": ev.fields()}
                self._queue.put_nowait(_Note(text, payload))
            except queue.Full:
                self.dropped += 1
            except Exception as exc:  # a bug here must never stop the engine
                self.dropped += 1
                log.warning("notification of a %s event not made: %s", ev.kind, self._scrub(exc))

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for ``timeout`` seconds at most), then stop the worker.
        Messages still queued at the end are counted as dropped."""
        with self._lock:  # an emit from now on is dropped; one before it is sent
            if self._closed:
                return
            self._closed = True
        thread = self._thread
        if thread is not None:
            self._deadline = time.monotonic() + timeout
            self._stop.set()
            # a full queue: the worker is busy with it, and sees the stop when it is empty
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_WAKE)
            thread.join(timeout + 0.5)
            if thread.is_alive():  # it lets the log filter go when it ends
                log.warning("notifications: the sender did not stop within %.1f s", timeout)
                return
        self._unfilter()

    def _unfilter(self) -> None:
        if self._filter is not None:
            for name in _LOGGERS_TO_SCRUB:
                logging.getLogger(name).removeFilter(self._filter)
            self._filter = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ messages

    def _format(self, ev: Event) -> str | None:
        """The line for ``ev``, or None when it is not told (but followed, for an order)."""
        if isinstance(ev, OrderSent | StopSent):
            self._follow(ev.tag, ev.qty)
            return None
        if ev.kind not in self._kinds:
            if isinstance(ev, OrderRejected):
                self._orders.pop(ev.tag, None)
            return None
        fmt = _FORMATS.get(type(ev))
        if fmt is not None:
            return fmt(ev)
        if isinstance(ev, FillEvent):
            return self._fill(ev)
        if isinstance(ev, OrderRejected):
            self._orders.pop(ev.tag, None)
            return rejected(ev)
        if isinstance(ev, TradingStateChanged):
            return self._trading_state(ev)
        return None

    def _follow(self, tag: str, qty: int) -> None:
        if not tag:
            return
        self._orders.pop(tag, None)
        self._orders[tag] = _Order(qty)
        while len(self._orders) > _TRACKED_ORDERS:
            del self._orders[next(iter(self._orders))]

    def _fill(self, ev: FillEvent) -> str:
        """``FILL`` or ``PARTIAL FILL`` (the order's fills so far short of its quantity)."""
        label, notes = "FILL", []
        order = self._orders.get(ev.tag) if ev.tag else None
        if order is not None:
            order.filled += ev.qty
            if order.filled < order.qty:
                label = "PARTIAL FILL"
                notes.append(f"{order.filled}/{order.qty} filled")
            else:
                if order.filled > ev.qty:  # the fill that completed a partly filled order
                    notes.append(f"{order.filled}/{order.qty} filled")
                del self._orders[ev.tag]
        if isinstance(ev.slippage, int | float):
            notes.append(f"slippage {number(ev.slippage)}")
        text = (
            f"{label} trade {ev.trade_id} {ev.action} {ev.side.upper()} {ev.qty} @ {ev.price:.2f}"
        )
        return f"{text} ({', '.join(notes)})" if notes else text

    def _trading_state(self, ev: TradingStateChanged) -> str | None:
        """A feed or broker outage that began or changed, or one that ended; other changes of
        state are not told (an operator's command is told as itself)."""
        outage = tuple(r for r in ev.reasons if any(word in r.lower() for word in _OUTAGE_WORDS))
        if outage == self._outage:
            return None
        before, self._outage = self._outage, outage
        state = ev.state.upper()
        if outage:
            return f"TRADING {state}: {'; '.join(outage)}"
        if before:
            still = f" (still: {'; '.join(ev.reasons)})" if ev.reasons else ""
            return f"TRADING {state}: feed and broker OK again{still}"
        return None

    # ------------------------------------------------------------------ the worker

    def _work(self) -> None:
        """The sender's loop: webhook posts at once, Telegram lines gathered into messages no
        more often than ``min_interval``; on close, what is left is sent without waiting."""
        loop = asyncio.new_event_loop() if self._bot is not None else None
        pending: list[str] = []  # Telegram lines waiting for their message
        next_at = 0.0  # when the next Telegram message may go
        try:
            while True:
                stopping = self._stop.is_set()
                if time.monotonic() > self._deadline:
                    self._give_up(pending)
                    break
                if stopping and not pending and self._queue.empty():
                    break
                wait: float | None = None  # None: nothing pending, wait for a message
                if pending:
                    wait = 0.0 if stopping else max(0.0, next_at - time.monotonic())
                try:
                    note = self._queue.get(block=wait != 0.0, timeout=wait)
                except queue.Empty:
                    note = None
                notes = [] if note is None else [note]
                while len(notes) < 4 * self.max_lines:  # what else is waiting, at once
                    try:
                        notes.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                for n in notes:
                    if n is _WAKE:
                        continue
                    if n.payload is not None:
                        self._post_webhook(n.payload)
                    if self._bot is None:
                        continue
                    if len(pending) < self._queue.maxsize:
                        pending.append(n.text)
                    else:  # Telegram is far behind: as with a full queue, the new is lost
                        with self._lock:
                            self.dropped += 1
                if loop is not None and pending:
                    now = time.monotonic()
                    if now >= next_at or self._stop.is_set():
                        text, pending = _take_message(pending, self.max_lines)
                        self._send_telegram(loop, text)
                        next_at = time.monotonic() + self.min_interval
        except Exception as exc:  # never die quietly: say so, and stop taking messages
            log.warning("notifications stopped: %s: %s", type(exc).__name__, self._scrub(exc))
            self._closed = True
            self._give_up(pending)
        finally:
            if loop is not None:
                self._shut_loop(loop)
            if self._client is not None:
                self._client.close()
            if self._closed and self._stop.is_set():
                self._unfilter()

    def _give_up(self, pending: list[str]) -> None:
        """Count what will not be sent: the lines pending and the notes still queued."""
        lost = len(pending)
        pending.clear()
        while True:
            try:
                n = self._queue.get_nowait()
            except queue.Empty:
                break
            lost += n is not _WAKE
        if lost:
            with self._lock:
                self.dropped += lost
            log.warning("notifications: %d message(s) not sent before the end", lost)

    def _shut_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            for req in self._requests:
                loop.run_until_complete(req.shutdown())
            loop.run_until_complete(loop.shutdown_asyncgens())
        except Exception as exc:
            log.debug("notifications: closing the Telegram client: %s", self._scrub(exc))
        finally:
            loop.close()

    def _send_telegram(self, loop: asyncio.AbstractEventLoop, text: str) -> None:
        """One Telegram message, tried again after a network or server error (or after the
        wait Telegram asks for), given up on a refusal (bad token, chat, or text)."""
        from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter

        assert self._bot is not None
        bot, chat = self._bot, self.settings.telegram_chat_id or ""
        why = ""
        for attempt in range(self.retries + 1):
            try:
                loop.run_until_complete(
                    asyncio.wait_for(bot.send_message(chat_id=chat, text=text), self.timeout * 2)
                )
                self.sent += 1
                return
            except RetryAfter as exc:
                pause = _seconds(exc.retry_after)
                why = f"Telegram asks to wait {pause:g} s"
                if pause > self.max_retry_after:
                    break
            except (InvalidToken, Forbidden, BadRequest, ChatMigrated) as exc:
                why = f"{type(exc).__name__}: {self._scrub(exc)}"
                break  # trying again would not help
            except Exception as exc:
                why = f"{type(exc).__name__}: {self._scrub(exc)}"
                pause = self.backoff * (attempt + 1)
            if attempt == self.retries or not self._pause(pause):
                break
            log.debug("notifications: Telegram send failed (%s); trying again", why)
        self.failed += 1
        log.warning(
            "notifications: Telegram message of %d line(s) not sent: %s",
            text.count("\n") + 1,
            why,
        )

    def _post_webhook(self, payload: dict[str, Any]) -> None:
        """One JSON POST, tried again after a network error, a 5xx or a 429."""
        import httpx

        assert self._client is not None and self.settings.webhook_url is not None
        url = self.settings.webhook_url
        body = json.dumps(payload, default=str).encode()
        headers = {"Content-Type": "application/json"}
        why = ""
        for attempt in range(self.retries + 1):
            try:
                resp = self._client.post(url, content=body, headers=headers)
                if resp.status_code < 300:
                    self.sent += 1
                    return
                why = f"HTTP {resp.status_code}"
                if resp.status_code < 500 and resp.status_code != 429:
                    break  # the receiver refuses it: trying again would not help
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {self._scrub(exc)}"
            if attempt == self.retries or not self._pause(self.backoff * (attempt + 1)):
                break
            log.debug("notifications: webhook post failed (%s); trying again", why)
        self.failed += 1
        host = urlsplit(url).hostname or "?"
        log.warning(
            "notifications: webhook post to %s (%s event) failed: %s",
            host,
            payload.get("kind"),
            why,
        )

    def _pause(self, seconds: float) -> bool:
        """Sleep before a retry, unless that would pass close()'s deadline (then False)."""
        if time.monotonic() + seconds > self._deadline:
            return False
        time.sleep(seconds)
        return True

    def _scrub(self, exc: object) -> str:
        """``exc``'s text with the token and the webhook's secret parts masked."""
        text = str(exc)
        for s in self._secrets:
            text = text.replace(s, MASK)
        return text


def _seconds(value: object) -> float:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1.0


def _take_message(lines: list[str], max_lines: int) -> tuple[str, list[str]]:
    """The first message's text from ``lines`` (up to ``max_lines`` of them, within
    Telegram's length) and the lines left."""
    room = _TELEGRAM_MAX_CHARS
    taken: list[str] = []
    for line in lines[:max_lines]:
        if len(line) > _TELEGRAM_MAX_CHARS - 1:
            line = line[: _TELEGRAM_MAX_CHARS - 2] + "…"
        if taken and len(line) + 1 > room:
            break
        taken.append(line)
        room -= len(line) + 1
    return "\n".join(taken), lines[len(taken) :]
