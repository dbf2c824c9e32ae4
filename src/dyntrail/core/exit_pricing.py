"""Underlying trigger -> option exit price.

Every stop and target lives on the underlying; an order needs an option price. Methods:

- ``proportional`` (the design document's mapping): option_last x (1 + move x side), floored at
  one tick (0.05). It ignores the option's leverage, so it is only a fallback.
"""

from __future__ import annotations

from dyntrail.core.types import Side

MIN_OPTION_PRICE = 0.05


def option_exit_price_from_underlying_move(
    option_last: float, underlying_move_pct: float, side: Side
) -> float:
    """The design document's proportional mapping: ``option_last * (1 + move * sign)``, floored at
    0.05. ``underlying_move_pct`` is a fraction (+0.004 = the underlying rose 0.4 %); a LONG
    position (a call) gains with a rise, a SHORT position (a put) with a fall."""
    factor = 1.0 + underlying_move_pct * side.sign
    return max(option_last * factor, MIN_OPTION_PRICE)
