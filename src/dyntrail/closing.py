"""The engine's closing rules: an exit that cannot fill, a session's close with a position still
open, and a contract held to its expiry.

- An exit with nothing to sell into (no bid, or no quote at all) sends no order: it waits,
  journaled once as ``exit_waiting`` with the reason, and is tried again, re-priced, on every
  following bar. There is no last attempt and nothing is raised: the session's close decides.
- A position still open at a session's close is a ``flatten_failed`` (journaled, flagged on the
  trade, counted in the KPIs). If its contract expires that day it is settled by the exchange;
  otherwise it is carried (``position_carried``) and exits at the next session's open
  (``exit_carried``), re-tried like any exit.
- NSE index options are European and cash-settled: an option still held at its expiry's close
  settles at its intrinsic value against the index's close that day (in-the-money options are
  exercised automatically; out of the money they expire at 0). That is an exit leg of its own,
  ``exit_settled``, with its own cost (STT on the intrinsic value of exercised options,
  ``[costs] exercise_stt_pct``). No position outlives its contract.

``Closing`` is a part of ``dyntrail.engine.Engine`` kept in its own room, like
``dyntrail.orderflow.OrderFlow`` which it extends; it is not used on its own.
"""

from __future__ import annotations

import datetime as dt

from dyntrail.core.costs import exercise_costs
from dyntrail.core.types import PositionAction
from dyntrail.orderflow import OrderFlow
from dyntrail.trade import Trade

_DRAIN_STEP = dt.timedelta(minutes=1)
_DRAIN_STEPS = 10


class Closing(OrderFlow):
    """Closing rules of the engine (see the module docstring)."""

    last_close: float
    options_mode: bool

    def _wait(
        self, tr: Trade, action: PositionAction, qty: int, attempt: int, t: dt.datetime, why: str
    ) -> None:
        """An exit with nothing to sell into: no order; tried again on the next bar."""
        self.retries.append((action.value, qty, attempt))
        if tr.waiting != why:
            tr.waiting = why
            self.journal.write(
                "exit_waiting",
                self.iso(t),
                trade_id=tr.trade_id,
                action=action.value,
                qty=qty,
                reason=why,
            )

    def _session_closed(self, tr: Trade, close_ts: dt.datetime) -> None:
        """A position still open at the session's close (see the module docstring)."""
        self._cancel_working(tr, close_ts)
        if self.trade is not tr or tr.position.qty == 0:
            return  # closed by a last fill, or an entry that never filled
        tr.flags.append("flatten_failed")
        self.journal.write(
            "flatten_failed",
            self.iso(close_ts),
            trade_id=tr.trade_id,
            instrument=tr.instrument,
            qty=tr.position.qty,
            reason=tr.waiting or ("unfilled" if tr.closing else "no_exit_before_close"),
            closing=tr.closing or None,
        )
        self.retries = []
        if self.options_mode and tr.expiry is not None and tr.expiry <= close_ts.date():
            self._settle_expired(tr, close_ts)
            return
        tr.carried = True
        tr.closing = ""
        tr.waiting = ""
        tr.flags.append("carried")
        self.journal.write(
            "position_carried", self.iso(close_ts), trade_id=tr.trade_id, qty=tr.position.qty
        )

    def _cancel_working(self, tr: Trade, now: dt.datetime) -> None:
        """Cancel the trade's working orders (the exchange ends day orders at the close) and
        take every update until none is left working, so no fill can come after."""
        mine = [
            o
            for tag, o in self.orders.items()
            if self.meta[tag]["trade_id"] == tr.trade_id and o.is_working
        ]
        for order in mine:
            if not self.meta[order.tag].get("cancelling"):
                self._cancel(order, now, "session closed")
        t = now
        for _ in range(_DRAIN_STEPS):
            self.pump(t)
            if not any(o.is_working for o in mine):
                return
            t += _DRAIN_STEP
        for order in mine:  # an update may have been lost: the broker's book is the truth
            if order.is_working:
                self._sync(order, t)

    def _settle_expired(self, tr: Trade, at: dt.datetime) -> None:
        """Book the exchange's settlement of an option held to expiry and close the trade (its
        working orders were cancelled at the session's close, ``_session_closed``)."""
        pos = tr.position
        strike = tr.strike if tr.strike is not None else 0.0
        spot = self.last_close
        payoff = spot - strike if tr.right == "CE" else strike - spot
        intrinsic = round(max(payoff, 0.0), 2)
        qty = pos.qty
        cost = exercise_costs(self.cfg.costs, at.date(), intrinsic_value_inr=intrinsic * qty)
        self.journal.write(
            "settlement",
            self.iso(at),
            trade_id=tr.trade_id,
            instrument=tr.instrument,
            expiry=tr.expiry.isoformat() if tr.expiry else None,
            underlying_close=spot,
            intrinsic=intrinsic,
            qty=qty,
        )
        tr.flags.append("settled")
        self._book(
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
        self.broker.settle_expired(tr.instrument, self._at(at))
        self._close(tr, PositionAction.EXIT_SETTLED.value, spot, at)
