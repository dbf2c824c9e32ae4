"""End to end: the README's main command and the run-folder commands, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from dyntrail.analytics.kpis import acceptance, acceptance_passed
from dyntrail.core.config import Config

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("dyntrail"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def test_main_command_builds_the_builtin_dataset_and_writes_the_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run("backtest", "--out", str(out), env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "profit factor" in r.stdout and "report:" in r.stdout
    for name in (
        "kpis.json",
        "trades.csv",
        "fills.csv",
        "equity.csv",
        "journal.jsonl",
        "report.html",
        "config.toml",
    ):
        assert (out / name).stat().st_size > 0, name
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["months"] >= 12 and kpis["trades"] > 100
    for key in (
        "profit_factor",
        "sharpe",
        "max_drawdown_pct",
        "avg_slippage_pct",
        "trades",
        "win_rate",
        "net_pnl",
    ):
        assert key in kpis
    trades = pd.read_csv(out / "trades.csv")
    assert round(float(trades["pnl_net"].sum()), 2) == round(kpis["net_pnl"], 2)
    accepted = acceptance_passed(acceptance(kpis, Config().acceptance))
    a = run("accept", str(out))
    assert a.returncode == (0 if accepted else 1), a.stdout + a.stderr
    assert ("PASS" in a.stdout) and (("FAIL" in a.stdout) != accepted)


def test_synth_then_backtest_a_window_of_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run("data", "synth", "--out", str(data), "--months", "1", "--seed", "3", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert (data / "underlying.csv").exists() and (data / "vix.csv").exists()
    out = tmp_path / "run"
    r = run(
        "backtest",
        "--data",
        str(data),
        "--out",
        str(out),
        "--from",
        "2025-01-06",
        "--to",
        "2025-01-17",
        "--no-report",
    )
    assert r.returncode == 0, r.stderr
    trades = pd.read_csv(out / "trades.csv")
    assert trades["entry_ts"].str[:10].min() >= "2025-01-06"
    assert not (out / "report.html").exists()
    assert run("report", str(out)).returncode == 0
    assert (out / "report.html").exists()


def test_example_folder_from_the_readme_runs(tmp_path: Path) -> None:
    r = run(
        "backtest",
        "--data",
        str(ROOT / "examples" / "data-2days"),
        "--out",
        str(tmp_path / "run"),
        "--no-report",
    )
    assert r.returncode == 0, r.stderr


def test_bad_data_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "bad"
    data.mkdir()
    (data / "underlying.csv").write_text(
        "timestamp,open,high,low,close\n2025-01-06 09:15:00,100,99,101,100\n", encoding="utf-8"
    )
    (data / "vix.csv").write_text("timestamp,close\n2025-01-06 09:15:00,14\n", encoding="utf-8")
    r = run("backtest", "--data", str(data), "--out", str(tmp_path / "run"))
    assert r.returncode == 1
    assert "underlying.csv: line 2: high < low" in r.stderr


def test_an_error_keeps_its_brackets_and_shows_no_numpy_repr(tmp_path: Path) -> None:
    """Errors are printed as plain text: "[low, high]" is not eaten as terminal markup."""
    data = tmp_path / "bad"
    data.mkdir()
    (data / "underlying.csv").write_text(
        "timestamp,open,high,low,close\n2025-01-06 09:15:00,103,102,99,100\n", encoding="utf-8"
    )
    (data / "vix.csv").write_text("timestamp,close\n2025-01-06 09:15:00,14\n", encoding="utf-8")
    r = run("backtest", "--data", str(data), "--out", str(tmp_path / "run"))
    assert r.returncode == 1
    assert "open outside [low, high]" in r.stderr
    assert "np." not in r.stderr and "Traceback" not in r.stderr


def test_from_after_to_names_both_options(tmp_path: Path) -> None:
    r = run(
        "backtest",
        "--data",
        str(ROOT / "examples" / "data-2days"),
        "--from",
        "2025-03-04",
        "--to",
        "2025-03-03",
        "--out",
        str(tmp_path / "run"),
    )
    assert r.returncode == 2
    assert "--from 2025-03-04 is later than --to 2025-03-03" in r.stderr
    assert not (tmp_path / "run").exists()


def test_paper_resume_of_a_backtest_folder_or_a_missing_folder(tmp_path: Path) -> None:
    """Resuming what is not a paper session is a clear error, and leaves nothing behind."""
    bt = tmp_path / "bt"
    r = run(
        "backtest", "--data", str(ROOT / "examples" / "data-2days"), "--out", str(bt), "--no-report"
    )
    assert r.returncode == 0, r.stderr
    r = run("paper", "--resume", str(bt), "--speed", "max", "--no-view")
    assert r.returncode == 1
    assert "not a paper session's journal (mode backtest)" in r.stderr
    assert "KeyError" not in r.stderr and "Traceback" not in r.stderr
    missing = tmp_path / "nowhere"
    r = run("paper", "--resume", str(missing), "--speed", "max", "--no-view")
    assert r.returncode == 1
    assert "no session here to resume" in r.stderr
    assert not missing.exists()
