"""Instrument specs: the packaged defaults (``dyntrail/instruments.toml``) merged with the user's
overrides, turned into the core's ``InstrumentSpec``.

Overrides have the shape of the packaged file: a mapping from instrument name to a table of keys
(``strike_step``, ``tick_size``, ``freeze_qty``, ``lot_sizes``, ``expiry_rules``). A key given in
an override replaces the packaged key entirely (a ``lot_sizes`` list replaces the whole list, it
is not merged entry by entry). An override may also define a new instrument, which must then
give every key. Names are case-insensitive (``"nifty"`` is ``NIFTY``).
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from dyntrail.core.contracts import DatedLotSize, ExpiryRule, InstrumentSpec
from dyntrail.errors import ConfigError

PACKAGED_SOURCE = "dyntrail/instruments.toml"
_KEYS = ("strike_step", "tick_size", "freeze_qty", "lot_sizes", "expiry_rules")
_LOT_KEYS = ("from", "lot_size")
_RULE_KEYS = ("from", "weekday", "cycle")

Overrides = Mapping[str, Mapping[str, Any]]


@functools.lru_cache(maxsize=1)
def _packaged() -> dict[str, Any]:
    text = resources.files("dyntrail").joinpath("instruments.toml").read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - the packaged file is tested
        raise ConfigError(f"{PACKAGED_SOURCE}: invalid TOML: {exc}") from exc


def _normalised(overrides: Overrides | None) -> dict[str, Mapping[str, Any]]:
    if overrides is None:
        return {}
    out: dict[str, Mapping[str, Any]] = {}
    for name, table in overrides.items():
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"instrument overrides: [{name}] must be a table of keys, got {table!r}"
            )
        out[str(name).strip().upper()] = table
    return out


def known_instruments(overrides: Overrides | None = None) -> tuple[str, ...]:
    """Names of the packaged instruments and of those the overrides define, sorted."""
    return tuple(sorted(set(_packaged()) | set(_normalised(overrides))))


def load_instrument(name: str, overrides: Overrides | None = None) -> InstrumentSpec:
    """The spec of ``name``: packaged keys, replaced key by key by ``overrides[name]``.

    Raises ``ConfigError`` for an unknown name (listing the known ones) and for a missing, unknown
    or invalid key (naming the source, the instrument, the key and the value).
    """
    key = name.strip().upper()
    packaged = _packaged().get(key, {})
    override = _normalised(overrides).get(key, {})
    if not packaged and not override:
        known = ", ".join(known_instruments(overrides))
        raise ConfigError(f"unknown instrument {name!r}: known instruments are {known}")
    source = PACKAGED_SOURCE if not override else f"{PACKAGED_SOURCE} + overrides"
    return spec_from_mapping(key, {**packaged, **override}, source=source)


def load_instruments(overrides: Overrides | None = None) -> dict[str, InstrumentSpec]:
    """Every known instrument's spec (see ``load_instrument``)."""
    return {n: load_instrument(n, overrides) for n in known_instruments(overrides)}


def spec_from_mapping(
    name: str, table: Mapping[str, Any], source: str = "<instruments>"
) -> InstrumentSpec:
    """Build an ``InstrumentSpec`` from one instrument's table (the TOML shape)."""
    where = f"{source} [{name}]"
    unknown = sorted(set(table) - set(_KEYS))
    missing = [k for k in _KEYS if k not in table]
    if unknown or missing:
        problems = [f"{where}: unknown key {k!r}; valid keys: {', '.join(_KEYS)}" for k in unknown]
        problems += [f"{where}: missing key {k!r}" for k in missing]
        raise ConfigError(problems)
    lot_entries = _entries(table["lot_sizes"], _LOT_KEYS, f"{where} lot_sizes")
    rule_entries = _entries(table["expiry_rules"], _RULE_KEYS, f"{where} expiry_rules")
    try:
        lots = tuple(DatedLotSize(d, e["lot_size"]) for d, e in lot_entries)
        rules = tuple(
            ExpiryRule(d, e["weekday"], e.get("cycle", "weekly")) for d, e in rule_entries
        )
        return InstrumentSpec(
            underlying=name,
            strike_step=table["strike_step"],
            tick_size=table["tick_size"],
            freeze_qty=table["freeze_qty"],
            lot_sizes=lots,
            expiry_rules=rules,
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _entries(
    value: Any, keys: tuple[str, ...], where: str
) -> list[tuple[dt.date, Mapping[str, Any]]]:
    """Check a list of dated tables; return (from date, table) pairs. ``cycle`` may be left out."""
    if not isinstance(value, list) or not all(isinstance(e, Mapping) for e in value):
        raise ConfigError(f"{where}: expected a list of tables, got {value!r}")
    out: list[tuple[dt.date, Mapping[str, Any]]] = []
    for i, entry in enumerate(value):
        at = f"{where}[{i}]"
        unknown = sorted(set(entry) - set(keys))
        if unknown:
            raise ConfigError(f"{at}: unknown key(s) {unknown}; valid keys: {', '.join(keys)}")
        lacking = [k for k in keys if k != "cycle" and k not in entry]
        if lacking:
            raise ConfigError(f"{at}: {dict(entry)!r} lacks {', '.join(lacking)}")
        out.append((_date(entry["from"], at), entry))
    return out


def _date(value: Any, where: str) -> dt.date:
    """A TOML date or an ISO "YYYY-MM-DD" string (a date-time is refused)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}: 'from' {value!r} is not a date; write it as 2024-11-20")
