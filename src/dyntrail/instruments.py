"""Instrument specs: the packaged defaults (``dyntrail/instruments.toml``) merged with the user's
overrides, turned into the core's ``InstrumentSpec``; and the coverage check a runner makes
before a run.

Overrides have the shape of the packaged file: a mapping from instrument name to a table of keys
(``strike_step``, ``tick_size``, ``freeze_qty``, ``lot_sizes``, ``expiry_rules``). A key given in
an override replaces the packaged key entirely (a ``lot_sizes`` list replaces the whole list, it
is not merged entry by entry). An override may also define a new instrument, which must then
give every key. Names are case-insensitive (``"nifty"`` is ``NIFTY``).

Entry shapes (TOML dates, or "YYYY-MM-DD" strings):

- ``lot_sizes``: ``{ lot_size, first_expiry, first_monthly_expiry? }`` keyed by contract expiry
  (see ``dyntrail.core.contracts.ContractLot``). The old ``{ from, lot_size }`` still loads and
  means first_expiry = first_monthly_expiry = from: the contracts *expiring* on or after it.
- ``expiry_rules``: ``{ from, weekday, cycle?, monthly_weekday? }``.
- ``freeze_qty``: a number (one limit on every date) or a list of ``{ from, freeze_qty }``.
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from dyntrail.core.contracts import (
    ContractLot,
    DatedFreezeQty,
    ExpiryRule,
    InstrumentSpec,
    MissingFact,
    next_expiry,
)
from dyntrail.errors import ConfigError

if TYPE_CHECKING:
    from dyntrail.core.config import Config

PACKAGED_SOURCE = "dyntrail/instruments.toml"
SPEC_KEY = "[instrument.spec]"
_KEYS = ("strike_step", "tick_size", "freeze_qty", "lot_sizes", "expiry_rules")
_LOT_KEYS = ("lot_size", "first_expiry", "first_monthly_expiry", "from")
_RULE_KEYS = ("from", "weekday", "cycle", "monthly_weekday")
_FREEZE_KEYS = ("from", "freeze_qty")

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


def resolve_instrument(cfg: Config) -> InstrumentSpec:
    """The spec of the instrument ``cfg`` trades (``[instrument]``: the packaged table's, with
    its own ``[instrument.spec]`` on top)."""
    name = cfg.instrument.name
    return load_instrument(name, {name: cfg.instrument.spec} if cfg.instrument.spec else None)


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
    lot_entries = _tables(table["lot_sizes"], _LOT_KEYS, f"{where} lot_sizes")
    rule_entries = _tables(table["expiry_rules"], _RULE_KEYS, f"{where} expiry_rules")
    try:
        return InstrumentSpec(
            underlying=name,
            strike_step=table["strike_step"],
            tick_size=table["tick_size"],
            freeze_qtys=_freeze_qtys(table["freeze_qty"], f"{where} freeze_qty"),
            lot_sizes=tuple(_lot(e, at) for at, e in lot_entries),
            expiry_rules=tuple(_rule(e, at) for at, e in rule_entries),
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _tables(value: Any, keys: tuple[str, ...], where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """Check a list of tables for unknown keys; return (location, table) pairs."""
    if not isinstance(value, list) or not all(isinstance(e, Mapping) for e in value):
        raise ConfigError(f"{where}: expected a list of tables, got {value!r}")
    out: list[tuple[str, Mapping[str, Any]]] = []
    for i, entry in enumerate(value):
        at = f"{where}[{i}]"
        unknown = sorted(set(entry) - set(keys))
        if unknown:
            raise ConfigError(f"{at}: unknown key(s) {unknown}; valid keys: {', '.join(keys)}")
        out.append((at, entry))
    return out


def _required(entry: Mapping[str, Any], at: str, *keys: str) -> None:
    lacking = [k for k in keys if k not in entry]
    if lacking:
        raise ConfigError(f"{at}: {dict(entry)!r} lacks {', '.join(lacking)}")


def _lot(entry: Mapping[str, Any], at: str) -> ContractLot:
    """A lot entry; ``from`` is the old key: the contracts expiring on or after it."""
    _required(entry, at, "lot_size")
    if "from" in entry:
        if "first_expiry" in entry or "first_monthly_expiry" in entry:
            raise ConfigError(
                f"{at}: give first_expiry (and first_monthly_expiry) or the old 'from', not both"
            )
        first = _date(entry["from"], at, "from")
        return ContractLot(entry["lot_size"], first, first)
    _required(entry, at, "first_expiry")
    monthly = entry.get("first_monthly_expiry")
    return ContractLot(
        entry["lot_size"],
        _date(entry["first_expiry"], at, "first_expiry"),
        None if monthly is None else _date(monthly, at, "first_monthly_expiry"),
    )


def _rule(entry: Mapping[str, Any], at: str) -> ExpiryRule:
    _required(entry, at, "from", "weekday")
    return ExpiryRule(
        _date(entry["from"], at, "from"),
        entry["weekday"],
        entry.get("cycle", "weekly"),
        entry.get("monthly_weekday"),
    )


def _freeze_qtys(value: Any, where: str) -> tuple[DatedFreezeQty, ...]:
    """A plain number is one limit on every date; else a list of ``{ from, freeze_qty }``."""
    if not isinstance(value, list):
        return (DatedFreezeQty(dt.date.min, value),)
    out = []
    for at, entry in _tables(value, _FREEZE_KEYS, where):
        _required(entry, at, *_FREEZE_KEYS)
        out.append(DatedFreezeQty(_date(entry["from"], at, "from"), entry["freeze_qty"]))
    return tuple(out)


def _date(value: Any, where: str, key: str) -> dt.date:
    """A TOML date or an ISO "YYYY-MM-DD" string (a date-time is refused)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}: {key!r} {value!r} is not a date; write it as 2024-11-20")


