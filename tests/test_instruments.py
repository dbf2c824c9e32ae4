"""The packaged NIFTY and BANKNIFTY facts on the real NSE calendar, overrides, and the coverage
check a runner makes before a run.

Each expected value is written from the sources cited in ``dyntrail/instruments.toml`` (NSE
circulars as reported by brokers and the press), never computed by the code under test.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dyntrail.core.config_load import parse_config
from dyntrail.core.contracts import ContractLot, expiries_between, is_monthly_expiry, next_expiry
from dyntrail.data.calendar import trading_days
from dyntrail.errors import ConfigError
from dyntrail.instruments import (
    check_config_coverage,
    check_coverage,
    known_instruments,
    load_instrument,
)

D = dt.date
DAYS = trading_days(D(2021, 7, 1), D(2026, 12, 31))
NIFTY = load_instrument("NIFTY")
BANKNIFTY = load_instrument("BANKNIFTY")


def contract(name: str, on: dt.date) -> tuple[dt.date, int]:
    """(expiry, lot) of the contract the engine trades on ``on``: the next expiry's."""
    spec = load_instrument(name)
    expiry = next_expiry(spec, on, DAYS)
    return expiry, spec.lot_size_for(expiry, DAYS)


# --------------------------------------------------------------------------- lot per contract


@pytest.mark.parametrize(
    ("on", "expiry", "lot"),
    [
        (D(2023, 4, 3), D(2023, 4, 6), 50),  # first day of a replay from April 2023
        (D(2024, 4, 22), D(2024, 4, 25), 50),  # April 2024 monthly: the last with 50
        (D(2024, 4, 29), D(2024, 5, 2), 25),  # first weekly with 25
        (D(2024, 5, 27), D(2024, 5, 30), 25),  # first monthly with 25
        (D(2024, 12, 23), D(2024, 12, 26), 25),  # December monthly, listed before 2024-11-20
        (D(2024, 12, 27), D(2025, 1, 2), 75),  # first weekly with 75
        (D(2025, 1, 20), D(2025, 1, 23), 75),  # a weekly listed after 2024-11-20
        (D(2025, 1, 27), D(2025, 1, 30), 25),  # January monthly, listed before: still 25
        (D(2025, 2, 24), D(2025, 2, 27), 75),  # first monthly with 75
        (D(2025, 4, 28), D(2025, 4, 30), 75),  # weekly of Thursday 05-01 (holiday), not a monthly
        (D(2025, 12, 29), D(2025, 12, 30), 75),  # December 2025 monthly: the last with 75
        (D(2025, 12, 31), D(2026, 1, 6), 65),  # first weekly with 65
        (D(2026, 1, 27), D(2026, 1, 27), 65),  # first monthly with 65, on its expiry day
    ],
)
def test_nifty_lot_of_the_contract_traded(on: dt.date, expiry: dt.date, lot: int) -> None:
    assert contract("NIFTY", on) == (expiry, lot)


@pytest.mark.parametrize(
    ("on", "expiry", "lot"),
    [
        (D(2023, 4, 3), D(2023, 4, 6), 25),  # first day of a replay from April 2023
        (D(2023, 7, 17), D(2023, 7, 20), 25),  # July 2023 weekly, listed before: still 25
        (D(2023, 7, 24), D(2023, 7, 27), 15),  # July 2023 monthly: the first with 15
        (D(2023, 7, 31), D(2023, 8, 3), 15),  # first weekly with 15
        (D(2024, 11, 11), D(2024, 11, 13), 15),  # the last weekly
        (D(2024, 11, 14), D(2024, 11, 27), 15),  # monthlies listed before 2024-11-20 keep 15
        (D(2024, 12, 20), D(2024, 12, 24), 15),  # Wednesday 12-25 Christmas -> Tuesday
        (D(2025, 1, 27), D(2025, 1, 30), 15),  # last Thursday from January 2025
        (D(2025, 2, 3), D(2025, 2, 27), 30),  # first monthly with 30
        (D(2025, 6, 23), D(2025, 6, 26), 30),  # listed before 2025-04-25: still 30
        (D(2025, 6, 27), D(2025, 7, 31), 35),  # first monthly with 35
        (D(2025, 8, 29), D(2025, 9, 30), 35),  # first last-Tuesday monthly
        (D(2025, 12, 29), D(2025, 12, 30), 35),  # the last with 35
        (D(2025, 12, 31), D(2026, 1, 27), 30),  # first monthly with 30 again
    ],
)
def test_banknifty_lot_of_the_contract_traded(on: dt.date, expiry: dt.date, lot: int) -> None:
    assert contract("BANKNIFTY", on) == (expiry, lot)


