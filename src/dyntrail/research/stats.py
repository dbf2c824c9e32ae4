"""The statistics that keep parameter research honest.

Try enough parameter sets and one of them will look brilliant by luck alone. The two measures
here ask, in two different ways, how much of the best backtest's shine is that luck.

**Deflated Sharpe Ratio (DSR)** -- Bailey, D. H. and López de Prado, M. (2014), "The Deflated
Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality", *Journal
of Portfolio Management* 40(5), 94-107.

If you ran N configurations that all had no edge at all, the best of them would still show a
positive Sharpe ratio, and the more configurations (and the more their Sharpe ratios scatter),
the higher that lucky best would be. The DSR first estimates that "best of N by luck" Sharpe
(``SR0``), then asks how confident one can be that the Sharpe you actually picked beats it,
allowing for the track record's length and for fat tails and skew (a strategy that earns small
amounts often and loses big rarely has a Sharpe that is less trustworthy than it looks). The
answer is a probability: a DSR of 0.97 means about 97 % confidence that the true Sharpe is above
what the search alone would have produced; below about 0.95 the result is not convincing. With a
single trial (N = 1) the DSR is the *probabilistic Sharpe ratio* (PSR) against zero.

**Probability of Backtest Overfitting (PBO)** -- Bailey, D. H., Borwein, J. M., López de Prado,
M. and Zhu, Q. J. (2017), "The Probability of Backtest Overfitting", *Journal of Computational
Finance* 20(4), 39-69 (working paper 2013/2015), by Combinatorially Symmetric Cross-Validation
(CSCV).

Cut the history into S equal slices. Take any half of the slices as the "in-sample" period and
the other half as the "out-of-sample" period, pick the configuration that did best in-sample,
and see where it lands out of sample among all configurations. Do it for every way of choosing
the half (12,870 ways for S = 16). The PBO is the fraction of those splits in which the
in-sample winner ended up at or below the median out of sample. Near 0: choosing the in-sample
best really picks something that keeps working. Near 0.5: the choice is a coin toss -- the
search found noise. Above 0.5: the search systematically picks what will disappoint.

Units: ``sharpe`` annualises (per-period mean over standard deviation, times
``sqrt(periods_per_year)``). Everything in the DSR and PSR works in *per-period*
(non-annualised) Sharpe ratios: a daily Sharpe of 0.1 is about 1.6 annualised. Pass
``sharpe(r, periods_per_year=1.0)`` values, or divide annualised ones by ``sqrt(252)``. PBO only
uses ranks, so its Sharpe is per period as well.

Everything here is a pure function of its inputs (numpy and the standard library only).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Metric = Callable[[FloatArray], FloatArray]

_NORMAL = NormalDist()
EULER_GAMMA = 0.5772156649015329  # the Euler-Mascheroni constant
_CHUNK = 2048  # combinations evaluated at once by pbo_cscv (bounds memory at chunk x trials)


# --------------------------------------------------------------------------------------------
# Sharpe ratio


def sharpe(returns: npt.ArrayLike, periods_per_year: float = 252.0) -> float:
    """Annualised Sharpe ratio of per-period (daily by default) returns.

    ``mean / std * sqrt(periods_per_year)`` with the sample standard deviation (``ddof=1``) and
    no risk-free rate (pass excess returns if you want one). ``periods_per_year=1`` gives the
    per-period Sharpe the DSR and PSR take. NaN with fewer than 2 values, a zero standard
    deviation or any non-finite value.
    """
    r = np.asarray(returns, dtype=np.float64).ravel()
    if r.size < 2 or not np.all(np.isfinite(r)):
        return math.nan
    sd = float(np.std(r, ddof=1))
    if sd == 0.0 or not math.isfinite(sd):
        return math.nan
    return float(np.mean(r)) / sd * math.sqrt(periods_per_year)


def column_sharpe(returns: FloatArray) -> FloatArray:
    """Per-period Sharpe ratio of each column of a 2-D returns matrix (the PBO's default metric).

    ``mean / std`` (``ddof=1``) per column, not annualised. Being a ranking metric it is defined
    everywhere: a column with zero standard deviation scores 0 when its mean is 0 (a
    configuration that never trades) and plus or minus infinity otherwise.
    """
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError("column_sharpe needs a 2-D matrix with at least 2 rows")
    mean = x.mean(axis=0)
    sd = x.std(axis=0, ddof=1)
    return _ratio(mean, sd)


def _ratio(mean: FloatArray, sd: FloatArray) -> FloatArray:
    """mean / sd, with 0 for 0/0 and +-inf for x/0 (see ``column_sharpe``)."""
    out = np.zeros_like(mean)
    pos = sd > 0
    np.divide(mean, sd, out=out, where=pos)
    flat = ~pos & (mean != 0)
    out[flat] = np.copysign(np.inf, mean[flat])
    return out


def _moments(r: FloatArray) -> tuple[float, float]:
    """Skewness and (non-excess) kurtosis from the population moments.

    Equal to ``scipy.stats.skew(r)`` and ``scipy.stats.kurtosis(r, fisher=False)`` (both with
    their default ``bias=True``). NaN for a constant series.
    """
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    if m2 == 0.0:
        return math.nan, math.nan
    m3 = float(np.mean(d**3))
    m4 = float(np.mean(d**4))
    return m3 / m2**1.5, m4 / m2**2


# --------------------------------------------------------------------------------------------
# Probabilistic and Deflated Sharpe ratio


@dataclass(frozen=True)
class DeflatedSharpe:
    """A Deflated Sharpe Ratio and the inputs it came from (Sharpe values per period).

    ``dsr`` is the probability that the true Sharpe exceeds ``sr0``, the Sharpe the best of
    ``n_trials`` no-edge trials would show by luck (0 when ``n_trials == 1``); ``sr_variance`` is
    the sample variance (``ddof=1``) of the trials' Sharpe ratios (NaN with fewer than 2).
    ``kurt`` is the non-excess kurtosis (3 for normal returns).
    """

    dsr: float
    sr0: float
    n_trials: int
    sr_best: float
    sr_variance: float
    n_obs: int
    skew: float
    kurt: float


def probabilistic_sharpe(
    sr: float, sr_benchmark: float, n_obs: int, skew: float, kurt: float
) -> float:
    """Probabilistic Sharpe Ratio: the probability that the true Sharpe exceeds a benchmark.

    ``PSR = Phi((sr - sr_benchmark) * sqrt(n_obs - 1) / sqrt(1 - skew*sr + (kurt-1)/4 * sr**2))``
    (Bailey and López de Prado 2012, "The Sharpe Ratio Efficient Frontier"), with ``sr`` and
    ``sr_benchmark`` *per-period* (non-annualised) Sharpe ratios, ``n_obs`` the number of
    returns ``sr`` was estimated from, ``skew`` their skewness and ``kurt`` their non-excess
    kurtosis (3 for normal). NaN with fewer than 2 observations, a non-finite input, or when
    the variance term under the square root is not positive.
    """
    if n_obs < 2:
        return math.nan
    if not all(math.isfinite(v) for v in (sr, sr_benchmark, skew, kurt)):
        return math.nan
    var = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if not var > 0.0:
        return math.nan
    z = (sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var)
    return _NORMAL.cdf(z)


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """The Sharpe the best of ``n_trials`` independent no-edge trials shows by luck (``SR0``).

    ``sqrt(variance) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))`` with ``g`` the
    Euler-Mascheroni constant and ``variance`` the variance of the trials' (per-period) Sharpe
    ratios; 0 for a single trial. Non-decreasing in ``n_trials`` and in ``variance``. NaN when
    ``variance`` is negative or not finite (and ``n_trials > 1``).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if n_trials == 1:
        return 0.0
    if not (math.isfinite(variance) and variance >= 0.0):
        return math.nan
    n = float(n_trials)
    z = (1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / n) + EULER_GAMMA * _NORMAL.inv_cdf(
        1.0 - 1.0 / (n * math.e)
    )
    return math.sqrt(variance) * z


