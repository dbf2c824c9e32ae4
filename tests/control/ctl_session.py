"""A real ``dyntrail paper`` session in a subprocess with its API on 127.0.0.1, and the calls
an operator makes to it: ``dyntrail ctl`` (a subprocess too) and plain HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXE = str(Path(sys.executable).with_name("dyntrail"))
SPEED = "600"  # a 1-minute bar every 0.1 s


class Session:
    """One paper session's process and run folder."""

    def __init__(self, run_dir: Path, *extra: str, resume: bool = False) -> None:
        self.run_dir = run_dir
        self.log = run_dir.parent / f"{run_dir.name}.{time.time_ns()}.err"
        where = ["--resume", str(run_dir)] if resume else ["--out", str(run_dir)]
        args = [EXE, "paper", *where, "--days", "2", "--speed", SPEED, "--faults", "none",
                "--no-view", *extra]  # fmt: skip
        (run_dir / "control.json").unlink(missing_ok=True) if run_dir.exists() else None
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"), env=_env()
        )
        self.url = ""
        self.token = ""

    def wait_api(self, timeout: float = 60) -> Session:
        info = self.run_dir / "control.json"
        self.until(info.exists, timeout, "control.json")
        self.url = json.loads(info.read_text())["url"]
        self.token = (self.run_dir / "control.token").read_text().strip()
        self.until(lambda: self.status().get("status") is not None, timeout, "a first status")
        return self

    def until(self, ok: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = ok()
            if got:
                return got
            if self.proc.poll() is not None:
                raise AssertionError(f"the session ended waiting for {what}: {self.stderr()}")
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout} s: {self.stderr()}")

    def http(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        tok = self.token if token is None else token
        if tok:
            req.add_header("Authorization", f"Bearer {tok}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                code = r.status
        except urllib.error.HTTPError as exc:
            raw, code = exc.read(), exc.code
        try:
            return code, json.loads(raw)
        except ValueError:
            return code, raw.decode()

    def status(self) -> dict[str, Any]:
        code, body = self.http("GET", "/api/status")
        assert code == 200, body
        return dict(body)

    def command(self, name: str, arg: str = "", wait: float = 15) -> dict[str, Any]:
        code, body = self.http(
            "POST", "/api/commands", {"command": name, "arg": arg, "wait": wait}
        )
        assert code == 200, (code, body)
        return dict(body)

    def journal(self) -> list[dict[str, Any]]:
        out = []
        for line in (self.run_dir / "journal.jsonl").read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:  # a line being written
                break
        return out

    def wait_forced_exit(self, trade: int, timeout: float = 60) -> None:
        """Until the journal holds the forced exit's fill of ``trade``."""

        def filled() -> bool:
            return any(
                e["kind"] == "fill" and e["trade_id"] == trade and e["action"] == "exit_forced"
                for e in self.journal()
            )

        self.until(filled, timeout, f"the forced exit's fill of trade {trade}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 120) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def ctl(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``dyntrail ctl ARGS`` as an operator types it."""
    return subprocess.run(
        [EXE, "ctl", *args], capture_output=True, text=True, timeout=120, input=input,
        env=_env(),
    )  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for k in [k for k in env if k.startswith(("DYNTRAIL_", "COLUMNS"))]:
        env.pop(k)
    env["COLUMNS"] = "200"
    return env


def commands(journal: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The journal's commands: (command, source, arg)."""
    return [
        (e["command"], e.get("source", ""), e.get("arg", ""))
        for e in journal
        if e["kind"] == "command"
    ]
