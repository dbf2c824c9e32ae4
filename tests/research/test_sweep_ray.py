"""The same sweep on a real Ray cluster: the tests start one on this machine (`ray start
--head` on 127.0.0.1, a free port, two CPUs) and run a small grid on it through
``dyntrail sweep --ray``; its trials equal the local run's, trial for trial, and the data
reached the actors through the object store (the actors never read the data folder: it is
moved away before they run). Skipped only when Ray is not installed (the ``ray`` extra; the
test extra has it)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from dyntrail.core.config import Config
from dyntrail.data.builtin import synth_to_folder
from dyntrail.research.space import space_of
from dyntrail.research.sweep import Sweep

ray = pytest.importorskip("ray")
BIN = Path(sys.executable).parent
GRID = {
    "sweep": {"method": "grid", "min_trades": 3},
    "params": {
        "strategy.targets.base_rr": [1.2, 1.8],
        "strategy.atr.multiplier_trail": [2.0, 3.0],
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    temp = tmp_path_factory.mktemp("ray")
    cmd = [str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
           f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
           "--disable-usage-stats", f"--temp-dir={temp}"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True,
                       env=env, timeout=120, check=False)  # fmt: skip


def test_a_sweep_on_a_ray_cluster_equals_the_local_one(cluster: str, tmp_path: Path) -> None:
    data = synth_to_folder(tmp_path / "data", months=2, seed=11, fmt="csv")
    local = Sweep(space_of(GRID), Config(), data, tmp_path / "local").run()
    space = tmp_path / "space.toml"
    space.write_text(
        '[sweep]\nmethod = "grid"\nmin_trades = 3\n[params]\n'
        '"strategy.targets.base_rr" = [1.2, 1.8]\n'
        '"strategy.atr.multiplier_trail" = [2.0, 3.0]\n'
    )
    out = tmp_path / "ray"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [str(BIN / "dyntrail"), "sweep", str(space), "--data", str(data), "--out", str(out),
           "--ray", cluster, "--json", "--no-report"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout)
    assert got["ran"] == 4 and got["best"] == json.loads(json.dumps(local.best))
    cols = ["config_id", "params", "objective", "candidate", "kpi_net_pnl", "kpi_trades"]
    a = pd.read_parquet(tmp_path / "local" / "trials").sort_values("config_id")
    b = pd.read_parquet(out / "trials").sort_values("config_id")
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))
    assert a["returns"].map(list).tolist() == b["returns"].map(list).tolist()


def test_the_actors_take_the_data_from_the_object_store(cluster: str, tmp_path: Path) -> None:
    from dyntrail.research.ray_pool import RayPool
    from dyntrail.research.sweep import Setup
    from dyntrail.research.trial import Window, base_mapping

    data = synth_to_folder(tmp_path / "data", months=1, seed=11, fmt="csv")
    setup = Setup(base_mapping(Config()), str(data), 7, "space.toml", GRID)
    pool = RayPool(setup, cluster)
    try:
        shutil.move(data, tmp_path / "moved")  # put away: only the object store has it now
        point = {"strategy.targets.base_rr": 1.5, "strategy.atr.multiplier_trail": 2.5}
        (results,) = list(pool.run([[(point, Window(), False)]]))
        assert results[0].error == "" and results[0].kpis["trades"]
        assert pool.width == 2
    finally:
        pool.close()
