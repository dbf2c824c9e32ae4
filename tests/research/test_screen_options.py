"""The options screening kernel is trade-identical to the engine on the configurations it
supports: for generated data, VIX paths and parameter sets (hypothesis), every trade's entry
and exit time, exit reason, strike, quantity, fill prices, costs and net PnL equal the engine's
(an options backtest with entries from the signal and quotes from the pricing model), bit for
bit; the many-sets kernel gives each set's trade count and PnL; its pricing, rounding and costs
equal the Python code's; what it does not support is refused, naming why."""

from __future__ import annotations

import copy
import datetime as dt
import math
import tempfile
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyntrail.core import indicators as ind
from dyntrail.core.config_load import config_from_mapping
from dyntrail.core.costs import exercise_costs, order_costs, rate_on
from dyntrail.core.events import Fill
from dyntrail.data.options_synth import QuoteModelParams, SyntheticQuotes
from dyntrail.data.synthetic import generate, weekdays
from dyntrail.errors import ConfigError
from dyntrail.journal import read_events
from dyntrail.runners.backtest import run_signal_backtest

pytest.importorskip("numba")
from dyntrail.research import option_kernel as ok
from dyntrail.research.screen import Bars, apply_row, bars_of, best, confirm, params_of, screen
from dyntrail.research.screen_options import (
    K_BROKERAGE,
    K_GST,
    K_IPFT,
    K_SEBI,
    K_STAMP,
    REASONS,
    OptionBars,
    engine_rows,
    kernel_rows,
    quote_params,
    trades,
)

W1 = tomllib.loads((Path(__file__).resolve().parents[2] / "examples" / "w1.toml").read_text())
_MARKETS: dict[tuple[int, bool], Any] = {}


def _market(seed: int, thursdays: bool = True) -> Any:
    """Ten sessions over two weekly expiries (Thursdays; ``thursdays=False``: without their
    bars) and the ATR the engine would compute."""
    key = (seed, thursdays)
    if key not in _MARKETS:
        days = weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 14))
        if not thursdays:
            days = [d for d in days if d.weekday() != 3]
        m = generate(days, seed=seed, n_spikes=1)
        _MARKETS[key] = (m, ind.atr(m.high, m.low, m.close, 14))
    return _MARKETS[key]


def _cfg(row: Any = None, **keys: Any) -> Any:
    """W1's rules on NIFTY options (its lots, the default costs, a loss limit of 2 % of
    200,000), with ``keys`` ("section.key": value) on top and ``row``'s parameters."""
    raw = copy.deepcopy(W1)
    raw["instrument"] = {"trade": "options"}
    del raw["costs"]
    raw["account"] = {"capital_inr": 200_000.0, "lots_per_trade": 1}
    raw["limits"]["daily_loss_limit_pct"] = 0.02
    for key, value in keys.items():
        *path, last = key.split(".")
        node = raw
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    cfg = config_from_mapping(raw)
    return cfg if row is None else apply_row(cfg, row)


def _vix(m: Any, mode: str) -> Any:
    """The generated VIX as it is (its tiers change the target), kept in the NORMAL tier, or
    scaled down to a few points (options lose their bid: exits wait, carry, settle)."""
    if mode == "raw":
        return m.vix
    if mode == "normal":
        return np.clip(m.vix, 12.5, 17.5)
    return m.vix * 0.15


def _both(cfg: Any, m: Any, atr: Any, vix: Any, sig: Any) -> tuple[list[Any], list[Any], Any]:
    """(the engine's trades, the kernel's, as ``screen_options.Row``s; the kernel's table)."""
    with tempfile.TemporaryDirectory() as d:
        closed = run_signal_backtest(cfg, m.timestamps, m.open, m.high, m.low, m.close,
                                     m.volume, vix, sig, Path(d) / "j.jsonl", atr=atr)  # fmt: skip
    bars = OptionBars.of(cfg, m.timestamps, m.open, m.high, m.low, m.close, atr, vix, sig)
    table = trades(bars, params_of(cfg))
    return engine_rows(closed), kernel_rows(bars, table), (bars, table)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(1, 3),
    thursdays=st.booleans(),
    vix_mode=st.sampled_from(["raw", "normal", "low"]),
    density=st.sampled_from([0.01, 0.04]),
    row=st.tuples(
        st.floats(0.002, 0.03),
        st.floats(0.3, 4.0),
        st.floats(0.0005, 0.01),
        st.one_of(st.just(0.0), st.floats(0.3, 4.0)),
        st.one_of(st.floats(0.3, 6.0), st.floats(20.0, 60.0)),
    ),
    costs=st.booleans(),
    loss=st.sampled_from([0.005, 0.02, 0.99]),
    lots=st.integers(1, 3),
    reenter=st.booleans(),
    skip_expiry=st.booleans(),
    gap_pct=st.sampled_from([0.005, 0.001]),
    flatten=st.sampled_from(["15:16:00", "15:30:00"]),
    guards=st.booleans(),
)
def test_trade_identical_to_the_engine(
    seed: int,
    thursdays: bool,
    vix_mode: str,
    density: float,
    row: tuple[float, ...],
    costs: bool,
    loss: float,
    lots: int,
    reenter: bool,
    skip_expiry: bool,
    gap_pct: float,
    flatten: str,
    guards: bool,
) -> None:
    m, atr = _market(seed, thursdays)
    vix = _vix(m, vix_mode)
    sig = np.random.default_rng(seed).random(m.close.size) < density
    keys: dict[str, Any] = {
        "limits.daily_loss_limit_pct": loss,
        "account.lots_per_trade": lots,
        "strategy.entries.reenter_same_bar": reenter,
        "strategy.entries.gap_pct": gap_pct,
        "strategy.time.flatten": flatten,
        "options.skip_expiry_day": skip_expiry,
    }
    if not costs:
        keys["costs"] = W1["costs"]
    if not guards:
        keys |= {"options.min_premium_inr": 0.0, "options.min_minutes_to_expiry": 0}
    cfg = _cfg(row, **keys)
    want, got, _ = _both(cfg, m, atr, vix, sig)
    assert got == want  # bit for bit
    bars = OptionBars.of(cfg, m.timestamps, m.open, m.high, m.low, m.close, atr, vix, sig)
    many = screen(bars, np.vstack([params_of(cfg)] * 2))
    assert many.trades.tolist() == [len(want)] * 2
    assert many.wins[0] == sum(r[8] > 0 for r in want)
    total = 0.0
    for r in want:
        total += r[8]
    assert many.pnl[0] == total  # the same sum, in the same order


