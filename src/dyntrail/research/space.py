"""A sweep's search space, read from TOML: which config keys vary and how, how points are
chosen (grid, random, adaptive with Optuna), the constraints a point must meet, the objective,
the minimum trade count and the walk-forward windows.

```toml
[sweep]
method = "grid"          # grid | random | optuna
trials = 40              # random and optuna: how many points
seed = 7
objective = "sharpe"     # sharpe | profit_factor | net_pnl | calmar | an expression of KPIs
min_trades = 30          # a trial with fewer trades is not a candidate
constraints = ["strategy.targets.base_rr >= strategy.targets.t2_extra_rr"]

[params]
"strategy.targets.base_rr" = [1.2, 1.5, 1.8]                  # these values
"strategy.atr.multiplier_trail" = { low = 1.5, high = 3.5, step = 0.5 }
"strategy.risk.time_stop_min" = { low = 15, high = 60, step = 15, int = true }
"strategy.risk.trail_to_be_underlying_pct" = { low = 0.002, high = 0.008, log = true }

[walk_forward]           # optional
mode = "rolling"         # rolling | anchored
in_sample_days = 120
out_of_sample_days = 40
```

Keys are the config file's dotted names; each point is checked as a config file is
(``ConfigError`` naming the key). Expressions (constraints, the objective) are arithmetic and
comparisons over names, read by a small evaluator of their syntax tree: no Python is run."""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import operator
import random
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dyntrail.errors import ConfigError

Value = float | int | str | bool
Point = dict[str, Value]

OBJECTIVES = ("sharpe", "profit_factor", "net_pnl", "calmar")
METHODS = ("grid", "random", "optuna")