def test_futures_use_the_nearest_monthly_lot() -> None:
    # 2025-01-20: the NIFTY option traded is the 75-lot weekly, the future the 25-lot monthly.
    assert NIFTY.futures_lot_size_on(D(2025, 1, 20)) == 25
    assert NIFTY.futures_lot_size_on(D(2025, 1, 31)) == 75
    assert BANKNIFTY.futures_lot_size_on(D(2025, 7, 1)) == 35


# --------------------------------------------------------------------------- expiries


def test_banknifty_thursday_monthlies_with_wednesday_weeklies() -> None:
    # From 2023-09-04 weeklies on Wednesday "excluding the expiry week of the monthly contract";
    # monthlies on the last Thursday until February 2024, the last Wednesday from March 2024.
    got = expiries_between(BANKNIFTY, D(2024, 1, 15), D(2024, 3, 31), DAYS)
    assert got == [
        D(2024, 1, 17), D(2024, 1, 25),  # no weekly on Wednesday 01-24
        D(2024, 1, 31), D(2024, 2, 7), D(2024, 2, 14), D(2024, 2, 21),
        D(2024, 2, 29),  # no weekly on Wednesday 02-28
        D(2024, 3, 6), D(2024, 3, 13), D(2024, 3, 20), D(2024, 3, 27),  # monthly on Wednesday
    ]  # fmt: skip
    monthly = [e for e in got if is_monthly_expiry(BANKNIFTY, e, DAYS)]
    assert monthly == [D(2024, 1, 25), D(2024, 2, 29), D(2024, 3, 27)]


def test_banknifty_first_wednesday_weekly_and_the_august_2023_monthly() -> None:
    got = expiries_between(BANKNIFTY, D(2023, 8, 21), D(2023, 10, 1), DAYS)
    assert got == [
        D(2023, 8, 24), D(2023, 8, 31),  # Thursdays (the monthly 08-31)
        D(2023, 9, 6), D(2023, 9, 13), D(2023, 9, 20), D(2023, 9, 28),  # no Wednesday 09-27
    ]  # fmt: skip


def test_nifty_thursday_weeklies_in_2023_and_the_tuesday_change() -> None:
    got = expiries_between(NIFTY, D(2023, 4, 1), D(2023, 4, 30), DAYS)
    assert got == [D(2023, 4, 6), D(2023, 4, 13), D(2023, 4, 20), D(2023, 4, 27)]
    assert is_monthly_expiry(NIFTY, D(2025, 8, 28), DAYS)  # last Thursday monthly
    assert is_monthly_expiry(NIFTY, D(2025, 9, 30), DAYS)  # first Tuesday monthly
    assert not is_monthly_expiry(NIFTY, D(2025, 9, 23), DAYS)


# --------------------------------------------------------------------------- freeze quantities


@pytest.mark.parametrize(
    ("name", "on", "qty"),
    [
        ("NIFTY", D(2023, 4, 3), 1800),
        ("NIFTY", D(2026, 6, 1), 1800),
        ("BANKNIFTY", D(2023, 4, 3), 900),
        ("BANKNIFTY", D(2025, 6, 30), 900),
        ("BANKNIFTY", D(2025, 7, 1), 600),  # circular of 2025-06-30
        ("BANKNIFTY", D(2025, 9, 1), 900),  # circular of 2025-08-29
        ("BANKNIFTY", D(2025, 10, 31), 900),
        ("BANKNIFTY", D(2025, 11, 3), 600),  # circular of 2025-10-31
    ],
)
def test_freeze_qty_is_dated(name: str, on: dt.date, qty: int) -> None:
    assert load_instrument(name).freeze_qty_on(on) == qty