def deflated_sharpe(
    sr_best: float,
    n_obs: int,
    skew: float,
    kurt: float,
    sr_trials: npt.ArrayLike,
    *,
    n_trials: int | None = None,
) -> DeflatedSharpe:
    """Deflated Sharpe Ratio of the best of several trials (Bailey and López de Prado 2014).

    All Sharpe ratios are *per period* (non-annualised). ``sr_best`` is the selected trial's
    Sharpe, estimated from ``n_obs`` returns with skewness ``skew`` and non-excess kurtosis
    ``kurt`` (3 for normal). ``sr_trials`` holds the Sharpe of every trial tried, the selected
    one included; their sample variance (``ddof=1``) sets the luck benchmark
    ``SR0 = expected_max_sharpe(N, V)`` and ``DSR = probabilistic_sharpe(sr_best, SR0, ...)``.

    ``N`` is ``len(sr_trials)`` unless ``n_trials`` gives it (for instance an estimate of the
    number of *independent* trials when many are near duplicates; the variance still comes from
    ``sr_trials``). With ``N == 1`` the DSR is the PSR against 0. The DSR is NaN with fewer than
    2 observations, a negative value under the square root, or an undefined variance.
    """
    trials = np.asarray(sr_trials, dtype=np.float64).ravel()
    n = int(trials.size if n_trials is None else n_trials)
    if n < 1:
        raise ValueError("deflated_sharpe needs at least one trial")
    variance = float(np.var(trials, ddof=1)) if trials.size >= 2 else math.nan
    sr0 = expected_max_sharpe(n, variance)
    dsr = probabilistic_sharpe(sr_best, sr0, n_obs, skew, kurt)
    return DeflatedSharpe(
        dsr=dsr,
        sr0=sr0,
        n_trials=n,
        sr_best=float(sr_best),
        sr_variance=variance,
        n_obs=int(n_obs),
        skew=float(skew),
        kurt=float(kurt),
    )


