"""A file whose clock is off (UTC saved without a zone) is an error that says how to fix it;
a few bars outside the session stay a warning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dyntrail.core.config import DataSection
from dyntrail.errors import DataError


def _utc_naive(stamps: pd.Series) -> pd.Series:
    utc = stamps.dt.tz_localize("Asia/Kolkata").dt.tz_convert("UTC").dt.tz_localize(None)
    return utc.dt.strftime("%Y-%m-%d %H:%M:%S")


def test_utc_without_a_zone_is_an_error_naming_the_setting(
    write_folder, load, stamps, prices, market
) -> None:
    und = pd.DataFrame({"timestamp": _utc_naive(stamps), **prices})
    vix = pd.DataFrame({"timestamp": _utc_naive(stamps), "close": market.vix})
    folder = write_folder(und, vix=vix)
    with pytest.raises(DataError) as info:
        load(folder)
    msg = str(info.value)
    assert "underlying.csv" in msg and "fall outside the session 09:15:00-15:30:00" in msg, msg
    assert "looks like UTC saved without a zone" in msg, msg
    assert '[data] timezone = "UTC"' in msg, msg


def test_the_setting_fixes_it(write_folder, load, canonical, stamps, prices, market) -> None:
    und = pd.DataFrame({"timestamp": _utc_naive(stamps), **prices})
    vix = pd.DataFrame({"timestamp": _utc_naive(stamps), "close": market.vix})
    md = load(write_folder(und, vix=vix), DataSection(timezone="UTC"))
    assert np.array_equal(md.bars.timestamps, canonical.bars.timestamps)
    assert np.array_equal(md.vix, canonical.vix)
    assert md.formats[0] == (
        "underlying.csv: dyntrail (timestamp ISO 8601, times without a zone read as UTC)"
    )
    assert md.warnings == ()


def test_a_vix_file_on_another_clock_than_the_bars_is_an_error(
    write_folder, load, stamps, prices, market
) -> None:
    """[data] timezone applies to every file: VIX in exchange time while the bars are UTC is
    caught on the VIX file, not used 5.5 hours off."""
    und = pd.DataFrame({"timestamp": _utc_naive(stamps), **prices})
    with pytest.raises(DataError) as info:
        load(write_folder(und), DataSection(timezone="UTC"))
    msg = str(info.value)
    assert "vix.csv" in msg and "look like exchange time (Asia/Kolkata)" in msg, msg


def test_a_few_bars_outside_the_session_stay_a_warning(write_folder, load, stamps, prices) -> None:
    # the first day's bars shifted 20 minutes earlier: 20 of 1875 start before 09:15
    shifted = stamps.where(stamps.dt.day != 3, stamps - pd.Timedelta(minutes=20))
    text = shifted.dt.strftime("%Y-%m-%d %H:%M:%S")
    md = load(write_folder(pd.DataFrame({"timestamp": text, **prices})))
    assert any("20 bar(s) outside the session" in w for w in md.warnings), md.warnings
    assert md.bars.timestamps.size == len(stamps) - 20
