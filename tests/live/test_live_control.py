"""Operator control of `dyntrail live run --confirm-live` on the fake Kite: the same API and
commands as a paper session. Mid-day the operator pauses entries (`dyntrail ctl`), force-exits
the open position through the API (the exit order reaches Kite, tagged as a forced exit),
and kills the session's trading; the status shows the feed and broker health; every command
is journaled with its source, and the account is flat at Kite at the end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from replay import chain, ended, live_process, states, wait_for
from test_live_session import finish, play, session

from fakekite import FakeKite

EXE = str(Path(sys.executable).with_name("dyntrail"))


def _ctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNTRAIL_")}
    return subprocess.run(
        [EXE, "ctl", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def _api(run_dir: Path, method: str, path: str, body: Any = None) -> Any:
    url = json.loads((run_dir / "control.json").read_text())["url"]
    token = (run_dir / "control.token").read_text().strip()
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_a_live_session_is_steered_like_a_paper_one(fake: FakeKite, tmp_path: Path) -> None:
    replay, today, cfg = session(fake, tmp_path)
    replay.options = {o.instrument_token: o for o in chain(today[0].open)}
    run_dir = tmp_path / "run"
    proc = live_process(run_dir, cfg, fake, "--confirm-live")
    wait_for(lambda: (run_dir / "control.json").exists(), 60, "the control API")
    r = _ctl("pause-entries", "opening", "--session", str(run_dir))
    assert r.returncode == 0 and "applied" in r.stdout, r.stderr
    assert _ctl("resume-entries", "--session", str(run_dir)).returncode == 0
    opened: list[int] = []

    def watch(k: int) -> None:
        if opened or k % 5:
            return
        st = _api(run_dir, "GET", "/api/status")["status"]
        live = [p for p in st["positions"] if not p["closing"] and p["qty"]]
        if live and not st["orders"]:
            opened.append(live[0]["trade"])
            got = _api(run_dir, "POST", "/api/commands",
                       {"command": "force-exit", "arg": str(opened[0]), "wait": 10})  # fmt: skip
            assert got["state"] == "applied", got

    play(replay, today[:200], run_dir, proc, before=watch)
    assert opened, "no position opened in the first 200 minutes"
    health = _api(run_dir, "GET", "/health")
    assert health["mode"] == "live" and health["broker"] == "ok"
    assert health["feed_stale_s"] is not None and health["feed_stale_s"] < 60
    r = _ctl("kill", "desk", "--session", str(run_dir), "--yes")
    assert r.returncode == 0 and "applied" in r.stdout, r.stderr
    done = states(run_dir)
    play(replay, today[200:], run_dir, proc)
    assert states(run_dir) > done
    finish(replay, today)
    _, err = ended(proc, run_dir)
    assert proc.returncode == 0, err[-3000:]
    journal = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines()]
    cmds = [(e["command"], e["source"]) for e in journal if e["kind"] == "command"]
    assert cmds == [
        ("pause-entries", "cli"),
        ("resume-entries", "cli"),
        ("force-exit", "api"),
        ("kill", "cli"),
    ]
    forced = [o for o in fake.orders() if re.fullmatch(r"D\d{6}P\d+F\d+(Q\d+)?", o["tag"])]
    fills = [e for e in journal if e["kind"] == "fill" and e["action"] == "exit_forced"]
    assert fills and fills[0]["trade_id"] == opened[0] and forced
    kill_at = next(e["seq"] for e in journal if e["kind"] == "kill_switch")
    assert not [e for e in journal if e["kind"] == "entry_signal" and e["seq"] > kill_at]
    assert fake.positions() == {}
