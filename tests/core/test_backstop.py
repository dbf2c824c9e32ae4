"""The backstop's pure rules (``dyntrail.core.backstop``): where it sits, its prices on the tick
grid within the exchange's stop-limit rule, and when it may move (never looser, never beyond
its budget)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dyntrail.core import backstop as rules
from dyntrail.core.order_pricing import OrderSide

TICK = 0.05
prices_ = st.floats(min_value=0.01, max_value=5000.0, allow_nan=False)
rooms = st.floats(min_value=0.001, max_value=0.5)


def on_grid(x: float) -> bool:
    return abs(round(x / TICK) * TICK - x) < 1e-9


@given(stop=st.floats(min_value=1000.0, max_value=80000.0), beyond=st.floats(0.0, 0.05))
def test_the_level_is_past_the_stop_on_the_losing_side(stop: float, beyond: float) -> None:
    assert rules.level(True, stop, beyond) <= stop
    assert rules.level(False, stop, beyond) >= stop
    assert rules.level(True, 22000.0, 0.002) == 22000.0 * 0.998


@given(mapped=prices_, room=rooms)
def test_a_sell_stop_triggers_at_or_below_the_mapped_price_and_limits_below(
    mapped: float, room: float
) -> None:
    trigger, limit = rules.prices(OrderSide.SELL, mapped, TICK, room)
    assert on_grid(trigger) and on_grid(limit)
    assert TICK <= limit <= trigger  # the exchange's rule for a sell stop-limit
    assert trigger <= max(mapped, TICK) + 1e-9  # never nearer than the mapped price


@given(mapped=prices_, room=rooms)
def test_a_buy_stop_triggers_at_or_above_the_mapped_price_and_limits_above(
    mapped: float, room: float
) -> None:
    trigger, limit = rules.prices(OrderSide.BUY, mapped, TICK, room)
    assert on_grid(trigger) and on_grid(limit)
    assert limit > trigger >= mapped - 1e-9


def test_prices_of_a_typical_backstop() -> None:
    assert rules.prices(OrderSide.SELL, 101.37, TICK, 0.1) == (101.35, 91.2)
    assert rules.prices(OrderSide.SELL, 0.02, TICK, 0.1) == (0.05, 0.05)


@given(
    long=st.booleans(),
    placed=st.floats(min_value=1000.0, max_value=80000.0),
    move=st.floats(min_value=-0.05, max_value=0.05),
    step=st.floats(0.0, 0.01),
    used=st.integers(0, 30),
    budget=st.integers(0, 25),
)
def test_a_backstop_moves_only_tighter_by_more_than_the_step_within_its_budget(
    long: bool, placed: float, move: float, step: float, used: int, budget: int
) -> None:
    wanted = placed * (1 + move)
    moves = rules.should_move(long, placed, wanted, step, used, budget)
    if moves:
        assert used < budget
        gain = wanted - placed if long else placed - wanted
        assert gain > step * placed >= 0
    if used >= budget or (wanted <= placed if long else wanted >= placed):
        assert not moves
