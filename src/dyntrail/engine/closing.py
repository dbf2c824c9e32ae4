"""A session's close with a position still open, and a contract held to its expiry.

- A position still open at a session's close is a ``flatten_failed`` (journaled, flagged on the
  trade, counted in the KPIs). If its contract expires that day it is settled by the exchange;
  otherwise it is carried (``position_carried``) and exits at the next session's open
  (``exit_carried``), re-tried like any exit.
- NSE index options are European and cash-settled: an option still held at its expiry's close
  settles at its intrinsic value against the index's close that day (in the money: exercised
  automatically; out of the money: 0). That is an exit leg of its own, ``exit_settled``, whose
  only cost is STT on the intrinsic value of exercised options (``[costs] exercise_stt_pct``).
  No position outlives its contract."""

from __future__ import annotations

import datetime as dt

from dyntrail.core.costs import exercise_costs
from dyntrail.core.events import FlattenFailed, PositionCarried, Settlement
from dyntrail.core.types import PositionAction
from dyntrail.engine.book import Book
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.market import Underlying
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import Sinks
from dyntrail.trade import Trade


class Closing:
    """The closing rules (see the module docstring); no state of its own."""

    def __init__(
        self,
        run: Run,
        stamps: Stamps,
        sinks: Sinks,
        underlying: Underlying,
        book: Book,
        orders: Orders,
    ) -> None:
        self.run, self.stamps, self.sinks = run, stamps, sinks
        self.underlying, self.book, self.orders = underlying, book, orders

    def session_closed(self, tr: Trade, close_ts: dt.datetime) -> None:
        """A position still open at the session's close, once every working order of the
        session was cancelled and drained (``Orders.cancel_working``); see the module
        docstring."""
        if tr.trade_id not in self.book.open or tr.position.qty == 0:
            return  # closed by a last fill, or an entry that never filled
        tr.flags.append("flatten_failed")
        at = self.stamps.iso(close_ts)
        self.sinks.emit(
            FlattenFailed(
                ts=at,
                trade_id=tr.trade_id,
                instrument=tr.instrument,
                qty=tr.position.qty,
                reason=tr.waiting or ("unfilled" if tr.closing else "no_exit_before_close"),
                closing=tr.closing or None,
            )
        )
        tr.retries = []
        if self.run.options_mode and tr.expiry is not None and tr.expiry <= close_ts.date():
            self.settle_expired(tr, close_ts)
            return
        tr.carried = True
        tr.closing = ""
        tr.waiting = ""
        tr.flags.append("carried")
        self.sinks.emit(PositionCarried(ts=at, trade_id=tr.trade_id, qty=tr.position.qty))

    def settle_expired(self, tr: Trade, at: dt.datetime) -> None:
        """Book the exchange's settlement of an option held to expiry and close the trade (its
        working orders were cancelled at the session's close)."""
        strike = tr.strike if tr.strike is not None else 0.0
        spot = self.underlying.last_close
        payoff = spot - strike if tr.right == "CE" else strike - spot
        intrinsic = round(max(payoff, 0.0), 2)
        qty = tr.position.qty
        cost = exercise_costs(self.run.cfg.costs, at.date(), intrinsic_value_inr=intrinsic * qty)
        self.sinks.emit(
            Settlement(
                ts=self.stamps.iso(at),
                trade_id=tr.trade_id,
                instrument=tr.instrument,
                expiry=tr.expiry.isoformat() if tr.expiry else None,
                underlying_close=spot,
                intrinsic=intrinsic,
                qty=qty,
            )
        )
        tr.flags.append("settled")
        self.book.leg(
            tr,
            fid=f"settle-{tr.trade_id}",
            action=PositionAction.EXIT_SETTLED.value,
            buy=False,
            qty=qty,
            price=intrinsic,
            decision=None,
            underlying=spot,
            cost=cost,
            tag="",
            ack_ms=None,
            ts=at,
        )
        self.orders.settle_expired(tr.instrument, at)
        self.book.close(tr, PositionAction.EXIT_SETTLED.value, spot, at)
