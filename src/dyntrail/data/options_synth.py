"""Option quotes for a backtest: synthesised from a model (underlying + India VIX only) or read
from recorded option data.

Synthetic model (``SyntheticQuotes``), deterministic, no randomness. Inputs: spot S, strike K,
right ω (+1 CE, −1 PE), years to expiry t (ACT/365) and India VIX in percent.

- Forward: ``F = S·e^{(r−q)t}``.
- ATM vol: VIX is a 30-calendar-day implied vol, so ``iv_atm = VIX/100 · term(t)`` with
  ``term(t) = clamp(1 + term_slope·ln(term_ref_days / (365·t)), term_min, term_max)``
  (defaults 0.03, 30 days, [0.85, 1.25]: a 3-day weekly trades at ~1.07×VIX).
- Skew/smile on standardised moneyness ``m = ln(K/F) / (iv_atm·√t)``:
  ``iv = clamp(iv_atm·(1 − skew·m + smile·m²), iv_min_mult·iv_atm, iv_max_mult·iv_atm)``
  (defaults 0.08, 0.02, [0.5, 3]). The vol depends on the strike, not the right, so a call and a
  put at one strike share it and put–call parity holds exactly on the model price.
- Model price ``theo``: Black–Scholes–Merton at that vol, i.e. Black-76 on F discounted at r —
  the formula of ``dyntrail.core.options.bsm_price`` evaluated with scalar ``math`` (it agrees
  with the vectorised one to rounding). Delta is the spot delta ``e^{−qt}·ω·N(ωd1)``.
- Half-spread ``h = max(tick, spread_pct·theo·VIX/vix_ref)``, and at least
  ``cheap_half_spread_ticks`` ticks when ``theo < cheap_price`` (cheap options quote wider in
  percent). Defaults: spread_pct 0.0005 at vix_ref 15, so an ATM weekly worth ~120 at VIX 14 is
  0.15–0.20 wide; options under 20 are at least 4 ticks wide.
- ``last = max(round_nearest(theo), tick)``; ``bid = max(round_down(theo − h), 0)`` (0 = no bid,
  which happens when ``theo − h < tick``); ``ask = round_up(theo + h)``, raised if needed to one
  tick above both bid and last. Hence ``bid < last < ask`` and every price is on the tick grid.
- Expired (``t <= 0``): ``theo`` is the intrinsic value ``max(ω(S − K), 0)``, iv is NaN and
  delta is the payoff slope (±1 in the money, ±0.5 exactly at the strike, 0 out of the money,
  as in ``core.options``); the spread rules above still apply.

Recorded data (``RecordedQuotes``): rows of ``options.csv|.parquet`` looked up as of a time with
no lookahead; see the class.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dyntrail.core.fast_init import fast_init
from dyntrail.core.options import DAYS_PER_YEAR, OptionRight
from dyntrail.core.order_pricing import TickRounding, nearest_on_grid, on_grid
from dyntrail.errors import DataError

_INF = math.inf
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_DOWN, _UP, _NEAREST = TickRounding.DOWN, TickRounding.UP, TickRounding.NEAREST


@fast_init  # one is made on every bar a position is held
@dataclass(frozen=True, slots=True)
class OptionQuote:
    """One option quote. ``bid`` 0 means no bid. ``iv`` (decimal) and ``delta`` are NaN when
    unknown (recorded data, expired contracts)."""

    bid: float
    ask: float
    last: float
    iv: float
    delta: float

    @property
    def mid(self) -> float:
        """``(bid + ask) / 2`` (with no bid this is half the ask)."""
        return 0.5 * (self.bid + self.ask)


@dataclass(frozen=True, slots=True)
class QuoteModelParams:
    """Parameters of the synthetic quote model (formulas in the module docstring).

    - ``r`` 0.065, ``q`` 0.0: continuously compounded rate and dividend yield (decimals).
    - ``tick`` 0.05: price grid.
    - ``term_slope`` 0.03, ``term_ref_days`` 30, ``term_min`` 0.85, ``term_max`` 1.25: term
      adjustment of VIX to the expiry's ATM vol (``term_min <= 1 <= term_max``).
    - ``skew`` 0.08, ``smile`` 0.02 (>= 0), ``iv_min_mult`` 0.5, ``iv_max_mult`` 3.0: strike
      dependence of the vol and its bounds as multiples of the ATM vol.
    - ``spread_pct`` 0.0005, ``vix_ref`` 15: half-spread as a fraction of price at VIX = vix_ref,
      scaled linearly with VIX; never under one tick.
    - ``cheap_price`` 20, ``cheap_half_spread_ticks`` 2: options below ``cheap_price`` have a
      half-spread of at least that many ticks.
    Invalid values raise ValueError.
    """

    r: float = 0.065
    q: float = 0.0
    tick: float = 0.05
    term_slope: float = 0.03
    term_ref_days: float = 30.0
    term_min: float = 0.85
    term_max: float = 1.25
    skew: float = 0.08
    smile: float = 0.02
    iv_min_mult: float = 0.5
    iv_max_mult: float = 3.0
    spread_pct: float = 0.0005
    vix_ref: float = 15.0
    cheap_price: float = 20.0
    cheap_half_spread_ticks: float = 2.0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} {value!r} must be a number")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        rules = (
            (self.tick > 0, "tick > 0"),
            (self.term_ref_days > 0, "term_ref_days > 0"),
            (0 < self.term_min <= 1 <= self.term_max, "0 < term_min <= 1 <= term_max"),
            (self.smile >= 0, "smile >= 0"),
            (0 < self.iv_min_mult <= 1 <= self.iv_max_mult, "0 < iv_min_mult <= 1 <= iv_max_mult"),
            (self.spread_pct >= 0 and self.vix_ref > 0, "spread_pct >= 0 and vix_ref > 0"),
            (self.cheap_price >= 0, "cheap_price >= 0"),
            (self.cheap_half_spread_ticks >= 0, "cheap_half_spread_ticks >= 0"),
        )
        broken = [rule for ok, rule in rules if not ok]
        if broken:
            raise ValueError(f"quote model parameters must satisfy {'; '.join(broken)}: {self}")


class SyntheticQuotes:
    """Deterministic option quotes from spot and VIX (see the module docstring). The scalar path
    uses only ``math``: it is meant to be called once per bar per open position."""

    __slots__ = ("_cheap", "_cheap_half", "_p", "_spread_k", "_term_ref_years")

    def __init__(self, params: QuoteModelParams | None = None) -> None:
        p = params if params is not None else QuoteModelParams()
        self._p = p
        self._term_ref_years = p.term_ref_days / DAYS_PER_YEAR
        self._spread_k = p.spread_pct / p.vix_ref
        self._cheap = p.cheap_price
        self._cheap_half = p.cheap_half_spread_ticks * p.tick

    @property
    def params(self) -> QuoteModelParams:
        """The model's parameters."""
        return self._p

    def model_iv(self, spot: float, strike: float, t_years: float, vix: float) -> float:
        """The model vol (decimal) for a strike; NaN when ``t_years <= 0``."""
        _validate(spot, strike, t_years, vix)
        return self._iv(spot, strike, t_years, vix)

    def theo(
        self, spot: float, strike: float, right: OptionRight, t_years: float, vix: float
    ) -> float:
        """The unrounded model price (intrinsic value when ``t_years <= 0``)."""
        _validate(spot, strike, t_years, vix)
        return self._price(spot, strike, right, t_years, self._iv(spot, strike, t_years, vix))[0]

    def quote(
        self, spot: float, strike: float, right: OptionRight, t_years: float, vix: float
    ) -> OptionQuote:
        """Bid, ask, last, model vol and spot delta. Raises ValueError for spot, strike or VIX
        not finite and > 0, or a non-finite ``t_years``."""
        _validate(spot, strike, t_years, vix)
        p = self._p
        theo, iv, delta = self._theo(spot, strike, right, t_years, vix, True)
        tick = p.tick  # valid: checked when the parameters were made
        half = self._spread_k * theo * vix
        if half < tick:
            half = tick
        if theo < self._cheap and half < self._cheap_half:
            half = self._cheap_half
        last = on_grid(theo, tick, _NEAREST) if theo >= 0.5 * tick else tick
        low = theo - half
        bid = on_grid(low, tick, _DOWN) if low >= tick else 0.0
        ask = on_grid(theo + half, tick, _UP)
        floor = (last if last > bid else bid) + tick
        if ask < floor - 1e-9 * tick:
            ask = on_grid(floor, tick, _NEAREST)
        return OptionQuote(bid, ask, last, iv, delta)

    def last(
        self, spot: float, strike: float, right: OptionRight, t_years: float, vix: float
    ) -> float:
        """``quote(...).last`` alone, the same float (and the same errors), without the bid,
        the ask and the delta: a position's mark on every bar it is held."""
        _validate(spot, strike, t_years, vix)
        theo = self._theo(spot, strike, right, t_years, vix, False)[0]
        tick = self._p.tick
        return on_grid(theo, tick, _NEAREST) if theo >= 0.5 * tick else tick

    def last_fn(self, strike: float, right: OptionRight) -> Callable[[float, float, float], float]:
        """``last`` of one contract as a function of ``(spot, t_years, vix)``: the same floats
        and the same errors, with the contract and the model's constants bound once (a held
        position's mark, bar after bar)."""
        if right == "CE":
            w = 1.0
        elif right == "PE":
            w = -1.0
        else:
            raise ValueError(f"right must be 'CE' or 'PE', got {right!r}")
        if not 0 < strike < _INF:  # every call's error, as ``last`` gives it
            return lambda spot, t, vix: self.last(spot, strike, right, t, vix)
        p = self._p
        slope, t_min, t_max, ref = p.term_slope, p.term_min, p.term_max, self._term_ref_years
        carry, neg_r = p.r - p.q, -p.r
        skew, smile, m_min, m_max = p.skew, p.smile, p.iv_min_mult, p.iv_max_mult
        tick = p.tick
        half_tick = 0.5 * tick
        nearest = nearest_on_grid(tick)
        log, exp, sqrt, erfc, inv_sqrt2 = math.log, math.exp, math.sqrt, math.erfc, _INV_SQRT2

        def last(spot: float, t: float, vix: float) -> float:
            # ``_validate``, then ``_theo`` (``_price`` where ``t <= 0``), written out
            if not (0 < spot < _INF and 0 < vix < _INF and -_INF < t < _INF):
                _validate(spot, strike, t, vix)
            if t <= 0.0:
                payoff = w * (spot - strike)
                theo = payoff if payoff > 0 else 0.0
            else:
                term = 1.0 + slope * log(ref / t)
                term = t_min if term < t_min else t_max if term > t_max else term
                atm = vix * 0.01 * term
                f = spot * exp(carry * t)
                sqrt_t = sqrt(t)
                m = log(strike / f) / (atm * sqrt_t)
                mult = 1.0 - skew * m + smile * m * m
                if mult < m_min:
                    mult = m_min
                elif mult > m_max:
                    mult = m_max
                std = atm * mult * sqrt_t
                d1 = log(f / strike) / std + 0.5 * std
                n1 = 0.5 * erfc(-(w * d1) * inv_sqrt2)
                n2 = 0.5 * erfc(-(w * (d1 - std)) * inv_sqrt2)
                live = w * (f * n1 - strike * n2)
                theo = exp(neg_r * t) * (live if live > 0 else 0.0)
            return nearest(theo) if theo >= half_tick else tick

        return last

    def _theo(
        self, spot: float, strike: float, right: OptionRight, t: float, vix: float, delta: bool
    ) -> tuple[float, float, float]:
        """(model price, model vol, spot delta; NaN unless ``delta``) of validated inputs:
        ``_iv`` then ``_price``, written out, the forward and √t made once."""
        p = self._p
        if t <= 0.0:
            theo, spot_delta = self._price(spot, strike, right, t, math.nan)
            return theo, math.nan, spot_delta
        term = 1.0 + p.term_slope * math.log(self._term_ref_years / t)
        term = p.term_min if term < p.term_min else p.term_max if term > p.term_max else term
        atm = vix * 0.01 * term
        f = spot * math.exp((p.r - p.q) * t)
        sqrt_t = math.sqrt(t)
        m = math.log(strike / f) / (atm * sqrt_t)
        mult = 1.0 - p.skew * m + p.smile * m * m
        if mult < p.iv_min_mult:
            mult = p.iv_min_mult
        elif mult > p.iv_max_mult:
            mult = p.iv_max_mult
        iv = atm * mult
        if right == "CE":
            w = 1.0
        elif right == "PE":
            w = -1.0
        else:
            raise ValueError(f"right must be 'CE' or 'PE', got {right!r}")
        std = iv * sqrt_t
        d1 = math.log(f / strike) / std + 0.5 * std
        n1 = 0.5 * math.erfc(-(w * d1) * _INV_SQRT2)
        n2 = 0.5 * math.erfc(-(w * (d1 - std)) * _INV_SQRT2)
        live = w * (f * n1 - strike * n2)
        theo = math.exp(-p.r * t) * (live if live > 0 else 0.0)
        return theo, iv, (math.exp(-p.q * t) * w * n1 if delta else math.nan)

    def _iv(self, spot: float, strike: float, t: float, vix: float) -> float:
        if t <= 0.0:
            return math.nan
        p = self._p
        term = 1.0 + p.term_slope * math.log(self._term_ref_years / t)
        term = p.term_min if term < p.term_min else p.term_max if term > p.term_max else term
        atm = vix * 0.01 * term
        m = math.log(strike / (spot * math.exp((p.r - p.q) * t))) / (atm * math.sqrt(t))
        mult = 1.0 - p.skew * m + p.smile * m * m
        if mult < p.iv_min_mult:
            mult = p.iv_min_mult
        elif mult > p.iv_max_mult:
            mult = p.iv_max_mult
        return atm * mult

    def _price(
        self, spot: float, strike: float, right: OptionRight, t: float, iv: float
    ) -> tuple[float, float]:
        """(price, spot delta), in the operation order of ``core.options.bsm_price``."""
        if right == "CE":  # OptionRight is a StrEnum: the plain strings work too
            w = 1.0
        elif right == "PE":
            w = -1.0
        else:
            raise ValueError(f"right must be 'CE' or 'PE', got {right!r}")
        if t <= 0.0:
            payoff = w * (spot - strike)
            slope = 0.5 if spot == strike else 1.0 if payoff > 0 else 0.0
            return (payoff if payoff > 0 else 0.0), (w * slope if slope else 0.0)
        p = self._p
        f = spot * math.exp((p.r - p.q) * t)
        std = iv * math.sqrt(t)
        d1 = math.log(f / strike) / std + 0.5 * std
        n1 = 0.5 * math.erfc(-(w * d1) * _INV_SQRT2)
        n2 = 0.5 * math.erfc(-(w * (d1 - std)) * _INV_SQRT2)
        live = w * (f * n1 - strike * n2)
        price = math.exp(-p.r * t) * (live if live > 0 else 0.0)
        return price, math.exp(-p.q * t) * w * n1


