"""One tradable contract as a value, and the trading symbol the exchange (and Kite) gives it.

NSE's symbols for index options, as Kite's instrument dump lists them:

- the **monthly** contract: underlying, two-digit year, three-letter month, strike, right:
  ``NIFTY25JAN24500CE``;
- a **weekly** contract: underlying, two-digit year, the month as one character (``1`` to ``9``
  for January to September, ``O``, ``N``, ``D`` for October to December), the two-digit day,
  strike, right: ``NIFTY2510924500CE`` expires 2025-01-09, ``NIFTY25D2424500PE`` 2025-12-24.

Which of the two a contract is comes from the expiry calendar (``is_monthly_expiry``: the
month's last expiry by its nominal day), not from the date alone. The underlying itself (trading
the index, ``trade = "underlying"``) is named by the underlying's name.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from dyntrail.core.options import OptionRight

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKLY_MONTH = "123456789OND"


@dataclass(frozen=True, slots=True)
class Contract:
    """An index option (``expiry``, ``strike``, ``right`` given) or the underlying itself (all
    three None). ``lot`` is the contract's own lot size; ``monthly`` whether it is the month's
    monthly contract (it decides the symbol's form). ``symbol`` is the exchange's trading
    symbol (see the module docstring), written once."""

    underlying: str
    expiry: dt.date | None = None
    strike: float | None = None
    right: OptionRight | None = None
    lot: int = 1
    monthly: bool = False
    symbol: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        option = (self.expiry, self.strike, self.right)
        if any(x is None for x in option) and any(x is not None for x in option):
            raise ValueError(f"an option needs expiry, strike and right; got {option!r}")
        if self.strike is not None and not (math.isfinite(self.strike) and self.strike > 0):
            raise ValueError(f"strike {self.strike!r} must be a finite number > 0")
        if isinstance(self.lot, bool) or not isinstance(self.lot, int) or self.lot <= 0:
            raise ValueError(f"lot {self.lot!r} must be a positive integer")
        if self.right is not None:
            object.__setattr__(self, "right", OptionRight(self.right))
        object.__setattr__(self, "symbol", self._symbol())

    @property
    def is_option(self) -> bool:
        return self.expiry is not None

    def _symbol(self) -> str:
        if self.expiry is None or self.strike is None or self.right is None:
            return self.underlying
        e = self.expiry
        if self.monthly:
            when = f"{e.year % 100:02d}{_MONTHS[e.month - 1]}"
        else:
            when = f"{e.year % 100:02d}{_WEEKLY_MONTH[e.month - 1]}{e.day:02d}"
        return f"{self.underlying}{when}{_strike_text(self.strike)}{self.right.value}"


def _strike_text(strike: float) -> str:
    """A whole strike without decimals (24500), another as written (24512.5)."""
    return str(int(strike)) if strike == int(strike) else f"{strike:g}"
