"""The control's parts on an engine in this process: the inbox (a command applied once, a
file left behind by an applied command deleted, a bad file set aside), the control's step
(commands through the engine, refusals journaled, the status published), the commands
journaled after the last state applied again on a restart, "why no entry now", and the
terminal view showing the underlying beside the stop and targets with the option's quote."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from factories import make_broker, make_run, make_sinks
from rich.console import Console
from test_engine_wiring import _MARKET, _bars, _engine

from dyntrail.control.inbox import Inbox, Request, drop
from dyntrail.control.plane import Control, consumed_ids, replay_commands
from dyntrail.control.status import snapshot
from dyntrail.core.config import Config
from dyntrail.core.events import CommandApplied, CommandRefused
from dyntrail.core.features import StreamingFeatures
from dyntrail.engine import Engine, Route
from dyntrail.engine.commands import Kill, Pause
from dyntrail.runners.drive import ModelQuotes
from dyntrail.runners.live_view import render


def _run(engine: Any, bars: list[Any]) -> None:
    for bar in bars:
        engine.on_bar(*bar)


def test_the_inbox_takes_each_request_once(tmp_path: Path) -> None:
    a = drop(tmp_path, Request("pause-entries", "x", source="cli"))
    b = drop(tmp_path, Request("resume-entries", source="cli"))
    (a.parent / "junk.json").write_text("{not json")
    inbox = Inbox(tmp_path, consumed=set())
    put = inbox.put(Request("kill", "k"))
    taken = inbox.take()
    assert [r.command for r in taken] == ["kill", "pause-entries", "resume-entries"]
    assert (a.parent / "junk.bad").exists()
    assert inbox.take() == []  # not taken twice while it waits
    inbox.done(taken[1], True, "paused")
    assert not a.exists() and b.exists()
    assert inbox.result(taken[1].id) == {
        "id": taken[1].id, "command": "pause-entries", "state": "applied", "detail": "paused"
    }  # fmt: skip
    assert inbox.result(put.id, wait_s=0.05)["state"] == "pending"  # type: ignore[index]
    # a restart that finds b's id journaled deletes its file instead of applying it
    again = Inbox(tmp_path, consumed={taken[2].id})
    assert again.take() == [] and not b.exists()


def test_a_step_applies_refuses_and_publishes(tmp_path: Path) -> None:
    engine, got = _engine(2)
    control = Control(tmp_path, "paper", set())
    engine.sinks.add(control.route())
    bars = list(_bars(_MARKET))
    _run(engine, bars[:30])
    ok = control.ask(Request("pause-entries", "lunch", source="dashboard"))
    bad = control.ask(Request("clear-flag", "F4", source="api"))
    control.step(engine, 29, 750)
    assert control.inbox.result(ok.id)["state"] == "applied"  # type: ignore[index]
    assert "no flag F4" in control.inbox.result(bad.id)["error"]  # type: ignore[index]
    applied = got.of(CommandApplied)[-1]
    assert (applied.command, applied.source, applied.id) == ("pause-entries", "dashboard", ok.id)
    refused = got.of(CommandRefused)[-1]
    assert (refused.command, refused.arg, refused.id) == ("clear-flag", "F4", bad.id)
    status = control.status
    assert status["status"]["risk"]["paused"] == "lunch"
    assert status["bar"] == {"done": 30, "of": 750}
    kinds = [e["kind"] for e in control.events()]
    assert kinds.index("command") < kinds.index("command_refused")
    assert consumed_ids([{"kind": "command", "id": ok.id}]) == {ok.id}
    control.write()
    assert json.loads((tmp_path / "status.json").read_text())["status"]["risk"]["paused"]


def test_commands_journaled_after_the_last_state_apply_again(tmp_path: Path) -> None:
    engine, _ = _engine(2)
    bars = list(_bars(_MARKET))
    _run(engine, bars[:30])
    state = engine.state()
    journal: list[dict[str, Any]] = []
    engine.sinks.add(Route(lambda ev: journal.append({"kind": ev.kind, **ev.fields()})))
    engine.command(Pause("lunch"), key="p1", source="cli")
    engine.command(Kill("kill file"), key="", source="kill-file")  # stops: the runner's
    restarted, got = _engine(2)
    restarted.restore(state)  # the crash took the state line that held the pause
    assert not restarted.risk.paused
    replay_commands(restarted, journal)
    assert restarted.risk.paused == "lunch" and not restarted.risk.killed
    replayed = got.of(CommandApplied)
    assert [(c.command, c.id, c.source) for c in replayed] == [("pause-entries", "p1", "replay")]


def _gated_engine() -> Engine:
    cfg = Config()
    run = make_run(cfg)
    sinks, _ = make_sinks()
    return Engine(
        cfg, run.spec, run.trading_days, ModelQuotes(cfg), make_broker(), sinks,
        StreamingFeatures(cfg), 1,
    )  # fmt: skip


def test_why_no_entry_names_the_gate() -> None:
    engine = _gated_engine()
    bars = list(_bars(_MARKET))
    engine.on_bar(*bars[0])
    assert engine.why_no_entry().startswith("window: entries")
    whys = set()
    for bar in bars[1:200]:
        engine.on_bar(*bar)
        whys.add(engine.why_no_entry().split(":")[0])
    assert whys & {"ADX", "VWAP", "caps", ""} and "window" in whys
    engine.command(Pause("news"))
    assert engine.why_no_entry() == "reducing: paused: news"
    capped = _engine(1)[0]
    k = 0
    while not capped.book.open:
        capped.on_bar(*bars[k])
        k += 1
    assert capped.why_no_entry() == "caps: 1 open of max 1"


def test_the_terminal_view_shows_price_levels_and_quotes() -> None:
    engine, _ = _engine(1)
    bars = list(_bars(_MARKET))
    k = 0
    while not engine.book.open:
        engine.on_bar(*bars[k])
        k += 1
    tr = engine.book.trades()[0]
    engine.market.quotes_now[tr.instrument] = (101.25, 101.75)
    s = snapshot(engine)["positions"][0]
    console = Console(record=True, width=220)
    console.print(render(engine, k - 1, len(bars)))
    text = console.export_text()
    assert f"{s['price']:,.2f}" in text and f"{s['stop']:,.2f}" in text
    assert f"{s['t1']:,.2f}" in text and f"{s['t2']:,.2f}" in text
    assert "101.25" in text and "101.75" in text
    assert "why no entry: caps: 1 open of max 1" in text
    assert dt.datetime.fromisoformat(snapshot(engine)["now"]) == engine.market.now
