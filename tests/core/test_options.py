"""Option pricing: parity with vollib and QuantLib over a grid, and no-arbitrage properties.

Tolerances: 1e-8 relative on prices, 1e-6 relative on greeks and implied vol. Relative error is
meaningless for values that are numerically zero (a 1-day, 5 %-vol option 10 % out of the money
is worth ~1e-300), so every comparison also has an absolute floor: 1e-10 × spot for prices,
1e-9 × the greek's scale over the grid for greeks. IV is compared only where the price carries
time value of at least 1e-7 × spot (below that the vol is not identifiable from a price).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st
from vollib import black as vl_black
from vollib import black_scholes_merton as vl_bsm
from vollib.black.greeks import analytical as vl_black_greeks
from vollib.black.implied_volatility import implied_volatility as vl_black_iv
from vollib.black_scholes import black_scholes as vl_bs
from vollib.black_scholes.greeks import analytical as vl_bs_greeks
from vollib.black_scholes_merton.greeks import analytical as vl_bsm_greeks
from vollib.black_scholes_merton.implied_volatility import implied_volatility as vl_bsm_iv

from dyntrail.core import options as opt
from dyntrail.core.options import OptionRight

SPOT = 100.0
R = 0.065
Q = 0.012
MONEYNESS = (0.9, 0.95, 1.0, 1.05, 1.1)
DAYS = (1, 3, 7, 14, 30, 60)
VOLS = (0.05, 0.15, 0.3, 0.5, 0.8)
GRID = list(itertools.product(MONEYNESS, DAYS, VOLS))
K, D, V = (np.array(c, dtype=float) for c in zip(*GRID, strict=True))
K = K * SPOT
T = D / 365.0
RIGHTS = ((OptionRight.CE, "c"), (OptionRight.PE, "p"))


def close(ours: np.ndarray, ref: np.ndarray, rel: float, floor: float) -> None:
    err = np.abs(ours - ref)
    worst = int(np.argmax(err - rel * np.abs(ref)))
    assert np.all(err <= rel * np.abs(ref) + floor), (GRID[worst], ours[worst], ref[worst])


def close_greek(ours: np.ndarray, ref: np.ndarray) -> None:
    close(ours, ref, 1e-6, 1e-9 * float(np.max(np.abs(ref))))


FWD = SPOT * 1.004
VOLLIB_MODELS = {  # ours, vollib price, vollib greeks module, vollib's argument tuple
    "black76": (
        lambda right: opt.black76_greeks(right, forward=FWD, strike=K, t_years=T, vol=V, r=R),
        vl_black.black, vl_black_greeks, lambda f, k, t, v: (f, FWD, k, t, R, v),
    ),
    "black_scholes": (
        lambda right: opt.bsm_greeks(right, spot=SPOT, strike=K, t_years=T, vol=V, r=R),
        vl_bs, vl_bs_greeks, lambda f, k, t, v: (f, SPOT, k, t, R, v),
    ),
    "black_scholes_merton": (
        lambda right: opt.bsm_greeks(right, spot=SPOT, strike=K, t_years=T, vol=V, r=R, q=Q),
        vl_bsm.black_scholes_merton, vl_bsm_greeks, lambda f, k, t, v: (f, SPOT, k, t, R, v, Q),
    ),
}  # fmt: skip


@pytest.mark.parametrize("model", list(VOLLIB_MODELS))
@pytest.mark.parametrize(("right", "flag"), RIGHTS)
def test_prices_and_greeks_match_vollib(model: str, right: OptionRight, flag: str) -> None:
    ours, vl_price, vl_greeks, vl_args = VOLLIB_MODELS[model]
    g = ours(right)
    args = [vl_args(flag, k, t, v) for k, t, v in zip(K, T, V, strict=True)]
    close(g.price, np.array([vl_price(*a) for a in args]), 1e-8, 1e-10 * SPOT)
    for name in ("delta", "gamma", "vega", "theta"):  # vollib: vega per 1 %, theta per day
        close_greek(getattr(g, name), np.array([getattr(vl_greeks, name)(*a) for a in args]))


def test_price_functions_equal_the_greeks_price() -> None:
    b76 = opt.black76_price("CE", forward=FWD, strike=K, t_years=T, vol=V, r=R)
    np.testing.assert_array_equal(b76, VOLLIB_MODELS["black76"][0](OptionRight.CE).price)
    bsm = opt.bsm_price("PE", spot=SPOT, strike=K, t_years=T, vol=V, r=R, q=Q)
    np.testing.assert_array_equal(bsm, VOLLIB_MODELS["black_scholes_merton"][0]("PE").price)


def _identifiable(price: np.ndarray, payoff: np.ndarray) -> np.ndarray:
    return np.asarray(price - payoff > 1e-7 * SPOT)


@pytest.mark.parametrize(("right", "flag"), RIGHTS)
def test_implied_vol_matches_vollib_and_inputs(right: OptionRight, flag: str) -> None:
    w = right.sign
    price = opt.bsm_price(right, spot=SPOT, strike=K, t_years=T, vol=V, r=R, q=Q)
    ours = opt.bsm_implied_vol(right, price=price, spot=SPOT, strike=K, t_years=T, r=R, q=Q)
    fwd_payoff = np.maximum(w * (SPOT * np.exp(-Q * T) - K * np.exp(-R * T)), 0.0)
    use = _identifiable(price, fwd_payoff)
    assert use.sum() > len(GRID) // 2
    ref = np.array([vl_bsm_iv(price[i], SPOT, K[i], T[i], R, Q, flag) for i in np.flatnonzero(use)])
    close(ours[use], ref, 1e-6, 0.0)
    close(ours[use], V[use], 1e-6, 0.0)
    fwd = SPOT * 1.01
    p76 = opt.black76_price(right, forward=fwd, strike=K, t_years=T, vol=V, r=R)
    iv76 = opt.black76_implied_vol(right, price=p76, forward=fwd, strike=K, t_years=T, r=R)
    use = _identifiable(p76, np.exp(-R * T) * np.maximum(w * (fwd - K), 0.0))
    ref = np.array([vl_black_iv(p76[i], fwd, K[i], R, T[i], flag) for i in np.flatnonzero(use)])
    close(iv76[use], ref, 1e-6, 0.0)


def _ql_european(right: OptionRight, k: float, days: int, vol: float) -> ql.VanillaOption:
    today = ql.Date(2, 1, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    curve = lambda rate: ql.YieldTermStructureHandle(ql.FlatForward(today, rate, dc))  # noqa: E731
    vol_ts = ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(SPOT)), curve(Q), curve(R), vol_ts
    )
    kind = ql.Option.Call if right is OptionRight.CE else ql.Option.Put
    option = ql.VanillaOption(ql.PlainVanillaPayoff(kind, k), ql.EuropeanExercise(today + days))
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    return option


@pytest.mark.parametrize("right", [OptionRight.CE, OptionRight.PE])
def test_bsm_matches_quantlib_engine(right: OptionRight) -> None:
    g = opt.bsm_greeks(right, spot=SPOT, strike=K, t_years=T, vol=V, r=R, q=Q)
    ref = [_ql_european(right, k, int(d), v) for k, d, v in zip(K, D, V, strict=True)]
    close(g.price, np.array([o.NPV() for o in ref]), 1e-8, 1e-10 * SPOT)
    close_greek(g.delta, np.array([o.delta() for o in ref]))
    close_greek(g.gamma, np.array([o.gamma() for o in ref]))
    close_greek(g.vega, np.array([o.vega() / 100.0 for o in ref]))
    close_greek(g.theta, np.array([o.thetaPerDay() for o in ref]))


@pytest.mark.parametrize("right", [OptionRight.CE, OptionRight.PE])
def test_black76_matches_quantlib_black_calculator(right: OptionRight) -> None:
    fwd = SPOT * 0.998
    kind = ql.Option.Call if right is OptionRight.CE else ql.Option.Put
    g = opt.black76_greeks(right, forward=fwd, strike=K, t_years=T, vol=V, r=R)
    calcs = [
        ql.BlackCalculator(ql.PlainVanillaPayoff(kind, k), fwd, v * math.sqrt(t), math.exp(-R * t))
        for k, t, v in zip(K, T, V, strict=True)
    ]
    close(g.price, np.array([c.value() for c in calcs]), 1e-8, 1e-10 * SPOT)
    close_greek(g.delta, np.array([c.deltaForward() for c in calcs]))
    close_greek(g.gamma, np.array([c.gammaForward() for c in calcs]))
    close_greek(g.vega, np.array([c.vega(t) / 100 for c, t in zip(calcs, T, strict=True)]))
    close_greek(g.theta, np.array([c.thetaPerDay(fwd, t) for c, t in zip(calcs, T, strict=True)]))
    use = _identifiable(g.price, np.exp(-R * T) * np.maximum(right.sign * (fwd - K), 0.0))
    ours = opt.black76_implied_vol(right, price=g.price, forward=fwd, strike=K, t_years=T, r=R)
    ref = [  # QuantLib solves for the std dev; its default accuracy is only 1e-6
        ql.blackFormulaImpliedStdDev(kind, K[i], fwd, g.price[i], math.exp(-R * T[i]), 0.0,
                                     V[i] * 1.1 * math.sqrt(T[i]), 1e-14, 200) / math.sqrt(T[i])
        for i in np.flatnonzero(use)
    ]  # fmt: skip
    close(ours[use], np.array(ref), 1e-6, 0.0)


# --- properties ----------------------------------------------------------------------------------

spots = st.floats(5_000.0, 60_000.0)
moneyness = st.floats(0.7, 1.3)
years = st.floats(1.0 / 365.0, 1.0)
vols = st.floats(0.03, 1.5)
rates = st.floats(0.0, 0.12)
rights = st.sampled_from([OptionRight.CE, OptionRight.PE])


@settings(deadline=None)  # no timing assertions
@given(spots, moneyness, years, vols, rates, st.floats(0.0, 0.05))
def test_put_call_parity(s: float, m: float, t: float, v: float, r: float, q: float) -> None:
    k = s * m
    c = float(opt.bsm_price("CE", spot=s, strike=k, t_years=t, vol=v, r=r, q=q))
    p = float(opt.bsm_price("PE", spot=s, strike=k, t_years=t, vol=v, r=r, q=q))
    assert c - p == pytest.approx(s * math.exp(-q * t) - k * math.exp(-r * t), abs=1e-9 * s)


@settings(deadline=None)  # no timing assertions
@given(rights, spots, st.lists(moneyness, min_size=2, max_size=6), years, vols, rates)
def test_price_monotone_in_strike(
    right: OptionRight, s: float, ms: list[float], t: float, v: float, r: float
) -> None:
    ks = np.sort(np.array(ms)) * s
    prices = opt.bsm_price(right, spot=s, strike=ks, t_years=t, vol=v, r=r)
    steps = np.diff(prices) * right.sign  # calls fall with the strike, puts rise
    assert np.all(steps <= 1e-9 * s)


@settings(deadline=None)  # no timing assertions
@given(rights, spots, moneyness, years, st.lists(vols, min_size=2, max_size=5))
def test_price_increases_with_vol_and_time(
    right: OptionRight, s: float, m: float, t: float, vs: list[float]
) -> None:
    by_vol = opt.bsm_price(right, spot=s, strike=s * m, t_years=t, vol=np.sort(vs), r=0.0)
    assert np.all(np.diff(by_vol) >= -1e-9 * s)
    ts = np.array([t / 4, t / 2, t])
    by_time = opt.black76_price(right, forward=s, strike=s * m, t_years=ts, vol=vs[0], r=0.0)
    assert np.all(np.diff(by_time) >= -1e-9 * s)


@settings(max_examples=300, deadline=None)
@given(rights, spots, st.floats(0.85, 1.15), st.floats(1.0 / 365.0, 0.25), vols, rates)
def test_implied_vol_round_trip(
    right: OptionRight, s: float, m: float, t: float, v: float, r: float
) -> None:
    k = s * m
    price = float(opt.bsm_price(right, spot=s, strike=k, t_years=t, vol=v, r=r))
    payoff = max(right.sign * (s - k * math.exp(-r * t)), 0.0)
    if price - payoff < 1e-4 * s:  # no meaningful time value: the vol is not identifiable
        return
    iv = float(opt.bsm_implied_vol(right, price=price, spot=s, strike=k, t_years=t, r=r))
    back = float(opt.bsm_price(right, spot=s, strike=k, t_years=t, vol=iv, r=r))
    assert back == pytest.approx(price, rel=1e-8)
    assert iv == pytest.approx(v, rel=1e-8)


@settings(deadline=None)  # no timing assertions
@given(rights, spots, moneyness, years, rates, st.floats(1e-6, 0.999))
def test_implied_vol_nan_outside_no_arbitrage_bounds(
    right: OptionRight, s: float, m: float, t: float, r: float, frac: float
) -> None:
    k = s * m
    lower = max(right.sign * (s - k * math.exp(-r * t)), 0.0)
    upper = s if right is OptionRight.CE else k * math.exp(-r * t)
    for bad in (lower * frac, lower, upper, upper * (1.0 + frac), 0.0, -1.0):
        iv = opt.bsm_implied_vol(right, price=bad, spot=s, strike=k, t_years=t, r=r)
        assert math.isnan(float(iv))


def test_implied_vol_nan_at_expiry_and_for_nan_inputs() -> None:
    at_expiry = opt.bsm_implied_vol("CE", price=5.0, spot=100, strike=100, t_years=0, r=0)
    assert math.isnan(float(at_expiry))
    out = opt.black76_implied_vol("PE", price=[np.nan, 4.0], forward=100, strike=100,
                                  t_years=0.1, r=0)  # fmt: skip
    assert math.isnan(out[0]) and 0 < out[1] < 1


def test_expiry_payoff_and_greeks_convention() -> None:
    g = opt.bsm_greeks("CE", spot=100.0, strike=[90.0, 100.0, 110.0], t_years=0.0, vol=0.2, r=0.05)
    np.testing.assert_array_equal(g.price, [10.0, 0.0, 0.0])
    np.testing.assert_array_equal(g.delta, [1.0, 0.5, 0.0])
    for zero in (g.gamma, g.vega, g.theta):
        np.testing.assert_array_equal(zero, 0.0)
    put = opt.black76_greeks("PE", forward=100.0, strike=110.0, t_years=0.0, vol=0.2, r=0.05)
    assert float(put.price) == 10.0 and float(put.delta) == -1.0


def test_scalars_give_0d_and_broadcasting_works() -> None:
    p = opt.bsm_price("CE", spot=24_000, strike=24_000, t_years=3 / 365, vol=0.14, r=0.065)
    assert p.shape == () and isinstance(float(p), float)
    grid = opt.bsm_price("PE", spot=[[24_000], [24_100]], strike=[23_900, 24_000, 24_100],
                         t_years=3 / 365, vol=0.14, r=0.065)  # fmt: skip
    assert grid.shape == (2, 3)


@pytest.mark.parametrize(
    "kwargs",
    [{"strike": 0.0}, {"spot": -1.0}, {"t_years": -1e-9}, {"vol": 0.0}, {"strike": [100, -5]}],
)
def test_validation_raises(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"spot": 100.0, "strike": 100.0, "t_years": 0.1, "vol": 0.2, "r": 0}
    with pytest.raises(ValueError):
        opt.bsm_price("CE", **{**base, **kwargs})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="CE"):
        opt.bsm_price("XX", **base)  # type: ignore[arg-type]


def test_norm_cdf_tails_and_symmetry() -> None:
    x = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(opt.norm_cdf(x) + opt.norm_cdf(-x), 1.0, rtol=0, atol=1e-15)
    assert float(opt.norm_cdf(-1.959963984540054)) == pytest.approx(0.025, rel=1e-14)
    assert float(opt.norm_cdf(-20.0)) == pytest.approx(2.7536241186062336e-89, rel=1e-13)


# --- forwards ------------------------------------------------------------------------------------


def test_forward_from_parity_recovers_the_model_forward() -> None:
    s, t, r, q = 24_000.0, 3 / 365, 0.065, 0.01
    ks = np.arange(23_500.0, 24_550.0, 50.0)
    calls = opt.bsm_price("CE", spot=s, strike=ks, t_years=t, vol=0.14, r=r, q=q)
    puts = opt.bsm_price("PE", spot=s, strike=ks, t_years=t, vol=0.14, r=r, q=q)
    expected = float(opt.forward_from_spot(s, r, t, q))
    assert opt.forward_from_parity(ks, calls, puts, r, t) == pytest.approx(expected, rel=1e-12)
    puts[np.abs(ks - 24_000) < 60] = np.nan  # nearest quotes missing: the next ones are used
    assert opt.forward_from_parity(ks, calls, puts, r, t) == pytest.approx(expected, rel=1e-12)


def test_forward_from_parity_uses_the_strikes_where_call_and_put_are_closest() -> None:
    ks = [23_900.0, 24_000.0, 24_100.0, 24_500.0]
    calls = [150.0, 80.0, 35.0, 2.0]
    puts = [40.0, 75.0, 130.0, 999.0]  # the 24500 pair is garbage and far from C ≈ P
    got = opt.forward_from_parity(ks, calls, puts, 0.0, 0.01, n_strikes=1)
    assert got == pytest.approx(24_005.0)
    assert opt.forward_from_parity(ks, calls, puts, 0.0, 0.01, n_strikes=2) == 24_005.0
    three = opt.forward_from_parity(ks, calls, puts, 0.0, 0.01, n_strikes=3)
    assert three == pytest.approx((24_005.0 + 24_005.0 + 24_010.0) / 3)


def test_estimate_forward_falls_back_to_spot() -> None:
    none = opt.estimate_forward(24_000.0, 0.065, 3 / 365)
    assert none.source is opt.ForwardSource.SPOT and none.n_pairs == 0
    assert none.forward == pytest.approx(24_000.0 * math.exp(0.065 * 3 / 365))
    missing = opt.estimate_forward(
        24_000.0, 0.065, 3 / 365, strikes=[24_000.0], call_mids=[float("nan")], put_mids=[90.0]
    )
    assert missing.source is opt.ForwardSource.SPOT
    assert opt.forward_from_parity([24_000.0], [0.0], [90.0], 0.065, 0.01) is None
    hit = opt.estimate_forward(24_000.0, 0.0, 0.01, strikes=[24_000.0, 24_050.0],
                               call_mids=[100.0, 70.0], put_mids=[90.0, 120.0])  # fmt: skip
    assert hit.source is opt.ForwardSource.PARITY and hit.n_pairs == 2
    assert hit.forward == pytest.approx(24_005.0)
    with pytest.raises(ValueError, match="lengths"):
        opt.forward_from_parity([1.0, 2.0], [1.0], [1.0], 0.0, 0.1)
