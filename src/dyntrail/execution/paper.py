"""The paper broker: an exchange simulated in-process, with faults, that survives our crashes.

Rules:

- Fills follow the protocol's rule (``dyntrail.execution.broker``): only in ``on_market``, at its
  ``now``, at the quote, never worse than the limit; at most one fill per order per call.
- An order placed at ``t`` is acknowledged (or rejected) at ``t + ack latency`` and can fill from
  ``ack + fill latency``; with an order timeout it expires ``order_timeout_s`` after its ack.
- Every random decision is drawn from a generator keyed by ``(seed, key, purpose, index)``, where
  the key is the order's tag (or a disconnect window), never from one shared stream: a broker
  rebuilt from its state file makes the same decisions for the same orders.
- With ``state_path`` the whole broker (book, fills, undelivered events, clock, rate window) is
  saved atomically after every call and loaded on construction: it plays an exchange that
  outlives our process. Positions are the sum of the book's fills, so they cannot drift.
- Delivery faults never touch the book: a dropped event is never delivered, a duplicated fill is
  delivered twice in a row, an out-of-order ack is delivered right after the order's first fill
  (or just before its terminal event if it never fills). During a disconnect window calls raise
  ``Disconnected`` (a place or cancel/modify took effect anyway with ``disconnect_placed_prob``)
  and ``on_market`` delivers nothing; the events wait, in order, for the link to come back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dyntrail.core.order_pricing import OrderSide
from dyntrail.errors import BrokerError, JournalError
from dyntrail.execution.broker import (
    BrokerEvent,
    BrokerEventKind,
    BrokerOrder,
    Disconnected,
    DuplicateTag,
    OrderNotWorking,
    QuoteFn,
    RateLimited,
    UnknownOrder,
)
from dyntrail.execution.orders import BrokerOrderId, Fill, Order, OrderIntent, OrderState

_STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """How the paper exchange misbehaves. Rates and probabilities are fractions in [0, 1].

    - ``ack_median_ms``/``ack_sigma``: ack (or reject) latency, lognormal (median, log-sd).
    - ``fill_median_ms``/``fill_sigma``: from the ack to the first moment the order can fill.
    - ``reject_rate``: share of orders rejected instead of acknowledged.
    - ``partial_fill_prob``: chance that a fill takes only 20–80 % of the remaining quantity (in
      multiples of ``partial_fill_unit``, e.g. the lot size); the rest fills on later calls.
    - ``order_timeout_s``: a working order expires this long after its ack (None: never).
    - ``drop_rate``: share of events never delivered; ``duplicate_rate``: share of fills
      delivered twice; ``out_of_order_rate``: share of acks delivered after the first fill.
    - ``disconnect_prob``: share of ``disconnect_window_s`` windows (of wall-clock market time)
      that are down; ``disconnect_placed_prob``: chance a call made while down took effect.
    - ``max_orders_per_s``: more ``place`` calls than this within one second of market time
      raise ``RateLimited`` (None: no limit). Only accepted places count.
    """

    ack_median_ms: float = 150.0
    ack_sigma: float = 0.5
    fill_median_ms: float = 100.0
    fill_sigma: float = 0.5
    reject_rate: float = 0.01
    partial_fill_prob: float = 0.10
    partial_fill_unit: int = 1
    order_timeout_s: float | None = 300.0
    drop_rate: float = 0.01
    duplicate_rate: float = 0.02
    out_of_order_rate: float = 0.02
    disconnect_prob: float = 0.01
    disconnect_window_s: float = 10.0
    disconnect_placed_prob: float = 0.5
    max_orders_per_s: int | None = 10

    def __post_init__(self) -> None:
        values = dataclasses.asdict(self)
        problems = [
            f"{k} must be finite and >= 0, got {values[k]}"
            for k in _LATENCIES
            if not (math.isfinite(values[k]) and values[k] >= 0)
        ]
        problems += [
            f"{k} must be in [0, 1], got {values[k]}" for k in _RATES if not 0 <= values[k] <= 1
        ]
        if self.partial_fill_unit < 1:
            problems.append(f"partial_fill_unit must be >= 1, got {self.partial_fill_unit}")
        if self.order_timeout_s is not None and not self.order_timeout_s > 0:
            problems.append(f"order_timeout_s must be > 0 or None, got {self.order_timeout_s}")
        if not self.disconnect_window_s > 0:
            problems.append(f"disconnect_window_s must be > 0, got {self.disconnect_window_s}")
        if self.max_orders_per_s is not None and self.max_orders_per_s < 1:
            problems.append(f"max_orders_per_s must be >= 1 or None, got {self.max_orders_per_s}")
        if problems:
            raise ValueError("FaultProfile: " + "; ".join(problems))

    @classmethod
    def none(cls) -> FaultProfile:
        """Zero latency, no faults, no rate limit: an ideal exchange (the backtest's)."""
        zeros: dict[str, Any] = dict.fromkeys((*_LATENCIES, *_RATES), 0.0)
        return cls(**zeros, order_timeout_s=None, max_orders_per_s=None)


_ZERO = dt.timedelta(0)
_ONE_SECOND = dt.timedelta(seconds=1)
_LATENCIES = ("ack_median_ms", "ack_sigma", "fill_median_ms", "fill_sigma")
_RATES = (
    "reject_rate",
    "partial_fill_prob",
    "drop_rate",
    "duplicate_rate",
    "out_of_order_rate",
    "disconnect_prob",
    "disconnect_placed_prob",
)


class _Draw(enum.IntEnum):
    """Purpose codes of the keyed random draws (stable: they make restarts deterministic)."""

    ACK_LATENCY = 1
    FILL_LATENCY = 2
    REJECT = 3
    PARTIAL = 4
    DELIVERY = 5
    OUT_OF_ORDER = 6
    WINDOW_DOWN = 7
    PLACED_ANYWAY = 8
    REQUEST_ANYWAY = 9


@dataclass(slots=True)
class _Entry:
    """The exchange's record of one order: the order itself plus its schedule and counters."""

    order: Order
    boid: BrokerOrderId
    ack_ts: dt.datetime
    fill_from_ts: dt.datetime
    expire_ts: dt.datetime | None
    attempts: int = 0  # fill attempts (index of the partial-fill draws)
    emitted: int = 0  # events emitted (index of the delivery draws)
    requests: int = 0  # modify/cancel calls (index of the took-effect-anyway draws)
    held_ack: bool = False  # an out-of-order ack waiting for the first fill
    last_try: dt.datetime | None = None  # matching runs once per order per market instant

    def due_ts(self) -> dt.datetime | None:
        """When this order next needs the exchange without a quote: ack or expiry."""
        if self.order.state is OrderState.SUBMITTED:
            return self.ack_ts
        if self.order.state in (OrderState.ACKED, OrderState.PARTIALLY_FILLED):
            return self.expire_ts
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.order.to_dict(),
            "boid": self.boid,
            "ack_ts": self.ack_ts.isoformat(),
            "fill_from_ts": self.fill_from_ts.isoformat(),
            "expire_ts": None if self.expire_ts is None else self.expire_ts.isoformat(),
            "attempts": self.attempts,
            "emitted": self.emitted,
            "requests": self.requests,
            "held_ack": self.held_ack,
            "last_try": None if self.last_try is None else self.last_try.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Entry:
        exp = d["expire_ts"]
        return cls(
            order=Order.from_dict(d["order"]),
            boid=BrokerOrderId(d["boid"]),
            ack_ts=dt.datetime.fromisoformat(d["ack_ts"]),
            fill_from_ts=dt.datetime.fromisoformat(d["fill_from_ts"]),
            expire_ts=None if exp is None else dt.datetime.fromisoformat(exp),
            attempts=int(d["attempts"]),
            emitted=int(d["emitted"]),
            requests=int(d["requests"]),
            held_ack=bool(d["held_ack"]),
            last_try=None
            if d.get("last_try") is None
            else dt.datetime.fromisoformat(d["last_try"]),
        )


class PaperBroker:
    """A ``Broker`` that fills against the quotes passed to ``on_market``, with the faults of
    ``profile`` (see the module docstring). Broker order ids are ``PB000001``, ``PB000002``, …"""

    def __init__(self, profile: FaultProfile, seed: int, state_path: Path | None = None) -> None:
        if not (isinstance(seed, int) and seed >= 0):
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.profile = profile
        self.seed = seed
        self.state_path = state_path
        self._entries: dict[str, _Entry] = {}
        self._live: dict[str, _Entry] = {}  # entries not yet terminal: the only ones scanned
        self._outbox: list[BrokerEvent] = []
        self._clock: dt.datetime | None = None
        self._next_id = 1
        self._place_times: list[dt.datetime] = []
        self._settled: set[str] = set()  # contracts the exchange settled at expiry
        if state_path is not None and state_path.exists():
            self._load(state_path)

    @property
    def clock(self) -> dt.datetime | None:
        """The exchange's market time: the latest ``now`` it was given."""
        return self._clock

    # -- the protocol ------------------------------------------------------------------------
    def place(self, intent: OrderIntent, now: dt.datetime) -> None:
        order = Order(intent)  # validates tag, qty and limit before anything happens
        self._advance(now)
        try:
            if self._down(now):
                if intent.tag not in self._entries and self._chance(
                    intent.tag, _Draw.PLACED_ANYWAY, self.profile.disconnect_placed_prob
                ):
                    self._accept(order, now)
                raise Disconnected(f"place {intent.tag} at {now}: link down, outcome unknown")
            limit = self.profile.max_orders_per_s
            if limit is not None:  # the times of recent places are kept only for the limit
                recent = [t for t in self._place_times if now - t < _ONE_SECOND]
                self._place_times = recent
                if len(recent) >= limit:
                    raise RateLimited(
                        f"place {intent.tag} at {now}: more than {limit} orders within one second"
                    )
            if intent.tag in self._entries:
                raise DuplicateTag(
                    f"place {intent.tag}: the broker already holds it as "
                    f"{self._entries[intent.tag].order.broker_order_id}"
                )
            self._accept(order, now)
        finally:
            self._save()

    def modify(self, tag: str, limit: float, now: dt.datetime) -> None:
        if not (math.isfinite(limit) and limit > 0):
            raise ValueError(f"modify {tag}: limit must be finite and > 0, got {limit}")

        def amend(e: _Entry, now: dt.datetime) -> None:
            if not e.order.is_working:
                raise OrderNotWorking(f"modify {tag}: order is {e.order.state.value}")
            e.order.amend_limit(limit)

        self._request(tag, now, "modify", amend)

    def cancel(self, tag: str, now: dt.datetime) -> None:
        self._request(tag, now, "cancel", self._cancel_entry)

    def order_book(self) -> list[BrokerOrder]:
        return [BrokerOrder.of(e.order) for e in self._entries.values()]

    def positions(self) -> dict[str, int]:
        pos: dict[str, int] = {}
        for e in self._entries.values():
            sign = 1 if e.order.side is OrderSide.BUY else -1
            if e.order.filled_qty and e.order.instrument not in self._settled:
                pos[e.order.instrument] = pos.get(e.order.instrument, 0) + sign * e.order.filled_qty
        return {k: v for k, v in pos.items() if v != 0}

    def settle_expired(self, instrument: str, now: dt.datetime) -> None:
        """The contract expired: its working orders end (``expired``) and it leaves
        ``positions``."""
        self._advance(now)
        for e in self._live.values():
            if e.order.instrument == instrument and e.order.is_working:
                self._release_ack(e)
                e.order.expire(now)
                self._emit(e, BrokerEventKind.EXPIRED, now)
        self._prune()
        self._settled.add(instrument)
        self._save()

    def on_market(self, now: dt.datetime, quote: QuoteFn) -> list[BrokerEvent]:
        self._advance(now)
        out: list[BrokerEvent] = []
        try:
            for e in self._live.values():  # matching never adds or removes entries
                working = e.order.state in (OrderState.ACKED, OrderState.PARTIALLY_FILLED)
                if working and e.fill_from_ts <= now:
                    self._try_fill(e, now, quote(e.order.instrument))
            self._prune()  # filled ones leave the scan now: the next call finds less to do
            if not self._down(now):
                out, self._outbox = self._outbox, []
        finally:
            self._save()
        return out

    # -- the exchange ------------------------------------------------------------------------
    def _advance(self, now: dt.datetime) -> None:
        """Apply every ack, reject and expiry due by ``now``, in time order; set the clock."""
        if self._clock is not None and now < self._clock:
            raise ValueError(f"time went backwards: {now} is before the broker clock {self._clock}")
        if not self._live:
            self._clock = now
            return
        while True:
            due: tuple[dt.datetime, _Entry] | None = None
            for e in self._live.values():
                ts = e.due_ts()
                if ts is not None and ts <= now and (due is None or ts < due[0]):
                    due = (ts, e)
            if due is None:
                break
            self._act(*due)
        self._prune()
        self._clock = now

    def _prune(self) -> None:
        if any(e.order.is_terminal for e in self._live.values()):
            self._live = {k: e for k, e in self._live.items() if not e.order.is_terminal}

    def _act(self, ts: dt.datetime, e: _Entry) -> None:
        o = e.order
        if o.state is OrderState.SUBMITTED:
            p = self.profile
            if p.reject_rate > 0 and self._chance(o.tag, _Draw.REJECT, p.reject_rate):
                o.reject(ts, "paper: rejected by risk checks")
                self._emit(e, BrokerEventKind.REJECT, ts, reason=o.reason)
                return
            o.ack(ts, e.boid)
            if p.out_of_order_rate > 0 and self._chance(
                o.tag, _Draw.OUT_OF_ORDER, p.out_of_order_rate
            ):
                e.held_ack = True
            else:
                self._emit(e, BrokerEventKind.ACK, ts)
        else:
            self._release_ack(e)
            o.expire(ts)
            self._emit(e, BrokerEventKind.EXPIRED, ts)

    def _accept(self, order: Order, now: dt.datetime) -> None:
        intent = order.intent
        boid = BrokerOrderId(f"PB{self._next_id:06d}")
        self._next_id += 1
        order.submit(now, boid)
        p = self.profile
        zero = _ZERO
        ack_ts = now + (
            _latency(self._keyed(intent.tag, _Draw.ACK_LATENCY), p.ack_median_ms, p.ack_sigma)
            if p.ack_median_ms > 0
            else zero
        )
        fill_lat = (
            _latency(self._keyed(intent.tag, _Draw.FILL_LATENCY), p.fill_median_ms, p.fill_sigma)
            if p.fill_median_ms > 0
            else zero
        )
        expire_ts = None
        if p.order_timeout_s is not None:
            expire_ts = ack_ts + dt.timedelta(seconds=p.order_timeout_s)
        self._entries[intent.tag] = _Entry(order, boid, ack_ts, ack_ts + fill_lat, expire_ts)
        self._live[intent.tag] = self._entries[intent.tag]
        if p.max_orders_per_s is not None:
            self._place_times.append(now)

    def _try_fill(self, e: _Entry, now: dt.datetime, q: tuple[float, float] | None) -> None:
        """Match one working order against the quote: at most one fill per order per market
        instant, so asking again at the same time (a client restarted and polling again) changes
        nothing."""
        if q is None or (e.last_try is not None and now <= e.last_try):
            return
        o = e.order
        bid, ask = q
        if o.side is OrderSide.BUY:
            if not (ask > 0 and math.isfinite(ask) and o.limit >= ask):
                return
            price = ask
        else:
            if not (bid > 0 and math.isfinite(bid) and o.limit <= bid):
                return
            price = bid
        qty = o.remaining
        unit = self.profile.partial_fill_unit
        attempt = e.attempts
        e.attempts += 1
        if self.profile.partial_fill_prob > 0:
            rng = self._keyed(o.tag, _Draw.PARTIAL, attempt)
            if rng.random() < self.profile.partial_fill_prob and qty > unit:
                qty = max(1, int(qty // unit * rng.uniform(0.2, 0.8))) * unit  # < qty: qty > unit
        e.last_try = now
        fill = Fill(o.tag, f"{e.boid}F{len(o.fills) + 1}", qty, float(price), now)
        o.apply_fill(fill)
        self._emit(e, BrokerEventKind.FILL, now, fill=fill)
        self._release_ack(e)

    def _release_ack(self, e: _Entry) -> None:
        if e.held_ack:
            e.held_ack = False
            self._emit(e, BrokerEventKind.ACK, e.ack_ts)

    def _emit(
        self,
        e: _Entry,
        kind: BrokerEventKind,
        ts: dt.datetime,
        *,
        fill: Fill | None = None,
        reason: str = "",
    ) -> None:
        """Queue an event for delivery, unless the drop fault eats it; fills may be doubled."""
        u_drop, u_dup = 1.0, 1.0
        if self.profile.drop_rate > 0 or self.profile.duplicate_rate > 0:
            u_drop, u_dup = self._keyed(e.order.tag, _Draw.DELIVERY, e.emitted).random(2)
        e.emitted += 1
        if u_drop < self.profile.drop_rate:
            return
        event = BrokerEvent(
            kind,
            e.order.tag,
            ts,
            e.boid,
            fill_id=None if fill is None else fill.fill_id,
            qty=0 if fill is None else fill.qty,
            price=0.0 if fill is None else fill.price,
            reason=reason,
        )
        self._outbox.append(event)
        if fill is not None and u_dup < self.profile.duplicate_rate:
            self._outbox.append(event)

    def _cancel_entry(self, e: _Entry, now: dt.datetime) -> None:
        """Cancel the rest of a working order; nothing for a finished one."""
        if e.order.is_working:
            self._release_ack(e)
            e.order.cancel(now)
            self._emit(e, BrokerEventKind.CANCELLED, now)

    def _request(
        self, tag: str, now: dt.datetime, what: str, effect: Callable[[_Entry, dt.datetime], None]
    ) -> None:
        """Apply a modify/cancel ``effect`` to the order ``tag``. While the link is down the call
        raises ``Disconnected``, after letting a request on a working order through with
        ``disconnect_placed_prob``."""
        self._advance(now)
        try:
            e = self._entries.get(tag)
            if self._down(now):
                if e is not None:
                    index = e.requests
                    e.requests += 1
                    anyway = self._draw(tag, _Draw.REQUEST_ANYWAY, index)
                    if anyway < self.profile.disconnect_placed_prob and e.order.is_working:
                        effect(e, now)
                raise Disconnected(f"{what} {tag} at {now}: link down, outcome unknown")
            if e is None:
                raise UnknownOrder(f"{what} {tag}: the broker holds no order with that tag")
            e.requests += 1
            effect(e, now)
        finally:
            self._save()

    # -- randomness --------------------------------------------------------------------------
    def _keyed(self, key: str, purpose: _Draw, *index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(key.encode()), int(purpose), *index])

    def _draw(self, key: str, purpose: _Draw, *index: int) -> float:
        return float(self._keyed(key, purpose, *index).random())

    def _chance(self, key: str, purpose: _Draw, prob: float, *index: int) -> bool:
        """A keyed coin with ``prob``; no draw at all when the fault is off (it cannot fire)."""
        return prob > 0 and self._draw(key, purpose, *index) < prob

    def _down(self, now: dt.datetime) -> bool:
        """Is market time ``now`` inside a disconnect window (same answer after a restart)?"""
        if self.profile.disconnect_prob <= 0:
            return False
        secs = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
        window = f"{now:%Y%m%d}W{int(secs // self.profile.disconnect_window_s)}"
        return self._draw(window, _Draw.WINDOW_DOWN) < self.profile.disconnect_prob

    # -- persistence -------------------------------------------------------------------------
    def _save(self) -> None:
        """Write the state atomically: temp file, fsync, rename, fsync the folder."""
        if self.state_path is None:
            return
        state = {
            "version": _STATE_VERSION,
            "seed": self.seed,
            "profile": dataclasses.asdict(self.profile),
            "clock": None if self._clock is None else self._clock.isoformat(),
            "next_id": self._next_id,
            "place_times": [t.isoformat() for t in self._place_times],
            "outbox": [ev.to_dict() for ev in self._outbox],
            "orders": [e.to_dict() for e in self._entries.values()],
            "settled": sorted(self._settled),
        }
        path = self.state_path
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _load(self, path: Path) -> None:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if state["version"] != _STATE_VERSION:
                raise ValueError(f"version {state['version']}, expected {_STATE_VERSION}")
            saved = (state["seed"], state["profile"])
            if saved != (self.seed, dataclasses.asdict(self.profile)):
                raise BrokerError(
                    f"paper broker state {path} was written with seed {state['seed']} and "
                    f"profile {state['profile']}; pass the same seed and profile to resume"
                )
            clock = state["clock"]
            self._clock = None if clock is None else dt.datetime.fromisoformat(clock)
            self._next_id = int(state["next_id"])
            self._place_times = [dt.datetime.fromisoformat(t) for t in state["place_times"]]
            self._outbox = [BrokerEvent.from_dict(ev) for ev in state["outbox"]]
            entries = [_Entry.from_dict(d) for d in state["orders"]]
            self._settled = set(state.get("settled", []))
        except (KeyError, TypeError, ValueError, JournalError) as exc:
            raise BrokerError(f"paper broker state {path} is unreadable: {exc}") from exc
        self._entries = {e.order.tag: e for e in entries}
        self._live = {k: e for k, e in self._entries.items() if not e.order.is_terminal}


def _latency(rng: np.random.Generator, median_ms: float, sigma: float) -> dt.timedelta:
    """Lognormal latency with the given median (ms) and log-sd, to the microsecond."""
    ms = median_ms * math.exp(sigma * float(rng.standard_normal())) if median_ms > 0 else 0.0
    return dt.timedelta(microseconds=round(ms * 1000))
