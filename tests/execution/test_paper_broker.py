"""The paper broker: the broker contract (``broker_contract.BrokerContract``), its faults, its
determinism across restarts, and a stateful model check of it under every fault at once."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from broker_contract import (  # the promises every broker keeps
    CE,
    PE,
    T0,
    TOUCH,
    BrokerContract,
    intent,
    quotes,
    signed_fills,
    stop,
)
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from dyntrail.core.order_pricing import OrderSide
from dyntrail.errors import BrokerError
from dyntrail.execution.broker import (
    Broker,
    BrokerEvent,
    BrokerEventKind,
    BrokerOrder,
    Disconnected,
    DuplicateTag,
    QuoteFn,
    RateLimited,
    UnknownOrder,
    apply_event,
    sync_with_book,
)
from dyntrail.execution.orders import (
    BrokerOrderId,
    ClientTag,
    Order,
    OrderIntent,
    OrderState,
    OrderType,
)
from dyntrail.execution.paper import FaultProfile, PaperBroker

R = TypeVar("R")

FAULTY = FaultProfile(
    ack_median_ms=300.0,
    ack_sigma=0.8,
    fill_median_ms=400.0,
    fill_sigma=0.8,
    reject_rate=0.0,  # the contract's orders must be able to fill
    partial_fill_prob=0.5,
    partial_fill_unit=25,
    order_timeout_s=None,
    drop_rate=0.2,
    duplicate_rate=0.3,
    out_of_order_rate=0.3,
    disconnect_prob=0.2,
    disconnect_window_s=2.0,
    disconnect_placed_prob=0.5,
    max_orders_per_s=2,
)


class TestPaperBrokerNoFaults(BrokerContract):
    def make_broker(self, tmp_path: Path) -> Broker:
        return PaperBroker(FaultProfile.none(), seed=7)


class TestPaperBrokerFaulty(BrokerContract):
    def make_broker(self, tmp_path: Path) -> Broker:
        return PaperBroker(FAULTY, seed=7, state_path=tmp_path / "paper.json")


class _RestartEveryCall:
    """A paper broker rebuilt from its state file before every call, as after a ``kill -9``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        PaperBroker(FAULTY, 11, path)

    def _b(self) -> PaperBroker:
        return PaperBroker(FAULTY, 11, self.path)

    def place(self, intent: OrderIntent, now: dt.datetime) -> None:
        self._b().place(intent, now)

    def modify(
        self, tag: str, limit: float, now: dt.datetime, trigger: float | None = None
    ) -> None:
        self._b().modify(tag, limit, now, trigger)

    def cancel(self, tag: str, now: dt.datetime) -> None:
        self._b().cancel(tag, now)

    def order_book(self) -> list[BrokerOrder]:
        return self._b().order_book()

    def positions(self) -> dict[str, int]:
        return self._b().positions()

    def on_market(self, now: dt.datetime, quote: QuoteFn) -> list[BrokerEvent]:
        return self._b().on_market(now, quote)

    def settle_expired(self, instrument: str, now: dt.datetime) -> None:
        self._b().settle_expired(instrument, now)


class TestPaperBrokerRestartingEveryCall(BrokerContract):
    def make_broker(self, tmp_path: Path) -> Broker:
        return _RestartEveryCall(tmp_path / "paper.json")


# -- the zero-fault broker, exactly ---------------------------------------------------------------


def test_no_faults_acks_and_fills_on_the_same_call() -> None:
    broker = PaperBroker(FaultProfile.none(), seed=1)
    broker.place(intent("B1"), T0)
    events = broker.on_market(T0, TOUCH)
    tag, boid = ClientTag("B1"), BrokerOrderId("PB000001")
    assert events == [
        BrokerEvent(BrokerEventKind.ACK, tag, T0, boid),
        BrokerEvent(BrokerEventKind.FILL, tag, T0, boid, "PB000001F1", 75, 100.5),
    ]
    assert broker.on_market(T0, TOUCH) == []


def test_no_faults_fills_only_against_a_usable_quote() -> None:
    broker = PaperBroker(FaultProfile.none(), seed=1)
    broker.place(intent("B1"), T0)
    broker.place(intent("S1", OrderSide.SELL, limit=0.05), T0)
    assert [e.kind for e in broker.on_market(T0, quotes({CE: (0.0, 102.0)}))] == ["ack", "ack"]
    assert broker.on_market(T0, quotes({})) == []
    assert [e.kind for e in broker.on_market(T0, TOUCH)] == ["fill", "fill"]
    assert broker.positions() == {}


