"""European option pricing: Black-76 on a forward, Black–Scholes–Merton on spot, greeks, implied
volatility and the forward of a weekly index expiry.

Conventions shared by every function here:

- Inputs are scalars or numpy arrays and broadcast against each other; the right is one
  ``OptionRight`` (or its string) per call. Results are float64 arrays (0-d for all-scalar
  inputs: ``float(result)`` gives a Python float).
- ``t_years`` is year fractions on a 365-day calendar; ``vol``, ``r`` and ``q`` are decimals
  (0.15 = 15 %), continuously compounded.
- Validation raises ``ValueError`` for strikes, forwards or spots <= 0, ``vol`` <= 0 and
  ``t_years`` < 0. NaN inputs are not errors: they give NaN in the matching positions.
- At expiry (``t_years == 0``) a price is the payoff ``max(±(F − K), 0)``; delta is the payoff's
  slope (``±1`` in the money, ``±0.5`` exactly at the strike, 0 out of the money); gamma, vega and
  theta are reported as 0 (they are singular only exactly at the strike).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dyntrail.core import bsm_scalar
from dyntrail.core.bsm_scalar import DAYS_PER_YEAR as DAYS_PER_YEAR
from dyntrail.core.bsm_scalar import IV_MAX as IV_MAX
from dyntrail.core.bsm_scalar import IV_MIN as IV_MIN

FloatArray = npt.NDArray[np.float64]

_IV_MAX_ITER = bsm_scalar.IV_MAX_ITER
_IV_REL_TOL = bsm_scalar.IV_REL_TOL
_ITM_NOISE_ULPS = bsm_scalar.ITM_NOISE_ULPS

# math.erfc is correctly rounded to within an ulp or two; numpy has no erf. Elementwise cost is
# ~0.1 µs, irrelevant for option chains of a few hundred strikes.
_ERFC = np.frompyfunc(math.erfc, 1, 1)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class OptionRight(enum.StrEnum):
    """NSE option right: CE (call) or PE (put)."""

    CE = "CE"
    PE = "PE"

    @property
    def sign(self) -> int:
        """+1 for a call, -1 for a put (the ω in ``ω·(F − K)``)."""
        return 1 if self is OptionRight.CE else -1


class ForwardSource(enum.StrEnum):
    """Where a forward estimate came from."""

    PARITY = "parity"
    SPOT = "spot"


@dataclass(frozen=True, slots=True)
class ForwardEstimate:
    """A forward price, its source and how many call/put pairs were averaged (0 for spot)."""

    forward: float
    source: ForwardSource
    n_pairs: int


def norm_cdf(x: npt.ArrayLike) -> FloatArray:
    """Standard normal CDF, ``0.5·erfc(−x/√2)``: full relative accuracy in the lower tail."""
    z = np.asarray(x, dtype=np.float64)
    return 0.5 * np.asarray(_ERFC(-z * _INV_SQRT2), dtype=np.float64)


def norm_pdf(x: npt.ArrayLike) -> FloatArray:
    """Standard normal density."""
    z = np.asarray(x, dtype=np.float64)
    return np.asarray(_INV_SQRT_2PI * np.exp(-0.5 * z * z), dtype=np.float64)


def _floats(*values: object) -> tuple[float, ...] | None:
    """The values as floats when each is one plain finite number (one option, for the scalar
    twins in ``bsm_scalar``); None otherwise (arrays, bools, NaN: the array code checks them)."""
    out = []
    for v in values:
        if not (isinstance(v, float) or type(v) is int) or not math.isfinite(v):
            return None  # (np.float64 is a float)
        out.append(float(v))
    return tuple(out)


def _right(right: OptionRight | str) -> OptionRight:
    try:
        return OptionRight(right)
    except ValueError:
        raise ValueError(f"right must be 'CE' or 'PE', got {right!r}") from None


def _arrays(*values: npt.ArrayLike) -> list[FloatArray]:
    try:
        arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))
    except ValueError as exc:
        raise ValueError(f"inputs do not broadcast together: {exc}") from None
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def _require(name: str, values: FloatArray, *, strict: bool) -> None:
    bad = values <= 0 if strict else values < 0
    if np.any(bad):
        raise ValueError(f"{name} must be {'> 0' if strict else '>= 0'}; got {values[bad].flat[0]}")


def _validate(
    underlying: FloatArray, strike: FloatArray, t_years: FloatArray, vol: FloatArray | None
) -> None:
    _require("forward/spot", underlying, strict=True)
    _require("strike", strike, strict=True)
    _require("t_years", t_years, strict=False)
    if vol is not None:
        _require("vol", vol, strict=True)


def _d1(f: FloatArray, k: FloatArray, t: FloatArray, vol: FloatArray) -> FloatArray:
    """``d1`` of the Black formula; 0 where expired (the value is then unused)."""
    std = vol * np.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = np.log(f / k) / std + 0.5 * std
    return np.where(t == 0, 0.0, d1)


def _undiscounted(
    omega: npt.ArrayLike, f: FloatArray, k: FloatArray, t: FloatArray, vol: FloatArray
) -> FloatArray:
    """Undiscounted Black price ``ω[F N(ωd1) − K N(ωd2)]``; the payoff where ``t == 0``."""
    w = np.asarray(omega, dtype=np.float64)
    d1 = _d1(f, k, t, vol)
    d2 = d1 - vol * np.sqrt(t)
    live = w * (f * norm_cdf(w * d1) - k * norm_cdf(w * d2))
    return np.where(t == 0, np.maximum(w * (f - k), 0.0), np.maximum(live, 0.0))


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and first-order risk of European options (arrays shaped like the broadcast inputs).

    - ``delta``: ∂price/∂underlying, the underlying being F for Black-76 (so delta includes the
      discount factor: ``e^{−rT}·ω N(ωd1)``, QuantLib's ``deltaForward``) and S for
      Black–Scholes–Merton (``e^{−qT}·ω N(ωd1)``).
    - ``gamma``: ∂²price/∂underlying² (``e^{−rT}φ(d1)/(Fσ√T)`` resp. ``e^{−qT}φ(d1)/(Sσ√T)``).
    - ``vega``: price change per one vol point, i.e. ∂price/∂σ × 0.01 (vollib's convention;
      QuantLib's ``vega`` is 100 times this).
    - ``theta``: price change per calendar day, ``−(∂price/∂T)/365``, holding the underlying
      (F or S), σ, r and q fixed; a derivative, not a one-day difference (vollib's ``theta``,
      QuantLib's ``thetaPerDay``). For Black-76 it includes ``+r·price/365`` (discounting rolls in).
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


def _greeks(
    w: int, x: FloatArray, k: FloatArray, t: FloatArray, v: FloatArray, r: FloatArray, b: FloatArray
) -> Greeks:
    """Generalised Black–Scholes with cost of carry ``b`` on underlying ``x``: ``F = x e^{bT}``.
    ``b = 0`` is Black-76 (x = F), ``b = r − q`` is Black–Scholes–Merton (x = S)."""
    f = x * np.exp(b * t)
    carry_df = np.exp((b - r) * t)  # e^{−rT} for Black-76, e^{−qT} for BSM
    strike_df = np.exp(-r * t)
    expired = t == 0
    d1 = _d1(f, k, t, v)
    sqrt_t = np.sqrt(t)
    n1, n2 = norm_cdf(w * d1), norm_cdf(w * (d1 - v * sqrt_t))
    pdf = np.where(expired, 0.0, norm_pdf(d1))
    slope = w * np.where(w * (f - k) > 0, 1.0, np.where(f == k, 0.5, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = carry_df * pdf / (x * v * sqrt_t)
        decay = -x * carry_df * pdf * v / (2.0 * sqrt_t)
    carry = -w * (b - r) * x * carry_df * n1 - w * r * k * strike_df * n2
    return Greeks(
        price=strike_df * _undiscounted(w, f, k, t, v),
        delta=carry_df * np.where(expired, slope, w * n1),
        gamma=np.where(expired, 0.0, gamma),
        vega=0.01 * x * carry_df * pdf * sqrt_t,
        theta=np.where(expired, 0.0, (decay + carry) / DAYS_PER_YEAR),
    )


def black76_price(
    right: OptionRight | str,
    *,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    r: npt.ArrayLike,
) -> FloatArray:
    """Black-76 price ``e^{−rT}·ω[F N(ωd1) − K N(ωd2)]``, ``d1 = ln(F/K)/(σ√T) + σ√T/2``,
    ``d2 = d1 − σ√T``, ω = +1 (CE) / −1 (PE)."""
    w = _right(right).sign
    f, k, t, v, rr = _arrays(forward, strike, t_years, vol, r)
    _validate(f, k, t, v)
    return np.exp(-rr * t) * _undiscounted(w, f, k, t, v)


def black76_greeks(
    right: OptionRight | str,
    *,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    r: npt.ArrayLike,
) -> Greeks:
    """Black-76 price, delta (∂/∂F incl. e^{−rT}), gamma, vega (per vol point) and theta (per
    calendar day, F fixed); see ``Greeks`` for each convention."""
    w = _right(right).sign
    f, k, t, v, rr = _arrays(forward, strike, t_years, vol, r)
    _validate(f, k, t, v)
    return _greeks(w, f, k, t, v, rr, np.zeros_like(rr))


def bsm_price(
    right: OptionRight | str,
    *,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    r: npt.ArrayLike,
    q: npt.ArrayLike = 0.0,
) -> FloatArray:
    """Black–Scholes–Merton price ``ω[S e^{−qT} N(ωd1) − K e^{−rT} N(ωd2)]``, i.e. Black-76 on
    the forward ``F = S e^{(r−q)T}`` discounted at r."""
    w = _right(right).sign
    one = _floats(spot, strike, t_years, vol, r, q)
    if one is not None and one[0] > 0 and one[1] > 0 and one[2] >= 0 and one[3] > 0:
        # one option (an exit's price on the engine's path): the same, bit for bit; a zero
        # price goes the array way (its maximum's zero may carry the other sign)
        s1, k1, t1, v1, r1, q1 = one
        f1 = s1 * float(np.exp((r1 - q1) * t1))
        live = bsm_scalar.undiscounted(w, f1, k1, t1, v1)
        if live != 0.0:
            return np.asarray(float(np.exp(-r1 * t1)) * live)
    s, k, t, v, rr, qq = _arrays(spot, strike, t_years, vol, r, q)
    _validate(s, k, t, v)
    return np.exp(-rr * t) * _undiscounted(w, s * np.exp((rr - qq) * t), k, t, v)


def bsm_greeks(
    right: OptionRight | str,
    *,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    r: npt.ArrayLike,
    q: npt.ArrayLike = 0.0,
) -> Greeks:
    """Black–Scholes–Merton price, delta (∂/∂S), gamma, vega (per vol point) and theta (per
    calendar day, S fixed); see ``Greeks`` for each convention."""
    w = _right(right).sign
    one = _floats(spot, strike, t_years, vol, r, q)
    if one is not None and one[0] > 0 and one[1] > 0 and one[2] >= 0 and one[3] > 0:
        # one option (an exit's price on the engine's path): the same, bit for bit
        s1, k1, t1, v1, r1, q1 = one
        out = bsm_scalar.greeks(w, s1, k1, t1, v1, r1, r1 - q1)
        return Greeks(*(np.asarray(x) for x in out))
    s, k, t, v, rr, qq = _arrays(spot, strike, t_years, vol, r, q)
    _validate(s, k, t, v)
    return _greeks(w, s, k, t, v, rr, rr - qq)


# --- Implied volatility --------------------------------------------------------------------------


def _solve_iv(
    omega: int, target: FloatArray, f: FloatArray, k: FloatArray, t: FloatArray
) -> FloatArray:
    """Vol with undiscounted Black price ``target``; NaN where none exists in [IV_MIN, IV_MAX].

    Works on the out-of-the-money side (time value = target − payoff, priced as the OTM right by
    parity) so deep in-the-money prices keep their precision; an in-the-money time value within
    64 ulps of max(F, K) is rounding noise and gives NaN. Safeguarded Newton: start at
    Manaster–Koehler's inflection point ``√(2|ln(F/K)|/T)`` (or Brenner–Subrahmanyam near the
    money), keep a bracket, bisect whenever a Newton step leaves it; stop when the step is below
    1e-12 relative. Anything unconverged stays NaN."""
    shape = target.shape
    target, f, k, t = (a.ravel() for a in (target, f, k, t))
    out = np.full(target.shape, np.nan)
    payoff = np.maximum(omega * (f - k), 0.0)
    upper = f if omega == 1 else k
    with np.errstate(invalid="ignore"):
        # In the money, target − payoff cancels: time value within rounding noise is no signal.
        noise = np.where(payoff > 0, _ITM_NOISE_ULPS * np.finfo(np.float64).eps, 0.0)
        noise = noise * np.maximum(np.maximum(f, k), target)
        ok = (t > 0) & (target - payoff > noise) & (target < upper)
        ok &= np.isfinite(target + f + k + t)
    if not ok.any():
        return out.reshape(shape)
    idx = np.flatnonzero(ok)
    fo, ko, to, tv = f[idx], k[idx], t[idx], target[idx] - payoff[idx]
    w = np.where(omega * (fo - ko) > 0, -omega, omega).astype(np.float64)
    lo = np.full(tv.shape, IV_MIN)
    hi = np.full(tv.shape, IV_MAX)
    solvable = (tv > _undiscounted(w, fo, ko, to, lo)) & (tv < _undiscounted(w, fo, ko, to, hi))
    sqrt_t = np.sqrt(to)
    sig = np.maximum(
        np.sqrt(2.0 * np.abs(np.log(fo / ko)) / to), math.sqrt(2 * math.pi) * tv / (fo * sqrt_t)
    )
    sig = np.clip(sig, 2 * IV_MIN, 0.5 * IV_MAX)
    active = solvable.copy()
    converged = np.zeros(tv.shape, dtype=bool)
    for _ in range(_IV_MAX_ITER):
        if not active.any():
            break
        diff = _undiscounted(w, fo, ko, to, sig) - tv
        vega = fo * norm_pdf(_d1(fo, ko, to, sig)) * sqrt_t
        lo = np.where(active & (diff < 0), sig, lo)
        hi = np.where(active & (diff > 0), sig, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = sig - diff / vega
        step = np.where((newton > lo) & (newton < hi), newton, 0.5 * (lo + hi))
        step = np.where(diff == 0, sig, step)
        done = active & (np.abs(step - sig) <= _IV_REL_TOL * sig)
        sig = np.where(active, step, sig)
        converged |= done
        active &= ~done
    sub = np.full(tv.shape, np.nan)
    sub[converged] = sig[converged]
    out[idx] = sub
    return out.reshape(shape)


def black76_implied_vol(
    right: OptionRight | str,
    *,
    price: npt.ArrayLike,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    r: npt.ArrayLike,
) -> FloatArray:
    """Vol that reproduces the (discounted) Black-76 ``price``.

    NaN (never a guess) where no vol in [1e-4, 5.0] fits: price <= 0 or at/below the discounted
    payoff ``e^{−rT} max(ω(F−K), 0)``, price at/above the bound (``e^{−rT}F`` for a call,
    ``e^{−rT}K`` for a put), an in-the-money time value indistinguishable from rounding (64 ulps
    of max(F, K)), ``t_years == 0``, NaN inputs, or a price outside the prices at the vol
    bounds. Where the time value is a tiny fraction of the price (deep in the money, hours to
    expiry) the vol is ill-conditioned: it reprices the input to rounding, no better."""
    w = _right(right).sign
    p, f, k, t, rr = _arrays(price, forward, strike, t_years, r)
    _validate(f, k, t, None)
    return _solve_iv(w, p * np.exp(rr * t), f, k, t)


def bsm_implied_vol(
    right: OptionRight | str,
    *,
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    r: npt.ArrayLike,
    q: npt.ArrayLike = 0.0,
) -> FloatArray:
    """Vol that reproduces the Black–Scholes–Merton ``price``; solved as Black-76 on
    ``F = S e^{(r−q)T}``. NaN exactly as for ``black76_implied_vol``: here the lower bound is
    ``max(ω(S e^{−qT} − K e^{−rT}), 0)`` and the upper ``S e^{−qT}`` (CE) or ``K e^{−rT}`` (PE)."""
    w = _right(right).sign
    one = _floats(price, spot, strike, t_years, r, q)
    if one is not None and one[1] > 0 and one[2] > 0 and one[3] >= 0:
        # one option (an exit's price on the engine's path): the same, bit for bit
        return np.asarray(implied_vol_one(w, *one))
    p, s, k, t, rr, qq = _arrays(price, spot, strike, t_years, r, q)
    _validate(s, k, t, None)
    return _solve_iv(w, p * np.exp(rr * t), s * np.exp((rr - qq) * t), k, t)


def implied_vol_one(w: int, p: float, s: float, k: float, t: float, r: float, q: float) -> float:
    """``bsm_implied_vol`` for one option given as floats (``s > 0``, ``k > 0``, ``t >= 0``,
    every value finite), with ``w`` its right's sign: the same steps, as a float."""
    target, forward = p * float(np.exp(r * t)), s * float(np.exp((r - q) * t))
    return bsm_scalar.solve_iv(w, target, forward, k, t)


