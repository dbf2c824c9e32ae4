"""The order model: client tags, the transition table, fills applied once, order types and their
price rules, exact round-trips (limit orders saved exactly as before order types)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from order_factories import PATHS, TAG, at, fire, for_event, intent, order_in, stop

from dyntrail.core.order_pricing import OrderSide
from dyntrail.errors import BrokerError, JournalError
from dyntrail.execution.orders import (
    TRANSITIONS,
    BrokerOrderId,
    ClientTag,
    Fill,
    InvalidTransition,
    Order,
    OrderEventKind,
    OrderIntent,
    OrderState,
    OrderType,
    Overfill,
    Transition,
    client_tag,
)

# -- client tags ----------------------------------------------------------------------------------


def test_client_tag_is_deterministic_short_and_typed() -> None:
    tag = client_tag(dt.date(2025, 1, 3), 7, "exit_stop", 1)
    assert tag == "D250103P07S1" == client_tag(dt.date(2025, 1, 3), 7, "exit_stop", 1)
    assert isinstance(tag, ClientTag)
    longest = client_tag(dt.date(2025, 12, 31), 9999, "exit_kill", 999, part=99)
    assert len(longest) <= 20 and longest.isalnum()
    assert client_tag(dt.date(2025, 1, 3), 7, "exit_stop", 1, part=2) == "D250103P07S1Q2"
    assert client_tag(dt.date(2025, 1, 3), 7, "exit_carried", 1) == "D250103P07C1"


@pytest.mark.parametrize(
    ("qty", "freeze", "lot", "parts"),
    [
        (150, 1800, 75, [150]),
        (1800, 1800, 75, [1800]),
        (2250, 1800, 75, [1800, 450]),  # whole lots, the last takes the rest
        (1950, 1800, 65, [1755, 195]),  # 1800 is not a multiple of 65: 27 lots a part
        (1200, 600, 30, [600, 600]),
        (90, 20, 30, [30, 30, 30]),  # a freeze below one lot still sends whole lots
    ],
)
def test_freeze_slices_split_above_the_freeze_quantity_in_whole_lots(
    qty: int, freeze: int, lot: int, parts: list[int]
) -> None:
    from dyntrail.core.order_pricing import freeze_slices

    assert freeze_slices(qty, freeze, lot) == parts
    assert sum(parts) == qty


@pytest.mark.parametrize("bad", ["", "A" * 21, "D25-01", "tag with space", "ü"])
def test_client_tag_refuses_what_brokers_refuse(bad: str) -> None:
    with pytest.raises(ValueError, match="client tag"):
        ClientTag(bad)


def test_client_tag_refuses_unknown_action_and_ranges() -> None:
    with pytest.raises(ValueError, match="no tag code"):
        client_tag(dt.date(2025, 1, 3), 1, "exit_whim", 1)
    with pytest.raises(ValueError, match="out of range"):
        client_tag(dt.date(2025, 1, 3), 1, "entry", 1000)


def test_broker_order_id_is_validated() -> None:
    assert BrokerOrderId("250103000123456") == "250103000123456"
    with pytest.raises(ValueError, match="broker order id"):
        BrokerOrderId("has space")


# -- the transition table -------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "kind"), sorted(TRANSITIONS))
def test_every_legal_transition(state: OrderState, kind: str) -> None:
    order = for_event(state, kind)
    ts = at(100)
    fire(order, kind, ts)
    expected = TRANSITIONS[(state, kind)]
    assert order.state is expected
    assert order.history[-1] == Transition(ts, OrderEventKind(kind), state, expected)


ILLEGAL = [(s, k) for s in OrderState for k in OrderEventKind if (s, k) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "kind"), ILLEGAL)
def test_illegal_transitions_raise_and_change_nothing(state: OrderState, kind: str) -> None:
    order = for_event(state, kind)
    before = order.to_dict()
    with pytest.raises(InvalidTransition) as info:
        fire(order, kind, at(100))
    assert isinstance(info.value, BrokerError)
    assert (info.value.state, info.value.event_kind) == (state, kind)
    assert TAG in str(info.value)
    assert order.to_dict() == before


def test_terminal_states_have_no_way_out() -> None:
    for state in (OrderState.FILLED, OrderState.REJECTED):
        assert not [k for (s, k) in TRANSITIONS if s is state]
    for state in (OrderState.CANCELLED, OrderState.EXPIRED):  # a late fill or trigger, staying put
        assert [(k, TRANSITIONS[(state, k)]) for (s, k) in TRANSITIONS if s is state] == [
            ("fill", state),
            ("trigger", state),
        ]


def test_the_trigger_pending_state_is_working_and_leads_only_where_a_stop_can_go() -> None:
    pending = OrderState.TRIGGER_PENDING
    assert {k: TRANSITIONS[(s, k)] for (s, k) in TRANSITIONS if s is pending} == {
        "trigger": OrderState.ACKED,
        "fill": OrderState.PARTIALLY_FILLED,  # its trigger update was lost
        "cancel": OrderState.CANCELLED,
        "expire": OrderState.EXPIRED,
        "reject": OrderState.REJECTED,
    }
    assert not [s for (s, k) in TRANSITIONS if TRANSITIONS[(s, k)] is pending]  # only via ack
    order = order_in(pending)
    assert order.is_working and not order.is_terminal and not order.triggered


def test_a_late_fill_after_the_cancel_counts_and_the_rest_stays_cancelled() -> None:
    order = order_in(OrderState.CANCELLED)  # 25 of 75 filled, then cancelled
    assert order.apply_fill(Fill(TAG, "LATE1", 25, 100.5, at(50)))
    assert (order.state, order.filled_qty) == (OrderState.CANCELLED, 50)
    assert order.apply_fill(Fill(TAG, "LATE2", 25, 100.5, at(51)))  # nothing was left to cancel
    assert (order.state, order.filled_qty) == (OrderState.FILLED, 75)


def test_a_fill_completing_the_quantity_lands_in_filled() -> None:
    order = order_in(OrderState.SUBMITTED)  # fill before its ack: the ack was lost or is late
    assert order.apply_fill(Fill(TAG, "X1", 75, 100.5, at(1)), broker_order_id="PB000009")
    assert order.state is OrderState.FILLED and order.remaining == 0 and order.is_terminal
    assert order.broker_order_id == "PB000009"


# -- fills ----------------------------------------------------------------------------------------


def test_duplicate_fill_id_is_ignored_and_reported() -> None:
    order = order_in(OrderState.ACKED)
    fill = Fill(TAG, "F1", 25, 100.5, at(5))
    assert order.apply_fill(fill) is True
    history = list(order.history)
    assert order.apply_fill(fill) is False
    assert order.apply_fill(Fill(TAG, "F1", 50, 99.0, at(6))) is False  # same id, other content
    assert order.filled_qty == 25 and order.history == history
    order.apply_fill(Fill(TAG, "F2", 50, 101.0, at(7)))
    assert order.state is OrderState.FILLED
    assert order.apply_fill(fill) is False  # a replay after the order is done is still ignored


def test_overfill_raises_and_changes_nothing() -> None:
    order = order_in(OrderState.PARTIALLY_FILLED)  # 25 of 75 filled
    before = order.to_dict()
    with pytest.raises(Overfill, match="exceeds the remaining 50"):
        order.apply_fill(Fill(TAG, "BIG", 51, 100.5, at(9)))
    assert order.to_dict() == before


def test_fill_validation() -> None:
    order = order_in(OrderState.ACKED)
    with pytest.raises(ValueError, match="not order"):
        order.apply_fill(Fill("OTHER1", "F1", 25, 100.5, at(1)))
    with pytest.raises(ValueError, match="qty"):
        order.apply_fill(Fill(TAG, "F1", 0, 100.5, at(1)))
    with pytest.raises(ValueError, match="price"):
        order.apply_fill(Fill(TAG, "F1", 25, float("nan"), at(1)))


def test_avg_price_is_quantity_weighted() -> None:
    order = order_in(OrderState.ACKED)
    order.apply_fill(Fill(TAG, "F1", 25, 100.0, at(1)))
    order.apply_fill(Fill(TAG, "F2", 50, 103.0, at(2)))
    assert order.avg_price == pytest.approx(102.0)
    assert Order(intent()).avg_price == 0.0


def test_intent_is_validated() -> None:
    with pytest.raises(ValueError, match="qty"):
        Order(intent(qty=0))
    with pytest.raises(ValueError, match="limit"):
        Order(intent(limit=-1.0))
    with pytest.raises(ValueError, match="client tag"):
        Order(intent(tag="bad tag"))


def test_amend_limit_only_while_working() -> None:
    order = order_in(OrderState.ACKED)
    order.amend_limit(102.0)
    assert order.limit == 102.0 and order.intent.limit == 101.5
    with pytest.raises(InvalidTransition):
        order_in(OrderState.FILLED).amend_limit(102.0)


# -- order types: the price rules -----------------------------------------------------------------


def test_a_limit_order_is_the_default_and_has_no_trigger() -> None:
    order = Order(intent())
    assert (order.order_type, order.trigger, order.triggered) == (OrderType.LIMIT, None, False)
    with pytest.raises(ValueError, match=rf"order {TAG}: a limit order has no trigger, got "
                       r"trigger 99.0 \(send order_type='stop_limit' for a stop\)"):  # fmt: skip
        Order(replace(intent(), trigger=99.0))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            stop(trigger=93.0, limit=94.0),
            "a sell stop-limit triggers when the price falls to its trigger and then trades at "
            "its limit or better, so the trigger must be at or above the limit; got trigger 93.0 "
            "and limit 94.0 (valid: a trigger of 94.0 or more, or a limit of 93.0 or less)",
        ),
        (
            stop(side=OrderSide.BUY, trigger=95.0, limit=94.0),
            "a buy stop-limit triggers when the price rises to its trigger and then trades at "
            "its limit or better, so the trigger must be at or below the limit; got trigger 95.0 "
            "and limit 94.0 (valid: a trigger of 94.0 or less, or a limit of 95.0 or more)",
        ),
        (stop(trigger=None), "a stop-limit needs a trigger price, at or above its limit 94.0"),
        (stop(trigger=0.0), "trigger must be finite and > 0, got 0.0"),
        (stop(trigger=float("inf")), "trigger must be finite and > 0, got inf"),
        (
            stop(tick=None),
            "a stop-limit needs its instrument's tick to check its prices against (NSE index "
            "options: tick=0.05)",
        ),
        (stop(tick=0.0), "tick must be finite and > 0, got 0.0"),
        (
            stop(trigger=95.02),
            "trigger 95.02 is not on the 0.05 tick grid; the nearest valid prices are 95.0 and "
            "95.05",
        ),
        (
            stop(limit=93.97),
            "limit 93.97 is not on the 0.05 tick grid; the nearest valid prices are 93.95 and 94.0",
        ),
        (stop(limit=-1.0), "limit must be finite and > 0, got -1.0"),
    ],
)
def test_a_stop_limit_is_validated_with_messages_that_say_what_is_valid(
    bad: OrderIntent, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        Order(bad)
    assert str(info.value) == f"order {TAG}: {message}"


def test_valid_stops_and_the_order_type_itself() -> None:
    assert Order(stop(trigger=94.0, limit=94.0)).trigger == 94.0  # trigger == limit: valid
    assert Order(stop(side=OrderSide.BUY, trigger=101.0, limit=102.0)).limit == 102.0
    assert Order(stop(trigger=0.1 + 0.2, limit=0.3)).trigger == pytest.approx(0.3)  # float noise
    on_grid = replace(intent(limit=101.35), tick=0.05)
    assert Order(on_grid).limit == 101.35  # a limit order that gives its tick is checked too
    with pytest.raises(ValueError, match=r"limit 101\.33 is not on the 0\.05 tick grid"):
        Order(replace(intent(limit=101.33), tick=0.05))
    with pytest.raises(ValueError, match="order_type must be one of limit, stop_limit, got 'SL'"):
        Order(replace(intent(), order_type="SL"))
    assert [t.value for t in OrderType] == ["limit", "stop_limit"]


@given(
    st.sampled_from(list(OrderSide)),
    st.integers(1, 4000),
    st.integers(1, 4000),
    st.sampled_from([0.05, 0.1, 0.5]),
)
def test_a_stop_on_the_grid_is_valid_exactly_when_its_trigger_is_on_the_right_side(
    side: OrderSide, limit_ticks: int, trigger_ticks: int, tick: float
) -> None:
    limit, trigger = round(limit_ticks * tick, 2), round(trigger_ticks * tick, 2)
    right_side = trigger >= limit if side is OrderSide.SELL else trigger <= limit
    try:
        order = Order(stop(side=side, limit=limit, trigger=trigger, tick=tick))
    except ValueError as exc:
        assert not right_side and f"got trigger {trigger} and limit {limit}" in str(exc)
    else:
        assert right_side and (order.limit, order.trigger) == (limit, trigger)


# -- order types: the stop's life -----------------------------------------------------------------


def test_a_stop_is_acked_into_trigger_pending_and_triggers_once() -> None:
    order = Order(stop())
    order.submit(at(0))
    order.ack(at(1), "PB000001")
    assert (order.state, order.is_working, order.triggered) == (
        OrderState.TRIGGER_PENDING, True, False
    )  # fmt: skip
    order.hit_trigger(at(2))
    assert (order.state, order.triggered) == (OrderState.ACKED, True)
    assert order.history[-1] == Transition(
        at(2), OrderEventKind.TRIGGER, OrderState.TRIGGER_PENDING, OrderState.ACKED
    )
    with pytest.raises(InvalidTransition, match="it has triggered already"):
        order.hit_trigger(at(3))
    order.cancel(at(4))
    with pytest.raises(InvalidTransition, match="it has triggered already"):
        order.hit_trigger(at(5))  # legal after a cancel only for a stop that had not triggered


def test_a_limit_order_refuses_a_trigger_in_any_state() -> None:
    for state in PATHS:
        order = order_in(state)
        with pytest.raises(InvalidTransition, match="a limit order has no trigger"):
            order.hit_trigger(at(100))
        assert order.state is state


def test_a_fill_on_a_waiting_stop_means_its_trigger_update_was_lost() -> None:
    order = order_in(OrderState.TRIGGER_PENDING)
    order.apply_fill(Fill(TAG, "F1", 25, 94.5, at(5)))
    assert (order.state, order.triggered) == (OrderState.PARTIALLY_FILLED, True)


def test_modify_moves_the_trigger_until_the_stop_triggers_then_only_the_limit() -> None:
    order = order_in(OrderState.TRIGGER_PENDING)
    for k in range(1, 26):  # a trailing backstop, step by step
        order.amend(94.0 + 0.25 * k, trigger=95.0 + 0.25 * k)
    assert (order.limit, order.trigger) == (100.25, 101.25)
    assert (order.intent.limit, order.intent.trigger) == (94.0, 95.0)  # the intent never changes
    order.amend(100.0)  # the limit alone: the trigger stays
    assert (order.limit, order.trigger) == (100.0, 101.25)
    with pytest.raises(ValueError, match=r"got trigger 101\.25 and limit 102\.0"):
        order.amend(102.0)  # the new limit must respect the trigger too
    with pytest.raises(ValueError, match=r"trigger 99\.97 is not on the 0\.05 tick grid"):
        order.amend(99.0, trigger=99.97)
    assert (order.limit, order.trigger) == (100.0, 101.25)  # refused: nothing changed
    order.hit_trigger(at(50))
    with pytest.raises(InvalidTransition, match=r"only its limit can change \(its trigger stays "
                       r"101.25, asked 100.5\)"):  # fmt: skip
        order.amend(99.5, trigger=100.5)
    order.amend(99.5)  # re-price the limit of a stop that triggered and did not fill
    assert (order.limit, order.trigger, order.state) == (99.5, 101.25, OrderState.ACKED)
    with pytest.raises(ValueError, match="a limit order has no trigger"):
        order_in(OrderState.ACKED).amend(101.0, trigger=100.0)
    with pytest.raises(InvalidTransition):
        order_in(OrderState.CANCELLED, stop_limit=True).amend(94.0, trigger=95.0)


# -- round trip -----------------------------------------------------------------------------------


ROUND_TRIPS = [(s, False) for s in OrderState if s is not OrderState.TRIGGER_PENDING]
ROUND_TRIPS += [(s, True) for s in OrderState]


@pytest.mark.parametrize(("state", "stop_limit"), ROUND_TRIPS)
def test_round_trip_is_exact_in_every_state(state: OrderState, stop_limit: bool) -> None:
    order = order_in(state, stop_limit)
    if stop_limit and order.is_working:
        order.amend(93.0, trigger=93.5 if not order.triggered else None)
    d = order.to_dict()
    again = Order.from_dict(json.loads(json.dumps(d)))
    assert again.to_dict() == d
    assert (again.state, again.fills, again.history) == (order.state, order.fills, order.history)
    assert (again.filled_qty, again.avg_price, again.reason) == (
        order.filled_qty,
        order.avg_price,
        order.reason,
    )
    assert (again.intent, again.limit, again.trigger, again.triggered) == (
        order.intent,
        order.limit,
        order.trigger,
        order.triggered,
    )


def test_a_limit_order_saves_exactly_as_before_order_types() -> None:
    """Journals and state files must not change for limit orders: the same keys, in the same
    order, and a dict saved before order types loads as a limit order."""
    d = order_in(OrderState.PARTIALLY_FILLED).to_dict()
    assert list(d) == ["intent", "limit", "state", "broker_order_id", "reason", "fills", "history"]
    assert list(d["intent"]) == [
        "tag", "trade_id", "leg", "action", "side", "qty", "limit", "decision_price",
        "instrument", "ts",
    ]  # fmt: skip
    again = Order.from_dict(json.loads(json.dumps(d)))
    assert (again.order_type, again.trigger, again.intent) == (OrderType.LIMIT, None, intent())


def test_a_stop_saves_its_type_trigger_and_tick() -> None:
    order = order_in(OrderState.TRIGGER_PENDING)
    order.amend(94.5, trigger=96.0)
    d = order.to_dict()
    assert (d["intent"]["order_type"], d["intent"]["trigger"], d["intent"]["tick"]) == (
        "stop_limit", 95.0, 0.05
    )  # fmt: skip
    assert (d["limit"], d["trigger"], d["state"]) == (94.5, 96.0, "trigger_pending")
    bad = json.loads(json.dumps(d))
    bad["intent"]["order_type"] = "SL-M"
    with pytest.raises(JournalError, match="SL-M"):
        Order.from_dict(bad)


def test_from_dict_names_the_problem() -> None:
    d = order_in(OrderState.ACKED).to_dict()
    d["state"] = "half_done"
    with pytest.raises(JournalError, match="half_done"):
        Order.from_dict(d)


@given(
    st.lists(st.sampled_from(list(OrderEventKind)), max_size=12),
    st.integers(1, 40),
    st.booleans(),
)
def test_random_event_sequences(
    kinds: list[OrderEventKind], fill_qty: int, stop_limit: bool
) -> None:
    """Whatever arrives: the state follows the table (a stop-limit's ack lands in
    trigger_pending, a limit order never triggers, a stop triggers once), filled == qty exactly
    when filled, and the order round-trips."""
    order = Order(stop() if stop_limit else intent())
    for i, kind in enumerate(kinds):
        before, was_triggered = order.state, order.triggered
        try:
            fire(order, kind, at(i), fill_qty=min(fill_qty, max(order.remaining, 1)))
        except (InvalidTransition, Overfill):
            assert order.state is before
            continue
        if kind is OrderEventKind.TRIGGER:
            assert stop_limit and not was_triggered and order.triggered
        if kind is OrderEventKind.ACK and stop_limit:
            assert order.state is OrderState.TRIGGER_PENDING
        elif kind is not OrderEventKind.FILL:
            assert order.state is TRANSITIONS[(before, kind)]
        assert order.state is not OrderState.TRIGGER_PENDING or stop_limit
    assert (order.state is OrderState.FILLED) == (order.remaining == 0)
    assert 0 <= order.filled_qty <= order.qty
    assert len(order.history) <= len(kinds)
    assert Order.from_dict(json.loads(json.dumps(order.to_dict()))).to_dict() == order.to_dict()
