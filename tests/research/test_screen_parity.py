"""The screening kernel is trade-identical to the engine on the configurations it supports:
for generated data and parameter sets (hypothesis), every trade's entry and exit bar, prices
and reason equal ``run_signal_backtest``'s, bit for bit; the many-sets kernel gives each
set's trades and PnL; what it does not support is refused, naming why."""

from __future__ import annotations

import copy
import datetime as dt
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyntrail.core import indicators as ind
from dyntrail.core.config_load import config_from_mapping
from dyntrail.data.synthetic import generate, weekdays
from dyntrail.errors import ConfigError
from dyntrail.runners.backtest import run_signal_backtest

pytest.importorskip("numba")
from dyntrail.research.screen import EOD, STOP, TARGET, Bars, params_of, screen, trades

W1 = tomllib.loads((Path(__file__).resolve().parents[2] / "examples" / "w1.toml").read_text())
REASON = {"exit_stop": STOP, "exit_target1": TARGET, "exit_eod": EOD}
_MARKETS: dict[int, Any] = {}


def _market(seed: int) -> Any:
    if seed not in _MARKETS:
        m = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 12)), seed=seed, n_spikes=0)
        _MARKETS[seed] = (m, ind.atr(m.high, m.low, m.close, 14))
    return _MARKETS[seed]


def _cfg(sl: float, rr: float, be: float, k: float, mult: float) -> Any:
    raw = copy.deepcopy(W1)
    raw["strategy"]["risk"].update(
        sl_underlying_pct=sl, trail_to_be_underlying_pct=be, initial_stop_atr_mult=k
    )
    raw["strategy"]["targets"]["base_rr"] = rr
    raw["strategy"]["atr"]["multiplier_trail"] = mult
    return config_from_mapping(raw)


def _engine_trades(cfg: Any, m: Any, atr: Any, sig: Any) -> list[tuple[float, float, int]]:
    vix = np.full(m.close.size, 15.0)
    with tempfile.TemporaryDirectory() as d:
        closed = run_signal_backtest(cfg, m.timestamps, m.open, m.high, m.low, m.close,
                                     m.volume, vix, sig.tolist(), Path(d) / "j.jsonl",
                                     atr=atr)  # fmt: skip
    return [(t.entry_price, t.exit_value / t.exit_qty, REASON[t.exit_reason]) for t in closed]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(1, 4),
    density=st.sampled_from([0.005, 0.02, 0.08]),
    sl=st.floats(0.001, 0.01),
    rr=st.floats(0.2, 3.0),
    be=st.floats(0.0003, 0.006),
    k=st.one_of(st.just(0.0), st.floats(0.3, 4.0)),
    mult=st.floats(0.3, 5.0),
)
def test_trade_identical_to_the_engine(
    seed: int, density: float, sl: float, rr: float, be: float, k: float, mult: float
) -> None:
    m, atr = _market(seed)
    sig = np.random.default_rng(seed).random(m.close.size) < density
    cfg = _cfg(sl, rr, be, k, mult)
    want = _engine_trades(cfg, m, atr, sig)
    bars = Bars.of(cfg, m.timestamps, m.open, m.high, m.low, m.close, atr,
                   np.full(m.close.size, 15.0), sig)  # fmt: skip
    got = trades(bars, params_of(cfg))
    assert [(r[2], r[3], int(r[4])) for r in got] == want  # bit for bit
    many = screen(bars, np.vstack([params_of(cfg)] * 3))
    assert many.trades.tolist() == [len(want)] * 3
    pnl = sum(x - e for e, x, _ in want)
    assert many.pnl[0] == pytest.approx(pnl, abs=1e-6)


def test_every_exit_kind_is_seen_and_equal() -> None:
    m, atr = _market(2)
    sig = np.random.default_rng(9).random(m.close.size) < 0.05
    kinds = set()
    for params in ((0.002, 0.6, 0.0008, 1.5, 1.0), (0.01, 3.0, 0.006, 0.0, 6.0)):
        cfg = _cfg(*params)
        bars = Bars.of(cfg, m.timestamps, m.open, m.high, m.low, m.close, atr,
                       np.full(m.close.size, 15.0), sig)  # fmt: skip
        got = trades(bars, params_of(cfg))
        kinds |= {int(r[4]) for r in got}
        assert [(r[2], r[3], int(r[4])) for r in got] == _engine_trades(cfg, m, atr, sig)
    assert kinds == {STOP, TARGET, EOD}


def test_what_it_does_not_support_is_refused() -> None:
    m, atr = _market(1)
    sig = np.zeros(m.close.size, dtype=bool)
    flat = np.full(m.close.size, 15.0)
    raw = copy.deepcopy(W1)
    raw["strategy"]["targets"]["scale_out_ratio"] = 0.5
    raw["instrument"]["underlying_slippage_ticks"] = 1
    cfg = config_from_mapping(raw)
    with pytest.raises(ConfigError, match=r"slippage.*scale_out_ratio"):
        Bars.of(cfg, m.timestamps, m.open, m.high, m.low, m.close, atr, flat, sig)
    raw["instrument"]["trade"] = "options"  # the options kernel's (test_screen_options.py)
    with pytest.raises(ConfigError, match="OptionBars"):
        Bars.of(config_from_mapping(raw), m.timestamps, m.open, m.high, m.low, m.close, atr,
                flat, sig)  # fmt: skip
    ok = _cfg(0.006, 2.0, 0.004, 2.5, 2.5)
    with pytest.raises(ConfigError, match="leaves the NORMAL tier"):
        Bars.of(ok, m.timestamps, m.open, m.high, m.low, m.close, atr, flat + 10, sig)
    with pytest.raises(ConfigError, match="VIX moves"):
        Bars.of(ok, m.timestamps, m.open, m.high, m.low, m.close, atr, flat + sig * 0.5 +
                np.arange(m.close.size) % 2 * 0.1, sig)  # fmt: skip


def test_the_engine_confirms_the_best_of_a_screen(tmp_path: Path) -> None:
    from dyntrail.research.screen import best, confirm

    m, atr = _market(3)
    sig = np.random.default_rng(3).random(m.close.size) < 0.03
    base = _cfg(0.006, 2.0, 0.004, 2.5, 2.5)
    vix = np.full(m.close.size, 15.0)
    bars = Bars.of(base, m.timestamps, m.open, m.high, m.low, m.close, atr, vix, sig)
    rng = np.random.default_rng(1)
    grid = np.column_stack([rng.uniform(0.002, 0.01, 400), rng.uniform(0.5, 3, 400),
                            rng.uniform(0.001, 0.006, 400), rng.uniform(0, 3, 400),
                            rng.uniform(0.5, 4, 400)])  # fmt: skip
    res = screen(bars, grid)
    top = best(res, 3)
    assert len(top) == 3 and res.pnl[top[0]] == res.pnl.max()
    runs = confirm(base, m.timestamps, m.open, m.high, m.low, m.close, m.volume, atr, vix, sig,
                   grid[top], tmp_path)  # fmt: skip
    for k, closed in zip(top, runs, strict=True):
        assert len(closed) == res.trades[k]
        got = sum(t.exit_value / t.exit_qty - t.entry_price for t in closed)
        assert got == pytest.approx(res.pnl[k], abs=1e-6)
