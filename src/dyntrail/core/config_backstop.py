"""[backstop]: a stop-limit order resting at the exchange for each open position, so that a
crash, a lost connection or a frozen machine never leaves it without protection
(``dyntrail.core.backstop`` prices it, ``dyntrail.engine.backstop`` keeps it). Off by default:
a configuration without the section trades as before."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dyntrail.core.config_marks import PercentTrap

KITE_MODIFICATIONS = 25  # Kite's limit of modifications of one order


class BackstopSection(BaseModel):
    """[backstop]: where the resting stop sits and how it follows the engine's stop.

    ``beyond_pct``: the stop's trigger is this fraction of the underlying beyond the engine's own
    stop (0.002 is 0.2 %: a long's at ``stop * (1 - 0.002)``), mapped to the option's price by
    ``[options] exit_price_method``; the engine's own exit comes first while it runs.
    ``limit_room_pct``: the limit sits this fraction of the trigger beyond it (a sell's below),
    on the tick grid: room for the fall between trigger and fill, inside the exchange's
    limit-price-protection band. ``modify_step_pct``: the engine's stop must tighten by more than
    this fraction of the underlying before the resting stop is modified (each modification
    spends one of ``max_modifications``, at most Kite's 25 per order; once spent the stop stays
    where it is). ``escalate_after_s``: a stop that triggered and has not filled within this
    many seconds is cancelled and the engine sends its own marketable exit."""

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )

    enabled: bool = False
    beyond_pct: Annotated[float, Field(ge=0, le=0.05), PercentTrap(0.05)] = 0.002
    limit_room_pct: Annotated[float, Field(gt=0, lt=1), PercentTrap(0.5)] = 0.1
    modify_step_pct: Annotated[float, Field(ge=0, le=0.05), PercentTrap(0.05)] = 0.0005
    max_modifications: Annotated[int, Field(ge=0, le=KITE_MODIFICATIONS)] = 20
    escalate_after_s: Annotated[float, Field(gt=0, le=600)] = 10.0
