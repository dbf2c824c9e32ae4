"""A percentage typed where a fraction is expected is an error that says so.

Every ``*_pct`` key (and the option rates) is a fraction with a plausible upper bound; a value
above it names the file, the key and the value, and gives the fraction to write. The bounds
let the defaults, the design document's block, the starter file and the examples load.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from dyntrail import Config, ConfigError
from dyntrail.core.config_load import config_from_mapping, load_config, parse_config
from dyntrail.core.config_marks import PercentTrap
from dyntrail.starter import STARTER_TOML

ROOT = Path(__file__).resolve().parents[2]


def _keys(model: type[BaseModel] = Config, at: str = "") -> Iterator[tuple[str, float | None]]:
    """Every key of the config as the file writes it (dotted), with its bound (None: none)."""
    for name, field in model.model_fields.items():
        key = f"{at}{field.serialization_alias or name}"
        traps = [m.upper for m in field.metadata if isinstance(m, PercentTrap)]
        yield key, traps[0] if traps else None
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _keys(ann, f"{key}.")


BOUNDS = {key: upper for key, upper in _keys() if upper is not None}


def _toml(key: str, value: float) -> str:
    section, name = key.rsplit(".", 1)
    return f"[{section}]\n{name} = {value!r}\n"


def test_every_pct_key_has_a_bound() -> None:
    pct = {key for key, _ in _keys() if key.endswith("_pct")}
    assert pct <= set(BOUNDS), sorted(pct - set(BOUNDS))
    assert set(BOUNDS) - pct == {"options.risk_free_rate", "options.dividend_yield"}
    assert BOUNDS["strategy.risk.sl_underlying_pct"] == 0.05
    assert BOUNDS["strategy.risk.trail_to_be_underlying_pct"] == 0.05
    assert BOUNDS["strategy.entries.gap_pct"] == 0.1
    assert BOUNDS["costs.stt_sell_pct"] == BOUNDS["costs.stamp_buy_pct"] == 0.01


def test_the_design_documents_example_names_key_value_and_fix() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[strategy.risk]\nsl_underlying_pct = 0.6\n", "my.toml")
    assert info.value.problems == [
        "my.toml: key 'strategy.risk.sl_underlying_pct': sl_underlying_pct = 0.6 reads as 60 %; "
        "fractions are used: write 0.006 for 0.6 % (a value above 0.05 is taken for a percentage)"
    ]


@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_above_the_bound_is_an_error_at_the_bound_is_not(key: str) -> None:
    upper = BOUNDS[key]
    value = round(upper * 2, 6)
    with pytest.raises(ConfigError) as info:
        parse_config(_toml(key, value), "user.toml")
    name = key.rsplit(".", 1)[1]
    assert info.value.problems == [
        f"user.toml: key '{key}': {name} = {value:.6g} reads as {value * 100:.6g} %; fractions "
        f"are used: write {value / 100:.6g} for {value:.6g} % (a value above {upper:.6g} is "
        "taken for a percentage)"
    ]
    parse_config(_toml(key, upper), "user.toml")  # the bound itself is plausible


@pytest.mark.parametrize("value", [1, 6.5, 60, 100])
def test_a_whole_percentage_is_one_problem_not_two(value: float) -> None:
    """At or above 1 the type check would also complain ("less than 1"): one line says it all."""
    with pytest.raises(ConfigError) as info:
        parse_config(f"[limits]\ndaily_loss_limit_pct = {value}\n", "user.toml")
    (line,) = info.value.problems
    assert f"daily_loss_limit_pct = {value:g} reads as {value * 100:g} %" in line
    assert f"write {value / 100:g} for {value:g} %" in line


def test_dated_rates_plain_and_listed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[costs]\nexchange_txn_pct = 0.05\n", "user.toml")
    assert info.value.problems == [
        "user.toml: key 'costs.exchange_txn_pct': exchange_txn_pct = 0.05 reads as 5 %; "
        "fractions are used: write 0.0005 for 0.05 % (a value above 0.01 is taken for a "
        "percentage)"
    ]
    listed = (
        "[costs]\nstt_sell_pct = "
        "[{ from = 2023-04-01, pct = 0.0625 }, { from = 2024-10-01, pct = 1.5 }]\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(listed, "user.toml")
    assert [p.split(": ", 2)[1] for p in info.value.problems] == [
        "key 'costs.stt_sell_pct.0.pct'",
        "key 'costs.stt_sell_pct.1.pct'",
    ]  # no "at least 1 item" echo of the refused entries
    assert (
        "pct = 0.0625 reads as 6.25 %; fractions are used: write 0.000625" in info.value.problems[0]
    )


def test_reported_with_every_other_problem_at_once() -> None:
    text = (
        "[strategy.risk]\ntrail_to_be_underlying_pct = 0.4\ntime_stop_min = 0\n"
        "[strategy.entries]\ngap_pct = 0.5\n"
        "[costs]\nexchange_txn_pct = "
        "[{ from = 2024-10-01, pct = 0.1 }, { from = 2023-04-01, pct = 0.2 }]\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "user.toml")
    keys = [p.split("'")[1] for p in info.value.problems]
    assert set(keys) == {
        "strategy.risk.trail_to_be_underlying_pct",  # by the document's name, as typed
        "strategy.risk.time_stop_min",
        "strategy.entries.gap_pct",
        "costs.exchange_txn_pct.0.pct",
        "costs.exchange_txn_pct.1.pct",
        "costs.exchange_txn_pct",  # the dates, still checked
    }


def test_values_of_the_wrong_type_are_left_to_the_type_check() -> None:
    for text in (
        '[strategy.risk]\nsl_underlying_pct = "0.6"',
        "[limits]\ndaily_loss_limit_pct = true",
    ):
        with pytest.raises(ConfigError) as info:
            parse_config(text, "user.toml")
        assert "reads as" not in str(info.value) and "valid number" in str(info.value)


def test_no_legitimate_file_is_refused(design_toml: Path) -> None:
    assert load_config(design_toml) == Config()
    assert parse_config(STARTER_TOML, "starter") == Config()
    w1 = tomllib.loads((ROOT / "examples" / "w1.toml").read_text(encoding="utf-8"))
    assert config_from_mapping(w1, "w1.toml").limits.daily_loss_limit_pct == 0.99  # "off"


def test_the_starter_file_documents_each_bound() -> None:
    section = ""
    lines: dict[str, str] = {}
    for line in STARTER_TOML.splitlines():
        if line.startswith("["):
            section = line.split("]")[0].strip("[")
        elif " = " in line and not line.startswith(("#", " ")):
            lines[f"{section}.{line.split(' = ')[0].strip()}"] = line
    for key, upper in BOUNDS.items():
        assert f"[<= {upper:g}]" in lines[key], key
