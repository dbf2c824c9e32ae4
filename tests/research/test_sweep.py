"""``dyntrail sweep``: the space file is checked as a config is; a trial equals a plain
backtest of its config; the same sweep gives the same trials in one process or on workers;
an interrupted sweep goes on where it stopped; walk-forward judges the gate on the stitched
out-of-sample part; Optuna asks the same points for the same seed; the winner comes with its
deflated Sharpe ratio and PBO; the report and the command line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import dyntrail
from dyntrail.core.config import Config
from dyntrail.data.builtin import synth_to_folder
from dyntrail.errors import ConfigError
from dyntrail.research.space import WalkForward, point_id, space_of
from dyntrail.research.sweep import LocalPool, Setup, Sweep
from dyntrail.research.trial import Lab, TrialResult, Window, apply_point, base_mapping

EXE = str(Path(sys.executable).with_name("dyntrail"))
GRID = {
    "sweep": {"method": "grid", "min_trades": 3},
    "params": {
        "strategy.targets.base_rr": [1.2, 1.8],
        "strategy.atr.multiplier_trail": [2.0, 3.0],
    },
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_to_folder(tmp_path_factory.mktemp("sweepdata"), months=2, seed=11, fmt="csv")


def _sweep(doc: dict[str, Any], data: Path, out: Path, **kw: Any) -> Sweep:
    return Sweep(space_of(doc, "space.toml"), Config(), data, out, **kw)


def _trials(folder: Path) -> pd.DataFrame:
    df = pd.read_parquet(folder / "trials")
    return df.sort_values(["window", "phase", "config_id"]).reset_index(drop=True)


def test_the_space_is_checked_like_a_config() -> None:
    bad = [
        ({"params": {}}, "is missing or empty"),
        ({"sweep": {"method": "magic"}, "params": {"a": [1]}}, "method 'magic'"),
        ({"sweep": {"trails": 3}, "params": {"a": [1]}}, "unknown key 'trails'"),
        ({"params": {"a": {"low": 2, "high": 1}}}, "low 2.0 must be below high 1.0"),
        ({"params": {"a": {"low": 0, "high": 1, "log": True}}}, "log range needs low above 0"),
        ({"sweep": {"constraints": ["b > 1"]}, "params": {"a": [1]}}, "'b' is not a swept key"),
        ({"sweep": {"constraints": ["__import__('os')"]}, "params": {"a": [1]}}, "not allowed"),
        ({"sweep": {"objective": "sharpe +"}, "params": {"a": [1]}}, "not an expression"),
        ({"walk_forward": {"mode": "sideways"}, "params": {"a": [1]}}, "rolling or anchored"),
        ({"extra": {}, "params": {"a": [1]}}, "unknown section"),
    ]
    for doc, why in bad:
        with pytest.raises(ConfigError, match=why):
            space_of(doc, "s.toml")
    with pytest.raises(ConfigError, match="a grid needs choices or a step"):
        list(space_of({"params": {"a": {"low": 1, "high": 2}}}).points())
    with pytest.raises(ConfigError, match=r"strategy\.targets\.base_rr"):
        apply_point(base_mapping(Config()), {"strategy.targets.base_rr": -1}, "s.toml")
    with pytest.raises(ConfigError, match="nonsense"):
        apply_point(base_mapping(Config()), {"strategy.nonsense": 1}, "s.toml")


def test_points_grid_random_and_constraints() -> None:
    doc = {
        "sweep": {"constraints": ["a + b <= 5"]},
        "params": {"a": [1, 2, 3], "b": {"low": 1, "high": 3, "step": 1, "int": True}},
    }
    pts = list(space_of(doc).points())
    assert pts == [{"a": a, "b": b} for a in (1, 2, 3) for b in (1, 2, 3) if a + b <= 5]
    rnd = {"sweep": {"method": "random", "trials": 7, "seed": 5},
           "params": {"x": {"low": 0.1, "high": 10.0, "log": True}, "y": ["p", "q"]}}  # fmt: skip
    first, again = list(space_of(rnd).points()), list(space_of(rnd).points())
    assert first == again and len(first) == 7
    assert all(0.1 <= p["x"] <= 10 and p["y"] in ("p", "q") for p in first)
    assert point_id({"a": 1, "b": 2}) == point_id({"b": 2, "a": 1})
    w = WalkForward("rolling", 3, 2).windows(list(range(10)))
    assert w == [([0, 1, 2], [3, 4]), ([2, 3, 4], [5, 6]), ([4, 5, 6], [7, 8])]
    a = WalkForward("anchored", 3, 2).windows(list(range(10)))
    assert [len(i) for i, _ in a] == [3, 5, 7]


def test_a_trial_is_the_backtest_of_its_config(data: Path) -> None:
    space = space_of(GRID)
    lab = Lab(base_mapping(Config()), data, 7, "s")
    point = {"strategy.targets.base_rr": 1.8, "strategy.atr.multiplier_trail": 2.0}
    first = lab.run({"strategy.targets.base_rr": 1.2, "strategy.atr.multiplier_trail": 2.0},
                    Window(), space)  # fmt: skip
    got = lab.run(point, Window(), space)  # its features shared with the first
    assert lab.loads == 1 and lab.feature_builds == 1 and first.kpis != got.kpis
    ref = dyntrail.backtest(apply_point(base_mapping(Config()), point, "s"), data)
    for k, v in got.kpis.items():
        want = ref.kpis[k]
        assert v == pytest.approx(want, rel=1e-12) if want is not None else v is None, k
    assert got.objective == ref.kpis["sharpe"] and got.candidate


def test_workers_give_the_same_trials_and_a_stopped_sweep_goes_on(
    data: Path, tmp_path: Path
) -> None:
    one = _sweep(GRID, data, tmp_path / "one").run()
    two = _sweep(GRID, data, tmp_path / "two", pool=lambda s: LocalPool(s, 2), width=2).run()
    a, b = _trials(tmp_path / "one"), _trials(tmp_path / "two")
    assert len(a) == 4 and one.ran == 4 and two.ran == 4
    cols = ["config_id", "params", "objective", "candidate", "kpi_net_pnl", "kpi_trades"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["returns"].map(list).tolist() == b["returns"].map(list).tolist()
    assert one.best == two.best and one.summary["honesty"] == two.summary["honesty"]
    # stopped after its second batch, then run again: the rest, not the first two again
    out = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        _sweep(GRID, data, out, pool=lambda s: _StopAfter(s, 2)).run()
    assert len(pd.read_parquet(out / "trials")) == 2
    again = _sweep(GRID, data, out).run()
    assert again.ran == 2 and again.trials == 4
    c = _trials(out)
    pd.testing.assert_frame_equal(a[cols], c[cols])
    assert again.best == one.best


class _StopAfter:
    """In this process; a Ctrl-C after ``n`` batches."""

    def __init__(self, setup: Setup, n: int) -> None:
        from dyntrail.research.sweep import InProcess

        self.inner, self.n = InProcess(setup), n

    def run(self, batches: Sequence[Any]) -> Iterator[list[TrialResult]]:
        for k, got in enumerate(self.inner.run(batches)):
            if k == self.n:
                raise KeyboardInterrupt
            yield got

    def close(self) -> None:
        pass


def test_walk_forward_judges_the_stitched_out_of_sample(data: Path, tmp_path: Path) -> None:
    doc = {**GRID, "walk_forward": {"in_sample_days": 15, "out_of_sample_days": 10}}
    res = _sweep(doc, data, tmp_path / "wf").run()
    windows = res.summary["windows"]
    assert len(windows) >= 2
    df = _trials(tmp_path / "wf")
    oos = df[df["phase"] == "oos"]
    assert len(oos) == sum(1 for w in windows if w.get("best"))
    for w in windows:  # each window's out-of-sample run is its in-sample winner's
        if w.get("best"):
            assert w["oos"]["params"] == w["best"]["params"]
            assert w["out_of_sample"][0] > w["in_sample"][1]
    stitched = res.summary["out_of_sample"]
    assert stitched["kpis"]["trades"] == oos["kpi_trades"].sum()
    assert stitched["acceptance"]["accepted"] in (True, False)
    names = {c["name"] for c in stitched["acceptance"]["checks"]}
    assert {"profit_factor", "sharpe", "max_drawdown_pct"} <= names
    eq = pd.read_csv(tmp_path / "wf" / "oos_equity.csv")
    assert len(eq) > 0 and eq["equity"].iloc[-1] == pytest.approx(
        1_000_000 + stitched["kpis"]["net_pnl"], abs=0.01
    )


def test_optuna_asks_the_same_points_for_the_same_seed(data: Path, tmp_path: Path) -> None:
    doc = {
        "sweep": {"method": "optuna", "trials": 4, "seed": 3, "min_trades": 1},
        "params": {"strategy.targets.base_rr": {"low": 1.0, "high": 2.0}},
    }
    _sweep(doc, data, tmp_path / "a").run()
    _sweep(doc, data, tmp_path / "b").run()
    a, b = _trials(tmp_path / "a"), _trials(tmp_path / "b")
    assert len(a) == 4 and a["params"].tolist() == b["params"].tolist()
    assert a["params"].nunique() == 4


def test_the_winner_comes_with_dsr_and_pbo_and_a_report(data: Path, tmp_path: Path) -> None:
    res = _sweep(GRID, data, tmp_path / "h").run()
    h = res.summary["honesty"]
    assert h["n_trials"] == 4 and 0 <= h["dsr"] <= 1 and 0 <= h["pbo"] <= 1
    from dyntrail.research.report import write_sweep_report

    page = write_sweep_report(tmp_path / "h").read_text()
    for text in ("Winner", "How much of it is luck", "Top 4 trials", "Sensitivity", "heat0"):
        assert text in page
    assert json.loads((tmp_path / "h" / "summary.json").read_text())["best"] == res.best
    assert math.isfinite(res.best["objective"])  # type: ignore[index]


def test_the_command_line(data: Path, tmp_path: Path) -> None:
    space = tmp_path / "space.toml"
    space.write_text(
        '[sweep]\nmethod = "grid"\nmin_trades = 3\n[params]\n'
        '"strategy.targets.base_rr" = [1.2, 1.8]\n'
    )
    out = tmp_path / "cli"
    cmd = [EXE, "sweep", str(space), "--data", str(data), "--out", str(out), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["trials"] == 2 and got["ran"] == 2 and (out / "report.html").exists()
    assert not list(out.glob("**/journal.jsonl"))  # trials write no run folder
    again = subprocess.run([*cmd, "--keep-best", "1"], capture_output=True, text=True,
                           timeout=300, check=False)  # fmt: skip
    resumed = json.loads(again.stdout)
    assert resumed["ran"] == 0  # resumed: nothing left to run
    (kept,) = resumed["kept"]  # the winner run again in full, as `dyntrail backtest` writes it
    assert Path(kept).name.endswith(got["best"]["config_id"])
    kpis = json.loads((Path(kept) / "kpis.json").read_text())
    assert kpis["net_pnl"] == pytest.approx(got["best"]["kpis"]["net_pnl"], abs=1e-6)
    assert (Path(kept) / "journal.jsonl").exists() and (Path(kept) / "report.html").exists()
    space.write_text('[params]\n"strategy.targets.base_rr" = [-1]\n')
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 1 and "strategy.targets.base_rr" in bad.stderr


def test_the_sweep_that_crashed_on_the_built_in_data(tmp_path: Path) -> None:
    """base_rr x multiplier_trail on the built-in 12 months (it once crashed on an option
    bought on expiry day that could not be sold)."""
    doc = {"sweep": {"method": "grid"},
           "params": {"strategy.targets.base_rr": [1.2, 2.0],
                      "strategy.atr.multiplier_trail": [1.5, 3.5]}}  # fmt: skip
    from dyntrail.data.builtin import builtin_dataset

    res = _sweep(doc, builtin_dataset(seed=7), tmp_path / "b",
                 pool=lambda s: LocalPool(s, 2), width=2).run()  # fmt: skip
    df = _trials(tmp_path / "b")
    assert len(df) == 4 and (df["error"] == "").all() and (df["kpi_trades"] > 500).all()
    assert res.best is not None
