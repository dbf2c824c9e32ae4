"""A small week of synthetic bars written in the layouts traders have (fixed seed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dyntrail.core.config import DataSection
from dyntrail.data.calendar import trading_days
from dyntrail.data.loaders import MarketData, load_folder
from dyntrail.data.synthetic import SyntheticMarket, generate

WriteFolder = Callable[..., Path]
LoadFolder = Callable[..., MarketData]


@pytest.fixture(scope="session")
def market() -> SyntheticMarket:
    # 2025-03-03 .. 2025-03-07: an ordinary NSE week, five full sessions of 375 bars
    return generate(trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 7)), seed=5)


@pytest.fixture(scope="session")
def stamps(market: SyntheticMarket) -> pd.Series:
    """Bar starts as naive exchange time."""
    return pd.Series(market.timestamps.astype("datetime64[s]"))


@pytest.fixture(scope="session")
def prices(market: SyntheticMarket) -> dict[str, np.ndarray]:
    return {
        "open": market.open,
        "high": market.high,
        "low": market.low,
        "close": market.close,
        "volume": market.volume.astype("int64"),
    }


@pytest.fixture
def write_folder(tmp_path: Path, market: SyntheticMarket, stamps: pd.Series) -> WriteFolder:
    """Write ``underlying`` (and a canonical ``vix`` unless given) as CSV or Parquet."""

    def write(
        underlying: pd.DataFrame,
        vix: pd.DataFrame | None = None,
        fmt: str = "csv",
        name: str = "data",
    ) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        if vix is None:
            text = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
            vix = pd.DataFrame({"timestamp": text, "close": market.vix})
        for stem, df in (("underlying", underlying), ("vix", vix)):
            if fmt == "csv":
                df.to_csv(folder / f"{stem}.csv", index=False)
            else:
                df.to_parquet(folder / f"{stem}.parquet", index=False)
        return folder

    return write


@pytest.fixture
def load() -> LoadFolder:
    def run(folder: Path, data: DataSection | None = None) -> MarketData:
        return load_folder(folder, "Asia/Kolkata", dt.time(9, 15), dt.time(15, 30), data=data)

    return run


@pytest.fixture
def canonical(
    write_folder: WriteFolder, load: LoadFolder, stamps: pd.Series, prices: dict
) -> MarketData:
    text = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    return load(write_folder(pd.DataFrame({"timestamp": text, **prices}), name="canonical"))
