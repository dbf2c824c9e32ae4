"""The one-option shortcuts exit pricing takes give what the general functions give, bit for bit."""

from __future__ import annotations

import random

import numpy as np

from dyntrail.core import bsm_scalar
from dyntrail.core.exit_pricing import option_exit_price
from dyntrail.core.options import bsm_implied_vol, implied_vol_one


def _cases(n: int) -> list[tuple[int, float, float, float, float, float, float]]:
    rng = random.Random(3)
    out = []
    for _ in range(n):
        s = rng.uniform(15_000.0, 25_000.0)
        k = round(s / 50) * 50 + rng.choice([-500, -50, 0, 50, 500])
        t = rng.choice([0.0, 1e-9, rng.uniform(1e-5, 0.1)])
        v = rng.uniform(0.05, 1.5)
        r, q = rng.choice([0.0, 0.065]), rng.choice([0.0, 0.01])
        out.append((rng.choice([1, -1]), s, float(k), t, v, r, q))
    return out


def test_delta_gamma_is_greeks_delta_and_gamma() -> None:
    for w, s, k, t, v, r, q in _cases(3_000):
        full = bsm_scalar.greeks(w, s, k, t, v, r, r - q)
        assert bsm_scalar.delta_gamma(w, s, k, t, v, r, r - q) == (full[1], full[2])


def test_implied_vol_one_is_bsm_implied_vol() -> None:
    for w, s, k, t, v, r, q in _cases(2_000):
        price = bsm_scalar.greeks(w, s, k, t, v, r, r - q)[0]
        right = "CE" if w == 1 else "PE"
        want = float(bsm_implied_vol(right, price=price, spot=s, strike=k, t_years=t, r=r, q=q))
        got = implied_vol_one(w, price, s, k, t, r, q)
        assert got == want or (np.isnan(got) and np.isnan(want))


def test_exit_price_the_same_with_rates_as_arrays() -> None:
    """Plain rates take the one-option path, rates given as arrays the general one: one price."""
    rng = random.Random(9)
    for w, s, k, t, _, r, q in _cases(1_500):
        kw = {
            "option_last": rng.uniform(0.05, 400.0),
            "underlying_now": s,
            "underlying_trigger": s * (1 + rng.uniform(-0.02, 0.02)),
            "strike": k,
            "right": "CE" if w == 1 else "PE",
            "t_years": t,
            "dt_years": rng.choice([0.0, 1e-4]),
        }
        for method in ("delta_gamma", "reprice"):
            plain = option_exit_price(method, r=r, q=q, **kw)
            arrays = option_exit_price(method, r=np.array(r), q=np.array(q), **kw)
            assert plain == arrays
