"""A token bucket for the broker's order calls: Kite allows 10 order requests a second per API
key (place, modify and cancel together); we stay below it so a burst of exits is spread, not
refused. Time is injected, so the bucket is pure and tested without sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` calls a second on average, at most ``burst`` at once. ``take`` blocks (through
    ``sleep``) until a token is free and returns the seconds it waited; the bucket is shared by
    every order call of one API key, from any thread."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate {rate!r}: calls a second, must be above 0")
        if burst < 1:
            raise ValueError(f"burst {burst!r}: must be at least 1")
        self.rate, self.burst = float(rate), int(burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def wait_for(self) -> float:
        """Seconds until a token is free (0 when one is), without taking it."""
        with self._lock:
            self._refill()
            return max(0.0, (1.0 - self._tokens) / self.rate)

    def take(self) -> float:
        """Take a token, sleeping until one is free; the seconds slept."""
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= 1.0 - 1e-9:  # (a refill's rounding must not loop forever)
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return waited
                pause = (1.0 - self._tokens) / self.rate
            self._sleep(pause)
            waited += pause