def test_events_of_a_call_arrive_with_the_next_on_market() -> None:
    broker = PaperBroker(FaultProfile.none(), seed=1)
    broker.place(intent("B1", limit=95.0), T0)
    broker.on_market(T0, TOUCH)
    broker.cancel("B1", T0 + dt.timedelta(seconds=1))
    broker.cancel("B1", T0 + dt.timedelta(seconds=1))  # no-op, no second event
    events = broker.on_market(T0 + dt.timedelta(seconds=1), TOUCH)
    assert [(e.kind, e.ts) for e in events] == [("cancelled", T0 + dt.timedelta(seconds=1))]


# -- each fault on its own ------------------------------------------------------------------------


def only(**faults: Any) -> FaultProfile:
    base = {k: getattr(FaultProfile.none(), k) for k in FaultProfile.__dataclass_fields__}
    return FaultProfile(**{**base, **faults})


def test_rejects() -> None:
    broker = PaperBroker(only(reject_rate=1.0, ack_median_ms=200.0), seed=1)
    broker.place(intent("B1"), T0)
    assert broker.on_market(T0, TOUCH) == []
    (event,) = broker.on_market(T0 + dt.timedelta(seconds=1), TOUCH)
    assert (event.kind, event.ts, event.reason) == (
        "reject",
        T0 + dt.timedelta(milliseconds=200),
        "paper: rejected by risk checks",
    )
    assert broker.order_book()[0].state is OrderState.REJECTED and broker.positions() == {}
    with pytest.raises(DuplicateTag):
        broker.place(intent("B1"), T0 + dt.timedelta(seconds=2))


def test_working_orders_expire_after_the_timeout() -> None:
    broker = PaperBroker(only(order_timeout_s=5.0), seed=1)
    broker.place(intent("B1", limit=95.0), T0)
    assert [e.kind for e in broker.on_market(T0 + dt.timedelta(seconds=4), TOUCH)] == ["ack"]
    (event,) = broker.on_market(T0 + dt.timedelta(seconds=60), TOUCH)
    assert (event.kind, event.ts) == ("expired", T0 + dt.timedelta(seconds=5))
    assert broker.order_book()[0].state is OrderState.EXPIRED


def test_partial_fills_come_in_units_and_complete_later() -> None:
    broker = PaperBroker(only(partial_fill_prob=1.0, partial_fill_unit=25), seed=3)
    broker.place(intent("B1", qty=300), T0)
    fills = []
    for s in range(30):
        fills += [e for e in broker.on_market(T0 + dt.timedelta(seconds=s), TOUCH) if e.fill_id]
    assert len(fills) >= 3 and all(e.qty % 25 == 0 for e in fills)
    assert sum(e.qty for e in fills) == 300 and broker.order_book()[0].state is OrderState.FILLED


def test_duplicated_fills_are_delivered_twice_and_applied_once() -> None:
    broker = PaperBroker(only(duplicate_rate=1.0), seed=1)
    order = Order(intent("B1"))
    broker.place(order.intent, T0)
    order.submit(T0)
    events = broker.on_market(T0, TOUCH)
    assert [e.kind for e in events] == ["ack", "fill", "fill"] and events[1] == events[2]
    assert [apply_event(order, e) for e in events] == [True, True, False]
    assert order.filled_qty == 75


def test_dropped_updates_leave_the_book_true_and_sync_recovers() -> None:
    broker = PaperBroker(only(drop_rate=1.0), seed=1)
    order = Order(intent("B1"))
    broker.place(order.intent, T0)
    order.submit(T0)
    assert broker.on_market(T0, TOUCH) == []
    (row,) = broker.order_book()
    assert row.state is OrderState.FILLED
    sync_with_book(order, row, T0)
    assert order.state is OrderState.FILLED and order.avg_price == 100.5


def test_out_of_order_ack_comes_after_the_first_fill_or_before_the_end() -> None:
    broker = PaperBroker(only(out_of_order_rate=1.0), seed=1)
    order = Order(intent("B1"))
    broker.place(order.intent, T0)
    order.submit(T0)
    events = broker.on_market(T0, TOUCH)
    assert [e.kind for e in events] == ["fill", "ack"]
    for e in events:
        apply_event(order, e)
    assert order.state is OrderState.FILLED
    broker.place(intent("B2", limit=95.0), T0)
    assert broker.on_market(T0, TOUCH) == []
    broker.cancel("B2", T0)
    assert [e.kind for e in broker.on_market(T0, TOUCH)] == ["ack", "cancelled"]


