"""Contract values and their exchange trading symbols (Kite's instrument dump forms)."""

from __future__ import annotations

import datetime as dt

import pytest

from dyntrail.core.contract import Contract
from dyntrail.core.options import OptionRight

D = dt.date


@pytest.mark.parametrize(
    ("contract", "symbol"),
    [
        (Contract("NIFTY", D(2025, 1, 30), 24500.0, OptionRight.CE, 25, True), "NIFTY25JAN24500CE"),
        (Contract("NIFTY", D(2025, 1, 9), 24500.0, OptionRight.CE, 75), "NIFTY2510924500CE"),
        (Contract("NIFTY", D(2025, 10, 7), 25000.0, OptionRight.PE, 75), "NIFTY25O0725000PE"),
        (Contract("NIFTY", D(2025, 11, 4), 25000.0, OptionRight.PE, 75), "NIFTY25N0425000PE"),
        (Contract("NIFTY", D(2025, 12, 23), 26000.0, OptionRight.CE, 75), "NIFTY25D2326000CE"),
        (Contract("BANKNIFTY", D(2025, 12, 30), 59500.0, "PE", 35, True), "BANKNIFTY25DEC59500PE"),
        (
            Contract("NIFTY", D(2024, 12, 26), 23512.5, OptionRight.CE, 25, True),
            "NIFTY24DEC23512.5CE",
        ),
        (Contract("NIFTY", lot=75, monthly=True), "NIFTY"),
    ],
)
def test_symbols(contract: Contract, symbol: str) -> None:
    assert contract.symbol == symbol
    assert contract.is_option == (contract.expiry is not None)


def test_a_half_given_option_or_a_bad_lot_is_refused() -> None:
    with pytest.raises(ValueError, match="expiry, strike and right"):
        Contract("NIFTY", D(2025, 1, 9), None, OptionRight.CE)
    with pytest.raises(ValueError, match="lot"):
        Contract("NIFTY", D(2025, 1, 9), 24500.0, OptionRight.CE, lot=0)
    with pytest.raises(ValueError, match="strike"):
        Contract("NIFTY", D(2025, 1, 9), -5.0, OptionRight.CE)
