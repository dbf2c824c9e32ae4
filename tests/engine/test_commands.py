"""Operator commands through the risk gate: pause and resume entries, clear flags, kill."""

from __future__ import annotations

from typing import Any

from test_engine_wiring import _MARKET, _bars, _engine

from dyntrail.core.events import CommandApplied, EntrySignal, KillSwitch, TradingStateChanged
from dyntrail.core.risk import TradingState
from dyntrail.engine.commands import ClearFlags, Kill, Pause, Resume


def _run(engine: Any, bars: list[Any]) -> None:
    for bar in bars:
        engine.on_bar(*bar)


def test_pause_stops_entries_and_resume_lets_them_out_again() -> None:
    engine, got = _engine(2)
    bars = list(_bars(_MARKET))
    _run(engine, bars[:20])
    engine.command(Pause("news at 10:00"))
    assert engine.risk.state is TradingState.REDUCING
    entries = len(got.of(EntrySignal))
    _run(engine, bars[20:400])
    assert len(got.of(EntrySignal)) == entries  # none while paused (exits went on)
    engine.command(Resume())
    assert engine.risk.state is TradingState.ACTIVE
    _run(engine, bars[400:])
    assert len(got.of(EntrySignal)) > entries
    applied = [(c.command, c.detail) for c in got.of(CommandApplied)]
    assert applied == [("pause", "news at 10:00"), ("resume", "news at 10:00")]
    states = [s.state for s in got.of(TradingStateChanged)]
    assert states[:2] == ["reducing", "active"]


def test_clear_flags_ends_the_reducing_they_caused() -> None:
    engine, got = _engine(1)
    bars = list(_bars(_MARKET))
    _run(engine, bars[:10])
    engine.risk.flag("position NIFTY: broker 75, journal 0")
    engine.command(Pause(""))
    engine.command(Resume())
    assert engine.risk.state is TradingState.REDUCING  # the flag still stands
    engine.command(ClearFlags())
    assert engine.risk.state is TradingState.ACTIVE and engine.risk.flags == []
    assert got.of(CommandApplied)[-1].detail == "position NIFTY: broker 75, journal 0"


def test_kill_halts_the_day_and_flattens_every_position() -> None:
    engine, got = _engine(2)
    bars = list(_bars(_MARKET))
    k = 0
    while len(engine.book.open) < 2:
        engine.on_bar(*bars[k])
        k += 1
    engine.command(Kill("operator"))
    assert got.of(KillSwitch) and got.of(CommandApplied)[-1].command == "kill"
    assert engine.risk.state is TradingState.HALTED
    _run(engine, bars[k : k + 30])
    assert not engine.book.open  # both exited by the kill
    assert not [e for e in got.of(EntrySignal) if str(e.ts) > str(got.of(KillSwitch)[0].ts)]
