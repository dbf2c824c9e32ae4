"""A backtest driven by the entry gates accounts for the flat bars they refuse whatever the state
in one step (``runners.backtest.gated_paths``): the journal and the rows of every table equal a
bar-by-bar run's to the byte, on a generated month, with the gates' variants (ADX or VWAP bias,
with or without the VWAP gate, a narrow window, one entry a day), trading the underlying, and
with the next-bar semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from dyntrail.core.config_load import parse_config
from dyntrail.journal import Journal
from dyntrail.runners import backtest
from dyntrail.runners.plan import plan_run

CONFIGS = {
    "defaults": "",
    "vwap bias, no gate": "[strategy.entries]\nadx_bias = false\nvwap_gate = false\n",
    "vwap bias, gate, window": (
        "[strategy.entries]\nadx_bias = false\nmax_trades_per_day = 5\n\n"
        '[strategy.time]\nentry_start = "09:45:30"\nentry_end = "14:00"\n'
    ),
    "adx only, one a day": "[strategy.entries]\nvwap_gate = false\nmax_trades_per_day = 1\n",
    "the underlying": '[instrument]\ntrade = "underlying"\n',
    "next bar": '[strategy.bars]\nsemantics = "next_bar"\n',
}


def _run(text: str, data: Path, out: Path, fast: bool, monkeypatch: pytest.MonkeyPatch):
    cfg = parse_config(text)
    plan = plan_run(cfg, data)
    with monkeypatch.context() as mp:
        if not fast:
            mp.setattr(backtest, "gated_paths", lambda *args: None)
        path = out / f"journal-{'fast' if fast else 'bars'}.jsonl"
        with Journal(path) as journal:
            rows = backtest.simulate(cfg, plan, journal, seed=7)
    return path.read_bytes(), rows


@pytest.mark.parametrize("name", CONFIGS)
def test_gated_stretches_change_nothing(
    name: str, month: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_journal, fast = _run(CONFIGS[name], month, tmp_path, True, monkeypatch)
    bars_journal, bars = _run(CONFIGS[name], month, tmp_path, False, monkeypatch)
    assert fast.trades, "the month should trade"
    assert fast_journal == bars_journal
    assert (fast.trades, fast.fills, fast.equity) == (bars.trades, bars.fills, bars.equity)
    assert (fast.bars_total, fast.bars_in_position) == (bars.bars_total, bars.bars_in_position)


def test_the_progress_reaches_every_bar(month: Path, tmp_path: Path) -> None:
    cfg = parse_config("")
    plan = plan_run(cfg, month)
    seen: list[tuple[int, int]] = []
    with Journal(tmp_path / "journal.jsonl") as journal:
        backtest.simulate(cfg, plan, journal, seed=7, progress=lambda d, n: seen.append((d, n)))
    n = len(plan.md.bars.timestamps)
    assert seen[-1] == (n, n) and [d for d, _ in seen] == sorted(d for d, _ in seen)
