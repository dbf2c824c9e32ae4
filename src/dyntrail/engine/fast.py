"""Stretches of bars the engine accounts for in one step, when a backtest hands it whole arrays:
a guest of the engine that applies the same rules as the bar-by-bar path, never its own.

Between events most bars can change little: flat and waiting for the next external signal they
move only counters (``quiet`` / ``skip``); in a position (an option or the underlying, path or
next-bar semantics), a bar on whose path neither the stop nor a target acts and that is not at a
time rule only moves the stop and is marked at its close (``calm`` / ``hold``: the mark, the
loss check and the equity curve's row of each bar in one loop). Both are exact: the journal and
the rows of every table equal a bar-by-bar run to the byte (tests hold them equal on generated
data with break-even moves, trails, tier changes, time stops, loss halts and breaker exits, with
model and recorded option quotes)."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Sequence

from dyntrail.core.decimals import round_places
from dyntrail.core.features import BatchFeatures
from dyntrail.core.regime import BatchRegime
from dyntrail.core.risk import TradingState, breaker_flattens, loss_limit_hit
from dyntrail.core.types import StopKind
from dyntrail.engine.book import Book
from dyntrail.engine.context import YEAR_SECONDS, Run
from dyntrail.engine.exiting import Exiting
from dyntrail.engine.market import Market, Underlying
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import Quote
from dyntrail.engine.risk import RiskGate
from dyntrail.trade import Trade


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
        risk: RiskGate,
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
        self.risk = risk
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
        (no live, recovered or retried order), no exit decided, waiting or carried, the risk
        gate with nothing standing (its state cannot change on a walked bar), neither the
        protections nor a backstop following every bar, and precomputed features and regime."""
        book, risk = self.book, self.risk
        if len(book.open) != 1 or self.run.limits.max_open_positions > 1:
            return False
        tr = next(iter(book.open.values()))
        return (
            not self.orders.live
            and not self.orders.recovered
            and not tr.retries
            and tr.position.qty > 0
            and not tr.closing
            and not tr.carried
            and not tr.waiting
            and risk.state is TradingState.ACTIVE
            and not (risk.halted or risk.flags or risk.paused or risk.stale)
            and not risk.protections.enabled
            and self.exiting.backstop is None
            and isinstance(self.underlying.f, BatchFeatures)
            and isinstance(self.market.regime, BatchRegime)
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
        could act on it (next-bar semantics: it ``touches`` the stop or a target; path
        semantics: ``calm_path`` finds an action on its path; either: it closes when a time
        rule is due, the walk ending before the first such bar, found once), when its close,
        marked, would reach the daily loss limit or when the breaker's policy would flatten
        after it. A walked bar does what ``on_bar`` does to such a bar: the stop's break-even
        and trail (journaled when it moves), the position marked at the close (an option at
        its quote) and, when someone keeps the curve, the equity mark; the features, the
        regime and the counters are brought to the last walked bar at the end."""
        m, u, run = self.market, self.underlying, self.run
        f, regime = u.f, m.regime
        if (
            not self.book.open
            or j <= i
            or not isinstance(f, BatchFeatures)
            or not isinstance(regime, BatchRegime)
        ):
            return i
        tr = next(iter(self.book.open.values()))
        pos = tr.position
        # the first bar that closes when a time rule is due (bar starts are sorted)
        end = bisect.bisect_left(ts, pos.time_rules_due(run.targets, ts[i].date()) - run.bar, i, j)
        if run.next_bar and not run.options_mode and not self.book.marks:
            k = self._walk_plain(tr, i, end, ts, o, h, lo, c)
        else:
            k = self._walk_marked(tr, i, end, ts, o, h, lo, c, vix)
        if k > i:  # leave the state as ``on_bar`` leaves it after bar k-1
            last = k - 1
            t = ts[last] + run.bar
            m.bars_total += k - i
            m.bars_in_position += k - i
            f.advance(last, m.day, h[last], lo[last], c[last], None)
            regime.advance(last, t, vix[last])
            m.tier, m.breaker_on = regime.tier, regime.tripped
            m.last_vix, m.now = vix[last], t
            u.last_close = c[last]
            if not run.options_mode:
                self.exiting.mark(tr, t, c[last], vix[last])
            u.prev_close = c[last]
        return k

    def _walk_plain(
        self,
        tr: Trade,
        i: int,
        end: int,
        ts: Sequence[dt.datetime],
        o: Sequence[float],
        h: Sequence[float],
        lo: Sequence[float],
        c: Sequence[float],
    ) -> int:
        """``hold``'s walk of the underlying with next-bar semantics and no equity curve (a
        signal backtest's): the mark is the close, made once at the end."""
        m, f, regime = self.market, self.underlying.f, self.market.regime
        assert isinstance(f, BatchFeatures) and isinstance(regime, BatchRegime)
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
        return k

    def _walk_marked(
        self,
        tr: Trade,
        i: int,
        end: int,
        ts: Sequence[dt.datetime],
        o: Sequence[float],
        h: Sequence[float],
        lo: Sequence[float],
        c: Sequence[float],
        vix: Sequence[float],
    ) -> int:
        """``hold``'s walk in general: either semantics, the mark made at every close (an
        option's at its quote: the loss check needs it before the bar is taken), and each
        bar's equity mark when someone keeps the curve (``Book.mark``'s float steps)."""
        m, book, run = self.market, self.book, self.run
        f, regime = self.underlying.f, m.regime
        assert isinstance(f, BatchFeatures) and isinstance(regime, BatchRegime)
        pos, eng, limits = tr.position, run.targets, run.limits
        atr, swing_low, swing_high = f.stop_columns()
        tiers, trips = regime.tiers_and_trips()
        s = pos.side.sign
        adverse_of, favourable_of = (lo, h) if s > 0 else (h, lo)
        next_bar, options = run.next_bar, run.options_mode
        # an option's mark: its quote at the close (none: the last mark stands); from a source
        # that gives the last price alone, the bid and ask only of the last bar quoted, at the
        # end (nothing reads them before: no order is in flight)
        contract = self.exiting.contract_of(tr) if options else None
        source, tte, expiry = self.exiting.quotes, run.tte, tr.expiry
        quote = source.quote
        last_of: Callable[..., float | None] | None = getattr(source, "last", None)
        # ``last_of`` with the contract bound (``ports.LastFnSource``), when the source has it
        fn_of = getattr(source, "last_fn", None) if last_of is not None else None
        mark_fn: Callable[[float, float, float], float] | None = (
            fn_of(contract) if fn_of is not None and contract is not None else None
        )
        # ``tte(t, expiry)`` written out from the expiry's wall time (``Run.expiry_wall``)
        wall = run.expiry_wall(expiry) if mark_fn is not None and expiry is not None else None
        quoted = -1  # with ``last_of``: the last walked bar whose quote made the mark
        quotes_now, instrument = m.quotes_now, tr.instrument
        inst_sign = 1 if tr.is_long_instrument else -1
        entry_price, qty = tr.entry_price, pos.qty
        realized, costs = book.day_realized, tr.costs
        sold = tr.sold_pnl() if tr.exit_qty else None  # ``Trade.unrealized``'s second term
        marks = book.marks
        base = book.capital + book.realized  # ``Book.mark``: capital + realized + unrealized
        realized_2 = round(book.realized, 2)
        iso, write_mark = book.stamps.iso, book.sinks.equity_writer()
        bar, tier = run.bar, m.tier
        stop_moved = self.exiting.stop_moved
        trip_flattens = breaker_flattens(True, limits)  # the breaker's rule, asked once
        # path semantics: the stop moves with the features known before the bar
        atr_k, sl_k, sh_k = f.atr, f.swing_low, f.swing_high
        mark = tr.mark_price
        q: Quote | None = None
        moves: tuple[float, StopKind, bool, bool] | None = None
        k = i
        while k < end:
            ok, ck = o[k], c[k]
            if next_bar:
                if pos.touches(ok, adverse_of[k], favourable_of[k]):
                    break
            else:
                moves = pos.calm_path(eng, ok, h[k], lo[k], ck, atr_k, tier, sl_k, sh_k)
                if moves is None:
                    break
            t = ts[k] + bar
            got: float | None = None  # this close's quote's last price
            if contract is not None:
                assert expiry is not None
                try:
                    if wall is not None:
                        assert mark_fn is not None
                        secs = (wall - t).total_seconds()
                        got = mark_fn(ck, (secs if secs >= 0.0 else 0.0) / YEAR_SECONDS, vix[k])
                    elif mark_fn is not None:
                        got = mark_fn(ck, tte(t, expiry), vix[k])
                    elif last_of is not None:
                        got = last_of(contract, t, spot=ck, vix=vix[k], t_years=tte(t, expiry))
                    else:
                        q = quote(contract, t, spot=ck, vix=vix[k], t_years=tte(t, expiry))
                        got = None if q is None else q.last
                except ValueError:  # ``on_bar`` raises it, after the bar's stop moves
                    break
                mk = mark if got is None else got
            else:
                mk = mark if options else ck
            unreal = inst_sign * (mk - entry_price) * qty
            if sold is not None:
                unreal = unreal + sold
            if loss_limit_hit(realized + unreal - costs, limits) or (trip_flattens and trips[k]):
                break
            # the bar acts on nothing: what ``on_bar`` does to it, in its order
            if moves is None:
                pos.close_moves(
                    eng, favourable_of[k], ck, atr[k], True, tier, swing_low[k], swing_high[k]
                )
            else:
                pos.stop_underlying, pos.stop_kind, pos.be_moved, pos.moved = moves
                atr_k, sl_k, sh_k = atr[k], swing_low[k], swing_high[k]
            if pos.moved:
                stop_moved(tr, t)
            if got is not None:
                tr.mark_price = mark = got
                tr.mark_underlying = ck
                if last_of is None:
                    assert q is not None
                    quotes_now[instrument] = (q.bid, q.ask)
                else:
                    quoted = k
            if marks:
                held = 0.0 + unreal  # ``Book.unrealized`` of the one trade
                write_mark(iso(t), round_places(base + held, 2), realized_2, round_places(held, 2))
            tier = tiers[k]
            k += 1
        if quoted >= 0:
            assert contract is not None and expiry is not None
            t = ts[quoted] + bar
            at = quote(contract, t, spot=c[quoted], vix=vix[quoted], t_years=tte(t, expiry))
            if at is not None:
                quotes_now[instrument] = (at.bid, at.ask)
        return k
