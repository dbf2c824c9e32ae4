"""Kite's instruments dump through the official client against the fake Kite: read once a day
(a restart the same day reads the kept copy), contracts resolved to Kite's symbols and tokens,
and a contract Kite does not list, or lists with another lot, refused by name."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from kiteconnect import KiteConnect
from replay import DAY, INDIA_VIX, NIFTY_50

from dyntrail.core.contract import Contract
from dyntrail.core.options import OptionRight
from dyntrail.errors import DataError
from dyntrail.live.instruments import Instruments
from fakekite import FakeKite


def client(fake: FakeKite) -> KiteConnect:
    return KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)


def dump_reads(fake: FakeKite) -> int:
    return sum(1 for _, m, p, _ in fake.requests if m == "GET" and p.startswith("/instruments"))


def test_the_dump_is_read_once_a_day_and_kept(fake: FakeKite, tmp_path: Path) -> None:
    first = Instruments.load(client(fake), tmp_path, DAY)
    reads = dump_reads(fake)
    assert reads == 2  # NFO and NSE, once each
    again = Instruments.load(client(fake), tmp_path, DAY)  # a restart, the same day
    assert dump_reads(fake) == reads
    assert again.by_symbol == first.by_symbol
    assert (tmp_path / f"instruments-{DAY.isoformat()}.csv").exists()
    Instruments.load(client(fake), tmp_path, DAY + dt.timedelta(days=1))  # the next day: anew
    assert dump_reads(fake) == 2 * reads
    assert (first.index("NIFTY").token, first.vix().token) == (NIFTY_50, INDIA_VIX)


def test_a_contract_resolves_to_kites_symbol_token_and_lot(fake: FakeKite, tmp_path: Path) -> None:
    listed = Instruments.load(client(fake), tmp_path, DAY)
    row = next(r for r in fake.exchange.instruments.values() if r.instrument_type == "CE")
    monthly = row.tradingsymbol[7:10].isalpha()  # NIFTY25JAN..: the month's monthly
    contract = Contract(
        "NIFTY", row.expiry, float(row.strike), OptionRight.CE, row.lot_size, monthly
    )
    got = listed.option(contract)
    assert (got.symbol, got.token, got.lot) == (
        row.tradingsymbol, row.instrument_token, row.lot_size
    )  # fmt: skip

    other_lot = dataclasses.replace(contract, lot=row.lot_size * 2)
    with pytest.raises(DataError, match=rf"{row.tradingsymbol}: Kite lists lot {row.lot_size}"):
        listed.option(other_lot)
    unlisted = dataclasses.replace(contract, strike=float(row.strike) + 12_000)
    with pytest.raises(DataError, match=rf"list no {unlisted.symbol}"):
        listed.option(unlisted)