def down_and_up_times(profile: FaultProfile, seed: int) -> tuple[dt.datetime, dt.datetime]:
    """A time inside a disconnect window and a later one outside, found by probing a broker
    from outside (a cancel of an unknown tag raises Disconnected only while the link is down)."""
    probe = PaperBroker(profile, seed)
    down = None
    for k in range(1, 500):
        t = T0 + dt.timedelta(seconds=profile.disconnect_window_s * k)
        try:
            probe.cancel("PROBE1", t)
        except Disconnected:
            down = down or t
        except UnknownOrder:
            if down is not None:
                return down, t
    raise AssertionError("no down/up windows found")


def test_disconnects_raise_and_sometimes_place_anyway() -> None:
    always = only(disconnect_prob=1.0, disconnect_placed_prob=1.0)
    broker = PaperBroker(always, seed=1)
    with pytest.raises(Disconnected):
        broker.place(intent("B1"), T0)
    assert [r.tag for r in broker.order_book()] == ["B1"]
    with pytest.raises(Disconnected):
        broker.place(intent("B1"), T0)  # a resend while down: still one order
    assert len(broker.order_book()) == 1
    assert broker.on_market(T0, TOUCH) == []  # nothing is delivered while the link is down
    assert broker.order_book()[0].state is OrderState.FILLED  # ...but the exchange worked
    never = PaperBroker(only(disconnect_prob=1.0, disconnect_placed_prob=0.0), seed=1)
    with pytest.raises(Disconnected):
        never.place(intent("B1"), T0)
    assert never.order_book() == []


def test_events_wait_for_the_link_to_come_back() -> None:
    profile = only(disconnect_prob=0.5, disconnect_window_s=10.0)
    down, up = down_and_up_times(profile, seed=5)
    broker = PaperBroker(profile, seed=5)
    broker.place(intent("B1"), T0)
    assert broker.on_market(down, TOUCH) == []
    events = broker.on_market(up, TOUCH)
    assert [(e.kind, e.ts) for e in events] == [("ack", T0), ("fill", down)]


def test_rate_limit_counts_places_within_one_second_of_market_time() -> None:
    broker = PaperBroker(only(max_orders_per_s=10), seed=1)
    for k in range(10):
        broker.place(intent(f"B{k}", limit=95.0), T0 + dt.timedelta(milliseconds=50 * k))
    with pytest.raises(RateLimited):
        broker.place(intent("B10"), T0 + dt.timedelta(milliseconds=999))
    assert "B10" not in {r.tag for r in broker.order_book()}
    broker.place(intent("B10"), T0 + dt.timedelta(milliseconds=1000))  # B0 left the window
    with pytest.raises(RateLimited):
        broker.place(intent("B11"), T0 + dt.timedelta(milliseconds=1001))


def test_fault_profile_validation_and_defaults() -> None:
    with pytest.raises(ValueError, match="reject_rate must be in"):
        FaultProfile(reject_rate=1.5)
    with pytest.raises(ValueError, match="ack_median_ms"):
        FaultProfile(ack_median_ms=-1.0)
    with pytest.raises(ValueError, match="max_orders_per_s"):
        FaultProfile(max_orders_per_s=0)
    none = FaultProfile.none()
    assert (none.ack_median_ms, none.reject_rate, none.max_orders_per_s) == (0.0, 0.0, None)
    assert FaultProfile().max_orders_per_s == 10
    with pytest.raises(ValueError, match="seed"):
        PaperBroker(none, seed=-1)


# -- determinism and persistence ------------------------------------------------------------------

ALL_FAULTS = FaultProfile(
    reject_rate=0.2,
    partial_fill_prob=0.5,
    partial_fill_unit=25,
    order_timeout_s=6.0,
    drop_rate=0.2,
    duplicate_rate=0.3,
    out_of_order_rate=0.3,
    disconnect_prob=0.2,
    disconnect_window_s=2.0,
    max_orders_per_s=3,
)


