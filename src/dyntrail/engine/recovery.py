"""Recovery: the engine's view held against the broker's on every start (and, for a live
session, once more at its close), and the intents journaled before a restart that the replay
did not decide again.

Orders the broker has that were never journaled are adopted and flagged; positions that differ
are flagged. Any flag puts the risk gate in REDUCING (exits still go out, no entries) until an
operator clears it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from dyntrail.core.events import (
    CloseReconciled,
    Event,
    OrderAdopted,
    OrderSent,
    Reconciled,
    StopSent,
)
from dyntrail.core.order_pricing import OrderSide
from dyntrail.engine.book import Book
from dyntrail.engine.context import Stamps
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import Sinks
from dyntrail.engine.risk import RiskGate
from dyntrail.execution.broker import BrokerOrder, Disconnected
from dyntrail.execution.intents import OrderType
from dyntrail.execution.orders import TERMINAL_STATES, Order, OrderIntent
from dyntrail.execution.tags import day_code


class Recovery:
    """Reconciliation and leftovers (see the module docstring); no state of its own."""

    def __init__(
        self, stamps: Stamps, sinks: Sinks, book: Book, orders: Orders, risk: RiskGate
    ) -> None:
        self.stamps, self.sinks = stamps, sinks
        self.book, self.orders, self.risk = book, orders, risk

    def reconcile(self, now: dt.datetime) -> list[str]:
        """Hold the engine's view against the broker's; returns the flags raised so far."""
        orders, risk = self.orders, self.risk
        try:
            book, held = orders.broker_view()
        except Disconnected:
            risk.flag("broker unreachable at start")
            return risk.flag_lines()
        for order in list(orders.live.values()):  # live orders of the restored state
            orders.sync(order, now)
        self._unknown_orders(book, now, risk.flag)
        self._positions(now, held, risk.flag)
        self.sinks.emit(
            Reconciled(
                ts=self.stamps.iso(now),
                flags=risk.flag_lines(),
                live_orders=sorted(orders.live),
                recovered=sorted(orders.recovered),
            )
        )
        return risk.flag_lines()

    def reconcile_close(self, now: dt.datetime) -> list[str]:
        """The session is over (flattened, its orders drained): the broker's book and positions
        held against the journal's once more, as at a start, journaled as ``reconciled_close``
        with both sides' positions; returns the flags this check raised (a problem a start
        already flagged, with the same words, is not flagged twice)."""
        risk = self.risk
        standing = set(risk.flags.values())
        raised: list[str] = []

        def flag(problem: str) -> None:
            if problem not in standing:
                standing.add(problem)
                raised.append(f"{risk.flag(problem)} {problem}")

        held: dict[str, int] = {}
        expected: dict[str, int] = {}
        try:
            book, held = self.orders.broker_view()
        except Disconnected:
            flag("broker unreachable at the close: positions not compared")
        else:
            self._unknown_orders(book, now, flag)
            expected = self._positions(now, held, flag)
        self.sinks.emit(
            CloseReconciled(
                ts=self.stamps.iso(now),
                broker={k: v for k, v in sorted(held.items()) if v},
                journal=dict(sorted(expected.items())),
                flags=raised,
            )
        )
        return raised

    def _unknown_orders(
        self, book: list[BrokerOrder], now: dt.datetime, flag: Callable[[str], object]
    ) -> None:
        """Flag (and journal as adopted) each order of ours on the broker's book of today that
        the journal never knew."""
        orders = self.orders
        known = set(orders.live) | set(orders.done) | set(orders.recovered)
        today = day_code(now.date())
        for row in book:
            if not row.tag.startswith(today) and row.state in TERMINAL_STATES:
                continue  # an earlier session's order, settled (the engine keeps a day's)
            if row.tag not in known:
                flag(f"order {row.tag} on the broker's book was never journaled")
                self.sinks.emit(
                    OrderAdopted(
                        ts=self.stamps.iso(now),
                        tag=row.tag,
                        state=row.state.value,
                        filled=row.filled_qty,
                        flagged=True,
                    )
                )

    def _positions(
        self, now: dt.datetime, held: dict[str, int], flag: Callable[[str], object]
    ) -> dict[str, int]:
        """Flag each instrument whose position at the broker differs from the open trades';
        returns the open trades' positions. An expired contract may already be settled at the
        exchange (the engine books that settlement when it replays the expiry's close), and an
        instrument with orders pending settles through them: neither is compared."""
        expected: dict[str, int] = {}
        skip: set[str] = set()
        for tr in self.book.trades():
            if tr.expiry is not None and tr.expiry <= now.date():
                skip.add(tr.instrument)
            elif tr.position.qty:
                sign = 1 if tr.is_long_instrument else -1
                expected[tr.instrument] = expected.get(tr.instrument, 0) + sign * tr.position.qty
        orders = self.orders
        skip |= {o.intent.instrument for o in orders.live.values()}
        skip |= {r["order"]["intent"]["instrument"] for r in orders.recovered.values()}
        for inst in sorted(set(held) | set(expected)):
            broker, ours = held.get(inst, 0), expected.get(inst, 0)
            if inst not in skip and broker != ours:
                flag(f"position {inst}: broker {broker}, journal {ours}")
        return expected

    def remember(self, ev: Event) -> None:
        """An order journaled after the last saved state (the process died before the state
        after it was written): kept, by tag, to be settled from the broker's book when the
        replay decides it again (``Orders.send``) or, if it does not, adopted or flagged."""
        if not isinstance(ev, OrderSent | StopSent):
            return
        at = dt.datetime.fromisoformat(str(ev.ts)).replace(tzinfo=None)
        if isinstance(ev, StopSent):  # a backstop's stop-limit
            intent = OrderIntent(
                ev.tag, ev.trade_id, 0, ev.action, OrderSide(ev.side), ev.qty, ev.limit,
                ev.trigger, ev.instrument, at, OrderType.STOP_LIMIT, ev.trigger,
                self.orders.runs[""].tick,
            )  # fmt: skip
            extra = {"level": ev.level, "used": 0}
            decision, underlying = ev.trigger, ev.level
        else:
            intent = OrderIntent(
                ev.tag, ev.trade_id, 0, ev.action, OrderSide(ev.side), ev.qty, ev.limit,
                ev.decision_price, ev.instrument, at,
            )  # fmt: skip
            extra = {}
            decision, underlying = ev.decision_price, ev.underlying
        self.orders.recovered[ev.tag] = {
            "order": Order(intent).to_dict(),
            "meta": {
                "trade_id": ev.trade_id,
                "action": ev.action,
                "attempt": ev.attempt,
                "decision": decision,
                "underlying": underlying,
                "sent": at.isoformat(),
                "ack": None,
                **extra,
            },
        }

    def adopt_leftovers(self, t: dt.datetime) -> None:
        """Orders journaled before a restart that the replayed bar did not decide again (its
        quotes differ, say): an open trade's are adopted and settled from the broker's book;
        another trade's are flagged for the operator."""
        orders = self.orders
        for tag in list(orders.recovered):
            trade_id = orders.recovered[tag]["meta"]["trade_id"]
            tr = self.book.get(trade_id)
            if tr is not None:
                orders.adopt_recovered(tr, tag, t)
                continue
            del orders.recovered[tag]
            self.risk.flag(
                f"order {tag} of trade {trade_id} was journaled before the restart and not "
                "decided again"
            )
            self.sinks.emit(
                OrderAdopted(ts=self.stamps.iso(t), tag=tag, state=None, filled=None, flagged=True)
            )
