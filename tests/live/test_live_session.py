"""End to end: `dyntrail live run` as a user starts it, against the local fake Kite, on a
replayed day: the dry run (live feed, paper broker), real orders through the Kite adapter,
and a kill -9 in the middle of the day with a restart that resumes from the journal."""

from __future__ import annotations

import datetime as dt
import json
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from replay import (
    DAY,
    INDIA_VIX,
    IST,
    NIFTY_50,
    Replay,
    candles,
    chain,
    ended,
    live_process,
    market,
    states,
    wait_for,
)

from dyntrail.journal import read_journal, summarize
from fakekite import FakeKite

SEED = 11


def config(tmp_path: Path, fake: FakeKite) -> Path:
    path = tmp_path / "live.toml"
    path.write_text(
        f"""
[live]
clock = "feed"
rest_root = "{fake.rest_root}"
ws_root = "{fake.ws_root}"
stale_s = 600.0
poll_s = 0.2
resend_after_s = 1.0
""",
        encoding="utf-8",
    )
    return path


def session(fake: FakeKite, tmp_path: Path) -> tuple[Replay, list, Path]:
    history, today = market(SEED)
    fake.set_time(dt.datetime.combine(DAY, dt.time(9, 0), IST))
    fake.candles[(NIFTY_50, "minute")], fake.candles[(INDIA_VIX, "minute")] = candles(history)
    return Replay(fake, []), today, config(tmp_path, fake)


def play(
    replay: Replay,
    bars: list,
    run_dir: Path,
    proc: object,
    before: Callable[[int], None] | None = None,
) -> None:
    """Each minute's ticks, then wait until the session journaled the bar they closed (a
    replay as fast as the session takes it, never ahead of it)."""
    done = states(run_dir)
    for k, b in enumerate(bars):
        if before is not None:
            before(k)
        replay.minute(b)
        if k:  # this minute's first tick closed the bar before it
            wait_for(lambda d=done + k: states(run_dir) >= d, 30, f"bar {b.start}")


def finish(replay: Replay, bars: list) -> None:
    last = bars[-1]
    end = dt.datetime.combine(DAY, dt.time(15, 30, 5), IST)
    replay.fake.push_tick(NIFTY_50, round(last.close, 2), ts=end)


def secrets(fake: FakeKite) -> list[str]:
    """What the session was given that must never be written: key, secret and token."""
    return [fake.api_key, fake.api_secret, fake.access_token]


def outputs_hold_no_secret(run_dir: Path, *texts: str, secrets: list[str]) -> None:
    for p in run_dir.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for s in secrets:
                assert s.encode() not in data, f"{s!r} in {p}"
    for t in texts:
        for s in secrets:
            assert s not in t


@pytest.mark.parametrize("mode", ["--dry-run", "--confirm-live"])
def test_a_replayed_day_on_the_fake_kite(fake: FakeKite, tmp_path: Path, mode: str) -> None:
    replay, today, cfg = session(fake, tmp_path)
    replay.options = {o.instrument_token: o for o in chain(today[0].open)}
    run_dir = tmp_path / "run"
    proc = live_process(run_dir, cfg, fake, mode, "--report")
    wait_for(lambda: NIFTY_50 in replay.subscribed(), 60, "the session to subscribe")
    play(replay, today, run_dir, proc)
    finish(replay, today)
    out, err = ended(proc, run_dir)
    assert proc.returncode == 0, err[-3000:]
    head = json.loads((run_dir / "journal.jsonl").read_text().splitlines()[0])
    assert (head["mode"], head["broker"]) == ("live", "paper" if mode == "--dry-run" else "kite")
    trades = (run_dir / "trades.csv").read_text().splitlines()
    assert len(trades) > 1, out
    assert (run_dir / "report.html").stat().st_size > 0
    outputs_hold_no_secret(run_dir, out, err, secrets=secrets(fake))
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    (close,) = [e for e in events if e["kind"] == "reconciled_close"]
    assert (close["broker"], close["journal"], close["flags"]) == ({}, {}, [])
    if mode == "--confirm-live":
        tags = Counter(o["tag"] for o in fake.orders())
        assert tags and max(tags.values()) == 1  # one order per intent
        assert fake.positions() == {}  # flat at the broker at the end
        assert not fake.sessions.valid(fake.api_key, fake.access_token)  # logged out


