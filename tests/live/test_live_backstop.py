"""End to end: the backstop (``[backstop]``) through `dyntrail live run --confirm-live` on the
fake Kite: each position's SL rests at the broker, is moved by modify within its budget and
cancelled before the engine's own exit, and a session killed with SIGKILL while one rests finds
it by its tag on the restart and adopts it. At the broker: one order per tag, no SL left
working, never a short option at any moment (the double fill Zerodha warns of), flat at the
end."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

from replay import NIFTY_50, candles, chain, ended, live_process, wait_for
from test_live_session import finish, play, session

from fakekite import FakeKite

ENDED = {"COMPLETE", "CANCELLED", "REJECTED"}


class _Resting(Exception):
    """The replay reached a minute with a backstop resting at the broker."""


def _resting(kite: FakeKite) -> list[str]:
    """Tags of backstop SL orders waiting for their trigger at the broker."""
    return [
        str(o["tag"])
        for o in kite.orders()
        if o["order_type"] == "SL" and "X" in str(o["tag"])[7:]
        and o["status"] == "TRIGGER PENDING"
    ]  # fmt: skip


def test_the_backstop_rests_at_kite_is_adopted_after_a_kill_and_never_doubles_an_exit(
    fake: FakeKite, tmp_path: Path
) -> None:
    replay, today, cfg = session(fake, tmp_path)
    with cfg.open("a", encoding="utf-8") as fh:
        fh.write("\n[backstop]\nenabled = true\n")
    replay.options = {o.instrument_token: o for o in chain(today[0].open)}
    run_dir = tmp_path / "run"
    proc = live_process(run_dir, cfg, fake, "--confirm-live")
    wait_for(lambda: NIFTY_50 in replay.subscribed(), 60, "the session to subscribe")

    def stop_when_resting(k: int) -> None:
        if k > 30 and _resting(fake):
            raise _Resting(k)

    try:
        play(replay, today, run_dir, proc, before=stop_when_resting)
        raise AssertionError("no backstop rested at the broker all day")
    except _Resting as at:
        cut = int(at.args[0])
    held = _resting(fake)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    wait_for(lambda: NIFTY_50 not in replay.subscribed(), 30, "the dead feed to go")
    fake.candles[(NIFTY_50, "minute")] += candles(today[:cut])[0]
    proc = live_process(run_dir, cfg, fake, "--confirm-live")
    wait_for(
        lambda: b'"kind":"resume"' in (run_dir / "journal.jsonl").read_bytes(),
        60,
        "the restart to resume",
    )
    wait_for(lambda: NIFTY_50 in replay.subscribed(), 60, "the session to subscribe again")
    play(replay, today[cut:], run_dir, proc)
    finish(replay, today)
    _, err = ended(proc, run_dir)
    assert proc.returncode == 0, err[-3000:]

    orders = fake.orders()
    tags = Counter(o["tag"] for o in orders)
    assert tags and max(tags.values()) == 1, tags  # one order per intent, across the kill
    stops = [o for o in orders if "X" in str(o["tag"])[7:]]
    assert stops and all(o["order_type"] == "SL" for o in stops)
    assert all(o["status"] in ENDED for o in stops)  # nothing left resting
    assert max(o.modifications for o in fake.exchange.orders.values()) <= 20
    assert fake.positions() == {}
    held_qty: Counter[str] = Counter()  # never short, at any fill
    for t in fake.exchange.trades:
        sign = 1 if t.order.transaction_type == "BUY" else -1
        held_qty[t.order.tradingsymbol] += sign * t.quantity
        assert held_qty[t.order.tradingsymbol] >= 0, f"short after trade {t.trade_id}"
    events = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines()]
    resume = next(i for i, e in enumerate(events) if e["kind"] == "resume")
    for tag in held:  # the stop resting at the kill: journaled once, managed after the restart
        assert [e["kind"] for e in events if e.get("tag") == tag].count("stop_order") == 1
        later = {e["kind"] for e in events[resume:] if e.get("tag") == tag}
        assert later & {"order_cancel", "broker_event", "order_synced", "stop_modify"}, later
