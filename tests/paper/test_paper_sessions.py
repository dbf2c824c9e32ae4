"""Paper sessions: parity with the backtest, invariants under broker faults, the kill switch."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyntrail.core.config import Config
from dyntrail.data.builtin import write_folder
from dyntrail.data.calendar import trading_days
from dyntrail.data.options_record import write_option_quotes
from dyntrail.data.synthetic import generate
from dyntrail.errors import JournalError
from dyntrail.execution.paper import FaultProfile
from dyntrail.journal import read_journal
from dyntrail.runners.backtest import run_backtest
from dyntrail.runners.paper import run_paper

CFG = Config()


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    days = trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 7))
    return write_folder(generate(days, seed=21), tmp_path_factory.mktemp("week"), fmt="csv")


def test_paper_with_no_latency_or_faults_equals_the_backtest(week: Path, tmp_path: Path) -> None:
    bt = run_backtest(CFG, week, tmp_path / "bt", report=False)
    pp = run_paper(
        CFG, tmp_path / "pp", data_dir=week, faults=FaultProfile.none(), settle=dt.timedelta(0)
    )
    a = pd.read_csv(bt.run_dir / "trades.csv")
    b = pd.read_csv(pp.run_dir / "trades.csv")
    assert len(a) > 3
    pd.testing.assert_frame_equal(a, b)
    assert bt.kpis["p95_ack_ms"] is None  # a backtest's simulated acks report no latency
    cols = ["trade_id", "leg", "ts", "action", "side", "qty", "price", "decision_price", "tag"]
    pd.testing.assert_frame_equal(
        pd.read_csv(bt.run_dir / "fills.csv")[cols], pd.read_csv(pp.run_dir / "fills.csv")[cols]
    )


def test_paper_on_recorded_option_quotes_trades_at_them(tmp_path: Path) -> None:
    """A folder with ``options.csv`` is traded on its recorded quotes in paper as in the
    backtest (the same rule chooses them): each entry buys at the recorded ask of the option
    bar that closed at the entry, and the session equals the backtest trade for trade."""
    days = trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 5))
    folder = write_folder(generate(days, seed=21), tmp_path / "d", fmt="csv")
    write_option_quotes(folder, fmt="csv", strikes_each_side=3)
    pp = run_paper(
        CFG, tmp_path / "pp", data_dir=folder, faults=FaultProfile.none(), settle=dt.timedelta(0)
    )
    assert read_journal(pp.run_dir / "journal.jsonl").events[0]["quotes"] == "DataQuotes"
    trades = pd.read_csv(pp.run_dir / "trades.csv", keep_default_na=False)
    assert len(trades) > 3
    rec = pd.read_csv(folder / "options.csv")
    rec["timestamp"] = pd.to_datetime(rec["timestamp"])
    for t in trades.itertuples():
        bar_start = pd.Timestamp(t.entry_ts).tz_localize(None) - pd.Timedelta(minutes=1)
        row = rec[
            (rec["timestamp"] == bar_start)
            & (rec["expiry"] == t.expiry)
            & (rec["strike"] == t.strike)
            & (rec["right"] == t.right)
        ]
        assert row["ask"].tolist() == [t.entry_price], t
    bt = run_backtest(CFG, folder, tmp_path / "bt", report=False)
    pd.testing.assert_frame_equal(
        pd.read_csv(bt.run_dir / "trades.csv"), pd.read_csv(pp.run_dir / "trades.csv")
    )
    (folder / "options.csv").unlink()  # a resume continues on the quotes it started on
    with pytest.raises(JournalError, match=r"started on DataQuotes .* now gives ModelQuotes"):
        run_paper(CFG, pp.run_dir, resume=True)


def _check_invariants(run: Path) -> None:
    events = read_journal(run / "journal.jsonl").events
    lot, max_lots = 75, CFG.limits.max_lots
    journaled: set[str] = set()
    held: dict[int, int] = {}
    stops: dict[int, tuple[str, float]] = {}
    for ev in events:
        kind = ev["kind"]
        if kind == "order":
            journaled.add(ev["tag"])
        elif kind == "broker_event":  # no broker update for an order we never journaled
            assert ev["tag"] in journaled, ev
        elif kind == "fill":
            q = ev["qty"] if ev["action"] == "entry" else -ev["qty"]
            held[ev["trade_id"]] = held.get(ev["trade_id"], 0) + q
            assert 0 <= held[ev["trade_id"]] <= max_lots * lot  # never negative, within caps
        elif kind == "position_open":
            stops[ev["trade_id"]] = (ev["side"], ev["stop"])
        elif kind == "stop_moved" and ev["reason"] != "initial":
            side, last = stops[ev["trade_id"]]
            sign = 1 if side == "long" else -1
            assert sign * (ev["level"] - last) >= 0  # a stop only tightens
            stops[ev["trade_id"]] = (side, ev["level"])
        elif kind == "position_closed":
            assert held.get(ev["trade_id"], 0) == 0  # closed means every unit sold back
    trades = pd.read_csv(run / "trades.csv")
    fills = pd.read_csv(run / "fills.csv")
    executed = fills[fills["action"] != "rejected"]
    for _, t in trades.iterrows():  # position = sum of fills
        f = executed[executed["trade_id"] == t["trade_id"]]
        assert int(f.loc[f["action"] == "entry", "qty"].sum()) == t["qty"]
        assert int(f.loc[f["action"] != "entry", "qty"].sum()) == t["qty"]


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    reject=st.sampled_from([0.0, 0.05, 0.2]),
    partial=st.sampled_from([0.0, 0.3, 0.7]),
    drop=st.sampled_from([0.0, 0.05]),
    dup=st.sampled_from([0.0, 0.2]),
    disconnect=st.sampled_from([0.0, 0.05]),
)
def test_invariants_hold_under_broker_faults(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    reject: float,
    partial: float,
    drop: float,
    dup: float,
    disconnect: float,
) -> None:
    faults = FaultProfile(
        reject_rate=reject,
        partial_fill_prob=partial,
        drop_rate=drop,
        duplicate_rate=dup,
        out_of_order_rate=dup,
        disconnect_prob=disconnect,
    )
    run = tmp_path_factory.mktemp("faults")
    result = run_paper(CFG, run, seed=seed, days=1, faults=faults)
    _check_invariants(run)
    kpis = json.loads((run / "kpis.json").read_text())
    assert kpis["trades"] == result.trades
    if kpis["broker_acks"]:  # a paper broker's acks take time: the latency is reported
        assert kpis["p95_ack_ms"] is not None and kpis["p95_ack_ms"] > 0


def test_kill_file_flattens_and_stops(tmp_path: Path) -> None:
    run = tmp_path / "k"

    def kill_after_entry(engine, i, n):  # type: ignore[no-untyped-def]
        if any(tr.position.qty > 0 for tr in engine.book.trades()):
            (run / "KILL").touch()

    result = run_paper(
        CFG, run, seed=3, days=2, faults=FaultProfile.none(), on_bar=kill_after_entry
    )
    assert result.killed
    events = read_journal(run / "journal.jsonl").events
    kinds = [e["kind"] for e in events]
    assert "kill_switch" in kinds
    trades = pd.read_csv(run / "trades.csv")
    assert trades.iloc[-1]["exit_reason"] == "exit_kill"
    last_state = [e for e in events if e["kind"] == "state"][-1]["state"]
    assert last_state["book"]["open"] == [] and last_state["orders"]["live"] == {}
    assert last_state["risk"]["state"] == "halted"


def test_resume_refuses_another_config_and_a_fresh_start_over_a_session(tmp_path: Path) -> None:
    from dyntrail.core.config_load import parse_config
    from dyntrail.errors import JournalError

    run = tmp_path / "s"
    run_paper(CFG, run, seed=3, days=1, faults=FaultProfile.none())
    with pytest.raises(JournalError, match="use --resume"):
        run_paper(CFG, run, seed=3, days=1)
    with pytest.raises(JournalError, match="no session here to resume"):
        run_paper(CFG, tmp_path / "nothing", resume=True)
    with pytest.raises(JournalError, match="another config"):
        run_paper(parse_config("[account]\nlots_per_trade = 1\n"), run, resume=True)


def test_a_session_of_another_schema_is_not_resumed(tmp_path: Path) -> None:
    """A journal written by another version of the schema is refused with an error naming it,
    and left as it was (its state lines have another shape)."""
    run = tmp_path / "s"
    run_paper(CFG, run, seed=3, days=1, faults=FaultProfile.none())
    jpath = run / "journal.jsonl"
    lines = jpath.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b'"schema":2', b'"schema":1')
    jpath.write_bytes(b"\n".join(lines))
    before = jpath.read_bytes()
    with pytest.raises(
        JournalError, match=r"journal\.jsonl: the session was journaled with schema 1"
    ):
        run_paper(CFG, run, resume=True)
    assert jpath.read_bytes() == before


def test_a_crash_in_the_kills_flatten_is_finished_on_resume_without_a_second_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after the kill's first exit fill is journaled and before the state
    after it: the resumed session finishes the kill (that order settled from the broker's
    book, the rest flattened) instead of replaying the bar into another exit."""
    import dyntrail.journal as journal_mod
    from dyntrail.core.config_load import load_config
    from dyntrail.execution.paper import PaperBroker

    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "two-underlyings.toml")
    run = tmp_path / "k"

    class Crash(Exception):
        pass

    emit = journal_mod.Journal.emit
    seen = {"kill": False}

    def dying(self: journal_mod.Journal, ev: object) -> int:
        seq = emit(self, ev)  # type: ignore[arg-type]
        kind = getattr(ev, "kind", "")
        seen["kill"] = seen["kill"] or kind == "kill_switch"
        if seen["kill"] and kind == "fill":
            raise Crash
        return seq

    def kill_with_two_open(engine: object, i: int, n: int) -> None:
        if i == 57:  # two positions open; replayed, this bar would also time one out
            assert len(engine.book.open) == 2  # type: ignore[attr-defined]
            (run / "KILL").touch()

    monkeypatch.setattr(journal_mod.Journal, "emit", dying)
    with pytest.raises(Crash):
        run_paper(cfg, run, seed=7, days=2, faults=FaultProfile.none(), on_bar=kill_with_two_open)
    monkeypatch.setattr(journal_mod.Journal, "emit", emit)
    result = run_paper(cfg, run, resume=True)
    assert result.killed
    events = read_journal(run / "journal.jsonl").events
    kill_at = next(e["seq"] for e in events if e["kind"] == "kill_switch")
    after = [e for e in events if e["kind"] == "order" and e["seq"] > kill_at]
    assert after and {e["action"] for e in after} == {"exit_kill"}
    assert len({e["trade_id"] for e in after}) == len(after)  # one exit per position
    assert not [e for e in events if e["kind"] == "entry_signal" and e["seq"] > kill_at]
    broker = PaperBroker(FaultProfile.none(), 7, state_path=run / "broker_state.json")
    assert broker.positions() == {}  # flat at the broker too
