"""Underlying trigger -> option exit price.

Every stop and target lives on the underlying; an order needs an option price. Methods:

- ``proportional`` (the design document's mapping): option_last x (1 + move x side), floored at
  one tick (0.05). It ignores the option's leverage, so it is only a fallback.
- ``delta_gamma`` (default): second-order Taylor expansion in the underlying around the
  observed option price, with the volatility implied from that price.
- ``reprice``: full Black–Scholes–Merton repricing at the trigger, sticky-strike volatility.

``option_exit_price`` is the single entry point; results are floored at one tick, never rounded.
"""

from __future__ import annotations

import enum
import math

from dyntrail.core import bsm_scalar
from dyntrail.core.options import (
    DAYS_PER_YEAR,
    OptionRight,
    bsm_greeks,
    bsm_implied_vol,
    bsm_price,
    implied_vol_one,
)
from dyntrail.core.types import Side

MIN_OPTION_PRICE = 0.05
_INF = math.inf


def option_exit_price_from_underlying_move(
    option_last: float, underlying_move_pct: float, side: Side
) -> float:
    """The design document's proportional mapping: ``option_last * (1 + move * sign)``, floored at
    0.05. ``underlying_move_pct`` is a fraction (+0.004 = the underlying rose 0.4 %); a LONG
    position (a call) gains with a rise, a SHORT position (a put) with a fall."""
    factor = 1.0 + underlying_move_pct * side.sign
    return max(option_last * factor, MIN_OPTION_PRICE)


class ExitPriceMethod(enum.StrEnum):
    """How an underlying trigger level becomes an option exit price (config
    ``options.exit_price_method``)."""

    PROPORTIONAL = "proportional"
    DELTA_GAMMA = "delta_gamma"
    REPRICE = "reprice"


def _finite(name: str, value: float, *, minimum: float, strict: bool) -> float:
    ok = math.isfinite(value) and (value > minimum if strict else value >= minimum)
    if not ok:
        raise ValueError(
            f"{name} must be finite and {'>' if strict else '>='} {minimum}, got {value}"
        )
    return float(value)


def _plain(value: object) -> bool:
    """One plain number, as the one-option path of ``options`` takes it (np.float64 is a float;
    a bool is not)."""
    return isinstance(value, float) or type(value) is int