def script(broker: Broker) -> list[Any]:
    """A fixed session of calls; returns everything the broker said, errors included."""
    said: list[Any] = []

    def call(f: Callable[..., Any], *args: Any) -> None:
        try:
            said.append(f(*args))
        except BrokerError as exc:
            said.append(type(exc).__name__)

    for k in range(40):
        now = T0 + dt.timedelta(seconds=0.7 * k)
        inst = CE if k % 2 else PE
        quote = quotes({CE: (99.5 + k % 3 * 0.5, 100.5 + k % 3 * 0.5), PE: (80.0, 80.5)})
        if k % 3 == 0:
            call(broker.place, intent(f"B{k}", limit=100.8, inst=inst, qty=100), now)
        if k % 7 == 3:
            call(broker.cancel, f"B{k - 3}", now)
        if k % 5 == 4:
            call(broker.modify, f"B{k - 4}", 101.5, now)
        call(broker.on_market, now, quote)
    said += [broker.order_book(), broker.positions()]
    return said


def test_same_seed_same_calls_same_events() -> None:
    a, b = script(PaperBroker(ALL_FAULTS, 42)), script(PaperBroker(ALL_FAULTS, 42))
    assert a == b
    assert script(PaperBroker(ALL_FAULTS, 43)) != a


def test_a_restarted_broker_decides_exactly_like_one_that_never_stopped(tmp_path: Path) -> None:
    restarted = script(_RestartWith(ALL_FAULTS, 42, tmp_path / "paper.json"))
    assert restarted == script(PaperBroker(ALL_FAULTS, 42))


class _RestartWith(_RestartEveryCall):
    def __init__(self, profile: FaultProfile, seed: int, path: Path) -> None:
        self.profile, self.seed, self.path = profile, seed, path

    def _b(self) -> PaperBroker:
        return PaperBroker(self.profile, self.seed, self.path)


def test_state_file_is_small_json_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    broker = PaperBroker(ALL_FAULTS, 42, path)
    script(broker)
    state = json.loads(path.read_text(encoding="utf-8"))
    assert state["version"] == 2 and len(state["orders"]) == len(broker.order_book())
    assert path.stat().st_size < 40_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paper.json"]


