"""End to end: the CLI as a user runs it (a subprocess of the installed console script)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dyntrail")  # the installed console script
    exe = str(script) if script.exists() else shutil.which("dyntrail")
    if exe is None:
        raise RuntimeError("the dyntrail console script is not installed: pip install -e .")
    cmd = [exe, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


def test_targets_json_document_example() -> None:
    r = run("targets", "--side", "long", "--entry", "20000", "--vix", "15", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {k: data[k] for k in ("tier", "rr", "stop", "t1", "t2", "move_be")} == {
        "tier": "normal",
        "rr": 1.5,
        "stop": 19880.0,
        "t1": 20180.0,
        "t2": 20240.0,
        "move_be": 20080.0,
    }


def test_targets_table_with_option_price(design_toml: Path) -> None:
    r = run(
        "targets",
        "--side",
        "short",
        "--entry",
        "20000",
        "--vix",
        "26",
        "--config",
        str(design_toml),
        "--option-price",
        "120",
    )
    assert r.returncode == 0, r.stderr
    assert "high" in r.stdout and "20120.00" in r.stdout and "19820.00" in r.stdout


def test_targets_bad_vix_is_a_clear_error() -> None:
    r = run("targets", "--side", "long", "--entry", "20000", "--vix", "-1")
    assert r.returncode == 2 and "VIX must be a finite number" in r.stderr


def test_config_check_ok_and_errors(design_toml: Path, tmp_path: Path) -> None:
    ok = run("config", "check", str(design_toml))
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[strategy.atr]\nperiod = 0\nmultiplier_trial = 2\n", encoding="utf-8")
    r = run("config", "check", str(bad))
    assert r.returncode == 1
    assert "strategy.atr.period" in r.stderr and "multiplier_trial" in r.stderr
    assert str(bad) in r.stderr


def test_config_init_show_round_trip(tmp_path: Path) -> None:
    assert run("config", "init", cwd=tmp_path).returncode == 0
    starter = tmp_path / "dyntrail.toml"
    assert starter.exists() and "#" in starter.read_text()
    assert run("config", "init", cwd=tmp_path).returncode == 1  # refuses to overwrite
    shown = run("config", "show", str(starter))
    assert shown.returncode == 0 and "multiplier_trail = 2.5" in shown.stdout
    resolved = tmp_path / "resolved.toml"
    resolved.write_text(shown.stdout, encoding="utf-8")
    assert run("config", "check", str(resolved)).returncode == 0


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("##", 1)[0]
    return re.findall(r"^(python3 -m venv .+)$", block, flags=re.M)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    cmds = _readme_commands()
    assert len(cmds) == 2, cmds
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert cmds[1] in ci.splitlines()


@pytest.mark.parametrize("sub", ["targets", "config"])
def test_help(sub: str) -> None:
    assert run(sub, "--help").returncode == 0


def test_config_check_resolves_the_instrument(tmp_path: Path) -> None:
    bad = tmp_path / "inst.toml"
    bad.write_text('[instrument]\nname = "NIFTI"\n', encoding="utf-8")
    r = run("config", "check", str(bad))
    assert r.returncode == 1
    assert "key 'instrument'" in r.stderr and "unknown instrument 'NIFTI'" in r.stderr
