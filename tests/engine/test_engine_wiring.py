"""The engine wired from its parts, on a short synthetic bar series with an external entry
signal: positions held side by side each keep their own stop path and their own orders, the
position cap holds, and the parts are wired by reference (none reaches into another's private
state)."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

import numpy as np
from factories import Collector, make_broker, make_run, make_sinks, w1_cfg

from dyntrail.core.events import EntrySignal, Fill, OrderSent, PositionClosed, StopMoved
from dyntrail.core.features import StreamingFeatures
from dyntrail.data.synthetic import SyntheticMarket, generate, weekdays
from dyntrail.engine import Engine
from dyntrail.runners.drive import ModelQuotes

_MARKET = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 4)), seed=8)
_SIGNALS = (np.random.default_rng(3).random(_MARKET.close.size) < 0.03).tolist()


def _engine(max_open: int) -> tuple[Engine, Collector]:
    cfg = w1_cfg(max_open_positions=max_open)
    run = make_run(cfg)
    sinks, got = make_sinks()
    engine = Engine(
        cfg,
        run.spec,
        run.trading_days,
        ModelQuotes(cfg),
        make_broker(),
        sinks,
        StreamingFeatures(cfg),
        1,
        signals=_SIGNALS,
    )
    return engine, got


def _bars(m: SyntheticMarket):  # type: ignore[no-untyped-def]
    ts = m.timestamps.astype("datetime64[s]").astype(object)
    for i in range(len(ts)):
        yield (
            i,
            ts[i],
            float(m.open[i]),
            float(m.high[i]),
            float(m.low[i]),
            float(m.close[i]),
            float(m.volume[i]),
            float(m.vix[i]),
        )


def _run(max_open: int, after: Any = None) -> tuple[Engine, Collector, list[tuple[int, ...]]]:
    """Run the series; returns the open trade ids after each bar."""
    engine, got = _engine(max_open)
    held: list[tuple[int, ...]] = []
    for bar in _bars(_MARKET):
        engine.on_bar(*bar)
        held.append(tuple(engine.book.open))
        if after is not None:
            after(engine, got)
    engine.finish()
    return engine, got, held


def _last_stop(got: Collector) -> dict[int, float]:
    out: dict[int, float] = {}
    for ev in got.of(StopMoved):
        out[ev.trade_id] = ev.level
    return out


def test_two_positions_side_by_side_each_keep_their_own_stop_and_orders() -> None:
    def check(engine: Engine, got: Collector) -> None:
        # the journaled stop path of each open trade is its own position's stop
        last = _last_stop(got)
        for tr in engine.book.trades():
            if tr.position.qty:
                assert last[tr.trade_id] == tr.position.stop_underlying

    engine, got, held = _run(2, check)
    pairs = [h for h in held if len(h) == 2]
    assert pairs, "no bar held two positions at once"
    assert max(len(h) for h in held) == 2
    a, b = pairs[0]
    stops: dict[int, list[StopMoved]] = defaultdict(list)
    for ev in got.of(StopMoved):
        stops[ev.trade_id].append(ev)
    for tid in (a, b):
        assert stops[tid][0].reason == "initial"
        assert len(stops[tid]) > 1  # it moved after its start
    # moves of one are not the other's: their stop paths differ
    assert [s.level for s in stops[a]] != [s.level for s in stops[b]]
    # each trade's orders carry its own number, and its fills its own id
    tags: dict[int, set[str]] = defaultdict(set)
    for o in got.of(OrderSent):
        assert f"P{o.trade_id:02d}" in o.tag
        tags[o.trade_id].add(o.tag)
    assert tags[a] and tags[b] and not tags[a] & tags[b]
    for f in got.of(Fill):
        assert f.tag in tags[f.trade_id]
    # every trade opened was closed once, by the end
    opened = [e.trade_id for e in got.of(EntrySignal)]
    assert sorted(e.trade_id for e in got.of(PositionClosed)) == opened
    assert engine.book.open == {} and not engine.orders.live


def test_with_one_position_allowed_there_is_never_a_second() -> None:
    _, got1, held1 = _run(1)
    _, got2, _ = _run(2)
    assert max(len(h) for h in held1) == 1
    entries1, entries2 = got1.of(EntrySignal), got2.of(EntrySignal)
    assert 0 < len(entries1) < len(entries2)  # the cap turned signals away
    # each entry comes after the previous trade's close, in the order of events
    where = {id(ev): n for n, ev in enumerate(got1.events)}
    closed = {ev.trade_id: where[id(ev)] for ev in got1.of(PositionClosed)}
    for ev in entries1[1:]:
        assert closed[ev.trade_id - 1] < where[id(ev)]


def test_engine_state_round_trips_with_two_positions_open() -> None:
    saved: list[dict[str, Any]] = []

    def keep(engine: Engine, got: Collector) -> None:
        if len(engine.book.open) == 2 and not saved:
            saved.append(json.loads(json.dumps(engine.state(), allow_nan=False)))

    _run(2, keep)
    (state,) = saved
    assert len(state["book"]["open"]) == 2
    other, _ = _engine(2)
    other.restore(state)
    assert other.state() == state
    assert [t.trade_id for t in other.open_trades] == [t["trade_id"] for t in state["book"]["open"]]


_PARTS = (
    "market",
    "book",
    "risk",
    "orders",
    "fills",
    "exiting",
    "closing",
    "entering",
    "recovery",
    "stretches",
)
_VENUE_PARTS = ("exiting", "closing", "entering")  # one of each per underlying traded


def _part(engine: Any, name: str) -> Any:
    return getattr(engine.venue if name in _VENUE_PARTS else engine, name)


def test_parts_are_distinct_objects_wired_by_reference() -> None:
    engine, _ = _engine(2)
    parts = {name: _part(engine, name) for name in _PARTS}
    assert len({id(p) for p in parts.values()}) == len(parts)
    assert engine.orders.risk is engine.risk
    assert engine.orders.market is engine.market
    assert engine.fills.book is engine.book and engine.fills.orders is engine.orders
    assert engine.fills.risk is engine.risk
    v = engine.venue
    assert v.exiting.orders is engine.orders and v.exiting.book is engine.book
    assert v.closing.orders is engine.orders and v.entering.book is engine.book
    assert engine.recovery.risk is engine.risk and engine.stretches.exiting is v.exiting
    assert engine.orders.on_update == engine.fills.settle
    for name, part in parts.items():
        assert getattr(part, "sinks", engine.sinks) is engine.sinks, name
        assert getattr(part, "stamps", engine.stamps) is engine.stamps, name
        assert getattr(part, "run", engine.run) is engine.run, name


def _attrs(obj: object) -> dict[str, Any]:
    if hasattr(obj, "__dict__"):
        return dict(vars(obj))
    return {s: getattr(obj, s) for s in getattr(type(obj), "__slots__", ()) if hasattr(obj, s)}


def test_no_part_holds_another_parts_private_state() -> None:
    engine, _ = _engine(2)
    for bar in list(_bars(_MARKET))[:60]:  # some state in every part
        engine.on_bar(*bar)
    parts = {name: _part(engine, name) for name in _PARTS}
    private = {
        id(v): f"{name}.{k}"
        for name, p in parts.items()
        for k, v in _attrs(p).items()
        if k.startswith("_") and isinstance(v, dict | list | set)
    }
    for name, p in parts.items():
        for k, v in _attrs(p).items():
            owner = private.get(id(v))
            assert owner is None or owner == f"{name}.{k}", f"{name}.{k} is {owner}"


def test_an_entry_the_risk_gate_refuses_leaves_no_trade_behind() -> None:
    """The gate is asked again when the entry's order goes out: refused there (a flag raised
    within the bar), the trade opened for it is abandoned, not left holding a position slot."""
    from dyntrail.core.events import EntryAbandoned, OrderRefused
    from dyntrail.core.risk import TradingState
    from dyntrail.core.types import Side

    engine, got = _engine(2)
    bars = list(_bars(_MARKET))
    for bar in bars[:30]:
        engine.on_bar(*bar)
    open_before, today = len(engine.book.open), engine.book.trades_today
    engine.risk.state = TradingState.REDUCING  # as if a flag came in after the bar's update
    ts, c, vix = bars[30][1], bars[30][5], bars[30][7]
    engine.venue.entering.enter(Side.LONG, ts + engine.run.bar, c, vix)
    assert got.of(OrderRefused) and got.of(EntryAbandoned)
    assert len(engine.book.open) == open_before and engine.book.trades_today == today
