"""The backstop across crashes: a paper session with ``[backstop]`` on, killed with SIGKILL at
seeded points and resumed each time, finds each position's resting stop by its tag and adopts
it: never a second stop-limit for one intent, never two working for one position, no fill lost,
and flat with the broker at the end."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dyntrail.execution.orders import TERMINAL_STATES
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.journal import read_journal

EXE = str(Path(sys.executable).with_name("dyntrail"))


def _paper(config: Path, *extra: str) -> subprocess.Popen[bytes]:
    args = ["--days", "1", "--seed", "5", "--speed", "max", "--no-view", "--faults", "default"]
    return subprocess.Popen(
        [EXE, "paper", "--config", str(config), *args, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill_and_resume_adopts_the_resting_stop_by_its_tag(
    tmp_path: Path, last_bar: Callable[[Path], int]
) -> None:
    config = tmp_path / "backstop.toml"
    config.write_text("[backstop]\nenabled = true\n")
    run = tmp_path / "run"
    rng = random.Random(20261201)
    targets = sorted(rng.sample(range(20, 360), 8))
    for k, target in enumerate(targets):
        p = _paper(config, "--resume", str(run)) if k else _paper(config, "--out", str(run))
        while p.poll() is None and last_bar(run) < target:
            time.sleep(0.002)
        assert p.poll() is None, f"exit {p.returncode} before bar {target}"
        time.sleep(rng.uniform(0.0, 0.01))
        p.kill()
        p.wait()
    p = _paper(config, "--resume", str(run))
    assert p.wait(timeout=300) == 0

    events = read_journal(run / "journal.jsonl").events
    stops = [ev["tag"] for ev in events if ev["kind"] == "stop_order"]
    assert stops and len(stops) == len(set(stops))  # each backstop journaled once
    book = PaperBroker(FaultProfile(), 5, state_path=run / "broker_state.json").order_book()
    tags = [row.tag for row in book]
    assert len(tags) == len(set(tags))  # no order sent twice
    assert {t for t in tags if "X" in t[7:]} <= set(stops)
    assert all(row.state in TERMINAL_STATES for row in book)  # nothing left resting
    assert PaperBroker(FaultProfile(), 5, state_path=run / "broker_state.json").positions() == {}
    journaled = {ev["fill_id"] for ev in events if ev["kind"] == "fill"}
    assert {f.fill_id for row in book for f in row.fills} <= journaled  # no fill lost
    assert not [ev for ev in events if ev["kind"] == "late_fill"]
    # never two backstops of one position resting at once (as the journal saw them)
    resting: dict[str, int] = {}
    ended = {"cancelled", "expired", "reject", "rejected", "filled"}
    for ev in events:
        if ev["kind"] == "stop_order":
            same = [t for t, tid in resting.items() if tid == ev["trade_id"]]
            assert not same, f"{ev['tag']} placed while {same} rested"
            resting[ev["tag"]] = ev["trade_id"]
        elif ev["kind"] in ("broker_event", "order_synced") and ev["tag"] in resting:
            if str(ev.get("event") or ev.get("state")) in ended:
                del resting[ev["tag"]]
        elif ev["kind"] == "fill" and ev["tag"] in resting:
            del resting[ev["tag"]]  # (a backstop fill: its position is done with it)
    assert any(ev["kind"] == "resume" for ev in events)
