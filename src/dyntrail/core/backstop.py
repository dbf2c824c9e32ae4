"""The resting stop's prices and when to move it: pure functions of the engine's stop.

- ``level``: the underlying's price at which the backstop should act, ``beyond`` (a fraction)
  past the engine's own stop, on the side the position loses (below a long's stop, above a
  short's).
- ``prices``: an exit's stop-limit (trigger, limit) on the tick grid from the option's price
  mapped at that level. A sell (a long option sold) triggers as the price falls: its trigger is
  rounded down (never nearer than the mapped price) and its limit ``room`` (a fraction of the
  trigger) lower, rounded down, at least one tick; a buy the mirror image. The trigger of a sell
  is at or above its limit, a buy's at or below: the exchange's rule.
- ``should_move``: the engine's stop tightened by more than ``step`` (a fraction of the
  underlying) since the resting stop was placed or last moved, and a modification is left in
  the budget. A stop never loosens.
"""

from __future__ import annotations

from dyntrail.core.order_pricing import OrderSide, TickRounding, round_to_tick

OWN_EXIT = "own exit"  # why a backstop is cancelled before an exit of the engine's own


def level(long: bool, stop: float, beyond: float) -> float:
    """The underlying level ``beyond`` (a fraction) past ``stop`` on the losing side."""
    return stop * (1.0 - beyond) if long else stop * (1.0 + beyond)


def prices(side: OrderSide, mapped: float, tick: float, room: float) -> tuple[float, float]:
    """(trigger, limit) of a stop-limit exit of ``side`` at the option price ``mapped``."""
    if side is OrderSide.SELL:
        trigger = max(round_to_tick(mapped, tick, TickRounding.DOWN), tick)
        limit = max(round_to_tick(trigger * (1.0 - room), tick, TickRounding.DOWN), tick)
        return trigger, limit  # (at most the trigger: trigger >= tick)
    trigger = max(round_to_tick(mapped, tick, TickRounding.UP), tick)
    limit = round_to_tick(trigger * (1.0 + room), tick, TickRounding.UP)
    return trigger, max(limit, trigger + tick)


def should_move(
    long: bool, placed: float, wanted: float, step: float, used: int, budget: int
) -> bool:
    """Whether the resting stop at underlying level ``placed`` should move to ``wanted``."""
    if used >= budget:
        return False
    gain = wanted - placed if long else placed - wanted
    return gain > step * placed
