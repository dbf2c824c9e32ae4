"""Recorded-style option quotes: the data format, the hard cases (no bid, near-zero premiums,
quotes that stop), determinism, the model underneath, the command and a backtest on them."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dyntrail.cli import app
from dyntrail.core.config_load import load_config
from dyntrail.core.contracts import time_to_expiry_years
from dyntrail.core.options import OptionRight
from dyntrail.data.builtin import write_folder
from dyntrail.data.loaders import load_folder
from dyntrail.data.options_record import RecordStyle, count_rows, write_option_quotes
from dyntrail.data.options_synth import RecordedQuotes, SyntheticQuotes
from dyntrail.data.synthetic import generate
from dyntrail.errors import ConfigError, DataError
from dyntrail.runners.backtest import run_backtest

IST = ZoneInfo("Asia/Kolkata")
TICK = 0.05
STEP = 50.0  # NIFTY strike step
SIDE = 6  # strikes each side, the default
PRICES = ["open", "high", "low", "close", "bid", "ask"]
COLUMNS = ["timestamp", "expiry", "strike", "right", *PRICES, "volume", "oi"]
# Eight NSE trading days of January 2025 with two expiry days, Thursdays 2025-01-02 and
# 2025-01-09 (NIFTY weeklies expired on Thursday until September 2025): their afternoons are the
# hard cases. With seed 3 and stop_quotes 0.5 a trade's quotes stop while it is open (01-08).
DAYS = [dt.date(2025, 1, d) for d in (1, 2, 3, 6, 7, 8, 9, 10)]
EXPIRIES = {  # golden: the nearest weekly expiry on or after the day, and the next one
    dt.date(2025, 1, 1): {dt.date(2025, 1, 2), dt.date(2025, 1, 9)},
    dt.date(2025, 1, 2): {dt.date(2025, 1, 2), dt.date(2025, 1, 9)},
    dt.date(2025, 1, 3): {dt.date(2025, 1, 9), dt.date(2025, 1, 16)},
    dt.date(2025, 1, 6): {dt.date(2025, 1, 9), dt.date(2025, 1, 16)},
    dt.date(2025, 1, 7): {dt.date(2025, 1, 9), dt.date(2025, 1, 16)},
    dt.date(2025, 1, 8): {dt.date(2025, 1, 9), dt.date(2025, 1, 16)},
    dt.date(2025, 1, 9): {dt.date(2025, 1, 9), dt.date(2025, 1, 16)},
    dt.date(2025, 1, 10): {dt.date(2025, 1, 16), dt.date(2025, 1, 23)},
}


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Underlying and VIX of the eight days (seed 3), no options file."""
    return write_folder(generate(DAYS, seed=3), tmp_path_factory.mktemp("market"))


