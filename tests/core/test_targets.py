"""Targets: the document's formulas exactly; the context dynamics only when asked for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyntrail import Config, DynamicTargetEngine, Side, VixTier
from dyntrail.core.config_load import parse_config
from dyntrail.core.targets import TargetContext

ENGINE = DynamicTargetEngine(Config())


def test_document_example_long_normal() -> None:
    t = ENGINE.compute_targets(Side.LONG, 20000.0, VixTier.NORMAL)
    assert t.stop_underlying == pytest.approx(19880.0, abs=1e-9)
    assert t.t1_underlying == pytest.approx(20180.0, abs=1e-9)
    assert t.t2_underlying == pytest.approx(20240.0, abs=1e-9)
    assert t.move_be_underlying == pytest.approx(20080.0, abs=1e-9)


def test_document_example_short_normal() -> None:
    t = ENGINE.compute_targets(Side.SHORT, 20000.0, VixTier.NORMAL)
    assert (t.stop_underlying, t.t1_underlying, t.t2_underlying, t.move_be_underlying) == (
        pytest.approx(20120.0),
        pytest.approx(19820.0),
        pytest.approx(19760.0),
        pytest.approx(19920.0),
    )


@pytest.mark.parametrize(
    ("tier", "rr"),
    [
        (VixTier.LOW, 1.8),
        (VixTier.NORMAL, 1.5),
        (VixTier.REDUCED, 1.2),
        (VixTier.HIGH, 1.0),
        (VixTier.HALT, 1.0),
    ],
)
def test_rr_per_tier_and_exact_formulas(tier: VixTier, rr: float) -> None:
    assert ENGINE.rr_for_tier(tier) == rr
    e = 23456.7
    risk = e * 0.006
    t = ENGINE.compute_targets(Side.LONG, e, tier)
    assert t.t1_underlying == e + rr * risk
    assert t.t2_underlying == e + (rr + 0.5) * risk
    assert t.stop_underlying == e - risk
    assert t.move_be_underlying == e + e * 0.004


@given(entry=st.floats(1000, 100000), tier=st.sampled_from(list(VixTier)))
def test_long_short_mirror(entry: float, tier: VixTier) -> None:
    lo = ENGINE.compute_targets(Side.LONG, entry, tier)
    sh = ENGINE.compute_targets(Side.SHORT, entry, tier)
    for a, b in [
        (lo.stop_underlying, sh.stop_underlying),
        (lo.t1_underlying, sh.t1_underlying),
        (lo.t2_underlying, sh.t2_underlying),
        (lo.move_be_underlying, sh.move_be_underlying),
    ]:
        assert a - entry == pytest.approx(entry - b, rel=1e-12)
    assert lo.stop_underlying < entry < lo.move_be_underlying < lo.t1_underlying < lo.t2_underlying


def test_update_trailing_is_the_document_formula() -> None:
    assert ENGINE.update_trailing(Side.LONG, 20100.0, 10.0) == 20075.0
    assert ENGINE.update_trailing(Side.SHORT, 20100.0, 10.0) == 20125.0
    assert ENGINE.update_trailing(Side.LONG, 20100.0, 10.0, multiplier=1.0) == 20090.0


def test_neutral_context_changes_nothing() -> None:
    plain = ENGINE.compute_targets(Side.LONG, 20000.0, VixTier.NORMAL)
    ctx = TargetContext(atr=10.0, vwap=20000.0, swing_structure=0, minutes_to_flatten=300.0)
    assert ENGINE.compute_targets(Side.LONG, 20000.0, VixTier.NORMAL, ctx) == plain


def test_stretched_entry_shrinks_targets_aligned_swings_grow_them() -> None:
    plain = ENGINE.compute_targets(Side.LONG, 20000.0, VixTier.NORMAL)
    stretched = ENGINE.compute_targets(
        Side.LONG, 20000.0, VixTier.NORMAL, TargetContext(atr=20.0, vwap=19900.0)
    )
    # 5 ATRs above VWAP: 3 beyond the 2-ATR stretch -> rr x 0.7
    assert stretched.t1_underlying == pytest.approx(20000 + 1.5 * 0.7 * 120)
    assert stretched.stop_underlying == plain.stop_underlying
    up = ENGINE.compute_targets(
        Side.LONG, 20000.0, VixTier.NORMAL, TargetContext(swing_structure=1)
    )
    down = ENGINE.compute_targets(
        Side.SHORT, 20000.0, VixTier.NORMAL, TargetContext(swing_structure=1)
    )
    assert up.t1_underlying == pytest.approx(20000 + 1.5 * 1.15 * 120)
    assert down.t1_underlying == pytest.approx(20000 - 1.5 * 0.85 * 120)


def test_time_left_caps_unreachable_targets() -> None:
    ctx = TargetContext(atr=20.0, minutes_to_flatten=16.0, bar_minutes=1.0)
    t = ENGINE.compute_targets(Side.LONG, 20000.0, VixTier.NORMAL, ctx)
    cap = 1.5 * 20.0 * 4.0  # k x ATR x sqrt(16 bars) = 120 < T2's 240
    assert t.t2_underlying - 20000 == pytest.approx(cap)
    assert t.t1_underlying - 20000 == pytest.approx(cap * 180 / 240)
    tiny = ENGINE.compute_targets(
        Side.LONG, 20000.0, VixTier.NORMAL, TargetContext(atr=1.0, minutes_to_flatten=1.0)
    )
    assert tiny.t1_underlying - 20000 == pytest.approx(0.5 * 120)  # floor: min_t1_rr x risk
    assert tiny.t2_underlying > tiny.t1_underlying


def test_dynamics_switch_off() -> None:
    eng = DynamicTargetEngine(
        parse_config(
            "[strategy.momentum]\nenabled = false\n[strategy.time_left]\nenabled = false\n"
        )
    )
    ctx = TargetContext(atr=20.0, vwap=19900.0, swing_structure=-1, minutes_to_flatten=1.0)
    assert eng.compute_targets(Side.LONG, 20000.0, VixTier.NORMAL, ctx) == eng.compute_targets(
        Side.LONG, 20000.0, VixTier.NORMAL
    )


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan")])
def test_bad_entry_is_an_error(bad: float) -> None:
    with pytest.raises(ValueError, match="entry_underlying"):
        ENGINE.compute_targets(Side.LONG, bad, VixTier.NORMAL)
