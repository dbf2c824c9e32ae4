"""Loading, validating and writing configuration files.

``load_config`` parses TOML, validates every key and the rules that tie keys together, and raises
one ``ConfigError`` listing every problem, each naming the file, the key and what is wrong.
"""

from __future__ import annotations

import datetime as dt
import difflib
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic.fields import FieldInfo

from dyntrail.core.config import Config
from dyntrail.core.config_marks import PercentTrap
from dyntrail.errors import ConfigError


def load_config(path: str | Path | None = None) -> Config:
    """Read a TOML config file; ``None`` gives the documented defaults.

    Raises ``ConfigError`` naming the file, the key and the problem for unreadable files, TOML
    syntax errors, unknown keys, wrong types, out-of-range values and inconsistent settings.
    """
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror or exc}") from exc
    return parse_config(text, source=str(p))


def parse_config(text: str, source: str = "<config>") -> Config:
    """Parse and validate TOML text; ``source`` names it in error messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    return config_from_mapping(raw, source)


def config_from_mapping(raw: Mapping[str, Any], source: str = "<config>") -> Config:
    """Validate an already-parsed mapping (the TOML structure).

    Fractions typed as percentages (``percent_problems``) are reported with every other problem
    of the file; the type check's own complaint about the same key is left out."""
    traps = percent_problems(raw)
    problems = [f"{source}: key '{key}': {msg}" for key, msg in traps]
    try:
        cfg = Config.model_validate(dict(raw))
    except ValidationError as exc:
        trapped = {key for key, _ in traps}
        problems += [_describe(source, e) for e in exc.errors() if not _explained(e, trapped)]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    problems = [f"{source}: key '{key}': {msg}" for key, msg in consistency_problems(cfg)]
    if problems:
        raise ConfigError(problems)
    return cfg


def percent_problems(
    raw: Mapping[str, Any], model: type[BaseModel] = Config, at: str = ""
) -> list[tuple[str, str]]:
    """Fractions typed as percentages, as (dotted key, problem) pairs: every value of a key
    marked ``PercentTrap`` (each ``*_pct`` key, the option rates) above the key's bound, in the
    sections and the lists of dated entries of ``raw`` (what the file holds, before any
    other check; values of the wrong type are left to that check)."""
    out: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        for key in _input_keys(name, field):
            if key not in raw:
                continue
            value, where = raw[key], f"{at}{key}"
            for trap in (m for m in field.metadata if isinstance(m, PercentTrap)):
                problem = trap.problem(key, value)
                if problem is not None:
                    out.append((where, problem))
            for sub, section, sub_at in _sections(field.annotation, value, where):
                out += percent_problems(section, sub, sub_at)
    return out


