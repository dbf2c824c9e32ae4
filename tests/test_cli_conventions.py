"""The command line's conventions, as a user or a script meets them: --version, -h, shell
completion, the log, --json, results on stdout and errors on stderr, the exit codes, the config
found without -c, paper's --speed and --days, a stale report, the progress bar, and the option
prices of ``targets``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dyntrail.cli import app
from dyntrail.cli.common import CONFIG_ENV, find_config
from dyntrail.cli.logs import LogLevel, setup_logging
from dyntrail.core.config import Config
from dyntrail.core.exit_pricing import option_exit_price
from dyntrail.runners.backtest import BacktestResult, run_backtest

ROOT = Path(__file__).resolve().parents[1]
TWO_DAYS = ROOT / "examples" / "data-2days"
runner = CliRunner()


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it (no inherited DYNTRAIL_CONFIG)."""
    script = Path(sys.executable).with_name("dyntrail")
    exe = str(script) if script.exists() else shutil.which("dyntrail")
    if exe is None:
        raise RuntimeError("the dyntrail console script is not installed: pip install -e .")
    base = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**base, **(env or {})},
    )


@pytest.fixture(autouse=True)
def _no_config_around(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process commands run in an empty folder without DYNTRAIL_CONFIG, and leave the
    log as they found it."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    logger = logging.getLogger("dyntrail")
    handlers, level = list(logger.handlers), logger.level
    yield
    for h in logger.handlers:
        if h not in handlers:
            logger.removeHandler(h)
            h.close()
    logger.setLevel(level)


def _targets_json(*extra: str) -> dict[str, object]:
    r = runner.invoke(
        app, ["targets", "--side", "long", "--entry", "20000", "--vix", "15", "--json", *extra]
    )
    assert r.exit_code == 0, r.stderr
    data: dict[str, object] = json.loads(r.stdout)
    return data


# ----------------------------------------------------------------------- version, help, completion


def test_version_is_the_installed_package_version() -> None:
    r = run("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"dyntrail {version('dyntrail')}"


def _command_paths(cmd: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``cmd``, as the words that call it."""
    paths = [path]
    for name, sub in getattr(cmd, "commands", {}).items():
        paths += _command_paths(sub, (*path, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_every_command_is_listed() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {
        "backtest",
        "accept",
        "report",
        "paper",
        "targets",
        "config check",
        "data synth",
        "live login",
        "live run",
        "ctl",
        "sweep",
        "screen",
    } <= names
    assert len(COMMANDS) == 22  # the app, 12 commands and groups, 9 subcommands


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "dyntrail")
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_h_and_help_on_every_command(path: tuple[str, ...], flag: str) -> None:
    r = runner.invoke(app, [*path, flag])
    assert r.exit_code == 0, r.output
    assert "Usage:" in r.stdout and not r.stderr


def test_shell_completion_is_shown_installed_and_completes(tmp_path: Path) -> None:
    shown = run("--show-completion", "bash")
    assert shown.returncode == 0 and "_DYNTRAIL_COMPLETE=complete_bash" in shown.stdout
    home = tmp_path / "home"
    home.mkdir()
    installed = run("--install-completion", "bash", env={"HOME": str(home), "SHELL": "/bin/bash"})
    assert installed.returncode == 0, installed.stderr
    assert "_DYNTRAIL_COMPLETE" in (home / ".bash_completions" / "dyntrail.sh").read_text()
    env = {
        "_DYNTRAIL_COMPLETE": "complete_bash",
        "COMP_WORDS": "dyntrail paper --sp",
        "COMP_CWORD": "2",
    }
    assert run(env=env).stdout.split() == ["--speed"]


# ----------------------------------------------------------------------------------------- the log


def test_log_level_info_goes_to_stderr_never_stdout(tmp_path: Path) -> None:
    args = (
        "backtest",
        "--data",
        str(TWO_DAYS),
        "--out",
        str(tmp_path / "run"),
        "--no-report",
        "--json",
    )
    quiet = run(*args)
    assert quiet.returncode == 0, quiet.stderr
    assert " INFO " not in quiet.stderr  # the default level is WARNING
    loud = run("--log-level", "info", *args)
    assert loud.returncode == 0, loud.stderr
    assert "INFO dyntrail.runners.backtest: run folder" in loud.stderr
    assert (
        f"data {TWO_DAYS}: " in loud.stderr
        and "INFO dyntrail.runners.backtest: read " in loud.stderr
    )
    assert json.loads(loud.stdout)["run_dir"] == str(tmp_path / "run")  # stdout: the result only


def test_log_file_takes_the_log_and_appends(tmp_path: Path) -> None:
    log = tmp_path / "dyntrail.log"
    args = ("backtest", "--data", str(TWO_DAYS), "--out", str(tmp_path / "run"), "--no-report")
    for _ in range(2):
        r = run("--log-level", "DEBUG", "--log-file", str(log), *args)
        assert r.returncode == 0, r.stderr
        assert "INFO" not in r.stderr and "INFO" not in r.stdout
    assert log.read_text(encoding="utf-8").count("run folder") == 2
    bad = run("--log-file", str(tmp_path / "no" / "such" / "folder.log"), "config", "show")
    assert bad.returncode == 1 and "--log-file" in bad.stderr


def test_a_credential_never_reaches_the_log(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    setup_logging(LogLevel.INFO, path)
    log = logging.getLogger("dyntrail.test")
    log.info("login with api_key=abc123 and %s", "access_token: 'tok-987'")
    log.info('{"password": "hunter2", "user": "me"}')
    log.debug("not at INFO")
    text = path.read_text(encoding="utf-8")
    for secret in ("abc123", "tok-987", "hunter2", "not at INFO"):
        assert secret not in text
    assert "api_key=***" in text and "access_token: '***'" in text and '"user": "me"' in text


# --------------------------------------------------------------------- --json, streams, exit codes


def test_backtest_json_is_one_object_on_stdout(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run("backtest", "--data", str(TWO_DAYS), "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == {"run_dir", "report", "ok", "checks", "warnings", "acceptance", "kpis"}
    assert data["run_dir"] == str(out) and data["report"] == str(out / "report.html")
    assert data["ok"] is True and all(c["ok"] for c in data["checks"].values())
    kpis = json.loads((out / "kpis.json").read_text())
    assert data["kpis"] == {k: v for k, v in kpis.items() if k not in ("checks", "warnings")}
    assert data["checks"] == kpis["checks"]
    verdict = data["acceptance"]
    assert isinstance(verdict["accepted"], bool)
    assert {c["name"] for c in verdict["checks"]} >= {"profit_factor", "sharpe", "months"}
    assert "read " in r.stderr  # how the data was read: for people, on stderr
    accept = run("accept", str(out), "--json")
    assert accept.returncode == (0 if verdict["accepted"] else 1), accept.stderr
    assert json.loads(accept.stdout) == {"run_dir": str(out), **verdict}


def test_accept_errors_go_to_stderr_and_exit_1(tmp_path: Path) -> None:
    for args in (["accept", str(tmp_path)], ["accept", str(tmp_path), "--json"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 1 and r.stdout == ""
        assert f"{tmp_path / 'kpis.json'}: file not found" in r.stderr


def test_a_run_that_fails_its_own_checks_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import dyntrail.runners.backtest as backtest

    real = backtest.run_backtest

    def failing(*args: object, **kwargs: object) -> BacktestResult:
        res = real(*args, **kwargs)  # type: ignore[arg-type]
        checks = {
            **res.kpis["checks"],
            "pnl_reconciles": {"ok": False, "failures": ["trade 1"], "exceptions": []},
        }
        return BacktestResult(res.run_dir, {**res.kpis, "checks": checks}, res.trades, res.warnings)

    monkeypatch.setattr(backtest, "run_backtest", failing)
    args = ["backtest", "--data", str(TWO_DAYS), "--out", str(tmp_path / "run"), "--no-report"]
    r = runner.invoke(app, args)
    assert r.exit_code == 1
    assert "FAIL" in r.stdout and "failed its own checks: pnl_reconciles" in r.stderr
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["ok"] is False


USAGE_ERRORS = [  # exit 2: the command line is wrong; nothing is read or written
    ([], "Usage:"),
    (["frobnicate"], "No such command"),
    (["backtest", "--bogus"], "No such option"),
    (["backtest", "--from", "2025-13-01"], "--from: '2025-13-01' is not a date"),
    (["backtest", "--from", "2025-03-04", "--to", "2025-03-03"], "later than --to"),
    (["backtest", "--seed", "-1"], "--seed"),
    (["paper", "--days", "0"], "--days"),
    (["paper", "--days", "-3"], "--days"),
    (["paper", "--speed", "fast"], "--speed: 'fast' is not a number above 0"),
    (["paper", "--speed", "0"], "--speed: '0' is not a number above 0"),
    (["paper", "--faults", "some"], "--faults"),
    (["targets", "--side", "long", "--entry", "0", "--vix", "15"], "--entry must be a positive"),
    (["targets", "--side", "long", "--entry", "20000", "--vix", "-1"], "--vix"),
    (
        ["targets", "--side", "long", "--entry", "20000", "--vix", "15", "--option-price", "0"],
        "--option-price",
    ),
    (["--log-level", "LOUD", "config", "show"], "--log-level"),
]


@pytest.mark.parametrize(("args", "fragment"), USAGE_ERRORS)
def test_usage_errors_exit_2_and_leave_nothing(
    args: list[str], fragment: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    extra = ["--out", str(out)] if args[:1] in (["backtest"], ["paper"]) else []
    r = runner.invoke(app, [*args, *extra])
    assert r.exit_code == 2, r.output
    assert fragment in (r.stdout if not args else r.stderr)
    assert not out.exists()


def test_bad_inputs_exit_1_with_the_problem_on_stderr(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["config", "check", str(missing / "c.toml")], "cannot read config file"),
        (["backtest", "--data", str(missing), "--out", str(tmp_path / "r")], "not a folder"),
        (["accept", str(empty)], "kpis.json: file not found"),
        (["report", str(empty)], "trades.csv"),
        (["journal", "verify", str(missing / "journal.jsonl")], "journal.jsonl"),
        (["data", "check", str(missing)], "not a folder"),
        (["data", "options", "--data", str(missing)], "not a folder"),
        (["paper", "--resume", str(missing), "--speed", "max", "--no-view"], "no session here"),
        (["config", "init", str(empty)], "exists; use --force"),
    ]
    for args, fragment in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 1, (args, r.output)
        assert fragment in r.stderr and not r.stdout.strip(), (args, r.stderr)


# --------------------------------------------------------------------- the config found without -c


def _toml(folder: Path, name: str, sl: float) -> Path:
    path = folder / name
    path.write_text(f"[strategy.risk]\nsl_underlying_pct = {sl}\n", encoding="utf-8")
    return path


def test_config_is_found_in_the_folder_then_the_variable_then_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = _toml(tmp_path, "other.toml", 0.01)  # stop 19800
    explicit = _toml(tmp_path, "explicit.toml", 0.02)  # stop 19600
    assert _targets_json()["stop"] == 19880.0
    r = runner.invoke(app, ["config", "show"])
    assert (
        "config: the built-in defaults (no -c, no ./dyntrail.toml, no DYNTRAIL_CONFIG)" in r.stderr
    )

    monkeypatch.setenv(CONFIG_ENV, str(other))
    assert _targets_json()["stop"] == 19800.0
    r = runner.invoke(app, ["config", "show"])
    assert f"config: {other}, named by DYNTRAIL_CONFIG" in r.stderr
    assert "sl_underlying_pct = 0.01" in r.stdout

    _toml(tmp_path, "dyntrail.toml", 0.005)  # stop 19900: the working directory's file wins
    assert _targets_json()["stop"] == 19900.0
    r = runner.invoke(app, ["config", "check"])
    assert r.exit_code == 0 and r.stdout.strip() == "dyntrail.toml: OK"
    assert "config: dyntrail.toml, found in the working directory" in r.stderr

    r = runner.invoke(
        app, ["targets", "--side", "long", "--entry", "20000", "--vix", "15", "-c", str(explicit)]
    )
    assert r.exit_code == 0 and "19600.00" in r.stdout and "config:" not in r.stderr  # -c wins


def test_a_variable_naming_a_missing_file_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CONFIG_ENV, "nowhere.toml")
    r = runner.invoke(app, ["backtest", "--data", str(TWO_DAYS), "--out", str(tmp_path / "r")])
    assert r.exit_code == 1
    assert "DYNTRAIL_CONFIG=nowhere.toml: no such config file" in r.stderr
    assert not (tmp_path / "r").exists()
    assert find_config(None, tmp_path, {CONFIG_ENV: ""}).path is None


def test_the_found_config_is_used_by_the_console_script(tmp_path: Path) -> None:
    _toml(tmp_path, "dyntrail.toml", 0.01)
    r = run("targets", "--side", "long", "--entry", "20000", "--vix", "15", "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["stop"] == 19800.0
    assert "found in the working directory" in r.stderr


def test_a_percentage_typed_as_a_fraction_fails_config_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[strategy.risk]\nsl_underlying_pct = 0.6\n", encoding="utf-8")
    r = run("config", "check", str(bad))
    assert r.returncode == 1 and not r.stdout
    assert (
        f"{bad}: key 'strategy.risk.sl_underlying_pct': sl_underlying_pct = 0.6 reads as 60 %; "
        "fractions are used: write 0.006 for 0.6 %"
    ) in r.stderr


# ----------------------------------------------------------------- paper, the run folder, progress


def test_paper_speed_is_documented_as_times_real_time() -> None:
    r = runner.invoke(app, ["paper", "-h"], env={"COLUMNS": "240"})
    assert "How many times real time the market clock runs" in r.stdout
    assert "'max': no waiting" in r.stdout


def test_no_report_removes_a_stale_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.html").write_text("<html>an earlier run</html>", encoding="utf-8")
    r = run("backtest", "--data", str(TWO_DAYS), "--out", str(out), "--no-report")
    assert r.returncode == 0, r.stderr
    assert (out / "kpis.json").exists() and not (out / "report.html").exists()
    assert "report:" not in r.stdout


def test_the_progress_ends_when_the_report_is_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    calls: list[tuple[int, int, str, bool]] = []

    def progress(done: int, total: int, what: str) -> None:
        calls.append((done, total, what, (out / "report.html").exists()))

    run_backtest(Config(), TWO_DAYS, out, progress=progress)
    totals = {c[1] for c in calls}
    assert len(totals) == 1
    total = totals.pop()
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1][:3] == (total, total, "done")
    assert calls[-1][3] and not any(c[3] for c in calls[:-1])  # the report, then the end
    stages = [c[2] for c in calls]
    assert stages.index("writing the run folder") < stages.index("writing report.html")
    bars_done = max(c[0] for c in calls if c[2] == "bars")
    assert bars_done < total  # the bars alone do not fill the bar

    calls.clear()
    run_backtest(Config(), TWO_DAYS, out, progress=progress, report=False)
    assert calls[-1][0] == calls[-1][1] and "writing report.html" not in {c[2] for c in calls}


# -------------------------------------------------------------------------- targets --option-price


def test_targets_option_prices_by_the_default_mapping_and_the_proportional_one() -> None:
    data = _targets_json("--option-price", "120")
    option = dict(data["option"])  # type: ignore[call-overload]
    assert 0.1 < option.pop("implied_vol") < 0.3
    assert option == {
        "right": "CE",
        "strike": 20000.0,
        "price": 120.0,
        "days_to_expiry": 3.0,
        "method": "delta_gamma",
    }
    o = Config().options
    levels = {k: data[k] for k in ("stop", "t1", "t2", "move_be")}
    for key, method in (
        ("option_exit", "delta_gamma"),
        ("option_exit_proportional", "proportional"),
    ):
        expected = {}
        for name, level in levels.items():
            price = option_exit_price(
                method,
                option_last=120.0,
                underlying_now=20000.0,
                underlying_trigger=float(level),  # type: ignore[arg-type]
                strike=20000.0,
                right="CE",
                t_years=3 / 365,
                r=o.risk_free_rate,
                q=o.dividend_yield,
            )
            expected[name] = round(price, 2)
        assert data[key] == expected, key
    exits = data["option_exit"]
    assert exits["t1"] > 200 > data["option_exit_proportional"]["t1"]  # type: ignore[index, operator]
    later = _targets_json("--option-price", "120", "--days-to-expiry", "10")
    assert (
        later["option_exit"] != exits
        and later["option_exit_proportional"] == data["option_exit_proportional"]
    )


def test_targets_table_shows_both_columns_and_the_implied_volatility(tmp_path: Path) -> None:
    args = [
        "targets",
        "--side",
        "short",
        "--entry",
        "20000",
        "--vix",
        "15",
        "--option-price",
        "120",
    ]
    r = runner.invoke(app, args, env={"COLUMNS": "240"})
    assert r.exit_code == 0, r.stderr
    assert "option (delta_gamma)" in r.stdout and "option (proportional)" in r.stdout
    assert "PE 20000 at 120, 3 days to expiry: implied volatility" in r.stdout
    prop = tmp_path / "prop.toml"
    prop.write_text('[options]\nexit_price_method = "proportional"\n', encoding="utf-8")
    r = runner.invoke(app, [*args, "-c", str(prop)], env={"COLUMNS": "240"})
    assert r.stdout.count("option (") == 1 and "option (proportional)" in r.stdout
