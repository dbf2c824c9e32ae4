"""Saving and restoring the engine's state, for the journal and for recovery.

What the feed rebuilds (indicators, a batch regime) is not saved; live orders come back as they
were and are settled from the broker's book by ``Engine.reconcile``, which runs on every start.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from dyntrail.core.position import Position
from dyntrail.core.types import VixTier
from dyntrail.execution.orders import Order, OrderState
from dyntrail.trade import Trade

if TYPE_CHECKING:
    from dyntrail.engine import Engine


def engine_state(engine: Engine) -> dict[str, Any]:
    """Everything needed to continue after a restart, except what the feed rebuilds
    (indicators): JSON-able, and ``restore(state())`` gives the same engine."""
    tr = engine.trade
    return {
        "trade": None if tr is None else _trade_dict(tr),
        "trade_no": engine.trade_no,
        "realized": engine.realized,
        "day": engine.day.isoformat() if engine.day else None,
        "day_realized": engine.day_realized,
        "trades_today": engine.trades_today,
        "day_halted": engine.day_halted,
        "gap_until": engine.gap_until.isoformat() if engine.gap_until else None,
        "prev_close": engine.prev_close,
        "orders": {tag: o.to_dict() for tag, o in engine.orders.items()},
        "meta": {tag: engine.meta[tag] for tag in engine.orders},
        "done": sorted(engine.done),
        "retries": [list(r) for r in engine.retries],
        "breaker": engine.regime.to_dict(),
        "breaker_on": engine.breaker_on,
        "tier": engine.tier.value,
        "last_close": _nan_none(engine.last_close),
        "last_vix": _nan_none(engine.last_vix),
        "now": engine.now.isoformat(),
        "bars_total": engine.bars_total,
        "bars_in_position": engine.bars_in_position,
        "quote_now": {k: list(v) for k, v in engine._quote_now.items()},
    }


def restore_engine(engine: Engine, s: dict[str, Any]) -> None:
    """Load a ``state()``; live orders are settled from the broker's book by ``reconcile``
    (run on every start)."""
    engine.trade = None if s["trade"] is None else _trade_from(s["trade"])
    engine.trade_no, engine.realized = s["trade_no"], s["realized"]
    engine.day = dt.date.fromisoformat(s["day"]) if s["day"] else None
    engine.day_realized, engine.trades_today = s["day_realized"], s["trades_today"]
    engine.day_halted = s["day_halted"]
    engine.gap_until = dt.time.fromisoformat(s["gap_until"]) if s["gap_until"] else None
    engine.prev_close = s["prev_close"]
    engine.orders = {tag: Order.from_dict(d) for tag, d in s["orders"].items()}
    engine.meta = dict(s["meta"])
    for order in engine.orders.values():
        if order.state is OrderState.NEW:
            order.submit(engine.now)
        if order.state is OrderState.SUBMITTED:  # sent; what became of it is the book's
            order.timeout(dt.datetime.fromisoformat(s["now"]))
    engine.done = dict.fromkeys(s["done"])
    engine.retries = [(a, int(q), int(n)) for a, q, n in s["retries"]]
    engine.regime.restore(s["breaker"])
    engine.breaker_on, engine.tier = s["breaker_on"], VixTier(s["tier"])
    engine.last_close = math.nan if s["last_close"] is None else s["last_close"]
    engine.last_vix = math.nan if s["last_vix"] is None else s["last_vix"]
    engine.now = dt.datetime.fromisoformat(s["now"])
    engine.bars_total, engine.bars_in_position = s["bars_total"], s["bars_in_position"]
    engine._quote_now = {k: (v[0], v[1]) for k, v in s["quote_now"].items()}
    engine._offset = ""  # recomputed for the first timestamp written
    engine._iso_at = dt.datetime(1, 1, 1)


def _nan_none(x: float) -> float | None:
    return None if x != x else x


def _trade_dict(tr: Trade) -> dict[str, Any]:
    return {
        "trade_id": tr.trade_id,
        "position": tr.position.to_dict(),
        "instrument": tr.instrument,
        "right": tr.right,
        "strike": tr.strike,
        "expiry": tr.expiry.isoformat() if tr.expiry else None,
        "entry_ts": tr.entry_ts,
        "entry_price": tr.entry_price,
        "qty": tr.qty,
        "risk_per_unit": tr.risk_per_unit,
        "mark_price": tr.mark_price,
        "mark_underlying": tr.mark_underlying,
        "buy_value": tr.buy_value,
        "sell_value": tr.sell_value,
        "costs": tr.costs,
        "exit_qty": tr.exit_qty,
        "exit_value": tr.exit_value,
        "legs": tr.legs,
        "entry_value": tr.entry_value,
        "exit_legs": tr.exit_legs,
        "applied": sorted(tr.applied),
        "closing": tr.closing,
        "last_exit_level": tr.last_exit_level,
        "flags": list(tr.flags),
        "carried": tr.carried,
        "waiting": tr.waiting,
        "t1_qty": tr.t1_qty,
        "t1_value": tr.t1_value,
    }


def _trade_from(d: dict[str, Any]) -> Trade:
    return Trade(
        d["trade_id"],
        Position.from_dict(d["position"]),
        d["instrument"],
        d["right"],
        d["strike"],
        dt.date.fromisoformat(d["expiry"]) if d["expiry"] else None,
        d["entry_ts"],
        d["entry_price"],
        d["qty"],
        d["risk_per_unit"],
        d["mark_price"],
        d["mark_underlying"],
        buy_value=d["buy_value"],
        sell_value=d["sell_value"],
        costs=d["costs"],
        exit_qty=d["exit_qty"],
        exit_value=d["exit_value"],
        legs=d["legs"],
        entry_value=d["entry_value"],
        exit_legs=d["exit_legs"],
        applied=set(d["applied"]),
        closing=d["closing"],
        last_exit_level=d["last_exit_level"],
        flags=list(d.get("flags", [])),
        carried=bool(d.get("carried", False)),
        waiting=str(d.get("waiting", "")),
        t1_qty=int(d.get("t1_qty", 0)),
        t1_value=float(d.get("t1_value", 0.0)),
    )