# --- Forwards ------------------------------------------------------------------------------------


def forward_from_spot(
    spot: npt.ArrayLike, r: npt.ArrayLike, t_years: npt.ArrayLike, q: npt.ArrayLike = 0.0
) -> FloatArray:
    """Cost-of-carry forward ``S e^{(r−q)T}``."""
    s, rr, t, qq = _arrays(spot, r, t_years, q)
    _require("spot", s, strict=True)
    _require("t_years", t, strict=False)
    return s * np.exp((rr - qq) * t)


def _parity_forwards(
    strikes: npt.ArrayLike,
    call_mids: npt.ArrayLike,
    put_mids: npt.ArrayLike,
    r: float,
    t_years: float,
    n_strikes: int,
) -> FloatArray:
    """The per-strike parity forwards ``forward_from_parity`` averages (possibly empty)."""
    k, c, p = (np.asarray(a, dtype=np.float64).ravel() for a in (strikes, call_mids, put_mids))
    if not k.shape == c.shape == p.shape:
        raise ValueError(
            f"strikes, call_mids, put_mids lengths differ: {k.size}, {c.size}, {p.size}"
        )
    if not (math.isfinite(r) and math.isfinite(t_years) and t_years >= 0):
        raise ValueError(f"r must be finite and t_years finite and >= 0; got {r}, {t_years}")
    if n_strikes < 1:
        raise ValueError(f"n_strikes must be >= 1, got {n_strikes}")
    with np.errstate(invalid="ignore"):
        pair = np.isfinite(k + c + p) & (k > 0) & (c > 0) & (p > 0)
    k, c, p = k[pair], c[pair], p[pair]
    nearest = np.argsort(np.abs(c - p), kind="stable")[:n_strikes]
    return k[nearest] + math.exp(r * t_years) * (c[nearest] - p[nearest])


