"""``dyntrail data check DIR``: what a folder holds, in text and JSON; exit 1 with the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from dyntrail.cli import app

runner = CliRunner()


def _vendor_folder(write_folder, stamps: pd.Series, prices: dict) -> Path:
    # a gap of 10 minutes on the second day, and the third day opening 5 minutes late
    day = stamps.dt.day
    minute = stamps.dt.hour * 60 + stamps.dt.minute
    drop = ((day == 4) & (minute >= 600) & (minute < 610)) | ((day == 5) & (minute < 560))
    keep = ~drop.to_numpy()
    s = stamps[keep]
    df = pd.DataFrame(
        {
            "Ticker": "NIFTY",
            "Date": s.dt.strftime("%d/%m/%Y"),
            "Time": s.dt.strftime("%H:%M"),
            **{k.capitalize(): v[keep] for k, v in prices.items()},
        }
    )
    return write_folder(df)


def test_check_reports_the_folder_in_text(write_folder, stamps, prices) -> None:
    folder = _vendor_folder(write_folder, stamps, prices)
    r = runner.invoke(app, ["data", "check", str(folder)])
    assert r.exit_code == 0, r.stderr
    text = r.stdout
    assert f"{folder}: loads" in text
    assert "underlying.csv  vendor CSV (Date dd/mm/yyyy + Time HH:MM" in text
    assert "1,860 rows, 2025-03-03 09:15:00 .. 2025-03-07 15:29:00" in text
    assert "1-minute; 5 sessions, 2025-03-03 .. 2025-03-07" in text
    assert "min 365, median 375, max 375 (a full session has 375)" in text
    assert "1 inside sessions (10 bars missing); 1 late opens, 0 early closes" in text
    assert "options          none" in text
    assert "warning" in r.stderr and "open late" in r.stderr


def test_check_json(write_folder, stamps, prices) -> None:
    folder = _vendor_folder(write_folder, stamps, prices)
    r = runner.invoke(app, ["data", "check", str(folder), "--json"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["files"][0]["name"] == "underlying.csv"
    assert data["files"][0]["format"].startswith("vendor CSV (Date dd/mm/yyyy + Time HH:MM")
    assert data["files"][1]["format"] == "dyntrail (timestamp ISO 8601)"
    assert (data["sessions"], data["bar_minutes"], data["full_session_bars"]) == (5, 1, 375)
    assert data["bars_per_session"] == {"min": 365, "median": 375.0, "max": 375}
    assert (data["gaps"], data["missing_bars"], data["late_opens"]) == (1, 10, 1)
    assert data["outside_session"] == 0
    assert data["vix"]["max_age_min"] == 0.0 and data["vix"]["sessions_on_previous_day"] == 0
    assert data["options"] is None
    assert len(data["warnings"]) == 2


def test_check_counts_the_options_file(write_folder, stamps, prices) -> None:
    text = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    folder = write_folder(pd.DataFrame({"timestamp": text, **prices}))
    options = pd.DataFrame(
        {
            "timestamp": [text.iloc[0]] * 3 + [text.iloc[1]] * 3,
            "expiry": ["2025-03-06", "2025-03-06", "2025-03-13"] * 2,
            "strike": [22500, 22550, 22500] * 2,
            "right": ["CE", "PE", "CE"] * 2,
            "close": [100.0, 90.0, 150.0, 101.0, 89.0, 151.0],
        }
    )
    options.to_csv(folder / "options.csv", index=False)
    r = runner.invoke(app, ["data", "check", str(folder), "--json"])
    assert r.exit_code == 0, r.stderr
    o = json.loads(r.stdout)["options"]
    assert (o["rows"], o["contracts"], o["expiries"], o["strikes"]) == (6, 3, 2, 2)
    r = runner.invoke(app, ["data", "check", str(folder)])
    assert "options          6 rows, 3 contracts, 2 expiries, 2 strikes" in r.stdout


def test_check_fails_with_the_data_error(tmp_path: Path) -> None:
    (tmp_path / "underlying.csv").write_text(
        "timestamp,open,high,low,close\n2025-03-03 09:15:00,105,101,99,100\n", encoding="utf-8"
    )
    (tmp_path / "vix.csv").write_text("timestamp,close\n2025-03-03 09:15:00,14\n")
    r = runner.invoke(app, ["data", "check", str(tmp_path)])
    assert r.exit_code == 1
    assert "line 2: open outside [low, high]" in r.stderr, r.stderr
    assert r.stdout == ""


def test_check_reads_the_config(write_folder, stamps, prices, market, tmp_path: Path) -> None:
    utc = stamps.dt.tz_localize("Asia/Kolkata").dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M")
    und = pd.DataFrame({"timestamp": utc, **prices})
    folder = write_folder(und, vix=pd.DataFrame({"timestamp": utc, "close": market.vix}))
    r = runner.invoke(app, ["data", "check", str(folder)])
    assert r.exit_code == 1 and '[data] timezone = "UTC"' in r.stderr, r.stderr
    cfg = tmp_path / "utc.toml"
    cfg.write_text('[data]\ntimezone = "UTC"\n', encoding="utf-8")
    r = runner.invoke(app, ["data", "check", str(folder), "-c", str(cfg)])
    assert r.exit_code == 0, r.stderr
    assert "times without a zone read as UTC" in r.stdout
