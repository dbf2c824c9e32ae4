"""The order model: client tags, the transition table, fills applied once, exact round-trips,
and how broker events and book rows are applied to an order."""

from __future__ import annotations

import datetime as dt
import json
import math
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyntrail.core.order_pricing import OrderSide
from dyntrail.errors import BrokerError, JournalError
from dyntrail.execution.broker import (
    BookFill,
    BrokerEvent,
    BrokerEventKind,
    BrokerOrder,
    apply_event,
    sync_with_book,
)
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
    Overfill,
    Transition,
    client_tag,
)

IST = ZoneInfo("Asia/Kolkata")
T0 = dt.datetime(2025, 1, 3, 9, 20, tzinfo=IST)  # a Friday session, options live
TAG = ClientTag("D250103P01E1")


def intent(tag: str = TAG, qty: int = 75, limit: float = 101.5) -> OrderIntent:
    return OrderIntent(
        tag, 1, 0, "entry", OrderSide.BUY, qty, limit, 100.0, "NIFTY25JAN24000CE", T0
    )


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def fire(order: Order, kind: str, ts: dt.datetime, fill_qty: int = 25) -> None:
    """Apply one event of ``kind`` the way its caller would."""
    if kind == OrderEventKind.SUBMIT:
        order.submit(ts)
    elif kind == OrderEventKind.ACK:
        order.ack(ts, "PB000001")
    elif kind == OrderEventKind.FILL:
        order.apply_fill(Fill(order.tag, f"F{len(order.fills) + 1}", fill_qty, 100.5, ts))
    elif kind == OrderEventKind.REJECT:
        order.reject(ts, "RMS: margin")
    elif kind == OrderEventKind.CANCEL:
        order.cancel(ts)
    elif kind == OrderEventKind.EXPIRE:
        order.expire(ts)
    elif kind == OrderEventKind.TIMEOUT:
        order.timeout(ts)
    else:
        order.resolve(ts)


PATHS: dict[OrderState, list[str]] = {
    OrderState.NEW: [],
    OrderState.SUBMITTED: ["submit"],
    OrderState.ACKED: ["submit", "ack"],
    OrderState.PARTIALLY_FILLED: ["submit", "ack", "fill"],
    OrderState.FILLED: ["submit", "ack", "fill", "fill", "fill"],
    OrderState.REJECTED: ["submit", "reject"],
    OrderState.CANCELLED: ["submit", "ack", "fill", "cancel"],
    OrderState.EXPIRED: ["submit", "ack", "expire"],
    OrderState.UNKNOWN: ["submit", "timeout"],
}


def order_in(state: OrderState) -> Order:
    order = Order(intent())
    for i, kind in enumerate(PATHS[state]):
        fire(order, kind, at(i))
    if order.state is not state:
        raise RuntimeError(f"path to {state} ended in {order.state}")
    return order


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
    from dyntrail.orderflow import freeze_slices

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
    order = order_in(state)
    ts = at(100)
    fire(order, kind, ts)
    expected = TRANSITIONS[(state, kind)]
    assert order.state is expected
    assert order.history[-1] == Transition(ts, OrderEventKind(kind), state, expected)


ILLEGAL = [(s, k) for s in OrderState for k in OrderEventKind if (s, k) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "kind"), ILLEGAL)
def test_illegal_transitions_raise_and_change_nothing(state: OrderState, kind: str) -> None:
    order = order_in(state)
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
    for state in (OrderState.CANCELLED, OrderState.EXPIRED):  # only a late fill, staying put
        assert [(k, TRANSITIONS[(state, k)]) for (s, k) in TRANSITIONS if s is state] == [
            ("fill", state)
        ]


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


# -- round trip -----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(OrderState))
def test_round_trip_is_exact_in_every_state(state: OrderState) -> None:
    order = order_in(state)
    d = order.to_dict()
    again = Order.from_dict(json.loads(json.dumps(d)))
    assert again.to_dict() == d
    assert (again.state, again.fills, again.history) == (order.state, order.fills, order.history)
    assert (again.filled_qty, again.avg_price, again.reason) == (
        order.filled_qty,
        order.avg_price,
        order.reason,
    )


def test_from_dict_names_the_problem() -> None:
    d = order_in(OrderState.ACKED).to_dict()
    d["state"] = "half_done"
    with pytest.raises(JournalError, match="half_done"):
        Order.from_dict(d)