def _input_keys(name: str, field: FieldInfo) -> tuple[str, ...]:
    """The names a file may give a field: its own and its aliases (the document's names)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(c for c in alias.choices if isinstance(c, str))
    return (alias,) if isinstance(alias, str) else (name,)


def _sections(
    annotation: Any, value: Any, where: str
) -> Iterator[tuple[type[BaseModel], Mapping[str, Any], str]]:
    """The sub-sections of a field's value to look into: a section, or each entry of a tuple
    of sections (a dated key's list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(value, Mapping):
            yield annotation, value, f"{where}."
    elif get_origin(annotation) is tuple and isinstance(value, list):
        item = get_args(annotation)[0]
        if isinstance(item, type) and issubclass(item, BaseModel):
            for i, entry in enumerate(value):
                if isinstance(entry, Mapping):
                    yield item, entry, f"{where}.{i}."


def _explained(err: Mapping[str, Any], trapped: set[str]) -> bool:
    """Whether a type-check error repeats a percentage problem: the same key's, or a list of
    dated entries left empty because its entries were refused."""
    key = _dotted(err)
    if key in trapped:
        return True
    return err["type"] == "too_short" and any(t.startswith(f"{key}.") for t in trapped)


def _dotted(err: Mapping[str, Any]) -> str:
    return ".".join(str(part) for part in err["loc"])


def consistency_problems(cfg: Config) -> list[tuple[str, str]]:
    """Rules that tie several keys together, as (dotted key, problem) pairs."""
    out: list[tuple[str, str]] = []
    v = cfg.strategy.vix
    chain = [
        ("normal_min", v.normal_min),
        ("normal_max", v.normal_max),
        ("reduced_min", v.reduced_min),
        ("reduced_max", v.reduced_max),
        ("high_min", v.high_min),
        ("high_max", v.high_max),
    ]
    for (lo_key, lo), (hi_key, hi) in zip(chain[0::2], chain[1::2], strict=True):
        if not lo < hi:
            out.append((f"strategy.vix.{hi_key}", f"{hi} must be greater than {lo_key} ({lo})"))
    for (prev_key, prev), (next_key, nxt) in zip(chain[1::2], chain[2::2], strict=False):
        if nxt < prev:
            out.append(
                (
                    f"strategy.vix.{next_key}",
                    f"{nxt} overlaps the tier below (its upper bound {prev_key} is {prev}); "
                    f"set it to {prev}",
                )
            )
        elif nxt > prev:
            out.append(
                (
                    f"strategy.vix.{next_key}",
                    f"{nxt} leaves a hole above {prev_key} ({prev}): VIX in [{prev}, {nxt}) "
                    f"would fall to LOW; set it to {prev}",
                )
            )
    if v.halt_above < v.high_max:
        out.append(
            (
                "strategy.vix.halt_above",
                f"{v.halt_above} is below high_max ({v.high_max}); set it to {v.high_max}",
            )
        )
    elif v.halt_above > v.high_max:
        out.append(
            (
                "strategy.vix.halt_above",
                f"{v.halt_above} leaves a hole above high_max ({v.high_max}): VIX in "
                f"[{v.high_max}, {v.halt_above}) would fall to LOW; set it to {v.high_max}",
            )
        )

    t, s = cfg.strategy.time, cfg.session
    if not s.open < s.close:
        out.append(("session.close", f"{s.close} must be after session.open ({s.open})"))
    if not s.open <= t.entry_start < s.close:
        out.append(
            (
                "strategy.time.entry_start",
                f"{t.entry_start} is not inside the session {s.open}-{s.close}",
            )
        )
    if not t.entry_start < t.entry_end:
        out.append(
            (
                "strategy.time.entry_end",
                f"{t.entry_end} must be after entry_start ({t.entry_start})",
            )
        )
    if t.entry_end > t.flatten:
        out.append(("strategy.time.entry_end", f"{t.entry_end} ends after flatten ({t.flatten})"))
    if not s.open < t.flatten <= s.close:
        out.append(
            ("strategy.time.flatten", f"{t.flatten} is not inside the session {s.open}-{s.close}")
        )

    m = cfg.strategy.momentum
    if m.min_factor > 1 or m.max_factor < 1:
        out.append(
            (
                "strategy.momentum.min_factor",
                f"the range [{m.min_factor}, {m.max_factor}] must contain 1.0",
            )
        )
    return out


def _describe(source: str, err: Mapping[str, Any]) -> str:
    loc = [str(part) for part in err["loc"]]
    key = _dotted(err) or "(top level)"
    if err["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        hint = ""
        if parent is not None:
            close = difflib.get_close_matches(loc[-1], _keys_of(parent), n=1)
            hint = (
                f"; did you mean '{close[0]}'?"
                if close
                else f"; known keys: {', '.join(_keys_of(parent))}"
            )
        return f"{source}: key '{key}': unknown key{hint}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    value = err.get("input")
    shown = "" if isinstance(value, Mapping) else f" (got {value!r})"
    return f"{source}: key '{key}': {msg}{shown}"


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    """The section model at a dotted location, to suggest keys for a typo."""
    model: type[BaseModel] = Config
    for part in loc:
        fields = {
            key: f
            for name, f in model.model_fields.items()
            for key in (name, f.serialization_alias)
            if key
        }
        ann = getattr(fields.get(part), "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.serialization_alias or name for name, f in model.model_fields.items()]


# --------------------------------------------------------------------------- writing


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The resolved config as plain TOML-able data, with the document's key names."""
    data = cfg.model_dump(mode="python", by_alias=True)
    if not data.get("instruments"):  # one underlying: written as [instrument] alone
        data.pop("instruments", None)
    else:  # several: the list alone (its first is ``instrument``)
        data.pop("instrument", None)
    return _plain(data)  # type: ignore[no-any-return]


def dump_config(cfg: Config) -> str:
    """The resolved config as TOML text that ``parse_config`` reads back to an equal config."""
    import tomli_w

    return tomli_w.dumps(config_to_dict(cfg))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if hasattr(value, "value") and isinstance(value.value, str):  # StrEnum
        return str(value.value)
    return value
