"""Operator notifications, end to end: the real notifier, the real Telegram client
(python-telegram-bot) and a real HTTP client, against a local fake Bot API and a webhook
receiver (``fakebot``); the events are the engine's own, handed on by its ``Sinks``."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator

import pytest
from fakebot import FakeBotApi, WebhookReceiver, running

from dyntrail.control.notify import NOTIFIED_KINDS, Notifier, NotifySettings
from dyntrail.core.events import (
    BreakerTripped,
    CloseReconciled,
    CommandApplied,
    EntrySignal,
    Event,
    Fill,
    FlattenFailed,
    KillSwitch,
    OpenAtEnd,
    OrderRejected,
    OrderSent,
    PositionOpen,
    RiskHalt,
    StopMoved,
    TradingStateChanged,
)
from dyntrail.engine.ports import Sinks
from dyntrail.errors import ConfigError
from dyntrail.live.credentials import Secret

TOKEN = "123456789:AAH-fake-Token_for-tests-xyz"
CHAT = "-100777"
TS = "2025-01-02T10:15:00+05:30"
FAST = {"min_interval": 0.0, "backoff": 0.05, "timeout": 2.0}


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with running(FakeBotApi(TOKEN)) as server:
        yield server


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with running(WebhookReceiver()) as server:
        yield server


def telegram(api: FakeBotApi, token: str = TOKEN) -> NotifySettings:
    return NotifySettings(
        webhook_url=None,
        telegram_token=Secret(token),
        telegram_chat_id=CHAT,
        telegram_base_url=api.base_url,
    )


# ---------------------------------------------------------------------------- events


def order(tag: str, trade_id: int, action: str, qty: int, side: str = "sell") -> OrderSent:
    return OrderSent(
        ts=TS,
        tag=tag,
        trade_id=trade_id,
        action=action,
        side=side,
        qty=qty,
        limit=101.0,
        decision_price=101.5,
        underlying=23950.0,
        instrument="NIFTY25JAN24000CE",
        attempt=1,
        bid=101.0,
        ask=101.5,
    )


def fill(
    tag: str,
    trade_id: int,
    action: str,
    qty: int,
    price: float,
    *,
    side: str = "sell",
    slippage: float | str = "",
) -> Fill:
    return Fill(
        ts=TS,
        fill_id=f"{tag}-{qty}-{price}",
        trade_id=trade_id,
        leg=1,
        action=action,
        side=side,
        qty=qty,
        price=price,
        decision_price=101.5 if slippage != "" else "",
        slippage=slippage,
        slippage_pct="",
        underlying=23950.0,
        costs=20.0,
        cost_brokerage=20.0,
        cost_stt=0.0,
        cost_exchange=0.0,
        cost_sebi=0.0,
        cost_ipft=0.0,
        cost_stamp=0.0,
        cost_gst=0.0,
        tag=tag,
        ack_ms="",
    )


def rejected(tag: str, trade_id: int, reason: str | None) -> OrderRejected:
    return OrderRejected(
        ts=TS,
        reason=reason,
        trade_id=trade_id,
        leg="",
        action="rejected",
        side="buy",
        qty=75,
        price="",
        decision_price=99.5,
        slippage="",
        slippage_pct="",
        underlying=23950.0,
        costs=0.0,
        tag=tag,
        ack_ms="",
    )


def kill(reason: str = "operator") -> KillSwitch:
    return KillSwitch(ts=TS, reason=reason)


def not_told() -> list[Event]:
    """Events an operator is not told about (or not in this shape)."""
    return [
        EntrySignal(
            ts=TS,
            trade_id=9,
            side="LONG",
            underlying=23950.0,
            vix=14.0,
            tier="normal",
            adx=None,
            vwap=None,
            instrument="NIFTY25JAN24000CE",
        ),
        PositionOpen(
            ts=TS,
            trade_id=9,
            side="LONG",
            entry_underlying=23950.0,
            stop=23800.0,
            t1=24100.0,
            t2=24200.0,
            move_be=24050.0,
            qty=75,
            tier="normal",
        ),
        StopMoved(ts=TS, trade_id=9, level=23800.0, reason="initial"),
        StopMoved(ts=TS, trade_id=9, level=23900.0, reason="trail"),
        OpenAtEnd(ts=TS, trade_id=9, instrument="NIFTY25JAN24000CE", qty=0, mark=0.0),
        TradingStateChanged(ts=TS, state="reducing", reasons=["paused: lunch"]),
        order("T9X", 9, "entry", 75, side="buy"),
    ]


# ---------------------------------------------------------------------------- Telegram


def test_each_told_event_arrives_as_its_line(api: FakeBotApi) -> None:
    notifier = Notifier(telegram(api), **FAST)
    sinks = Sinks([notifier.route()])  # the engine's own fan-out
    events: list[Event] = [
        *not_told(),
        order("T3S", 3, "exit_stop", 75),
        fill("T3S", 3, "exit_stop", 75, 101.35, slippage=0.15),
        order("T4E", 4, "entry", 75, side="buy"),
        fill("T4E", 4, "entry", 50, 99.6, side="buy"),
        fill("T4E", 4, "entry", 25, 99.65, side="buy"),
        rejected("T5E", 5, "RMS: margin exceeds"),
        StopMoved(ts=TS, trade_id=4, level=23950.0, reason="break_even"),
        BreakerTripped(
            ts=TS, vix=21.4, rise=3.2, until="2025-01-02T11:15:00+05:30", policy="flatten"
        ),
        RiskHalt(ts=TS, day_pnl=-12500.0),
        kill("operator"),
        FlattenFailed(
            ts=TS,
            trade_id=4,
            instrument="NIFTY25JAN24000CE",
            qty=75,
            reason="no bid",
            closing="exit_eod",
        ),
        OpenAtEnd(ts=TS, trade_id=4, instrument="NIFTY25JAN24000CE", qty=75, mark=12.3),
        CommandApplied(ts=TS, command="pause", detail="lunch", source="cli"),
        TradingStateChanged(ts=TS, state="reducing", reasons=["feed stale: no tick for 31 s"]),
        TradingStateChanged(ts=TS, state="active", reasons=[]),
        TradingStateChanged(ts=TS, state="halted", reasons=["F1 broker unreachable at start"]),
        CloseReconciled(ts=TS, broker={}, journal={}, flags=[]),
        CloseReconciled(
            ts=TS,
            broker={"NIFTY25JAN24000CE": 75},
            journal={},
            flags=["F2 position NIFTY25JAN24000CE: broker 75, journal 0"],
        ),
    ]
    for ev in events:
        sinks.emit(ev)
    notifier.close()
    assert api.lines() == [
        "FILL trade 3 exit_stop SELL 75 @ 101.35 (slippage 0.15)",
        "PARTIAL FILL trade 4 entry BUY 50 @ 99.60 (50/75 filled)",
        "FILL trade 4 entry BUY 25 @ 99.65 (75/75 filled)",
        "REJECTED trade 5 BUY 75 (order T5E): RMS: margin exceeds",
        "STOP trade 4 to break-even at 23950.00",
        "BREAKER tripped: VIX 21.40 (+3.2), policy flatten, until 11:15",
        "RISK HALT: day P&L -12500.00; no new entries today",
        "KILL SWITCH: operator",
        "FLATTEN FAILED trade 4 NIFTY25JAN24000CE: 75 still open (no bid)",
        "OPEN AT END trade 4 NIFTY25JAN24000CE: 75 open (mark 12.30)",
        "COMMAND pause from cli: lunch",
        "TRADING REDUCING: feed stale: no tick for 31 s",
        "TRADING ACTIVE: feed and broker OK again",
        "TRADING HALTED: F1 broker unreachable at start",
        "CLOSE reconciled: the broker and the journal agree (flat)",
        "CLOSE RECONCILE FLAGGED: F2 position NIFTY25JAN24000CE: broker 75, journal 0",
    ]
    assert {m["chat_id"] for m in api.messages} == {CHAT}
    assert notifier.failed == 0 and notifier.dropped == 0
    assert notifier.sent == len(api.messages)


def test_events_not_told_send_nothing(api: FakeBotApi) -> None:
    notifier = Notifier(telegram(api), **FAST)
    sinks = Sinks([notifier.route()])
    for ev in not_told():
        sinks.emit(ev)
    notifier.close()
    assert api.requests == []
    assert (notifier.sent, notifier.failed, notifier.dropped) == (0, 0, 0)


def test_route_takes_the_told_kinds_and_the_orders_a_fill_needs(api: FakeBotApi) -> None:
    with Notifier(telegram(api), **FAST) as notifier:
        route = notifier.route()
        assert route.takes(Fill) and route.takes(KillSwitch) and route.takes(OrderSent)
        assert not route.takes(EntrySignal) and not route.takes(PositionOpen)
    only_kills = NotifySettings(
        telegram_token=Secret(TOKEN),
        telegram_chat_id=CHAT,
        telegram_base_url=api.base_url,
        kinds=frozenset({"kill_switch"}),
    )
    with Notifier(only_kills, **FAST) as notifier:
        route = notifier.route()
        assert route.takes(KillSwitch)
        assert not route.takes(Fill) and not route.takes(OrderSent)
    assert "fill" in NOTIFIED_KINDS and "order" not in NOTIFIED_KINDS


def test_a_failed_first_request_is_tried_again(api: FakeBotApi) -> None:
    api.fail_with_500(1)
    notifier = Notifier(telegram(api), **FAST)
    notifier.emit(kill("drill"))
    notifier.close()
    assert api.texts() == ["KILL SWITCH: drill"]
    assert len(api.requests) == 2
    assert (notifier.sent, notifier.failed) == (1, 0)


def test_flood_control_is_waited_out(api: FakeBotApi) -> None:
    api.fail_with_429(1, retry_after=1)
    notifier = Notifier(telegram(api), **FAST)
    start = time.monotonic()
    notifier.emit(kill("drill"))
    assert api.wait_lines(1, timeout=4) == ["KILL SWITCH: drill"]
    assert time.monotonic() - start >= 0.9  # Telegram's retry_after was kept
    notifier.close()
    assert (notifier.sent, notifier.failed) == (1, 0)


def test_close_flushes_the_queue_in_a_few_batched_messages(api: FakeBotApi) -> None:
    notifier = Notifier(telegram(api), min_interval=0.3, max_lines=10, backoff=0.05)
    for i in range(35):
        notifier.emit(kill(f"n{i}"))
    notifier.close(timeout=5)
    assert api.lines() == [f"KILL SWITCH: n{i}" for i in range(35)]
    assert len(api.messages) < 10  # batched, not one message an event
    assert all(t.count("\n") < 10 for t in api.texts())  # at most max_lines to a message
    assert notifier.dropped == 0 and notifier.failed == 0


def test_lines_waiting_for_telegram_share_a_message(api: FakeBotApi) -> None:
    notifier = Notifier(telegram(api), min_interval=0.3, backoff=0.05)
    notifier.emit(kill("a"))
    assert api.wait_lines(1) == ["KILL SWITCH: a"]
    for name in "bcd":  # within the pause Telegram wants between two messages
        notifier.emit(kill(name))
    assert api.wait_lines(4, timeout=3) == [f"KILL SWITCH: {n}" for n in "abcd"]
    assert api.texts() == ["KILL SWITCH: a", "KILL SWITCH: b\nKILL SWITCH: c\nKILL SWITCH: d"]
    notifier.close()


def test_a_full_queue_drops_and_counts_and_emit_never_blocks(api: FakeBotApi) -> None:
    api.delay = 0.4  # the sender sits in a slow request
    notifier = Notifier(telegram(api), queue_size=5, **FAST)
    notifier.emit(kill("first"))
    assert api.wait_until(lambda: len(api.requests) == 1)
    start = time.monotonic()
    for i in range(20):
        notifier.emit(kill(f"n{i}"))
    assert time.monotonic() - start < 0.1
    assert notifier.dropped == 15
    notifier.close(timeout=5)
    assert api.lines() == ["KILL SWITCH: first"] + [f"KILL SWITCH: n{i}" for i in range(5)]


# ---------------------------------------------------------------------------- secrets


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    out = []
    for r in caplog.records:
        out.append(r.getMessage())
        if r.exc_info:
            out.append(logging.Formatter().formatException(r.exc_info))
    return "\n".join(out)


def test_the_token_never_reaches_the_log(api: FakeBotApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the client's own debug lines included
    api.fail_with_echo(3)  # a proxy's page quoting the URL, the token in it, every time
    notifier = Notifier(telegram(api), **FAST)
    notifier.emit(kill("drill"))
    notifier.close()
    assert (notifier.sent, notifier.failed) == (0, 1)
    warnings = [r for r in caplog.records if r.name == "dyntrail.control.notify"]
    assert any(r.levelno == logging.WARNING and "not sent" in r.getMessage() for r in warnings)
    assert any("***" in r.getMessage() for r in warnings)  # the quoted URL, masked
    text = all_log_text(caplog)
    assert "sendMessage" in text  # the request was logged by the client, URL and all...
    assert TOKEN not in text  # ...but never the token


def test_a_refused_token_is_not_retried_nor_logged(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "987654321:AAH-wrong-token-0000"
    notifier = Notifier(telegram(api, token=wrong), **FAST)
    notifier.emit(kill("drill"))
    notifier.close()
    assert api.messages == [] and len(api.requests) == 1  # 401: trying again would not help
    assert (notifier.sent, notifier.failed) == (0, 1)
    text = all_log_text(caplog)
    assert "InvalidToken" in text
    assert wrong not in text and TOKEN not in text


# ---------------------------------------------------------------------------- webhook


def test_the_webhook_gets_each_event_as_json(
    hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = Notifier(NotifySettings(webhook_url=hook.url), **FAST)
    notifier.emit(order("T3S", 3, "exit_stop", 75))
    notifier.emit(fill("T3S", 3, "exit_stop", 75, 101.35, slippage=0.15))
    notifier.emit(kill("drill"))
    notifier.emit(StopMoved(ts=TS, trade_id=3, level=1.0, reason="trail"))  # not told
    notifier.close()
    bodies = hook.bodies
    assert [b["kind"] for b in bodies] == ["fill", "kill_switch"]
    first = bodies[0]
    assert first["ts"] == TS
    assert first["text"] == "FILL trade 3 exit_stop SELL 75 @ 101.35 (slippage 0.15)"
    assert first["event"]["trade_id"] == 3 and first["event"]["price"] == 101.35
    assert first["event"]["tag"] == "T3S" and "kind" not in first["event"]
    assert bodies[1] == {
        "kind": "kill_switch",
        "ts": TS,
        "text": "KILL SWITCH: drill",
        "event": {"reason": "drill"},
    }
    assert notifier.sent == 2
    assert hook.secret not in all_log_text(caplog)  # the client logs its URL: masked


def test_the_webhook_is_tried_again_then_given_up_without_its_secret(
    hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook.fail_next(1, 503, {"error": "busy"})
    notifier = Notifier(NotifySettings(webhook_url=hook.url), **FAST)
    notifier.emit(kill("one"))
    assert hook.wait_bodies(1)[0]["text"] == "KILL SWITCH: one"
    hook.fail_next(5, 500, {"error": "down"})
    notifier.emit(kill("two"))
    notifier.close()
    assert (notifier.sent, notifier.failed) == (1, 1)
    assert len(hook.requests) == 1 + 1 + 3  # a retry that worked; three tries that did not
    assert any(
        r.levelno == logging.WARNING and "webhook post to 127.0.0.1" in r.getMessage()
        for r in caplog.records
    )
    assert hook.secret not in all_log_text(caplog)


def test_telegram_and_webhook_together(api: FakeBotApi, hook: WebhookReceiver) -> None:
    settings = NotifySettings(
        webhook_url=hook.url,
        telegram_token=Secret(TOKEN),
        telegram_chat_id=CHAT,
        telegram_base_url=api.base_url,
    )
    with Notifier(settings, **FAST) as notifier:
        notifier.emit(rejected("T7E", 7, None))
    assert api.lines() == ["REJECTED trade 7 BUY 75 (order T7E): no reason given"]
    assert [b["text"] for b in hook.bodies] == api.lines()


# ---------------------------------------------------------------------------- settings


def test_from_env_reads_the_variables() -> None:
    env = {
        "DYNTRAIL_NOTIFY_WEBHOOK": "https://hooks.example.com/x?key=abc123",
        "DYNTRAIL_TELEGRAM_TOKEN": TOKEN,
        "DYNTRAIL_TELEGRAM_CHAT_ID": CHAT,
        "DYNTRAIL_TELEGRAM_API": "http://127.0.0.1:9/bot",
    }
    s = NotifySettings.from_env(env)
    assert s.enabled and s.telegram
    assert s.telegram_token is not None and s.telegram_token.reveal() == TOKEN
    assert (s.telegram_chat_id, s.telegram_base_url) == (CHAT, "http://127.0.0.1:9/bot")
    assert s.webhook_url == env["DYNTRAIL_NOTIFY_WEBHOOK"] and s.kinds is None
    assert TOKEN not in repr(s) and TOKEN not in str(s)
    assert TOKEN in s.secrets() and "abc123" in s.secrets()
    assert not NotifySettings.from_env({}).enabled
    only = NotifySettings.from_env({**env, "DYNTRAIL_NOTIFY_KINDS": "fill, kill_switch"})
    assert only.kinds == frozenset({"fill", "kill_switch"})


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"DYNTRAIL_TELEGRAM_TOKEN": TOKEN}, "DYNTRAIL_TELEGRAM_CHAT_ID"),
        ({"DYNTRAIL_TELEGRAM_CHAT_ID": CHAT}, "DYNTRAIL_TELEGRAM_TOKEN"),
    ],
)
def test_from_env_names_the_missing_variable_never_the_token(
    env: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigError) as err:
        NotifySettings.from_env(env)
    assert missing in str(err.value) and "missing" in str(err.value)
    assert TOKEN not in str(err.value)


def test_from_env_refuses_bad_values_by_name() -> None:
    with pytest.raises(ConfigError, match="DYNTRAIL_NOTIFY_WEBHOOK") as err:
        NotifySettings.from_env({"DYNTRAIL_NOTIFY_WEBHOOK": "ftp://secret-host/x"})
    assert "secret-host" not in str(err.value)
    with pytest.raises(ConfigError, match=r"DYNTRAIL_NOTIFY_KINDS.*entry_signal"):
        NotifySettings.from_env(
            {"DYNTRAIL_NOTIFY_WEBHOOK": "https://h/x", "DYNTRAIL_NOTIFY_KINDS": "entry_signal"}
        )


def test_telegram_without_the_library_says_how_to_install(
    api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "telegram", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'dyntrail\[notify\]'"):
        Notifier(telegram(api))


def test_nothing_configured_is_a_quiet_no_op() -> None:
    notifier = Notifier(NotifySettings())
    assert not notifier.route().takes(KillSwitch)
    notifier.emit(kill())
    notifier.close()
    assert (notifier.sent, notifier.failed, notifier.dropped) == (0, 0, 0)


def test_emit_after_close_is_dropped(api: FakeBotApi) -> None:
    notifier = Notifier(telegram(api), **FAST)
    notifier.close()
    notifier.emit(kill())
    assert notifier.dropped == 1 and api.requests == []