def deflated_sharpe_of(
    best_returns: npt.ArrayLike,
    trial_returns: Sequence[npt.ArrayLike] | FloatArray,
    *,
    n_trials: int | None = None,
) -> DeflatedSharpe:
    """``deflated_sharpe`` straight from per-period (daily) returns.

    ``best_returns`` is the selected trial's return series; ``trial_returns`` the return series
    of every trial tried, the selected one included: a list of 1-D arrays (their lengths may
    differ) or a 2-D array with one column per trial (rows are periods, as for ``pbo_cscv``).
    Sharpe ratios are per period (``sharpe(r, periods_per_year=1)``); skewness and non-excess
    kurtosis are those of ``best_returns`` (population moments, as ``scipy.stats.skew`` and
    ``scipy.stats.kurtosis(fisher=False)``). A trial whose Sharpe is undefined (fewer than 2
    returns or zero standard deviation, such as a configuration that never traded) is left
    out of both the variance and the trial count unless ``n_trials`` says otherwise.
    """
    best = np.asarray(best_returns, dtype=np.float64).ravel()
    if isinstance(trial_returns, np.ndarray) and trial_returns.ndim == 2:
        columns: list[FloatArray] = [
            np.asarray(trial_returns[:, j], dtype=np.float64) for j in range(trial_returns.shape[1])
        ]
    else:
        columns = [np.asarray(t, dtype=np.float64).ravel() for t in trial_returns]
    srs = np.array([sharpe(c, periods_per_year=1.0) for c in columns], dtype=np.float64)
    srs = srs[np.isfinite(srs)]
    if srs.size == 0 and n_trials is None:
        raise ValueError("deflated_sharpe_of: no trial has a defined Sharpe ratio")
    sr_best = sharpe(best, periods_per_year=1.0)
    skew, kurt = _moments(best) if best.size >= 2 else (math.nan, math.nan)
    return deflated_sharpe(sr_best, int(best.size), skew, kurt, srs, n_trials=n_trials)


# --------------------------------------------------------------------------------------------
# Probability of Backtest Overfitting (CSCV)


@dataclass(frozen=True, eq=False)
class Pbo:
    """The outcome of ``pbo_cscv`` (arrays are read-only; instances compare by identity).

    - ``pbo``: fraction of combinations whose logit is at or below 0.
    - ``logits``: one ``ln(w / (1 - w))`` per combination, ``w = rank / (N + 1)`` the OOS
      relative rank of the in-sample best configuration.
    - ``n_combinations``, ``n_splits`` (S), ``n_trials`` (N).
    - ``performance_degradation``: ``(slope, intercept)`` of the least-squares line of the
      in-sample best's OOS metric against its IS metric (NaN when undefined); a slope well
      below 1 (or negative) means in-sample excellence does not carry over.
    - ``prob_oos_loss``: fraction of combinations whose in-sample best has an OOS metric < 0.
    - ``is_metric``, ``oos_metric``: the in-sample best's IS and OOS metric per combination.
    - ``best_index``: the in-sample best configuration (column) per combination.
    - ``rows_used``: rows that went into the blocks (the remainder at the end is dropped).
    """

    pbo: float
    logits: FloatArray
    n_combinations: int
    n_splits: int
    n_trials: int
    performance_degradation: tuple[float, float]
    prob_oos_loss: float
    is_metric: FloatArray
    oos_metric: FloatArray
    best_index: npt.NDArray[np.int64]
    rows_used: int


