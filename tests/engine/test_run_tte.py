"""``Run.tte``: years from a naive exchange time to an expiry's close, the same float as
``time_to_expiry_years`` gives on the first call and as the aware difference on later ones,
in the exchange's zone and in one with daylight saving."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from dyntrail.core.config import Config
from dyntrail.core.config_load import parse_config
from dyntrail.core.contracts import time_to_expiry_years
from dyntrail.engine.context import Run
from dyntrail.instruments import resolve_instrument


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Europe/London"])
def test_tte_is_the_aware_difference(zone: str) -> None:
    cfg: Config = parse_config(f'[session]\ntimezone = "{zone}"\n')
    run = Run.of(cfg, resolve_instrument(cfg), [], 1, dt.timedelta(0), False)
    rng = random.Random(zone)
    expiry = dt.date(2025, 3, 27)  # London's clocks change on the 30th
    close = dt.datetime.combine(expiry, cfg.session.close, tzinfo=run.tz)
    first = dt.datetime(2025, 3, 20, 9, 16)
    s = cfg.session
    assert run.tte(first, expiry) == time_to_expiry_years(
        first.replace(tzinfo=run.tz), expiry, s.timezone, s.close
    )
    for _ in range(2_000):
        at = dt.datetime(2025, 3, 1) + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 40))
        seconds = (close - at.replace(tzinfo=run.tz)).total_seconds()
        assert run.tte(at, expiry).hex() == (max(seconds, 0.0) / (365.0 * 86400.0)).hex()
