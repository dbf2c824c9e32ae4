"""The fake's exchange through the official client: matching against the touch, partial fills
and trades, stop orders, autoslice, the order book, history and positions, market data and
GTT triggers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as ex

from fakekite import FakeKite
from fakekite.sample import CE, INDIA_VIX, NIFTY_50, PE, T0

SYM = CE.tradingsymbol


def place(kite: KiteConnect, side: str, qty: int, price: float | None, **kw: Any) -> str:
    order_type = kw.pop("order_type", "LIMIT")
    symbol = kw.pop("symbol", SYM)
    return str(
        kite.place_order("regular", "NFO", symbol, side, qty, "MIS", order_type, price=price, **kw)
    )


def statuses(kite: KiteConnect, oid: str) -> list[str]:
    return [h["status"] for h in kite.order_history(oid)]


# -- matching --------------------------------------------------------------------------------------
def test_limits_fill_at_the_touch_not_at_their_price(fake: FakeKite, kite: KiteConnect) -> None:
    fake.set_quote(SYM, 99.5, 100.5)
    b = place(kite, "BUY", 75, 101.0)
    s = place(kite, "SELL", 75, 99.0)
    rest = place(kite, "BUY", 75, 100.0)  # below the ask: works
    book = {o["order_id"]: o for o in kite.orders()}
    assert (book[b]["status"], book[b]["average_price"]) == ("COMPLETE", 100.5)
    assert (book[s]["status"], book[s]["average_price"]) == ("COMPLETE", 99.5)
    assert (book[rest]["status"], book[rest]["pending_quantity"]) == ("OPEN", 75)
    assert fake.positions() == {}
    fake.set_quote(SYM, 99.0, 99.95)  # the ask comes down to it
    assert fake.orders()[-1]["average_price"] == 99.95 and fake.positions() == {SYM: 75}


def test_a_fill_takes_only_what_the_touch_shows(fake: FakeKite, kite: KiteConnect) -> None:
    fake.set_quote(SYM, 99.5, 100.5, ask_qty=75)
    oid = place(kite, "BUY", 225, 101.0)
    row = kite.orders()[0]
    assert (row["status"], row["filled_quantity"], row["pending_quantity"]) == ("OPEN", 75, 150)
    assert len(kite.trades()) == 1
    fake.faults.partial_fill_next(25 * 3)
    fake.set_quote(SYM, 99.5, 100.6, ask_qty=1000)  # a fresh touch, the fault caps the fill
    assert kite.orders()[0]["filled_quantity"] == 150
    fake.set_quote(SYM, 99.5, 100.7)
    trades = kite.order_trades(oid)
    assert [(t["quantity"], t["average_price"]) for t in trades] == [
        (75, 100.5), (75, 100.6), (75, 100.7)
    ]  # fmt: skip
    assert len({t["trade_id"] for t in trades}) == 3
    row = kite.orders()[0]
    assert (row["status"], row["average_price"]) == ("COMPLETE", pytest.approx(100.6))
    assert statuses(kite, oid) == [
        "PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN", "OPEN", "OPEN",
        "COMPLETE",
    ]  # fmt: skip


def test_an_ioc_order_cancels_what_does_not_fill_at_once(fake: FakeKite, kite: KiteConnect) -> None:
    fake.set_quote(SYM, 99.5, 100.5, ask_qty=75)
    place(kite, "BUY", 150, 101.0, validity="IOC")
    row = kite.orders()[0]
    assert (row["status"], row["filled_quantity"], row["cancelled_quantity"]) == (
        "CANCELLED", 75, 75
    )  # fmt: skip


def test_set_market_moves_time_and_matches_working_orders(
    fake: FakeKite, kite: KiteConnect
) -> None:
    place(kite, "BUY", 75, 100.0)
    asked: list[str] = []

    def quote_fn(symbol: str) -> tuple[float, float] | None:
        asked.append(symbol)
        return (99.0, 99.95)

    fake.set_market(T0 + dt.timedelta(seconds=1), quote_fn)
    assert asked == [SYM]  # once per instrument with working orders
    row = kite.orders()[0]
    assert (row["status"], row["exchange_update_timestamp"]) == ("COMPLETE", "2025-01-03 09:20:01")
    with pytest.raises(ValueError, match="backwards"):
        fake.set_market(T0, quote_fn)


def test_a_ttl_order_expires_with_market_time(fake: FakeKite, kite: KiteConnect) -> None:
    place(kite, "BUY", 75, 90.0, validity="TTL", validity_ttl=2)
    fake.set_time(T0 + dt.timedelta(minutes=1))
    assert kite.orders()[0]["status"] == "OPEN"
    fake.set_time(T0 + dt.timedelta(minutes=2))
    assert kite.orders()[0]["status"] == "CANCELLED"


# -- stops -----------------------------------------------------------------------------------------
def test_a_stop_sell_triggers_at_its_trigger_and_fills_as_a_limit(
    fake: FakeKite, kite: KiteConnect
) -> None:
    fake.set_quote(SYM, 99.5, 100.5)
    place(kite, "BUY", 75, 101.0)
    sl = place(kite, "SELL", 75, 94.0, order_type="SL", trigger_price=95.0)
    fake.set_quote(SYM, 95.05, 95.5)
    assert kite.orders()[1]["status"] == "TRIGGER PENDING"
    fake.set_quote(SYM, 93.0, 93.5)  # gapped below the limit: triggered, does not fill
    assert (kite.orders()[1]["status"], fake.positions()) == ("OPEN", {SYM: 75})
    with pytest.raises(ex.InputException, match="triggered"):
        kite.modify_order("regular", sl, trigger_price=93.0, price=92.5)
    kite.modify_order("regular", sl, price=92.5)
    row = kite.orders()[1]
    assert (row["status"], row["average_price"], row["trigger_price"]) == ("COMPLETE", 93.0, 95.0)
    assert fake.positions() == {}
    assert statuses(kite, sl)[3:] == [
        "TRIGGER PENDING", "OPEN", "MODIFY VALIDATION PENDING", "MODIFY PENDING", "OPEN",
        "COMPLETE",
    ]  # fmt: skip


def test_a_stop_can_be_trailed_and_an_sl_m_fills_at_the_touch(
    fake: FakeKite, kite: KiteConnect
) -> None:
    fake.set_quote(SYM, 99.5, 100.5)
    sl = place(kite, "SELL", 75, 89.0, order_type="SL", trigger_price=90.0)
    for k in range(1, 5):
        kite.modify_order("regular", sl, trigger_price=90.0 + k, price=89.0 + k)
    assert kite.orders()[0]["trigger_price"] == 94.0
    with pytest.raises(ex.InputException, match="lower than the last price"):
        kite.modify_order("regular", sl, trigger_price=100.5, price=100.0)
    slm = place(kite, "BUY", 75, None, order_type="SL-M", trigger_price=101.0, market_protection=5)
    fake.set_quote(SYM, 100.5, 101.0)
    assert [(o["order_id"], o["status"]) for o in kite.orders()] == [
        (sl, "TRIGGER PENDING"), (slm, "COMPLETE")
    ]  # fmt: skip
    assert kite.orders()[1]["average_price"] == 101.0


# -- autoslice -------------------------------------------------------------------------------------
def test_autoslice_splits_at_the_freeze_quantity_and_each_child_stands_alone(
    fake: FakeKite, kite: KiteConnect
) -> None:
    fake.set_quote(SYM, 99.5, 100.5)
    fake.faults.reject_next(1, reason="RMS:Blocked for test")
    resp = kite.place_autoslice_order(
        "regular", "NFO", SYM, "BUY", 3750, "MIS", "LIMIT", price=101.0, tag="E1"
    )
    book = kite.orders()
    assert [o["quantity"] for o in book] == [1800, 1800, 150]
    assert resp["children"] == [{"order_id": o["order_id"]} for o in book]
    assert {o["parent_order_id"] for o in book} == {resp["order_id"]}
    assert resp["order_id"] not in {o["order_id"] for o in book}
    assert [o["status"] for o in book] == ["REJECTED", "COMPLETE", "COMPLETE"]
    assert book[0]["status_message"] == "RMS:Blocked for test"
    assert all(o["tag"] == "E1" and "autoslice" in o["tags"] for o in book)
    assert fake.positions() == {SYM: 1950}
    assert fake.order_calls == [("POST", "/orders/regular")]


def test_autoslice_needs_a_quantity_above_the_freeze(kite: KiteConnect) -> None:
    with pytest.raises(ex.InputException, match="greater than or equal to 1875"):
        kite.place_autoslice_order("regular", "NFO", SYM, "BUY", 1800, "MIS", "LIMIT", price=90.0)
    with pytest.raises(ex.InputException, match="10 slices"):
        kite.place_autoslice_order(
            "regular", "NFO", SYM, "BUY", 1800 * 11, "MIS", "LIMIT", price=90.0
        )


# -- the book --------------------------------------------------------------------------------------
def test_orders_carry_kites_fields(fake: FakeKite, kite: KiteConnect) -> None:
    oid = place(kite, "BUY", 75, 90.0, tag="X1")
    row = kite.orders()[0]
    assert len(oid) == 15 and oid.isdigit()
    assert set(row) >= {
        "order_id", "parent_order_id", "exchange_order_id", "status", "status_message",
        "tradingsymbol", "instrument_token", "exchange", "transaction_type", "order_type",
        "product", "variety", "validity", "quantity", "filled_quantity", "pending_quantity",
        "cancelled_quantity", "price", "trigger_price", "average_price", "tag", "tags",
        "order_timestamp", "exchange_timestamp", "market_protection", "guid",
    }  # fmt: skip
    assert (row["order_timestamp"], row["instrument_token"]) == (
        T0.replace(tzinfo=None), CE.instrument_token
    )  # fmt: skip
    assert len(row["exchange_order_id"]) == 16 and row["tags"] == ["X1"]
    assert fake.orders()[0]["order_timestamp"] == "2025-01-03 09:20:00"


def test_positions_add_up_the_days_trades(fake: FakeKite, kite: KiteConnect) -> None:
    fake.set_quote(SYM, 99.5, 100.5)
    place(kite, "BUY", 150, 101.0)
    place(kite, "SELL", 75, 99.0)
    fake.set_quote(PE.tradingsymbol, 80.0, 80.5)
    place(kite, "SELL", 75, 80.0, symbol=PE.tradingsymbol)
    assert fake.positions() == {SYM: 75, PE.tradingsymbol: -75}
    net = {p["tradingsymbol"]: p for p in kite.positions()["net"]}
    ce = net[SYM]
    assert (ce["quantity"], ce["buy_quantity"], ce["sell_quantity"]) == (75, 150, 75)
    assert (ce["buy_price"], ce["sell_price"], ce["average_price"]) == (100.5, 99.5, 100.5)
    assert ce["realised"] == pytest.approx(-75.0)
    assert ce["pnl"] == pytest.approx(75 * 99.5 - 150 * 100.5 + 75 * ce["last_price"])
    assert net[PE.tradingsymbol]["quantity"] == -75
    assert kite.positions()["day"] == kite.positions()["net"]


# -- market data -----------------------------------------------------------------------------------
def test_the_instrument_dump_parses(kite: KiteConnect) -> None:
    rows = {r["tradingsymbol"]: r for r in kite.instruments()}
    assert {"NIFTY 50", "NIFTY BANK", "INDIA VIX", SYM, PE.tradingsymbol} <= set(rows)
    ce = rows[SYM]
    assert (ce["expiry"], ce["strike"], ce["lot_size"], ce["tick_size"]) == (
        dt.date(2025, 1, 9), 24000.0, 75, 0.05
    )  # fmt: skip
    assert (ce["segment"], ce["instrument_type"], ce["name"]) == ("NFO-OPT", "CE", "NIFTY")
    assert rows["NIFTY 50"]["instrument_token"] == NIFTY_50
    assert rows["INDIA VIX"]["segment"] == "INDICES"
    assert {r["exchange"] for r in kite.instruments("NFO")} == {"NFO"}


def test_quotes_show_the_touch_and_depth(fake: FakeKite, kite: KiteConnect) -> None:
    fake.push_tick(CE.instrument_token, 100.0, bid=99.5, ask=100.5, bid_qty=300, volume=1200)
    fake.push_tick(INDIA_VIX, 14.25)
    key = f"NFO:{SYM}"
    q = kite.quote(key, "NSE:INDIA VIX", "NFO:NOSUCH")
    assert set(q) == {key, "NSE:INDIA VIX"}
    assert (q[key]["last_price"], q[key]["volume"]) == (100.0, 1200)
    assert q[key]["depth"]["buy"][0] == {"price": 99.5, "quantity": 300, "orders": 1}
    assert q[key]["depth"]["sell"][1]["price"] == 100.55
    assert q[key]["timestamp"] == T0.replace(tzinfo=None)
    assert q["NSE:INDIA VIX"]["last_price"] == 14.25
    assert kite.ltp(key) == {key: {"instrument_token": CE.instrument_token, "last_price": 100.0}}
    assert kite.ohlc(key)[key]["ohlc"]["open"] == 100.0


def test_historical_candles_are_served_by_range(fake: FakeKite, kite: KiteConnect) -> None:
    t = T0.replace(minute=15)
    fake.candles[(NIFTY_50, "minute")] = [
        (t + dt.timedelta(minutes=k), 24000 + k, 24010 + k, 23990 + k, 24005 + k, 0)
        for k in range(10)
    ]
    got = kite.historical_data(
        NIFTY_50, "2025-01-03 09:17:00", dt.datetime(2025, 1, 3, 9, 19), "minute"
    )
    assert [c["open"] for c in got] == [24002, 24003, 24004]
    assert got[0]["date"] == dt.datetime(
        2025, 1, 3, 9, 17, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
    )
    assert kite.historical_data(NIFTY_50, "2025-01-03", "2025-01-03", "5minute") == []
    with pytest.raises(ex.InputException):
        kite.historical_data(NIFTY_50, "2025-01-03", "2025-01-03", "2minute")


# -- GTT -------------------------------------------------------------------------------------------
def test_a_single_gtt_places_its_order_when_the_last_price_crosses(
    fake: FakeKite, kite: KiteConnect
) -> None:
    fake.set_quote(SYM, 99.5, 100.5, last=100.0)
    leg = {"transaction_type": "SELL", "quantity": 75, "order_type": "LIMIT", "product": "MIS"}
    tid = kite.place_gtt("single", SYM, "NFO", [90.0], 100.0, [{**leg, "price": 89.0}])[
        "trigger_id"
    ]
    assert [g["status"] for g in kite.get_gtts()] == ["active"]
    fake.set_quote(SYM, 90.5, 91.0, last=90.5)
    assert kite.orders() == []
    fake.set_quote(SYM, 89.5, 90.0, last=90.0)
    gtt = kite.get_gtt(tid)
    assert gtt["status"] == "triggered"
    result = gtt["orders"][0]["result"]["order_result"]
    row = kite.orders()[0]
    assert (result["order_id"], row["status"], row["average_price"]) == (
        row["order_id"], "COMPLETE", 89.5
    )  # fmt: skip


def test_an_oco_gtt_fires_one_leg_and_can_be_modified_or_deleted(
    fake: FakeKite, kite: KiteConnect
) -> None:
    fake.set_quote(SYM, 99.5, 100.5, last=100.0)
    leg = {"transaction_type": "SELL", "quantity": 75, "order_type": "LIMIT", "product": "MIS"}
    legs = [{**leg, "price": 89.0}, {**leg, "price": 120.0}]
    tid = kite.place_gtt("two-leg", SYM, "NFO", [90.0, 120.0], 100.0, legs)["trigger_id"]
    kite.modify_gtt(
        tid, "two-leg", SYM, "NFO", [90.0, 110.0], 100.0, [legs[0], {**leg, "price": 110.0}]
    )
    fake.set_quote(SYM, 110.0, 110.5, last=110.0)
    gtt = kite.get_gtt(tid)
    assert (gtt["status"], gtt["orders"][0]["result"]) == ("triggered", None)
    assert gtt["orders"][1]["result"]["order_result"]["status"] == "success"
    assert kite.orders()[0]["price"] == 110.0
    other = kite.place_gtt("single", SYM, "NFO", [150.0], 110.0, [{**leg, "price": 150.0}])
    kite.delete_gtt(other["trigger_id"])
    assert [g["id"] for g in kite.get_gtts()] == [tid]
    with pytest.raises(ex.InputException):
        kite.delete_gtt(other["trigger_id"])
