"""Risk: the pure rules (``dyntrail.core.risk``) and the engine's gate that keeps the state
(``dyntrail.engine.risk``)."""

from __future__ import annotations

import json
import math

from factories import (
    Collector,
    at,
    make_cfg,
    make_risk,
    make_run,
    make_sinks,
    make_stamps,
    make_trade,
)
from hypothesis import given
from hypothesis import strategies as st

from dyntrail.core.events import KillSwitch, RiskHalt, TradingStateChanged
from dyntrail.core.risk import (
    RiskLimits,
    TradingState,
    entry_lots,
    entry_refusal,
    loss_limit_hit,
    order_refusal,
    state_of,
)
from dyntrail.engine.context import Run
from dyntrail.engine.risk import RiskGate

LIMITS = RiskLimits(
    loss_floor=-2000.0,
    max_open_positions=2,
    max_lots=3,
    lots_per_trade=5,
    flatten_on_breaker=True,
)

# --------------------------------------------------------------------------- the pure rules


def test_state_of() -> None:
    assert state_of(False, []) is TradingState.ACTIVE
    assert state_of(False, ["flag"]) is TradingState.REDUCING
    assert state_of(True, []) is TradingState.HALTED
    assert state_of(True, ["flag"]) is TradingState.HALTED


def test_limits_of_a_configuration() -> None:
    cfg = make_cfg(
        "[account]\ncapital_inr = 500000\nlots_per_trade = 4\n"
        "[limits]\ndaily_loss_limit_pct = 0.02\nmax_open_positions = 3\nmax_lots = 2\n"
    )
    lim = RiskLimits.of(cfg)
    assert lim.loss_floor == -10_000.0
    assert (lim.max_open_positions, lim.max_lots, lim.lots_per_trade) == (3, 2, 4)
    assert entry_lots(lim) == 2


def test_loss_limit_is_hit_at_exactly_the_floor() -> None:
    assert loss_limit_hit(-2000.0, LIMITS)
    assert loss_limit_hit(-2000.01, LIMITS)
    assert not loss_limit_hit(math.nextafter(-2000.0, 0.0), LIMITS)
    assert not loss_limit_hit(0.0, LIMITS)


def test_entry_refusal_state_then_position_cap() -> None:
    assert entry_refusal(TradingState.ACTIVE, 0, LIMITS) == ""
    assert entry_refusal(TradingState.ACTIVE, 1, LIMITS) == ""
    assert entry_refusal(TradingState.ACTIVE, 2, LIMITS) == "position_cap"
    assert entry_refusal(TradingState.ACTIVE, 3, LIMITS) == "position_cap"
    assert entry_refusal(TradingState.REDUCING, 0, LIMITS) == "reducing"
    assert entry_refusal(TradingState.HALTED, 0, LIMITS) == "halted"


def test_order_refusal_lets_exits_out_when_not_active() -> None:
    assert order_refusal(TradingState.ACTIVE, reduces=False) == ""
    for state in (TradingState.REDUCING, TradingState.HALTED):
        assert order_refusal(state, reduces=True) == ""
        assert state.value in order_refusal(state, reduces=False)


def test_entry_lots_caps_at_max_lots() -> None:
    assert entry_lots(LIMITS) == 3
    fewer = RiskLimits(-1.0, 1, max_lots=10, lots_per_trade=2, flatten_on_breaker=False)
    assert entry_lots(fewer) == 2


@given(state=st.sampled_from(list(TradingState)), opened=st.integers(0, 10))
def test_an_order_that_reduces_is_never_refused(state: TradingState, opened: int) -> None:
    assert order_refusal(state, reduces=True) == ""
    # and an entry goes out only when the state is active and the cap allows it
    allowed = entry_refusal(state, opened, LIMITS) == ""
    assert allowed == (state is TradingState.ACTIVE and opened < LIMITS.max_open_positions)


# --------------------------------------------------------------------------- the gate


def _gate() -> tuple[RiskGate, Collector, Run]:
    run = make_run()
    sinks, got = make_sinks()
    return make_risk(run, make_stamps(run), sinks), got, run


