"""The engine's rules that both compiled screening kernels (``screen``'s on the underlying,
``option_kernel``'s on options) apply the same way, compiled once (numba)."""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, nogil=True)
def entry_levels(
    entry: float, sl: float, k: float, atr: float, rr: float, be: float
) -> tuple[float, float, float]:
    """A long entry's initial (stop, target, break-even trigger) at ``entry``, as
    ``DynamicTargetEngine.compute_targets`` makes them: the risk is ``entry x sl``; the stop is
    that far below, or ``k x ATR`` when that is tighter (``k > 0``, the ATR finite and > 0); the
    target ``rr`` risks above; the break-even trigger ``entry x be`` above."""
    risk = entry * sl
    dist = risk
    if k > 0 and atr > 0 and atr < math.inf:
        ka = k * atr
        dist = ka if ka < risk else risk
    return entry - dist, entry + rr * risk, entry + entry * be
