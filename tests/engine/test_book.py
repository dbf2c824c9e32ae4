"""The book: legs, closes, abandoned entries, the day's PnL and its saved state."""

from __future__ import annotations

import json

import pytest
from factories import LOT, T0, Collector, at, cost, make_book, make_sinks, make_stamps, make_trade

from dyntrail.core.costs import CostBreakdown
from dyntrail.core.events import DayEnd, EntryAbandoned, Equity, Fill, PositionClosed
from dyntrail.core.types import Side
from dyntrail.engine.book import Book
from dyntrail.engine.ports import Sinks
from dyntrail.trade import Trade


def _book(keep_equity: bool = False) -> tuple[Book, Collector]:
    sinks, got = make_sinks(without=frozenset() if keep_equity else frozenset({Equity}))
    stamps = make_stamps()
    stamps.new_day(T0)
    return make_book(sinks, stamps), got


def _leg(
    book: Book,
    tr: Trade,
    action: str,
    buy: bool,
    qty: int,
    price: float,
    decision: float,
    total: float = 0.0,
    minutes: float = 0.0,
    fid: str | None = None,
) -> None:
    book.leg(
        tr,
        fid=fid or f"F{action}{minutes}",
        action=action,
        buy=buy,
        qty=qty,
        price=price,
        decision=decision,
        underlying=23500.0 + minutes,
        cost=cost(total),
        tag=f"T{action}",
        ack_ms=None,
        ts=at(minutes),
    )


def test_entry_then_exit_legs_book_quantity_value_and_costs() -> None:
    book, got = _book()
    tr = make_trade(1, filled=False, qty=2 * LOT)
    book.add(tr)
    _leg(book, tr, "entry", True, LOT, 100.0, 99.0, total=20.0)
    _leg(book, tr, "entry", True, LOT, 102.0, 99.0, total=5.0, minutes=1)
    assert tr.position.qty == tr.qty == 2 * LOT
    assert tr.entry_price == pytest.approx(101.0)
    assert tr.buy_value == pytest.approx(LOT * 202.0)
    _leg(book, tr, "scale_out_t1", False, LOT, 110.0, 111.0, total=30.0, minutes=2)
    assert tr.position.qty == LOT and tr.exit_qty == LOT and tr.exit_legs == 1
    assert tr.t1_qty == LOT and tr.t1_value == pytest.approx(LOT * 110.0)
    assert tr.sell_value == pytest.approx(LOT * 110.0)
    assert tr.costs == pytest.approx(55.0)
    assert tr.last_exit_level == 23502.0
    fills = got.of(Fill)
    assert [(f.leg, f.action, f.side, f.qty) for f in fills] == [
        (0, "entry", "buy", LOT),
        (0, "entry", "buy", LOT),
        (1, "scale_out_t1", "sell", LOT),
    ]
    assert [f.slippage for f in fills] == [1.0, 3.0, 1.0]  # paid above / sold below decision
    assert fills[0].slippage_pct == round(1.0 / 99.0, 6)
    assert fills[0].costs == 20.0 and fills[0].cost_brokerage == 20.0
    assert fills[0].ts == T0.isoformat() + "+05:30"
    assert got.events == fills  # the book closes nothing on its own


def test_a_settlement_leg_reports_no_slippage() -> None:
    book, got = _book()
    tr = make_trade(1)
    book.add(tr)
    book.leg(
        tr, fid="settle-1", action="exit_settled", buy=False, qty=LOT, price=0.0, decision=None,
        underlying=23400.0, cost=CostBreakdown(), tag="", ack_ms=None, ts=at(5),
    )  # fmt: skip
    (f,) = got.of(Fill)
    assert (f.decision_price, f.slippage, f.slippage_pct, f.ack_ms) == ("", "", "", "")
    assert tr.position.qty == 0


def test_close_realizes_the_round_trip_and_gives_its_row() -> None:
    book, got = _book()
    tr = make_trade(1, filled=False)
    book.add(tr)
    _leg(book, tr, "entry", True, LOT, 100.0, 100.0, total=20.0)
    _leg(book, tr, "exit_stop", False, LOT, 90.0, 91.0, total=25.0, minutes=3)
    book.close(tr, "exit_stop", 23450.0, at(3))
    expected = round(LOT * (90.0 - 100.0) - 45.0, 2)
    assert book.realized == book.day_realized == pytest.approx(expected)
    assert book.open == {} and book.closed == [tr]
    (closed,) = got.of(PositionClosed)
    assert closed.pnl_net == expected and closed.costs == 45.0 and closed.reason == "exit_stop"
    assert closed.row == tr.row()
    assert closed.row["exit_reason"] == "exit_stop" and closed.row["exit_underlying"] == 23450.0
    assert closed.row["exit_ts"] == closed.ts == at(3).isoformat() + "+05:30"
    assert closed.row["qty"] == LOT and closed.row["exit_price"] == 90.0
    assert got.of(Equity) == []  # nobody keeps the curve


