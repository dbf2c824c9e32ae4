"""Several underlyings in one run (``[[instruments]]``): each trades its own contracts with its
own lots and features, in one account with one daily loss limit and one VIX regime."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import dyntrail
from dyntrail.core.config_load import parse_config
from dyntrail.core.events import DayStart, EntrySignal, RiskHalt
from dyntrail.data.builtin import write_folder
from dyntrail.data.calendar import trading_days
from dyntrail.data.synthetic import generate
from dyntrail.errors import ConfigError, DataError
from dyntrail.journal import read_events

TWO = '[[instruments]]\nname = "NIFTY"\n[[instruments]]\nname = "BANKNIFTY"\n'


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with NIFTY/ and BANKNIFTY/ bars and the India VIX beside them."""
    root = tmp_path_factory.mktemp("two")
    days = trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 14))
    write_folder(generate(days, seed=3), root / "NIFTY")
    write_folder(generate(days, seed=4, start_price=50500.0), root / "BANKNIFTY")
    (root / "BANKNIFTY" / "vix.parquet").unlink()
    (root / "NIFTY" / "vix.parquet").rename(root / "vix.parquet")
    return root


def _underlying(instrument: str) -> str:
    return "BANKNIFTY" if instrument.startswith("BANKNIFTY") else "NIFTY"


def test_both_underlyings_trade_their_own_contracts(two: Path, tmp_path: Path) -> None:
    cfg = parse_config(TWO + "[limits]\nmax_open_positions = 2\n")
    res = dyntrail.backtest(cfg, two, out=tmp_path / "run")
    t = res.trades
    by = t.groupby(t["instrument"].map(_underlying))
    assert set(by.groups) == {"NIFTY", "BANKNIFTY"}
    lots = {name: set(g["qty"]) for name, g in by}
    assert lots == {"NIFTY": {2 * 75}, "BANKNIFTY": {2 * 30}}  # March 2025 lots, two each
    bank = by.get_group("BANKNIFTY")
    assert (bank["strike"] % 100 == 0).all() and (bank["entry_underlying"] > 40_000).all()
    assert all(c["ok"] for c in res.kpis["checks"].values())
    events = read_events(tmp_path / "run" / "journal.jsonl")
    starts = [e for e in events if isinstance(e, DayStart)]
    assert {e.underlying for e in starts} == {"NIFTY", "BANKNIFTY"}
    sessions = {str(e.ts)[:10] for e in starts}
    assert len(sessions) >= 8 and len(starts) == 2 * len(sessions)  # one each per session
    # both open at once at some time (one account, two positions)
    spans = [
        (pd.Timestamp(a), pd.Timestamp(b)) for a, b in zip(t["entry_ts"], t["exit_ts"], strict=True)
    ]
    assert any(
        a0 < b1 and a1 < b0 and _underlying(i) != _underlying(j)
        for (a0, b0), i in zip(spans, t["instrument"], strict=True)
        for (a1, b1), j in zip(spans, t["instrument"], strict=True)
    )


