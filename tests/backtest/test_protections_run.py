"""The protections (``[protections]``) in a backtest: each engages on a generated month, no
entry goes out while one holds (the journal proves it), and with none switched on the run is
the run without the section."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dyntrail
from dyntrail.core.config_load import parse_config

ON = """
[protections]
cooldown_after_stop_min = 45
max_losing_trades = 1
max_same_direction = 1
drawdown_lockout_pct = 0.002
"""


def _journal(res: dyntrail.Result) -> list[dict[str, object]]:
    assert res.run_dir is not None
    lines = (Path(res.run_dir) / "journal.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def test_protections_engage_and_hold_entries_back(month: Path) -> None:
    free = dyntrail.backtest(parse_config(""), month, journal=True)
    held = dyntrail.backtest(parse_config(ON), month, journal=True)
    assert 0 < len(held.trades) < len(free.trades)
    events = _journal(held)
    engaged = {e["rule"] for e in events if e["kind"] == "protection_engaged"}
    assert {"cooldown_after_stop", "losing_trades"} <= engaged
    # no entry order while a day-wide rule holds: between its engage and its release
    holding: dict[str, str] = {}
    for e in events:
        if e["kind"] == "protection_engaged":
            holding[str(e["rule"])] = str(e["ts"])
        elif e["kind"] == "protection_released":
            holding.pop(str(e["rule"]), None)
        elif e["kind"] == "day_start":
            holding.clear()  # (a day's rules end with it; released at the new day)
        elif e["kind"] == "order" and e["action"] == "entry":
            day_wide = {r for r in holding if not r.startswith("same_direction")}
            assert not day_wide, f"entry {e['tag']} at {e['ts']} while {day_wide} held"
    per_day: dict[tuple[str, str], int] = {}
    for e in events:  # at most one entry a day in each direction
        if e["kind"] == "position_open":
            key = (str(e["ts"])[:10], str(e["side"]))
            per_day[key] = per_day.get(key, 0) + 1
    assert per_day and max(per_day.values()) == 1


def test_a_section_with_every_rule_off_changes_nothing(month: Path) -> None:
    off = "[protections]\ncooldown_after_stop_min = 0\nunlock_at = \"13:00\"\n"
    a = dyntrail.backtest(parse_config(""), month)
    b = dyntrail.backtest(parse_config(off), month)
    assert a.trades.equals(b.trades) and a.fills.equals(b.fills)


def test_the_cooldown_follows_each_stop_out(month: Path) -> None:
    cfg = parse_config("[protections]\ncooldown_after_stop_min = 60\n")
    events = _journal(dyntrail.backtest(cfg, month, journal=True))
    stops = [e for e in events if e["kind"] == "position_closed" and e["reason"] == "exit_stop"]
    cools = [e for e in events if e["kind"] == "protection_engaged"]
    assert stops and len(cools) == len(stops)
    for s, c in zip(stops, cools, strict=True):
        assert c["ts"] == s["ts"] and c["rule"] == "cooldown_after_stop"
        until = dt.datetime.fromisoformat(str(c["until"]))
        assert until - dt.datetime.fromisoformat(str(s["ts"])) == dt.timedelta(minutes=60)


def test_the_report_shows_what_the_protections_did(month: Path, tmp_path: Path) -> None:
    res = dyntrail.backtest(parse_config(ON), month, out=tmp_path / "run")
    page = (Path(str(res.run_dir)) / "report.html").read_text(encoding="utf-8")
    assert "<h2>Protections</h2>" in page and "cooldown_after_stop" in page
