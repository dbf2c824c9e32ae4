"""The journal as a write-ahead log: sequence numbers, torn tails, recovery, no credentials."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.errors import JournalError
from dyntrail.journal import Journal, read_journal, summarize


def test_round_trip_and_continuation(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        j.write("header", None, schema=1)
        j.write("order", "2025-01-01T09:20:00+05:30", tag="D250101P01E1", qty=75)
    with Journal(p) as j:  # continues after the last sequence number
        assert j.write("fill", None, qty=75) == 3
    events = read_journal(p).events
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert events[1]["tag"] == "D250101P01E1"


def test_torn_tail_is_skipped_kept_and_closed_off(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        j.write("header", None, schema=1)
        j.write("order", None, tag="A1")
    before = p.read_bytes()
    with p.open("ab") as fh:
        fh.write(b'{"seq":3,"ts":null,"kind":"fi')  # crash mid-write
    read = read_journal(p)
    assert read.torn_tail and len(read.events) == 2 and "torn" in read.warnings[0]
    with Journal(p) as j:
        assert j.seq == 3  # 1, 2, then the journal_recovered event
        j.write("fill", None, qty=1)
    raw = p.read_bytes()
    assert raw.startswith(before + b'{"seq":3,"ts":null,"kind":"fi\n')  # nothing rewritten
    read = read_journal(p)
    assert [e["kind"] for e in read.events] == ["header", "order", "journal_recovered", "fill"]
    assert read.events[2]["torn_line"] == 3


def test_corruption_in_the_middle_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    p.write_text('{"seq":1,"ts":null,"kind":"header"}\nnot json\n{"seq":2,"ts":null,"kind":"x"}\n')
    with pytest.raises(JournalError, match="line 2: unreadable"):
        read_journal(p)
    p.write_text('{"seq":1,"ts":null,"kind":"header"}\n{"seq":3,"ts":null,"kind":"x"}\n')
    with pytest.raises(JournalError, match="line 2: sequence 3 after 1"):
        read_journal(p)


def test_credentials_are_refused(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl") as j, pytest.raises(JournalError, match="credential"):
        j.write("login", None, access_token="x")


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["qty", "price", "tag", "level"]),
            st.one_of(
                st.integers(-(10**6), 10**6),
                st.floats(allow_nan=False, allow_infinity=False),
                st.text(max_size=8),
            ),
            max_size=4,
        ),
        max_size=20,
    )
)
def test_any_events_round_trip_exactly(
    tmp_path_factory: pytest.TempPathFactory, payloads: list[dict[str, object]]
) -> None:
    p = tmp_path_factory.mktemp("j") / "j.jsonl"
    with Journal(p) as j:
        for body in payloads:
            j.write("e", None, **body)
    events = read_journal(p).events
    assert [{k: v for k, v in e.items() if k not in ("seq", "ts", "kind")} for e in events] == [
        json.loads(json.dumps(b)) for b in payloads
    ]


def test_summary(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        j.write("header", None, schema=1, mode="paper", config_hash="abc")
        j.write("position_open", "2025-01-01T09:20:00+05:30", trade_id=1)
        j.write("position_closed", "2025-01-01T09:50:00+05:30", trade_id=1, pnl_net=10.5)
        j.write("position_open", "2025-01-01T10:00:00+05:30", trade_id=2)
    s = summarize(read_journal(p))
    assert s["trades_closed"] == 1 and s["positions_open"] == [2] and s["net_pnl"] == 10.5
    assert s["mode"] == "paper" and s["kinds"]["position_open"] == 2


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float64("-inf")])
def test_non_finite_numbers_are_refused_and_take_no_sequence_number(
    tmp_path: Path, bad: float
) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        j.write("header", None, schema=1)
        with pytest.raises(JournalError, match=r"position_closed .*'row\.exit_price'"):
            j.write("position_closed", None, trade_id=1, row={"exit_price": bad})
        assert j.write("fill", None, qty=1, fill_id=None) == 2  # null itself is fine
    assert [e["seq"] for e in read_journal(p).events] == [1, 2]


def test_numpy_scalars_are_numbers_and_what_json_cannot_hold_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        j.write("e", None, price=np.float64(101.25), qty=np.int64(75), ok=np.bool_(True))
        with pytest.raises(JournalError, match=r"cannot journal a e: .*datetime"):
            j.write("e", None, at=dt.datetime(2025, 1, 1, 9, 15))
        with pytest.raises(JournalError, match="64-bit"):
            j.write("e", None, seed=2**70)
    (ev,) = read_journal(p).events
    assert (ev["price"], ev["qty"], ev["ok"]) == (101.25, 75, True)
    assert p.read_bytes().endswith(b'"price":101.25,"qty":75,"ok":true}\n')


def test_nulls_written_for_none_do_not_hide_a_nan(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl") as j:
        j.write("e", None, a=None, reason="null and void", b=None)  # nulls that are fine
        with pytest.raises(JournalError, match=r"'row\.x'"):
            j.write("e", None, a=None, row={"x": float("nan")})
        with pytest.raises(JournalError, match="'b'"):
            j.write("e", None, a="null", b=float("nan"))
    assert [e["reason"] for e in read_journal(tmp_path / "j.jsonl").events] == ["null and void"]