# --------------------------------------------------------------------------- overrides


def test_packaged_instruments_and_plain_overrides() -> None:
    assert known_instruments() == ("BANKNIFTY", "NIFTY")
    assert (NIFTY.strike_step, NIFTY.tick_size, BANKNIFTY.strike_step) == (50, 0.05, 100)
    plain = load_instrument("nifty", {"NIFTY": {"freeze_qty": 1755}})
    assert plain.freeze_qty_on(D(2019, 1, 1)) == plain.freeze_qty_on(D(2027, 1, 1)) == 1755
    with pytest.raises(ConfigError, match="known instruments are BANKNIFTY, NIFTY"):
        load_instrument("FINNIFTY")


def test_the_old_from_key_means_contracts_expiring_on_or_after() -> None:
    old = load_instrument(
        "NIFTY", {"NIFTY": {"lot_sizes": [{"from": "2024-11-20", "lot_size": 75}]}}
    )
    assert old.lot_sizes == (ContractLot(75, D(2024, 11, 20), D(2024, 11, 20)),)
    both = {"lot_sizes": [{"from": D(2024, 11, 20), "first_expiry": D(2025, 1, 2), "lot_size": 75}]}
    with pytest.raises(ConfigError, match=r"first_expiry .* or the old 'from', not both"):
        load_instrument("NIFTY", {"NIFTY": both})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"lot_sizes": [{"first_expiry": "2024-11-20", "lot_size": 0}]}, r"\[NIFTY\].*lot_size 0"),
        ({"lot_sizes": [{"lot_size": 75}]}, r"lot_sizes\[0\].*lacks first_expiry"),
        ({"lot_sizes": [{"first_expiry": "soon", "lot_size": 75}]}, "'first_expiry' 'soon' is not"),
        ({"lot_sizes": [{"first": D(2025, 1, 2), "lot_size": 75}]}, "unknown key.*'first'"),
        ({"freeze_qty": [{"from": D(2025, 1, 1)}]}, r"freeze_qty\[0\].*lacks freeze_qty"),
        ({"freeze_qty": 0}, "freeze_qty 0 must be a positive integer"),
        (
            {"expiry_rules": [{"from": D(2024, 1, 1), "weekday": "wed", "monthly_weekday": "x"}]},
            "'wed'",
        ),
    ],
)
def test_bad_overrides_name_the_key(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_instrument("NIFTY", {"NIFTY": override})


def test_a_new_market_from_config() -> None:
    cfg = parse_config(
        """
[instrument]
name = "MIDCPNIFTY"
[instrument.spec]
strike_step = 25
tick_size = 0.05
freeze_qty = [{ from = 2025-01-01, freeze_qty = 2800 }]
lot_sizes = [{ lot_size = 120, first_expiry = 2025-01-30 }]
expiry_rules = [{ from = 2025-01-01, weekday = "thursday", cycle = "monthly" }]
"""
    )
    spec = load_instrument(cfg.instrument.name, {cfg.instrument.name: cfg.instrument.spec})
    assert contract_lot_on(spec, D(2025, 1, 2)) == (D(2025, 1, 30), 120)
    check_config_coverage(cfg, spec, D(2025, 1, 1), D(2025, 6, 30), DAYS)


def contract_lot_on(spec: Any, on: dt.date) -> tuple[dt.date, int]:
    expiry = next_expiry(spec, on, DAYS)
    return expiry, spec.lot_size_for(expiry, DAYS)


# --------------------------------------------------------------------------- coverage


@pytest.mark.parametrize("trade", ["options", "underlying"])
@pytest.mark.parametrize("name", ["NIFTY", "BANKNIFTY"])
def test_replays_from_april_2023_are_covered(name: str, trade: Any) -> None:
    spec = load_instrument(name)
    check_coverage(spec, D(2023, 4, 1), D(2026, 11, 30), DAYS, trade=trade)
    check_coverage(spec, D(2023, 4, 1), D(2026, 11, 30), DAYS, skip_expiry_day=True)


def test_coverage_error_names_date_instrument_and_key() -> None:
    days = trading_days(D(2018, 12, 1), D(2019, 3, 31))
    spec = load_instrument(
        "NIFTY", {"NIFTY": {"expiry_rules": [{"from": D(2018, 1, 1), "weekday": "thursday"}]}}
    )
    with pytest.raises(ConfigError) as info:
        check_coverage(spec, D(2019, 1, 1), D(2019, 1, 31), days)
    assert info.value.problems == [
        "NIFTY has no freeze quantity on 2019-01-01 (and 22 later, up to 2019-01-31): add an "
        "entry to [instrument.spec] freeze_qty (from <= 2019-01-01), or set freeze_qty to one "
        "number",
        "NIFTY has no lot size for the weekly contract expiring 2019-01-03 (and 3 later, up to "
        "2019-01-24): add an entry to [instrument.spec] lot_sizes (first_expiry <= 2019-01-03)",
        "NIFTY has no lot size for the monthly contract expiring 2019-01-31: add an entry to "
        "[instrument.spec] lot_sizes (first_monthly_expiry <= 2019-01-31)",
    ]


def test_coverage_error_for_a_monthly_and_for_expiry_rules() -> None:
    rules_2025 = [{"from": D(2025, 1, 1), "weekday": "thursday"}]
    spec = load_instrument("NIFTY", {"NIFTY": {"expiry_rules": rules_2025}})
    with pytest.raises(
        ConfigError, match=r"no expiry rule on 2024-12-30 .*expiry_rules \(from <= 2024-12-30\)"
    ):
        check_coverage(spec, D(2024, 12, 30), D(2025, 1, 10), DAYS)
    lots = [{"lot_size": 75, "first_expiry": D(2025, 1, 2), "first_monthly_expiry": D(2025, 2, 27)}]
    spec = load_instrument("NIFTY", {"NIFTY": {"lot_sizes": lots}})
    with pytest.raises(
        ConfigError,
        match=r"monthly contract expiring 2025-01-30: .*first_monthly_expiry <= 2025-01-30",
    ):
        check_coverage(spec, D(2025, 1, 2), D(2025, 1, 31), DAYS)
    check_coverage(spec, D(2025, 1, 2), D(2025, 1, 23), DAYS)  # weeklies only: covered


@pytest.mark.parametrize("name", ["NIFTY", "BANKNIFTY"])
def test_one_monthly_a_month(name: str) -> None:
    # From August 2021 (NIFTY's table) through 2026: each month has exactly one monthly; for
    # NIFTY it is the month's last expiry, except where a holiday pulled the next weekly back
    # into the month (Thursday 2025-05-01, Maharashtra Day -> Wednesday 2025-04-30, after the
    # April monthly of 2025-04-24). BANKNIFTY's Wednesday weekly of 2024-01-31 came after the
    # Thursday monthly of 2024-01-25.
    spec = load_instrument(name)
    got = expiries_between(spec, D(2021, 8, 1), D(2026, 11, 30), DAYS)
    by_month: dict[tuple[int, int], list[tuple[dt.date, bool]]] = {}
    for e in got:
        by_month.setdefault((e.year, e.month), []).append((e, is_monthly_expiry(spec, e, DAYS)))
    assert len(by_month) == 64
    for month in by_month.values():
        assert [m for _, m in month].count(True) == 1, month
        if name == "NIFTY" and month[-1][0] != D(2025, 4, 30):
            assert month[-1][1], month
