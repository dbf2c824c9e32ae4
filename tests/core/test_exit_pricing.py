"""Underlying trigger -> option exit price: the document's proportional mapping, the delta-gamma
expansion and full repricing, and how far the cheap methods land from repricing."""

from __future__ import annotations

import math
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.config import OptionsSection
from dyntrail.core.exit_pricing import (
    ExitPriceMethod,
    option_exit_price,
    option_exit_price_from_underlying_move,
)
from dyntrail.core.options import OptionRight, bsm_price
from dyntrail.core.types import Side

SPOT, STRIKE, T, IV, R = 24_000.0, 24_000.0, 3 / 365, 0.14, 0.065


def atm_last(right: OptionRight) -> float:
    return float(bsm_price(right, spot=SPOT, strike=STRIKE, t_years=T, vol=IV, r=R))


def exit_price(
    method: str,
    right: OptionRight,
    trigger: float,
    *,
    last: float | None = None,
    strike: float = STRIKE,
    t_years: float = T,
    dt_years: float = 0.0,
    tick: float = 0.05,
) -> float:
    return option_exit_price(
        method, option_last=atm_last(right) if last is None else last, underlying_now=SPOT,
        underlying_trigger=trigger, strike=strike, right=right, t_years=t_years, r=R,
        dt_years=dt_years, tick=tick,
    )  # fmt: skip


# --- the document's proportional mapping ---------------------------------------------------------


def test_document_function_is_unchanged() -> None:
    assert option_exit_price_from_underlying_move(100.0, 0.0, Side.LONG) == 100.0
    assert option_exit_price_from_underlying_move(100.0, 0.004, Side.LONG) == pytest.approx(100.4)
    assert option_exit_price_from_underlying_move(100.0, 0.004, Side.SHORT) == pytest.approx(99.6)
    assert option_exit_price_from_underlying_move(0.04, 0.0, Side.LONG) == 0.05
    assert option_exit_price_from_underlying_move(10.0, -2.0, Side.LONG) == 0.05


@pytest.mark.parametrize(
    ("right", "side"), [(OptionRight.CE, Side.LONG), (OptionRight.PE, Side.SHORT)]
)
def test_proportional_method_is_the_document_function(right: OptionRight, side: Side) -> None:
    for trigger in (SPOT, SPOT * 1.006, SPOT * 0.988):
        expected = option_exit_price_from_underlying_move(atm_last(right), trigger / SPOT - 1, side)
        assert exit_price("proportional", right, trigger) == expected
    assert exit_price("proportional", right, SPOT) == atm_last(right)


def test_every_configurable_method_is_accepted() -> None:
    configurable = get_args(OptionsSection.model_fields["exit_price_method"].annotation)
    assert {ExitPriceMethod(m) for m in configurable} == set(ExitPriceMethod)
    assert ExitPriceMethod(OptionsSection().exit_price_method) is ExitPriceMethod.DELTA_GAMMA


# --- model methods -------------------------------------------------------------------------------


@pytest.mark.parametrize("right", [OptionRight.CE, OptionRight.PE])
def test_no_move_returns_the_observed_price(right: OptionRight) -> None:
    for method in ExitPriceMethod:
        assert exit_price(method, right, SPOT) == pytest.approx(atm_last(right), rel=1e-9)


@settings(deadline=None)  # no timing assertions
@given(
    st.sampled_from([OptionRight.CE, OptionRight.PE]),
    st.floats(-0.0005, 0.0005),
    st.floats(0.93, 1.07),
    st.floats(1 / 365, 30 / 365),
    st.floats(0.08, 0.6),
)
def test_delta_gamma_matches_reprice_for_tiny_moves(
    right: OptionRight, move: float, m: float, t: float, vol: float
) -> None:
    k = SPOT * m
    last = float(bsm_price(right, spot=SPOT, strike=k, t_years=t, vol=vol, r=R))
    if last < 1.0:  # below a rupee the tick floor, not the model, decides
        return
    trigger = SPOT * (1 + move)
    dg = exit_price("delta_gamma", right, trigger, last=last, strike=k, t_years=t)
    rp = exit_price("reprice", right, trigger, last=last, strike=k, t_years=t)
    assert abs(dg - rp) <= 0.02 + 1e-3 * rp  # third-order term of a <= 12-point move


def test_time_decay_is_included_when_time_passes() -> None:
    dt = 1 / (365 * 24)  # one hour
    for right in OptionRight:
        still = exit_price("reprice", right, SPOT)
        rp = exit_price("reprice", right, SPOT, dt_years=dt)
        dg = exit_price("delta_gamma", right, SPOT, dt_years=dt)
        assert rp < still and dg < still
        assert dg == pytest.approx(rp, rel=2e-3)


