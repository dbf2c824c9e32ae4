"""Costs: every dated rate on both sides of its dates, IPFT, exercise STT, the error before the
first dated entry (never a silent zero), the pre-run coverage check, and parts() == total.

Amounts use a turnover of one crore (Rs 1e7), so a rate of 0.0625 % is exactly Rs 6,250.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.config import CostsSection
from dyntrail.core.config_load import dump_config, parse_config
from dyntrail.core.costs import (
    PARTS,
    CostBreakdown,
    check_cost_coverage,
    exercise_costs,
    order_costs,
    rate_on,
)
from dyntrail.errors import ConfigError
from dyntrail.trade import FILL_COLUMNS

D = dt.date
CRORE = 1e7
COSTS = CostsSection()
FIRST = D(2023, 4, 1)  # the first dated entry of every default key (Finance Act 2023, NSE IPFT)
BEFORE = D(2023, 3, 31)  # one day earlier: not covered
# The boundaries: Finance Act 2023 / NSE's rollback (2023-04-01), Finance (No. 2) Act 2024 and
# NSE's flat charges (2024-10-01), Budget 2026 (2026-04-01); each with the day before it.
DAYS = (FIRST, D(2024, 9, 30), D(2024, 10, 1), D(2026, 3, 31), D(2026, 4, 1))


def sell(day: dt.date, *, futures: bool = False, value: float = CRORE) -> CostBreakdown:
    return order_costs(COSTS, day, is_buy=False, value_inr=value, futures=futures)


def buy(day: dt.date, *, futures: bool = False, value: float = CRORE) -> CostBreakdown:
    return order_costs(COSTS, day, is_buy=True, value_inr=value, futures=futures)


@pytest.mark.parametrize(
    ("day", "option_stt", "futures_stt", "option_txn", "futures_txn", "exercise_stt"),
    [
        (DAYS[0], 6250.0, 1250.0, 4950.0, 183.0, 12500.0),
        (DAYS[1], 6250.0, 1250.0, 4950.0, 183.0, 12500.0),
        (DAYS[2], 10000.0, 2000.0, 3503.0, 173.0, 12500.0),
        (DAYS[3], 10000.0, 2000.0, 3503.0, 173.0, 12500.0),
        (DAYS[4], 15000.0, 5000.0, 3503.0, 173.0, 15000.0),
    ],
)
def test_dated_rates_on_both_sides_of_each_date(
    day: dt.date,
    option_stt: float,
    futures_stt: float,
    option_txn: float,
    futures_txn: float,
    exercise_stt: float,
) -> None:
    assert (sell(day).stt, sell(day).exchange) == (option_stt, option_txn)
    assert (sell(day, futures=True).stt, sell(day, futures=True).exchange) == (
        futures_stt,
        futures_txn,
    )
    assert exercise_costs(COSTS, day, intrinsic_value_inr=CRORE).stt == exercise_stt


@pytest.mark.parametrize("day", DAYS)
def test_undated_charges_and_sides(day: dt.date) -> None:
    o_buy, o_sell = buy(day), sell(day)
    assert (o_buy.sebi, o_buy.ipft, o_buy.stamp, o_buy.stt) == (10.0, 50.0, 300.0, 0.0)
    assert (o_sell.ipft, o_sell.stamp) == (50.0, 0.0)  # stamp duty on buys only
    f_buy, f_sell = buy(day, futures=True), sell(day, futures=True)
    assert (f_buy.sebi, f_buy.ipft, f_buy.stamp, f_buy.stt) == (10.0, 10.0, 200.0, 0.0)
    assert (f_sell.ipft, f_sell.stamp) == (10.0, 0.0)
    # GST 18 % on brokerage + exchange + SEBI + IPFT (not on STT or stamp duty)
    assert o_buy.gst == round(0.18 * (20.0 + o_buy.exchange + 10.0 + 50.0), 2)
    assert f_sell.gst == round(0.18 * (20.0 + f_sell.exchange + 10.0 + 10.0), 2)


def test_a_nifty_option_round_trip_by_hand() -> None:
    # 2 lots x 75 at Rs 100 = Rs 15,000 of premium, bought and sold on 2025-03-03.
    day = D(2025, 3, 3)
    b = buy(day, value=15_000.0)
    s = sell(day, value=15_000.0)
    assert b == CostBreakdown(20.0, 0.0, 5.25, 0.01, 0.07, 0.45, 4.56)
    assert s == CostBreakdown(20.0, 15.0, 5.25, 0.01, 0.07, 0.0, 4.56)
    assert (b.total, s.total) == (30.34, 44.89)


def test_second_fill_of_an_order_pays_no_brokerage() -> None:
    c = order_costs(COSTS, DAYS[2], is_buy=True, value_inr=CRORE, futures=False,
                    include_brokerage=False)  # fmt: skip
    assert c.brokerage == 0.0
    assert c.gst == round(0.18 * (c.exchange + c.sebi + c.ipft), 2)


def test_exercise_is_stt_on_intrinsic_value_only() -> None:
    # NIFTY 22000 CE settled at 22100, 150 units: intrinsic Rs 15,000.
    c = exercise_costs(COSTS, D(2025, 3, 27), intrinsic_value_inr=100.0 * 150)
    assert c == CostBreakdown(stt=18.75) and c.total == 18.75
    assert exercise_costs(COSTS, D(2026, 4, 1), intrinsic_value_inr=15_000.0).stt == 22.5
    assert exercise_costs(COSTS, D(2025, 3, 27), intrinsic_value_inr=0.0).total == 0.0
    with pytest.raises(ValueError, match="intrinsic_value_inr"):
        exercise_costs(COSTS, D(2025, 3, 27), intrinsic_value_inr=-1.0)


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda: sell(BEFORE), "stt_sell_pct"),
        (lambda: buy(BEFORE), "stt_sell_pct"),  # a buy is refused too: the date is uncovered
        (lambda: sell(BEFORE, futures=True), "futures_stt_sell_pct"),
        (lambda: exercise_costs(COSTS, BEFORE, intrinsic_value_inr=1.0), "exercise_stt_pct"),
    ],
)
def test_a_date_before_the_first_entry_is_an_error_naming_the_key(
    call: Callable[[], CostBreakdown], key: str
) -> None:
    with pytest.raises(ConfigError, match=rf"\[costs\] {key}: no rate for 2023-03-31.*2023-04-01"):
        call()


def test_rate_on_names_the_key_and_never_returns_zero() -> None:
    rates = COSTS.exchange_txn_pct
    assert rate_on(rates, FIRST, "exchange_txn_pct") == 0.000495
    assert rate_on(rates, D(2030, 1, 1), "exchange_txn_pct") == 0.0003503
    with pytest.raises(ConfigError, match=r"exchange_txn_pct.*2020-01-01.*2023-04-01"):
        rate_on(rates, D(2020, 1, 1), "exchange_txn_pct")


def test_coverage_check_lists_every_uncovered_key() -> None:
    check_cost_coverage(COSTS, FIRST, futures=False)
    check_cost_coverage(COSTS, FIRST, futures=True)
    with pytest.raises(ConfigError) as options:
        check_cost_coverage(COSTS, BEFORE, futures=False)
    keys = ("stt_sell_pct", "exercise_stt_pct", "exchange_txn_pct")
    assert [p.split(":")[0] for p in options.value.problems] == [f"[costs] {k}" for k in keys]
    with pytest.raises(ConfigError) as futures:
        check_cost_coverage(COSTS, BEFORE, futures=True)
    keys = ("futures_stt_sell_pct", "futures_exchange_txn_pct")
    assert [p.split(":")[0] for p in futures.value.problems] == [f"[costs] {k}" for k in keys]


USER_TOML = """
[costs]
stt_sell_pct = [{ from = 2021-01-01, pct = 0.0005 }, { from = 2023-04-01, pct = 0.000625 }]
exchange_txn_pct = 0.00053   # a plain number: every date
"""


def test_a_user_config_overrides_a_dated_key() -> None:
    cfg = parse_config(USER_TOML, "user.toml")
    c = cfg.costs
    day = D(2022, 6, 1)
    with pytest.raises(ConfigError) as exc:  # exercise STT still starts 2023-04-01
        check_cost_coverage(c, day, futures=False)
    assert [p.split(":")[0] for p in exc.value.problems] == ["[costs] exercise_stt_pct"]
    s = order_costs(c, day, is_buy=False, value_inr=CRORE, futures=False)
    assert (s.stt, s.exchange) == (5000.0, 5300.0)
    assert order_costs(c, D(2026, 4, 1), is_buy=False, value_inr=CRORE, futures=False).stt == 6250
    assert parse_config(dump_config(cfg)) == cfg  # a plain number round-trips


def test_config_errors_for_dated_keys_name_the_key() -> None:
    rates = "[{ from = 2024-10-01, pct = 0.1 }, { from = 2023-04-01, pct = 0.2 }]"
    bad = f"[costs]\nexchange_txn_pct = {rates}"
    with pytest.raises(ConfigError, match=r"costs\.exchange_txn_pct.*increasing"):
        parse_config(bad, "user.toml")
    with pytest.raises(ConfigError, match=r"costs\.stt_sell_pct.*fraction"):
        parse_config("[costs]\nstt_sell_pct = 1.5", "user.toml")


def test_parts_are_the_breakdown_fields_and_the_fill_columns() -> None:
    assert tuple(f.name for f in fields(CostBreakdown)) == PARTS
    assert tuple(CostBreakdown(*range(7)).parts()) == PARTS
    i = FILL_COLUMNS.index("costs")
    assert FILL_COLUMNS[i + 1 : i + 8] == tuple(f"cost_{p}" for p in PARTS)


def test_negative_or_nan_turnover_is_refused() -> None:
    for v in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="value_inr"):
            order_costs(COSTS, FIRST, is_buy=True, value_inr=v, futures=False)


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(0, 5e7, allow_nan=False),
    day=st.dates(FIRST, D(2027, 12, 31)),
    is_buy=st.booleans(),
    futures=st.booleans(),
    first=st.booleans(),
)
def test_parts_sum_to_total_to_the_paisa(
    value: float, day: dt.date, is_buy: bool, futures: bool, first: bool
) -> None:
    c = order_costs(COSTS, day, is_buy=is_buy, value_inr=value, futures=futures,
                    include_brokerage=first)  # fmt: skip
    parts = c.parts()
    assert all(round(v, 2) == v >= 0 for v in parts.values())
    assert abs(sum(parts.values()) - c.total) < 1e-6
    # each part from its own rate, independently of how the module adds them up
    stt = 0.0 if is_buy else value * (0.0002 if futures else 0.001)
    if day < D(2024, 10, 1):
        stt = 0.0 if is_buy else value * (0.000125 if futures else 0.000625)
    elif day >= D(2026, 4, 1):
        stt = 0.0 if is_buy else value * (0.0005 if futures else 0.0015)
    assert parts["stt"] == round(stt, 2)
    assert parts["brokerage"] == (20.0 if first else 0.0)
    assert parts["ipft"] == round(value * (10.0 if futures else 50.0) / 1e7, 2)
