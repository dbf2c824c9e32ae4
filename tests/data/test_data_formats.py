"""Every recognised layout loads to the same bars as dyntrail's own format, and says how it was
read."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from dyntrail.core.config import DataColumns, DataSection
from dyntrail.data.loaders import MarketData
from dyntrail.data.options_synth import RecordedQuotes
from dyntrail.errors import DataError

Build = Callable[[pd.Series, dict], pd.DataFrame]
IST = "Asia/Kolkata"


def _utc(stamps: pd.Series) -> pd.Series:
    return stamps.dt.tz_localize(IST).dt.tz_convert("UTC")


def _epoch(stamps: pd.Series, unit: str) -> pd.Series:
    return (_utc(stamps) - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(1, unit)


def _capitalised(prices: dict, case: Callable[[str], str] = str.capitalize) -> dict:
    return {case(k): v for k, v in prices.items()}


def kite(stamps: pd.Series, prices: dict) -> pd.DataFrame:
    date = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S+0530")
    return pd.DataFrame({"date": date, **prices, "oi": 0})


def kite_colon_offset(stamps: pd.Series, prices: dict) -> pd.DataFrame:
    return pd.DataFrame({"date": stamps.dt.strftime("%Y-%m-%d %H:%M:%S+05:30"), **prices})


def vendor_ddmmyyyy(stamps: pd.Series, prices: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Ticker": "NIFTY",
            "Date": stamps.dt.strftime("%d/%m/%Y"),
            "Time": stamps.dt.strftime("%H:%M"),
            **_capitalised(prices),
        }
    )


def vendor_yyyymmdd(stamps: pd.Series, prices: dict) -> pd.DataFrame:
    # MetaStock-style export: bracketed upper-case headers, numbers for the date and the time
    return pd.DataFrame(
        {
            "<TICKER>": "NIFTY 50",
            "<DATE>": stamps.dt.strftime("%Y%m%d").astype(int),
            "<TIME>": stamps.dt.strftime("%H%M%S").astype(int),
            **_capitalised(prices, lambda k: f"<{k.upper()}>"),
        }
    )


def vendor_dashes_mixed_case(stamps: pd.Series, prices: dict) -> pd.DataFrame:
    cased = {"Open": "open", "HIGH": "high", "LOW": "low", "Close": "close", "Volume": "volume"}
    return pd.DataFrame(
        {
            "Symbol": "NIFTY",
            "Date": stamps.dt.strftime("%d-%m-%Y"),
            "Time": stamps.dt.strftime("%H:%M:%S"),
            **{h: prices[k] for h, k in cased.items()},
        }
    )


def epoch_seconds(stamps: pd.Series, prices: dict) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": _epoch(stamps, "s"), **prices})


def epoch_millis(stamps: pd.Series, prices: dict) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": _epoch(stamps, "ms"), **prices})


def aware_datetimes(stamps: pd.Series, prices: dict) -> pd.DataFrame:
    return pd.DataFrame({"date": stamps.dt.tz_localize(IST), **prices})


def naive_datetimes(stamps: pd.Series, prices: dict) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": stamps, **prices})


CASES = [
    (kite, "csv", "kite candles (date with +05:30 offsets)"),
    (kite_colon_offset, "csv", "kite candles (date with +05:30 offsets)"),
    (
        vendor_ddmmyyyy,
        "csv",
        "vendor CSV (Date dd/mm/yyyy + Time HH:MM; no day above 12: read day first "
        "(month first puts 1 dates on weekends); Ticker NIFTY ignored)",
    ),
    (vendor_yyyymmdd, "csv", "vendor CSV (<DATE> yyyymmdd + <TIME> HHMMSS; <TICKER> NIFTY 50"),
    (vendor_dashes_mixed_case, "csv", "vendor CSV (Date dd-mm-yyyy + Time HH:MM:SS"),
    (epoch_seconds, "csv", "dyntrail (timestamp as epoch seconds, UTC)"),
    (epoch_millis, "csv", "dyntrail (timestamp as epoch milliseconds, UTC)"),
    (kite, "parquet", "kite candles (date with +05:30 offsets)"),
    (vendor_ddmmyyyy, "parquet", "vendor Parquet (Date dd/mm/yyyy + Time HH:MM"),
    (epoch_millis, "parquet", "dyntrail (timestamp as epoch milliseconds, UTC)"),
    (aware_datetimes, "parquet", "kite candles (date as datetimes in Asia/Kolkata)"),
    (naive_datetimes, "parquet", "dyntrail (timestamp as datetimes)"),
]


def assert_same_market(md: MarketData, ref: MarketData) -> None:
    assert np.array_equal(md.bars.timestamps, ref.bars.timestamps)
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(md.bars, name), getattr(ref.bars, name)), name
    assert np.array_equal(md.vix, ref.vix)


@pytest.mark.parametrize(
    ("build", "fmt", "described"), CASES, ids=[f"{c[0].__name__}-{c[1]}" for c in CASES]
)
def test_layout_loads_like_the_canonical_one(
    build: Build, fmt: str, described: str, write_folder, load, canonical, stamps, prices
) -> None:
    md = load(write_folder(build(stamps, prices), fmt=fmt))
    assert_same_market(md, canonical)
    assert md.formats[0].startswith(f"underlying.{fmt}: {described}"), md.formats
    assert canonical.formats == (
        "underlying.csv: dyntrail (timestamp ISO 8601)",
        "vix.csv: dyntrail (timestamp ISO 8601)",
    )


def test_vix_in_kite_layout(write_folder, load, canonical, stamps, prices, market) -> None:
    vix = kite(stamps, {"close": market.vix})
    text = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    md = load(write_folder(pd.DataFrame({"timestamp": text, **prices}), vix=vix))
    assert_same_market(md, canonical)
    assert md.formats[1] == "vix.csv: kite candles (date with +05:30 offsets)"


def test_column_mapping_and_date_format(write_folder, load, canonical, stamps, prices) -> None:
    df = pd.DataFrame(
        {
            "When": stamps.dt.strftime("%d.%m.%Y %H.%M"),
            "O": prices["open"],
            "H": prices["high"],
            "L": prices["low"],
            "Last": prices["close"],
            "Qty": prices["volume"],
        }
    )
    columns = DataColumns(timestamp="When", open="O", high="H", low="L", close="Last", volume="Qty")
    # the VIX file is dyntrail's own: the mapping and the date format do not fit it, so it
    # is recognised as usual
    data = DataSection(date_format="%d.%m.%Y %H.%M", columns=columns)
    md = load(write_folder(df), data)
    assert_same_market(md, canonical)
    assert md.formats[0] == (
        "underlying.csv: columns from [data.columns] (When %d.%m.%Y %H.%M ([data] date_format))"
    )


def test_a_mapped_header_missing_from_the_file_is_named(write_folder, load, stamps, prices) -> None:
    df = pd.DataFrame({"timestamp": stamps.dt.strftime("%Y-%m-%d %H:%M"), **prices})
    df = df.rename(columns={"close": "Last"})
    data = DataSection(columns=DataColumns(close="LTP"))
    with pytest.raises(DataError) as info:
        load(write_folder(df), data)
    msg = str(info.value)
    assert "missing column(s) close" in msg and "[data.columns] close = 'LTP'" in msg, msg


def test_day_month_order_comes_from_the_whole_column(write_folder, load, stamps, prices) -> None:
    # 2025-03-03 .. 2025-03-07: no day above 12; month first would put 2025-05-03 (a Saturday)
    # in the data, so dd/mm is taken
    df = vendor_ddmmyyyy(stamps, prices)
    md = load(write_folder(df, name="ddmm"))
    assert "no day above 12: read day first" in md.formats[0]
    assert str(md.bars.timestamps[0]) == "2025-03-03T09:15:00"
    # written month first, with a day above 12
    us = pd.DataFrame(
        {
            "Date": ["03/13/2025", "03/13/2025"],
            "Time": ["09:15", "09:16"],
            "Open": [1.0, 1.0],
            "High": [2.0, 2.0],
            "Low": [1.0, 1.0],
            "Close": [2.0, 2.0],
        }
    )
    vix = pd.DataFrame({"timestamp": ["2025-03-13 09:15:00"], "close": [14.0]})
    md = load(write_folder(us, vix=vix, name="mmdd"))
    assert md.formats[0] == "underlying.csv: vendor CSV (Date mm/dd/yyyy + Time HH:MM)"
    assert str(md.bars.timestamps[0]) == "2025-03-13T09:15:00"
    both = us.assign(Date=["13/03/2025", "03/13/2025"])
    with pytest.raises(DataError, match=r"mix day first \('13/03/2025'\) and month first"):
        load(write_folder(both, vix=vix, name="both"))


def test_mixed_aware_and_naive_rows(write_folder, load, canonical, stamps, prices) -> None:
    """Naive rows are exchange time; aware rows, in any offset, are converted."""
    naive = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    ist = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S+05:30")
    utc = _utc(stamps).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    row = np.arange(len(stamps)) % 3
    mixed = naive.where(row == 0, ist.where(row == 1, utc))
    md = load(write_folder(pd.DataFrame({"timestamp": mixed, **prices})))
    assert_same_market(md, canonical)
    assert "rows without a zone" in md.formats[0] and "+05:30 and +00:00" in md.formats[0]


def test_several_instruments_in_one_file_is_an_error(write_folder, load, stamps, prices) -> None:
    df = vendor_ddmmyyyy(stamps, prices)
    df["Ticker"] = np.where(np.arange(len(df)) % 2, "NIFTY", "BANKNIFTY")
    with pytest.raises(DataError) as info:
        load(write_folder(df))
    msg = str(info.value)
    assert "underlying.csv" in msg and "'Ticker' holds 2 instruments" in msg, msg
    assert "BANKNIFTY, NIFTY" in msg, msg


def test_options_in_a_vendor_layout_are_read_like_the_canonical_ones(
    write_folder, load, stamps, prices
) -> None:
    first = stamps.iloc[:3]
    rows = {
        "Expiry": ["2025-03-06"] * 3,
        "Strike": [22500, 22500, 22550],
        "Right": ["CE", "PE", "CE"],
        "Close": [101.5, 88.0, 75.25],
    }
    vendor = pd.DataFrame(
        {"Date": first.dt.strftime("%d/%m/%Y"), "Time": first.dt.strftime("%H:%M"), **rows}
    )
    text = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    folder = write_folder(pd.DataFrame({"timestamp": text, **prices}))
    vendor.to_csv(folder / "options.csv", index=False)
    md = load(folder)
    assert md.options is not None
    assert list(md.options["timestamp"]) == list(first.dt.strftime("%Y-%m-%d %H:%M:%S"))
    assert md.formats[2].startswith("options.csv: vendor CSV (Date dd/mm/yyyy + Time HH:MM")
    recorded = RecordedQuotes.from_frame(md.options, str(folder / "options.csv"), IST)
    assert len(recorded) == 3


def test_ambiguous_dates_are_read_in_the_order_that_keeps_them_on_weekdays(
    write_folder, load
) -> None:
    """Written month first and no field above 12 (2025-01-02 .. 2025-01-10): day first would put
    2025-02-01 and 2025-08-01..09-01 (three of them weekends) in the data, so month first is
    taken and the report says why."""
    days = ["01/02/2025", "01/03/2025", "01/06/2025", "01/07/2025", "01/08/2025", "01/09/2025",
            "01/10/2025"]  # fmt: skip
    us = pd.DataFrame(
        {"Date": days, "Time": "09:15", "Open": 1.0, "High": 2.0, "Low": 1.0, "Close": 2.0}
    )
    vix = pd.DataFrame({"timestamp": ["2025-01-02 09:15:00"], "close": [14.0]})
    md = load(write_folder(us, vix=vix, name="us"))
    assert "read month first (day first puts 3 dates on weekends)" in md.formats[0]
    assert [str(t)[:10] for t in md.bars.timestamps] == [
        "2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09",
        "2025-01-10",
    ]  # fmt: skip


@pytest.mark.parametrize(("fmt", "label"), [("%Y%m%d%H%M", "yyyymmddHHMM"),
                                            ("%Y%m%d%H%M%S", "yyyymmddHHMMSS")])  # fmt: skip
def test_numbers_that_are_written_dates_are_not_epochs(
    write_folder, load, canonical, stamps, prices, fmt: str, label: str
) -> None:
    df = pd.DataFrame({"timestamp": stamps.dt.strftime(fmt).astype("int64"), **prices})
    md = load(write_folder(df))
    assert f"as {label}" in md.formats[0]
    assert (md.bars.timestamps == canonical.bars.timestamps).all()