def test_floored_at_one_tick_and_not_rounded() -> None:
    last = float(bsm_price("CE", spot=SPOT, t_years=1 / 365, vol=0.14, r=R, strike=25_000.0))
    far = {"last": last, "strike": 25_000.0, "t_years": 1 / 365}
    for method in ExitPriceMethod:
        assert exit_price(method, OptionRight.CE, SPOT * 0.95, **far) == 0.05
        assert exit_price(method, OptionRight.CE, SPOT * 0.95, tick=0.1, **far) == 0.1
    p = exit_price("delta_gamma", OptionRight.CE, SPOT * 1.003)
    assert abs(p / 0.05 - round(p / 0.05)) > 1e-6


def test_fallback_without_implied_vol_is_intrinsic_plus_time_value() -> None:
    # A put quoted below its discounted intrinsic value (~187.07, a stale quote): no vol.
    for method in ("delta_gamma", "reprice"):
        p = exit_price(method, OptionRight.PE, 23_900.0, last=180.0, strike=24_200.0)
        assert p == pytest.approx(300.0)
        # At expiry: intrinsic at the trigger plus the time value still in the quote.
        p = exit_price(method, OptionRight.PE, 23_900.0, last=210.0, strike=24_200.0, t_years=0)
        assert p == pytest.approx(310.0)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"method": "linear"}, "unknown exit price method"),
        ({"right": "call"}, "CE"),
        ({"option_last": 0.0}, "option_last"),
        ({"underlying_trigger": float("nan")}, "underlying_trigger"),
        ({"t_years": -0.01}, "t_years"),
        ({"dt_years": -0.01}, "dt_years"),
        ({"tick": 0.0}, "tick"),
        ({"r": float("inf")}, "r must be finite"),
    ],
)
def test_validation(change: dict[str, object], match: str) -> None:
    kw: dict[str, object] = {
        "method": "delta_gamma", "option_last": 120.0, "underlying_now": SPOT,
        "underlying_trigger": SPOT, "strike": STRIKE, "right": "CE", "t_years": T, "r": R,
    }  # fmt: skip
    kw.update(change)
    method = kw.pop("method")
    with pytest.raises(ValueError, match=match):
        option_exit_price(method, **kw)  # type: ignore[arg-type]


# --- how far each method lands from full repricing ----------------------------------------------

MOVES = (-0.012, -0.006, -0.004, 0.004, 0.006, 0.012)


def mapping_error_rows(right: OptionRight) -> list[dict[str, float]]:
    rows = []
    for move in MOVES:
        trigger = SPOT * (1 + move)
        rp = exit_price("reprice", right, trigger)
        dg = exit_price("delta_gamma", right, trigger)
        pr = exit_price("proportional", right, trigger)
        rows.append({
            "move_pct": move * 100, "reprice": rp, "delta_gamma": dg,
            "delta_gamma_err_pct": (dg / rp - 1) * 100, "proportional": pr,
            "proportional_err_pct": (pr / rp - 1) * 100,
        })  # fmt: skip
    return rows


@pytest.mark.parametrize("right", [OptionRight.CE, OptionRight.PE])
def test_mapping_error_table(right: OptionRight, capsys: pytest.CaptureFixture[str]) -> None:
    rows = mapping_error_rows(right)
    with capsys.disabled():
        print(f"\n{right}  S={SPOT:.0f} K={STRIKE:.0f} T=3d IV={IV:.0%} r={R:.1%}")
        print("  move%   reprice  delta_gamma (err%)  proportional (err%)")
        for row in rows:
            print(
                f"  {row['move_pct']:+5.1f} {row['reprice']:9.2f} {row['delta_gamma']:9.2f} "
                f"({row['delta_gamma_err_pct']:+6.2f}) {row['proportional']:10.2f} "
                f"({row['proportional_err_pct']:+7.2f})"
            )
    for row in rows:
        assert abs(row["delta_gamma_err_pct"]) < abs(row["proportional_err_pct"])
        if abs(row["move_pct"]) <= 0.6:
            assert abs(row["delta_gamma_err_pct"]) < 5.0
    assert math.isclose(rows[0]["reprice"] + 0.0, exit_price("reprice", right, SPOT * 0.988))


def test_delta_gamma_never_turns_back_on_large_moves_near_expiry() -> None:
    """A 0.6 % fall on an expiry-day ATM call: the quadratic alone would climb back above the
    current price; the mapping must stay below it and equal the repricing."""
    from dyntrail.core.exit_pricing import option_exit_price

    kw = dict(
        option_last=17.9,
        underlying_now=21538.05,
        strike=21550.0,
        right="CE",
        t_years=2.0 / (365 * 24),
        r=0.065,
    )
    trigger = 21538.05 * (1 - 0.006)
    dg = option_exit_price("delta_gamma", underlying_trigger=trigger, **kw)  # type: ignore[arg-type]
    rp = option_exit_price("reprice", underlying_trigger=trigger, **kw)  # type: ignore[arg-type]
    assert dg < 17.9
    assert dg == rp