def option_exit_price(
    method: ExitPriceMethod | str = ExitPriceMethod.DELTA_GAMMA,
    *,
    option_last: float,
    underlying_now: float,
    underlying_trigger: float,
    strike: float,
    right: OptionRight | str,
    t_years: float,
    r: float,
    q: float = 0.0,
    dt_years: float = 0.0,
    tick: float = 0.05,
) -> float:
    """Option price expected when the underlying reaches ``underlying_trigger``.

    ``option_last`` is the option's price observed with the underlying at ``underlying_now``;
    ``t_years`` is the time to expiry now and ``dt_years`` (>= 0) how much of it is assumed to
    pass before the trigger; ``r``/``q`` are continuous rates for Black–Scholes–Merton on spot.

    - ``proportional``: the design document's ``option_exit_price_from_underlying_move`` with
      move = trigger/now − 1, LONG for a call and SHORT for a put (floored at 0.05 by that
      function, then at one tick). Ignores the option's leverage and time: a fallback only.
    - ``delta_gamma`` (default): σ implied from ``option_last``, then
      ``option_last + Δ·dS + ½·Γ·dS²`` (+ ``θ_per_day·min(dt_years, t_years)·365`` when
      ``dt_years > 0``), dS = trigger − now. Where the expansion's slope ``Δ + Γ·dS`` has the
      opposite sign to ``Δ`` (large moves on near-expiry options, where the parabola turns back)
      it is meaningless, and the result is the ``reprice`` one.
    - ``reprice``: Black–Scholes–Merton at the trigger with the same σ (sticky strike) and
      ``max(t_years − dt_years, 0)`` to expiry.

    When no σ exists (the price is at/below the discounted intrinsic value or at/above the
    no-arbitrage bound, or ``t_years == 0``) the two model methods fall back to the intrinsic
    value at the trigger plus the option's current time value ``max(option_last − intrinsic now,
    0)`` (intrinsic on spot, ``max(±(S − K), 0)``). Every result is floored at one ``tick`` and
    is NOT rounded to the tick grid (the order layer rounds).
    """
    if method.__class__ is not ExitPriceMethod:
        try:
            method = ExitPriceMethod(method)
        except ValueError:
            names = ", ".join(m.value for m in ExitPriceMethod)
            raise ValueError(f"unknown exit price method {method!r} (one of {names})") from None
    if right.__class__ is not OptionRight:
        try:
            right = OptionRight(right)
        except ValueError:
            raise ValueError(f"right must be 'CE' or 'PE', got {right!r}") from None
    if (  # plain floats, each valid (an exit on the engine's path): as they are
        option_last.__class__
        is underlying_now.__class__
        is underlying_trigger.__class__
        is strike.__class__
        is t_years.__class__
        is dt_years.__class__
        is tick.__class__
        is float
        and 0.0 < option_last < _INF
        and 0.0 < underlying_now < _INF
        and 0.0 < underlying_trigger < _INF
        and 0.0 < strike < _INF
        and 0.0 <= t_years < _INF
        and 0.0 <= dt_years < _INF
        and 0.0 < tick < _INF
        and r.__class__ is q.__class__ is float
        and -_INF < r < _INF
        and -_INF < q < _INF
    ):
        last, now, trigger, k, t, dt = (
            option_last, underlying_now, underlying_trigger, strike, t_years, dt_years
        )  # fmt: skip
    else:
        last = _finite("option_last", option_last, minimum=0.0, strict=True)
        now = _finite("underlying_now", underlying_now, minimum=0.0, strict=True)
        trigger = _finite("underlying_trigger", underlying_trigger, minimum=0.0, strict=True)
        k = _finite("strike", strike, minimum=0.0, strict=True)
        t = _finite("t_years", t_years, minimum=0.0, strict=False)
        dt = _finite("dt_years", dt_years, minimum=0.0, strict=False)
        tick = _finite("tick", tick, minimum=0.0, strict=True)
        for name, rate in (("r", r), ("q", q)):
            if not math.isfinite(rate):
                raise ValueError(f"{name} must be finite, got {rate}")

    if method is ExitPriceMethod.PROPORTIONAL:
        side = Side.LONG if right is OptionRight.CE else Side.SHORT
        return max(option_exit_price_from_underlying_move(last, trigger / now - 1.0, side), tick)

    # plain rates (every engine call): the one-option steps ``bsm_implied_vol`` and
    # ``bsm_greeks`` take for such values, without their checks and arrays
    plain = _plain(r) and _plain(q)
    if plain:
        rf, qf = float(r), float(q)
        vol = implied_vol_one(right.sign, last, now, k, t, rf, qf)
    else:
        vol = float(bsm_implied_vol(right, price=last, spot=now, strike=k, t_years=t, r=r, q=q))
    if math.isnan(vol):
        sign = right.sign
        time_value = max(last - max(sign * (now - k), 0.0), 0.0)
        return max(max(sign * (trigger - k), 0.0) + time_value, tick)
    if method is ExitPriceMethod.REPRICE:
        t_new = max(t - dt, 0.0)
        price = bsm_price(right, spot=trigger, strike=k, t_years=t_new, vol=vol, r=r, q=q)
        return max(float(price), tick)
    if plain and vol > 0 and dt == 0:  # (no theta to add)
        delta, gamma = bsm_scalar.delta_gamma(right.sign, now, k, t, vol, rf, rf - qf)
        theta = 0.0
    elif plain and vol > 0:
        _, delta, gamma, _, theta = bsm_scalar.greeks(right.sign, now, k, t, vol, rf, rf - qf)
    else:
        g = bsm_greeks(right, spot=now, strike=k, t_years=t, vol=vol, r=r, q=q)
        delta, gamma, theta = float(g.delta), float(g.gamma), float(g.theta)
    ds = trigger - now
    if (delta + gamma * ds) * delta < 0:
        # The parabola has turned: its slope changed sign between now and the trigger, where an
        # option's price is monotone in the underlying. The expansion is no longer an estimate
        # of anything, so reprice (sticky strike) instead.
        t_new = max(t - dt, 0.0)
        price = bsm_price(right, spot=trigger, strike=k, t_years=t_new, vol=vol, r=r, q=q)
        return max(float(price), tick)
    price_dg = last + delta * ds + 0.5 * gamma * ds * ds
    if dt > 0:
        price_dg += theta * min(dt, t) * DAYS_PER_YEAR
    return max(price_dg, tick)