def test_every_exit_kind_and_path_is_seen_and_equal() -> None:
    """Fixed runs that between them exit by every reason (stop, target, flatten, loss limit,
    breaker, a carried position's next open, expiry settlement), wait for a bid and sell at a
    later open, settle an expiry the data has no bars of and buy a gap morning's strike away
    from ATM: all equal to the engine."""
    runs = [
        (1, True, "raw", 0.04, (0.004, 0.6, 0.002, 1.5, 2.0), {}),
        (2, True, "raw", 0.04, (0.01, 3.0, 0.006, 0.0, 5.0), {"strategy.entries.gap_pct": 0.001}),
        (3, False, "low", 0.04, (0.004, 3.0, 0.01, 0.0, 40.0), {"options.min_premium_inr": 0.0,
         "options.min_minutes_to_expiry": 0, "limits.daily_loss_limit_pct": 0.99}),
        (1, True, "low", 0.04, (0.004, 3.0, 0.01, 0.0, 40.0), {"options.min_premium_inr": 0.0,
         "options.min_minutes_to_expiry": 0, "limits.daily_loss_limit_pct": 0.99,
         "strategy.time.flatten": "15:30:00"}),
    ]  # fmt: skip
    reasons: Counter[str] = Counter()
    at_open = off_atm = 0
    for seed, thursdays, mode, density, row, keys in runs:
        m, atr = _market(seed, thursdays)
        vix = _vix(m, mode)
        sig = np.random.default_rng(seed).random(m.close.size) < density
        cfg = _cfg(row, **keys)
        want, got, (bars, table) = _both(cfg, m, atr, vix, sig)
        assert got == want
        reasons.update(r[2] for r in want)
        # an exit that waited for a bid, sold at a later bar's open
        at_open += sum(r[9] == bars.start_sec[int(r[1])] and int(r[4]) < 5 for r in table)
        closes = dict(zip((m.timestamps.astype("datetime64[s]").astype(np.int64) + 60).tolist(),
                          m.close.tolist(), strict=True))  # fmt: skip
        off_atm += sum(r[3] != math.floor(closes[r[0]] / 50 + 0.5 + 1e-9) * 50 for r in want)
    assert set(reasons) == set(REASONS), reasons
    assert at_open > 0 and off_atm > 0


def test_the_engine_confirms_the_best_of_an_options_screen(tmp_path: Path) -> None:
    m, atr = _market(3)
    vix = _vix(m, "normal")
    sig = np.random.default_rng(3).random(m.close.size) < 0.03
    base = _cfg()
    bars = bars_of(base, m.timestamps, m.open, m.high, m.low, m.close, atr, vix, sig)
    assert isinstance(bars, OptionBars)
    rng = np.random.default_rng(1)
    grid = np.column_stack([rng.uniform(0.002, 0.01, 300), rng.uniform(0.5, 3, 300),
                            rng.uniform(0.001, 0.006, 300), rng.uniform(0, 3, 300),
                            rng.uniform(0.5, 4, 300)])  # fmt: skip
    res = screen(bars, grid)
    top = best(res, 2, by="sharpe")
    assert len(top) == 2 and res.sharpe[top[0]] == res.sharpe.max()
    # (confirm raises when a trade of the engine differs from the kernel's)
    runs = confirm(base, m.timestamps, m.open, m.high, m.low, m.close, m.volume, atr, vix, sig,
                   grid[top], tmp_path)  # fmt: skip
    for k, closed in zip(top, runs, strict=True):
        assert len(closed) == res.trades[k]
        total = 0.0
        for t in closed:
            total += t.pnl_net()
        assert total == res.pnl[k]


