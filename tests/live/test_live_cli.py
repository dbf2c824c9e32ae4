"""`dyntrail live login` and the guards of `dyntrail live run`, as a user runs them, against
the local fake Kite: the documented request-token exchange, the day's token stored 0600, and no
credential in any output."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakekite import FakeKite


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    with FakeKite("kitekey", "kitesecret") as f:
        yield f


def dyntrail(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DYNTRAIL_KITE_")}
    return subprocess.run(
        [sys.executable, "-c", "from dyntrail.cli.app import main; main()", *args],
        env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def files(tmp_path: Path, fake: FakeKite) -> tuple[Path, Path]:
    creds = tmp_path / "secrets" / "kite.toml"
    creds.parent.mkdir()
    creds.write_text('api_key = "kitekey"\napi_secret = "kitesecret"\n', encoding="utf-8")
    creds.chmod(0o600)
    cfg = tmp_path / "live.toml"
    cfg.write_text(f'[live]\nrest_root = "{fake.rest_root}"\n', encoding="utf-8")
    return creds, cfg


def test_login_exchanges_the_request_token_and_keeps_the_token_private(
    fake: FakeKite, tmp_path: Path
) -> None:
    creds, cfg = files(tmp_path, fake)
    first = dyntrail("live", "login", "--credentials", str(creds), "--config", str(cfg))
    assert first.returncode == 0 and "api_key=kitekey" in first.stdout  # the login URL
    token = fake.request_token()
    done = dyntrail(
        "live", "login", "--credentials", str(creds), "--config", str(cfg),
        "--request-token", token,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = creds.with_name("kite-token.json")
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text())["access_token"] == fake.access_token
    for text in (done.stdout, done.stderr):
        assert fake.access_token not in text and "kitesecret" not in text
    again = dyntrail(  # a request token is good once: refused, and nothing leaks
        "live", "login", "--credentials", str(creds), "--config", str(cfg),
        "--request-token", token,
    )  # fmt: skip
    assert again.returncode == 1 and "refused the login" in again.stderr
    assert token not in again.stderr and "kitesecret" not in again.stderr


def test_real_orders_need_an_explicit_confirmation(fake: FakeKite, tmp_path: Path) -> None:
    _, cfg = files(tmp_path, fake)
    env = {"DYNTRAIL_KITE_API_KEY": "kitekey", "DYNTRAIL_KITE_ACCESS_TOKEN": fake.access_token}
    run = dyntrail("live", "run", "--config", str(cfg), "--out", str(tmp_path / "r"), env=env)
    assert run.returncode == 1 and "--confirm-live" in run.stderr
    assert not (tmp_path / "r" / "journal.jsonl").exists()
    assert fake.access_token not in run.stderr


def test_no_token_for_today_asks_for_a_login(fake: FakeKite, tmp_path: Path) -> None:
    creds, cfg = files(tmp_path, fake)
    run = dyntrail(
        "live", "run", "--dry-run", "--credentials", str(creds), "--config", str(cfg),
        "--out", str(tmp_path / "r"), "--day", "2025-01-03",
    )  # fmt: skip
    assert run.returncode == 1 and "dyntrail live login" in run.stderr


def test_the_config_switch_confirms_real_orders_as_the_flag_does(
    fake: FakeKite, tmp_path: Path
) -> None:
    creds, cfg = files(tmp_path, fake)
    cfg.write_text(cfg.read_text() + "confirm = true\n", encoding="utf-8")
    run = dyntrail(
        "live", "run", "--credentials", str(creds), "--config", str(cfg),
        "--out", str(tmp_path / "r"), "--day", "2025-01-03",
    )  # fmt: skip
    assert run.returncode == 1 and "--confirm-live" not in run.stderr  # past the guard
    assert "dyntrail live login" in run.stderr  # (no token today: the next guard)


@pytest.mark.parametrize(
    ("day", "why", "after"),
    [("2025-01-04", "Saturday", "2025-01-06 (Monday)"),
     ("2025-02-26", "Wednesday", "2025-02-27 (Thursday)")],  # Mahashivratri
)  # fmt: skip
def test_a_day_without_a_session_is_said_and_nothing_starts(
    fake: FakeKite, tmp_path: Path, day: str, why: str, after: str
) -> None:
    creds, cfg = files(tmp_path, fake)
    run = dyntrail(
        "live", "run", "--dry-run", "--credentials", str(creds), "--config", str(cfg),
        "--out", str(tmp_path / "r"), "--day", day,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"{day} ({why}) is not a trading day" in run.stderr
    assert f"the next is {after}" in run.stderr
    assert not (tmp_path / "r").exists() and fake.requests == []  # Kite never asked
