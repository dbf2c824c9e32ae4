"""The book: open trades, what was realized, and the day's counters.

Every leg (a fill, or the exchange's settlement) is booked here once, as a ``Fill`` event; a
trade whose last unit is sold is closed here (``PositionClosed`` with its ``trades.csv`` row).
Equity marks go out as ``Equity`` events when some sink keeps them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dyntrail.core.costs import CostBreakdown
from dyntrail.core.decimals import round_places
from dyntrail.core.events import DayEnd, EntryAbandoned, Equity, Fill, PositionClosed
from dyntrail.engine.context import Stamps
from dyntrail.engine.ports import Sinks
from dyntrail.trade import Trade, trade_from_state, trade_state


class Book:
    """Trades and PnL (see the module docstring)."""

    def __init__(self, capital: float, stamps: Stamps, sinks: Sinks, keep_trades: bool) -> None:
        self.capital = capital
        self.stamps = stamps
        self.sinks = sinks
        self.open: dict[int, Trade] = {}  # by trade id, in the order they opened
        self.trade_no = 0
        self.realized = 0.0
        self.day_realized = 0.0
        self.trades_today = 0
        self.marks = sinks.wants(Equity)  # someone keeps an equity curve
        self.closed: list[Trade] | None = [] if keep_trades else None

    # ------------------------------------------------------------------ reading

    def get(self, trade_id: int) -> Trade | None:
        return self.open.get(trade_id)

    def trades(self) -> list[Trade]:
        """The open trades, oldest first (a copy: closing one while walking them is safe)."""
        return list(self.open.values())

    def unrealized(self) -> float:
        if len(self.open) == 1:  # the sum's float steps (0.0 first), without the generator
            (tr,) = self.open.values()
            return 0.0 + tr.unrealized()
        return sum((tr.unrealized() for tr in self.open.values()), 0.0)

    def day_pnl(self) -> float:
        """The day's PnL: realized, plus the open trades marked, less their costs so far (in
        this order of float steps, the one ``dyntrail.engine.fast`` repeats)."""
        if len(self.open) == 1:  # the same float steps as the sums below, without them
            (tr,) = self.open.values()
            return self.day_realized + tr.unrealized() - tr.costs
        trades = self.open.values()
        return self.day_realized + self.unrealized() - sum((tr.costs for tr in trades), 0.0)

    # ------------------------------------------------------------------ changing

    def add(self, tr: Trade) -> None:
        self.open[tr.trade_id] = tr
        self.trades_today += 1

    def next_id(self) -> int:
        self.trade_no += 1
        return self.trade_no

    def new_day(self) -> None:
        self.day_realized = 0.0
        self.trades_today = 0

    def leg(
        self,
        tr: Trade,
        *,
        fid: str,
        action: str,
        buy: bool,
        qty: int,
        price: float,
        decision: float | None,
        underlying: float,
        cost: CostBreakdown,
        tag: str,
        ack_ms: float | None,
        ts: dt.datetime,
    ) -> None:
        """Book one leg on the trade: its value, costs and quantity, as a ``Fill`` event.
        ``decision`` None: no order decided the price (a settlement), no slippage to report."""
        value = price * qty
        if buy:
            tr.buy_value += value
        else:
            tr.sell_value += value
        total = cost.total  # a sum worked out on each read
        tr.costs += total
        entry = action == "entry"
        _apply_leg(tr, entry, action, qty, value, underlying)
        slippage: float | str = ""
        slippage_pct: float | str = ""
        if decision is not None:
            slippage = round((price - decision) if buy else (decision - price), 4)
            slippage_pct = round(slippage / decision, 6) if decision > 0 else ""
        self.sinks.emit(
            Fill(
                ts=self.stamps.iso(ts),
                fill_id=fid,
                trade_id=tr.trade_id,
                leg=0 if entry else tr.exit_legs,
                action=action,
                side="buy" if buy else "sell",
                qty=qty,
                price=price,
                decision_price="" if decision is None else round(decision, 4),
                slippage=slippage,
                slippage_pct=slippage_pct,
                underlying=round(underlying, 2),
                costs=total,
                cost_brokerage=cost.brokerage,
                cost_stt=cost.stt,
                cost_exchange=cost.exchange,
                cost_sebi=cost.sebi,
                cost_ipft=cost.ipft,
                cost_stamp=cost.stamp,
                cost_gst=cost.gst,
                tag=tag,
                ack_ms="" if ack_ms is None else ack_ms,
            )
        )

    def close(self, tr: Trade, action: str, level: float, ts: dt.datetime) -> None:
        """The trade's round trip is over: realize it and give out its row."""
        at = self.stamps.iso(ts)
        tr.exit_ts, tr.exit_underlying, tr.exit_reason = at, level, action
        row = tr.row()
        pnl = row["pnl_net"]
        self.realized += pnl
        self.day_realized += pnl
        del self.open[tr.trade_id]
        tr.retries.clear()
        self.sinks.emit(
            PositionClosed(
                ts=at, trade_id=tr.trade_id, reason=action, pnl_net=pnl, costs=row["costs"], row=row
            )
        )
        self.mark(ts)
        if self.closed is not None:
            self.closed.append(tr)

    def abandon(self, tr: Trade, state: str, now: dt.datetime) -> None:
        """An entry that ended with nothing filled: no trade, and no trade counted today."""
        self.sinks.emit(EntryAbandoned(ts=self.stamps.iso(now), trade_id=tr.trade_id, state=state))
        del self.open[tr.trade_id]
        self.trades_today -= 1

    def mark(self, t: dt.datetime) -> None:
        """An equity mark at ``t`` (nothing when nobody keeps the curve)."""
        if self.marks:
            unreal = self.unrealized()
            self._equity(self.stamps.iso(t), self.capital + self.realized + unreal, unreal)

    def end_day(self, close_ts: dt.datetime) -> None:
        """The session's close: its equity mark and its ``day_end``."""
        unreal = self.unrealized()
        equity = self.capital + self.realized + unreal
        at = self.stamps.iso(close_ts)
        if self.marks:
            self._equity(at, equity, unreal)
        self.sinks.emit(
            DayEnd(
                ts=at,
                realized=round(self.day_realized, 2),
                equity=round(equity, 2),
                trades=self.trades_today,
            )
        )

    def _equity(self, at: str, equity: float, unreal: float) -> None:
        self.sinks.emit(
            Equity(
                ts=at,
                equity=round_places(equity, 2),
                realized=round_places(self.realized, 2),
                unrealized=round_places(unreal, 2),
            )
        )

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        return {
            "open": [trade_state(tr) for tr in self.open.values()],
            "trade_no": self.trade_no,
            "realized": self.realized,
            "day_realized": self.day_realized,
            "trades_today": self.trades_today,
        }

    def restore(self, s: dict[str, Any]) -> None:
        self.open = {d["trade_id"]: trade_from_state(d) for d in s["open"]}
        self.trade_no, self.realized = s["trade_no"], s["realized"]
        self.day_realized, self.trades_today = s["day_realized"], s["trades_today"]


def _apply_leg(
    tr: Trade, entry: bool, action: str, qty: int, value: float, underlying: float
) -> None:
    """A leg's quantity and value on the trade and its position."""
    pos = tr.position
    if entry:  # the average over every unit bought (an entry may fill after an exit leg)
        tr.entry_value += value
        pos.qty += qty
        tr.qty += qty
        tr.entry_price = tr.entry_value / tr.qty
        pos.entry_option_price = tr.entry_price
        return
    tr.exit_qty += qty
    tr.exit_value += value
    tr.last_exit_level = underlying
    pos.reduce(qty)
    tr.exit_legs += 1
    if action == "scale_out_t1":
        tr.t1_qty += qty
        tr.t1_value += value
