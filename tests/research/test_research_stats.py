"""Deflated Sharpe, probabilistic Sharpe and the PBO by CSCV: formulas, properties, references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dyntrail.research.stats import (
    DeflatedSharpe,
    Pbo,
    column_sharpe,
    deflated_sharpe,
    deflated_sharpe_of,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
    sharpe,
)

# ------------------------------------------------------------------------------------------
# sharpe


def test_sharpe_annualises_mean_over_sample_std() -> None:
    r = np.array([0.01, -0.005, 0.02, 0.0, 0.003])
    expected = r.mean() / r.std(ddof=1) * math.sqrt(252)
    assert sharpe(r) == pytest.approx(expected, rel=1e-12)
    assert sharpe(r, periods_per_year=1.0) == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)


@pytest.mark.parametrize("r", [[], [0.01], [0.01, 0.01, 0.01], [0.01, math.nan]])
def test_sharpe_is_nan_when_undefined(r: list[float]) -> None:
    assert math.isnan(sharpe(np.array(r, dtype=float)))


def test_column_sharpe_flat_and_constant_columns() -> None:
    x = np.array([[0.0, 0.01, 0.01], [0.0, 0.01, -0.02], [0.0, 0.01, 0.03]])
    out = column_sharpe(x)
    assert out[0] == 0.0
    assert out[1] == math.inf
    assert out[2] == pytest.approx(x[:, 2].mean() / x[:, 2].std(ddof=1))


# ------------------------------------------------------------------------------------------
# probabilistic and deflated Sharpe


def test_dsr_hand_computed() -> None:
    sr_best, n_obs, skew, kurt = 0.12, 750, -0.4, 5.5
    sr_trials = np.array([0.12, 0.05, -0.02, 0.08, 0.01, 0.03, -0.04, 0.06, 0.0, 0.02])
    # The formula written out, independently of the module.
    n = len(sr_trials)
    v = np.var(sr_trials, ddof=1)
    g = np.euler_gamma
    sr0 = math.sqrt(v) * (
        (1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * math.e))
    )
    z = (sr_best - sr0) * math.sqrt(n_obs - 1)
    z /= math.sqrt(1 - skew * sr_best + (kurt - 1) / 4 * sr_best**2)
    expected = stats.norm.cdf(z)

    got = deflated_sharpe(sr_best, n_obs, skew, kurt, sr_trials)
    assert isinstance(got, DeflatedSharpe)
    assert got.sr0 == pytest.approx(sr0, rel=1e-12)
    assert got.dsr == pytest.approx(expected, rel=1e-12)
    assert got.n_trials == 10
    assert got.sr_variance == pytest.approx(v, rel=1e-12)
    assert (got.sr_best, got.n_obs, got.skew, got.kurt) == (sr_best, n_obs, skew, kurt)
    assert 0.0 < got.dsr < 1.0


def test_dsr_with_one_trial_is_psr_against_zero() -> None:
    got = deflated_sharpe(0.08, 500, -0.3, 4.0, np.array([0.08]))
    assert got.sr0 == 0.0
    assert got.n_trials == 1
    assert got.dsr == pytest.approx(probabilistic_sharpe(0.08, 0.0, 500, -0.3, 4.0), rel=1e-15)
    # The same through the n_trials override.
    forced = deflated_sharpe(0.08, 500, -0.3, 4.0, np.array([0.08, 0.01, 0.02]), n_trials=1)
    assert forced.dsr == got.dsr


def test_dsr_nan_cases() -> None:
    assert math.isnan(deflated_sharpe(0.1, 1, 0.0, 3.0, np.array([0.1, 0.0])).dsr)
    # 1 - skew*SR + (kurt-1)/4*SR^2 < 0: a big SR with a strong positive skew and kurt < 1.
    assert math.isnan(deflated_sharpe(2.0, 100, 1.5, 0.5, np.array([2.0, 0.0])).dsr)
    assert math.isnan(probabilistic_sharpe(2.0, 0.0, 100, 1.5, 0.5))
    assert math.isnan(probabilistic_sharpe(0.1, 0.0, 100, math.nan, 3.0))
    # N > 1 but no variance to speak of.
    nan_var = deflated_sharpe(0.1, 100, 0.0, 3.0, np.array([0.1]), n_trials=5)
    assert math.isnan(nan_var.sr0) and math.isnan(nan_var.dsr)
    with pytest.raises(ValueError):
        deflated_sharpe(0.1, 100, 0.0, 3.0, np.array([]))


def test_expected_max_sharpe_grows_with_variance() -> None:
    values = [expected_max_sharpe(20, v) for v in (0.0, 1e-4, 4e-4, 1e-3, 1e-2)]
    assert values[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(values))
    # SR0 scales with the standard deviation of the trials' Sharpe ratios.
    assert expected_max_sharpe(20, 4e-4) == pytest.approx(2 * expected_max_sharpe(20, 1e-4))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=5000),
    extra=st.integers(min_value=1, max_value=5000),
    variance=st.floats(min_value=1e-8, max_value=0.05),
    sr_best=st.floats(min_value=-0.3, max_value=0.5),
)
def test_more_trials_never_lower_sr0_nor_raise_dsr(
    n: int, extra: int, variance: float, sr_best: float
) -> None:
    assert expected_max_sharpe(n, variance) <= expected_max_sharpe(n + extra, variance)
    trials = np.array([-1.0, 1.0]) * math.sqrt(variance / 2)  # sample variance == variance
    few = deflated_sharpe(sr_best, 500, 0.0, 3.0, trials, n_trials=n)
    many = deflated_sharpe(sr_best, 500, 0.0, 3.0, trials, n_trials=n + extra)
    assert few.sr_variance == pytest.approx(variance)
    assert few.sr0 <= many.sr0
    assert many.dsr <= few.dsr


def test_psr_big_true_sharpe_is_near_one() -> None:
    rng = np.random.default_rng(7)
    r = rng.normal(0.001, 0.01, 5000)  # true daily Sharpe 0.1 (about 1.6 a year)
    sr = sharpe(r, periods_per_year=1.0)
    psr = probabilistic_sharpe(
        sr, 0.0, r.size, float(stats.skew(r)), float(stats.kurtosis(r, fisher=False))
    )
    assert psr > 0.999


def test_psr_zero_mean_is_about_half() -> None:
    rng = np.random.default_rng(11)
    # A sample with exactly zero mean: PSR exactly 0.5.
    r = rng.normal(0.0, 0.01, 1000)
    r -= r.mean()
    sr = sharpe(r, periods_per_year=1.0)
    psr = probabilistic_sharpe(sr, 0.0, r.size, float(stats.skew(r)), 3.0)
    assert psr == pytest.approx(0.5, abs=1e-9)
    # Under a zero true mean the PSR is roughly uniform: mean ~0.5, about 5 % below 0.05.
    many = rng.normal(0.0, 0.01, (400, 250))
    psrs = np.array(
        [
            probabilistic_sharpe(
                sharpe(x, periods_per_year=1.0),
                0.0,
                x.size,
                float(stats.skew(x)),
                float(stats.kurtosis(x, fisher=False)),
            )
            for x in many
        ]
    )
    assert psrs.mean() == pytest.approx(0.5, abs=0.05)
    assert np.mean(psrs < 0.05) < 0.1


def test_deflated_sharpe_of_matches_the_pieces() -> None:
    rng = np.random.default_rng(3)
    trials = rng.normal(0.0002, 0.01, (600, 25))
    trials[:, 0] += 0.0015
    best = trials[:, 0]
    got = deflated_sharpe_of(best, trials)
    srs = trials.mean(axis=0) / trials.std(axis=0, ddof=1)
    expected = deflated_sharpe(
        srs[0], 600, float(stats.skew(best)), float(stats.kurtosis(best, fisher=False)), srs
    )
    assert got.dsr == pytest.approx(expected.dsr, rel=1e-9)
    assert got.sr0 == pytest.approx(expected.sr0, rel=1e-9)
    assert got.skew == pytest.approx(expected.skew, rel=1e-9)
    assert got.kurt == pytest.approx(expected.kurt, rel=1e-9)
    assert got.n_trials == 25
    # A list of series (lengths may differ) gives the same for equal lengths.
    as_list = deflated_sharpe_of(best, [trials[:, j] for j in range(25)])
    assert as_list.dsr == pytest.approx(got.dsr, rel=1e-12)
    # A trial that never traded (flat zero returns) has no Sharpe and is left out.
    with_flat = deflated_sharpe_of(best, [*[trials[:, j] for j in range(25)], np.zeros(600)])
    assert with_flat.n_trials == 25
    assert with_flat.dsr == pytest.approx(got.dsr, rel=1e-12)


# ------------------------------------------------------------------------------------------
# PBO by CSCV


def _reference_pbo(x: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The procedure spelled out literally: loop over combinations, scipy's rankdata."""
    t, n = x.shape
    b = t // s
    blocks = [x[i * b : (i + 1) * b] for i in range(s)]
    logits, is_best, oos_best = [], [], []
    for combo in itertools.combinations(range(s), s // 2):
        ins = np.vstack([blocks[i] for i in combo])
        oos = np.vstack([blocks[i] for i in range(s) if i not in combo])
        sr_is = ins.mean(axis=0) / ins.std(axis=0, ddof=1)
        sr_oos = oos.mean(axis=0) / oos.std(axis=0, ddof=1)
        star = int(np.argmax(sr_is))
        rank = stats.rankdata(sr_oos)[star]
        w = rank / (n + 1)
        logits.append(math.log(w / (1 - w)))
        is_best.append(sr_is[star])
        oos_best.append(sr_oos[star])
    return np.array(logits), np.array(is_best), np.array(oos_best)


def test_pbo_matches_a_literal_reference() -> None:
    x = np.random.default_rng(42).normal(0.0, 0.01, (50, 6))  # 2 rows beyond 6 blocks of 8
    got = pbo_cscv(x, n_splits=6)
    logits, is_best, oos_best = _reference_pbo(x[:48], 6)
    assert got.rows_used == 48
    assert got.n_combinations == 20
    np.testing.assert_allclose(got.logits, logits, rtol=0, atol=1e-12)
    assert got.pbo == pytest.approx(np.mean(logits <= 0), abs=1e-15)
    np.testing.assert_allclose(got.is_metric, is_best, rtol=1e-9)
    np.testing.assert_allclose(got.oos_metric, oos_best, rtol=1e-9)
    slope, intercept = np.polyfit(is_best, oos_best, 1)
    assert got.performance_degradation == pytest.approx((slope, intercept), rel=1e-8)
    assert got.prob_oos_loss == pytest.approx(np.mean(oos_best < 0))


def test_pbo_custom_metric_path_matches_the_fast_path() -> None:
    x = np.random.default_rng(5).normal(0.0003, 0.01, (96, 12))

    def slow_sharpe(m: np.ndarray) -> np.ndarray:
        return m.mean(axis=0) / m.std(axis=0, ddof=1)

    fast = pbo_cscv(x, n_splits=6)
    slow = pbo_cscv(x, n_splits=6, metric=slow_sharpe)
    np.testing.assert_allclose(fast.logits, slow.logits, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.oos_metric, slow.oos_metric, rtol=1e-9)
    assert fast.pbo == slow.pbo
    # Any metric works, e.g. total return.
    total = pbo_cscv(x, n_splits=6, metric=lambda m: m.sum(axis=0))
    assert 0.0 <= total.pbo <= 1.0


def test_pbo_of_pure_noise_is_about_half() -> None:
    # One noise matrix gives a PBO anywhere from ~0.1 to ~0.9 (the 70 splits of S = 8 share
    # their data); the average over many seeded matrices must sit near 0.5.
    values = [
        pbo_cscv(np.random.default_rng(100 + k).normal(0.0, 0.01, (320, 50)), n_splits=8).pbo
        for k in range(100)
    ]
    assert 0.4 < float(np.mean(values)) < 0.6
    assert 0.3 < float(np.median(values)) < 0.7


def test_pbo_with_a_real_edge_is_near_zero() -> None:
    x = np.random.default_rng(9).normal(0.0, 0.01, (320, 50))
    x[:, 17] += 0.006  # a real edge (daily Sharpe 0.6) in every block
    got = pbo_cscv(x, n_splits=8)
    assert got.pbo < 0.1
    assert np.all(got.best_index == 17)
    assert got.prob_oos_loss == 0.0


def test_pbo_of_a_built_overfit_is_near_one() -> None:
    # One configuration per way of being good on half the blocks and bad on the rest: the
    # in-sample winner is the configuration that is bad exactly on the out-of-sample blocks.
    s, b = 8, 40
    patterns = list(itertools.combinations(range(s), s // 2))
    signs = -np.ones((s, len(patterns)))
    for j, good in enumerate(patterns):
        signs[list(good), j] = 1.0
    noise = np.random.default_rng(13).normal(0.0, 0.01, (s * b, len(patterns)))
    x = np.repeat(signs, b, axis=0) * 0.004 + noise
    got = pbo_cscv(x, n_splits=s)
    assert got.pbo > 0.9
    assert got.prob_oos_loss > 0.9
    assert got.performance_degradation[0] < 0


@pytest.mark.parametrize("s", [2, 4, 6, 8, 10])
def test_pbo_has_c_s_half_combinations(s: int) -> None:
    x = np.random.default_rng(s).normal(0.0, 0.01, (10 * s + s - 1, 4))
    got = pbo_cscv(x, n_splits=s)
    assert got.n_combinations == math.comb(s, s // 2)
    assert got.logits.shape == (math.comb(s, s // 2),)
    assert (got.n_splits, got.n_trials, got.rows_used) == (s, 4, 10 * s)


def test_pbo_bad_inputs() -> None:
    x = np.random.default_rng(0).normal(0.0, 0.01, (64, 5))
    with pytest.raises(ValueError, match="even"):
        pbo_cscv(x, n_splits=7)
    with pytest.raises(ValueError, match="even"):
        pbo_cscv(x, n_splits=0)
    with pytest.raises(ValueError, match="rows"):
        pbo_cscv(x[:10], n_splits=16)
    with pytest.raises(ValueError, match="2 trials"):
        pbo_cscv(x[:, :1], n_splits=4)
    with pytest.raises(ValueError, match="2-D"):
        pbo_cscv(x[:, 0], n_splits=4)
    bad = x.copy()
    bad[3, 2] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        pbo_cscv(bad, n_splits=4)
    with pytest.raises(ValueError, match="max_combinations"):
        pbo_cscv(x, n_splits=4, max_combinations=0)
    with pytest.raises(ValueError, match="shape"):
        pbo_cscv(x, n_splits=4, metric=lambda m: m.sum())
    with pytest.raises(ValueError, match="NaN"):
        pbo_cscv(x, n_splits=4, metric=lambda m: np.full(m.shape[1], math.nan))


def test_pbo_is_deterministic_and_samples_reproducibly() -> None:
    x = np.random.default_rng(21).normal(0.0, 0.01, (160, 30))
    a, b = pbo_cscv(x, n_splits=8), pbo_cscv(x, n_splits=8)
    assert isinstance(a, Pbo)
    assert a.pbo == b.pbo
    np.testing.assert_array_equal(a.logits, b.logits)
    assert a.performance_degradation == b.performance_degradation
    with pytest.raises(ValueError):
        a.logits[0] = 1.0  # read-only

    s1 = pbo_cscv(x, n_splits=16, max_combinations=300, seed=4)
    s2 = pbo_cscv(x, n_splits=16, max_combinations=300, seed=4)
    s3 = pbo_cscv(x, n_splits=16, max_combinations=300, seed=5)
    assert s1.n_combinations == 300
    np.testing.assert_array_equal(s1.logits, s2.logits)
    assert not np.array_equal(s1.logits, s3.logits)
    # A cap at or above C(S, S/2) means all combinations.
    full = pbo_cscv(x, n_splits=8, max_combinations=1000)
    np.testing.assert_array_equal(full.logits, a.logits)


def test_pbo_a_never_trading_configuration_ranks_at_zero_sharpe() -> None:
    x = np.random.default_rng(8).normal(0.0, 0.01, (80, 5))
    x[:, 2] = 0.0
    got = pbo_cscv(x, n_splits=4)
    assert np.all(np.isfinite(got.logits))
    assert np.all(np.isfinite(got.is_metric))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    rows=st.integers(min_value=8, max_value=60),
    n=st.integers(min_value=2, max_value=12),
    s=st.sampled_from([2, 4, 6, 8]),
    power=st.integers(min_value=-6, max_value=6),
    ties=st.booleans(),
)
def test_pbo_properties(seed: int, rows: int, n: int, s: int, power: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    rows = max(rows, s)
    x = rng.normal(rng.normal(0.0, 0.005, n), 0.01, (rows, n))
    if ties:  # duplicated and flat columns: ties in both halves
        x[:, -1] = x[:, 0]
        x[:, n // 2] = 0.0
    got = pbo_cscv(x, n_splits=s)
    assert 0.0 <= got.pbo <= 1.0
    assert np.all(np.isfinite(got.logits))
    assert got.n_combinations == math.comb(s, s // 2)
    # Only ranks matter: scaling every return by the same positive factor (a power of two,
    # exact in floating point) changes nothing.
    scaled = pbo_cscv(x * 2.0**power, n_splits=s)
    np.testing.assert_array_equal(scaled.logits, got.logits)
    assert scaled.pbo == got.pbo
