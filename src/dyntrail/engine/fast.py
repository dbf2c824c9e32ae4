"""Stretches of bars the engine accounts for in one step, when a backtest hands it whole arrays:
a guest of the engine that applies the same rules as the bar-by-bar path, never its own.

Between events most bars can change little: flat and waiting for the next external signal they
move only counters (``quiet`` / ``skip``); in a position, a bar that touches neither the stop nor
a target and is not at a time rule only moves the stop (``calm`` / ``hold``). Both are exact:
the journal and the trades equal a bar-by-bar run to the byte (tests hold them equal on
generated data with break-even moves, trails, tier changes, time stops and loss halts)."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence

from dyntrail.core.features import BatchFeatures
from dyntrail.core.regime import BatchRegime
from dyntrail.core.risk import breaker_flattens, loss_limit_hit
from dyntrail.engine.book import Book
from dyntrail.engine.context import Run
from dyntrail.engine.exiting import Exiting
from dyntrail.engine.market import Market, Underlying
from dyntrail.engine.orders import Orders


class Stretches:
    """The exact fast paths (see the module docstring); no state of its own."""

    def __init__(
        self,
        run: Run,
        market: Market,
        underlying: Underlying,
        book: Book,
        orders: Orders,
        exiting: Exiting,
        signals: Sequence[int] | None,
    ) -> None:
        self.run, self.market, self.book, self.orders, self.exiting = (
            run,
            market,
            book,
            orders,
            exiting,
        )
        self.underlying = underlying
        self.signals = signals
        # the entry gates' refused bars are known in advance (``entries.entry_bars``): a
        # backtest's fast paths treat the other bars as its signals
        self.gated = False
        # with ``gated``: the entry gates' cap on a day's entries (none once it is reached)
        self.day_cap: int | None = None

    def quiet(self) -> bool:
        """True when bars without a signal can change nothing but counters: flat, no live or
        recovered order, and entries from an external signal series (or from the entry gates,
        ``gated``: bars they refuse whatever the state are no signal)."""
        return (
            (self.signals is not None or self.gated)
            and not self.book.open
            and not self.orders.live
            and not self.orders.recovered
        )

    def capped(self) -> bool:
        """With ``gated``: the day's entries reached the gates' cap, so no bar enters before the
        next session (a flat ``quiet`` stretch may then run to the next boundary)."""
        return self.day_cap is not None and self.book.trades_today >= self.day_cap

    def skip(
        self, i: int, j: int, ts_last: dt.datetime, close_last: float, vix_last: float
    ) -> None:
        """Account for bars ``i .. j-1`` of one session that ``quiet`` said cannot act (no
        signal, no session start, no breaker edge among them): only the counters and the last
        values move. ``ts_last``, ``close_last`` and ``vix_last`` are bar ``j-1``'s."""
        if j <= i:
            return
        m, u = self.market, self.underlying
        t = ts_last + self.run.bar
        m.bars_total += j - i
        m.regime.advance(j - 1, t, vix_last)
        m.tier, m.breaker_on = m.regime.tier, m.regime.tripped
        m.last_vix, m.now = vix_last, t
        u.last_close = u.prev_close = close_last

    def calm(self) -> bool:
        """True when ``hold`` may walk the open position's bars: one position and no room for
        another (a walk does not stop at a signal, which could open a second), nothing in flight
        (no live, recovered or retried order), the underlying traded (its mark is the close),
        next-bar semantics, precomputed features and regime, and nobody keeping an equity
        curve."""
        book, m, run = self.book, self.market, self.run
        if run.options_mode or book.marks or not run.next_bar:  # (the common no, asked first)
            return False
        if len(book.open) != 1 or run.limits.max_open_positions > 1:
            return False
        tr = next(iter(book.open.values()))
        return (
            self.run.next_bar
            and not self.run.options_mode
            and not self.orders.live
            and not self.orders.recovered
            and not tr.retries
            and not book.marks
            and tr.position.qty > 0
            and not tr.closing
            and not tr.carried
            and isinstance(self.underlying.f, BatchFeatures)
            and isinstance(m.regime, BatchRegime)
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
        could act on it (it ``touches`` the stop or a target, or closes when a time rule is due:
        the walk ends before the first such bar, found once), when its close would reach the
        daily loss limit or when the breaker's policy would flatten after it. A walked bar does
        what ``on_bar`` does to such a bar: the stop's break-even and trail at the close
        (journaled when it moves); the features, the regime, the mark and the counters are
        brought to the last walked bar at the end."""
        m, u = self.market, self.underlying
        f, regime = u.f, m.regime
        if (
            not self.book.open
            or j <= i
            or not isinstance(f, BatchFeatures)
            or not isinstance(regime, BatchRegime)
        ):
            return i
        tr = next(iter(self.book.open.values()))
        pos, eng, limits = tr.position, self.run.targets, self.run.limits
        atr, swing_low, swing_high = f.stop_columns()
        tiers, trips = regime.tiers_and_trips()
        adverse_of, favourable_of = (lo, h) if pos.side.sign > 0 else (h, lo)
        # the day's loss check of ``on_bar``, with the mark at the close (the same float steps)
        inst_sign = 1 if tr.is_long_instrument else -1
        entry_price, qty = tr.entry_price, pos.qty
        realized, costs = self.book.day_realized, tr.costs
        sold = tr.sold_pnl() if tr.exit_qty else None  # ``Trade.unrealized``'s second term
        bar, tier = self.run.bar, m.tier
        stop_moved = self.exiting.stop_moved
        trip_flattens = breaker_flattens(True, limits)  # the breaker's rule, asked once
        # the first bar that closes when a time rule is due (bar starts are sorted)
        end = bisect.bisect_left(ts, pos.time_rules_due(eng, ts[i].date()) - bar, i, j)
        k = i
        while k < end:
            ok, ck, favourable = o[k], c[k], favourable_of[k]
            unreal = inst_sign * (ck - entry_price) * qty
            if sold is not None:
                unreal = unreal + sold
            if (
                pos.touches(ok, adverse_of[k], favourable)
                or loss_limit_hit(realized + unreal - costs, limits)
                or (trip_flattens and trips[k])
            ):
                break
            pos.close_moves(eng, favourable, ck, atr[k], True, tier, swing_low[k], swing_high[k])
            if pos.moved:
                stop_moved(tr, ts[k] + bar)
            tier = tiers[k]
            k += 1
        if k > i:  # leave the state as ``on_bar`` leaves it after bar k-1
            last = k - 1
            t = ts[last] + bar
            m.bars_total += k - i
            m.bars_in_position += k - i
            f.advance(last, m.day, h[last], lo[last], c[last], None)
            regime.advance(last, t, vix[last])
            m.tier, m.breaker_on = regime.tier, regime.tripped
            m.last_vix, m.now = vix[last], t
            u.last_close = c[last]
            self.exiting.mark(tr, t, c[last], vix[last])
            u.prev_close = c[last]
        return k