def _combinations(n_splits: int, max_combinations: int | None, seed: int) -> npt.NDArray[np.int64]:
    """The in-sample block sets, one sorted row of ``S/2`` block indices per combination."""
    half = n_splits // 2
    total = math.comb(n_splits, half)
    if max_combinations is None or max_combinations >= total:
        combos = list(itertools.combinations(range(n_splits), half))
    else:
        rng = np.random.default_rng(seed)
        chosen: set[tuple[int, ...]] = set()
        while len(chosen) < max_combinations:
            pick = np.sort(rng.permutation(n_splits)[:half])
            chosen.add(tuple(int(i) for i in pick))
        combos = sorted(chosen)
    return np.array(combos, dtype=np.int64).reshape(len(combos), half)


def _rank_of(values: FloatArray, idx: npt.NDArray[np.int64]) -> FloatArray:
    """Ascending rank (1..N, ties averaged) of ``values[i, idx[i]]`` within row ``i``."""
    v = values[np.arange(values.shape[0]), idx][:, None]
    less = np.count_nonzero(values < v, axis=1)
    equal = np.count_nonzero(values == v, axis=1)
    out: FloatArray = less + (equal + 1) / 2.0
    return out


def pbo_cscv(
    returns: npt.ArrayLike,
    n_splits: int = 16,
    metric: Metric = column_sharpe,
    *,
    max_combinations: int | None = None,
    seed: int = 0,
) -> Pbo:
    """Probability of Backtest Overfitting by Combinatorially Symmetric Cross-Validation.

    ``returns`` is a T x N matrix of per-period returns: rows are periods (days) in time order,
    columns the N configurations (trials) of a parameter search. The first ``S * (T // S)`` rows
    are cut into ``S = n_splits`` contiguous blocks of ``T // S`` rows; the ``T % S`` rows left
    at the end are dropped (``Pbo.rows_used`` says how many rows were used).

    For every choice of ``S/2`` blocks as in-sample (IS), the other half being out-of-sample
    (OOS) -- ``C(S, S/2)`` combinations, 12,870 for S = 16 -- the configuration ``n*`` with the
    best IS metric is picked (the lowest column index on a tie), its OOS rank ``r`` among the N
    OOS metrics is taken (1 = worst, N = best, ties averaged), ``w = r / (N + 1)`` and the logit
    ``ln(w / (1 - w))``. The PBO is the fraction of combinations with a logit ``<= 0``: the IS
    best came out at or below the OOS median (a tie with the median counts as overfit).

    ``metric`` maps a (rows x N) returns matrix to N scores, higher is better; it gets the
    blocks of one half concatenated in time order and must not return NaN. The default,
    ``column_sharpe`` (per-period Sharpe, not annualised: only ranks matter), is not called
    row by row: it is computed from each block's per-configuration sum, sum of squares and
    count, pooled per combination, which gives the same values up to rounding and makes
    T = 250, N = 200, S = 16 a matter of a second or so. Any other metric is called twice per
    combination.

    ``max_combinations`` caps the work for a large S: when ``C(S, S/2)`` exceeds it, that many
    distinct combinations are drawn at random with ``numpy.random.default_rng(seed)``
    (deterministic for a given seed) and processed in sorted order.

    Raises ``ValueError`` for an odd or too small S, fewer rows than S, fewer than 2
    configurations, non-finite returns, or a metric that returns NaN or the wrong shape.
    """
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"pbo_cscv needs a 2-D (periods x trials) matrix, got {x.ndim}-D")
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer):
        raise ValueError(f"n_splits must be an integer, got {n_splits!r}")
    n_splits = int(n_splits)
    if n_splits < 2 or n_splits % 2:
        raise ValueError(f"n_splits must be an even number of at least 2, got {n_splits}")
    t, n = x.shape
    if t < n_splits:
        raise ValueError(f"pbo_cscv needs at least n_splits={n_splits} rows, got {t}")
    if n < 2:
        raise ValueError(f"pbo_cscv needs at least 2 trials (columns), got {n}")
    if max_combinations is not None and max_combinations < 1:
        raise ValueError(f"max_combinations must be at least 1, got {max_combinations}")
    block = t // n_splits
    rows_used = block * n_splits
    x = x[:rows_used]
    if not np.all(np.isfinite(x)):
        raise ValueError("pbo_cscv: returns contain NaN or infinite values")
    half_rows = block * (n_splits // 2)
    fast = metric is column_sharpe
    if fast and half_rows < 2:
        raise ValueError("pbo_cscv: each half needs at least 2 rows for a Sharpe ratio")

    combos = _combinations(n_splits, max_combinations, seed)
    n_comb = combos.shape[0]
    is_val = np.empty(n_comb, dtype=np.float64)
    oos_val = np.empty(n_comb, dtype=np.float64)
    best = np.empty(n_comb, dtype=np.int64)
    rank = np.empty(n_comb, dtype=np.float64)

    if fast:
        # Centre each column first: the pooled variance (sumsq - sum^2/n) then loses no digits.
        centre = x.mean(axis=0)
        blocks = (x - centre).reshape(n_splits, block, n)
        b_sum = blocks.sum(axis=1)  # S x N
        b_sq = (blocks**2).sum(axis=1)  # S x N
        tot_sum = b_sum.sum(axis=0)
        tot_sq = b_sq.sum(axis=0)
        for start in range(0, n_comb, _CHUNK):
            part = combos[start : start + _CHUNK]
            mask = np.zeros((part.shape[0], n_splits), dtype=np.float64)
            np.put_along_axis(mask, part, 1.0, axis=1)
            s_is = mask @ b_sum
            q_is = mask @ b_sq
            m_is = _pooled_sharpe(s_is, q_is, half_rows, centre)
            m_oos = _pooled_sharpe(tot_sum - s_is, tot_sq - q_is, half_rows, centre)
            _score(m_is, m_oos, slice(start, start + part.shape[0]), is_val, oos_val, best, rank)
    else:
        blocks = x.reshape(n_splits, block, n)
        all_blocks = np.arange(n_splits)
        for i, part in enumerate(combos):
            oos_blocks = np.setdiff1d(all_blocks, part)
            m_is = _call_metric(metric, blocks[part].reshape(-1, n), n)
            m_oos = _call_metric(metric, blocks[oos_blocks].reshape(-1, n), n)
            _score(m_is[None, :], m_oos[None, :], slice(i, i + 1), is_val, oos_val, best, rank)

    w = rank / (n + 1)
    logits = np.log(w / (1.0 - w))
    overfit = 2.0 * rank <= n + 1  # logit <= 0, decided on the exact ranks
    for arr in (logits, is_val, oos_val, best):
        arr.setflags(write=False)
    return Pbo(
        pbo=float(np.mean(overfit)),
        logits=logits,
        n_combinations=n_comb,
        n_splits=n_splits,
        n_trials=n,
        performance_degradation=_line_fit(is_val, oos_val),
        prob_oos_loss=float(np.mean(oos_val < 0)),
        is_metric=is_val,
        oos_metric=oos_val,
        best_index=best,
        rows_used=rows_used,
    )


def _pooled_sharpe(s: FloatArray, q: FloatArray, count: int, centre: FloatArray) -> FloatArray:
    """Per-period Sharpe from centred sums and sums of squares over ``count`` rows."""
    mean_c = s / count
    var = np.maximum((q - s * mean_c) / (count - 1), 0.0)
    return _ratio(centre + mean_c, np.sqrt(var))


def _call_metric(metric: Metric, rows: FloatArray, n: int) -> FloatArray:
    out = np.asarray(metric(rows), dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"pbo_cscv: metric returned shape {out.shape}, expected ({n},)")
    return out


def _score(
    m_is: FloatArray,
    m_oos: FloatArray,
    where: slice,
    is_val: FloatArray,
    oos_val: FloatArray,
    best: npt.NDArray[np.int64],
    rank: FloatArray,
) -> None:
    """Pick each combination's IS best and record its IS value, OOS value and OOS rank."""
    if np.isnan(m_is).any() or np.isnan(m_oos).any():
        raise ValueError("pbo_cscv: the metric returned NaN")
    idx = np.argmax(m_is, axis=1).astype(np.int64)
    rows = np.arange(m_is.shape[0])
    best[where] = idx
    is_val[where] = m_is[rows, idx]
    oos_val[where] = m_oos[rows, idx]
    rank[where] = _rank_of(m_oos, idx)


def _line_fit(xv: FloatArray, yv: FloatArray) -> tuple[float, float]:
    """Least-squares ``y = slope * x + intercept`` over the finite pairs (NaN when undefined)."""
    ok = np.isfinite(xv) & np.isfinite(yv)
    if np.count_nonzero(ok) < 2:
        return math.nan, math.nan
    xs, ys = xv[ok], yv[ok]
    dx = xs - xs.mean()
    sxx = float(dx @ dx)
    if sxx == 0.0:
        return math.nan, math.nan
    slope = float(dx @ (ys - ys.mean())) / sxx
    return slope, float(ys.mean()) - slope * float(xs.mean())
