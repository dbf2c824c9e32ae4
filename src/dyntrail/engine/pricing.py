"""Option prices the strategy expects: the configured mapping from an underlying move to the
option's price (delta/gamma, or a full reprice), for exits and for the risk of an entry."""

from __future__ import annotations

import datetime as dt

from dyntrail.core.exit_pricing import ExitPriceMethod, option_exit_price
from dyntrail.core.options import OptionRight
from dyntrail.core.position import Position
from dyntrail.engine.context import Run
from dyntrail.trade import Trade


class Mapping:
    """The configured option mapping of a run (no state of its own)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.method = ExitPriceMethod(run.cfg.options.exit_price_method)

    def price(self, tr: Trade, underlying_now: float, trigger: float, t_years: float) -> float:
        """The option price the mapping expects when the underlying moves from
        ``underlying_now`` (where the option was last marked) to ``trigger``."""
        if tr.strike is None:
            raise ValueError(f"trade {tr.trade_id} has no option contract")
        o = self.run.cfg.options
        c = tr.contract
        return option_exit_price(
            self.method,
            option_last=tr.mark_price,
            underlying_now=underlying_now,
            underlying_trigger=trigger,
            strike=tr.strike,
            right=c.right if c is not None and c.right is not None else OptionRight(tr.right),
            t_years=max(t_years, 1e-9),
            r=o.risk_free_rate,
            q=o.dividend_yield,
            tick=self.run.tick,
        )

    def risk_per_unit(self, tr: Trade, pos: Position, t: dt.datetime) -> float:
        """Premium lost per unit if the initial stop is hit."""
        if not self.run.options_mode or tr.expiry is None or tr.strike is None:
            return abs(pos.entry_underlying - pos.stop_initial)
        t_years = self.run.tte(t, tr.expiry)
        at_stop = self.price(tr, pos.entry_underlying, pos.stop_initial, t_years)
        return max(tr.entry_price - at_stop, self.run.tick)
