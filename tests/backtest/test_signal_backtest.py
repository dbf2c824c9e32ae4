"""Backtests driven by an external entry signal (as in the W1 benchmark): the fast paths that
skip quiet flat bars and walk a position's calm bars change nothing, and the next_bar rules hold
on real runs."""

from __future__ import annotations

import copy
import datetime as dt
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyntrail.core.config_load import config_from_mapping, load_config
from dyntrail.data.synthetic import generate, weekdays
from dyntrail.runners.backtest import run_signal_backtest

CFG = load_config(Path(__file__).resolve().parents[2] / "examples" / "w1.toml")


def _run(tmp: Path, name: str, fast: bool):  # type: ignore[no-untyped-def]
    m = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 14)), seed=8, n_spikes=3)
    signals = (np.random.default_rng(3).random(m.close.size) < 0.01).tolist()
    path = tmp / f"{name}.jsonl"
    trades = run_signal_backtest(
        CFG, m.timestamps, m.open, m.high, m.low, m.close, m.volume, m.vix, signals, path, fast=fast
    )
    return trades, path.read_bytes(), m


def test_fast_path_changes_no_trade_and_no_journal_byte(tmp_path: Path) -> None:
    slow, slow_journal, _ = _run(tmp_path, "slow", fast=False)
    fast, fast_journal, _ = _run(tmp_path, "fast", fast=True)
    assert len(slow) > 10
    assert [t.row() for t in fast] == [t.row() for t in slow]
    assert fast_journal == slow_journal


def test_next_bar_exits_obey_w1_rules(tmp_path: Path) -> None:
    trades, _, m = _run(tmp_path, "rules", fast=True)
    starts = m.timestamps.astype("datetime64[s]")
    for t in trades:
        row = t.row()
        exit_close = np.datetime64(row["exit_ts"][:19])
        i = int(np.flatnonzero(starts + np.timedelta64(60, "s") == exit_close)[0])
        price = row["exit_price"]
        if row["exit_reason"] == "exit_stop":  # min(open, stop): never above the bar's open
            assert price <= m.open[i] + 1e-9 and price >= m.low[i] - 1e-9
        elif row["exit_reason"] == "exit_target1":  # max(open, target): never below the target
            assert price >= row["t1"] - 0.01 and price <= m.high[i] + 1e-9
        else:
            assert row["exit_reason"] in ("exit_eod", "exit_breaker")  # at the close
            assert price == m.close[i]


# --------------------------------------------------------------------------- walking calm bars
# ``hold`` walks a position's bars that can only move its stop in one loop. Any configuration
# and data must give the journal of the bar-by-bar run, byte for byte.

_W1 = tomllib.loads((Path(__file__).resolve().parents[2] / "examples" / "w1.toml").read_text())


def _variant(  # type: ignore[no-untyped-def]
    time_stop: int, loss_pct: float, policy: str, tier_trail: bool, scale: bool, near: bool = False
):
    raw = copy.deepcopy(_W1)
    s = raw["strategy"]
    s["risk"]["time_stop_min"] = time_stop
    if near:  # break-even and targets close to the entry, a loose trail: they are reached
        s["risk"].update(sl_underlying_pct=0.002, trail_to_be_underlying_pct=0.0008)
        s["targets"]["base_rr"] = 1.0
        s["atr"]["multiplier_trail"] = 5.0
    s["breaker"] = {"policy": policy, "spike_points": 2.0}
    raw["limits"]["daily_loss_limit_pct"] = loss_pct
    if tier_trail:  # the regime upgrade: the trail's rule changes with the tier before each bar
        s["trail"]["by_tier"] = {"high": {"method": "swing"}, "normal": {"multiplier": 1.5}}
        s["trail"]["swing_bars"] = 3
    if scale:  # two lots: half out at T1, the rest trails to T2
        s["targets"]["scale_out_ratio"] = 0.5
        raw["account"]["lots_per_trade"] = 2
    return config_from_mapping(raw)


def _both(tmp: Path, cfg, seed: int, tag: str):  # type: ignore[no-untyped-def]
    m = generate(weekdays(dt.date(2025, 6, 2), dt.date(2025, 6, 11)), seed=seed, n_spikes=4)
    signals = (np.random.default_rng(seed).random(m.close.size) < 0.02).tolist()
    out = []
    for fast in (False, True):
        path = tmp / f"{tag}-{fast}.jsonl"
        path.unlink(missing_ok=True)  # a journal that exists would be continued
        trades = run_signal_backtest(
            cfg, m.timestamps, m.open, m.high, m.low, m.close, m.volume, m.vix, signals, path,
            fast=fast,
        )  # fmt: skip
        out.append(([t.row() for t in trades], path.read_bytes()))
    return out


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    time_stop=st.sampled_from([100_000, 12, 40]),
    loss_pct=st.sampled_from([0.99, 0.0003, 0.0008]),
    policy=st.sampled_from(["flatten", "block_entries"]),
    tier_trail=st.booleans(),
    scale=st.booleans(),
    near=st.booleans(),
)
def test_walking_calm_bars_changes_no_journal_byte(
    tmp_path: Path,
    seed: int,
    time_stop: int,
    loss_pct: float,
    policy: str,
    tier_trail: bool,
    scale: bool,
    near: bool,
) -> None:
    cfg = _variant(time_stop, loss_pct, policy, tier_trail, scale, near)
    (slow_rows, slow_j), (fast_rows, fast_j) = _both(tmp_path, cfg, seed, f"s{seed}")
    assert fast_rows == slow_rows
    assert fast_j == slow_j


