"""The live layer's pure parts: ticks into closed bars, the order-call bucket, credentials
(where they come from, the day's token file at 0600, redaction) and Kite's rows in the broker
protocol's words."""

from __future__ import annotations

import datetime as dt
import logging
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyntrail.errors import ConfigError
from dyntrail.execution.broker import BrokerEventKind
from dyntrail.execution.orders import OrderState, OrderType
from dyntrail.live.bars import BarBuilder
from dyntrail.live.credentials import (
    ENV_FILE,
    ENV_KEY,
    ENV_SECRET,
    ENV_TOKEN,
    RedactingFilter,
    Secret,
    load_credentials,
    read_token,
    store_token,
)
from dyntrail.live.kite_rows import Told, book_row, fills_of, news, state_of
from dyntrail.live.throttle import TokenBucket

D = dt.date(2025, 1, 3)


def at(h: int, m: int, s: float = 0.0) -> dt.datetime:
    return dt.datetime.combine(D, dt.time(h, m)) + dt.timedelta(seconds=s)


# ---------------------------------------------------------------------------- bars


def test_a_bar_closes_only_when_a_later_tick_or_the_clock_says_so() -> None:
    b = BarBuilder(1)
    assert b.add(at(9, 15, 1), 100.0, 1000) == []
    assert b.add(at(9, 15, 30), 103.0, 1500) == []
    assert b.add(at(9, 15, 59.9), 99.0, 1700) == []
    assert b.close_due(at(9, 15, 59.99)) == []
    (bar,) = b.add(at(9, 16, 0.2), 101.0, 1800)
    assert (bar.start, bar.open, bar.high, bar.low, bar.close) == (at(9, 15), 100, 103, 99, 99)
    assert bar.volume == 700 and bar.ticks == 3
    (nxt,) = b.close_due(at(9, 17))  # no tick of 09:17 needed
    assert (nxt.start, nxt.open, nxt.close, nxt.volume) == (at(9, 16), 101.0, 101.0, 100)
    assert b.add(at(9, 16, 40), 50.0) == [] and b.late == 1  # its bar had closed: ignored


@given(
    st.lists(
        st.tuples(st.floats(0, 600, allow_nan=False), st.floats(1, 1e5, allow_nan=False)),
        min_size=1,
        max_size=80,
    )
)
def test_bars_hold_every_tick_once_and_never_a_later_one(ticks: list[tuple[float, float]]) -> None:
    """No lookahead: each bar's prices are exactly its own minute's ticks, in time order."""
    ticks = sorted(ticks)
    b = BarBuilder(1, cumulative_volume=False)
    bars = []
    for s, p in ticks:
        bars += b.add(at(9, 15, s), p)
    bars += b.close_due(at(23, 0))
    assert sum(x.ticks for x in bars) == len(ticks)
    for bar in bars:
        mine = [p for s, p in ticks if bar.start <= at(9, 15, s) < bar.start + b.step]
        assert (bar.open, bar.close) == (mine[0], mine[-1])
        assert (bar.high, bar.low) == (max(mine), min(mine))


# ---------------------------------------------------------------------------- the bucket


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


@given(st.lists(st.floats(0, 0.5), min_size=1, max_size=60))
def test_no_second_holds_more_than_ten_order_calls(gaps: list[float]) -> None:
    """At 8 a second with a burst of 2, any one-second window holds at most 10 calls (Kite's
    limit), however the calls come."""
    ft = FakeTime()
    bucket = TokenBucket(8.0, 2, clock=ft.clock, sleep=ft.sleep)
    stamps = []
    for g in gaps:
        ft.t += g
        bucket.take()
        stamps.append(ft.t)
    for i, t0 in enumerate(stamps):
        assert sum(1 for t in stamps[i:] if t < t0 + 1.0 - 1e-9) <= 10


# ---------------------------------------------------------------------------- credentials


def test_credentials_come_from_the_environment_or_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in (ENV_KEY, ENV_SECRET, ENV_TOKEN, ENV_FILE):
        monkeypatch.delenv(k, raising=False)
    f = tmp_path / "kite.toml"
    with pytest.raises(ConfigError, match="DYNTRAIL_KITE_API_KEY"):
        load_credentials(f)
    f.write_text('api_key = "key123"\napi_secret = "sec456"\n', encoding="utf-8")
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        load_credentials(f)
    assert "key123" not in str(info.value) and "sec456" not in str(info.value)
    f.chmod(0o600)
    c = load_credentials(f, D)
    assert (c.api_key.reveal(), c.api_secret and c.api_secret.reveal()) == ("key123", "sec456")
    assert c.access_token is None and "key123" not in repr(c) and "sec456" not in repr(c)
    store_token(c.token_file, "tok789", D)
    assert stat.S_IMODE(c.token_file.stat().st_mode) == 0o600
    assert load_credentials(f, D).access_token is not None
    assert read_token(c.token_file, D + dt.timedelta(days=1)) is None  # yesterday's: never
    monkeypatch.setenv(ENV_KEY, "envkey")
    monkeypatch.setenv(ENV_TOKEN, "envtok")
    c = load_credentials(tmp_path / "absent.toml", D)
    assert (c.api_key.reveal(), c.source) == ("envkey", "environment")


def test_a_credentials_file_inside_a_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    f = tmp_path / "conf" / "kite.toml"
    f.parent.mkdir()
    f.write_text('api_key = "k"\n', encoding="utf-8")
    f.chmod(0o600)
    with pytest.raises(ConfigError, match="git work tree"):
        load_credentials(f)