def _copy(market: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("underlying.parquet", "vix.parquet"):
        shutil.copy(market / name, dst / name)
    return dst


def _write(market: Path, dst: Path, **kwargs: object) -> pd.DataFrame:
    path = write_option_quotes(_copy(market, dst), **kwargs)  # type: ignore[arg-type]
    return _read(path)


def _read(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["expiry"] = pd.to_datetime(df["expiry"]).dt.date
    df["day"] = df["timestamp"].dt.date
    df["time"] = df["timestamp"].dt.time
    return df


@pytest.fixture(scope="module")
def folder(market: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The market with ``options.parquet`` written by the defaults (seed 7)."""
    folder = _copy(market, tmp_path_factory.mktemp("recorded"))
    write_option_quotes(folder)
    return folder


@pytest.fixture(scope="module")
def rows(folder: Path) -> pd.DataFrame:
    return _read(folder / "options.parquet")


def _on_grid(values: pd.Series) -> bool:
    n = values.to_numpy() / TICK
    return bool(np.all(np.abs(n - np.round(n)) <= 1e-9))


# --------------------------------------------------------------------------- the data format


def test_the_file_loads_as_recorded_quotes(folder: Path) -> None:
    path = folder / "options.parquet"
    df = pd.read_parquet(path)
    assert list(df.columns) == COLUMNS
    quotes = RecordedQuotes.from_frame(df, str(path))
    first = df.iloc[len(df) // 2]
    q = quotes.quote(
        first["timestamp"].to_pydatetime(), first["expiry"], first["strike"], first["right"]
    )
    assert q is not None and q.bid == first["bid"] and q.ask == first["ask"]


def test_prices_are_on_the_tick_with_bid_below_last_below_ask(rows: pd.DataFrame) -> None:
    assert all(_on_grid(rows[c]) for c in PRICES)
    assert (rows["bid"] >= 0).all() and (rows["bid"] == 0).any()  # bid 0 = no bid
    assert (rows["bid"] < rows["close"]).all() and (rows["close"] < rows["ask"]).all()
    low, high = rows["low"], rows["high"]
    for c in ("open", "close"):
        assert ((low <= rows[c]) & (rows[c] <= high)).all()
    assert (rows["volume"] >= 0).all() and (rows["oi"] >= 0).all()


def test_rows_for_the_nearest_and_the_next_expiry(rows: pd.DataFrame) -> None:
    found = rows.groupby("day")["expiry"].agg(set).to_dict()
    assert found == EXPIRIES


def test_every_bar_quotes_atm_and_its_strikes_each_side(rows: pd.DataFrame, market: Path) -> None:
    bars = pd.read_parquet(market / "underlying.parquet")
    atm = np.floor(bars["close"].to_numpy() / STEP + 0.5) * STEP  # midway goes up
    want = dict(zip(pd.to_datetime(bars["timestamp"]), atm, strict=True))
    for (ts, _expiry), group in rows.groupby(["timestamp", "expiry"]):
        strikes = set(group["strike"])
        assert {want[ts] + k * STEP for k in range(-SIDE, SIDE + 1)} <= strikes
        assert len(group) == 2 * len(strikes)  # both rights


def test_a_strike_once_quoted_is_quoted_until_the_close(rows: pd.DataFrame) -> None:
    key = ["day", "expiry", "strike", "right"]
    g = rows.groupby(key, observed=True)["timestamp"].agg(["min", "max", "count"])
    assert (g["max"].dt.time == dt.time(15, 29)).all()
    minutes = (g["max"] - g["min"]).dt.total_seconds() // 60 + 1
    assert (g["count"] == minutes).all()  # no gaps


# --------------------------------------------------------------------------- the hard cases


def test_cheap_options_lose_their_bid_on_expiry_afternoon(rows: pd.DataFrame) -> None:
    afternoon = (rows["expiry"] == rows["day"]) & (rows["time"] >= dt.time(14, 30))
    cheap = (rows["close"] >= 0.5) & (rows["close"] < 3.0)  # the model alone would bid these
    no_bid = rows["bid"] == 0
    assert (afternoon & cheap).sum() > 50
    assert (afternoon & cheap & no_bid).sum() / (afternoon & cheap).sum() > 0.5
    assert not (~afternoon & cheap & no_bid).any()
    assert (afternoon & (rows["close"] <= 5.0)).sum() > 100  # near-zero premiums


def test_the_spread_widens_into_the_expiry_close(market: Path, tmp_path: Path) -> None:
    plain = _write(market, tmp_path / "a", style=RecordStyle(expiry_spread_mult=1.0))
    wide = _write(market, tmp_path / "b")
    assert (plain[COLUMNS[:4]] == wide[COLUMNS[:4]]).all().all()
    spread_plain, spread_wide = plain["ask"] - plain["bid"], wide["ask"] - wide["bid"]
    late = (wide["expiry"] == wide["day"]) & (wide["time"] >= dt.time(15, 0))
    late &= (wide["bid"] > 0) & (plain["bid"] > 0)
    assert late.sum() > 100
    assert spread_wide[late].mean() > 1.3 * spread_plain[late].mean()
    other = wide["expiry"] != wide["day"]
    assert (spread_wide[other] == spread_plain[other]).all()


def test_stop_quotes_ends_every_contract_in_the_afternoon(market: Path, tmp_path: Path) -> None:
    df = _write(market, tmp_path, stop_quotes=1.0)
    g = df.groupby(["day", "expiry", "strike", "right"], observed=True)["timestamp"]
    first, last = g.min().dt.time, g.max().dt.time
    assert (last < dt.time(15, 0)).all()  # the stop bar starts before 15:00
    assert (last[first < dt.time(12, 29)] >= dt.time(12, 29)).all()  # ... and at 12:30 or later
    RecordedQuotes.from_frame(pd.read_parquet(tmp_path / "options.parquet"), "options.parquet")


# --------------------------------------------------------------------------- determinism, model


def test_the_same_seed_writes_the_same_rows(market: Path, tmp_path: Path) -> None:
    def rows(name: str, seed: int) -> pd.DataFrame:
        folder = _copy(market, tmp_path / name)
        return pd.read_parquet(write_option_quotes(folder, seed=seed, stop_quotes=0.3))

    a, b, c = rows("a", 11), rows("b", 11), rows("c", 12)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) != len(c) or not a[PRICES].equals(c[PRICES])


def test_without_the_departures_the_rows_are_the_model(market: Path, tmp_path: Path) -> None:
    """The vectorised day equals ``SyntheticQuotes.quote`` row by row when the noise, the wider
    expiry spread and the vanishing bid are switched off."""
    style = RecordStyle(iv_noise=0.0, expiry_spread_mult=1.0, no_bid_prob=0.0)
    df = _write(market, tmp_path, style=style)
    md = load_folder(tmp_path, "Asia/Kolkata", dt.time(9, 15), dt.time(15, 30))
    bar_ts = pd.to_datetime(md.bars.timestamps)
    at = {t: i for i, t in enumerate(bar_ts)}
    model = SyntheticQuotes()
    sample = df.iloc[::53]
    assert len(sample) > 1000
    for r in sample.itertuples():
        i = at[r.timestamp]
        closed = (r.timestamp + pd.Timedelta(minutes=1)).to_pydatetime().replace(tzinfo=IST)
        t = time_to_expiry_years(closed, r.expiry)
        q = model.quote(md.bars.close[i], float(r.strike), OptionRight(r.right), t, md.vix[i])
        assert (q.bid, q.ask, q.last) == (r.bid, r.ask, r.close), r


def test_csv_holds_the_same_rows(folder: Path, market: Path, tmp_path: Path) -> None:
    path = write_option_quotes(_copy(market, tmp_path), fmt="csv")
    assert path.name == "options.csv" and not (tmp_path / "options.parquet").exists()
    assert count_rows(path) == count_rows(folder / "options.parquet")
    df = pd.read_csv(path)
    RecordedQuotes.from_frame(df, str(path))
    pq = pd.read_parquet(folder / "options.parquet")
    assert (df[PRICES].to_numpy() == pq[PRICES].to_numpy()).all()


def test_bad_arguments_are_named(market: Path, tmp_path: Path) -> None:
    folder = _copy(market, tmp_path / "ok")
    with pytest.raises(ValueError, match=r"strikes_each_side -1 .*; stop_quotes 1.5"):
        write_option_quotes(folder, strikes_each_side=-1, stop_quotes=1.5)
    with pytest.raises(ValueError, match="format 'xlsx' must be 'parquet' or 'csv'"):
        write_option_quotes(folder, fmt="xlsx")
    with pytest.raises(ValueError, match="no_bid_prob 2"):
        RecordStyle(no_bid_prob=2.0)
    with pytest.raises(ConfigError, match="unknown instrument"):
        write_option_quotes(folder, instrument="NIFTYX")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="missing underlying"):
        write_option_quotes(empty)


# --------------------------------------------------------------------------- command, backtest


def test_the_command_writes_and_counts(market: Path, tmp_path: Path) -> None:
    folder = _copy(market, tmp_path)
    args = ["data", "options", "--data", str(folder), "--strikes", "2", "--format", "csv"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert f"{count_rows(folder / 'options.csv'):,} rows" in r.output
    bad = CliRunner().invoke(app, ["data", "options", "--data", str(folder), "--format", "x"])
    assert bad.exit_code == 2 and "format 'x' must be 'parquet' or 'csv'" in bad.output
    missing = CliRunner().invoke(app, ["data", "options", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "not a folder" in missing.output  # bad data: exit 1


def _header(run_dir: Path) -> dict[str, object]:
    with (run_dir / "journal.jsonl").open(encoding="utf-8") as f:
        header: dict[str, object] = json.loads(f.readline())
    return header


def test_a_backtest_runs_on_the_recorded_quotes(folder: Path, tmp_path: Path) -> None:
    result = run_backtest(load_config(None), folder, tmp_path / "run", report=False)
    assert _header(result.run_dir)["quotes"] == "DataQuotes"
    assert result.trades > 0


def test_a_backtest_survives_quotes_that_stop(market: Path, tmp_path: Path) -> None:
    folder = _copy(market, tmp_path / "data")
    write_option_quotes(folder, stop_quotes=0.5)
    result = run_backtest(load_config(None), folder, tmp_path / "run", report=False)
    assert _header(result.run_dir)["quotes"] == "DataQuotes"
    checks = result.kpis["checks"]
    assert all(c["ok"] for c in checks.values()), checks
