"""Risk rules, pure: the trading state and what it lets through.

The engine's risk gate (``dyntrail.engine.risk``) keeps the state; these functions decide.

- ``ACTIVE``: entries and exits go out.
- ``REDUCING``: no new risk. Exits go out and protective stops keep moving. The state while
  something needs a person or the market first: an exit waiting for a bid, a position carried
  past a session's close, a reconciliation or late-fill flag, an operator's pause.
- ``HALTED``: no new risk for the rest of the day: the daily loss limit was reached, or the kill
  switch was pulled. Open positions are exited by the rule that halted.

One rule each, used everywhere a decision needs it (the bar-by-bar path and the exact fast
path alike): ``loss_limit_hit``, ``breaker_flattens``, ``entry_refusal``, ``order_refusal``,
``entry_lots``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dyntrail.core.config import Config


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The account's limits, taken out of the configuration once."""

    loss_floor: float  # the day's PnL at or below which the day halts (a negative amount, INR)
    max_open_positions: int
    max_lots: int
    lots_per_trade: int
    flatten_on_breaker: bool

    @classmethod
    def of(cls, cfg: Config) -> RiskLimits:
        return cls(
            loss_floor=-cfg.limits.daily_loss_limit_pct * cfg.account.capital_inr,
            max_open_positions=cfg.limits.max_open_positions,
            max_lots=cfg.limits.max_lots,
            lots_per_trade=cfg.account.lots_per_trade,
            flatten_on_breaker=cfg.strategy.breaker.policy == "flatten",
        )


def state_of(halted: bool, reasons: list[str]) -> TradingState:
    """The state: halted for the day, else reducing while any reason stands, else active."""
    if halted:
        return TradingState.HALTED
    return TradingState.REDUCING if reasons else TradingState.ACTIVE


def loss_limit_hit(day_pnl: float, limits: RiskLimits) -> bool:
    """True when the day's PnL (realized, plus open positions marked, less their costs) has
    reached the daily loss limit."""
    return day_pnl <= limits.loss_floor


def breaker_flattens(tripped: bool | int, limits: RiskLimits) -> bool:
    """True when the VIX spike breaker is tripped (a flag, or a 0/1 of a precomputed column)
    and its policy is to flatten."""
    return bool(tripped) and limits.flatten_on_breaker


def entry_refusal(state: TradingState, open_positions: int, limits: RiskLimits) -> str:
    """Why no entry may go out now ("" when one may): the state, or the position cap."""
    if state is not TradingState.ACTIVE:
        return state.value
    if open_positions >= limits.max_open_positions:
        return "position_cap"
    return ""


def order_refusal(state: TradingState, *, reduces: bool) -> str:
    """Why an order may not go out ("" when it may): in any state but ``ACTIVE`` only an order
    that reduces a position (an exit) goes out."""
    if reduces or state is TradingState.ACTIVE:
        return ""
    return f"trading state {state.value}: only exits"


def entry_lots(limits: RiskLimits) -> int:
    """Lots of one entry: the configured lots, capped by ``max_lots``."""
    return min(limits.lots_per_trade, limits.max_lots)
