"""Strikes, time to expiry and the gap-morning strike choice of index options.

Pure: the clock comes in as ``now``. ``dyntrail.core.contracts`` re-exports these names.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _positive(value: float, what: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{what} {value!r} must be a finite number > 0")


# --------------------------------------------------------------------------- strikes


def atm_strike(price: float, strike_step: float) -> float:
    """The strike nearest ``price`` on the ``strike_step`` grid. A price exactly midway between two
    strikes goes up (22525 with step 50 -> 22550); "exactly" allows 1e-9 steps of float noise."""
    _positive(price, "price")
    _positive(strike_step, "strike_step")
    n = math.floor(price / strike_step + 0.5 + 1e-9)
    return round(n * strike_step, 10)


def candidate_strikes(price: float, strike_step: float, width: int) -> tuple[float, ...]:
    """ATM and ``width`` strikes either side, ascending; strikes <= 0 are left out."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 0:
        raise ValueError(f"width {width!r} must be an integer >= 0")
    atm = atm_strike(price, strike_step)
    strikes = (round(atm + k * strike_step, 10) for k in range(-width, width + 1))
    return tuple(k for k in strikes if k > 0)


# --------------------------------------------------------------------------- time to expiry


def time_to_expiry_years(
    now: dt.datetime,
    expiry: dt.date,
    tz: str = "Asia/Kolkata",
    close: dt.time = dt.time(15, 30),
    basis_days: float = 365.0,
) -> float:
    """Years from ``now`` to the close of ``expiry`` in exchange time ``tz``.

    Convention: calendar time, ACT/365 — elapsed minutes / (365·24·60), nights and weekends
    included. At 09:15 on expiry day this is 375 / 525600. 0.0 at or after the expiry close.
    ``now`` must be timezone-aware (any zone; it is compared as an instant), else ValueError.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} is naive: pass a timezone-aware datetime")
    _positive(basis_days, "basis_days")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"tz {tz!r} is not an IANA time zone, e.g. 'Asia/Kolkata'") from None
    expiry_close = dt.datetime.combine(expiry, close, tzinfo=zone)
    seconds = (expiry_close - now).total_seconds()
    return max(seconds, 0.0) / (basis_days * 86400.0)


# --------------------------------------------------------------------------- gap-morning strike


@dataclass(frozen=True, slots=True)
class StrikeQuote:
    """One candidate option: strike, model delta (calls > 0, puts < 0), best bid and ask, and
    optionally traded volume and open interest."""

    strike: float
    delta: float
    bid: float
    ask: float
    volume: int | None = None
    oi: int | None = None

    def __post_init__(self) -> None:
        _positive(self.strike, "strike")
        if not (math.isfinite(self.delta) and -1.0 <= self.delta <= 1.0):
            raise ValueError(f"delta {self.delta!r} at strike {self.strike} must be in [-1, 1]")
        for name in ("bid", "ask"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} {v!r} at strike {self.strike} must be finite and >= 0")
        for name in ("volume", "oi"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} {v!r} at strike {self.strike} must be >= 0 or None")

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def spread_pct(self) -> float:
        """(ask - bid) / mid; infinite when the mid is 0."""
        return (self.ask - self.bid) / self.mid if self.mid > 0 else math.inf


def choose_gap_strike(
    quotes: Iterable[StrikeQuote],
    atm: float,
    *,
    max_spread_pct: float = 0.05,
    target_abs_delta: float = 0.5,
    min_volume: int = 0,
    min_oi: int = 0,
) -> StrikeQuote | None:
    """The strike to trade on a gap morning, when the ATM strike by price may not be the option
    that behaves like ATM.

    Liquid: bid > 0, ask > bid, spread_pct <= ``max_spread_pct`` (a fraction of mid: 0.05 = 5 %),
    and, when ``min_volume`` / ``min_oi`` are > 0, a known volume / OI at least that (unknown
    fails). Among liquid quotes choose by, in order: |abs(delta) - target_abs_delta| smallest,
    spread_pct smallest, |strike - atm| smallest, lower strike. Keys are compared after rounding
    to 9 decimals so float noise does not break ties. None when no quote is liquid.
    """
    _positive(max_spread_pct, "max_spread_pct")
    if not 0.0 < target_abs_delta < 1.0:
        raise ValueError(f"target_abs_delta {target_abs_delta!r} must be in (0, 1)")

    def liquid(q: StrikeQuote) -> bool:
        if not (q.bid > 0 and q.ask > q.bid and q.spread_pct <= max_spread_pct):
            return False
        if min_volume > 0 and (q.volume is None or q.volume < min_volume):
            return False
        return not (min_oi > 0 and (q.oi is None or q.oi < min_oi))

    def key(q: StrikeQuote) -> tuple[float, float, float, float]:
        return (
            round(abs(abs(q.delta) - target_abs_delta), 9),
            round(q.spread_pct, 9),
            round(abs(q.strike - atm), 9),
            q.strike,
        )

    return min(filter(liquid, quotes), key=key, default=None)
