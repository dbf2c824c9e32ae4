"""Instruments as Kite's instrument dump lists them, and the CSV the ``/instruments`` route serves.

An instrument token's low byte is the segment the ticker reads prices by (2 for NFO, 9 for
indices): ``option_instruments`` steps tokens by 256 so every row keeps its segment byte, and the
exchange token is the token shifted right by 8, as in Kite's dump.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass

from dyntrail.core.contract import Contract
from dyntrail.core.options import OptionRight

CSV_COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)

NFO_SEGMENT_BYTE = 2
INDICES_SEGMENT_BYTE = 9
DEFAULT_FIRST_OPTION_TOKEN = (40_000 << 8) | NFO_SEGMENT_BYTE  # 10240002


@dataclass(frozen=True, slots=True)
class Instrument:
    """One row of Kite's instrument dump."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    last_price: float = 0.0
    expiry: dt.date | None = None
    strike: float = 0.0
    tick_size: float = 0.05
    lot_size: int = 1
    instrument_type: str = "EQ"
    segment: str = "NSE"
    exchange: str = "NSE"

    @property
    def is_index(self) -> bool:
        return self.segment == "INDICES"

    @property
    def key(self) -> str:
        """``EXCHANGE:TRADINGSYMBOL``, the form the quote routes take and answer by."""
        return f"{self.exchange}:{self.tradingsymbol}"

    def csv_row(self) -> list[str]:
        return [
            str(self.instrument_token),
            str(self.exchange_token),
            self.tradingsymbol,
            self.name,
            _num(self.last_price),
            self.expiry.isoformat() if self.expiry else "",
            _num(self.strike),
            _num(self.tick_size),
            str(self.lot_size),
            self.instrument_type,
            self.segment,
            self.exchange,
        ]


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(float(x))


def _index(token: int, exchange_token: int, name: str) -> Instrument:
    return Instrument(
        instrument_token=token,
        exchange_token=exchange_token,
        tradingsymbol=name,
        name=name,
        tick_size=0.0,
        lot_size=0,
        instrument_type="EQ",
        segment="INDICES",
        exchange="NSE",
    )


def index_instruments() -> list[Instrument]:
    """NIFTY 50, NIFTY BANK and INDIA VIX with their real Kite tokens (always served)."""
    return [
        _index(256265, 1001, "NIFTY 50"),
        _index(260105, 1016, "NIFTY BANK"),
        _index(264969, 1035, "INDIA VIX"),
    ]


def option_instruments(
    underlying: str = "NIFTY",
    *,
    expiry: dt.date,
    strikes: Iterable[float],
    lot: int = 75,
    monthly: bool = False,
    first_token: int = DEFAULT_FIRST_OPTION_TOKEN,
    tick_size: float = 0.05,
    exchange: str = "NFO",
) -> list[Instrument]:
    """A CE and a PE row per strike (CE first), symbols as the project's ``Contract`` renders
    them (weekly ``NIFTY2510924000CE``, monthly ``NIFTY25JAN24000CE``). Tokens start at
    ``first_token`` and step by 256 (the low byte, the segment, stays)."""
    rows: list[Instrument] = []
    token = first_token
    for strike in strikes:
        for right in (OptionRight.CE, OptionRight.PE):
            symbol = Contract(underlying, expiry, float(strike), right, lot, monthly).symbol
            rows.append(
                Instrument(
                    instrument_token=token,
                    exchange_token=token >> 8,
                    tradingsymbol=symbol,
                    name=underlying,
                    expiry=expiry,
                    strike=float(strike),
                    tick_size=tick_size,
                    lot_size=lot,
                    instrument_type=right.value,
                    segment=f"{exchange}-OPT",
                    exchange=exchange,
                )
            )
            token += 256
    return rows


def instruments_csv(rows: Iterable[Instrument]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(row.csv_row())
    return out.getvalue()
