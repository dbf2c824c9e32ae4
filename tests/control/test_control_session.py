"""Operator control of a real paper session (a ``dyntrail paper`` process with its API on
127.0.0.1): pause, resume, force-exit, kill and unlock from ``dyntrail ctl`` and the API, each
journaled with its source and applied once; a kill -9 and ``--resume`` keep what the commands
set; a command dropped into the run folder while the session is down is applied once when it
starts again; the KILL file stops the session and is consumed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ctl_session import Session, commands, ctl


def _open_trade(s: Session) -> int:
    def one() -> int | None:
        pos = s.status()["status"]["positions"]
        return pos[0]["trade"] if pos and not pos[0]["closing"] else None

    return int(s.until(one, 120, "an open position"))


def test_ctl_and_api_steer_a_session_through_a_crash(tmp_path: Path) -> None:
    run = tmp_path / "run"
    s = Session(run).wait_api()
    tokens = [s.token]
    d = str(run)
    # pause from the command line: the gate reduces, and says why no entry
    r = ctl("pause-entries", "news", "--session", d)
    assert r.returncode == 0 and "pause-entries: applied: news" in r.stdout, r.stderr
    st = s.status()["status"]
    assert st["risk"]["state"] == "reducing" and st["risk"]["paused"] == "news"
    assert st["why_no_entry"].startswith("reducing: paused: news")
    # resume from the API
    assert s.command("resume-entries")["state"] == "applied"
    trade = _open_trade(s)
    # a refusal changes nothing and says why
    bad = s.command("force-exit", "999")
    assert bad["state"] == "refused" and "no open trade 999" in bad["error"]
    assert s.command("force-exit", str(trade))["state"] == "applied"
    s.wait_forced_exit(trade)
    # kill from the command line (confirmed), then a crash
    r = ctl("kill", "desk", "--session", d, "--yes")
    assert r.returncode == 0 and "kill: applied" in r.stdout, r.stderr
    assert s.status()["status"]["risk"]["state"] == "halted"
    time.sleep(0.5)  # a few bars halted, each with its state line
    s.kill9()
    # while it is down: a command waits in the run folder
    r = ctl("pause-entries", "while-down", "--session", d)
    assert r.returncode == 0 and "queued" in r.stdout, r.stderr
    s = Session(run, resume=True).wait_api()
    tokens.append(s.token)
    assert tokens[0] != tokens[1]  # a token per session start
    st = s.until(
        lambda: (x := s.status()["status"])["risk"]["paused"] == "while-down" and x, 60, "pause"
    )
    assert st["risk"]["killed"] == "desk" and st["risk"]["state"] == "halted"  # kept
    assert st["why_no_entry"] == "kill switch: desk (unlock to trade again)"
    assert not list((run / "control" / "inbox").glob("*.json"))  # consumed
    # unlock needs its word; then trading may go on
    r = ctl("unlock", "--session", d, input="no\n")
    assert r.returncode == 1 and "UNLOCK" in r.stderr
    r = ctl("unlock", "UNLOCK", "--session", d)
    assert r.returncode == 0 and "released" in r.stdout, r.stderr
    assert s.status()["status"]["risk"]["killed"] == ""
    # the KILL file stops the session, flat, and is consumed
    (run / "KILL").touch()
    assert s.proc.wait(timeout=120) == 0, s.stderr()
    assert not (run / "KILL").exists() and (run / "KILL.consumed").exists()
    journal = s.journal()
    got = commands(journal)
    assert got[:5] == [
        ("pause-entries", "cli", "news"),
        ("resume-entries", "api", ""),
        ("force-exit", "api", str(trade)),
        ("kill", "cli", "desk"),
        ("pause-entries", "cli", "while-down"),  # from the inbox
    ]
    assert got[5:] == [("unlock", "cli", ""), ("kill", "kill-file", "kill file")]
    ids = [e["id"] for e in journal if e["kind"] in ("command", "command_refused")]
    assert len(ids) == len(set(ids))  # each applied once
    refused = [e for e in journal if e["kind"] == "command_refused"]
    assert [(e["command"], e["arg"]) for e in refused] == [("force-exit", "999"), ("unlock", "no")]
    assert not (run / "control.json").exists() and not (run / "control.token").exists()
    final = json.loads((run / "status.json").read_text())
    assert final["status"]["positions"] == []
    # a resume of the stopped session does not stop again by surprise, nor apply anything twice
    again = Session(run, resume=True)
    assert again.proc.wait(timeout=120) == 0, again.stderr()
    assert commands(again.journal()) == got
    # no token anywhere: journal, status, config, outputs, the processes' stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(t.encode() in data for t in tokens), path