def test_secrets_never_reach_a_log_record() -> None:
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(["tok789", "sec456"]))
    log = logging.getLogger("dyntrail.test.redact")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("header Authorization: token key:%s and %s", "tok789", Secret("sec456"))
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "tok789" not in text and "sec456" not in text and "***" in text


# ---------------------------------------------------------------------------- Kite's rows


def row(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "order_id": "250103000000001",
        "tag": "D250103P01E1",
        "tradingsymbol": "NIFTY2510924000CE",
        "transaction_type": "BUY",
        "quantity": 75,
        "price": 101.0,
        "trigger_price": 0,
        "order_type": "LIMIT",
        "status": "OPEN",
        "filled_quantity": 0,
        "status_message": None,
    }
    return {**base, **kw}


def trade(tid: str, qty: int, price: float, s: float) -> dict[str, object]:
    return {"trade_id": tid, "order_id": "250103000000001", "quantity": qty,
            "average_price": price, "fill_timestamp": at(9, 20, s).isoformat(sep=" ")}  # fmt: skip


def test_each_change_of_a_kite_order_is_told_once_in_order() -> None:
    told = Told()
    now = at(9, 20, 5)
    r = book_row(row(), (), triggered=False)
    assert [e.kind for e in news(r, told, now)] == [BrokerEventKind.ACK]
    assert news(r, told, now) == []
    fills = fills_of([trade("T2", 25, 100.5, 2), trade("T1", 50, 100.5, 1)], None)
    assert [f.fill_id for f in fills] == ["T1", "T2"]
    done = book_row(row(status="COMPLETE", filled_quantity=75), fills, triggered=False)
    assert done.state is OrderState.FILLED and done.avg_price == 100.5
    assert [(e.kind, e.fill_id) for e in news(done, told, now)] == [
        (BrokerEventKind.FILL, "T1"), (BrokerEventKind.FILL, "T2")
    ]  # fmt: skip
    assert news(done, told, now) == []


def test_a_stop_row_says_trigger_and_its_states() -> None:
    sl = row(order_type="SL", transaction_type="SELL", price=94.0, trigger_price=95.0)
    pending = book_row({**sl, "status": "TRIGGER PENDING"}, (), triggered=False)
    assert (pending.state, pending.order_type, pending.trigger) == (
        OrderState.TRIGGER_PENDING, OrderType.STOP_LIMIT, 95.0
    )  # fmt: skip
    told = Told()
    assert [e.kind for e in news(pending, told, at(9, 21))] == [BrokerEventKind.ACK]
    working = book_row({**sl, "status": "OPEN"}, (), triggered=True)
    evs = news(working, told, at(9, 22))
    assert [(e.kind, e.price) for e in evs] == [(BrokerEventKind.TRIGGERED, 95.0)]
    assert state_of(row(status="CANCELLED"), expired=True) is OrderState.EXPIRED
    rej = book_row(row(status="REJECTED", status_message="margin"), (), triggered=False)
    assert [(e.kind, e.reason) for e in news(rej, Told(), at(9, 23))] == [
        (BrokerEventKind.REJECT, "margin")
    ]


# ---------------------------------------------------------------------------- a quiet feed


class QuietFeed:
    def __init__(self) -> None:
        self.quiet = 0.0

    def quiet_for(self) -> float:
        return self.quiet


def test_a_quiet_feed_lets_no_entry_out_and_the_gate_says_why() -> None:
    from dyntrail.core.config import Config
    from dyntrail.core.events import TradingStateChanged
    from dyntrail.core.features import StreamingFeatures
    from dyntrail.engine import Engine
    from dyntrail.runners.drive import ModelQuotes
    from dyntrail.runners.live import Session
    from engine.factories import make_broker, make_run, make_sinks

    cfg = Config()
    run = make_run(cfg)
    sinks, got = make_sinks()
    e = Engine(cfg, run.spec, run.trading_days, ModelQuotes(cfg), make_broker(), sinks,
               StreamingFeatures(cfg), 1, ticked=True)  # fmt: skip
    s = Session(cfg, e, None, None, None, run.spec, None, None, None, D)  # type: ignore[arg-type]
    feed = s.feed = QuietFeed()  # type: ignore[assignment]
    feed.quiet = cfg.live.stale_s + 1
    s.watch_feed(at(10, 0))
    assert e.risk.entry_refusal(0)  # no entry while quiet
    (changed,) = got.of(TradingStateChanged)
    assert changed.state == "reducing" and changed.reasons == ["feed stale: no tick for 6 s"]
    feed.quiet = 0.1
    s.watch_feed(at(10, 1))
    assert not e.risk.entry_refusal(0) and got.of(TradingStateChanged)[-1].state == "active"


def test_a_tick_without_the_exchange_time_never_moves_a_replay_clock() -> None:
    """Right after a reconnect the ticker can deliver quote-mode ticks with no timestamp: they
    take the wall's time, which must not end a replayed session (market time from the ticks)."""
    from zoneinfo import ZoneInfo

    from dyntrail.live.feed import tick_of

    ist = ZoneInfo("Asia/Kolkata")
    raw = {"instrument_token": 256265, "last_price": 23500.0, "tradable": False}
    unstamped = tick_of(raw, ist, wall=lambda: 1_900_000_000.0)
    assert not unstamped.stamped and unstamped.ts.year == 2030
    when = dt.datetime(2025, 1, 3, 9, 20, tzinfo=ist)
    stamped = tick_of({**raw, "exchange_timestamp": when}, ist)
    assert stamped.stamped and stamped.ts == when.replace(tzinfo=None)