def forward_from_parity(
    strikes: npt.ArrayLike,
    call_mids: npt.ArrayLike,
    put_mids: npt.ArrayLike,
    r: float,
    t_years: float,
    *,
    n_strikes: int = 3,
) -> float | None:
    """Forward implied by put–call parity on the chain, or None when no strike has both quotes.

    A strike counts when its strike, call mid and put mid are all finite and > 0. Each such
    strike gives ``F_i = K_i + e^{rT}(C_i − P_i)``; the ``n_strikes`` strikes with the smallest
    ``|C − P|`` (nearest to where the call and put are worth the same, i.e. to the forward; ties
    keep input order) are averaged with equal weight. Near the money both mids are liquid and
    their spread errors are smallest, which is why only those few are used. Raises ValueError
    for arrays of different sizes, a non-finite r, t_years < 0 or n_strikes < 1."""
    forwards = _parity_forwards(strikes, call_mids, put_mids, r, t_years, n_strikes)
    return float(np.mean(forwards)) if forwards.size else None


def estimate_forward(
    spot: float,
    r: float,
    t_years: float,
    q: float = 0.0,
    *,
    strikes: npt.ArrayLike | None = None,
    call_mids: npt.ArrayLike | None = None,
    put_mids: npt.ArrayLike | None = None,
    n_strikes: int = 3,
) -> ForwardEstimate:
    """Parity forward from the chain when at least one strike has both quotes (see
    ``forward_from_parity``), otherwise (no chain, or no usable pair) the cost-of-carry forward
    ``S e^{(r−q)T}``."""
    if strikes is not None and call_mids is not None and put_mids is not None:
        forwards = _parity_forwards(strikes, call_mids, put_mids, r, t_years, n_strikes)
        if forwards.size:
            return ForwardEstimate(float(np.mean(forwards)), ForwardSource.PARITY, forwards.size)
    return ForwardEstimate(float(forward_from_spot(spot, r, t_years, q)), ForwardSource.SPOT, 0)
