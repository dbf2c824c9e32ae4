"""The journal's schema: typed events written by ``Journal.emit`` and read back by
``read_events`` are the same events, and what the schema refuses it refuses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from factories import w1_cfg

from dyntrail.core import events as E
from dyntrail.core.events import Event, UnknownEvent, from_record
from dyntrail.data.synthetic import generate, weekdays
from dyntrail.errors import JournalError
from dyntrail.journal import Journal, encode_event, read_events, read_journal
from dyntrail.runners.backtest import run_signal_backtest

TS = "2025-03-03T09:16:00+05:30"

# one sample value per annotation used in the schema (annotations are strings here)
_SAMPLES: dict[str, Any] = {
    "str": "x1",
    "str | None": "x2",
    "int": 3,
    "int | None": 4,
    "float": 1.5,
    "float | None": 2.5,
    "float | str": 2.25,
    "bool": True,
    "list[str]": ["a", "b"],
    "dict[str, Any]": {"a": 1, "b": [1.5, "c"], "d": None},
    "dict[str, int]": {"NIFTY25MAR23500CE": 75, "b": -150},
}


def _all_event_classes() -> list[type[Event]]:
    return [
        c
        for c in vars(E).values()
        if isinstance(c, type) and issubclass(c, Event) and c is not Event
    ]


def _sample(cls: type[Event]) -> Event:
    headers = (E.BacktestHeader, E.PaperHeader, E.LiveHeader)
    kw: dict[str, Any] = {"ts": None if cls in headers else TS}
    for f in dataclasses.fields(cls):
        if f.init and f.name not in ("ts", "kind"):  # kind is the class's, never given
            kw[f.name] = _SAMPLES[str(f.type)]
    if cls is E.BacktestHeader:
        kw["mode"] = "backtest"
    if cls is E.PaperHeader:
        kw["mode"] = "paper"
    if cls is E.LiveHeader:
        kw["mode"] = "live"
    return cls(**kw)


def test_every_event_class_is_registered_under_its_own_kind() -> None:
    classes = _all_event_classes()
    assert len(classes) > 30
    for cls in classes:
        kind = _sample(cls).kind
        if kind == "header":
            continue
        assert E.Event.KINDS[kind] is cls, f"{cls.__name__}: kind {kind!r} is another class's"


@pytest.mark.parametrize("cls", _all_event_classes(), ids=lambda c: c.__name__)
def test_event_round_trips_through_the_journal(tmp_path: Path, cls: type[Event]) -> None:
    ev = _sample(cls)
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        assert j.emit(ev) == 1
    (back,) = read_events(path)
    assert type(back) is cls
    assert back == ev
    # and the line is the bytes ``encode_event`` gives
    assert path.read_bytes() == encode_event(1, ev)


def test_from_record_refuses_an_unknown_kind() -> None:
    with pytest.raises(UnknownEvent, match="no_such_kind"):
        from_record({"seq": 1, "ts": TS, "kind": "no_such_kind"})
    with pytest.raises(UnknownEvent):
        from_record({"seq": 1, "ts": None, "kind": "header", "mode": "replay"})


def test_from_record_refuses_keys_of_another_shape() -> None:
    with pytest.raises(TypeError):
        from_record({"seq": 1, "ts": TS, "kind": "kill_switch", "why": "x"})


def test_a_nan_is_refused_naming_its_key(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        with pytest.raises(JournalError, match="'equity'"):
            j.emit(E.Equity(ts=TS, equity=math.nan, realized=0.0, unrealized=0.0))
        # nested, next to a legitimate None
        row = {"pnl": math.inf, "strike": None}
        with pytest.raises(JournalError, match=r"'row\.pnl'"):
            j.emit(E.PositionClosed(ts=None, trade_id=1, reason="x", pnl_net=0, costs=0, row=row))
        assert j.seq == 0  # a refused event takes no number
        j.emit(E.KillSwitch(ts=TS, reason="ok"))
    assert [ev.kind for ev in read_events(path)] == ["kill_switch"]


def test_a_credential_named_field_is_refused(tmp_path: Path) -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Leaky(Event):
        kind: str = dataclasses.field(default="leaky", init=False)
        api_secret: str

    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        with pytest.raises(JournalError, match="api_secret"):
            j.emit(Leaky(ts=TS, api_secret="hunter2"))
        assert j.seq == 0
    assert b"hunter2" not in path.read_bytes()


def test_events_are_frozen() -> None:
    ev = E.StopMoved(ts=TS, trade_id=1, level=23400.0, reason="initial")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.level = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.kind = "fill"  # type: ignore[misc]


def test_a_real_backtest_journal_parses_and_re_encodes_to_its_own_bytes(tmp_path: Path) -> None:
    m = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 7)), seed=8, n_spikes=3)
    signals = (np.random.default_rng(3).random(m.close.size) < 0.02).tolist()
    path = tmp_path / "bt.jsonl"
    cfg = w1_cfg(max_open_positions=2, daily_loss_limit_pct=0.0008)
    trades = run_signal_backtest(
        cfg, m.timestamps, m.open, m.high, m.low, m.close, m.volume, m.vix, signals, path,
        fast=False,
    )  # fmt: skip
    assert len(trades) > 5
    lines = path.read_bytes().splitlines(keepends=True)
    events = read_events(path)
    records = read_journal(path).events
    assert len(events) == len(lines) == len(records)
    kinds = {ev.kind for ev in events}
    assert kinds <= set(Event.KINDS)
    assert {"order", "broker_event", "fill", "position_open", "stop_moved"} <= kinds
    assert {"position_closed", "breaker_tripped"} <= kinds
    assert {"day_start", "day_end", "entry_signal"} <= kinds
    for rec, ev, line in zip(records, events, lines, strict=True):
        assert encode_event(rec["seq"], ev) == line
