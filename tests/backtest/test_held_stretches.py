"""A backtest walks a position's bars that cannot make it act in one loop (``Stretches.hold``:
options or the underlying, path or next-bar semantics, the mark at every close and the equity
curve): the journal and the rows of every table equal those of the run in which every such bar
goes through ``on_bar``, to the byte, with the stop's variants (swing trail, trail from the
entry, per-tier rules, three lots), model and recorded option quotes, and the rules that end a
walk (the daily loss limit, the breaker's flatten, a short time stop)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyntrail.core.config_load import parse_config
from dyntrail.data.builtin import synth_to_folder, write_folder
from dyntrail.data.calendar import trading_days
from dyntrail.data.options_record import write_option_quotes
from dyntrail.data.synthetic import generate
from dyntrail.engine.fast import Stretches
from dyntrail.journal import Journal
from dyntrail.runners import backtest
from dyntrail.runners.plan import plan_run

CONFIGS = {
    "defaults": "",
    "next bar": '[strategy.bars]\nsemantics = "next_bar"\n',
    "swing trail": '[strategy.trail]\nmethod = "swing"\n',
    "trail from entry": (
        '[strategy.trail]\nstart = "entry"\n[strategy.targets]\nsingle_lot_at_t1 = "skip"\n'
        "[account]\nlots_per_trade = 1\n"
    ),
    "three lots, tier rules": (
        '[account]\nlots_per_trade = 3\n[strategy.trail.by_tier.reduced]\nmethod = "swing"\n'
        "[strategy.trail.by_tier.high]\nmultiplier = 1.5\n"
    ),
    "the underlying": '[instrument]\ntrade = "underlying"\n',
    "the underlying, next bar": (
        '[instrument]\ntrade = "underlying"\n[strategy.bars]\nsemantics = "next_bar"\n'
    ),
    "loss limit": "[limits]\ndaily_loss_limit_pct = 0.0015\n",
    "breaker": "[strategy.breaker]\nspike_points = 0.5\n",
    "time stop": "[strategy.risk]\ntime_stop_min = 4\n",
}


def _run(
    text: str, data: Path, out: Path, hold: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[bytes, Any, int]:
    """(journal bytes, rows, bars walked) of one backtest; ``hold`` False: no position walk."""
    cfg = parse_config(text)
    plan = plan_run(cfg, data)
    walked = [0]
    real = Stretches.hold

    def counting(self: Stretches, i: int, *args: Any) -> int:
        k = real(self, i, *args)
        walked[0] += k - i
        return k

    with monkeypatch.context() as mp:
        mp.setattr(Stretches, "hold", counting)
        if not hold:
            mp.setattr(Stretches, "calm", lambda self: False)
        path = out / f"journal-{'hold' if hold else 'bars'}.jsonl"
        path.unlink(missing_ok=True)  # a journal that exists would be continued
        with Journal(path) as journal:
            rows = backtest.simulate(cfg, plan, journal, seed=7)
    return path.read_bytes(), rows, walked[0]


def _same(text: str, data: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, Any]:
    """Both runs, held equal; returns the walking run's journal and rows."""
    held_journal, held, walked = _run(text, data, out, True, monkeypatch)
    bars_journal, bars, none = _run(text, data, out, False, monkeypatch)
    assert none == 0
    assert walked > 0, "the position's bars should be walked"
    assert held_journal == bars_journal
    assert (held.trades, held.fills, held.equity) == (bars.trades, bars.fills, bars.equity)
    assert (held.bars_total, held.bars_in_position) == (bars.bars_total, bars.bars_in_position)
    return held_journal, held


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A month of synthetic bars with recorded option quotes (some of which stop)."""
    folder = synth_to_folder(tmp_path_factory.mktemp("recorded"), months=1, seed=11, fmt="csv")
    write_option_quotes(folder, fmt="csv", strikes_each_side=3, stop_quotes=0.05)
    return folder


@pytest.mark.parametrize("name", CONFIGS)
def test_walking_a_position_changes_nothing(
    name: str, month: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, rows = _same(CONFIGS[name], month, tmp_path, monkeypatch)
    assert rows.trades, "the month should trade"
    kinds = {json.loads(line)["kind"] for line in journal.splitlines()}
    assert "stop_moved" in kinds
    if name == "loss limit":
        assert "risk_halt" in kinds
    if name == "breaker":
        assert "exit_breaker" in {r["exit_reason"] for r in rows.trades}
    if name == "time stop":
        assert "exit_time" in {r["exit_reason"] for r in rows.trades}


@pytest.mark.parametrize("name", ["defaults", "next bar"])
def test_walking_with_recorded_quotes_changes_nothing(
    name: str, recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, rows = _same(CONFIGS[name], recorded, tmp_path, monkeypatch)
    assert rows.trades


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    semantics=st.sampled_from(["path", "next_bar"]),
    trade=st.sampled_from(["options", "underlying"]),
    trail=st.sampled_from(["atr", "swing"]),
    start=st.sampled_from(["t1", "entry"]),
    lots=st.sampled_from([1, 2, 3]),
    loss_pct=st.sampled_from([0.02, 0.002, 0.0008]),
    time_stop=st.sampled_from([30, 6]),
)
def test_walking_generated_weeks_changes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    semantics: str,
    trade: str,
    trail: str,
    start: str,
    lots: int,
    loss_pct: float,
    time_stop: int,
) -> None:
    days = trading_days(dt.date(2025, 6, 2), dt.date(2025, 6, 13))
    data = tmp_path / f"d{seed}"
    if not data.exists():
        write_folder(generate(days, seed=seed, n_spikes=3), data, fmt="csv")
    text = (
        f'[strategy.bars]\nsemantics = "{semantics}"\n'
        f'[strategy.trail]\nmethod = "{trail}"\nstart = "{start}"\n'
        f"[strategy.risk]\ntime_stop_min = {time_stop}\n"
        "[strategy.breaker]\nspike_points = 2.0\n"
        f'[instrument]\ntrade = "{trade}"\n'
        f"[account]\nlots_per_trade = {lots}\n"
        f"[limits]\ndaily_loss_limit_pct = {loss_pct}\n"
    )
    _same(text, data, tmp_path, monkeypatch)
