"""The fake's REST side through the official ``kiteconnect`` client: login, the error
envelope and the exceptions the client raises from it, the order checks Kite makes before an
order exists, the order rate limit, and faults."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as ex

from fakekite import FakeKite
from fakekite.kite_reactor import wait_until
from fakekite.sample import CE, CHAIN, T0, client


def buy(kite: KiteConnect, qty: int = 75, price: float | None = 101.0, **kw: Any) -> str:
    order_type = kw.pop("order_type", "LIMIT")
    return str(
        kite.place_order(
            "regular", "NFO", kw.pop("symbol", CE.tradingsymbol), kw.pop("side", "BUY"), qty,
            "MIS", order_type, price=price, **kw,
        )
    )  # fmt: skip


# -- login -----------------------------------------------------------------------------------------
def test_a_request_token_is_exchanged_once_for_the_access_token(fake: FakeKite) -> None:
    kite = KiteConnect(fake.api_key, root=fake.rest_root)
    old = fake.access_token
    rt = fake.request_token()
    with pytest.raises(ex.TokenException) as bad:
        kite.generate_session(rt, "wrongsecret")
    assert bad.value.code == 403
    session = kite.generate_session(rt, "kitesecret")  # a failed try does not use it up
    assert session["access_token"] == fake.access_token != old
    assert session["login_time"] == T0.replace(tzinfo=None)
    assert kite.profile()["user_id"] == session["user_id"]
    with pytest.raises(ex.TokenException):
        kite.generate_session(rt, "kitesecret")  # used
    with pytest.raises(ex.TokenException):
        KiteConnect(fake.api_key, access_token=old, root=fake.rest_root).orders()
    with pytest.raises(ex.TokenException):
        KiteConnect("otherkey", access_token=fake.access_token, root=fake.rest_root).orders()


def test_the_checksum_is_sha256_of_key_token_and_secret(fake: FakeKite) -> None:
    rt = fake.request_token()
    checksum = hashlib.sha256(f"{fake.api_key}{rt}kitesecret".encode()).hexdigest()
    r = requests.post(
        f"{fake.rest_root}/session/token",
        data={"api_key": fake.api_key, "request_token": rt, "checksum": checksum},
        headers={"X-Kite-Version": "3"},
        timeout=3,
    )
    assert r.status_code == 200 and r.json()["data"]["access_token"] == fake.access_token


def test_an_expired_or_invalidated_session_is_refused_and_the_hook_runs(fake: FakeKite) -> None:
    kite = client(fake)
    expired: list[bool] = []
    kite.set_session_expiry_hook(lambda: expired.append(True))
    assert kite.orders() == []
    fake.expire_session()
    with pytest.raises(ex.TokenException) as e:
        kite.orders()
    assert (e.value.code, expired) == (403, [True])
    kite.generate_session(fake.request_token(), "kitesecret")  # a new login works again
    assert kite.orders() == []
    kite.invalidate_access_token()
    with pytest.raises(ex.TokenException):
        kite.margins()


def test_every_call_needs_the_version_header(fake: FakeKite) -> None:
    auth = {"Authorization": f"token {fake.api_key}:{fake.access_token}"}
    r = requests.get(f"{fake.rest_root}/orders", headers=auth, timeout=3)
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"
    r = requests.get(f"{fake.rest_root}/nowhere", headers={**auth, "X-Kite-Version": "3"})
    assert r.status_code == 404 and r.json() == {
        "status": "error", "message": "Route not found.", "error_type": "GeneralException",
        "data": None,
    }  # fmt: skip


def test_user_profile_and_margins(kite: KiteConnect) -> None:
    assert kite.profile()["broker"] == "ZERODHA"
    margins = kite.margins()
    assert margins["equity"]["net"] == kite.margins("equity")["net"] > 0
    assert set(margins) == {"equity", "commodity"}


# -- the error envelope ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error_type", "exc"),
    [
        (400, None, ex.InputException),
        (403, None, ex.TokenException),
        (429, None, ex.NetworkException),
        (500, None, ex.GeneralException),
        (502, None, ex.NetworkException),
        (503, None, ex.NetworkException),
        (502, "DataException", ex.DataException),
    ],
)
def test_an_injected_error_raises_the_clients_exception_and_places_nothing(
    fake: FakeKite, kite: KiteConnect, status: int, error_type: str | None, exc: type[Exception]
) -> None:
    fake.faults.http_error(status, error_type=error_type)
    with pytest.raises(exc) as e:
        buy(kite)
    assert e.value.code == status  # type: ignore[attr-defined]
    assert fake.orders() == [] and fake.order_calls == [("POST", "/orders/regular")]
    buy(kite)  # used up
    assert len(fake.orders()) == 1


def test_a_fault_can_target_other_routes(fake: FakeKite, kite: KiteConnect) -> None:
    fake.faults.http_error(503, n=2, paths="/quote")
    for _ in range(2):
        with pytest.raises(ex.NetworkException):
            kite.ltp(f"NFO:{CE.tradingsymbol}")
    buy(kite, price=90.0)  # order calls are not affected
    assert kite.ltp(f"NFO:{CE.tradingsymbol}")[f"NFO:{CE.tradingsymbol}"]["instrument_token"]


def test_a_withheld_response_leaves_the_order_placed(fake: FakeKite) -> None:
    fake.faults.timeout_after_send()  # connection closed without a response
    with pytest.raises(requests.ConnectionError):
        buy(client(fake), price=90.0, tag="T1")
    fake.faults.timeout_after_send(delay=2.0)
    with pytest.raises(requests.Timeout):
        buy(client(fake, timeout=0.3), price=90.0, tag="T2")
    assert [(o["tag"], o["status"]) for o in fake.orders()] == [("T1", "OPEN"), ("T2", "OPEN")]
    assert fake.order_calls == [("POST", "/orders/regular")] * 2
    buy(client(fake), price=90.0, tag="T3")  # used up: the next call is answered


# -- order checks ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tag": "A" * 21}, "Tag length"),
        ({"tag": "bad-tag"}, "alphanumeric"),
        ({"qty": 50}, "multiple of lot size"),
        ({"price": 100.02}, "tick size"),
        ({"price": None}, "Price is required"),
        ({"symbol": "NIFTY25JAN99999CE"}, "instrument not found"),
        ({"symbol": "NIFTY 50", "exchange": "NSE"}, "not tradable"),
        ({"order_type": "MARKET", "price": None}, "market protection"),
        ({"order_type": "MARKET", "price": None, "market_protection": 0}, "market protection"),
        ({"order_type": "MARKET", "price": None, "market_protection": 101}, "market_protection"),
        ({"order_type": "SL-M", "price": None, "trigger_price": 95.0}, "market protection"),
        ({"order_type": "SL", "price": 94.0}, "Trigger price is required"),
        ({"order_type": "SL", "side": "SELL", "price": 96.0, "trigger_price": 95.0}, "higher"),
        ({"order_type": "SL", "price": 94.0, "trigger_price": 95.0}, "lower"),
        ({"qty": 1875}, "freeze limit"),
        ({"validity": "TTL"}, "validity_ttl"),
    ],
)
def test_an_order_breaking_kites_rules_is_refused_before_it_exists(
    fake: FakeKite, kite: KiteConnect, kwargs: dict[str, Any], message: str
) -> None:
    kw = dict(kwargs)
    qty, price = kw.pop("qty", 75), kw.pop("price", 101.0)
    exchange = kw.pop("exchange", "NFO")
    symbol = kw.pop("symbol", CE.tradingsymbol)
    with pytest.raises(ex.InputException, match=message) as e:
        kite.place_order(
            "regular", exchange, symbol, kw.pop("side", "BUY"), qty, "MIS",
            kw.pop("order_type", "LIMIT"), price=price, **kw,
        )  # fmt: skip
    assert e.value.code == 400 and fake.orders() == []


def test_what_kite_accepts(fake: FakeKite, kite: KiteConnect) -> None:
    fake.set_quote(CE.tradingsymbol, 99.5, 100.5)
    buy(kite, tag="A" * 20, market_protection=0)  # ignored on a limit order
    buy(kite, order_type="MARKET", price=None, market_protection=-1)
    buy(kite, order_type="MARKET", price=None, market_protection=2)
    assert [o["status"] for o in fake.orders()] == ["COMPLETE"] * 3
    assert fake.orders()[0]["tags"] == ["A" * 20]


def test_a_market_order_fills_only_within_its_protection(fake: FakeKite, kite: KiteConnect) -> None:
    fake.set_quote(CE.tradingsymbol, 99.5, 100.5, last=100.0)
    fake.set_quote(CE.tradingsymbol, 99.5, 103.0)  # the ask runs away; last stays 100
    oid = buy(kite, order_type="MARKET", price=None, market_protection=2)  # up to 102
    assert fake.orders()[0]["status"] == "OPEN"
    fake.set_quote(CE.tradingsymbol, 101.0, 101.95)
    assert kite.order_history(oid)[-1]["status"] == "COMPLETE"
    assert kite.order_trades(oid)[0]["average_price"] == 101.95


def test_an_sl_order_with_its_trigger_already_crossed_is_rejected(
    fake: FakeKite, kite: KiteConnect
) -> None:
    fake.set_quote(CE.tradingsymbol, 99.5, 100.5, last=100.0)
    oid = buy(kite, side="SELL", order_type="SL", price=100.0, trigger_price=100.5)
    row = fake.orders()[0]
    assert (row["order_id"], row["status"]) == (oid, "REJECTED")
    assert "lower than the last price" in row["status_message"]


# -- the order rate limit --------------------------------------------------------------------------
def test_the_eleventh_order_call_in_a_second_is_refused(fake: FakeKite, kite: KiteConnect) -> None:
    ids = [buy(kite, price=90.0) for _ in range(5)]
    kite.modify_order("regular", ids[0], price=90.5)
    kite.cancel_order("regular", ids[1])
    for _ in range(3):
        buy(kite, price=90.0)
    with pytest.raises(ex.NetworkException) as e:
        buy(kite, price=90.0)
    assert e.value.code == 429
    assert len(fake.orders()) == 8 and len(fake.order_calls) == 11
    assert kite.orders()  # reads are not order calls

    def accepted() -> bool:
        try:
            buy(kite, price=90.0)
            return True
        except ex.NetworkException:
            return False

    wait_until(accepted, timeout=3.0, every=0.05)  # the window rolls on


def test_the_rate_is_configurable() -> None:
    with FakeKite(instruments=CHAIN, order_rate=2) as fake:
        kite = client(fake)
        buy(kite, price=90.0)
        buy(kite, price=90.0)
        with pytest.raises(ex.NetworkException):
            buy(kite, price=90.0)


# -- modify and cancel -----------------------------------------------------------------------------
def test_an_order_takes_at_most_25_modifications() -> None:
    with FakeKite(instruments=CHAIN, order_rate=1000) as fake:
        kite = client(fake)
        oid = buy(kite, price=80.0)
        for k in range(25):
            kite.modify_order("regular", oid, price=80.0 + 0.05 * (k + 1))
        with pytest.raises(ex.InputException, match="Maximum allowed order modifications"):
            kite.modify_order("regular", oid, price=90.0)
        row = fake.orders()[0]
        assert (row["price"], row["modified"], row["status"]) == (81.25, True, "OPEN")


def test_modify_and_cancel_only_work_on_working_orders(fake: FakeKite, kite: KiteConnect) -> None:
    fake.set_quote(CE.tradingsymbol, 99.5, 100.5)
    filled, working = buy(kite), buy(kite, price=95.0)
    with pytest.raises(ex.InputException, match="already complete"):
        kite.modify_order("regular", filled, price=101.5)
    with pytest.raises(ex.InputException, match="already complete"):
        kite.cancel_order("regular", filled)
    with pytest.raises(ex.InputException, match="multiple of lot size"):
        kite.modify_order("regular", working, quantity=80)
    assert kite.cancel_order("regular", working) == working
    with pytest.raises(ex.InputException, match="already cancelled"):
        kite.cancel_order("regular", working)
    with pytest.raises(ex.InputException, match="Couldn't find"):
        kite.cancel_order("regular", "250103000999999")
    assert [o["status"] for o in kite.orders()] == ["COMPLETE", "CANCELLED"]
    assert kite.orders()[1]["cancelled_quantity"] == 75
