"""The broker contract: promises every broker keeps, as one test class (``BrokerContract``) that
a broker's test module subclasses with a ``make_broker`` fixture. The paper broker's tests use
it (``test_paper_broker.py``); the next broker adapter (Kite, against a local server) reuses it
unchanged. Assertions are about the eventual state, so they hold under latency, partial fills,
lost, duplicated and reordered updates, disconnects and rate limits alike."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest

from dyntrail.core.order_pricing import OrderSide
from dyntrail.execution.broker import (
    MAX_MODIFICATIONS,
    AlreadyTriggered,
    Broker,
    BrokerEvent,
    BrokerEventKind,
    BrokerOrder,
    Disconnected,
    DuplicateTag,
    OrderNotWorking,
    QuoteFn,
    RateLimited,
    TooManyModifications,
    UnknownOrder,
    apply_event,
    sync_with_book,
)
from dyntrail.execution.orders import (
    TERMINAL_STATES,
    Order,
    OrderIntent,
    OrderState,
    OrderType,
)

IST = ZoneInfo("Asia/Kolkata")
T0 = dt.datetime(2025, 1, 3, 9, 20, tzinfo=IST)  # a Friday session, options live
CE, PE = "NIFTY25JAN24000CE", "NIFTY25JAN24000PE"
R = TypeVar("R")


def intent(
    tag: str, side: OrderSide = OrderSide.BUY, limit: float = 101.0, qty: int = 75, inst: str = CE
) -> OrderIntent:
    return OrderIntent(tag, 1, 0, "entry", side, qty, limit, 100.0, inst, T0)


def stop(
    tag: str,
    trigger: float = 95.0,
    limit: float = 94.0,
    side: OrderSide = OrderSide.SELL,
    qty: int = 75,
    inst: str = CE,
) -> OrderIntent:
    """A stop-limit (a sell by default: a backstop under a long option)."""
    return OrderIntent(
        tag, 1, 0, "exit_stop", side, qty, limit, trigger, inst, T0, OrderType.STOP_LIMIT,
        trigger, 0.05,
    )  # fmt: skip


def quotes(table: dict[str, tuple[float, float] | None]) -> QuoteFn:
    return lambda instrument: table.get(instrument)


TOUCH = quotes({CE: (99.5, 100.5), PE: (80.0, 80.5)})


def signed_fills(book: list[BrokerOrder]) -> dict[str, int]:
    pos: dict[str, int] = {}
    for r in book:
        sign = 1 if r.side is OrderSide.BUY else -1
        for f in r.fills:
            pos[r.instrument] = pos.get(r.instrument, 0) + sign * f.qty
    return {k: v for k, v in pos.items() if v}


class Clock:
    """Market time for a test; only moves forward."""

    def __init__(self) -> None:
        self.now = T0

    def tick(self, seconds: float = 0.5) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


class BrokerContract:
    """Promises every broker keeps. A subclass supplies ``make_broker``; assertions are about
    the eventual state, so they hold under latency, partial fills, lost, duplicated and
    reordered updates, disconnects and rate limits alike."""

    MAX_STEPS = 400

    def make_broker(self, tmp_path: Path) -> Broker:
        raise NotImplementedError

    @pytest.fixture
    def broker(self, tmp_path: Path) -> Broker:
        return self.make_broker(tmp_path)

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    # -- how an engine talks to a broker ----------------------------------------------------------
    def retry(self, clock: Clock, call: Callable[[], R]) -> R:
        """Repeat a call through RateLimited / Disconnected, later each time (safe: a resend
        uses the same tag, a cancel or modify is idempotent)."""
        for _ in range(self.MAX_STEPS):
            try:
                return call()
            except (RateLimited, Disconnected):
                clock.tick()
        pytest.fail("the broker never answered")

    def place(self, broker: Broker, clock: Clock, order: OrderIntent) -> None:
        def send() -> None:
            with contextlib.suppress(DuplicateTag):  # an earlier try that raised got through
                broker.place(order, clock.now)

        self.retry(clock, send)

    def run_until(
        self, broker: Broker, clock: Clock, done: Callable[[], bool], quote: QuoteFn = TOUCH
    ) -> list[BrokerEvent]:
        events: list[BrokerEvent] = []
        for _ in range(self.MAX_STEPS):
            events += broker.on_market(clock.tick(), quote)
            if done():
                for _ in range(100):  # let held and late events arrive
                    events += broker.on_market(clock.tick(), quote)
                return events
        pytest.fail("the broker never settled")

    @staticmethod
    def row(broker: Broker, tag: str) -> BrokerOrder:
        rows = [r for r in broker.order_book() if r.tag == tag]
        assert len(rows) == 1, f"{tag}: {len(rows)} rows"
        return rows[0]

    def settled(self, broker: Broker, *tags: str) -> Callable[[], bool]:
        return lambda: all(self.row(broker, t).state in TERMINAL_STATES for t in tags)

    # -- the promises ------------------------------------------------------------------------------
    def test_marketable_buy_fills_at_the_ask(self, broker: Broker, clock: Clock) -> None:
        self.place(broker, clock, intent("B1", limit=101.0))
        events = self.run_until(broker, clock, self.settled(broker, "B1"))
        r = self.row(broker, "B1")
        assert (r.state, r.filled_qty, r.avg_price) == (OrderState.FILLED, 75, 100.5)
        assert {f.price for f in r.fills} == {100.5}
        assert broker.positions() == {CE: 75}
        assert {e.fill_id for e in events if e.kind is BrokerEventKind.FILL} <= {
            f.fill_id for f in r.fills
        }

    def test_marketable_sell_fills_at_the_bid(self, broker: Broker, clock: Clock) -> None:
        self.place(broker, clock, intent("B1"))
        self.run_until(broker, clock, self.settled(broker, "B1"))
        self.place(broker, clock, intent("S1", OrderSide.SELL, limit=99.0))
        self.run_until(broker, clock, self.settled(broker, "S1"))
        r = self.row(broker, "S1")
        assert (r.state, r.avg_price) == (OrderState.FILLED, 99.5)
        assert broker.positions() == {}

    def test_fills_never_beat_the_quote_nor_the_limit(self, broker: Broker, clock: Clock) -> None:
        asks = iter([100.4, 100.3, 100.2, 100.1] + [99.95] * 400)
        self.place(broker, clock, intent("B1", limit=100.0))

        def moving(instrument: str) -> tuple[float, float]:
            ask = next(asks)
            seen.append(ask)
            return (ask - 1.0, ask)

        seen: list[float] = []
        self.run_until(broker, clock, self.settled(broker, "B1"), moving)
        assert {f.price for f in self.row(broker, "B1").fills} == {99.95}

    def test_non_marketable_order_works_until_cancelled(self, broker: Broker, clock: Clock) -> None:
        self.place(broker, clock, intent("B1", limit=95.0))
        for _ in range(20):
            broker.on_market(clock.tick(), TOUCH)
        assert self.row(broker, "B1").state in (OrderState.SUBMITTED, OrderState.ACKED)
        self.retry(clock, lambda: broker.cancel("B1", clock.now))
        self.retry(clock, lambda: broker.cancel("B1", clock.now))  # a no-op once cancelled
        events = self.run_until(broker, clock, self.settled(broker, "B1"))
        r = self.row(broker, "B1")
        assert (r.state, r.fills) == (OrderState.CANCELLED, ())
        assert broker.positions() == {}
        assert not [e for e in events if e.kind is BrokerEventKind.FILL]

    def test_an_expired_contract_leaves_positions_and_its_orders_end(
        self, broker: Broker, clock: Clock
    ) -> None:
        """At expiry the exchange settles the contract: it leaves ``positions``, and an order
        still working on it ends (``expired``) instead of filling later."""
        self.place(broker, clock, intent("B1"))
        self.run_until(broker, clock, self.settled(broker, "B1"))
        self.place(broker, clock, intent("S1", OrderSide.SELL, limit=120.0))  # not marketable
        for _ in range(5):
            broker.on_market(clock.tick(), TOUCH)
        self.retry(clock, lambda: broker.settle_expired(CE, clock.tick()))
        self.run_until(broker, clock, self.settled(broker, "S1"), quotes({CE: (130.0, 131.0)}))
        r = self.row(broker, "S1")
        assert (r.state, r.fills) == (OrderState.EXPIRED, ())
        assert CE not in broker.positions()

    def test_a_tag_is_placed_once(self, broker: Broker, clock: Clock) -> None:
        self.place(broker, clock, intent("B1", limit=95.0))
        with pytest.raises(DuplicateTag):
            self.retry(clock, lambda: broker.place(intent("B1", limit=101.0), clock.now))
        self.run_until(broker, clock, lambda: True)
        assert self.row(broker, "B1").limit == 95.0
        self.retry(clock, lambda: broker.cancel("B1", clock.now))
        with pytest.raises(DuplicateTag):  # even once it is finished
            self.retry(clock, lambda: broker.place(intent("B1"), clock.now))

    def test_modify_reprices_a_working_order(self, broker: Broker, clock: Clock) -> None:
        self.place(broker, clock, intent("B1", limit=95.0))
        broker.on_market(clock.tick(), TOUCH)
        self.retry(clock, lambda: broker.modify("B1", 101.0, clock.now))
        self.run_until(broker, clock, self.settled(broker, "B1"))
        r = self.row(broker, "B1")
        assert (r.state, r.limit, r.avg_price) == (OrderState.FILLED, 101.0, 100.5)
        with pytest.raises(OrderNotWorking):
            self.retry(clock, lambda: broker.modify("B1", 102.0, clock.now))

    def test_unknown_tags_are_refused(self, broker: Broker, clock: Clock) -> None:
        with pytest.raises(UnknownOrder):
            self.retry(clock, lambda: broker.cancel("NOPE1", clock.now))
        with pytest.raises(UnknownOrder):
            self.retry(clock, lambda: broker.modify("NOPE1", 100.0, clock.now))

    def test_time_never_goes_backwards(self, broker: Broker, clock: Clock) -> None:
        broker.on_market(clock.tick(5), TOUCH)
        with pytest.raises(ValueError, match="backwards"):
            broker.on_market(clock.now - dt.timedelta(seconds=1), TOUCH)

    def test_book_positions_and_engine_view_agree(self, broker: Broker, clock: Clock) -> None:
        """Order book rows add up, positions are the sum of fills, and an engine that applies
        the delivered events and then syncs with the book lands on the book."""
        book_intents = [
            intent("B1", qty=150),
            intent("B2", qty=75, inst=PE, limit=81.0),
            intent("B3", qty=50, limit=90.0),
            intent("B4", qty=25, inst=PE, limit=81.0),
        ]
        orders = {i.tag: Order(i) for i in book_intents}
        for i in book_intents:
            self.place(broker, clock, i)
            orders[i.tag].submit(clock.now)
        events = self.run_until(broker, clock, self.settled(broker, "B1", "B2", "B4"))
        self.retry(clock, lambda: broker.cancel("B3", clock.now))
        events += self.run_until(broker, clock, self.settled(broker, "B3"))
        book = broker.order_book()
        for r in book:
            assert r.filled_qty == sum(f.qty for f in r.fills) <= r.qty
            if r.filled_qty:
                assert r.avg_price == pytest.approx(
                    sum(f.qty * f.price for f in r.fills) / r.filled_qty
                )
        assert broker.positions() == signed_fills(book) == {CE: 150, PE: 100}
        for e in events:
            apply_event(orders[e.tag], e)
        rows: dict[str, BrokerOrder] = {r.tag: r for r in book}
        for tag, order in orders.items():
            sync_with_book(order, rows[tag], clock.now)
            assert BrokerOrder.of(order) == rows[tag]

    # -- stop-limit orders -------------------------------------------------------------------------
    def long_ce(self, broker: Broker, clock: Clock) -> None:
        """Buy 75 CE at the touch: the position a sell stop protects."""
        self.place(broker, clock, intent("B1"))
        self.run_until(broker, clock, self.settled(broker, "B1"))

    def triggered(self, broker: Broker, tag: str) -> Callable[[], bool]:
        return lambda: self.row(broker, tag).triggered

    def test_a_stop_rests_untriggered_while_the_bid_stays_above_its_trigger(
        self, broker: Broker, clock: Clock
    ) -> None:
        self.long_ce(broker, clock)
        self.place(broker, clock, stop("S1", trigger=95.0, limit=94.0))
        events: list[BrokerEvent] = []
        for bid in [99.5, 97.0, 95.05, 95.05, 96.0] * 8:  # close above the trigger, never on it
            events += broker.on_market(clock.tick(), quotes({CE: (bid, bid + 0.5)}))
        r = self.row(broker, "S1")
        assert r.state in (OrderState.SUBMITTED, OrderState.TRIGGER_PENDING)
        assert (r.order_type, r.trigger, r.limit, r.triggered) == (
            OrderType.STOP_LIMIT, 95.0, 94.0, False
        )  # fmt: skip
        assert r.fills == () and broker.positions() == {CE: 75}
        assert not [e for e in events if e.tag == "S1" and e.kind in _TRIGGER_OR_FILL]

    def test_a_stop_triggers_and_fills_at_the_bid_once_the_bid_reaches_its_trigger(
        self, broker: Broker, clock: Clock
    ) -> None:
        self.long_ce(broker, clock)
        self.place(broker, clock, stop("S1", trigger=95.0, limit=94.0))
        for _ in range(5):
            broker.on_market(clock.tick(), TOUCH)
        at_trigger = quotes({CE: (95.0, 95.5)})  # the bid touches the trigger, above the limit
        events = self.run_until(broker, clock, self.settled(broker, "S1"), at_trigger)
        r = self.row(broker, "S1")
        assert (r.state, r.triggered, r.filled_qty, r.avg_price) == (
            OrderState.FILLED, True, 75, 95.0
        )  # fmt: skip
        assert {f.price for f in r.fills} == {95.0}
        assert broker.positions() == {}  # its fills count
        kinds = [e.kind for e in events if e.tag == "S1" and e.kind in _TRIGGER_OR_FILL]
        if BrokerEventKind.TRIGGERED in kinds:  # when delivered, it comes before any fill
            assert kinds.index(BrokerEventKind.TRIGGERED) == 0
        assert {e.price for e in events if e.kind is BrokerEventKind.TRIGGERED} <= {95.0}

    def test_a_stop_whose_bid_gapped_below_its_limit_triggers_and_rests_unfilled(
        self, broker: Broker, clock: Clock
    ) -> None:
        """The risk of a stop-limit: triggered, it is a limit, and a bid below a sell's limit
        does not fill it. It fills only once the bid is back at or above the limit."""
        self.long_ce(broker, clock)
        self.place(broker, clock, stop("S1", trigger=95.0, limit=94.0))
        gapped = quotes({CE: (93.0, 93.5)})
        self.run_until(broker, clock, self.triggered(broker, "S1"), gapped)
        r = self.row(broker, "S1")
        assert (r.state, r.triggered, r.fills) == (OrderState.ACKED, True, ())
        assert broker.positions() == {CE: 75}
        back = quotes({CE: (94.5, 95.0)})
        self.run_until(broker, clock, self.settled(broker, "S1"), back)
        r = self.row(broker, "S1")
        assert (r.state, r.avg_price) == (OrderState.FILLED, 94.5)
        assert all(f.price >= 94.0 for f in r.fills) and broker.positions() == {}

    def test_after_its_trigger_only_the_limit_of_a_stop_can_change(
        self, broker: Broker, clock: Clock
    ) -> None:
        self.long_ce(broker, clock)
        self.place(broker, clock, stop("S1", trigger=95.0, limit=94.0))
        gapped = quotes({CE: (93.0, 93.5)})
        self.run_until(broker, clock, self.triggered(broker, "S1"), gapped)
        with pytest.raises(AlreadyTriggered):
            self.retry(clock, lambda: broker.modify("S1", 92.5, clock.now, trigger=93.0))
        assert (self.row(broker, "S1").trigger, self.row(broker, "S1").limit) == (95.0, 94.0)
        self.retry(clock, lambda: broker.modify("S1", 92.5, clock.now))  # re-price the limit
        self.run_until(broker, clock, self.settled(broker, "S1"), gapped)
        r = self.row(broker, "S1")
        assert (r.state, r.limit, r.trigger, r.avg_price) == (OrderState.FILLED, 92.5, 95.0, 93.0)

    def test_modify_moves_the_trigger_of_an_untriggered_stop(
        self, broker: Broker, clock: Clock
    ) -> None:
        """A trailing backstop: many modifies, each taking effect, never a gap without a stop."""
        self.long_ce(broker, clock)
        self.place(broker, clock, stop("S1", trigger=90.0, limit=89.0))
        for k in range(1, 13):
            trigger = 90.0 + 0.5 * k
            self.retry(clock, lambda t=trigger: broker.modify("S1", t - 1.0, clock.now, trigger=t))
            broker.on_market(clock.tick(), TOUCH)
            r = self.row(broker, "S1")
            assert (r.trigger, r.limit, r.triggered, r.fills) == (trigger, trigger - 1.0, False, ())
        # the old trigger (90) is long passed over: only the moved one (96) counts
        self.run_until(broker, clock, self.settled(broker, "S1"), quotes({CE: (96.0, 96.5)}))
        r = self.row(broker, "S1")
        assert (r.state, r.avg_price, broker.positions()) == (OrderState.FILLED, 96.0, {})

    def test_a_stop_is_modified_at_most_the_budget_then_refused_unchanged(
        self, broker: Broker, clock: Clock
    ) -> None:
        """The modification budget (Kite: 25 an order): the next modify is refused with
        TooManyModifications, nothing changes, and the stop still rests at its last prices (a
        backstop that spent its budget stays where it is, never without a stop)."""
        self.long_ce(broker, clock)
        self.place(broker, clock, stop("S1", trigger=90.0, limit=89.0))
        taken, last = 0, 90.0
        for k in range(1, 2 * MAX_MODIFICATIONS):
            trigger = round(90.0 + 0.05 * k, 2)
            try:
                self.retry(
                    clock,
                    lambda t=trigger: broker.modify(  # type: ignore[misc]
                        "S1", round(t - 1.0, 2), clock.now, trigger=t
                    ),
                )
            except TooManyModifications:
                break
            taken, last = taken + 1, trigger
        else:
            pytest.fail(f"{2 * MAX_MODIFICATIONS - 1} modifications all taken")
        assert 0 < taken <= MAX_MODIFICATIONS
        broker.on_market(clock.tick(), TOUCH)
        r = self.row(broker, "S1")
        assert r.state not in TERMINAL_STATES and not r.triggered
        assert (r.trigger, r.limit) == (last, round(last - 1.0, 2))

    def test_modify_refuses_prices_that_break_the_stop_rules(
        self, broker: Broker, clock: Clock
    ) -> None:
        self.place(broker, clock, stop("S1", trigger=95.0, limit=94.0))
        self.place(broker, clock, intent("B2", limit=90.0))  # a limit order: no trigger
        broker.on_market(clock.tick(), TOUCH)
        with pytest.raises(ValueError, match="trigger must be at or above the limit"):
            self.retry(clock, lambda: broker.modify("S1", 96.0, clock.now, trigger=95.5))
        with pytest.raises(ValueError, match="tick grid"):
            self.retry(clock, lambda: broker.modify("S1", 94.0, clock.now, trigger=95.02))
        with pytest.raises(ValueError, match="no trigger"):
            self.retry(clock, lambda: broker.modify("B2", 90.0, clock.now, trigger=89.0))
        assert (self.row(broker, "S1").trigger, self.row(broker, "S1").limit) == (95.0, 94.0)
        assert self.row(broker, "B2").trigger is None

    def test_an_invalid_stop_is_refused_before_it_is_sent(
        self, broker: Broker, clock: Clock
    ) -> None:
        with pytest.raises(ValueError, match="at or above the limit"):
            broker.place(stop("S1", trigger=93.0, limit=94.0), clock.now)
        with pytest.raises(ValueError, match="at or below the limit"):
            broker.place(stop("S2", trigger=95.0, limit=94.0, side=OrderSide.BUY), clock.now)
        assert broker.order_book() == []

    def test_a_cancelled_untriggered_stop_never_fills(self, broker: Broker, clock: Clock) -> None:
        self.long_ce(broker, clock)
        self.place(broker, clock, stop("S1", trigger=95.0, limit=94.0))
        for _ in range(5):
            broker.on_market(clock.tick(), TOUCH)
        self.retry(clock, lambda: broker.cancel("S1", clock.now))
        self.retry(clock, lambda: broker.cancel("S1", clock.now))  # a no-op once cancelled
        crash = quotes({CE: (94.5, 95.0)})  # through the trigger, above the limit
        events = self.run_until(broker, clock, self.settled(broker, "S1"), crash)
        for _ in range(20):
            events += broker.on_market(clock.tick(), crash)
        r = self.row(broker, "S1")
        assert (r.state, r.triggered, r.fills) == (OrderState.CANCELLED, False, ())
        assert broker.positions() == {CE: 75}
        assert not [e for e in events if e.tag == "S1" and e.kind in _TRIGGER_OR_FILL]

    def test_a_buy_stop_triggers_when_the_ask_rises_to_its_trigger(
        self, broker: Broker, clock: Clock
    ) -> None:
        self.place(broker, clock, stop("S1", trigger=101.0, limit=102.0, side=OrderSide.BUY))
        for _ in range(10):
            broker.on_market(clock.tick(), TOUCH)  # ask 100.5: below the trigger
        assert not self.row(broker, "S1").triggered
        self.run_until(broker, clock, self.settled(broker, "S1"), quotes({CE: (100.5, 101.0)}))
        r = self.row(broker, "S1")
        assert (r.state, r.avg_price, broker.positions()) == (OrderState.FILLED, 101.0, {CE: 75})

    def test_the_engine_view_of_a_stop_lands_on_the_book(
        self, broker: Broker, clock: Clock
    ) -> None:
        """Applying the delivered events, then syncing with the book, gives the book's row for
        stops too (trigger, triggered, fills), whatever updates were lost or reordered."""
        self.long_ce(broker, clock)
        stops = [stop("S1"), stop("S2", trigger=96.0, limit=93.0, qty=25, inst=CE)]
        orders = {i.tag: Order(i) for i in stops}
        for i in stops:
            self.place(broker, clock, i)
            orders[i.tag].submit(clock.now)
        events = self.run_until(broker, clock, lambda: True)
        self.retry(clock, lambda: broker.modify("S1", 94.5, clock.now, trigger=95.5))
        events += self.run_until(
            broker, clock, self.settled(broker, "S2"), quotes({CE: (93.5, 94.0)})
        )
        for e in events:
            if e.tag in orders:
                apply_event(orders[e.tag], e)
        rows = {r.tag: r for r in broker.order_book()}
        assert (rows["S1"].triggered, rows["S1"].fills, rows["S2"].state) == (
            True, (), OrderState.FILLED
        )  # fmt: skip
        for tag, order in orders.items():
            sync_with_book(order, rows[tag], clock.now)
            assert BrokerOrder.of(order) == rows[tag]


_TRIGGER_OR_FILL = (BrokerEventKind.TRIGGERED, BrokerEventKind.FILL)