@dataclass(frozen=True, slots=True)
class Param:
    """One key's values: ``choices``, or a range ``low``..``high`` (``step``: a grid of it;
    ``log``: sampled on a log scale; ``integer``: whole numbers)."""

    name: str
    choices: tuple[Value, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    integer: bool = False

    def grid(self) -> tuple[Value, ...]:
        """The values a grid takes (``ConfigError`` for a range without a step)."""
        if self.choices:
            return self.choices
        if self.step is None:
            raise ConfigError(
                f"[params] {self.name!r}: a grid needs choices or a step; give step = ... or "
                "use method = 'random' or 'optuna'"
            )
        assert self.low is not None and self.high is not None
        n = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        vals = [self.low + k * self.step for k in range(n)]
        return tuple(round(v) if self.integer else round(v, 10) for v in vals)

    def sample(self, rng: random.Random) -> Value:
        if self.choices:
            return rng.choice(self.choices)
        assert self.low is not None and self.high is not None
        if self.step is not None:
            return rng.choice(self.grid())
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            v = rng.uniform(self.low, self.high)
        return round(v) if self.integer else v


@dataclass(frozen=True, slots=True)
class WalkForward:
    """Rolling (fixed-length in-sample) or anchored (in-sample from the first day) windows."""

    mode: str = "rolling"
    in_sample_days: int = 120
    out_of_sample_days: int = 40
    step_days: int | None = None  # default: the out-of-sample length

    def windows(self, days: list[Any]) -> list[tuple[list[Any], list[Any]]]:
        """(in-sample days, out-of-sample days) of each window over the trading ``days``."""
        step = self.step_days or self.out_of_sample_days
        out = []
        start = 0
        while True:
            is_from = 0 if self.mode == "anchored" else start
            is_end = start + self.in_sample_days
            oos_end = is_end + self.out_of_sample_days
            if oos_end > len(days):
                break
            out.append((days[is_from:is_end], days[is_end:oos_end]))
            start += step
        return out


@dataclass(frozen=True)
class Space:
    """A sweep's space and settings (see the module docstring)."""

    params: tuple[Param, ...]
    method: str = "grid"
    trials: int = 20
    seed: int = 7
    objective: str = "sharpe"
    direction: str = "maximize"
    min_trades: int = 0
    constraints: tuple[str, ...] = ()
    walk_forward: WalkForward | None = None
    source: str = "<space>"
    doc: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the TOML it was read from
    _checks: tuple[Callable[[Mapping[str, float]], float], ...] = field(default=(), repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def admits(self, point: Mapping[str, Value]) -> bool:
        """``point`` meets every constraint."""
        vals = {k: float(v) if not isinstance(v, str) else math.nan for k, v in point.items()}
        return all(bool(c(vals)) for c in self._checks)

    def points(self) -> Iterator[Point]:
        """The points of a grid or a random sweep, in a fixed order (constraints met);
        ``optuna`` asks its study instead (``dyntrail.research.sweep``)."""
        if self.method == "grid":
            for combo in itertools.product(*(p.grid() for p in self.params)):
                point = dict(zip(self.names, combo, strict=True))
                if self.admits(point):
                    yield point
            return
        rng = random.Random(self.seed)
        seen: set[str] = set()
        tries = 0
        made = 0
        while made < self.trials and tries < self.trials * 50:
            tries += 1
            point = {p.name: p.sample(rng) for p in self.params}
            key = point_id(point)
            if key in seen or not self.admits(point):
                continue
            seen.add(key)
            made += 1
            yield point

    def score(self, kpis: Mapping[str, Any]) -> float:
        """The objective of a trial's KPIs (NaN when it cannot be computed), larger is better
        (a ``minimize`` objective is negated)."""
        value = objective_value(self.objective, kpis)
        return -value if self.direction == "minimize" else value


def point_id(point: Mapping[str, Value], salt: str = "") -> str:
    """A point's config id: the hash of its values (and ``salt``: the base config, a
    window), stable across runs and machines."""
    text = json.dumps(point, sort_keys=True, default=str) + "|" + salt
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_space(path: Path) -> Space:
    """Read and check a space file (``ConfigError`` naming the file and the key)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the sweep space: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return space_of(doc, str(path))


def space_of(doc: Mapping[str, Any], source: str = "<space>") -> Space:
    """A ``Space`` from the parsed TOML ``doc`` (see ``load_space``)."""
    unknown = sorted(set(doc) - {"sweep", "params", "walk_forward"})
    if unknown:
        raise ConfigError(f"{source}: unknown section [{unknown[0]}]; known: [sweep], [params], "
                          "[walk_forward]")  # fmt: skip
    s = dict(doc.get("sweep", {}))
    known = {"method", "trials", "seed", "objective", "direction", "min_trades", "constraints"}
    for k in s:
        if k not in known:
            raise ConfigError(f"{source}: [sweep] unknown key {k!r}; known: {sorted(known)}")
    method = str(s.get("method", "grid"))
    if method not in METHODS:
        raise ConfigError(f"{source}: [sweep] method {method!r}: one of {', '.join(METHODS)}")
    raw = doc.get("params")
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{source}: [params] is missing or empty: name the config keys to vary")
    params = tuple(_param(source, str(k), v) for k, v in raw.items())
    names = {p.name for p in params}
    constraints = tuple(str(c) for c in s.get("constraints", []))
    checks = tuple(compile_expr(c, names, f"{source}: [sweep] constraint") for c in constraints)
    objective = str(s.get("objective", "sharpe"))
    if objective not in OBJECTIVES:
        compile_expr(objective, None, f"{source}: [sweep] objective")
    direction = str(s.get("direction", "maximize"))
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"{source}: [sweep] direction {direction!r}: maximize or minimize")
    trials = _int(s.get("trials", 20), f"{source}: [sweep] trials", 1)
    wf = doc.get("walk_forward")
    return Space(
        params=params,
        method=method,
        trials=trials,
        seed=_int(s.get("seed", 7), f"{source}: [sweep] seed", 0),
        objective=objective,
        direction=direction,
        min_trades=_int(s.get("min_trades", 0), f"{source}: [sweep] min_trades", 0),
        constraints=constraints,
        walk_forward=_walk_forward(source, wf) if wf is not None else None,
        source=source,
        doc=dict(doc),
        _checks=checks,
    )


def _int(v: Any, where: str, least: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < least:
        raise ConfigError(f"{where}: a whole number >= {least}, got {v!r}")
    return v


def _param(source: str, name: str, v: Any) -> Param:
    where = f"{source}: [params] {name!r}"
    if isinstance(v, list):
        if not v:
            raise ConfigError(f"{where}: an empty list of values")
        return Param(name, choices=tuple(v))
    if not isinstance(v, Mapping):
        raise ConfigError(f"{where}: a list of values or {{low, high[, step][, log][, int]}}")
    extra = set(v) - {"low", "high", "step", "log", "int"}
    if extra:
        raise ConfigError(f"{where}: unknown key {sorted(extra)[0]!r} (low, high, step, log, int)")
    try:
        low, high = float(v["low"]), float(v["high"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{where}: a range needs numbers low and high") from None
    if not low < high:
        raise ConfigError(f"{where}: low {low} must be below high {high}")
    step = v.get("step")
    if step is not None and not (isinstance(step, int | float) and step > 0):
        raise ConfigError(f"{where}: step must be a number above 0")
    log = bool(v.get("log", False))
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low above 0")
    return Param(name, (), low, high, None if step is None else float(step), log,
                 bool(v.get("int", False)))  # fmt: skip


def _walk_forward(source: str, wf: Any) -> WalkForward:
    where = f"{source}: [walk_forward]"
    if not isinstance(wf, Mapping):
        raise ConfigError(f"{where}: a table")
    extra = set(wf) - {"mode", "in_sample_days", "out_of_sample_days", "step_days"}
    if extra:
        raise ConfigError(f"{where} unknown key {sorted(extra)[0]!r}")
    mode = str(wf.get("mode", "rolling"))
    if mode not in ("rolling", "anchored"):
        raise ConfigError(f"{where} mode {mode!r}: rolling or anchored")
    step = wf.get("step_days")
    return WalkForward(
        mode,
        _int(wf.get("in_sample_days", 120), f"{where} in_sample_days", 1),
        _int(wf.get("out_of_sample_days", 40), f"{where} out_of_sample_days", 1),
        None if step is None else _int(step, f"{where} step_days", 1),
    )


# ---------------------------------------------------------------------------- expressions

_BIN: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: lambda a, b: a / b if b else math.nan,
    ast.Pow: lambda a, b: a**b,
}
_CMP: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "log": lambda x: math.log(x) if x > 0 else math.nan,
    "sqrt": lambda x: math.sqrt(x) if x >= 0 else math.nan,
}


def compile_expr(
    text: str, names: set[str] | None, where: str
) -> Callable[[Mapping[str, float]], float]:
    """``text`` as a function of named values (dotted names allowed: ``a.b.c``); ``names``:
    the names it may use (None: any, checked when it runs). ``ConfigError`` for anything but
    numbers, names, + - * / **, comparisons, and/or/not, min/max/abs/log/sqrt."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ConfigError(f"{where} {text!r}: not an expression") from None

    def build(node: ast.AST) -> Callable[[Mapping[str, float]], float]:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            c = float(node.value)
            return lambda v: c
        if isinstance(node, ast.Name | ast.Attribute):
            name = _dotted(node)
            if name is None:
                raise ConfigError(f"{where} {text!r}: {ast.unparse(node)!r} is not a name")
            if names is not None and name not in names:
                raise ConfigError(
                    f"{where} {text!r}: {name!r} is not a swept key ({sorted(names)})"
                )
            return lambda v: _lookup(v, name, where, text)
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            f, a, b = _BIN[type(node.op)], build(node.left), build(node.right)
            return lambda v: f(a(v), b(v))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
            a = build(node.operand)
            if isinstance(node.op, ast.Not):
                return lambda v: float(not a(v))
            return lambda v: -a(v)
        if isinstance(node, ast.Compare):
            parts = [build(node.left), *(build(c) for c in node.comparators)]
            ops = [_CMP[type(o)] for o in node.ops if type(o) in _CMP]
            if len(ops) != len(node.ops):
                raise ConfigError(f"{where} {text!r}: only < <= > >= == != compare")
            return lambda v: float(
                all(op(parts[k](v), parts[k + 1](v)) for k, op in enumerate(ops))
            )
        if isinstance(node, ast.BoolOp):
            parts = [build(x) for x in node.values]
            if isinstance(node.op, ast.And):
                return lambda v: float(all(p(v) for p in parts))
            return lambda v: float(any(p(v) for p in parts))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCS
            and not node.keywords
        ):
            fn, args = _FUNCS[node.func.id], [build(a) for a in node.args]
            return lambda v: float(fn(*(a(v) for a in args)))
        raise ConfigError(f"{where} {text!r}: {ast.unparse(node)!r} is not allowed")

    return build(tree.body)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _lookup(values: Mapping[str, float], name: str, where: str, text: str) -> float:
    try:
        v = values[name]
    except KeyError:
        raise ConfigError(f"{where} {text!r}: no value named {name!r}") from None
    return math.nan if v is None else float(v)


def objective_value(objective: str, kpis: Mapping[str, Any]) -> float:
    """A trial's objective from its KPIs: a named one, or an expression over KPI names."""
    if objective in OBJECTIVES:
        v = kpis.get(objective)
        return math.nan if v is None else float(v)
    fn = compile_expr(objective, None, "objective")
    vals = {k: float(v) for k, v in kpis.items() if isinstance(v, int | float) and v is not None}
    try:
        return float(fn(vals))
    except (ArithmeticError, ValueError):  # a KPI the run does not have: ConfigError, raised
        return math.nan
