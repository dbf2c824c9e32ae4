"""How the paper exchange misbehaves (``FaultProfile``) and the keyed random draws that decide
each fault (``FaultDraws``).

Every random decision is drawn from a generator keyed by ``(seed, key, purpose, index)``, where
the key is an order's tag (or a disconnect window), never from one shared stream: a broker
rebuilt from its state file makes the same decisions for the same orders, and one order's draws
do not depend on what other orders did.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """How the paper exchange misbehaves. Rates and probabilities are fractions in [0, 1].

    - ``ack_median_ms``/``ack_sigma``: ack (or reject) latency, lognormal (median, log-sd).
    - ``fill_median_ms``/``fill_sigma``: from the ack to the first moment the order can fill.
    - ``reject_rate``: share of orders rejected instead of acknowledged.
    - ``partial_fill_prob``: chance that a fill takes only 20–80 % of the remaining quantity (in
      multiples of ``partial_fill_unit``, e.g. the lot size); the rest fills on later calls.
    - ``order_timeout_s``: a working order expires this long after its ack, a stop-limit this
      long after its trigger (it never expires untriggered); None: never.
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


class Draw(enum.IntEnum):
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


_ZERO = dt.timedelta(0)


class FaultDraws:
    """The keyed draws of one broker (``seed``) under ``profile``: the same arguments give the
    same answer in any process, at any time."""

    __slots__ = ("profile", "seed")

    def __init__(self, profile: FaultProfile, seed: int) -> None:
        self.profile = profile
        self.seed = seed

    def keyed(self, key: str, purpose: Draw, *index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(key.encode()), int(purpose), *index])

    def draw(self, key: str, purpose: Draw, *index: int) -> float:
        return float(self.keyed(key, purpose, *index).random())

    def chance(self, key: str, purpose: Draw, prob: float, *index: int) -> bool:
        """A keyed coin with ``prob``; no draw at all when the fault is off (it cannot fire)."""
        return prob > 0 and self.draw(key, purpose, *index) < prob

    def latency(self, key: str, purpose: Draw, median_ms: float, sigma: float) -> dt.timedelta:
        """Lognormal latency with the given median (ms) and log-sd, to the microsecond; zero
        (and no draw) when the median is zero."""
        if median_ms <= 0:
            return _ZERO
        ms = median_ms * math.exp(sigma * float(self.keyed(key, purpose).standard_normal()))
        return dt.timedelta(microseconds=round(ms * 1000))

    def down(self, now: dt.datetime) -> bool:
        """Is market time ``now`` inside a disconnect window (same answer after a restart)?"""
        if self.profile.disconnect_prob <= 0:
            return False
        secs = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
        window = f"{now:%Y%m%d}W{int(secs // self.profile.disconnect_window_s)}"
        return self.draw(window, Draw.WINDOW_DOWN) < self.profile.disconnect_prob
