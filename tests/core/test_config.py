"""Config: the design document's block loads unchanged; every error kind names file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail import Config, ConfigError, load_config
from dyntrail.core.config_load import dump_config, parse_config
from dyntrail.core.types import TrailMethod, VixTier
from dyntrail.starter import STARTER_TOML


def test_design_block_loads_unchanged_and_maps_to_document_fields(design_toml: Path) -> None:
    cfg = load_config(design_toml)
    s = cfg.strategy
    assert s.name == "rust_dynamic_targets"
    assert (s.sl_underlying_pct, s.be_underlying_pct, s.time_stop_min) == (0.006, 0.004, 30)
    assert (s.base_rr, s.rr_elevated_vix, s.rr_high_vix, s.rr_low_vix) == (1.5, 1.2, 1.0, 1.8)
    assert (s.scale_out_ratio, s.atr_period, s.atr_trail_mult) == (0.5, 14, 2.5)
    assert str(s.time.flatten) == "15:15:00"
    assert cfg == Config()  # the document's numbers are the defaults


def test_empty_file_is_the_default(tmp_path: Path) -> None:
    p = tmp_path / "empty.toml"
    p.write_text("", encoding="utf-8")
    assert load_config(p) == Config() == load_config(None)


def test_starter_file_loads_to_the_defaults() -> None:
    assert parse_config(STARTER_TOML, "starter") == Config()


def test_dump_round_trips_defaults() -> None:
    assert parse_config(dump_config(Config())) == Config()


@settings(max_examples=40, deadline=None)
@given(
    sl=st.floats(0.001, 0.05),
    be=st.floats(0.001, 0.05),
    rr=st.floats(0.2, 5.0),
    ratio=st.floats(0.01, 1.0),
    period=st.integers(1, 60),
    mult=st.floats(0.1, 6.0),
    method=st.sampled_from(["atr", "swing"]),
    tier=st.sampled_from(list(VixTier)),
)
def test_config_round_trip(
    sl: float,
    be: float,
    rr: float,
    ratio: float,
    period: int,
    mult: float,
    method: str,
    tier: VixTier,
) -> None:
    text = f"""
[strategy.risk]
sl_underlying_pct = {sl!r}
trail_to_be_underlying_pct = {be!r}
[strategy.targets]
base_rr = {rr!r}
scale_out_ratio = {ratio!r}
[strategy.atr]
period = {period}
multiplier_trail = {mult!r}
[strategy.trail.by_tier.{tier.value}]
method = "{method}"
multiplier = {mult!r}
"""
    cfg = parse_config(text)
    assert cfg.strategy.trail.by_tier[tier].method is TrailMethod(method)
    assert parse_config(dump_config(cfg)) == cfg


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "my.toml")
    assert all(line.startswith("my.toml: ") for line in info.value.problems)
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (
            "[strategy.atr]\nmultiplier_trial = 2.0",
            "strategy.atr.multiplier_trial",
            "did you mean 'multiplier_trail'",
        ),
        (
            '[strategy.risk]\nsl_underlying_pct = "0.006"',
            "strategy.risk.sl_underlying_pct",
            "valid number",
        ),
        ("[strategy.atr]\nperiod = 14.5", "strategy.atr.period", "valid integer"),
        (
            "[strategy.risk]\nsl_underlying_pct = 0.0",
            "strategy.risk.sl_underlying_pct",
            "greater than 0",
        ),
        (
            "[strategy.risk]\ntrail_to_be_underlying_pct = -0.004",
            "strategy.risk.trail_to_be_underlying_pct",
            "greater than 0",
        ),
        ("[strategy.targets]\nbase_rr = -1.5", "strategy.targets.base_rr", "greater than 0"),
        (
            "[strategy.targets]\nscale_out_ratio = 1.5",
            "strategy.targets.scale_out_ratio",
            "less than or equal to 1",
        ),
        (
            "[strategy.targets]\nscale_out_ratio = 0",
            "strategy.targets.scale_out_ratio",
            "greater than 0",
        ),
        ("[strategy.atr]\nperiod = 0", "strategy.atr.period", "greater than or equal to 1"),
        (
            "[strategy.entries]\nadx_period = 0",
            "strategy.entries.adx_period",
            "greater than or equal to 1",
        ),
        ('[strategy.time]\nflatten = "15:61"', "strategy.time.flatten", "malformed time"),
        ('[strategy.time]\nentry_start = "9.20"', "strategy.time.entry_start", "malformed time"),
        ("[strategy.vix]\nnormal_max = 19.0", "strategy.vix.reduced_min", "overlaps"),
        ("[strategy.vix]\nnormal_max = 17.0", "strategy.vix.reduced_min", "hole"),
        (
            "[strategy.vix]\nhigh_max = 24.0\nhalt_above = 24.0",
            "strategy.vix.high_max",
            "greater than high_min",
        ),
        ("[strategy.vix]\nhalt_above = 28.0", "strategy.vix.halt_above", "below high_max"),
        ("[strategy.vix]\nhalt_above = 32.0", "strategy.vix.halt_above", "hole"),
        (
            '[strategy.time]\nentry_start = "09:00:00"',
            "strategy.time.entry_start",
            "not inside the session",
        ),
        ('[strategy.time]\nentry_end = "15:20:00"', "strategy.time.entry_end", "after flatten"),
        ('[strategy.time]\nentry_end = "09:10:00"', "strategy.time.entry_end", "after entry_start"),
        (
            '[strategy.time]\nflatten = "15:45:00"',
            "strategy.time.flatten",
            "not inside the session",
        ),
        ('[strategy.trail.by_tier.hgh]\nmethod = "swing"', "strategy.trail.by_tier", "not one of"),
        ('[strategy.breaker]\npolicy = "panic"', "strategy.breaker.policy", "'flatten'"),
        ('[session]\ntimezone = "Mars/Base"', "session.timezone", "unknown timezone"),
        ("[bogus]\nx = 1", "bogus", "unknown key"),
    ],
)
def test_each_error_kind_names_the_key(text: str, key: str, fragment: str) -> None:
    problems = _errors(text)
    hits = [p for p in problems if f"key '{key}'" in p and fragment in p]
    assert hits, problems


def test_every_error_is_reported_at_once() -> None:
    problems = _errors(
        "[strategy.risk]\nsl_underlying_pct = 0\ntime_stop_min = 0\n[strategy.atr]\nperiod = -1\n"
    )
    assert len(problems) == 3


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    assert "invalid TOML" in _errors("[strategy\n")[0]
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")
