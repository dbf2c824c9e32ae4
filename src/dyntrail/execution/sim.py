"""The backtest's simulated broker.

Fill rule: a limit order fills at once, in full, at the quote when it is marketable — a buy when
its limit is at or above the ask, a sell when its limit is at or below a positive bid — at the
quote's price (the ask for a buy, the bid for a sell), never at a better price than the quote and
never worse than the limit. An order that is not marketable stays working: the engine cancels it
and sends a re-priced one against the next bar's quote (``attempt`` + 1).
"""

from __future__ import annotations

from dyntrail.core.order_pricing import OrderSide
from dyntrail.execution.orders import Fill, OrderIntent


class SimBroker:
    """Fills marketable limit orders against a given quote (see the module docstring)."""

    def __init__(self) -> None:
        self.orders = 0

    def execute(self, intent: OrderIntent, bid: float, ask: float) -> Fill | None:
        self.orders += 1
        if intent.side is OrderSide.BUY:
            if ask > 0 and intent.limit >= ask:
                return Fill(intent.tag, f"{intent.tag}F1", intent.qty, ask, intent.ts)
            return None
        if bid > 0 and intent.limit <= bid:
            return Fill(intent.tag, f"{intent.tag}F1", intent.qty, bid, intent.ts)
        return None
