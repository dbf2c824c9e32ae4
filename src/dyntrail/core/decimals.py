"""``round(x, digits)`` for floats, the same result, made cheaper for the amounts a backtest
rounds on every bar (an equity mark's three).

Python rounds a float to ``digits`` decimals exactly: the float's exact binary value rounded
half-to-even to a whole number of ``10**-digits``, ``n``, then the float nearest to
``n / 10**digits`` (with the sign of ``x`` when ``n`` is 0). It does so through decimal strings.
Here ``n`` is taken from ``y = x * 10**digits`` (one rounding, at most half an ulp of ``y``:
below 6e-8 while ``|y| < 1e9``) whenever ``y``'s fraction is more than 1e-7 away from a half,
so that the error cannot change which whole number is nearest; the float nearest to ``n /
10**digits`` is then the quotient itself (``n`` and ``10**digits`` are exact floats and the
division is correctly rounded). Near a half, for large or non-finite values and for anything
not a float, the result is Python's ``round``."""

from __future__ import annotations

import math

_SCALES = {d: 10.0**d for d in range(16)}  # exact floats
_floor, _copysign = math.floor, math.copysign


def round_places(x: float, digits: int) -> float:
    """``round(x, digits)``: the same float, sign of zero included (the shortcut for a float
    and ``0 <= digits < 16``)."""
    scale = _SCALES.get(digits)
    if scale is not None and x.__class__ is float:
        y = x * scale
        if -1e9 < y < 1e9:
            n = _floor(y)
            f = y - n
            if f > 0.5000001:
                n += 1
            elif f >= 0.4999999:
                return round(x, digits)  # near a half: the error could decide
            return n / scale if n else _copysign(0.0, x)
    return round(x, digits)
