"""Orders above the freeze quantity go out in parts; a part that is rejected while another
fills must not lose the fill (the trade stays open until every part has ended)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dyntrail.core.config_load import load_config
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.journal import read_journal
from dyntrail.runners.paper import run_paper

BIG = "[account]\nlots_per_trade = 30\n[limits]\nmax_lots = 30\n"  # 2250 NIFTY units: 1800 + 450


@pytest.mark.parametrize(
    "profile",
    [
        dataclasses.replace(FaultProfile.none(), reject_rate=0.5),
        dataclasses.replace(FaultProfile(), reject_rate=0.1),
    ],
    ids=["rejects", "all-faults"],
)
def test_split_orders_lose_no_fill_when_a_part_is_rejected(
    tmp_path: Path, profile: FaultProfile
) -> None:
    path = tmp_path / "big.toml"
    path.write_text(BIG, encoding="utf-8")
    run = tmp_path / "pp"
    res = run_paper(load_config(path), run, seed=7, days=5, faults=profile)
    events = read_journal(run / "journal.jsonl").events
    orders = [e for e in events if e["kind"] == "order"]
    assert any(e["tag"].endswith("Q2") for e in orders)  # the entries were split
    assert {e["qty"] for e in orders if e["action"] == "entry"} <= {1800, 450}
    # every fill the broker reported (a duplicated update counted once) is booked
    at_broker = {e["fill_id"]: e["qty"] for e in events if e["kind"] == "broker_event"
                 and e["event"] == "fill"}  # fmt: skip
    booked = {e["fill_id"]: e["qty"] for e in events if e["kind"] == "fill"}
    assert at_broker and booked == at_broker
    assert not [e for e in events if e["kind"] in ("late_fill", "orphan_event")]
    broker = PaperBroker(profile, 7, state_path=run / "broker_state.json")
    assert broker.positions() == {} and res.flags == ()