def _validate(spot: float, strike: float, t_years: float, vix: float) -> None:
    if not (0 < spot < _INF and 0 < strike < _INF and 0 < vix < _INF and -_INF < t_years < _INF):
        raise ValueError(
            f"spot, strike and vix must be finite and > 0 and t_years finite; got spot={spot}, "
            f"strike={strike}, vix={vix}, t_years={t_years}"
        )


# --------------------------------------------------------------------------- recorded quotes

_KEY_COLUMNS = ("timestamp", "expiry", "strike", "right")
_PRICE_COLUMNS = ("open", "high", "low", "close", "bid", "ask")
_Key = tuple[dt.date, float, OptionRight]
_EPOCH = dt.datetime(1970, 1, 1)
_SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class _Series:
    """One contract's rows in time order: bar starts (seconds since the epoch, naive exchange
    time) and the quote fields."""

    ts: NDArray[np.int64]
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]
    last: NDArray[np.float64]


def _where(source: str, i: int) -> str:
    """Data row ``i`` (0-based) as a person finds it: CSV line (header = line 1) or Parquet row."""
    return f"{source}: row {i + 1}" if source.endswith(".parquet") else f"{source}: line {i + 2}"


def _first(mask: NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _reject(mask: NDArray[np.bool_], source: str, problem: Callable[[int], str]) -> None:
    """DataError naming the first row where ``mask`` is set and ``problem(row)``."""
    if mask.any():
        i = _first(mask)
        raise DataError(f"{_where(source, i)}: {problem(i)}")


def _to_naive(values: pd.Series, tz: str, what: str, source: str) -> pd.Series:
    """Parse datetimes; aware ones (any offsets) are converted to ``tz`` and made naive. A column
    mixing naive and aware values is an error (a naive value has no offset to convert by)."""
    try:
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    except ValueError:  # mixed offsets, or naive and aware mixed
        naive = ~values.astype(str).str.strip().str.contains(r"(?:Z|[+-]\d\d:?\d\d)$").to_numpy()
        _reject(
            naive, source, lambda i: f"{what} {values.iloc[i]!r} has no UTC offset but others do"
        )
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    _reject(parsed.isna().to_numpy(), source, lambda i: f"unparsable {what} {values.iloc[i]!r}")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert(tz).dt.tz_localize(None)
    return parsed


def _prices(df: pd.DataFrame, source: str) -> dict[str, NDArray[np.float64]]:
    """Present price columns as float arrays (NaN = empty cell); text, ±inf and negative values
    are errors."""
    out: dict[str, NDArray[np.float64]] = {}
    for c in (c for c in _PRICE_COLUMNS if c in df.columns):
        values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
        bad = (np.isnan(values) & df[c].notna().to_numpy()) | np.isinf(values)
        if bad.any():
            i = _first(bad)
            raise DataError(
                f"{_where(source, i)}: column '{c}' is not a number ({df[c].iloc[i]!r})"
            )
        if (values < 0).any():
            i = _first(values < 0)
            raise DataError(f"{_where(source, i)}: negative {c} {values[i]}")
        out[c] = values
    return out


class RecordedQuotes:
    """Recorded option quotes, looked up as of a time without lookahead.

    Rows are ``timestamp`` (bar start, naive exchange time or aware), ``expiry`` (a date),
    ``strike``, ``right`` (CE/PE) with ``close`` and/or ``bid``/``ask`` (``open``, ``high``,
    ``low``, ``volume``, ``oi`` may be present; prices are checked, not used). A row quotes
    ``bid``/``ask`` when both are present, otherwise ``bid = ask = close``; its ``last`` is
    ``close`` when present, otherwise the mid. Build with ``from_frame``.
    """

    __slots__ = ("_by_expiry", "_series", "source", "tz")

    def __init__(self, series: Mapping[_Key, _Series], source: str, tz: str) -> None:
        self.source = source
        self.tz = tz
        self._series = dict(series)
        self._by_expiry: dict[dt.date, list[tuple[float, OptionRight, _Series]]] = {}
        for (expiry, strike, right), s in sorted(self._series.items()):
            self._by_expiry.setdefault(expiry, []).append((strike, right, s))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, source: str, tz: str = "Asia/Kolkata") -> RecordedQuotes:
        """Validate an options table and index it by contract.

        DataError (naming ``source`` and the CSV line = data row + 2, or the Parquet row) for: a
        missing key column; neither ``close`` nor both ``bid`` and ``ask`` columns; an
        unparsable timestamp or expiry; a right other than CE/PE (any case); a strike not > 0;
        a price that is not a number, infinite or negative; ``bid > ask``; a row with neither a
        close nor both bid and ask; a second row for the same (timestamp, expiry, strike,
        right). Expiries given as datetimes keep their (exchange-time) date.
        """
        try:
            ZoneInfo(tz)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"tz {tz!r} is not an IANA time zone, e.g. 'Asia/Kolkata'") from None
        missing = [c for c in _KEY_COLUMNS if c not in df.columns]
        if missing:
            has = ", ".join(map(str, df.columns))
            raise DataError(f"{source}: missing column(s) {', '.join(missing)} (has: {has})")
        if "close" not in df.columns and not {"bid", "ask"} <= set(df.columns):
            raise DataError(f"{source}: needs a 'close' column or both 'bid' and 'ask' columns")
        df = df.reset_index(drop=True)
        ts = _to_naive(df["timestamp"], tz, "timestamp", source).to_numpy(dtype="datetime64[s]")
        expiry = _to_naive(df["expiry"], tz, "expiry", source).dt.normalize()
        exp_days = expiry.to_numpy(dtype="datetime64[D]")
        rights = df["right"].astype(str).str.strip().str.upper()
        bad_right = ~rights.isin(["CE", "PE"]).to_numpy()
        _reject(bad_right, source, lambda i: f"right {df['right'].iloc[i]!r} is not CE or PE")
        strike = pd.to_numeric(df["strike"], errors="coerce").to_numpy(dtype=np.float64)
        bad_strike = ~(np.isfinite(strike) & (strike > 0))
        _reject(bad_strike, source, lambda i: f"strike {df['strike'].iloc[i]!r} is not > 0")
        strike = np.round(strike, 6)
        p = _prices(df, source)
        nan = np.full(len(df), np.nan)
        bid, ask, close = p.get("bid", nan), p.get("ask", nan), p.get("close", nan)
        two_sided = ~np.isnan(bid) & ~np.isnan(ask)
        _reject(two_sided & (bid > ask), source, lambda i: f"bid {bid[i]} > ask {ask[i]}")
        _reject(~two_sided & np.isnan(close), source, lambda i: "needs a close or bid and ask")
        is_ce = (rights == "CE").to_numpy()
        order = np.lexsort((ts, is_ce, strike, exp_days))
        ts_s, is_ce_s = ts.astype(np.int64)[order], is_ce[order]
        strike_s, exp_s = strike[order], exp_days[order]
        same = (exp_s[1:] == exp_s[:-1]) & (strike_s[1:] == strike_s[:-1])
        same &= is_ce_s[1:] == is_ce_s[:-1]
        dup = same & (ts_s[1:] == ts_s[:-1])
        if dup.any():
            j = _first(dup)
            a, b = sorted((int(order[j]), int(order[j + 1])))
            raise DataError(
                f"{_where(source, b)}: duplicate row for {df['timestamp'].iloc[b]!r} "
                f"{expiry.iloc[b].date()} {strike[b]:g} {rights.iloc[b]} (first at "
                f"{_where(source, a).rsplit(': ', 1)[1]})"
            )
        bid_q = np.where(two_sided, bid, close)[order]
        ask_q = np.where(two_sided, ask, close)[order]
        last_q = np.where(np.isnan(close), 0.5 * (bid + ask), close)[order]
        starts = np.flatnonzero(np.r_[True, ~same])
        ends = np.r_[starts[1:], len(order)]
        series: dict[_Key, _Series] = {}
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            key = (
                _EPOCH.date() + dt.timedelta(days=int(exp_s[s].astype(np.int64))),
                float(strike_s[s]),
                OptionRight.CE if is_ce_s[s] else OptionRight.PE,
            )
            series[key] = _Series(ts_s[s:e], bid_q[s:e], ask_q[s:e], last_q[s:e])
        return cls(series, source, tz)

    def __len__(self) -> int:
        """Number of contracts."""
        return len(self._series)

    @property
    def expiries(self) -> list[dt.date]:
        """The expiries quoted, ascending."""
        return sorted(self._by_expiry)

    def quote(
        self,
        ts: np.datetime64 | dt.datetime,
        expiry: dt.date,
        strike: float,
        right: OptionRight,
        max_age_minutes: int = 5,
    ) -> OptionQuote | None:
        """The contract's latest row with timestamp <= ``ts``, if at most ``max_age_minutes``
        older than ``ts``; None when there is none. iv and delta are NaN.

        ``ts`` is on the rows' clock: naive exchange time (an aware datetime is converted), a bar
        start. The row whose bar starts at ``ts`` is included — its close is known when a bar
        starting at ``ts`` closes; to ask what was known at an instant T, pass T minus the
        options bar length. Raises ValueError for a negative ``max_age_minutes``."""
        now = _seconds(ts, self.tz)
        _check_age(max_age_minutes)
        s = self._series.get((_day(expiry), round(float(strike), 6), OptionRight(right)))
        i = -1 if s is None else _asof(s, now, max_age_minutes)
        if s is None or i < 0:
            return None
        return OptionQuote(float(s.bid[i]), float(s.ask[i]), float(s.last[i]), math.nan, math.nan)

    def strikes_at(
        self,
        ts: np.datetime64 | dt.datetime,
        expiry: dt.date,
        right: OptionRight | None = None,
        max_age_minutes: int = 5,
    ) -> list[float]:
        """Ascending strikes of ``expiry`` with a quote as of ``ts`` (the rule of ``quote``) for
        ``right``, or for either right when ``right`` is None."""
        now = _seconds(ts, self.tz)
        _check_age(max_age_minutes)
        want = None if right is None else OptionRight(right)
        found = {
            strike
            for strike, r, s in self._by_expiry.get(_day(expiry), [])
            if (want is None or r is want) and _asof(s, now, max_age_minutes) >= 0
        }
        return sorted(found)


def _seconds(ts: np.datetime64 | dt.datetime, tz: str) -> int:
    """Seconds since the epoch of a naive exchange time; aware datetimes are converted to ``tz``."""
    if isinstance(ts, dt.datetime):
        if ts.tzinfo is not None and ts.utcoffset() is not None:
            ts = ts.astimezone(ZoneInfo(tz))
        return (ts.replace(tzinfo=None) - _EPOCH) // _SECOND
    if isinstance(ts, np.datetime64):
        return int(ts.astype("datetime64[s]").astype(np.int64))
    raise ValueError(f"ts {ts!r} must be a numpy datetime64 or a datetime")


def _day(expiry: dt.date) -> dt.date:
    return expiry.date() if isinstance(expiry, dt.datetime) else expiry


def _check_age(max_age_minutes: int) -> None:
    if not max_age_minutes >= 0:
        raise ValueError(f"max_age_minutes must be >= 0, got {max_age_minutes}")


def _asof(s: _Series, now: int, max_age_minutes: int) -> int:
    """Index of the last row at or before ``now`` and within the age limit, else -1."""
    i = int(np.searchsorted(s.ts, now, side="right")) - 1
    if i < 0 or now - int(s.ts[i]) > 60 * max_age_minutes:
        return -1
    return i