def test_close_marks_equity_when_a_sink_keeps_it() -> None:
    book, got = _book(keep_equity=True)
    assert book.marks
    tr = make_trade(1)
    book.add(tr)
    _leg(book, tr, "exit_target2", False, LOT, 110.0, 110.0, minutes=1)
    book.close(tr, "exit_target2", 23600.0, at(1))
    (mark,) = got.of(Equity)
    assert mark.realized == pytest.approx(LOT * 10.0)
    assert mark.equity == pytest.approx(book.capital + LOT * 10.0)
    assert mark.unrealized == 0.0
    assert not make_book(Sinks()).marks


def test_abandon_undoes_the_count_of_the_day() -> None:
    book, got = _book()
    book.new_day()
    tr = make_trade(book.next_id(), filled=False)
    book.add(tr)
    assert book.trades_today == 1
    book.abandon(tr, "cancelled", at(1))
    assert book.trades_today == 0 and book.open == {}
    assert got.events == [EntryAbandoned(ts=at(1).isoformat() + "+05:30", trade_id=1,
                                         state="cancelled")]  # fmt: skip
    assert book.closed == []  # no trade happened
    assert book.next_id() == 2  # ids are never reused


def test_day_pnl_with_two_open_trades() -> None:
    book, _ = _book()
    a = make_trade(1, price=100.0)
    b = make_trade(2, price=50.0, qty=2 * LOT, instrument="NIFTY25MAR23500PE", right="PE")
    a.costs, b.costs = 10.0, 4.0
    book.add(a)
    book.add(b)
    a.mark_price, b.mark_price = 104.0, 49.0
    book.day_realized = -300.0
    expected = -300.0 + (4.0 * LOT + -1.0 * 2 * LOT) - 14.0
    assert book.unrealized() == pytest.approx(4.0 * LOT - 2.0 * LOT)
    assert book.day_pnl() == pytest.approx(expected)
    book.new_day()
    assert book.day_pnl() == pytest.approx(expected + 300.0)
    assert [t.trade_id for t in book.trades()] == [1, 2]


def test_end_day_gives_the_days_counts() -> None:
    book, got = _book()
    book.add(make_trade(1))
    book.day_realized = book.realized = 123.456
    book.end_day(at(360))
    (end,) = got.of(DayEnd)
    assert (end.realized, end.trades) == (123.46, 1)
    assert end.equity == round(book.capital + 123.456, 2)


def test_state_round_trip() -> None:
    book, _ = _book()
    a = make_trade(book.next_id(), filled=False)
    book.add(a)
    _leg(book, a, "entry", True, LOT, 100.0, 100.0, total=20.0, fid="PB000001F1")
    a.applied.add("PB000001F1")  # what ``Fills`` does with each fill it books
    a.flags.append("carried")
    a.retries.append(("exit_stop", LOT, 2))
    a.closing, a.waiting = "exit_stop", "no_bid"
    b = make_trade(book.next_id(), side=Side.SHORT, instrument="NIFTY", right="", price=23500)
    book.add(b)
    book.realized, book.day_realized = 500.0, -20.0
    saved = json.loads(json.dumps(book.state()))
    other, _ = _book()
    other.restore(saved)
    assert other.state() == book.state()
    assert list(other.open) == [1, 2]
    assert other.open[1].applied == {"PB000001F1"}
    assert other.open[1].retries == [("exit_stop", LOT, 2)]
    assert other.open[1].position == a.position
    assert other.day_pnl() == book.day_pnl()
    assert other.next_id() == 3


def test_an_entry_fill_after_an_exit_keeps_the_average_entry_price() -> None:
    """An entry order in parts (above the freeze quantity) or an entry filling while its exit is
    decided (``Fills``: 'bought after the exit was decided: sell that too') books entry legs
    after exit legs. The entry price stays the average of the entry fills."""
    book, _ = _book()
    tr = make_trade(1, filled=False, qty=2 * LOT)
    book.add(tr)
    _leg(book, tr, "entry", True, LOT, 100.0, 100.0)
    _leg(book, tr, "exit_stop", False, LOT, 95.0, 95.0, minutes=1)
    _leg(book, tr, "entry", True, LOT, 100.0, 100.0, minutes=2)
    assert tr.position.qty == LOT
    assert tr.entry_price == pytest.approx(100.0)  # is 200.0
    assert tr.qty == 2 * LOT  # bought in all; is LOT


def test_a_leg_already_sold_counts_in_the_days_pnl_and_the_equity() -> None:
    """After a T1 scale-out the trade is still open: what the sold leg made is part of the day's
    PnL (the loss limit's number) and of the equity marks, not only the quantity still held."""
    book, got = _book(keep_equity=True)
    tr = make_trade(1, filled=False, qty=2 * LOT)
    book.add(tr)
    _leg(book, tr, "entry", True, 2 * LOT, 100.0, 100.0)
    _leg(book, tr, "scale_out_t1", False, LOT, 120.0, 120.0, minutes=5)
    tr.mark_price = 120.0
    assert tr.unrealized() == pytest.approx(2 * LOT * 20.0)  # both halves made 20
    assert book.day_pnl() == pytest.approx(2 * LOT * 20.0 - tr.costs)
    book.mark(at(6))
    assert got.of(Equity)[-1].unrealized == pytest.approx(2 * LOT * 20.0)
