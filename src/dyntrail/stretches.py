"""Stretches of bars the engine accounts for in one step, when a backtest hands it whole arrays.

Between events most bars can change little: flat and waiting for the next external signal they
move only counters (``quiet`` / ``skip``); in a position, a bar that touches neither the stop nor
a target and is not at a time rule only moves the stop (``calm`` / ``hold``). Both are exact:
the journal and the trades equal a bar-by-bar run to the byte (tests hold them equal on
generated data with break-even moves, trails, tier changes, time stops and loss halts).

``Stretches`` is a part of ``dyntrail.engine.Engine`` kept in its own room, like
``dyntrail.orderflow.OrderFlow``; it is not used on its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dyntrail.core.features import BatchFeatures, Features
from dyntrail.core.regime import BatchRegime, RegimeFeed

if TYPE_CHECKING:
    from dyntrail.core.targets import DynamicTargetEngine
    from dyntrail.core.types import VixTier
    from dyntrail.execution.orders import Order
    from dyntrail.trade import Trade


class Stretches:
    """Bar stretches of the engine (see the module docstring)."""

    # The engine's state this part reads and writes (set by ``Engine.__init__``).
    signals: Sequence[int] | None
    trade: Trade | None
    orders: dict[str, Order]
    retries: list[tuple[str, int, int]]
    recovered: dict[str, dict[str, Any]]
    f: Features
    regime: RegimeFeed
    targets: DynamicTargetEngine
    bar: dt.timedelta
    next_bar: bool
    options_mode: bool
    day: dt.date | None
    day_realized: float
    tier: VixTier
    breaker_on: bool
    bars_total: int
    bars_in_position: int
    last_vix: float
    last_close: float
    now: dt.datetime
    prev_close: float | None
    _flatten_on_breaker: bool
    _loss_floor: float
    _on_equity: Any

    if TYPE_CHECKING:  # provided by Engine

        def _stop_moved(self, tr: Trade, t: dt.datetime) -> None: ...
        def _mark(self, tr: Trade, t: dt.datetime, close: float, vix: float) -> float: ...

    def quiet(self) -> bool:
        """True when bars without a signal can change nothing but counters: flat, no live,
        recovered or retried order, and entries from an external signal series."""
        return (
            self.signals is not None
            and self.trade is None
            and not self.orders
            and not self.retries
            and not self.recovered
        )

    def skip(
        self, i: int, j: int, ts_last: dt.datetime, close_last: float, vix_last: float
    ) -> None:
        """Account for bars ``i .. j-1`` of one session that ``quiet`` said cannot act (no
        signal, no session start, no breaker edge among them): only the counters and the last
        values move. ``ts_last``, ``close_last`` and ``vix_last`` are bar ``j-1``'s."""
        if j <= i:
            return
        t = ts_last + self.bar
        self.bars_total += j - i
        self.regime.advance(j - 1, t, vix_last)
        self.tier, self.breaker_on = self.regime.tier, self.regime.tripped
        self.last_vix, self.last_close, self.now = vix_last, close_last, t
        self.prev_close = close_last

    def calm(self) -> bool:
        """True when ``hold`` may walk the open position's bars: nothing in flight (no live,
        recovered or retried order), the underlying traded (its mark is the close), next-bar
        semantics, precomputed features and regime, and nobody keeping an equity curve."""
        tr = self.trade
        return (
            tr is not None
            and self.next_bar
            and not self.options_mode
            and not self.orders
            and not self.retries
            and not self.recovered
            and self._on_equity is None
            and tr.position.qty > 0
            and not tr.closing
            and not tr.carried
            and isinstance(self.f, BatchFeatures)
            and isinstance(self.regime, BatchRegime)
        )

    def hold(
        self,
        i: int,
        j: int,
        ts: Sequence[dt.datetime],
        o: Sequence[float],
        h: Sequence[float],
        lo: Sequence[float],
        c: Sequence[float],
        vix: Sequence[float],
    ) -> int:
        """Walk bars ``i .. j-1`` of one session (no session start or breaker edge among them)
        while ``calm`` holds and none can make the position act; return the first bar not
        walked, which the caller gives to ``on_bar``. A bar stops the walk when the position
        could act on it (``Position.acts_on``), when its close would reach the daily loss limit
        or when the breaker, with policy "flatten", is tripped after it. A walked bar does what
        ``on_bar`` does to such a bar: the stop's break-even and trail at the close (journaled
        when it moves); the features, the regime, the mark and the counters are brought to the
        last walked bar at the end."""
        tr = self.trade
        f, regime = self.f, self.regime
        if (
            tr is None
            or j <= i
            or not isinstance(f, BatchFeatures)
            or not isinstance(regime, BatchRegime)
        ):
            return i
        pos, eng = tr.position, self.targets
        s = pos.side.sign
        atr, swing_low, swing_high = f.stop_columns()
        tiers, trips = regime.tiers_and_trips()
        # the day's loss check of ``on_bar``, with the mark at the close (the same float steps)
        inst_sign = 1 if tr.is_long_instrument else -1
        entry_price, qty = tr.entry_price, pos.qty
        realized, costs, floor = self.day_realized, tr.costs, self._loss_floor
        breaker_exits = self._flatten_on_breaker
        bar, tier = self.bar, self.tier
        k = i
        while k < j:
            ok, hk, lk, ck = o[k], h[k], lo[k], c[k]
            adverse, favourable = (lk, hk) if s > 0 else (hk, lk)
            t = ts[k] + bar
            if (
                pos.acts_on(eng, ok, adverse, favourable, t)
                or realized + inst_sign * (ck - entry_price) * qty - costs <= floor
                or (breaker_exits and trips[k])
            ):
                break
            before = pos.stop_underlying
            pos.close_moves(eng, favourable, ck, atr[k], True, tier, swing_low[k], swing_high[k])
            if pos.stop_underlying != before:
                self._stop_moved(tr, t)
            tier = tiers[k]
            k += 1
        if k > i:  # leave the state as ``on_bar`` leaves it after bar k-1
            last = k - 1
            t = ts[last] + bar
            self.bars_total += k - i
            self.bars_in_position += k - i
            f.advance(last, self.day, h[last], lo[last], c[last], None)
            regime.advance(last, t, vix[last])
            self.tier, self.breaker_on = regime.tier, regime.tripped
            self.last_vix, self.last_close, self.now = vix[last], c[last], t
            self._mark(tr, t, c[last], vix[last])
            self.prev_close = c[last]
        return k
