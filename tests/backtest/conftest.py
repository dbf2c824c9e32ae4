"""Small synthetic datasets and backtest runs shared by the backtest tests (fixed seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dyntrail.core.config import Config
from dyntrail.data.builtin import synth_to_folder
from dyntrail.runners.backtest import BacktestResult, run_backtest


@pytest.fixture(scope="session")
def data_2m(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two months of synthetic regimes (seed 11), CSV so the loaders' CSV path is exercised."""
    return synth_to_folder(tmp_path_factory.mktemp("data2m"), months=2, seed=11, fmt="csv")


@pytest.fixture(scope="session")
def run_2m(data_2m: Path, tmp_path_factory: pytest.TempPathFactory) -> BacktestResult:
    return run_backtest(Config(), data_2m, tmp_path_factory.mktemp("run2m"), report=False)


@pytest.fixture(scope="session")
def month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One month of synthetic regimes (seed 11, CSV): the protections' and backstop's runs."""
    return synth_to_folder(tmp_path_factory.mktemp("month"), months=1, seed=11, fmt="csv")