def test_kill_9_mid_day_and_kite_faults_lose_nothing_and_double_nothing(
    fake: FakeKite, tmp_path: Path
) -> None:
    """Real orders through the adapter with Kite's faults armed (a 429 burst longer than the
    adapter's retries, a send whose answer is lost, lost order updates, a partial fill, a
    reject, a dropped WebSocket), and the process killed with SIGKILL three times and started
    again on the same folder each time: at two seeded bars of the day, and the moment Kite
    takes an order (before its answer reaches the client, or its ack the journal). At the end:
    every fault fired, one order per tag, every fill at the broker in the journal, flat at the
    broker and in the journal, and the close's reconciliation found nothing to flag."""
    replay, today, cfg = session(fake, tmp_path)
    with cfg.open("a", encoding="utf-8") as fh:
        fh.write("request_timeout_s = 1.0\n")
    replay.options = {o.instrument_token: o for o in chain(today[0].open)}
    run_dir = tmp_path / "run"
    f = fake.faults
    f.http_error(429, n=4)  # one more than the adapter's tries: an order refused, rate limited
    f.lose_order_updates(3)
    f.partial_fill_next(75)
    f.reject_next(1, reason="RMS: margin exceeds")
    f.timeout_after_send(1, delay=2.0)
    proc = live_process(run_dir, cfg, fake, "--confirm-live")
    wait_for(lambda: NIFTY_50 in replay.subscribed(), 60, "the session to subscribe")

    def drop(k: int) -> None:
        if k == 60:
            fake.faults.drop_ws()
            wait_for(lambda: NIFTY_50 not in replay.subscribed(), 30, "the feed to drop")
            wait_for(lambda: NIFTY_50 in replay.subscribed(), 30, "the feed to reconnect")

    def drop_at(done: int) -> Callable[[int], None]:
        return lambda k: drop(done + k)

    # kills: the moment Kite takes the day's first order, at a seeded bar while positions are
    # open, and the moment Kite takes the next order after that restart
    plan: list[int | None] = [None, random.Random(5).randrange(40, 110), None]
    done = 0
    for cut in plan:
        if cut is None:
            cut = done + play_until_an_order_kills(
                replay, fake, today[done:], run_dir, proc, drop_at(done)
            )
        else:
            play(replay, today[done:cut], run_dir, proc, before=drop_at(done))
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        wait_for(lambda: NIFTY_50 not in replay.subscribed(), 30, "the dead feed to go")
        fake.candles[(NIFTY_50, "minute")] += candles(today[done:cut])[0]
        resumed = (run_dir / "journal.jsonl").read_bytes().count(b'"kind":"resume"')
        proc = live_process(run_dir, cfg, fake, "--confirm-live")
        wait_for(
            lambda n=resumed: (
                (run_dir / "journal.jsonl").read_bytes().count(b'"kind":"resume"') > n
            ),
            60,
            "the restart to resume",
        )
        wait_for(lambda: NIFTY_50 in replay.subscribed(), 60, "the session to subscribe again")
        done = cut
    play(replay, today[done:], run_dir, proc)
    finish(replay, today)
    out, err = ended(proc, run_dir)
    assert proc.returncode == 0, err[-3000:]
    tags = Counter(o["tag"] for o in fake.orders())
    assert tags and max(tags.values()) == 1, tags  # one order per intent, across the crash
    assert fake.positions() == {}
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    journaled = {e["fill_id"] for e in events if e["kind"] == "fill"}
    ours = {o["order_id"] for o in fake.orders()}
    at_broker = {t.trade_id for t in fake.exchange.trades if t.order.order_id in ours}
    assert at_broker and at_broker <= journaled  # no fill lost
    assert summarize(read_journal(run_dir / "journal.jsonl"))["positions_open"] == []
    (close,) = [e for e in events if e["kind"] == "reconciled_close"]
    assert (close["broker"], close["journal"], close["flags"]) == ({}, {}, [])
    armed = Counter({"http 429": 4, "timeout": 1, "reject": 1, "partial fill": 1,
                     "lost update": 3, "dropped ws": 1})  # fmt: skip
    assert f.fired >= armed, f.fired
    rejected = [e["reason"] for e in events if e["kind"] == "order_rejected"]
    assert any(r.startswith("rate limited") for r in rejected)  # the burst outlasted retries
    assert "RMS: margin exceeds" in rejected
    kpis = json.loads((run_dir / "kpis.json").read_text())
    assert kpis["orders_rejected"] == len(rejected)
    assert kpis["reject_ratio"] == pytest.approx(len(rejected) / kpis["orders_sent"])
    assert kpis["broker_acks"] > 0 and kpis["p95_ack_ms"] is not None
    outputs_hold_no_secret(run_dir, out, err, secrets=secrets(fake))


def play_until_an_order_kills(
    replay: Replay,
    fake: FakeKite,
    bars: list,
    run_dir: Path,
    proc: subprocess.Popen[str],
    before: Callable[[int], None],
) -> int:
    """Replay ``bars`` until Kite holds one more order, and kill the process with SIGKILL at
    once (a watcher on the fake's book): the order's answer may or may not have reached the
    client, its ack may or may not be journaled. Returns how many bars were replayed."""
    seen = len(fake.exchange.orders)
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set() and proc.poll() is None:
            if len(fake.exchange.orders) > seen:
                proc.send_signal(signal.SIGKILL)
                return
            time.sleep(0.0005)

    killer = threading.Thread(target=watch, daemon=True)
    killer.start()
    done = states(run_dir)
    try:
        for k, b in enumerate(bars):
            before(k)
            replay.minute(b)
            if k:
                wait_for(
                    lambda d=done + k: states(run_dir) >= d or proc.poll() is not None,
                    30,
                    f"bar {b.start}",
                )
            if proc.poll() is not None:
                return k + 1
    finally:
        stop.set()
        killer.join()
    raise AssertionError("no order was sent in the rest of the day: nothing to kill at")
