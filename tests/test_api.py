"""The Python API: ``dyntrail.backtest`` gives the run folder's results, in memory or written."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import pytest

import dyntrail
from dyntrail.core.config import Config
from dyntrail.core.config_load import load_config
from dyntrail.data.builtin import synth_to_folder
from dyntrail.journal import Journal, NullJournal
from dyntrail.runners.backtest import BacktestResult, run_backtest

CFG = Config()
ONE_LOT = "[account]\nlots_per_trade = 1\n"  # the default trades two


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One month of synthetic regimes (seed 11): enough trades, a few seconds of runs."""
    return synth_to_folder(tmp_path_factory.mktemp("month"), months=1, seed=11, fmt="csv")


@pytest.fixture(scope="module")
def folder_run(month: Path, tmp_path_factory: pytest.TempPathFactory) -> BacktestResult:
    return run_backtest(CFG, month, tmp_path_factory.mktemp("bt"), report=False)


def _files(*roots: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for r in roots for p in r.rglob("*")}


def test_the_api_gives_what_the_run_folder_holds(
    month: Path, folder_run: BacktestResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In memory, nothing written: the same trades, fills, equity and KPIs as the run folder."""
    work, temp = tmp_path / "cwd", tmp_path / "temp"
    work.mkdir()
    temp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    before = _files(month, work, temp)

    def no_file_journal(self: Journal, *args: object, **kwargs: object) -> None:
        raise AssertionError("a file journal was opened")

    monkeypatch.setattr(Journal, "__init__", no_file_journal)
    res = dyntrail.backtest(CFG, month)
    assert _files(month, work, temp) == before
    assert res.run_dir is None
    run = folder_run.run_dir
    assert len(res.trades) > 5
    pd.testing.assert_frame_equal(res.trades, pd.read_csv(run / "trades.csv"))
    pd.testing.assert_frame_equal(res.fills, pd.read_csv(run / "fills.csv"))
    pd.testing.assert_frame_equal(res.equity, pd.read_csv(run / "equity.csv"))
    assert res.kpis == folder_run.kpis
    assert res.warnings == (*folder_run.warnings, *folder_run.kpis["warnings"])
    assert f"trades={len(res.trades)}" in repr(res)


def test_a_config_path_and_a_config_give_the_same_result(
    month: Path, folder_run: BacktestResult, tmp_path: Path
) -> None:
    path = tmp_path / "one_lot.toml"
    path.write_text(ONE_LOT, encoding="utf-8")
    from_path = dyntrail.backtest(path, month)
    from_text_path = dyntrail.backtest(str(path), month)
    from_config = dyntrail.backtest(load_config(path), month)
    for other in (from_text_path, from_config):
        pd.testing.assert_frame_equal(other.trades, from_path.trades)
        pd.testing.assert_frame_equal(other.fills, from_path.fills)
        assert other.kpis == from_path.kpis
    two_lots = pd.read_csv(folder_run.run_dir / "trades.csv")["qty"]
    assert 2 * from_path.trades["qty"].sum() == two_lots.sum()  # the file's config was used


def test_out_writes_the_run_folder_as_the_command_does(
    month: Path, folder_run: BacktestResult, tmp_path: Path
) -> None:
    res = dyntrail.backtest(CFG, month, out=tmp_path / "run", date_to="2025-01-20")
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert names == {
        "config.toml",
        "journal.jsonl",
        "trades.csv",
        "fills.csv",
        "equity.csv",
        "kpis.json",
        "report.html",
    }
    assert res.run_dir == tmp_path / "run"
    part = run_backtest(CFG, month, tmp_path / "part", date_to=dt.date(2025, 1, 20), report=False)
    pd.testing.assert_frame_equal(res.trades, pd.read_csv(part.run_dir / "trades.csv"))
    assert res.kpis == part.kpis
    assert len(res.trades) < len(pd.read_csv(folder_run.run_dir / "trades.csv"))


def test_journal_without_out_is_the_run_folders_journal(
    month: Path, folder_run: BacktestResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = dyntrail.backtest(CFG, month, journal=True)
    assert res.run_dir is not None and res.run_dir.parent == tmp_path
    assert {p.name for p in res.run_dir.iterdir()} == {"config.toml", "journal.jsonl"}
    journal = (folder_run.run_dir / "journal.jsonl").read_bytes()
    assert (res.run_dir / "journal.jsonl").read_bytes() == journal


def test_bad_dates_are_named(month: Path) -> None:
    with pytest.raises(ValueError, match="date_from 2025-01-20 is later than date_to 2025-01-10"):
        dyntrail.backtest(CFG, month, date_from="2025-01-20", date_to=dt.date(2025, 1, 10))
    with pytest.raises(ValueError, match="date_to '20/01/2025' is not a date"):
        dyntrail.backtest(CFG, month, date_to="20/01/2025")


def test_the_null_journal_numbers_events_and_keeps_nothing() -> None:
    with NullJournal() as j:
        assert j.write("header", None, schema=1) == 1
        assert j.write("fill", "2025-01-01T09:16:00+05:30", price=float("nan")) == 2
        assert j.seq == 2
