"""The synthetic generator past the known NSE calendar: weekdays there, with a warning naming
the config key, in the library call and on the command line."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from dyntrail.data.builtin import synth_days, synth_to_folder
from dyntrail.data.calendar import holidays_known_through

D = dt.date


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).with_name("dyntrail")
    exe = str(script) if script.exists() else shutil.which("dyntrail")
    if exe is None:
        raise RuntimeError("the dyntrail console script is not installed: pip install -e .")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_synth_days_run_past_the_known_calendar() -> None:
    assert holidays_known_through() == D(2026, 12, 31)  # the year these expectations assume
    days, notes = synth_days(12, D(2026, 6, 1))
    assert days[0] == D(2026, 6, 1) and days[-1] == D(2027, 5, 31)
    assert D(2026, 11, 24) not in days  # a listed 2026 holiday (Guru Nanak Jayanti)
    beyond = [d for d in days if d.year == 2027]
    # every weekday: 21 + 20 + 23 + 22 + 21 from January to May 2027
    assert len(beyond) == 107 and all(d.weekday() < 5 for d in beyond)
    assert len(notes) == 1 and "2027" in notes[0] and "[calendar] holidays" in notes[0]


def test_synth_days_inside_the_calendar_have_no_warning() -> None:
    days, notes = synth_days(2, D(2025, 1, 1))
    assert notes == [] and D(2025, 2, 1) in days  # the Budget-day Saturday session


def test_synth_to_folder_hands_warnings_over(tmp_path: Path) -> None:
    got: list[str] = []
    synth_to_folder(tmp_path / "a", months=2, seed=3, start=D(2026, 12, 1), fmt="csv",
                    on_warning=got.append)  # fmt: skip
    assert len(got) == 1 and "2027" in got[0]
    bars = pd.read_csv(tmp_path / "a" / "underlying.csv")
    assert bars["timestamp"].iloc[-1].startswith("2027-01-29")
    with pytest.warns(UserWarning, match=r"\[calendar\] holidays"):
        synth_to_folder(tmp_path / "b", months=1, seed=3, start=D(2027, 1, 1), fmt="csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        synth_to_folder(tmp_path / "c", months=1, seed=3, start=D(2026, 1, 1), fmt="csv")


def test_cli_data_synth_past_the_calendar_warns_on_stderr(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    r = run("data", "synth", "--out", str(out), "--start", "2026-12-01", "--months", "2",
            "--format", "csv")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "[calendar] holidays" in r.stderr
    assert (out / "underlying.csv").exists()
