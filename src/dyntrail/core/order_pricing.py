"""Marketable limit orders: turn a mapped option price and the touch into a limit price.

A marketable limit crosses the spread like a market order but caps how far it may fill: an exit
sell is priced at ``min(best bid, mapped price) − cushion`` and a buy at
``max(best ask, mapped price) + cushion``, rounded to the tick in the marketable direction.
Tick arithmetic is done in whole ticks, so prices print exactly (``101.35``, never
``101.35000000000001``).
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

# A price within 1e-9 ticks (or 1e-12 relative, for large prices) of a grid point is on the grid:
# this absorbs float noise such as 0.1 + 0.2 = 0.30000000000000004, which must not round up a
# whole tick, and nothing a real quote or computed price means.
_GRID_SNAP_TICKS = 1e-9
_GRID_SNAP_REL = 1e-12


class OrderSide(enum.StrEnum):
    """Order direction."""

    BUY = "buy"
    SELL = "sell"


class TickRounding(enum.StrEnum):
    """Direction for ``round_to_tick``: ``down`` = floor, ``up`` = ceiling, ``nearest`` (ties
    up)."""

    DOWN = "down"
    UP = "up"
    NEAREST = "nearest"


# Read on every order: module names are found faster than enum members.
_SELL, _DOWN, _UP = OrderSide.SELL, TickRounding.DOWN, TickRounding.UP


@dataclass(frozen=True, slots=True)
class LimitPrice:
    """A marketable limit price and how it was built.

    - ``price``: the limit, an exact multiple of the tick, >= one tick.
    - ``cushion``: rupees pushed past ``reference`` before rounding (after the cap).
    - ``reference``: the price pushed from: ``min(bid, mapped)`` for a sell, ``max(ask,
      mapped)`` for a buy, or the mapped price when that quote is missing.
    - ``expected_slippage``: rupees from the decision (mapped) price to the limit, positive =
      worse for us (sell: ``mapped − price``; buy: ``price − mapped``). It is the worst case the
      limit allows; a marketable limit usually fills at the touch or better.
    - ``expected_slippage_pct``: ``expected_slippage / mapped`` as a fraction (0.01 = 1 %).
    """

    price: float
    cushion: float
    reference: float
    expected_slippage: float
    expected_slippage_pct: float


def _check_tick(tick: float) -> None:
    if not (math.isfinite(tick) and tick > 0):
        raise ValueError(f"tick must be finite and > 0, got {tick}")


def _ticks(price: float, tick: float, direction: TickRounding) -> int:
    """``price / tick`` as a whole number of ticks, rounded in ``direction`` after snapping
    values within float noise of the grid onto it."""
    n = price / tick
    nearest = round(n)
    snap = _GRID_SNAP_REL * abs(n)
    if abs(n - nearest) <= (snap if snap > _GRID_SNAP_TICKS else _GRID_SNAP_TICKS):
        return int(nearest)
    if direction is _DOWN:
        return math.floor(n)
    if direction is _UP:
        return math.ceil(n)
    return math.floor(n + 0.5)


def _from_ticks(n: int, tick: float) -> float:
    """``n`` ticks as the float nearest to the exact decimal product (``2027 × 0.05 → 101.35``).

    The product of ``n`` and the tick's decimal (``Decimal(repr(tick))``, digits ``c``) is
    exact while it has at most 28 digits, and its float is the correctly rounded one; Python's
    division of whole numbers is correctly rounded too, so ``n·num / den`` (the decimal as a
    fraction) is the same float, made without decimal arithmetic."""
    num, den, digits = _fraction(float(tick))
    if -_EXACT < n * digits < _EXACT:
        return (n * num) / den
    return float(n * _decimal(float(tick)))


_EXACT = 10**28  # the default decimal context's 28 digits


def nearest_on_grid(tick: float) -> Callable[[float], float]:
    """``on_grid(price, tick, NEAREST)`` as a function of the price, for a valid ``tick``: the
    same float and errors, the tick's fraction taken once (a position's mark, bar after bar)."""
    num, den, digits = _fraction(float(tick))
    snap_rel, snap_ticks, exact, floor, inf = (
        _GRID_SNAP_REL,
        _GRID_SNAP_TICKS,
        _EXACT,
        math.floor,
        math.inf,
    )

    def nearest(price: float) -> float:
        if not -inf < price < inf:
            return on_grid(price, tick, TickRounding.NEAREST)  # its error
        n = price / tick
        whole = round(n)
        snap = snap_rel * abs(n)
        k = (
            int(whole)
            if abs(n - whole) <= (snap if snap > snap_ticks else snap_ticks)
            else floor(n + 0.5)
        )
        if -exact < k * digits < exact:
            return (k * num) / den
        return _from_ticks(k, tick)

    return nearest


@functools.lru_cache(maxsize=64)
def _fraction(tick: float) -> tuple[int, int, int]:
    """The tick's decimal as a fraction ``num / den``, and the decimal's digits as an integer."""
    d = _decimal(tick)
    num, den = d.as_integer_ratio()
    return num, den, int("".join(str(x) for x in d.as_tuple().digits))


@functools.lru_cache(maxsize=64)
def _decimal(tick: float) -> Decimal:
    """The tick as the decimal it was written as (a handful of ticks exist: kept)."""
    return Decimal(repr(tick))


def round_to_tick(price: float, tick: float, direction: TickRounding | str) -> float:
    """Round ``price`` to a multiple of ``tick``: ``down`` (floor), ``up`` (ceiling) or
    ``nearest`` (half a tick rounds up). Done in whole ticks: a price within 1e-9 ticks (1e-12
    relative for large prices) of the grid counts as on it, and the result is the float nearest
    to ``n × tick`` in decimal, so it prints exactly (``101.35``). Raises ValueError for a
    non-finite price, a tick <= 0 or an unknown direction."""
    if not (math.isfinite(tick) and tick > 0):  # ``_check_tick``, on every quote's prices
        raise ValueError(f"tick must be finite and > 0, got {tick}")
    if not math.isfinite(price):
        raise ValueError(f"price must be finite, got {price}")
    try:
        how = direction if direction.__class__ is TickRounding else TickRounding(direction)
    except ValueError:
        raise ValueError(
            f"direction must be 'down', 'up' or 'nearest', got {direction!r}"
        ) from None
    return _from_ticks(_ticks(price, tick, how), tick)


def on_grid(price: float, tick: float, how: TickRounding) -> float:
    """``round_to_tick`` for a tick known to be valid (finite, > 0) and a direction given as
    its member: the same steps without checking them again (an option quote's three prices on
    every bar). A non-finite price is the same ValueError."""
    if not math.isfinite(price):
        raise ValueError(f"price must be finite, got {price}")
    n = price / tick
    nearest = round(n)
    snap = _GRID_SNAP_REL * abs(n)
    if abs(n - nearest) <= (snap if snap > _GRID_SNAP_TICKS else _GRID_SNAP_TICKS):
        k = int(nearest)
    elif how is _DOWN:
        k = math.floor(n)
    elif how is _UP:
        k = math.ceil(n)
    else:
        k = math.floor(n + 0.5)
    return _from_ticks(k, tick)


def _quote(value: float | None) -> float | None:
    """A usable quote, or None when missing, zero, negative or not finite."""
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def marketable_limit(
    side: OrderSide | str,
    *,
    mapped_price: float,
    best_bid: float | None,
    best_ask: float | None,
    tick: float = 0.05,
    cushion_ticks: int = 2,
    cushion_pct: float = 0.0,
    cushion_cap: float = 2.0,
) -> LimitPrice:
    """Limit price for an order that should fill now, at most a cushion beyond the touch.

    Rules:

    - reference: sell → ``min(best_bid, mapped_price)``, buy → ``max(best_ask, mapped_price)``.
      A missing, zero, negative or NaN bid (for a sell) or ask (for a buy) is ignored and the
      mapped price is the reference. Only the quote on our side is read, so a locked or crossed
      book (bid >= ask) needs no special case: the order is still pushed from the bid (sell) or
      ask (buy), which is marketable against the touch either way.
    - cushion (rupees) = ``max(cushion_ticks·tick, cushion_pct·reference)``, capped at
      ``cushion_cap``. A cap below one tick is read as one tick whenever a cushion is asked for,
      so the cushion never silently disappears (set ``cushion_ticks = 0`` and
      ``cushion_pct = 0`` for no cushion).
    - price = reference ∓ cushion rounded in the marketable direction (sell → down, buy → up)
      in whole ticks, then raised to one tick if below. Hence a sell is never above
      ``max(min(bid, mapped), tick)`` and a buy never below ``max(ask, mapped)``.

    Raises ValueError for a non-positive or non-finite mapped price or tick, a negative
    ``cushion_ticks``, ``cushion_pct`` outside [0, 1) or a negative/non-finite cap.
    """
    if isinstance(side, OrderSide):
        how = side
    else:
        try:
            how = OrderSide(side)
        except ValueError:
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}") from None
    _check_tick(tick)
    if not (math.isfinite(mapped_price) and mapped_price > 0):
        raise ValueError(f"mapped_price must be finite and > 0, got {mapped_price}")
    if cushion_ticks < 0:
        raise ValueError(f"cushion_ticks must be >= 0, got {cushion_ticks}")
    if not (math.isfinite(cushion_pct) and 0 <= cushion_pct < 1):
        raise ValueError(f"cushion_pct must be in [0, 1), got {cushion_pct}")
    if not (math.isfinite(cushion_cap) and cushion_cap >= 0):
        raise ValueError(f"cushion_cap must be finite and >= 0, got {cushion_cap}")

    sell = how is _SELL
    if sell:
        bid = _quote(best_bid)
        reference = mapped_price if bid is None else min(bid, mapped_price)
    else:
        ask = _quote(best_ask)
        reference = mapped_price if ask is None else max(ask, mapped_price)

    wanted = max(cushion_ticks * tick, cushion_pct * reference)
    cushion = min(wanted, max(cushion_cap, tick)) if wanted > 0 else 0.0
    # pushed past the reference, then rounded the marketable way: a sell down, a buy up
    n = _ticks(reference - cushion, tick, _DOWN) if sell else _ticks(reference + cushion, tick, _UP)
    price = _from_ticks(max(n, 1), tick)
    slippage = round(mapped_price - price if sell else price - mapped_price, 10)
    return LimitPrice(
        price=price,
        cushion=cushion,
        reference=reference,
        expected_slippage=slippage,
        expected_slippage_pct=slippage / mapped_price,
    )


MAX_PARTS = 99  # an order's parts are numbered Q1..Q99 in its tags


def freeze_slices(qty: int, freeze_qty: int, lot: int) -> list[int]:
    """An order's quantity in parts the exchange accepts: none above ``freeze_qty``, each a
    whole number of lots (the last takes the rest). One part when ``qty`` is within it."""
    if qty <= freeze_qty:
        return [qty]
    size = max(freeze_qty // lot, 1) * lot
    full, rest = divmod(qty, size)
    return [size] * full + ([rest] if rest else [])
