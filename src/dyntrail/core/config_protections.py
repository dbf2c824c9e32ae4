"""[protections]: the rules that hold new entries back after losses (``dyntrail.core.protections``
applies them, the same in backtest, paper and live). Every key's 0 switches its rule off, and all
are off by default, so a configuration without the section trades as before."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dyntrail.core.config_marks import PercentTrap, parse_time

Count = Annotated[int, Field(ge=0)]


class ProtectionsSection(BaseModel):
    """[protections]: cooldown after a stop, losing-trade and drawdown lockouts, and a cap on
    entries in one direction; 0 is off.

    ``drawdown_lockout_pct`` is a fraction of ``[account] capital_inr`` (0.01 is 1 %), measured
    from the day's high-water mark of the day's PnL (realized plus open positions as marked).
    ``unlock_at`` (exchange time) releases the day's lockouts (losing trades, drawdown); a lockout
    that starts at or after it lasts the rest of the day."""

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )

    cooldown_after_stop_min: Count = 0  # after a trade closed by its stop: no entry for N minutes
    max_losing_trades: Count = 0  # the N-th losing trade of the day: no entry for the day
    max_same_direction: Count = 0  # at most N entries a day in one direction (long or short)
    drawdown_lockout_pct: Annotated[float, Field(ge=0, le=0.5), PercentTrap(0.5)] = 0.0
    unlock_at: dt.time | None = None  # the day's lockouts release at this time (None: they don't)

    @field_validator("unlock_at", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        """A TOML local time or a "HH:MM[:SS]" string, read as every time of the configuration."""
        if value is None:
            return None
        return parse_time(value)

    @property
    def enabled(self) -> bool:
        """True when any rule is on (a run with none skips the protections altogether)."""
        return bool(
            self.cooldown_after_stop_min
            or self.max_losing_trades
            or self.max_same_direction
            or self.drawdown_lockout_pct
        )
