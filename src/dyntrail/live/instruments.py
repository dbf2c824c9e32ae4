"""Kite's instruments dump, read once a day: each option contract the engine chooses becomes a
Kite trading symbol and instrument token (the contract renders the symbol; the dump confirms it
exists and gives its token, lot and tick), and each index the feed needs its token.

The dump is kept in the state folder as ``instruments-<day>.csv``: a restart on the same day does
not ask for it again."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dyntrail.core.contract import Contract
from dyntrail.errors import DataError

# the index each underlying follows, as Kite names it (exchange NSE, segment INDICES)
INDEX_SYMBOLS = {
    "NIFTY": "NIFTY 50",
    "BANKNIFTY": "NIFTY BANK",
    "FINNIFTY": "NIFTY FIN SERVICE",
    "MIDCPNIFTY": "NIFTY MID SELECT",
    "SENSEX": "SENSEX",
}
VIX_SYMBOL = "INDIA VIX"
_COLUMNS = (
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


@dataclass(frozen=True, slots=True)
class Listed:
    """One instrument of the dump: what an order and a subscription need."""

    token: int
    symbol: str
    exchange: str
    name: str  # the underlying's name for a derivative (NIFTY), the index's for an index
    lot: int
    tick: float
    expiry: dt.date | None
    strike: float | None


class Instruments:
    """The day's dump, by trading symbol (see the module docstring)."""

    def __init__(self, rows: Iterable[Mapping[str, Any]], day: dt.date) -> None:
        self.day = day
        self.by_symbol: dict[str, Listed] = {}
        for r in rows:
            expiry = r.get("expiry")
            if isinstance(expiry, str):
                expiry = dt.date.fromisoformat(expiry) if expiry else None
            elif isinstance(expiry, dt.datetime):
                expiry = expiry.date()
            strike = float(r.get("strike") or 0.0)
            listed = Listed(
                token=int(r["instrument_token"]),
                symbol=str(r["tradingsymbol"]),
                exchange=str(r["exchange"]),
                name=str(r.get("name") or ""),
                lot=int(float(r.get("lot_size") or 1)),
                tick=float(r.get("tick_size") or 0.05),
                expiry=expiry or None,
                strike=strike or None,
            )
            self.by_symbol.setdefault(listed.symbol, listed)
        self.by_token = {x.token: x for x in self.by_symbol.values()}

    @classmethod
    def load(cls, kite: Any, folder: Path, day: dt.date) -> Instruments:
        """The day's dump from ``folder``, or from Kite (NFO options and NSE indices) once."""
        path = folder / f"instruments-{day.isoformat()}.csv"
        if not path.exists():
            rows = [*kite.instruments("NFO"), *kite.instruments("NSE")]
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with tmp.open("w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=_COLUMNS, extrasaction="ignore")
                w.writeheader()
                for r in rows:
                    w.writerow({**r, "expiry": r.get("expiry") or ""})
            tmp.replace(path)
        with path.open(newline="", encoding="utf-8") as fh:
            return cls(list(csv.DictReader(fh)), day)

    def option(self, contract: Contract) -> Listed:
        """The listed option for ``contract``; a DataError when Kite does not list it or lists
        another lot (lot sizes change: the dump is the truth, and a wrong lot is a wrong order)."""
        found = self.by_symbol.get(contract.symbol)
        if found is None:
            raise DataError(
                f"Kite's instruments of {self.day} list no {contract.symbol} (expiry "
                f"{contract.expiry}, strike {contract.strike}): check the expiry calendar in "
                "the config against the exchange's"
            )
        if contract.lot != found.lot:
            raise DataError(
                f"{contract.symbol}: Kite lists lot {found.lot}, the config's contract terms say "
                f"{contract.lot} on {self.day}: update the instrument's lot schedule"
            )
        return found

    def options_near(
        self, underlying: str, day: dt.date, spot: float, width: float, expiries: int = 2
    ) -> list[Listed]:
        """The options of ``underlying`` of its next ``expiries`` expiries (on or after
        ``day``) with a strike within ``width`` of ``spot``: what the feed subscribes to."""
        mine = [
            x
            for x in self.by_symbol.values()
            if x.name == underlying and x.expiry is not None and x.expiry >= day and x.strike
        ]
        ahead = sorted({x.expiry for x in mine if x.expiry is not None})[:expiries]
        return [
            x
            for x in mine
            if x.expiry in ahead and x.strike is not None and abs(x.strike - spot) <= width
        ]

    def index(self, underlying: str) -> Listed:
        """The index an underlying follows (``NIFTY`` -> ``NIFTY 50``)."""
        name = INDEX_SYMBOLS.get(underlying.upper(), underlying)
        return self._named(name, f"the index of {underlying}")

    def vix(self) -> Listed:
        return self._named(VIX_SYMBOL, "the India VIX")

    def _named(self, name: str, what: str) -> Listed:
        found = self.by_symbol.get(name)
        if found is None:
            raise DataError(f"Kite's instruments of {self.day} list no {name!r} ({what})")
        return found
