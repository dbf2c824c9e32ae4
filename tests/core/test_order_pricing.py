"""Marketable limit prices: tick rounding in whole ticks, cushions, caps, bad quotes."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.order_pricing import (
    LimitPrice,
    OrderSide,
    TickRounding,
    marketable_limit,
    round_to_tick,
)


def on_grid(price: float, tick: float) -> bool:
    """Exactly n × tick in decimal once printed with the tick's decimals."""
    return Decimal(repr(price)) % Decimal(repr(tick)) == 0


# --- round_to_tick -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "direction", "expected"),
    [
        (101.37, "down", 101.35),
        (101.37, "up", 101.40),
        (101.37, "nearest", 101.35),
        (101.375, "nearest", 101.40),  # half a tick rounds up
        (101.35, "down", 101.35),
        (101.35, "up", 101.35),
        (0.1 + 0.2, "up", 0.30),  # 0.30000000000000004 is on the grid, not a tick above it
        (0.1 + 0.2, "down", 0.30),
        (0.7 - 0.05 * 3, "down", 0.55),
        (0.0, "up", 0.0),
        (0.01, "down", 0.0),
    ],
)
def test_round_to_tick(price: float, direction: str, expected: float) -> None:
    got = round_to_tick(price, 0.05, direction)
    assert got == expected
    assert repr(got) == repr(expected)


@settings(deadline=None)  # no timing assertions
@given(st.integers(0, 400_000), st.sampled_from(list(TickRounding)))
def test_grid_prices_are_fixed_points_and_print_exactly(n: int, direction: TickRounding) -> None:
    price = n * 0.05  # float noise: 2027 * 0.05 = 101.35000000000001
    got = round_to_tick(price, 0.05, direction)
    assert f"{got:.2f}" == str(Decimal(n) * Decimal("0.05"))
    assert repr(got) == repr(float(f"{got:.2f}"))


@settings(deadline=None)  # no timing assertions
@given(st.floats(0.0, 50_000.0), st.sampled_from([0.05, 0.10, 0.5, 1.0]))
def test_rounding_brackets_the_price(price: float, tick: float) -> None:
    down = round_to_tick(price, tick, TickRounding.DOWN)
    up = round_to_tick(price, tick, TickRounding.UP)
    near = round_to_tick(price, tick, TickRounding.NEAREST)
    slack = 1e-9 * tick * max(1.0, price / tick)
    assert down <= price + slack and up >= price - slack
    assert round((up - down) / tick) in (0, 1)
    assert near in (down, up)
    assert all(on_grid(p, tick) for p in (down, up, near))


def test_round_to_tick_validation() -> None:
    with pytest.raises(ValueError, match="tick"):
        round_to_tick(1.0, 0.0, "down")
    with pytest.raises(ValueError, match="price"):
        round_to_tick(float("nan"), 0.05, "down")
    with pytest.raises(ValueError, match="direction"):
        round_to_tick(1.0, 0.05, "sideways")


# --- marketable_limit ----------------------------------------------------------------------------


def test_sell_pushes_below_the_lower_of_bid_and_mapped() -> None:
    lp = marketable_limit("sell", mapped_price=101.37, best_bid=101.40, best_ask=101.60)
    assert lp == LimitPrice(
        price=101.25, cushion=0.10, reference=101.37, expected_slippage=0.12,
        expected_slippage_pct=pytest.approx(0.12 / 101.37),  # type: ignore[arg-type]
    )  # fmt: skip
    lp = marketable_limit(OrderSide.SELL, mapped_price=101.37, best_bid=101.20, best_ask=101.60)
    assert (lp.price, lp.reference) == (101.10, 101.20)


def test_buy_pushes_above_the_higher_of_ask_and_mapped() -> None:
    lp = marketable_limit("buy", mapped_price=99.02, best_bid=98.9, best_ask=99.00)
    assert (lp.price, lp.reference) == (99.15, 99.02)
    assert lp.cushion == pytest.approx(0.10)
    assert lp.expected_slippage == pytest.approx(0.13)
    lp = marketable_limit("buy", mapped_price=99.02, best_bid=98.9, best_ask=99.50)
    assert (lp.price, lp.reference) == (99.60, 99.50)
    assert lp.expected_slippage == pytest.approx(0.58)


@pytest.mark.parametrize("bad", [None, 0.0, -1.0, float("nan"), float("inf")])
def test_missing_quote_uses_the_mapped_price(bad: float | None) -> None:
    sell = marketable_limit("sell", mapped_price=50.0, best_bid=bad, best_ask=50.5)
    assert (sell.reference, sell.price) == (50.0, 49.90)
    buy = marketable_limit("buy", mapped_price=50.0, best_bid=49.5, best_ask=bad)
    assert (buy.reference, buy.price) == (50.0, 50.10)


@pytest.mark.parametrize(("bid", "ask"), [(80.0, 80.0), (80.5, 79.5)])
def test_locked_and_crossed_books_use_our_side_of_the_quote(bid: float, ask: float) -> None:
    assert marketable_limit("sell", mapped_price=81.0, best_bid=bid, best_ask=ask).price == (
        round_to_tick(bid - 0.10, 0.05, "down")
    )
    assert marketable_limit("buy", mapped_price=79.0, best_bid=bid, best_ask=ask).price == (
        round_to_tick(ask + 0.10, 0.05, "up")
    )


def test_tiny_premiums_never_go_below_one_tick() -> None:
    for bid in (0.05, 0.10, 0.15, 0.20):
        lp = marketable_limit("sell", mapped_price=0.05, best_bid=bid, best_ask=bid + 0.05)
        assert lp.price == 0.05
    lp = marketable_limit("sell", mapped_price=0.20, best_bid=0.20, best_ask=0.25)
    assert lp.price == 0.10
    assert lp.expected_slippage_pct == pytest.approx(0.5)
    lp = marketable_limit("buy", mapped_price=0.05, best_bid=None, best_ask=0.10)
    assert lp.price == 0.20


