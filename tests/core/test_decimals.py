"""``round_places`` is ``round`` for floats: the same float, bit for bit, on random amounts of
every size, on exact halves and their neighbours, signed zeros, non-finite values and ints."""

from __future__ import annotations

import math
import random
import struct

from hypothesis import given
from hypothesis import strategies as st

from dyntrail.core.decimals import round_places


def _bits(x: object) -> object:
    return struct.pack("<d", x) if isinstance(x, float) else (type(x), x)


@given(x=st.floats(allow_nan=True, allow_infinity=True), digits=st.integers(0, 8))
def test_any_float_rounds_as_python_does(x: float, digits: int) -> None:
    assert _bits(round_places(x, digits)) == _bits(round(x, digits))


def test_amounts_halves_and_their_neighbours_round_as_python_does() -> None:
    rng = random.Random(5)
    for _ in range(200_000):
        digits = rng.choice((2, 4, 6))
        x = rng.choice(
            (
                rng.uniform(-2e7, 2e7),
                rng.uniform(-1.0, 1.0) * 10 ** rng.randint(-9, 8),
                round(rng.uniform(-1e5, 1e5), digits) + rng.choice((0.5, -0.5)) * 10**-digits,
                rng.randint(-(10**6), 10**6) / 8,  # exact binary halves: ties to even
            )
        )
        for y in (x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)):
            assert _bits(round_places(y, digits)) == _bits(round(y, digits)), (y, digits)


def test_signed_zeros_non_finite_values_ints_and_other_digits() -> None:
    for x in (0.0, -0.0, -0.001, 0.001, -0.004999, math.inf, -math.inf, 1e300, -5e-324):
        for digits in (0, 2, 6, 15, 16, -1):
            assert _bits(round_places(x, digits)) == _bits(round(x, digits)), (x, digits)
    assert math.isnan(round_places(math.nan, 2))
    assert round_places(7, 2) == 7 and isinstance(round_places(7, 2), int)