def test_a_waiting_exit_reduces_and_its_end_reactivates() -> None:
    gate, got, run = _gate()
    tr = make_trade(7, run=run)
    assert gate.update(at(0), [tr]) is TradingState.ACTIVE
    assert got.events == []  # no change, no event
    tr.waiting = "no_bid"
    assert gate.update(at(1), [tr]) is TradingState.REDUCING
    gate.update(at(2), [tr])  # still waiting: no second event
    tr.waiting = ""
    assert gate.update(at(3), [tr]) is TradingState.ACTIVE
    changes = got.of(TradingStateChanged)
    assert [(c.state, c.reasons) for c in changes] == [
        ("reducing", ["trade 7: exit waiting (no_bid)"]),
        ("active", []),
    ]
    assert changes[0].ts == at(1).isoformat() + "+05:30"
    assert got.events == changes
    assert gate.entry_refusal(0) == ""


def test_a_carried_position_reduces() -> None:
    gate, got, run = _gate()
    tr = make_trade(3, run=run)
    tr.carried = True
    assert gate.update(at(0), [tr]) is TradingState.REDUCING
    assert got.of(TradingStateChanged)[0].reasons == ["trade 3: carried past the close"]
    assert gate.entry_refusal(0) == "reducing"
    assert gate.order_refusal("entry") and not gate.order_refusal("exit_stop")


def test_flags_and_a_pause_reduce_until_cleared() -> None:
    gate, got, _ = _gate()
    gate.flag("late fill")
    gate.paused = "lunch"
    assert gate.update(at(0), []) is TradingState.REDUCING
    assert got.of(TradingStateChanged)[-1].reasons == ["F1 late fill", "paused: lunch"]
    gate.new_day()  # a new day does not clear an operator's flag
    assert gate.update(at(1), []) is TradingState.REDUCING
    gate.flags.clear()
    gate.paused = ""
    assert gate.update(at(2), []) is TradingState.ACTIVE
    assert [c.state for c in got.of(TradingStateChanged)] == ["reducing", "active"]


def test_a_loss_halt_lasts_the_day() -> None:
    gate, got, _ = _gate()
    gate.halt_on_loss(at(0), -12345.678)
    assert gate.update(at(0), []) is TradingState.HALTED
    assert gate.entry_refusal(0) == "halted"
    assert gate.order_refusal("entry") != ""
    assert gate.order_refusal("exit_risk") == ""
    gate.update(at(5), [])  # still halted: nothing new
    gate.new_day()
    assert gate.update(at(600), []) is TradingState.ACTIVE
    assert [type(e).__name__ for e in got.events] == [
        "RiskHalt",
        "TradingStateChanged",
        "TradingStateChanged",
    ]
    halt, halted, active = got.events
    assert isinstance(halt, RiskHalt) and halt.day_pnl == -12345.68
    assert isinstance(halted, TradingStateChanged) and halted.state == "halted"
    assert halted.reasons == ["daily_loss"]
    assert isinstance(active, TradingStateChanged) and active.state == "active"


def test_the_kill_switch_halts_and_names_itself_first() -> None:
    gate, got, run = _gate()
    tr = make_trade(2, run=run)
    tr.waiting = "no_quote"
    gate.kill(at(0), "operator")
    assert gate.update(at(0), [tr]) is TradingState.HALTED
    assert isinstance(got.events[0], KillSwitch)
    change = got.of(TradingStateChanged)[0]
    assert change.reasons == ["kill_switch", "trade 2: exit waiting (no_quote)"]


def test_breaker_flattens_only_under_its_policy() -> None:
    flatten = make_risk(make_run(make_cfg('[strategy.breaker]\npolicy = "flatten"\n')))
    block = make_risk(make_run(make_cfg('[strategy.breaker]\npolicy = "block_entries"\n')))
    assert flatten.breaker_flattens(True) and not flatten.breaker_flattens(False)
    assert not block.breaker_flattens(True)


def test_gate_state_round_trips() -> None:
    gate, _, run = _gate()
    tr = make_trade(4, run=run)
    tr.waiting = "no_bid"
    gate.flag("position NIFTY: broker 75, journal 0")
    gate.halt_on_loss(at(0), -1.0)
    gate.update(at(0), [tr])
    saved = json.loads(json.dumps(gate.state_dict()))
    other, got2, _ = _gate()
    other.restore(saved)
    assert other.state_dict() == gate.state_dict()
    assert other.state is TradingState.HALTED and other.halted == "daily_loss"
    # the restored gate knows its state: the same inputs change nothing, so journal nothing
    assert other.update(at(1), [tr]) is TradingState.HALTED
    assert got2.events == []
