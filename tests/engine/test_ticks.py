"""Live prices between closes (``Engine.on_tick``): a position's stop and targets act on the
tick at once, not at the bar's close; the close then only moves the stop and checks the time
rules, so no price is acted on twice."""

from __future__ import annotations

import datetime as dt

from factories import make_broker, make_run, make_sinks, w1_cfg

from dyntrail.core.config import Config
from dyntrail.core.events import OrderSent, T1Hit
from dyntrail.core.features import StreamingFeatures
from dyntrail.data.synthetic import generate, weekdays
from dyntrail.engine import Engine
from dyntrail.runners.drive import ModelQuotes

_M = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 3)), seed=8)
_TS = _M.timestamps.astype("datetime64[s]").astype(object).tolist()


def _engine(cfg: Config | None = None) -> tuple[Engine, list[OrderSent]]:
    cfg = cfg or w1_cfg()
    run = make_run(cfg)
    signals = [0] * len(_TS)
    signals[30] = 1  # one entry, at bar 30's close
    sinks, got = make_sinks()
    e = Engine(
        cfg, run.spec, run.trading_days, ModelQuotes(cfg), make_broker(), sinks,
        StreamingFeatures(cfg), 1, signals=signals, ticked=True,
    )  # fmt: skip
    for i in range(31):
        e.on_bar(i, _TS[i], _M.open[i], _M.high[i], _M.low[i], _M.close[i], None, _M.vix[i])
    assert len(e.book.open) == 1
    return e, got  # type: ignore[return-value]


def test_a_tick_through_the_stop_exits_at_once_at_the_tick() -> None:
    e, got = _engine()
    (tr,) = e.book.trades()
    stop = tr.position.stop_underlying
    t = _TS[31] + dt.timedelta(seconds=7)
    e.on_tick(tr.underlying, t, stop + 1.0)  # above the stop: nothing
    assert not [ev for ev in got.of(OrderSent) if ev.action != "entry"]
    e.on_tick(tr.underlying, t + dt.timedelta(seconds=1), stop - 0.5)
    (ex,) = [ev for ev in got.of(OrderSent) if ev.action != "entry"]
    assert ex.action == "exit_stop" and ex.underlying == round(stop - 0.5, 2)
    assert ex.ts.startswith((t + dt.timedelta(seconds=1)).isoformat())
    assert not e.book.open  # filled by the ideal broker: the bar's close need not come


def test_t1_on_a_tick_acts_at_once_and_the_close_does_not_act_on_it_again() -> None:
    e, got = _engine()
    (tr,) = e.book.trades()
    pos = tr.position
    t = _TS[31] + dt.timedelta(seconds=3)
    e.on_tick(tr.underlying, t, pos.t1_underlying + 0.5)
    assert len(got.of(T1Hit)) == 1 and pos.t1_hit
    (ex,) = [ev for ev in got.of(OrderSent) if ev.action != "entry"]
    assert ex.action == "exit_target1" and ex.ts.startswith(t.isoformat())  # W1: all at T1
    assert pos.stop_underlying == pos.entry_underlying  # break-even, as at a close
    i = 31  # the close walks no extreme again: T1 is not hit twice
    e.on_bar(i, _TS[i], _M.open[i], _M.high[i], _M.low[i], _M.close[i], None, _M.vix[i])
    assert len(got.of(T1Hit)) == 1


def test_a_stop_filled_between_closes_at_the_loss_limit_says_so_before_the_halt() -> None:
    """A tick's stop fills and the day's realized loss reaches the limit between two closes:
    the halt comes at the next close, and until then "why no entry" says why none will go out
    (not that one may)."""
    cfg = w1_cfg(daily_loss_limit_pct=1e-6)  # any loss reaches it
    e, _ = _engine(cfg)
    (tr,) = e.book.trades()
    e.on_tick(tr.underlying, _TS[31] + dt.timedelta(seconds=8), tr.position.stop_underlying - 0.5)
    assert not e.book.open and e.book.day_realized < 0 and not e.risk.halted
    assert e.why_no_entry().startswith("daily loss limit: the day's realized PnL -")
