"""Data errors show values as a person writes them: no numpy reprs, and ``[low, high]`` kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from dyntrail.errors import DataError

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = "2025-03-03 09:15:00,100,101,99,100.5,10\n"
VIX = "timestamp,close\n2025-03-03 09:15:00,14.1\n2025-03-03 09:16:00,14.2\n"


def _folder(tmp_path: Path, underlying: str, vix: str = VIX) -> Path:
    (tmp_path / "underlying.csv").write_text(underlying, encoding="utf-8")
    (tmp_path / "vix.csv").write_text(vix, encoding="utf-8")
    return tmp_path


CASES = {
    "not a number": HEADER + GOOD + "2025-03-03 09:16:00,100,101,99,abc,10\n",
    "empty cell": HEADER + GOOD + "2025-03-03 09:16:00,100,101,99,,10\n",
    "open outside": HEADER + GOOD + "2025-03-03 09:16:00,105,101,99,100,10\n",
    "negative volume": HEADER + GOOD + "2025-03-03 09:16:00,100,101,99,100,-3\n",
    "unparsable timestamp": HEADER + GOOD + "2025-03-03 9h16,100,101,99,100,10\n",
    "duplicate": HEADER + GOOD + GOOD,
    "order": HEADER + GOOD + "2025-03-03 09:14:00,100,101,99,100,10\n",
    "epoch junk": "timestamp,open,high,low,close\n1740973500,100,101,99,100\nxyz,1,2,1,2\n",
    "tickers": "Ticker,Date,Time,Open,High,Low,Close\n1,03/03/2025,09:15,1,2,1,2\n"
    "2,03/03/2025,09:16,1,2,1,2\n",
    "negative vix": HEADER + GOOD,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_numpy_reprs_in_messages(tmp_path: Path, load, case: str) -> None:
    vix = VIX + "2025-03-03 09:17:00,-2\n" if case == "negative vix" else VIX
    with pytest.raises(DataError) as info:
        load(_folder(tmp_path, CASES[case], vix))
    msg = str(info.value)
    assert msg.startswith(str(tmp_path / "underlying.csv")) or msg.startswith(
        str(tmp_path / "vix.csv")
    ), msg
    text = msg.replace(str(tmp_path), "")  # the folder's name holds this test's name
    assert "np." not in text and "numpy" not in text and "Timestamp(" not in text, msg


def test_plain_values_in_messages(tmp_path: Path, load) -> None:
    with pytest.raises(DataError) as info:
        load(_folder(tmp_path, CASES["empty cell"]))
    assert str(info.value).endswith("line 3: column 'close' is not a number (empty)")


def test_brackets_stay_in_the_message(tmp_path: Path, load) -> None:
    with pytest.raises(DataError) as info:
        load(_folder(tmp_path, CASES["open outside"]))
    assert "open outside [low, high]: open 105, high 101, low 99, close 100" in str(info.value)


def test_numeric_tickers_are_listed_plainly(tmp_path: Path, load) -> None:
    with pytest.raises(DataError) as info:
        load(_folder(tmp_path, CASES["tickers"]))
    assert "column 'Ticker' holds 2 instruments (1, 2)" in str(info.value)
