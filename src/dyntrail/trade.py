"""One round trip's record: the position, its contract, its fills, costs and stop path.

The engine owns and mutates it; ``row()`` gives the ``trades.csv`` row once it is closed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dyntrail.core.contract import Contract
from dyntrail.core.position import Position

TRADE_COLUMNS = (
    "trade_id",
    "side",
    "instrument",
    "right",
    "strike",
    "expiry",
    "entry_ts",
    "exit_ts",
    "entry_underlying",
    "exit_underlying",
    "qty",
    "entry_price",
    "exit_price",
    "exit_reason",
    "vix_tier",
    "stop_initial",
    "t1",
    "t2",
    "r_multiple",
    "costs",
    "pnl_gross",
    "pnl_net",
    "flags",
    "stop_kind",
    "exit_legs",
    "t1_exit_price",
)
FILL_COLUMNS = (
    "trade_id",
    "leg",
    "ts",
    "action",
    "side",
    "qty",
    "price",
    "decision_price",
    "slippage",
    "slippage_pct",
    "underlying",
    "costs",
    "cost_brokerage",
    "cost_stt",
    "cost_exchange",
    "cost_sebi",
    "cost_ipft",
    "cost_stamp",
    "cost_gst",
    "tag",
    "ack_ms",
)


@dataclass(slots=True)
class Trade:
    trade_id: int
    position: Position
    instrument: str
    right: str  # "CE"/"PE", or "" when trading the underlying
    strike: float | None
    expiry: dt.date | None
    entry_ts: str
    entry_price: float
    qty: int
    risk_per_unit: float
    mark_price: float  # option (or underlying) mark at the last bar close
    mark_underlying: float
    buy_value: float = 0.0
    sell_value: float = 0.0
    costs: float = 0.0
    exit_qty: int = 0
    exit_value: float = 0.0
    legs: int = 1
    exit_ts: str = ""
    exit_underlying: float = 0.0
    exit_reason: str = ""
    entry_value: float = 0.0
    exit_legs: int = 0
    applied: set[str] = field(default_factory=set)  # fill ids already booked
    closing: str = ""  # the closing action once one is decided
    last_exit_level: float = 0.0  # underlying level of the latest exit fill
    # What went out of the ordinary, in order: "flatten_failed" (still open at a session's
    # close), "carried" (exited in a later session), "settled" (held to expiry).
    flags: list[str] = field(default_factory=list)
    carried: bool = False  # open past a session's close: exits at the next session's open
    waiting: str = ""  # why an exit is waiting for a bid ("no_bid", "no_quote"), else ""
    t1_qty: int = 0  # sold at T1 (the scale-out legs)
    t1_value: float = 0.0
    # exits that ended unfilled, to go out again on the next bar: (action, qty, attempt)
    retries: list[tuple[str, int, int]] = field(default_factory=list)
    underlying: str = ""  # the index whose contract this is ("": the run's only one)
    contract: Contract | None = None  # its contract, once looked up (not saved: looked up again)
    stops: int = 0  # backstops placed (the next one's tag attempt is stops + 1)

    @property
    def is_long_instrument(self) -> bool:
        """True when the first leg bought the instrument (always, for options)."""
        return self.right != "" or self.position.side.sign > 0

    def unrealized(self) -> float:
        """The open trade's PnL before costs, not yet realized in the account (a trade is
        realized when it closes): the quantity held marked at the last close against the entry
        price, plus what the legs already sold (a T1 scale-out) made over it."""
        sign = 1 if self.is_long_instrument else -1
        held = sign * (self.mark_price - self.entry_price) * self.position.qty
        return held + self.sold_pnl() if self.exit_qty else held

    def sold_pnl(self) -> float:
        """What the legs already sold made over the entry price (0 before any exit leg)."""
        sign = 1 if self.is_long_instrument else -1
        return sign * (self.exit_value - self.exit_qty * self.entry_price) if self.exit_qty else 0.0

    def pnl_gross(self) -> float:
        return round(self.sell_value - self.buy_value, 2)

    def pnl_net(self) -> float:
        return round(self.pnl_gross() - self.costs, 2)

    def row(self) -> dict[str, Any]:
        pos = self.position
        exit_price = self.exit_value / self.exit_qty if self.exit_qty else 0.0
        risk = self.risk_per_unit * self.qty
        gross = self.pnl_gross()
        net = round(gross - self.costs, 2)  # pnl_net()
        return {
            "trade_id": self.trade_id,
            "side": pos.side.value,
            "instrument": self.instrument,
            "right": self.right,
            "strike": "" if self.strike is None else self.strike,
            "expiry": "" if self.expiry is None else self.expiry.isoformat(),
            "entry_ts": self.entry_ts,
            "exit_ts": self.exit_ts,
            "entry_underlying": pos.entry_underlying,
            "exit_underlying": self.exit_underlying,
            "qty": self.qty,
            "entry_price": self.entry_price,
            "exit_price": round(exit_price, 4),
            "exit_reason": self.exit_reason,
            "vix_tier": pos.vix_tier.value,
            "stop_initial": round(pos.stop_initial, 2),
            "t1": round(pos.t1_underlying, 2),
            "t2": round(pos.t2_underlying, 2),
            "r_multiple": round(net / risk, 4) if risk > 0 else "",
            "costs": round(self.costs, 2),
            "pnl_gross": gross,
            "pnl_net": net,
            "flags": ";".join(self.flags),
            # which stop closed the trade (exit_stop only): initial, break_even or trail
            "stop_kind": pos.stop_kind.value if self.exit_reason == "exit_stop" else "",
            "exit_legs": self.exit_legs,
            "t1_exit_price": round(self.t1_value / self.t1_qty, 4) if self.t1_qty else "",
        }


_SAVED = (
    "trade_id", "instrument", "right", "strike", "entry_ts", "entry_price", "qty",
    "risk_per_unit", "mark_price", "mark_underlying", "buy_value", "sell_value", "costs",
    "exit_qty", "exit_value", "legs", "entry_value", "exit_legs", "closing", "last_exit_level",
    "carried", "waiting", "t1_qty", "t1_value", "underlying",
)  # fmt: skip


def trade_state(tr: Trade) -> dict[str, Any]:
    """An open trade as JSON-able data (``trade_from_state`` gives it back)."""
    d = {k: getattr(tr, k) for k in _SAVED}
    d["position"] = tr.position.to_dict()
    d["expiry"] = tr.expiry.isoformat() if tr.expiry else None
    d["applied"] = sorted(tr.applied)
    d["flags"] = list(tr.flags)
    d["retries"] = [list(r) for r in tr.retries]
    if tr.stops:  # (a state without a backstop saves as before)
        d["stops"] = tr.stops
    return d


def trade_from_state(d: dict[str, Any]) -> Trade:
    kw = {k: d[k] for k in _SAVED}
    return Trade(
        position=Position.from_dict(d["position"]),
        expiry=dt.date.fromisoformat(d["expiry"]) if d["expiry"] else None,
        applied=set(d["applied"]),
        flags=list(d["flags"]),
        retries=[(str(a), int(q), int(n)) for a, q, n in d["retries"]],
        stops=int(d.get("stops", 0)),
        **kw,
    )


def flags_of(cell: object) -> list[str]:
    """The flags of one ``trades.csv`` ``flags`` cell (";"-joined; empty or missing: none)."""
    if not isinstance(cell, str) or not cell:
        return []
    return cell.split(";")


def side_label(side: object, right: object) -> str:
    """What a person reads for a trade's side: a long (bullish) trade buys the call, ``BUY CE``;
    a short (bearish) one buys the put, ``BUY PE``; on the underlying itself ``BUY FUT`` /
    ``SELL FUT``. ``trades.csv`` keeps its ``side`` column (long/short) unchanged."""
    r = right.strip().upper() if isinstance(right, str) else ""
    if r in ("CE", "PE"):
        return f"BUY {r}"
    return "BUY FUT" if str(side).strip().lower() == "long" else "SELL FUT"
