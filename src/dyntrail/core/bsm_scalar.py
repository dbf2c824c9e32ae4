"""One option at a time: the implied volatility and the greeks of ``dyntrail.core.options`` for
scalar inputs, without building arrays. An exit's option price is worked out on the engine's
path (a live tick that crosses a stop): the array code spends ~300 µs on one option, this ~30 µs.

Bit for bit the array code's results: the same operations in the same order, with the same
functions (NumPy's ``exp`` and ``log``, which differ from ``math``'s in the last place for some
inputs; ``math.erfc`` and ``math.sqrt``, which the array code uses too). The tests hold the two
equal on random inputs. Only finite, valid inputs come here; ``options`` keeps the checks and
the error messages."""

from __future__ import annotations

import math

import numpy as np

DAYS_PER_YEAR = 365.0
IV_MIN = 1e-4
IV_MAX = 5.0
IV_MAX_ITER = 200
IV_REL_TOL = 1e-12
ITM_NOISE_ULPS = 64.0
INV_SQRT2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_EPS = float(np.finfo(np.float64).eps)
_NAN = math.nan
_exp, _log = np.exp, np.log  # NumPy's, as the array code (see the module docstring)


def cdf(x: float) -> float:
    return 0.5 * math.erfc(-x * INV_SQRT2)


def pdf(x: float) -> float:
    return INV_SQRT_2PI * float(_exp(-0.5 * x * x))


def d1(f: float, k: float, t: float, vol: float) -> float:
    if t == 0:
        return 0.0
    std = vol * math.sqrt(t)
    return float(_log(f / k)) / std + 0.5 * std


def _d1(log_fk: float, t: float, vol: float) -> float:
    """``d1`` with ``log(F/K)`` given (``float(_log(f / k))``, taken once for many vols)."""
    if t == 0:
        return 0.0
    std = vol * math.sqrt(t)
    return log_fk / std + 0.5 * std


def undiscounted(w: float, f: float, k: float, t: float, vol: float) -> float:
    """Undiscounted Black price ``ω[F N(ωd1) − K N(ωd2)]``; the payoff where ``t == 0``."""
    if t == 0:
        return max(w * (f - k), 0.0)
    return _undiscounted(w, f, k, t, vol, float(_log(f / k)))


def _undiscounted(w: float, f: float, k: float, t: float, vol: float, log_fk: float) -> float:
    """``undiscounted`` for ``t > 0`` with ``log(F/K)`` given."""
    a = _d1(log_fk, t, vol)
    b = a - vol * math.sqrt(t)
    return max(w * (f * cdf(w * a) - k * cdf(w * b)), 0.0)


def solve_iv(omega: int, target: float, f: float, k: float, t: float) -> float:
    """``options._solve_iv`` for one option (NaN where no vol fits)."""
    payoff = max(omega * (f - k), 0.0)
    upper = f if omega == 1 else k
    noise = (ITM_NOISE_ULPS * _EPS if payoff > 0 else 0.0) * max(max(f, k), target)
    if not (t > 0 and target - payoff > noise and target < upper):
        return _NAN
    if not math.isfinite(target + f + k + t):
        return _NAN
    tv = target - payoff
    w = float(-omega if omega * (f - k) > 0 else omega)
    lo, hi = IV_MIN, IV_MAX
    log_fk = float(_log(f / k))  # the same in every ``d1`` below (t > 0 here): taken once
    if not (_undiscounted(w, f, k, t, lo, log_fk) < tv < _undiscounted(w, f, k, t, hi, log_fk)):
        return _NAN
    sqrt_t = math.sqrt(t)
    sig = max(math.sqrt(2.0 * abs(log_fk) / t), math.sqrt(2 * math.pi) * tv / (f * sqrt_t))
    sig = min(max(sig, 2 * IV_MIN), 0.5 * IV_MAX)
    for _ in range(IV_MAX_ITER):
        diff = _undiscounted(w, f, k, t, sig, log_fk) - tv
        vega = f * pdf(_d1(log_fk, t, sig)) * sqrt_t
        if diff < 0:
            lo = sig
        if diff > 0:
            hi = sig
        newton = sig - diff / vega if vega != 0 else _NAN
        step = newton if lo < newton < hi else 0.5 * (lo + hi)
        if diff == 0:
            step = sig
        done = abs(step - sig) <= IV_REL_TOL * sig
        sig = step
        if done:
            return sig
    return _NAN


def delta_gamma(
    w: int, x: float, k: float, t: float, v: float, r: float, b: float
) -> tuple[float, float]:
    """``greeks``'s delta and gamma alone: the same steps, without the others'."""
    f = x * float(_exp(b * t))
    carry_df = float(_exp((b - r) * t))
    a = d1(f, k, t, v)
    if t == 0:
        slope = w * (1.0 if w * (f - k) > 0 else 0.5 if f == k else 0.0)
        return carry_df * slope, 0.0
    return carry_df * (w * cdf(w * a)), carry_df * pdf(a) / (x * v * math.sqrt(t))


def greeks(
    w: int, x: float, k: float, t: float, v: float, r: float, b: float
) -> tuple[float, float, float, float, float]:
    """``options._greeks`` for one option: (price, delta, gamma, vega, theta)."""
    f = x * float(_exp(b * t))
    carry_df = float(_exp((b - r) * t))
    strike_df = float(_exp(-r * t))
    expired = t == 0
    a = d1(f, k, t, v)
    sqrt_t = math.sqrt(t)
    n1, n2 = cdf(w * a), cdf(w * (a - v * sqrt_t))
    density = 0.0 if expired else pdf(a)
    slope = w * (1.0 if w * (f - k) > 0 else 0.5 if f == k else 0.0)
    carry = -w * (b - r) * x * carry_df * n1 - w * r * k * strike_df * n2
    if expired:
        gamma = theta = 0.0
    else:
        gamma = carry_df * density / (x * v * sqrt_t)
        decay = -x * carry_df * density * v / (2.0 * sqrt_t)
        theta = (decay + carry) / DAYS_PER_YEAR
    return (
        strike_df * undiscounted(w, f, k, t, v),
        carry_df * (slope if expired else w * n1),
        gamma,
        0.01 * x * carry_df * density * sqrt_t,
        theta,
    )
