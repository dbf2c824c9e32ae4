"""What a running session looks like now, as plain JSON-able data: the one status the API,
the dashboard, ``dyntrail ctl status`` and the terminal view show.

``snapshot`` reads the engine between events (on the engine's thread); it decides nothing.
Positions carry the underlying's price beside their stop, T1, T2 and trail, and the option's
bid, ask and mark; the risk gate's state and reasons, the flags by id, the limits, the VIX
tier and breaker, and one line on why no entry would go out now."""

from __future__ import annotations

import math
from typing import Any

from dyntrail.engine import Engine


def _num(x: float | None, nd: int = 2) -> float | None:
    """A float for JSON (NaN and None: None)."""
    if x is None or x != x or math.isinf(x):
        return None
    return round(float(x), nd)


def positions(engine: Engine) -> list[dict[str, Any]]:
    """Each open position: its trade, side, contract, quantity, entry and mark, the
    underlying's price beside its stop, T1 and T2, and the option's bid and ask."""
    out = []
    quotes = engine.market.quotes_now
    for tr in engine.book.trades():
        p = tr.position
        v = engine.venues[tr.underlying]
        bid, ask = quotes.get(tr.instrument, (math.nan, math.nan))
        out.append(
            {
                "trade": tr.trade_id,
                "underlying": v.name,
                "side": p.side.value,
                "instrument": tr.instrument,
                "qty": p.qty,
                "entry": _num(tr.entry_price),
                "entry_underlying": _num(p.entry_underlying),
                "price": _num(v.underlying.last_close),
                "stop": _num(p.stop_underlying),
                "stop_kind": p.stop_kind.value,
                "trailing": p.t1_hit,
                "break_even": p.be_moved,
                "t1": _num(p.t1_underlying),
                "t1_hit": p.t1_hit,
                "t2": _num(p.t2_underlying),
                "bid": _num(bid),
                "ask": _num(ask),
                "mark": _num(tr.mark_price),
                "unrealized": _num(tr.unrealized()),
                "closing": tr.closing,
                "waiting": tr.waiting,
            }
        )
    return out


def orders(engine: Engine) -> list[dict[str, Any]]:
    """The orders not yet settled."""
    meta = engine.orders.meta
    out = []
    for tag, o in engine.orders.live.items():
        m = meta.get(tag, {})
        out.append(
            {
                "tag": str(tag),
                "trade": m.get("trade_id"),
                "action": m.get("action"),
                "side": o.intent.side.value,
                "state": o.state.value,
                "qty": o.qty,
                "filled": o.filled_qty,
                "limit": _num(o.limit),
                "trigger": _num(o.trigger),
            }
        )
    return out


def snapshot(engine: Engine) -> dict[str, Any]:
    """The engine's status now (see the module docstring)."""
    m, book, risk = engine.market, engine.book, engine.risk
    lim = risk.limits
    return {
        "now": m.now.isoformat() if m.day is not None else None,
        "day": m.day.isoformat() if m.day is not None else None,
        "vix": _num(m.last_vix),
        "tier": m.tier.value,
        "breaker": m.breaker_on,
        "risk": {
            "state": risk.state.value,
            "reasons": list(risk.reasons),
            "paused": risk.paused,
            "killed": risk.killed,
            "halted": risk.halted,
            "flags": [{"id": k, "text": v} for k, v in risk.flags.items()],
            "limits": {
                "daily_loss_floor": _num(lim.loss_floor),
                "max_open_positions": lim.max_open_positions,
                "max_lots": lim.max_lots,
                "lots_per_trade": lim.lots_per_trade,
            },
        },
        "why_no_entry": engine.why_no_entry() if m.day is not None else "no bar yet",
        "pnl": {
            "realized": _num(book.realized),
            "day_realized": _num(book.day_realized),
            "unrealized": _num(book.unrealized()),
            "day": _num(book.day_pnl()),
        },
        "underlyings": {k: _num(v.underlying.last_close) for k, v in engine.venues.items() if k},
        "positions": positions(engine),
        "orders": orders(engine),
    }