def test_walked_stretches_meet_every_rule_that_ends_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fixed case in which the walk is cut short by each kind of event: stops, targets,
    scale-outs, time stops, loss halts, breaker exits, flatten; and it equals bar by bar."""
    from dyntrail.engine.fast import Stretches

    walked = [0]
    hold = Stretches.hold

    def counting_hold(self, i, *args):  # type: ignore[no-untyped-def]
        k = hold(self, i, *args)
        walked[0] += k - i
        return k

    monkeypatch.setattr(Stretches, "hold", counting_hold)
    cfg = _variant(40, 0.0002, "flatten", True, True, near=True)
    kinds: set[str] = set()
    reasons: set[str] = set()
    for seed in (1, 2, 3):
        (slow_rows, slow_j), (fast_rows, fast_j) = _both(tmp_path, cfg, seed, f"k{seed}")
        assert fast_rows == slow_rows and fast_j == slow_j
        for line in fast_j.splitlines():
            ev = json.loads(line)
            kinds.add(ev["kind"])
            if ev["kind"] == "stop_moved":
                reasons.add(ev["reason"])
        reasons |= {r["exit_reason"] for r in fast_rows}
    assert {"risk_halt", "breaker_tripped", "t1_hit", "stop_moved"} <= kinds
    assert {"break_even", "trail", "exit_stop", "exit_time", "exit_target2"} <= reasons
    assert walked[0] > 1000  # the fast runs did walk bars in one loop


def test_an_atr_handed_in_is_used_as_the_engines_own(tmp_path: Path) -> None:
    from dyntrail.core.indicators import atr

    m = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 7)), seed=5)
    signals = (np.random.default_rng(5).random(m.close.size) < 0.02).tolist()
    args = (CFG, m.timestamps, m.open, m.high, m.low, m.close, m.volume, m.vix, signals)
    own = run_signal_backtest(*args, tmp_path / "own.jsonl")
    given = run_signal_backtest(
        *args, tmp_path / "given.jsonl", atr=atr(m.high, m.low, m.close, CFG.strategy.atr_period)
    )
    assert [t.row() for t in given] == [t.row() for t in own]
    assert (tmp_path / "given.jsonl").read_bytes() == (tmp_path / "own.jsonl").read_bytes()
    wider = run_signal_backtest(*args, tmp_path / "wide.jsonl", atr=np.full(m.close.size, 50.0))
    assert [t.row()["stop_initial"] for t in wider] != [t.row()["stop_initial"] for t in own]


def test_few_collections_restores_the_collectors_thresholds() -> None:
    import gc

    from dyntrail.runners.backtest import few_collections

    before = gc.get_threshold()
    with few_collections(12_345):
        assert gc.get_threshold()[0] == max(12_345, before[0])
    assert gc.get_threshold() == before
    try:
        with few_collections():
            raise KeyError("boom")
    except KeyError:
        pass
    assert gc.get_threshold() == before


def test_with_room_for_more_positions_the_fast_path_changes_nothing(tmp_path: Path) -> None:
    """A walked stretch does not stop at a signal: with room for a second position it must not
    run (a signal inside it would open one). Fast and bar by bar stay equal to the byte."""
    raw = copy.deepcopy(_W1)
    raw["limits"]["max_open_positions"] = 3
    cfg = config_from_mapping(raw)
    for seed in (1, 2):
        (slow_rows, slow_j), (fast_rows, fast_j) = _both(tmp_path, cfg, seed, f"m{seed}")
        assert fast_rows == slow_rows and fast_j == slow_j
        opened = [r for r in slow_rows]
        assert any(  # more than one open at once
            a["entry_ts"] < b["exit_ts"] and b["entry_ts"] < a["exit_ts"]
            for a in opened
            for b in opened
            if a["trade_id"] < b["trade_id"]
        )


# --------------------------------------------------------------------------- the daily loss limit


@pytest.mark.parametrize("seed", [8, 21])
def test_a_close_that_reaches_the_loss_limit_halts_the_day_at_once(
    tmp_path: Path, seed: int
) -> None:
    """A stop that takes the day's realized PnL to the limit halts the day at that bar's close,
    flat: no entry follows that day (before, the next signal still entered, and the halt came
    only at that trade's first close)."""
    raw = copy.deepcopy(_W1)
    raw["limits"]["daily_loss_limit_pct"] = 0.00005  # 50 rupees: a stop or two of one unit
    cfg = config_from_mapping(raw)
    m = generate(weekdays(dt.date(2025, 3, 3), dt.date(2025, 3, 14)), seed=seed, n_spikes=0)
    signals = (np.random.default_rng(seed).random(m.close.size) < 0.05).tolist()
    path = tmp_path / "j.jsonl"
    trades = run_signal_backtest(
        cfg, m.timestamps, m.open, m.high, m.low, m.close, m.volume, m.vix, signals, path
    )
    floor = -cfg.account.capital_inr * 0.00005
    halts = [ev["ts"] for ev in map(json.loads, path.read_text().splitlines())
             if ev["kind"] == "risk_halt"]  # fmt: skip
    stopped = {t.exit_ts for t in trades if t.exit_reason != "exit_risk"}
    assert any(ts in stopped for ts in halts), "no halt at the close of a trade's own exit"
    for t in trades:  # no entry once the day's realized PnL is at the limit
        day = t.entry_ts[:10]
        realized = sum(
            x.pnl_net() for x in trades if x.exit_ts[:10] == day and x.exit_ts <= t.entry_ts
        )
        assert realized > floor, (t.trade_id, realized)