def test_what_it_does_not_support_is_refused() -> None:
    m, atr = _market(1)
    sig = np.zeros(m.close.size, dtype=bool)
    vix = _vix(m, "normal")
    args = (m.timestamps, m.open, m.high, m.low, m.close, atr, vix, sig)
    cfg = _cfg(**{"strategy.targets.scale_out_ratio": 0.5, "limits.max_open_positions": 2,
                  "strategy.risk.time_stop_min": 30})  # fmt: skip
    with pytest.raises(ConfigError, match=r"scale_out_ratio.*time_stop_min.*max_open_positions"):
        bars_of(cfg, *args)
    with pytest.raises(ConfigError, match="OptionBars"):
        Bars.of(_cfg(), *args)
    with pytest.raises(ConfigError, match="freeze quantity 1800"):
        OptionBars.of(_cfg(**{"account.lots_per_trade": 30, "limits.max_lots": 30}), *args)
    odd = _cfg(**{"instrument.spec": {"strike_step": 2.5, "tick_size": 0.1}})
    with pytest.raises(ConfigError, match=r"strike_step") as refused:
        OptionBars.of(odd, *args)
    assert "tick_size" not in str(refused.value)  # another tick is the model's too


@pytest.mark.parametrize("tick", [0.1, 0.5])
def test_an_instrument_of_another_tick_is_quoted_and_traded_on_it(tick: float) -> None:
    """The model quotes an instrument's options on its own tick (``[instrument.spec]
    tick_size``), as its orders are priced: every fill on the grid, the kernel equal to the
    engine."""
    m, atr = _market(1, True)
    vix = _vix(m, "raw")
    sig = np.random.default_rng(1).random(m.close.size) < 0.04
    cfg = _cfg(**{"instrument.spec": {"tick_size": tick}})
    want, got, _ = _both(cfg, m, atr, vix, sig)
    assert want and got == want
    with tempfile.TemporaryDirectory() as d:
        run_signal_backtest(cfg, m.timestamps, m.open, m.high, m.low, m.close, m.volume, vix,
                            sig, Path(d) / "j.jsonl", atr=atr)  # fmt: skip
        fills = [e for e in read_events(Path(d) / "j.jsonl") if isinstance(e, Fill)]
    assert fills and all(abs(f.price / tick - round(f.price / tick)) < 1e-6 for f in fills)


def test_pricing_rounding_and_costs_equal_the_python_code() -> None:
    rng = np.random.default_rng(0)
    # round(x, 2) and round(x, 9), ties included
    xs = np.concatenate([rng.uniform(-1e5, 1e5, 20_000), (rng.integers(0, 10**7, 20_000) + 0.5)
                         / 100, [0.125, 0.375, 2.675, 1.005, -0.125, 0.0]])  # fmt: skip
    assert all(ok.round_dec(x, 100.0) == round(x, 2) for x in xs.tolist())
    assert all(ok.round_dec(x, 1e9) == round(x, 9) for x in rng.uniform(0, 1, 20_000).tolist())
    # the model's quote and last, expiry (t = 0) included
    cfg = _cfg()
    model = SyntheticQuotes(QuoteModelParams(r=cfg.options.risk_free_rate))
    qp = quote_params(cfg)
    n = 20_000
    spots = rng.uniform(15_000, 30_000, n)
    strikes = np.round(spots / 50 + rng.integers(-10, 11, n)) * 50
    years = np.where(rng.random(n) < 0.05, 0.0, rng.uniform(0, 40, n) / 365)
    for s, k, t, v in zip(spots.tolist(), strikes.tolist(), years.tolist(),
                          rng.uniform(1, 40, n).tolist(), strict=True):  # fmt: skip
        q = model.quote(s, k, "CE", t, v)
        assert ok.quote(s, k, t, v, qp) == (q.bid, q.ask, q.last, q.delta)
        assert ok.quote_last(s, k, t, v, qp) == q.last
        assert ok.quote_bid(s, k, t, v, qp) == q.bid
    # an order's and an exercise's costs
    c, day = cfg.costs, dt.date(2025, 3, 3)
    kc = np.zeros(K_GST + 1)
    kc[[K_BROKERAGE, K_SEBI, K_IPFT, K_STAMP, K_GST]] = (
        c.brokerage_per_order_inr, c.sebi_per_crore_inr, c.ipft_per_crore_inr, c.stamp_buy_pct,
        c.gst_pct)  # fmt: skip
    stt, txn = rate_on(c.stt_sell_pct, day, "x"), rate_on(c.exchange_txn_pct, day, "x")
    exercise = rate_on(c.exercise_stt_pct, day, "x")
    for value in (rng.integers(1, 40_000, 5_000) / 20.0 * rng.integers(1, 200, 5_000)).tolist():
        for buy in (True, False):
            want = order_costs(c, day, is_buy=buy, value_inr=value, futures=False).total
            assert ok.order_cost(value, buy, stt, txn, kc, True) == want
        want = exercise_costs(c, day, intrinsic_value_inr=value).total
        assert ok.exercise_cost(value, exercise) == want
