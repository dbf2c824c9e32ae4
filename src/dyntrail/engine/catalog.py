"""The contracts one underlying has traded or quoted, each looked up once: a contract's facts
(lot, weekly or monthly, trading symbol) never change, and the engine asks for them on every
bar a position is held."""

from __future__ import annotations

import datetime as dt

from dyntrail.core.contract import Contract
from dyntrail.core.contracts import is_monthly_expiry
from dyntrail.core.options import OptionRight
from dyntrail.engine.context import Run


class Catalog:
    """Contracts by (expiry, strike, right); the underlying itself by day (its lot is dated)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._known: dict[tuple[dt.date, float | None, str], Contract] = {}
        self._expiries: dict[dt.date, tuple[bool, int]] = {}  # expiry -> (monthly, lot)

    def option(self, expiry: dt.date, strike: float, right: OptionRight | str) -> Contract:
        """The option of ``expiry`` (its own lot, weekly or monthly)."""
        key = (expiry, strike, str(right))
        contract = self._known.get(key)
        if contract is None:
            monthly, lot = self.expiry_facts(expiry)
            underlying = self.run.spec.underlying
            contract = Contract(underlying, expiry, strike, OptionRight(right), lot, monthly)
            self._known[key] = contract
        return contract

    def expiry_facts(self, expiry: dt.date) -> tuple[bool, int]:
        """Whether ``expiry`` is the month's monthly, and its contracts' lot (every strike of
        an expiry shares them: worked out once)."""
        facts = self._expiries.get(expiry)
        if facts is None:
            spec = self.run.spec
            monthly = is_monthly_expiry(spec, expiry, self.run.trading_days)
            facts = self._expiries[expiry] = (monthly, spec.contract_lot(expiry, monthly=monthly))
        return facts

    def underlying(self, day: dt.date) -> Contract:
        """The underlying traded as futures on ``day`` (the nearest monthly's lot)."""
        key = (day, None, "")
        contract = self._known.get(key)
        if contract is None:
            spec = self.run.spec
            lot = spec.futures_lot_size_on(day)
            contract = self._known[key] = Contract(spec.underlying, lot=lot, monthly=True)
        return contract
