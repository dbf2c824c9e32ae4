"""The paper broker's stop-limit orders: exactly what it says with no faults, when a stop's order
timeout starts, how it survives restarts and old state files, and a property: a stop never fills
before a quote touched its trigger, nor below its limit, nor away from the quote."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from broker_contract import CE, T0, TOUCH, intent, quotes, stop
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.order_pricing import OrderSide
from dyntrail.execution.broker import BrokerEvent, BrokerEventKind, Disconnected
from dyntrail.execution.orders import BrokerOrderId, ClientTag, OrderState
from dyntrail.execution.paper import FaultProfile, PaperBroker

TAG, BOID = ClientTag("S1"), BrokerOrderId("PB000001")


def after(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def bid_at(bid: float) -> Any:
    return quotes({CE: (bid, round(bid + 0.5, 2))})


def only(**faults: Any) -> FaultProfile:
    base = {k: getattr(FaultProfile.none(), k) for k in FaultProfile.__dataclass_fields__}
    return FaultProfile(**{**base, **faults})


# -- the zero-fault broker, exactly ---------------------------------------------------------------


def test_no_faults_a_stop_waits_then_triggers_and_fills_in_one_call() -> None:
    broker = PaperBroker(FaultProfile.none(), seed=1)
    broker.place(stop("S1", trigger=95.0, limit=94.0), T0)
    assert broker.on_market(T0, TOUCH) == [BrokerEvent(BrokerEventKind.ACK, TAG, T0, BOID)]
    assert broker.on_market(after(1), bid_at(95.05)) == []  # above the trigger
    assert broker.order_book()[0].state is OrderState.TRIGGER_PENDING
    assert broker.on_market(after(2), bid_at(95.0)) == [
        BrokerEvent(BrokerEventKind.TRIGGERED, TAG, after(2), BOID, price=95.0),
        BrokerEvent(BrokerEventKind.FILL, TAG, after(2), BOID, "PB000001F1", 75, 95.0),
    ]
    assert broker.positions() == {CE: -75}


def test_no_faults_a_stop_that_gapped_through_its_limit_rests_and_shows_it() -> None:
    broker = PaperBroker(FaultProfile.none(), seed=1)
    broker.place(stop("S1", trigger=95.0, limit=94.0), T0)
    broker.on_market(T0, TOUCH)
    assert broker.on_market(after(1), bid_at(93.0)) == [
        BrokerEvent(BrokerEventKind.TRIGGERED, TAG, after(1), BOID, price=95.0)
    ]
    (row,) = broker.order_book()
    assert (row.state, row.triggered, row.fills) == (OrderState.ACKED, True, ())
    assert broker.on_market(after(2), bid_at(93.9)) == []  # still below the limit
    assert broker.on_market(after(3), bid_at(96.0)) == [  # a limit now: the trigger is spent
        BrokerEvent(BrokerEventKind.FILL, TAG, after(3), BOID, "PB000001F1", 75, 96.0)
    ]


def test_a_buy_stop_triggers_on_the_ask_and_a_missing_side_triggers_nothing() -> None:
    broker = PaperBroker(FaultProfile.none(), seed=1)
    broker.place(stop("S1", trigger=101.0, limit=101.5, side=OrderSide.BUY), T0)
    broker.place(stop("S2", trigger=95.0, limit=94.0), T0)
    broker.on_market(T0, TOUCH)
    assert broker.on_market(after(1), quotes({CE: (0.0, 0.0)})) == []  # no bid, no ask
    assert broker.on_market(after(2), quotes({})) == []  # no quote at all
    events = broker.on_market(after(3), quotes({CE: (100.5, 101.5)}))
    assert [(e.tag, e.kind, e.price) for e in events] == [
        ("S1", "triggered", 101.0),
        ("S1", "fill", 101.5),
    ]


def test_the_trigger_is_checked_from_the_fill_latency_on() -> None:
    broker = PaperBroker(only(fill_median_ms=1000.0, fill_sigma=0.0), seed=1)
    broker.place(stop("S1"), T0)
    assert [e.kind for e in broker.on_market(after(0.5), bid_at(94.5))] == ["ack"]
    assert [e.kind for e in broker.on_market(after(1), bid_at(94.5))] == ["triggered", "fill"]


def test_a_stop_expires_only_after_its_trigger() -> None:
    broker = PaperBroker(only(order_timeout_s=5.0), seed=1)
    broker.place(stop("S1"), T0)
    broker.place(intent("B1", limit=95.0), T0)  # a limit order: expires 5 s after its ack
    broker.on_market(T0, TOUCH)
    events = broker.on_market(after(3600), TOUCH)  # an hour later: the stop still rests
    assert [(e.tag, e.kind, e.ts) for e in events] == [("B1", "expired", after(5))]
    broker.on_market(after(3601), bid_at(93.0))  # triggers, gapped below the limit
    (event,) = broker.on_market(after(3700), bid_at(93.0))
    assert (event.kind, event.ts) == ("expired", after(3606))
    row = next(r for r in broker.order_book() if r.tag == "S1")
    assert (row.state, row.triggered, row.fills) == (OrderState.EXPIRED, True, ())


def test_a_refused_modify_during_a_disconnect_is_only_a_disconnect() -> None:
    broker = PaperBroker(only(disconnect_prob=1.0, disconnect_placed_prob=1.0), seed=1)
    with pytest.raises(Disconnected):
        broker.place(stop("S1"), T0)
    with pytest.raises(Disconnected):  # the exchange refused it; the answer was lost
        broker.modify("S1", 96.0, after(1), trigger=95.5)
    with pytest.raises(Disconnected):  # this one got through
        broker.modify("S1", 94.5, after(2), trigger=95.5)
    (row,) = broker.order_book()
    assert (row.limit, row.trigger) == (94.5, 95.5)


# -- persistence ----------------------------------------------------------------------------------


def test_a_stop_survives_restarts_in_every_state(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    broker = PaperBroker(FaultProfile.none(), 3, path)
    broker.place(stop("S1", trigger=95.0, limit=94.0), T0)
    broker.place(stop("S2", trigger=90.0, limit=89.0), T0)
    broker.on_market(T0, TOUCH)
    broker.modify("S2", 90.0, after(1), trigger=91.0)
    broker.on_market(after(2), bid_at(93.0))  # S1 triggers and rests; S2 waits
    again = PaperBroker(FaultProfile.none(), 3, path)
    assert again.order_book() == broker.order_book()
    rows = {r.tag: r for r in again.order_book()}
    assert (rows["S1"].state, rows["S1"].triggered) == (OrderState.ACKED, True)
    assert (rows["S2"].state, rows["S2"].trigger, rows["S2"].limit) == (
        OrderState.TRIGGER_PENDING, 91.0, 90.0
    )  # fmt: skip
    events = again.on_market(after(3), bid_at(94.0))
    assert [(e.tag, e.kind, e.price) for e in events] == [("S1", "fill", 94.0)]
    state = json.loads(path.read_text(encoding="utf-8"))
    assert state["version"] == 2


def test_a_state_file_from_before_order_types_still_loads(tmp_path: Path) -> None:
    """A version-1 file holds limit orders only, saved exactly as limit orders are saved now."""
    path = tmp_path / "paper.json"
    broker = PaperBroker(FaultProfile.none(), 3, path)
    broker.place(intent("B1", limit=95.0), T0)
    broker.on_market(T0, TOUCH)
    state = json.loads(path.read_text(encoding="utf-8"))
    (order,) = [e["order"] for e in state["orders"]]
    assert "trigger" not in order and "order_type" not in order["intent"]
    state["version"] = 1
    path.write_text(json.dumps(state), encoding="utf-8")
    old = PaperBroker(FaultProfile.none(), 3, path)
    assert old.order_book() == broker.order_book()
    old.modify("B1", 101.0, after(1))
    assert [e.kind for e in old.on_market(after(1), TOUCH)] == ["fill"]


# -- a property, with and without faults -----------------------------------------------------------

FAULTY = only(
    ack_median_ms=300.0,
    ack_sigma=0.8,
    fill_median_ms=400.0,
    fill_sigma=0.8,
    partial_fill_prob=0.5,
    partial_fill_unit=25,
    drop_rate=0.2,
    duplicate_rate=0.3,
    out_of_order_rate=0.3,
    disconnect_prob=0.2,
    disconnect_window_s=2.0,
)


@settings(max_examples=150, deadline=None)
@given(
    faulty=st.booleans(),
    seed=st.integers(0, 1000),
    trigger_ticks=st.integers(0, 40),
    limit_ticks=st.integers(0, 20),
    moves=st.lists(st.integers(-8, 6), min_size=1, max_size=60),
)
def test_a_stop_never_fills_before_its_trigger_nor_below_its_limit_nor_off_the_quote(
    faulty: bool, seed: int, trigger_ticks: int, limit_ticks: int, moves: list[int]
) -> None:
    """A sell stop over a random bid path: nothing happens before the first quote whose bid is
    at or below the trigger; every fill is at that moment's bid and at or above the limit; and
    with no faults the stop triggers exactly at that first touch."""
    trigger = round(100.0 - 0.05 * trigger_ticks, 2)
    limit = round(trigger - 0.05 * limit_ticks, 2)
    broker = PaperBroker(FAULTY if faulty else FaultProfile.none(), seed)
    placed = False
    now, bid = T0, 100.0
    bids: dict[dt.datetime, float] = {}
    first_touch: dt.datetime | None = None
    events: list[BrokerEvent] = []
    for move in moves:
        now += dt.timedelta(milliseconds=700)
        if not placed:
            try:
                broker.place(stop("S1", trigger=trigger, limit=limit), now)
                placed = True
            except Disconnected:
                placed = bool(broker.order_book())
        bid = round(max(0.05, bid + 0.05 * move), 2)
        bids[now] = bid
        if first_touch is None and bid <= trigger and placed:
            first_touch = now
        events += broker.on_market(now, bid_at(bid))
    if not broker.order_book():
        return
    (row,) = broker.order_book()
    for f in row.fills:
        assert first_touch is not None and f.ts >= first_touch
        assert f.price == bids[f.ts] >= limit
    if row.triggered:
        assert first_touch is not None
    for e in events:
        if e.kind is BrokerEventKind.TRIGGERED:
            assert first_touch is not None and e.ts >= first_touch and e.price == trigger
    if not faulty:
        triggered = [e.ts for e in events if e.kind is BrokerEventKind.TRIGGERED]
        assert triggered == ([] if first_touch is None else [first_touch])
