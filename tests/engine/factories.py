"""Small factories that build each part of the engine alone (``dyntrail.engine``), so a test can
drive one part and read what it emitted. Everything is deterministic: no clock, no randomness."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dyntrail.core.config import Config
from dyntrail.core.config_load import config_from_mapping, parse_config
from dyntrail.core.costs import CostBreakdown
from dyntrail.core.events import Event
from dyntrail.core.features import StreamingFeatures
from dyntrail.core.position import open_position
from dyntrail.core.regime import StreamingRegime
from dyntrail.core.types import Side
from dyntrail.data.synthetic import weekdays
from dyntrail.engine.book import Book
from dyntrail.engine.context import Run, Stamps
from dyntrail.engine.market import Market, Underlying
from dyntrail.engine.orders import Orders
from dyntrail.engine.ports import Route, Sinks
from dyntrail.engine.risk import RiskGate
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.instruments import load_instrument
from dyntrail.trade import Trade

DAY = dt.date(2025, 3, 3)  # a Monday
T0 = dt.datetime(2025, 3, 3, 9, 30)  # naive exchange time, inside the session
LOT = 75  # NIFTY's lot in 2025
FREEZE = 1800  # NIFTY's freeze quantity in 2025
W1_PATH = Path(__file__).resolve().parents[2] / "examples" / "w1.toml"


def at(minutes: float) -> dt.datetime:
    """``minutes`` after ``T0``."""
    return T0 + dt.timedelta(minutes=minutes)


def make_cfg(toml: str = "") -> Config:
    """A configuration from TOML text (the defaults for what it does not say)."""
    return parse_config(toml) if toml else Config()


def w1_cfg(**limits: Any) -> Config:
    """The W1 benchmark's configuration (the underlying, one unit, next-bar stops), with
    ``[limits]`` keys overridden."""
    raw = copy.deepcopy(tomllib.loads(W1_PATH.read_text(encoding="utf-8")))
    raw.setdefault("limits", {}).update(limits)
    return config_from_mapping(raw)


def make_run(
    cfg: Config | None = None,
    *,
    bar_minutes: int = 1,
    settle: dt.timedelta = dt.timedelta(0),
    record_acks: bool = True,
) -> Run:
    cfg = cfg or Config()
    days = weekdays(DAY, DAY + dt.timedelta(days=70))
    return Run.of(cfg, load_instrument("NIFTY"), days, bar_minutes, settle, record_acks)


def make_stamps(run: Run | None = None) -> Stamps:
    return Stamps((run or make_run()).tz)


class Collector:
    """A sink that keeps every event it takes, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, ev: Event) -> None:
        self.events.append(ev)

    def of(self, cls: type[Event]) -> list[Any]:
        return [ev for ev in self.events if isinstance(ev, cls)]

    def kinds(self) -> list[str]:
        return [ev.kind for ev in self.events]


def make_sinks(
    only: frozenset[type[Event]] | None = None, without: frozenset[type[Event]] = frozenset()
) -> tuple[Sinks, Collector]:
    """A ``Sinks`` with one list-collecting route; the collector holds what was emitted."""
    got = Collector()
    return Sinks([Route(got, only=only, without=without)]), got


def make_market(run: Run | None = None, stamps: Stamps | None = None) -> Market:
    run = run or make_run()
    stamps = stamps or make_stamps(run)
    return Market(run, stamps, StreamingRegime(run.cfg))


def make_underlying(run: Run | None = None) -> Underlying:
    run = run or make_run()
    return Underlying(run, StreamingFeatures(run.cfg))


def make_book(
    sinks: Sinks | None = None,
    stamps: Stamps | None = None,
    *,
    capital: float = 1_000_000.0,
    keep_trades: bool = True,
) -> Book:
    return Book(
        capital, stamps or make_stamps(), sinks if sinks is not None else Sinks(), keep_trades
    )


def make_risk(
    run: Run | None = None, stamps: Stamps | None = None, sinks: Sinks | None = None
) -> RiskGate:
    run = run or make_run()
    return RiskGate(run.limits, stamps or make_stamps(run), sinks if sinks is not None else Sinks())


def make_trade(
    trade_id: int = 1,
    *,
    run: Run | None = None,
    side: Side = Side.LONG,
    entry: float = 23500.0,
    price: float = 100.0,
    qty: int = LOT,
    lot: int = LOT,
    filled: bool = True,
    instrument: str = "NIFTY25MAR23500CE",
    right: str = "CE",
    now: dt.datetime = T0,
) -> Trade:
    """A trade with an open position (``filled``: holding ``qty`` at ``price``; otherwise
    opened with nothing filled yet, as the engine opens one before its entry order)."""
    run = run or make_run()
    pos = open_position(run.targets, side, entry, price, 15.0, qty=qty, now=now, lot_size=lot)
    assert pos is not None
    tr = Trade(
        trade_id,
        pos,
        instrument,
        right,
        23500.0 if right else None,
        dt.date(2025, 3, 27) if right else None,
        now.isoformat() + "+05:30",
        price if filled else 0.0,
        qty if filled else 0,
        risk_per_unit=1.0 if filled else 0.0,
        mark_price=price,
        mark_underlying=entry,
        legs=0,
    )
    if filled:
        tr.entry_value = tr.buy_value = price * qty
    else:
        pos.qty = 0
    return tr


def cost(total: float = 0.0) -> CostBreakdown:
    """Charges of one leg that sum to ``total`` (all of it brokerage)."""
    return CostBreakdown(brokerage=total)


def make_broker() -> PaperBroker:
    """An ideal exchange: zero latency, no faults."""
    return PaperBroker(FaultProfile.none(), 0)


@dataclass
class Parts:
    """The parts ``Orders`` needs, built alone and wired by hand."""

    run: Run
    stamps: Stamps
    sinks: Sinks
    got: Collector
    market: Market
    risk: RiskGate
    broker: PaperBroker
    orders: Orders


def make_orders(
    cfg: Config | None = None,
    *,
    settle: dt.timedelta = dt.timedelta(0),
    extra: list[Route] | None = None,
    broker: PaperBroker | None = None,
) -> Parts:
    """``Orders`` with a zero-latency ``PaperBroker``, its own market and risk gate, and a
    collector of every event (after the ``extra`` routes, if any)."""
    run = make_run(cfg, settle=settle)
    stamps = make_stamps(run)
    got = Collector()
    sinks = Sinks([*(extra or []), Route(got)])
    market = make_market(run, stamps)
    market.day = DAY
    stamps.new_day(T0)
    risk = make_risk(run, stamps, sinks)
    broker = broker or make_broker()
    orders = Orders(run, stamps, sinks, broker, market, risk)
    return Parts(run, stamps, sinks, got, market, risk, broker, orders)
