"""``dyntrail screen``, as a user runs it: a space over the kernel's keys, a signals file, a data
folder; the table, the best sets printed and confirmed by the engine; and every bad input named
(the signals file's line, the space's key)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dyntrail.core.config_load import load_config
from dyntrail.errors import ConfigError, DataError
from dyntrail.research.screen import KEYS, params_of
from dyntrail.research.screening import load_signals, space_rows
from dyntrail.research.space import space_of

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[2]
TWO_DAYS = ROOT / "examples" / "data-2days"
OPTIONS = ROOT / "examples" / "screen-options.toml"
SPACE = """
[sweep]
method = "grid"
objective = "net_pnl"
min_trades = 1
constraints = ["strategy.targets.base_rr >= 1.5"]

[params]
"strategy.risk.sl_underlying_pct" = [0.002, 0.004]
"strategy.targets.base_rr" = [1.0, 1.5, 2.0]
"strategy.atr.multiplier_trail" = { low = 1.5, high = 2.5, step = 0.5 }
"""


def _dyntrail(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dyntrail")
    exe = str(script) if script.exists() else shutil.which("dyntrail")
    assert exe is not None, "the dyntrail console script is not installed: pip install -e ."
    env = {k: v for k, v in os.environ.items() if k != "DYNTRAIL_CONFIG"}
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, cwd=cwd, timeout=600, env=env
    )


def _signals(path: Path, every: int = 17) -> None:
    bars = pd.read_csv(TWO_DAYS / "underlying.csv")
    stamps = pd.to_datetime(bars["timestamp"])
    chosen = stamps[(stamps.dt.minute % every == 3) & (stamps.dt.hour < 15)]
    out = pd.DataFrame({"timestamp": [t.isoformat() + "+05:30" for t in chosen], "signal": 1})
    out.to_csv(path, index=False)


def test_the_screen_of_an_options_config_ranks_and_the_engine_confirms(tmp_path: Path) -> None:
    (tmp_path / "space.toml").write_text(SPACE)
    _signals(tmp_path / "signals.csv")
    done = _dyntrail(
        "screen", "space.toml", "--signals", "signals.csv", "--data", str(TWO_DAYS),
        "-c", str(OPTIONS), "--confirm", "2", "--top", "3", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    folder = tmp_path / "screens" / "space"
    assert summary["folder"] == str(Path("screens") / "space")
    assert summary["sets"] == 2 * 2 * 3  # rr 1.0 is left out by the constraint
    assert summary["confirmed"] == 2
    table = pd.read_parquet(folder / "screen.parquet")
    assert list(table.columns[:5]) == list(KEYS)
    assert len(table) == 12 and (table["strategy.targets.base_rr"] >= 1.5).all()
    ranked = table["objective"].dropna().to_numpy()
    assert len(ranked) and (np.diff(ranked) <= 0).all()  # best first
    assert (table["objective"].dropna() == table["pnl"][table["objective"].notna()]).all()
    best = summary["best"][0]
    assert best["pnl"] == table["pnl"].iloc[0] and best["trades"] >= 1
    for rank in (1, 2):  # the engine's own journals of the two best, trade for trade checked
        lines = (folder / "confirm" / f"{rank}.jsonl").read_text().splitlines()
        assert any(json.loads(line)["kind"] == "position_closed" for line in lines)
    assert (folder / "space.toml").read_text() == SPACE

    # the same again, as a person reads it: the best lines, the confirmation, the table
    again = _dyntrail(
        "screen", "space.toml", "--signals", "signals.csv", "--data", str(TWO_DAYS),
        "-c", str(OPTIONS), "--confirm", "1", "--top", "2", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "12 parameter sets" in again.stdout and "PnL in rupees, net of costs" in again.stdout
    assert "  1. sl_pct=" in again.stdout and "  2. sl_pct=" in again.stdout
    assert "every trade equal to the kernel's" in again.stdout
    assert sorted(p.name for p in (folder / "confirm").iterdir()) == ["1.jsonl"]  # none left


def test_the_screen_takes_the_data_s_bar_length(tmp_path: Path) -> None:
    """Five-minute bars: an entry is at its bar's close (a start + 5 minutes), in the kernel and
    in the engine's confirmation alike."""
    bars = pd.read_csv(TWO_DAYS / "underlying.csv", parse_dates=["timestamp"])
    five = bars.set_index("timestamp").groupby(pd.Grouper(freq="5min")).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    ).dropna().reset_index()  # fmt: skip
    data = tmp_path / "five"
    data.mkdir()
    five.to_csv(data / "underlying.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
    shutil.copy(TWO_DAYS / "vix.csv", data / "vix.csv")
    stamps = five["timestamp"][five["timestamp"].dt.minute.isin([20, 50])]
    pd.DataFrame({"timestamp": [t.isoformat() for t in stamps], "signal": 1}).to_csv(
        tmp_path / "signals.csv", index=False
    )
    (tmp_path / "space.toml").write_text(SPACE)
    done = _dyntrail(
        "screen", "space.toml", "--signals", "signals.csv", "--data", str(data),
        "-c", str(OPTIONS), "--confirm", "1", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["confirmed"] == 1
    journal = tmp_path / "screens" / "space" / "confirm" / "1.jsonl"
    opens = [ev for ev in map(json.loads, journal.read_text().splitlines())
             if ev["kind"] == "position_open"]  # fmt: skip
    assert opens and all(ev["ts"][14:16] in ("25", "55") for ev in opens), opens


def test_a_config_the_kernel_cannot_do_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "space.toml").write_text(SPACE)
    _signals(tmp_path / "signals.csv")
    (tmp_path / "taken").write_text("a file")
    done = _dyntrail("screen", "space.toml", "--signals", "signals.csv", "--data", str(TWO_DAYS),
                     "-c", str(OPTIONS), "--out", "taken", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1 and "taken" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "gates.toml").write_text(
        OPTIONS.read_text().replace("scale_out_ratio = 1.0", "scale_out_ratio = 0.5")
    )
    done = _dyntrail(
        "screen", "space.toml", "--signals", "signals.csv", "--data", str(TWO_DAYS),
        "-c", "gates.toml", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "scale_out_ratio" in done.stderr and "Traceback" not in done.stderr


def _starts() -> np.ndarray:
    bars = pd.read_csv(TWO_DAYS / "underlying.csv")
    return pd.to_datetime(bars["timestamp"]).to_numpy("datetime64[s]")


def test_signals_are_read_by_bar_start_with_or_without_the_offset(tmp_path: Path) -> None:
    starts = _starts()
    path = tmp_path / "s.csv"
    path.write_text(
        "timestamp,signal\n2025-01-01T09:20:00+05:30,1\n2025-01-01 09:21:00,true\n"
        "2025-01-01T03:52:00Z,1\n2025-01-02T10:00:00+05:30,0\n"
    )
    got = load_signals(path, starts, "Asia/Kolkata")
    at = {str(t)[:16] for t in starts[got]}
    assert at == {"2025-01-01T09:20", "2025-01-01T09:21", "2025-01-01T09:22"}
    frame = pd.DataFrame({"timestamp": ["2025-01-01T09:20:00+05:30"], "signal": [True]})
    frame.to_parquet(tmp_path / "s.parquet")
    assert load_signals(tmp_path / "s.parquet", starts, "Asia/Kolkata").sum() == 1


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("timestamp,signal\n2025-01-01T09:20:00+05:30,1\nyesterday,1\n", "s.csv: line 3"),
        ("timestamp,signal\n2025-01-01T09:20:00+05:30,2\n", "s.csv: line 2: signal 2"),
        ("timestamp,signal\n2025-01-01T09:20:00+05:30,1\n2025-01-01T09:20:00+05:30,0\n",
         "s.csv: line 3: timestamp 2025-01-01T09:20:00+05:30 is given twice"),
        ("timestamp,signal\n2025-01-01T09:20:30+05:30,1\n",
         "s.csv: line 2: timestamp 2025-01-01T09:20:30+05:30 is not the start of a bar"),
        ("timestamp,entry\n2025-01-01T09:20:00+05:30,1\n", "no column 'signal'"),
        ("timestamp,signal\n2025-01-01T09:20:00+05:30,1\n\n01/02/2025 09:20,1\n",
         "s.csv: line 4: timestamp '01/02/2025 09:20' is not ISO 8601"),
        ("timestamp,signal\n2025-01-01T09:20:00+05:30,0\n", "s.csv: no signal"),
    ],
)  # fmt: skip
def test_a_bad_signals_file_is_named_with_its_line(tmp_path: Path, body: str, names: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(body)
    with pytest.raises(DataError, match=re.escape(names)):
        load_signals(path, _starts(), "Asia/Kolkata")


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"strategy.risk.time_stop_min": [30, 60]}, "the screen varies only"),
        ({"strategy.risk.sl_underlying_pct": [0.0, 0.002]}, "sl_underlying_pct"),
        ({"strategy.targets.base_rr": {"low": -1.0, "high": 2.0}}, "base_rr"),
        ({"strategy.targets.base_rr": ["two", 2.0]}, "'two' is not a number"),
        (
            {KEYS[0]: {"low": 0.001, "high": 0.01, "step": 1e-9}, KEYS[1]: [1.0, 2.0, 3.0]},
            "the screen takes at most",
        ),
    ],
)
def test_a_space_the_screen_cannot_take_is_named(params: dict[str, object], names: str) -> None:
    cfg = load_config(OPTIONS)
    with pytest.raises(ConfigError, match=names):
        gridded = all(not isinstance(v, dict) or "step" in v for v in params.values())
        method = "grid" if gridded else "random"
        space_rows(space_of({"sweep": {"method": method}, "params": params}, "space.toml"), cfg)
    for sweep, what in (
        ({"method": "optuna"}, "grid or random"),
        ({"direction": "minimize"}, "largest first"),
        ({"objective": "calmar"}, "sharpe or net_pnl"),
    ):
        bad = space_of({"sweep": sweep, "params": {KEYS[1]: [1.0, 2.0]}}, "space.toml")
        with pytest.raises(ConfigError, match=what):
            space_rows(bad, cfg)
    wf = {"mode": "rolling", "in_sample_days": 2, "out_of_sample_days": 1}
    bad = space_of({"params": {KEYS[1]: [1.0]}, "walk_forward": wf}, "space.toml")
    with pytest.raises(ConfigError, match="walk_forward"):
        space_rows(bad, cfg)


def test_a_set_keeps_what_the_space_does_not_vary() -> None:
    cfg = load_config(OPTIONS)
    rows = space_rows(space_of({"params": {KEYS[1]: [1.0, 3.0]}}, "space.toml"), cfg)
    base = params_of(cfg)[0]
    assert rows.shape == (2, 5)
    assert (rows[:, [0, 2, 3, 4]] == base[[0, 2, 3, 4]]).all()
    assert rows[:, 1].tolist() == [1.0, 3.0]
