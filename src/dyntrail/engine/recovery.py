"""Recovery: the engine's view held against the broker's on every start, and the intents
journaled before a restart that the replay did not decide again.

Orders the broker has that were never journaled are adopted and flagged; positions that differ
are flagged. Any flag puts the risk gate in REDUCING (exits still go out, no entries) until an
operator clears it."""

from __future__ import annotations

import datetime as dt

from dyntrail.core.events import Event, OrderAdopted, OrderSent, Reconciled, StopSent
from dyntrail.core.order_pricing import OrderSide
from dyntrail.engine.book import Book
from dyntrail.engine.context import Stamps
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import Sinks
from dyntrail.engine.risk import RiskGate
from dyntrail.execution.broker import Disconnected
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
        known = set(orders.live) | set(orders.done) | set(orders.recovered)
        today = day_code(now.date())
        for row in book:
            if not row.tag.startswith(today) and row.state in TERMINAL_STATES:
                continue  # an earlier session's order, settled (the engine keeps a day's)
            if row.tag not in known:
                risk.flag(f"order {row.tag} on the broker's book was never journaled")
                self.sinks.emit(
                    OrderAdopted(
                        ts=self.stamps.iso(now),
                        tag=row.tag,
                        state=row.state.value,
                        filled=row.filled_qty,
                        flagged=True,
                    )
                )
        self._positions(now, held)
        self.sinks.emit(
            Reconciled(
                ts=self.stamps.iso(now),
                flags=risk.flag_lines(),
                live_orders=sorted(orders.live),
                recovered=sorted(orders.recovered),
            )
        )
        return risk.flag_lines()

    def _positions(self, now: dt.datetime, held: dict[str, int]) -> None:
        """Flag each instrument whose position at the broker differs from the open trades'.
        An expired contract may already be settled at the exchange (the engine books that
        settlement when it replays the expiry's close), and an instrument with orders pending
        settles through them: neither is compared."""
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
            if inst not in skip and held.get(inst, 0) != expected.get(inst, 0):
                self.risk.flag(
                    f"position {inst}: broker {held.get(inst, 0)}, journal {expected.get(inst, 0)}"
                )

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