@given(st.lists(st.sampled_from(list(OrderEventKind)), max_size=12), st.integers(1, 40))
def test_random_event_sequences(kinds: list[OrderEventKind], fill_qty: int) -> None:
    """Whatever arrives: the state follows the table, filled == qty exactly when filled, and
    the order round-trips."""
    order = Order(intent())
    for i, kind in enumerate(kinds):
        before = order.state
        try:
            fire(order, kind, at(i), fill_qty=min(fill_qty, max(order.remaining, 1)))
        except (InvalidTransition, Overfill):
            assert order.state is before
            continue
        if kind is not OrderEventKind.FILL:
            assert order.state is TRANSITIONS[(before, kind)]
    assert (order.state is OrderState.FILLED) == (order.remaining == 0)
    assert 0 <= order.filled_qty <= order.qty
    assert len(order.history) <= len(kinds)
    assert Order.from_dict(json.loads(json.dumps(order.to_dict()))).to_dict() == order.to_dict()


# -- broker events and book rows ------------------------------------------------------------------


def event(kind: BrokerEventKind, seconds: float, **kw: object) -> BrokerEvent:
    return BrokerEvent(kind, TAG, at(seconds), BrokerOrderId("PB000001"), **kw)  # type: ignore[arg-type]


def fill_event(fill_id: str, qty: int, seconds: float = 2) -> BrokerEvent:
    return event(BrokerEventKind.FILL, seconds, fill_id=fill_id, qty=qty, price=100.5)


def test_apply_event_tolerates_a_fill_before_its_ack_and_duplicates() -> None:
    order = order_in(OrderState.SUBMITTED)
    assert apply_event(order, fill_event("F1", 75))
    assert order.state is OrderState.FILLED and order.broker_order_id == "PB000001"
    assert not apply_event(order, event(BrokerEventKind.ACK, 1))  # late ack
    assert not apply_event(order, fill_event("F1", 75))  # duplicate
    assert order.state is OrderState.FILLED and order.filled_qty == 75


def test_apply_event_resolves_an_unknown_order() -> None:
    order = order_in(OrderState.UNKNOWN)
    assert apply_event(order, event(BrokerEventKind.ACK, 3))
    assert order.state is OrderState.ACKED
    assert [h.kind for h in order.history][-2:] == ["resolve", "ack"]


def test_apply_event_ignores_a_repeated_terminal_event_but_refuses_nonsense() -> None:
    order = order_in(OrderState.ACKED)
    assert apply_event(order, event(BrokerEventKind.CANCELLED, 4))
    assert not apply_event(order, event(BrokerEventKind.CANCELLED, 4))
    assert apply_event(order, fill_event("F9", 5))  # a fill reported after the cancel counts
    assert order.state is OrderState.CANCELLED
    rejected = order_in(OrderState.REJECTED)
    with pytest.raises(InvalidTransition):
        apply_event(rejected, fill_event("F9", 5))
    with pytest.raises(ValueError, match="fill_id"):
        event(BrokerEventKind.FILL, 1, qty=5, price=1.0)


def row(state: OrderState, fills: tuple[BookFill, ...] = (), reason: str = "") -> BrokerOrder:
    filled = sum(f.qty for f in fills)
    avg = math.fsum(f.qty * f.price for f in fills) / filled if filled else 0.0
    return BrokerOrder(
        TAG,
        BrokerOrderId("PB000001"),
        "NIFTY25JAN24000CE",
        OrderSide.BUY,
        75,
        101.5,
        state,
        filled,
        avg,
        fills,
        reason,
    )


@pytest.mark.parametrize(
    "truth",
    [
        row(OrderState.SUBMITTED),
        row(OrderState.ACKED),
        row(OrderState.PARTIALLY_FILLED, (BookFill("F1", 25, 100.5, at(2)),)),
        row(OrderState.FILLED, (BookFill("F1", 25, 100.5, at(2)), BookFill("F2", 50, 101, at(3)))),
        row(OrderState.CANCELLED, (BookFill("F1", 25, 100.5, at(2)),)),
        row(OrderState.EXPIRED),
        row(OrderState.REJECTED, reason="RMS: margin"),
    ],
    ids=lambda r: r.state.value,
)
@pytest.mark.parametrize("start", [OrderState.UNKNOWN, OrderState.SUBMITTED])
def test_sync_with_book_lands_on_the_broker_truth(start: OrderState, truth: BrokerOrder) -> None:
    order = order_in(start)
    sync_with_book(order, truth, at(10))
    assert order.state is truth.state
    assert BrokerOrder.of(order) == truth
    assert not sync_with_book(order, truth, at(11))  # idempotent


def test_sync_with_no_row_reopens_an_unknown_order_for_a_resend() -> None:
    order = order_in(OrderState.UNKNOWN)
    assert sync_with_book(order, None, at(10))
    assert order.state is OrderState.SUBMITTED
