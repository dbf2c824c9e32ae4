"""Operator commands through the risk gate: pause and resume entries, clear a flag by its id,
force-exit, kill (which lasts until an unlock), reload-limits; refusals change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from test_engine_wiring import _MARKET, _bars, _engine

from dyntrail.core.events import (
    CommandApplied,
    CommandRefused,
    EntrySignal,
    KillSwitch,
    PositionClosed,
    PositionOpen,
    TradingStateChanged,
)
from dyntrail.core.risk import TradingState
from dyntrail.engine.commands import (
    ClearFlag,
    CommandError,
    ForceExit,
    Kill,
    Pause,
    ReloadLimits,
    Resume,
    Unlock,
    arg_of,
    parse,
)


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
    assert applied == [("pause-entries", "news at 10:00"), ("resume-entries", "news at 10:00")]
    states = [s.state for s in got.of(TradingStateChanged)]
    assert states[:2] == ["reducing", "active"]


def test_clear_flags_ends_the_reducing_they_caused() -> None:
    engine, got = _engine(1)
    bars = list(_bars(_MARKET))
    _run(engine, bars[:10])
    first = engine.risk.flag("position NIFTY: broker 75, journal 0")
    second = engine.risk.flag("fill 9 of 75 for order X, not ours")
    assert (first, second) == ("F1", "F2")
    engine.command(Pause(""))
    engine.command(Resume())
    assert engine.risk.state is TradingState.REDUCING  # the flags still stand
    with pytest.raises(CommandError, match=r"no flag F7 \(flags standing: F1, F2"):
        engine.command(ClearFlag("F7"))
    engine.command(ClearFlag("F1"))
    assert engine.risk.state is TradingState.REDUCING  # F2 still stands
    assert engine.risk.reasons == ["F2 fill 9 of 75 for order X, not ours"]
    engine.command(ClearFlag(None), key="c9", source="cli")
    assert engine.risk.state is TradingState.ACTIVE and engine.risk.flags == {}
    last = got.of(CommandApplied)[-1]
    assert (last.detail, last.arg, last.id, last.source) == (
        "F2 fill 9 of 75 for order X, not ours",
        "all",
        "c9",
        "cli",
    )
    assert engine.risk.flag("again") == "F3"  # ids are never reused


def test_kill_halts_the_day_and_flattens_every_position() -> None:
    engine, got = _engine(2)
    bars = list(_bars(_MARKET))
    k = 0
    while len(engine.book.open) < 2:
        engine.on_bar(*bars[k])
        k += 1
    engine.command(Kill("operator"))
    assert got.of(KillSwitch) and got.of(CommandApplied)[-1].command == "kill"
    assert engine.why_no_entry() == "kill switch: operator (unlock to trade again)"
    assert engine.risk.state is TradingState.HALTED
    _run(engine, bars[k : k + 30])
    assert not engine.book.open  # both exited by the kill
    assert not [e for e in got.of(EntrySignal) if str(e.ts) > str(got.of(KillSwitch)[0].ts)]


def _open_two(engine: Any, bars: list[Any]) -> int:
    k = 0
    while len(engine.book.open) < 2:
        engine.on_bar(*bars[k])
        k += 1
    return k


def test_force_exit_one_position_then_all_and_trading_goes_on() -> None:
    engine, got = _engine(2)
    bars = list(_bars(_MARKET))
    k = _open_two(engine, bars)
    first, second = sorted(engine.book.open)
    with pytest.raises(CommandError, match="no open trade 99"):
        engine.command(ForceExit(99))
    assert len(engine.book.open) == 2 and not got.of(CommandRefused)  # nothing changed
    engine.command(ForceExit(first), key="a1", source="api")
    _run(engine, bars[k : k + 5])
    closed = {c.trade_id: c.reason for c in got.of(PositionClosed)}
    assert closed.get(first) == "exit_forced" and second not in closed
    assert engine.risk.state is TradingState.ACTIVE  # a force-exit is no halt
    engine.command(ForceExit(None))
    _run(engine, bars[k + 5 : k + 8])
    assert {c.trade_id: c.reason for c in got.of(PositionClosed)}[second] == "exit_forced"
    details = [c.detail for c in got.of(CommandApplied)]
    assert details == [f"trades {first}", f"trades {second}"]
    before = len(got.of(EntrySignal))
    _run(engine, bars[k + 8 :])
    assert len(got.of(EntrySignal)) > before  # entries went on


def test_kill_lasts_past_the_day_until_an_unlock_with_its_word() -> None:
    engine, got = _engine(2)
    bars = list(_bars(_MARKET))
    day1 = [b for b in bars if b[1].date() == bars[0][1].date()]
    _run(engine, day1[:60])
    engine.command(Kill("desk"))
    _run(engine, bars[60:])  # the second day as well
    assert engine.risk.state is TradingState.HALTED
    kill_ts = str(got.of(KillSwitch)[0].ts)
    assert not [e for e in got.of(EntrySignal) if str(e.ts) > kill_ts]
    with pytest.raises(CommandError, match="UNLOCK"):
        engine.command(Unlock("yes"))
    assert engine.risk.killed == "desk"
    restored = _engine(2)[0]
    restored.restore(engine.state())  # the kill is in the state: a restart keeps it
    assert restored.risk.killed == "desk" and restored.risk.state is TradingState.HALTED
    engine.command(Unlock("UNLOCK"))
    assert engine.risk.state is TradingState.ACTIVE and not engine.risk.killed
    assert got.of(CommandApplied)[-1].detail == "kill switch (desk) released"
    with pytest.raises(CommandError, match="not set"):
        engine.command(Unlock("UNLOCK"))


def test_reload_limits_caps_entries_and_survives_a_restore() -> None:
    engine, got = _engine(2)
    bars = list(_bars(_MARKET))
    engine.command(ReloadLimits(max_open_positions=1, lots_per_trade=2, daily_loss_limit_pct=0.01))
    lim = engine.risk.limits
    assert (lim.max_open_positions, lim.lots_per_trade) == (1, 2)
    assert lim.loss_floor == pytest.approx(-0.01 * engine.risk.capital)
    most = 0
    for bar in bars:
        engine.on_bar(*bar)
        most = max(most, len(engine.book.open))
    assert most == 1  # the cap of 2 became 1
    base, base_got = _engine(2)
    _run(base, bars)
    assert {e.qty for e in got.of(PositionOpen)} == {2 * e.qty for e in base_got.of(PositionOpen)}
    restored = _engine(2)[0]
    restored.restore(engine.state())
    assert restored.risk.limits == lim
    assert got.of(CommandApplied)[0].arg == (
        "daily_loss_limit_pct=0.01,max_open_positions=1,lots_per_trade=2"
    )


def test_parse_reads_what_the_surfaces_send() -> None:
    assert parse("pause-entries", "lunch") == Pause("lunch")
    assert parse("force-exit", "all") == ForceExit(None)
    assert parse("force-exit", "#12") == ForceExit(12)
    assert parse("clear-flag", "f3") == ClearFlag("F3")
    assert parse("reload-limits", "max_lots=3") == ReloadLimits(max_lots=3)
    for cmd in (Pause("x"), ForceExit(4), ClearFlag(None), ReloadLimits(max_lots=2), Kill("k")):
        name = {
            Pause: "pause-entries",
            ForceExit: "force-exit",
            ClearFlag: "clear-flag",
            ReloadLimits: "reload-limits",
            Kill: "kill",
        }[type(cmd)]
        assert parse(name, arg_of(cmd)) == cmd
    for name, arg, why in (
        ("stop", "", "unknown command"),
        ("force-exit", "abc", "trade id or 'all'"),
        ("clear-flag", "", "flag id"),
        ("reload-limits", "", "at least one"),
        ("reload-limits", "max_lots=0", "whole number"),
        ("reload-limits", "daily_loss_limit_pct=2", "fraction"),
        ("reload-limits", "capital=5", "unknown limit"),
        ("reload-limits", "max_lots", "NAME=VALUE"),
    ):
        with pytest.raises(CommandError, match=why):
            parse(name, arg)
