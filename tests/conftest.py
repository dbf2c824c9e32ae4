"""Shared fixtures: everything comes from the project's own code with fixed seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

DESIGN_TOML = """
[strategy]
name = "rust_dynamic_targets"

[strategy.vix]
normal_min = 12.0
normal_max = 18.0
reduced_min = 18.0
reduced_max = 25.0
high_min = 25.0
high_max = 30.0
halt_above = 30.0

[strategy.risk]
sl_underlying_pct = 0.006          # 0.6% adverse move
trail_to_be_underlying_pct = 0.004 # +0.4% move to BE
time_stop_min = 30

[strategy.targets]
base_rr = 1.5                      # base risk:reward
rr_elevated_vix = 1.2
rr_high_vix = 1.0
rr_low_vix = 1.8
scale_out_ratio = 0.5

[strategy.atr]
period = 14
multiplier_trail = 2.5

[strategy.time]
entry_start = "09:20:00"
entry_end   = "15:00:00"
flatten     = "15:15:00"
"""


@pytest.fixture
def design_toml(tmp_path: Path) -> Path:
    """The design document's TOML block, byte for byte, as a file."""
    p = tmp_path / "design.toml"
    p.write_text(DESIGN_TOML, encoding="utf-8")
    return p
