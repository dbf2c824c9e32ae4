"""The backstop part (``dyntrail.engine.backstop``) in a ticked engine on the paper broker: it
rests once the entry fills, an exit of the engine's own goes only after its cancel is
confirmed, and a backstop that triggered and did not fill is escalated to the engine's own exit
once ``escalate_after_s`` has passed."""

from __future__ import annotations

import datetime as dt
import tomllib

from factories import W1_PATH, make_broker, make_run, make_sinks

from dyntrail.core.config_load import config_from_mapping
from dyntrail.core.events import BackstopEscalated, OrderCancel, OrderSent, StopSent
from dyntrail.core.features import StreamingFeatures
from dyntrail.data.synthetic import generate, weekdays
from dyntrail.engine import Engine
from dyntrail.execution.paper import PaperBroker
from dyntrail.runners.drive import ModelQuotes

_M = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 3)), seed=8)
_TS = _M.timestamps.astype("datetime64[s]").astype(object).tolist()


def _engine() -> tuple[Engine, object, PaperBroker]:
    raw = tomllib.loads(W1_PATH.read_text(encoding="utf-8"))
    raw["backstop"] = {"enabled": True, "escalate_after_s": 10.0}
    cfg = config_from_mapping(raw)
    run = make_run(cfg)
    signals = [0] * len(_TS)
    signals[30] = 1  # one entry, at bar 30's close
    sinks, got = make_sinks()
    broker = make_broker()
    e = Engine(
        cfg, run.spec, run.trading_days, ModelQuotes(cfg), broker, sinks,
        StreamingFeatures(cfg), 1, signals=signals, ticked=True,
    )  # fmt: skip
    for i in range(31):
        e.on_bar(i, _TS[i], _M.open[i], _M.high[i], _M.low[i], _M.close[i], None, _M.vix[i])
    assert len(e.book.open) == 1
    return e, got, broker


def test_the_backstop_rests_after_the_entry_and_is_cancelled_before_the_own_exit() -> None:
    e, got, broker = _engine()
    (tr,) = e.book.trades()
    (sent,) = got.of(StopSent)  # type: ignore[attr-defined]
    assert sent.qty == tr.position.qty and sent.level < tr.position.stop_underlying
    stop = tr.position.stop_underlying
    e.on_tick(tr.underlying, _TS[31] + dt.timedelta(seconds=5), stop - 0.5)
    kinds = [type(ev).__name__ for ev in got.events]  # type: ignore[attr-defined]
    cancel = kinds.index("OrderCancel")
    own = [
        i for i, ev in enumerate(got.events) if isinstance(ev, OrderSent) and ev.action != "entry"
    ]  # type: ignore[attr-defined]
    assert own and cancel < own[0]  # the backstop's cancel first, then the exit
    assert got.of(OrderCancel)[0].tag == sent.tag  # type: ignore[attr-defined]
    assert not e.book.open and broker.positions() == {}  # sold once: never short


def test_a_triggered_unfilled_backstop_is_escalated_to_the_own_exit() -> None:
    e, got, broker = _engine()
    (tr,) = e.book.trades()
    (sent,) = got.of(StopSent)  # type: ignore[attr-defined]
    t = _TS[31] + dt.timedelta(seconds=2)
    # the market gapped through the trigger and below the limit: triggered, nothing to sell at
    below = round(sent.limit - 5.0, 2)
    e.market.quotes_now[tr.instrument] = (below, below + 0.1)
    e.orders.pump(t)
    (order,) = [o for o in e.orders.of_trade(tr.trade_id) if o.tag == sent.tag]
    assert order.triggered and order.filled_qty == 0
    price = tr.position.stop_underlying + 5.0  # (then back above the engine's own stop)
    e.on_tick(tr.underlying, t, price)
    e.on_tick(tr.underlying, t + dt.timedelta(seconds=9), price)
    assert not got.of(BackstopEscalated) and e.book.open  # type: ignore[attr-defined]
    e.on_tick(tr.underlying, t + dt.timedelta(seconds=11), price)
    (esc,) = got.of(BackstopEscalated)  # type: ignore[attr-defined]
    assert esc.tag == sent.tag and esc.waited_s >= 10.0
    (own,) = [ev for ev in got.of(OrderSent) if ev.action != "entry"]  # type: ignore[attr-defined]
    assert own.action == "exit_stop"
    assert not e.book.open and broker.positions() == {}