def test_wide_spreads_and_percentage_cushion_with_cap() -> None:
    # Wide book: a sell still keys off the bid, a buy off the ask, the cushion is the same.
    sell = marketable_limit("sell", mapped_price=150.0, best_bid=120.0, best_ask=180.0)
    buy = marketable_limit("buy", mapped_price=150.0, best_bid=120.0, best_ask=180.0)
    assert (sell.price, buy.price) == (119.90, 180.10)
    assert sell.expected_slippage == buy.expected_slippage == pytest.approx(30.10)
    pct = marketable_limit(
        "sell", mapped_price=150.0, best_bid=120.0, best_ask=180.0, cushion_pct=0.01
    )
    assert (pct.cushion, pct.price) == (1.2, 118.80)  # 1 % of the 120 reference beats 2 ticks
    capped = marketable_limit(
        "sell", mapped_price=500.0, best_bid=500.0, best_ask=501.0, cushion_pct=0.01
    )
    assert (capped.cushion, capped.price) == (2.0, 498.0)  # 5.00 capped at 2.00


@pytest.mark.parametrize("cap", [0.0, 0.01, 0.049])
def test_cap_below_one_tick_means_one_tick(cap: float) -> None:
    lp = marketable_limit("sell", mapped_price=80.0, best_bid=80.0, best_ask=80.05, cushion_cap=cap)
    assert (lp.cushion, lp.price) == (0.05, 79.95)
    lp = marketable_limit("buy", mapped_price=80.0, best_bid=79.9, best_ask=80.0, cushion_cap=cap)
    assert lp.price == 80.05


def test_no_cushion_when_none_is_configured() -> None:
    lp = marketable_limit(
        "sell", mapped_price=80.03, best_bid=None, best_ask=None, cushion_ticks=0, cushion_cap=0.0
    )
    assert (lp.cushion, lp.price) == (0.0, 80.0)  # only the marketable rounding


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"side": "short"}, "side"),
        ({"mapped_price": 0.0}, "mapped_price"),
        ({"mapped_price": float("nan")}, "mapped_price"),
        ({"tick": -0.05}, "tick"),
        ({"cushion_ticks": -1}, "cushion_ticks"),
        ({"cushion_pct": 1.0}, "cushion_pct"),
        ({"cushion_cap": -0.1}, "cushion_cap"),
    ],
)
def test_validation(change: dict[str, object], match: str) -> None:
    kw: dict[str, object] = {
        "side": "sell",
        "mapped_price": 10.0,
        "best_bid": 10.0,
        "best_ask": 10.1,
    }
    kw.update(change)
    side = kw.pop("side")
    with pytest.raises(ValueError, match=match):
        marketable_limit(side, **kw)  # type: ignore[arg-type]


prices = st.floats(0.01, 5_000.0)
quotes = st.one_of(
    st.none(), st.just(0.0), st.just(math.nan), st.integers(1, 100_000).map(lambda n: n * 0.05)
)


@settings(deadline=None)  # no timing assertions
@given(
    st.sampled_from(list(OrderSide)), prices, quotes, quotes,
    st.sampled_from([0.05, 0.1]), st.integers(0, 10), st.floats(0.0, 0.05), st.floats(0.0, 10.0),
)  # fmt: skip
def test_limit_is_on_grid_marketable_and_never_below_a_tick(
    side: OrderSide, mapped: float, bid: float | None, ask: float | None,
    tick: float, ticks: int, pct: float, cap: float,
) -> None:  # fmt: skip
    lp = marketable_limit(
        side, mapped_price=mapped, best_bid=bid, best_ask=ask, tick=tick,
        cushion_ticks=ticks, cushion_pct=pct, cushion_cap=cap,
    )  # fmt: skip
    assert on_grid(lp.price, tick) and lp.price >= tick
    assert lp.cushion <= max(cap, tick) + 1e-12
    eps = 1e-9 * max(1.0, mapped)
    if side is OrderSide.SELL:
        touch = mapped if bid is None or not bid > 0 else min(bid, mapped)
        assert lp.price <= max(touch, tick) + eps
        assert lp.expected_slippage == pytest.approx(mapped - lp.price, abs=1e-9)
    else:
        touch = mapped if ask is None or not ask > 0 else max(ask, mapped)
        assert lp.price >= touch - eps
        assert lp.expected_slippage == pytest.approx(lp.price - mapped, abs=1e-9)
    assert lp.reference == touch


@settings(max_examples=500)
@given(
    st.one_of(
        st.floats(-1e6, 1e6),
        st.integers(-200_000, 200_000).map(lambda k: k * 0.05),  # on the grid, in float noise
        st.integers(-200_000, 200_000).map(lambda k: k * 0.05 + 0.025),  # half a tick
        st.sampled_from([math.nan, math.inf, -math.inf, 1e30]),
    ),
    st.sampled_from([0.05, 0.01, 0.1, 0.25, 1.0]),
)
def test_nearest_on_grid_is_on_grid_nearest(price: float, tick: float) -> None:
    from dyntrail.core.order_pricing import TickRounding as R
    from dyntrail.core.order_pricing import nearest_on_grid
    from dyntrail.core.order_pricing import on_grid as grid

    fn = nearest_on_grid(tick)
    try:
        want = grid(price, tick, R.NEAREST)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc)):
            fn(price)
        return
    assert fn(price).hex() == want.hex()
