"""The backstop (``[backstop]``) in a backtest on a generated month: every position gets its
resting stop-limit once its entry ends, no exit of the engine's own goes out while a backstop
of its trade can still fill (the double-fill guard, proved on the journal), modifications stay
within the budget, a backstop's fill is marked, and every other trade is the run's without
the section."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import dyntrail
from dyntrail.analytics.report import write_report
from dyntrail.core.config_load import parse_config

ON = "[backstop]\nenabled = true\n"


def _journal(res: dyntrail.Result) -> list[dict[str, object]]:
    assert res.run_dir is not None
    lines = (Path(res.run_dir) / "journal.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def test_each_position_rests_a_backstop_and_no_own_exit_goes_while_it_can_fill(
    month: Path,
) -> None:
    res = dyntrail.backtest(parse_config(ON), month, journal=True)
    events = _journal(res)
    working: dict[str, str] = {}  # backstop tag -> trade id, while it can fill
    trade_of: dict[str, int] = {}
    armed: set[int] = set()
    exits = 0
    for e in events:
        kind = e["kind"]
        if kind == "stop_order":
            assert e["action"] == "exit_backstop" and str(e["tag"])[-2] == "X"
            working[str(e["tag"])] = str(e["trade_id"])
            trade_of[str(e["tag"])] = int(e["trade_id"])  # type: ignore[call-overload]
            armed.add(int(e["trade_id"]))  # type: ignore[call-overload]
        elif kind == "broker_event" and e["tag"] in working:
            if e["event"] in ("cancelled", "expired", "reject"):
                del working[str(e["tag"])]
        elif kind == "order" and e["action"] != "entry":
            exits += 1
            mine = [t for t, tid in working.items() if tid == str(e["trade_id"])]
            assert not mine, f"exit {e['tag']} sent while backstop {mine} could still fill"
    opened = {int(e["trade_id"]) for e in events if e["kind"] == "position_open"}  # type: ignore[call-overload]
    assert exits > 0 and opened and opened <= armed
    assert not [e for e in events if e["kind"] == "late_fill"]
    modified = [int(e["used"]) for e in events if e["kind"] == "stop_modify"]  # type: ignore[call-overload]
    assert modified and max(modified) <= 20
    # The engine's own stop is nearer, so a backstop fills only when a bar opens past its
    # trigger (the exchange acts at the open, before the engine walks the bar): such a trade is
    # marked, its fill is at its trigger or worse within its limit, and every other trade is the
    # run's without the section.
    fills, trades = res.fills, res.trades
    mine = fills[fills["action"] == "exit_backstop"]
    assert not mine.empty  # (this month has such a gap: 2025-01-03 11:57)
    stops = {str(e["tag"]): e for e in events if e["kind"] in ("stop_order", "stop_modify")}
    for _, f in mine.iterrows():
        last = stops[str(f["tag"])]  # its prices as last sent
        assert float(last["limit"]) <= f["price"] <= float(last["trigger"])
        assert f["decision_price"] == last["trigger"] and f["underlying"] == last["level"]
    hit = set(mine["trade_id"])
    assert set(trades.loc[trades["exit_reason"] == "exit_backstop", "trade_id"]) == hit
    free = dyntrail.backtest(parse_config(""), month).trades
    assert list(trades["entry_ts"]) == list(free["entry_ts"])
    cols = ["trade_id", "entry_ts", "exit_ts", "exit_reason", "pnl_net"]
    pd.testing.assert_frame_equal(
        trades.loc[~trades["trade_id"].isin(hit), cols].reset_index(drop=True),
        free.loc[~free["trade_id"].isin(hit), cols].reset_index(drop=True),
    )


def test_a_backstop_spends_no_more_than_its_budget(month: Path) -> None:
    one = dyntrail.backtest(
        parse_config(ON + "max_modifications = 1\nmodify_step_pct = 0.0\n"), month, journal=True
    )
    used = [e for e in _journal(one) if e["kind"] == "stop_modify"]
    assert used and {e["used"] for e in used} == {1}
    per_tag = pd.Series([e["tag"] for e in used]).value_counts()
    assert (per_tag == 1).all()


def test_the_report_shows_what_the_backstop_did(month: Path, tmp_path: Path) -> None:
    res = dyntrail.backtest(parse_config(ON), month, out=tmp_path / "run")
    html = write_report(Path(res.run_dir or "")).read_text()
    assert "<h2>Backstop</h2>" in html and "stop-limits placed" in html


def test_a_backstop_above_the_freeze_quantity_rests_in_parts(month: Path) -> None:
    """30 lots of NIFTY (2250 units) against a freeze quantity of 1800: a backstop for the whole
    position goes out as parts tagged …Q1, …Q2 (1800 and 450), one for what T1 left as a single
    order, and every part is cancelled before the engine's own exit."""
    big = ON + "[account]\nlots_per_trade = 30\n[limits]\nmax_lots = 30\n"
    events = _journal(dyntrail.backtest(parse_config(big), month, journal=True))
    stops = [e for e in events if e["kind"] == "stop_order"]
    by_arm: dict[str, list[dict[str, object]]] = {}
    for e in stops:
        by_arm.setdefault(str(e["tag"]).split("Q")[0], []).append(e)
    sizes = [sorted(int(str(p["qty"])) for p in parts) for parts in by_arm.values()]
    assert all(q <= 1800 and q % 75 == 0 for parts in sizes for q in parts)
    assert [450, 1800] in sizes  # a whole position: two parts
    assert all(len(parts) == 1 for parts in sizes if sum(parts) <= 1800)  # after T1: one
    cancelled = {e["tag"] for e in events if e["kind"] == "order_cancel"}
    assert {e["tag"] for e in stops} <= cancelled
