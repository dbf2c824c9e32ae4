"""Data folders: every bad input is a DataError naming the file, the line and the problem."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dyntrail.data.loaders import load_folder
from dyntrail.errors import DataError

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "2025-03-03 09:15:00,100,101,99,100.5,10",
    "2025-03-03 09:16:00,100.5,102,100,101,12",
    "2025-03-03 09:17:00,101,101.5,100.5,101.2,9",
]
VIX = (
    "timestamp,close\n2025-03-03 09:15:00,14.1\n2025-03-03 09:16:00,14.2\n"
    "2025-03-03 09:17:00,14.0\n"
)


def _folder(tmp_path: Path, rows: list[str], vix: str = VIX, header: str = HEADER) -> Path:
    (tmp_path / "underlying.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "vix.csv").write_text(vix, encoding="utf-8")
    return tmp_path


def _load(folder: Path):  # type: ignore[no-untyped-def]
    return load_folder(folder, "Asia/Kolkata", dt.time(9, 15), dt.time(15, 30))


def test_good_folder_loads_and_aligns_vix(tmp_path: Path) -> None:
    md = _load(_folder(tmp_path, GOOD))
    assert md.bars.bar_minutes == 1 and list(md.vix) == [14.1, 14.2, 14.0]


@pytest.mark.parametrize(
    ("row", "line", "problem"),
    [
        ("2025-03-03 09:16:00,100.5,99,100,101,12", 3, "high < low"),
        ("2025-03-03 09:16:00,103,102,100,101,12", 3, "open outside"),
        ("2025-03-03 09:16:00,100.5,102,100,99,12", 3, "close outside"),
        ("2025-03-03 09:16:00,-1,102,-2,101,12", 3, "non-positive"),
        ("2025-03-03 09:16:00,100.5,102,100,,12", 3, "not a number"),
        ("2025-03-03 9h16,100.5,102,100,101,12", 3, "unparsable timestamp"),
        ("2025-03-03 09:15:00,100.5,102,100,101,12", 3, "duplicate timestamp"),
        ("2025-03-03 09:14:00,100.5,102,100,101,12", 3, "time order"),
        ("2025-03-03 09:16:00,100.5,102,100,101,-5", 3, "negative volume"),
    ],
)
def test_bad_rows_name_file_line_and_problem(
    tmp_path: Path, row: str, line: int, problem: str
) -> None:
    rows = [GOOD[0], row, GOOD[2]]
    with pytest.raises(DataError) as info:
        _load(_folder(tmp_path, rows))
    msg = str(info.value)
    assert "underlying.csv" in msg and f"line {line}" in msg and problem in msg, msg


def test_missing_column_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing column.*low"):
        _load(
            _folder(
                tmp_path,
                ["2025-03-03 09:15:00,100,101,100.5"],
                header="timestamp,open,high,close\n",
            )
        )
    (tmp_path / "vix.csv").unlink()
    with pytest.raises(DataError, match=r"missing vix\.csv or vix\.parquet"):
        _load(tmp_path)


def test_vix_must_cover_the_bars(tmp_path: Path) -> None:
    late = "timestamp,close\n2025-03-03 09:16:00,14.2\n2025-03-03 09:17:00,14.0\n"
    with pytest.raises(DataError, match="no VIX value"):
        _load(_folder(tmp_path, GOOD, vix=late))


def test_gaps_and_out_of_session_bars_are_warnings(tmp_path: Path) -> None:
    rows = [
        "2025-03-03 09:10:00,100,101,99,100.5,10",
        GOOD[0],
        "2025-03-03 09:20:00,100.5,102,100,101,12",
    ]
    md = _load(_folder(tmp_path, rows, vix="timestamp,close\n2025-03-03 09:10:00,14\n"))
    text = " ".join(md.warnings)
    assert "outside the session" in text and "gap" in text
    assert len(md.bars.close) == 2


def test_tz_aware_timestamps_are_converted(tmp_path: Path) -> None:
    rows = [
        "2025-03-03T03:45:00+00:00,100,101,99,100.5,10",
        "2025-03-03T03:46:00+00:00,100.5,102,100,101,12",
    ]
    md = _load(_folder(tmp_path, rows))
    assert str(md.bars.timestamps[0]) == "2025-03-03T09:15:00"