# --------------------------------------------------------------------------- coverage


def check_coverage(
    spec: InstrumentSpec,
    first_day: dt.date,
    last_day: dt.date,
    trading_days: Iterable[dt.date],
    *,
    trade: Literal["options", "underlying"] = "options",
    skip_expiry_day: bool = False,
    min_days_to_expiry: int = 0,
) -> None:
    """Before a run: ask for every trading day in ``[first_day, last_day]`` exactly what the
    engine will ask, and raise one ``ConfigError`` listing every fact the spec lacks.

    For each day: the freeze quantity; with ``trade="options"`` the next expiry (with the
    config's ``skip_expiry_day`` and ``min_days_to_expiry``) and that contract's lot; with
    ``"underlying"`` the lot of the nearest monthly contract. ``trading_days`` is the calendar
    the engine gets (it must reach past ``last_day`` to the expiries). Each problem names the
    instrument, the first date it hits, and the ``[instrument.spec]`` key and entry field that
    would cover it.
    """
    days = sorted(set(trading_days))
    gaps: dict[tuple[str, str], list[MissingFact]] = {}
    other: dict[str, str] = {}
    lots: dict[dt.date, int] = {}

    def ask(question: Callable[[], object], day: dt.date) -> None:
        try:
            question()
        except MissingFact as gap:
            gaps.setdefault((gap.key, gap.field), []).append(gap)
        except ValueError as exc:
            other.setdefault(str(exc), f"{spec.underlying} on {day.isoformat()}: {exc}")

    def lot(day: dt.date) -> int:
        if trade != "options":
            return spec.futures_lot_size_on(day)
        expiry = next_expiry(
            spec, day, days, skip_expiry_day=skip_expiry_day, min_days_to_expiry=min_days_to_expiry
        )
        if expiry not in lots:  # many days share an expiry
            lots[expiry] = spec.lot_size_for(expiry, days)
        return lots[expiry]

    for day in (d for d in days if first_day <= d <= last_day):
        ask(functools.partial(spec.freeze_qty_on, day), day)
        ask(functools.partial(lot, day), day)
    problems = [_gap_problem(found) for found in gaps.values()] + list(other.values())
    if problems:
        raise ConfigError(problems)


def check_config_coverage(
    cfg: Config,
    spec: InstrumentSpec,
    first_day: dt.date,
    last_day: dt.date,
    trading_days: Iterable[dt.date],
) -> None:
    """``check_coverage`` with the options a config gives the engine."""
    check_coverage(
        spec,
        first_day,
        last_day,
        trading_days,
        trade=cfg.instrument.trade,
        skip_expiry_day=cfg.options.skip_expiry_day,
        min_days_to_expiry=cfg.options.min_days_to_expiry,
    )


def _gap_problem(found: list[MissingFact]) -> str:
    """One line for the gaps of one key: the earliest date decides what an entry must cover."""
    first = min(found, key=lambda g: g.day)
    dates = sorted({g.day for g in found})
    more = f" (and {len(dates) - 1} later, up to {dates[-1].isoformat()})" if dates[1:] else ""
    fix = f"add an entry to {SPEC_KEY} {first.key} ({first.field} <= {first.day.isoformat()})"
    if first.key == "freeze_qty":
        fix += ", or set freeze_qty to one number"
    return f"{first.underlying} has no {first.what}{more}: {fix}"
