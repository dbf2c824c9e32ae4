"""Marks and parsers the configuration's sections share, in a module of their own so a section
kept in its own module (``config_live``, ``config_protections``) can use them without importing
``config``."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


@dataclass(frozen=True, slots=True)
class PercentTrap:
    """Marks a fraction key (``*_pct``: 0.006 is 0.6 %). A value above ``upper`` is taken for a
    percentage typed where a fraction is expected, and is an error that says so: a stop of
    ``sl_underlying_pct = 0.6`` would sit 60 % away, at 8,000 on a 20,000 entry.

    ``upper`` is the largest plausible value of the key (documented in ``dyntrail.starter``);
    ``config_load`` checks the file's values against it."""

    upper: float

    def problem(self, key: str, value: object) -> str | None:
        """Why ``key = value`` reads as a percentage, with the fraction to write; None when the
        value is plausible (or not a finite number: the type check reports that)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value) or value <= self.upper:
            return None
        return (
            f"{key} = {value:.6g} reads as {value * 100:.6g} %; fractions are used: "
            f"write {value / 100:.6g} for {value:.6g} % (a value above {self.upper:.6g} is "
            "taken for a percentage)"
        )


def parse_time(value: Any) -> dt.time:
    """Accept a TOML local time or a "HH:MM[:SS]" string; anything else is a clear error."""
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        m = _TIME_RE.match(value.strip())
        if m:
            return dt.time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    raise ValueError(f'malformed time {value!r}: expected "HH:MM:SS" (24-hour), e.g. "09:20:00"')
