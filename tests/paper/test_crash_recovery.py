"""Crash safety: kill -9 a paper session at 20+ seeded points, resume each time, and end with the
same trades, fills and PnL as an uninterrupted run, no order sent twice and no fill lost."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.journal import read_journal

EXE = str(Path(sys.executable).with_name("dyntrail"))
ARGS = ["--days", "2", "--seed", "5", "--speed", "max", "--no-view", "--faults", "default"]


def _paper(*extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [EXE, "paper", *ARGS, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_kill_minus_nine_twenty_times_then_resume(
    tmp_path: Path, last_bar: Callable[[Path], int]
) -> None:
    ref = tmp_path / "ref"
    t0 = time.monotonic()
    p = _paper("--out", str(ref))
    assert p.wait(timeout=300) == 0, p.stderr.read() if p.stderr else ""
    duration = time.monotonic() - t0

    run = tmp_path / "crashy"
    n_bars = 2 * 375
    rng = random.Random(20261124)
    targets = sorted(rng.sample(range(5, n_bars - 5), 22))  # bars after which a kill lands
    kills = 0
    for k, target in enumerate(targets):
        p = _paper("--resume", str(run)) if k else _paper("--out", str(run))
        while p.poll() is None and last_bar(run) < target:
            time.sleep(0.002)
        if p.poll() is not None:  # it ended before reaching the target: it must have failed
            raise AssertionError(
                f"exit {p.returncode} before bar {target}: "
                + (p.stderr.read().decode()[-2000:] if p.stderr else "")
            )
        time.sleep(rng.uniform(0.0, 0.01))  # land anywhere inside the next bars' work
        p.kill()  # SIGKILL: no cleanup of any kind
        p.wait()
        kills += 1
    p = _paper("--resume", str(run))
    assert p.wait(timeout=300) == 0, p.stderr.read() if p.stderr else ""
    assert kills >= 20
    del duration

    ref_trades = pd.read_csv(ref / "trades.csv")
    got_trades = pd.read_csv(run / "trades.csv")
    # A resend after a crash reaches the broker a few seconds later than it would have: fill
    # times may differ by those seconds; prices, quantities, reasons and PnL may not.
    pd.testing.assert_frame_equal(
        got_trades.drop(columns=["exit_ts"]), ref_trades.drop(columns=["exit_ts"])
    )
    assert (got_trades["exit_ts"].str[:16] == ref_trades["exit_ts"].str[:16]).all()
    cols = ["trade_id", "leg", "action", "side", "qty", "price", "tag"]
    pd.testing.assert_frame_equal(
        pd.read_csv(run / "fills.csv")[cols], pd.read_csv(ref / "fills.csv")[cols]
    )

    events = read_journal(run / "journal.jsonl").events
    journaled_fills = {ev["fill_id"] for ev in events if ev["kind"] == "fill"}
    sent_tags = [ev["tag"] for ev in events if ev["kind"] == "order"]
    book = PaperBroker(FaultProfile(), 5, state_path=run / "broker_state.json").order_book()
    broker_tags = [row.tag for row in book]
    assert len(broker_tags) == len(set(broker_tags))  # no order sent twice
    broker_fills = {f.fill_id for row in book for f in row.fills}
    assert broker_fills <= journaled_fills  # no fill lost
    assert set(broker_tags) <= set(sent_tags)  # no order without a journal entry
    assert any(ev["kind"] == "resume" for ev in events)