def test_a_run_of_several_is_deterministic(two: Path, tmp_path: Path) -> None:
    cfg = parse_config(TWO)
    dyntrail.backtest(cfg, two, out=tmp_path / "a")
    dyntrail.backtest(cfg, two, out=tmp_path / "b")
    for name in ("journal.jsonl", "trades.csv", "fills.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_one_daily_loss_limit_halts_both(two: Path, tmp_path: Path) -> None:
    cfg = parse_config(TWO + "[limits]\nmax_open_positions = 2\ndaily_loss_limit_pct = 0.001\n")
    dyntrail.backtest(cfg, two, out=tmp_path / "run")
    events = read_events(tmp_path / "run" / "journal.jsonl")
    halts = [e for e in events if isinstance(e, RiskHalt)]
    assert halts
    for h in halts:
        day = str(h.ts)[:10]
        later = [
            e for e in events
            if isinstance(e, EntrySignal) and str(e.ts)[:10] == day and str(e.ts) > str(h.ts)
        ]  # fmt: skip
        assert later == [], f"an entry after the halt of {day}"


def test_the_instruments_are_written_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        parse_config('[instrument]\nname = "BANKNIFTY"\n' + TWO)
    with pytest.raises(ConfigError, match="more than once"):
        parse_config('[[instruments]]\nname = "NIFTY"\n[[instruments]]\nname = "nifty"\n')
    cfg = parse_config(TWO)
    assert [i.name for i in cfg.traded] == ["NIFTY", "BANKNIFTY"]
    assert cfg.instrument.name == "NIFTY"
    assert [i.name for i in parse_config("").traded] == ["NIFTY"]


def test_a_missing_underlying_folder_is_named(two: Path, tmp_path: Path) -> None:
    cfg = parse_config(TWO.replace("BANKNIFTY", "FINNIFTY"))
    with pytest.raises(DataError, match="FINNIFTY"):
        dyntrail.backtest(cfg, two)


def test_paper_trades_several_underlyings_and_resumes_after_a_crash(tmp_path: Path) -> None:
    """A paper session of two underlyings on the synthetic stream (one per underlying, on one
    timeline): both trade; a session that dies at a step and is resumed ends with the same
    trades and fills as one that never stopped."""
    from dyntrail.execution.paper import FaultProfile
    from dyntrail.runners.paper import run_paper

    cfg = parse_config(TWO + "[limits]\nmax_open_positions = 2\n")
    whole = run_paper(cfg, tmp_path / "whole", seed=5, days=2, faults=FaultProfile.none())
    trades = pd.read_csv(tmp_path / "whole" / "trades.csv")
    assert set(trades["instrument"].map(_underlying)) == {"NIFTY", "BANKNIFTY"}
    assert whole.flags == () and all(c["ok"] for c in whole.kpis["checks"].values())

    class Crash(Exception):
        pass

    def die(engine: object, i: int, n: int) -> None:
        if i == 400:
            raise Crash

    with pytest.raises(Crash):
        run_paper(cfg, tmp_path / "cut", seed=5, days=2, faults=FaultProfile.none(), on_bar=die)
    again = run_paper(cfg, tmp_path / "cut", resume=True)
    assert again.bars_done == whole.bars_done
    for name in ("trades.csv", "fills.csv"):
        a = (tmp_path / "whole" / name).read_bytes()
        assert (tmp_path / "cut" / name).read_bytes() == a, name


def test_the_example_config_runs_on_a_folder_of_two(two: Path) -> None:
    from dyntrail.core.config_load import load_config

    example = Path(__file__).resolve().parents[2] / "examples" / "two-underlyings.toml"
    cfg = load_config(example)
    assert [i.name for i in cfg.traded] == ["NIFTY", "BANKNIFTY"]
    assert cfg.limits.max_open_positions == 2
    res = dyntrail.backtest(example, two)
    assert len(res.trades) > 0 and all(c["ok"] for c in res.kpis["checks"].values())


def test_underlyings_with_bars_of_other_lengths_are_refused(tmp_path: Path) -> None:
    """One timeline: a 5-minute underlying beside a 1-minute one would be closed a bar early."""
    root = tmp_path / "mixed"
    days = trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    write_folder(generate(days, seed=3), root / "NIFTY")
    bank = root / "BANKNIFTY"
    write_folder(generate(days, seed=4, start_price=50500.0), bank)
    und = pd.read_parquet(bank / "underlying.parquet")
    five = und.iloc[::5].reset_index(drop=True)  # a 5-minute grid (prices need not agree)
    five.to_parquet(bank / "underlying.parquet")
    with pytest.raises(DataError, match=r"differ in length \(NIFTY 1 min, BANKNIFTY 5 min\)"):
        dyntrail.backtest(parse_config(TWO), root)