def test_state_file_must_match_the_seed_and_profile(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    PaperBroker(ALL_FAULTS, 42, path).on_market(T0, TOUCH)
    with pytest.raises(BrokerError, match="same seed and profile"):
        PaperBroker(ALL_FAULTS, 41, path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(BrokerError, match="unreadable"):
        PaperBroker(ALL_FAULTS, 42, path)


# -- a stateful model check under every fault at once ---------------------------------------------

MACHINE_PROFILE = FaultProfile(
    ack_median_ms=200.0,
    ack_sigma=1.0,
    fill_median_ms=150.0,
    fill_sigma=1.0,
    reject_rate=0.1,
    partial_fill_prob=0.4,
    partial_fill_unit=25,
    order_timeout_s=5.0,
    drop_rate=0.15,
    duplicate_rate=0.2,
    out_of_order_rate=0.2,
    disconnect_prob=0.15,
    disconnect_window_s=3.0,
    disconnect_placed_prob=0.5,
    max_orders_per_s=3,
)
WORKING = (
    OrderState.SUBMITTED,
    OrderState.TRIGGER_PENDING,
    OrderState.ACKED,
    OrderState.PARTIALLY_FILLED,
)


class PaperBrokerMachine(RuleBasedStateMachine):
    """A long-only engine drives a persisted broker (restarted at random) and a twin that never
    restarts; both must say the same, and the book must stay consistent. Its sells include
    stop-limits (backstops) whose triggers it moves."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="paper-machine-"))
        self.path = self.dir / "paper.json"
        self.broker = PaperBroker(MACHINE_PROFILE, 9, self.path)
        self.twin = PaperBroker(MACHINE_PROFILE, 9)
        self.now = T0
        self.quote: dict[str, tuple[float, float] | None] = {CE: (99.5, 100.5), PE: (80.0, 80.5)}
        self.orders: dict[str, Order] = {}
        self.delivered: dict[str, tuple[str, int, float]] = {}
        self.book_fills: set[str] = set()
        self.triggered: set[str] = set()  # stops seen triggered in the book

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def both(self, call: Callable[[PaperBroker], R]) -> tuple[str | None, R | None]:
        said: list[tuple[str | None, R | None]] = []
        for b in (self.broker, self.twin):
            try:
                said.append((None, call(b)))
            except BrokerError as exc:
                said.append((type(exc).__name__, None))
        assert said[0] == said[1], said
        event(f"call: {said[0][0] or 'ok'}")
        return said[0]

    def rows(self) -> dict[str, BrokerOrder]:
        return {r.tag: r for r in self.broker.order_book()}

    def free_to_sell(self, inst: str) -> int:
        selling = sum(
            r.qty - r.filled_qty
            for r in self.broker.order_book()
            if r.instrument == inst and r.side is OrderSide.SELL and r.state in WORKING
        )
        return self.broker.positions().get(inst, 0) - selling

    def send(self, order: Order) -> None:
        error, _ = self.both(lambda b: b.place(order.intent, self.now))
        if error is None:
            if order.state is OrderState.UNKNOWN:
                order.resolve(self.now)
            if order.state is OrderState.NEW:
                order.submit(self.now)
        elif error == "Disconnected" and order.state is OrderState.NEW:
            order.submit(self.now)
            order.timeout(self.now)
        elif error == "RateLimited" and order.state is OrderState.NEW:
            assert order.tag not in self.rows()
        assert sum(r.tag == order.tag for r in self.broker.order_book()) <= 1

    @initialize(lots=st.lists(st.integers(1, 4), min_size=1, max_size=3))
    def open_some(self, lots: list[int]) -> None:
        """Start every run with marketable buys in flight, so that fills and faults happen."""
        for n in lots:
            self.place(True, CE, n, 10)
        self.advance(500, (0, 0), (1, 1), (False, False))

    @rule(
        buy=st.booleans(),
        inst=st.sampled_from([CE, PE]),
        lots=st.integers(1, 4),
        ticks=st.integers(-20, 20),
    )
    def place(self, buy: bool, inst: str, lots: int, ticks: int) -> None:
        qty = 25 * lots
        side = OrderSide.BUY if buy else OrderSide.SELL
        if side is OrderSide.SELL and self.free_to_sell(inst) < qty:
            return
        q = self.quote[inst] or (99.5, 100.5)
        limit = round(max(0.05, (q[0] + q[1]) / 2 + 0.05 * ticks), 2)
        order = Order(intent(f"T{len(self.orders)}", side, limit, qty, inst))
        self.orders[order.tag] = order
        self.send(order)

    @rule(
        inst=st.sampled_from([CE, PE]),
        lots=st.integers(1, 4),
        below=st.integers(0, 12),
        room=st.integers(0, 6),
    )
    def place_stop(self, inst: str, lots: int, below: int, room: int) -> None:
        """A backstop: a sell stop-limit ``below`` ticks under the bid, its limit ``room`` ticks
        under the trigger."""
        qty = 25 * lots
        if self.free_to_sell(inst) < qty:
            return
        q = self.quote[inst] or (99.5, 100.5)
        trigger = round(max(0.1, q[0] - 0.05 * below), 2)
        limit = round(max(0.05, trigger - 0.05 * room), 2)
        order = Order(stop(f"T{len(self.orders)}", trigger, limit, qty=qty, inst=inst))
        self.orders[order.tag] = order
        self.send(order)

    @rule(index=st.integers(0, 999), ticks=st.integers(-6, 10), room=st.integers(0, 6))
    def modify_stop(self, index: int, ticks: int, room: int) -> None:
        """Move a stop's trigger (and limit) while it waits; re-price the limit once it has
        triggered. The engine learns the outcome from the book (``sync``)."""
        stops = sorted(t for t, o in self.orders.items() if o.order_type is OrderType.STOP_LIMIT)
        if not stops:
            return
        order = self.orders[stops[index % len(stops)]]
        row = self.rows().get(order.tag)
        if row is None or row.trigger is None:
            return
        trigger = round(max(0.1, row.trigger + 0.05 * ticks), 2)
        limit = round(max(0.05, trigger - 0.05 * room), 2)
        if row.triggered:
            limit = round(max(0.05, row.trigger - 0.05 * room), 2)
            self.both(lambda b: b.modify(order.tag, limit, self.now))
        else:
            self.both(lambda b: b.modify(order.tag, limit, self.now, trigger))

    def pick(self, index: int) -> Order | None:
        tags = sorted(self.orders)
        return self.orders[tags[index % len(tags)]] if tags else None

    @rule(index=st.integers(0, 999))
    def resend(self, index: int) -> None:
        order = self.pick(index)
        if order is None:
            return
        unsent_sell = order.side is OrderSide.SELL and order.tag not in self.rows()
        if unsent_sell and self.free_to_sell(order.instrument) < order.qty:
            return
        self.send(order)

    @rule(index=st.integers(0, 999))
    def cancel(self, index: int) -> None:
        order = self.pick(index)
        if order is not None:
            self.both(lambda b: b.cancel(order.tag, self.now))

    @rule(index=st.integers(0, 999), ticks=st.integers(-20, 20))
    def modify(self, index: int, ticks: int) -> None:
        order = self.pick(index)
        if order is None or order.order_type is OrderType.STOP_LIMIT:  # see modify_stop
            return
        limit = round(max(0.05, order.intent.limit + 0.05 * ticks), 2)
        error, _ = self.both(lambda b: b.modify(order.tag, limit, self.now))
        if error is None and order.is_working:
            order.amend_limit(limit)

    @rule(
        ms=st.integers(0, 4000),
        moves=st.tuples(st.integers(-10, 10), st.integers(-10, 10)),
        spreads=st.tuples(st.integers(0, 4), st.integers(1, 4)),
        gaps=st.tuples(st.booleans(), st.booleans()),
    )
    def advance(
        self,
        ms: int,
        moves: tuple[int, int],
        spreads: tuple[int, int],
        gaps: tuple[bool, bool],
    ) -> None:
        self.now += dt.timedelta(milliseconds=ms)
        for inst, move, spread, gap in zip((CE, PE), moves, spreads, gaps, strict=True):
            bid = round(max(0.0, (100.0 if inst == CE else 80.0) + 0.05 * move), 2)
            self.quote[inst] = (
                None if gap else (bid if spread else 0.0, bid + 0.05 * max(spread, 1))
            )
        error, events = self.both(lambda b: b.on_market(self.now, quotes(dict(self.quote))))
        assert error is None and events is not None
        for e in events:
            event(f"event: {e.kind.value}")
            if e.fill_id is not None:
                self.delivered[e.fill_id] = (e.tag, e.qty, e.price)
            apply_event(self.orders[e.tag], e)
        for r in self.broker.order_book():  # fills made just now: at the quote, within the limit
            for f in r.fills:
                if f.fill_id in self.book_fills:
                    continue
                self.book_fills.add(f.fill_id)
                bid, ask = self.quote[r.instrument] or (0.0, 0.0)
                assert f.ts == self.now
                if r.side is OrderSide.BUY:
                    assert f.price == ask <= r.limit
                else:
                    assert 0 < f.price == bid and f.price >= r.limit
        for r in self.broker.order_book():  # a stop triggers only on a quote at its trigger
            if r.triggered and r.tag not in self.triggered:
                self.triggered.add(r.tag)
                event("stop triggered")
                bid, _ = self.quote[r.instrument] or (0.0, 0.0)
                assert r.trigger is not None and 0 < bid <= r.trigger

    @rule()
    def restart(self) -> None:
        before = (self.broker.order_book(), self.broker.positions())
        self.broker = PaperBroker(MACHINE_PROFILE, 9, self.path)
        assert (self.broker.order_book(), self.broker.positions()) == before

    @rule()
    def sync(self) -> None:
        rows = self.rows()
        for tag, order in self.orders.items():
            if order.state is OrderState.NEW:
                continue
            sync_with_book(order, rows.get(tag), self.now)
            if tag in rows:
                assert BrokerOrder.of(order) == rows[tag]

    @invariant()
    def positions_are_the_unique_fills_and_never_short(self) -> None:
        book = self.broker.order_book()
        assert self.broker.positions() == signed_fills(book)
        assert all(q > 0 for q in self.broker.positions().values())

    @invariant()
    def one_order_per_tag(self) -> None:
        book = self.broker.order_book()
        assert len({r.tag for r in book}) == len({r.broker_order_id for r in book}) == len(book)

    @invariant()
    def delivered_fills_are_in_the_book(self) -> None:
        known = {
            f.fill_id: (r.tag, f.qty, f.price) for r in self.broker.order_book() for f in r.fills
        }
        for fill_id, seen in self.delivered.items():
            assert known[fill_id] == seen

    @invariant()
    def engine_never_knows_more_than_the_book(self) -> None:
        rows = self.rows()
        for tag, order in self.orders.items():
            if order.fills:
                assert set(order.fills) <= {f.fill_id for f in rows[tag].fills}

    @invariant()
    def twin_agrees(self) -> None:
        assert self.broker.order_book() == self.twin.order_book()


TestPaperBrokerMachine = PaperBrokerMachine.TestCase
TestPaperBrokerMachine.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
