"""One trial of a sweep: a point of the space applied to the base config, backtested on a
window of the data by the backtest's own engine and KPIs, with nothing written.

A ``Lab`` is one worker's bench: it loads the data once (a window is a slice of it),
computes the indicators and features once per setting they depend on (ATR, ADX and swing
periods...), and shares them across the trials that use the same settings. A trial's
result keeps its KPIs, its objective and its daily returns (the deflated Sharpe ratio and
the probability of backtest overfitting are computed over these), and, when asked (a
walk-forward's out-of-sample run), its trades, fills and equity."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dyntrail.core.config import Config
from dyntrail.core.config_load import config_from_mapping, config_to_dict
from dyntrail.core.features import BatchFeatures
from dyntrail.data.loaders import MarketData
from dyntrail.errors import ConfigError
from dyntrail.research.space import Point, Space, Value, point_id

KPI_COLUMNS = (
    "trades",
    "net_pnl",
    "return_pct",
    "sharpe",
    "sortino",
    "profit_factor",
    "calmar",
    "max_drawdown_pct",
    "win_rate",
    "expectancy_inr",
    "total_costs",
)
"""The KPIs a trial keeps (the sweep's Parquet columns ``kpi_<name>``)."""


def apply_point(base: Mapping[str, Any], point: Mapping[str, Value], source: str) -> Config:
    """The base config (as TOML data) with each dotted key of ``point`` set, checked as a
    config file is (``ConfigError`` naming the key)."""
    raw = copy.deepcopy(dict(base))
    for key, value in point.items():
        *path, leaf = key.split(".")
        node = raw
        for part in path:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"{source}: [params] {key!r}: {part!r} is a value, not a table")
            node = nxt
        node[leaf] = value
    return config_from_mapping(raw, f"{source} (point {json.dumps(dict(point), default=str)})")


@dataclass(frozen=True, slots=True)
class Window:
    """The days a trial runs on (both None: all the data)."""

    index: int = -1  # the walk-forward window (-1: none)
    phase: str = "full"  # full | is | oos
    first: dt.date | None = None
    last: dt.date | None = None


@dataclass
class TrialResult:
    config_id: str
    point: Point
    window: Window
    kpis: dict[str, float | None]
    objective: float
    candidate: bool  # enough trades, an objective, no error
    days: list[str]
    returns: list[float]
    seconds: float
    error: str = ""
    tables: tuple[Any, Any, Any, Any] | None = field(default=None, repr=False)  # +RunSpan


class Lab:
    """One worker's bench (see the module docstring)."""

    def __init__(
        self,
        base: Mapping[str, Any],
        data: Path,
        seed: int,
        source: str,
        market: MarketData | None = None,
    ) -> None:
        """``market``: the data loaded already (a cluster's workers get it from the driver);
        else it is read from ``data`` on the first trial."""
        self.base, self.data, self.seed, self.source = dict(base), data, seed, source
        self._all = market
        self._markets: dict[tuple[Any, Any], MarketData] = {}
        self._features: dict[tuple[Any, ...], BatchFeatures] = {}
        self.loads = 0  # how many times data was read (once per window)
        self.feature_builds = 0

    def market(self, cfg: Config, w: Window) -> MarketData:
        """The data of window ``w``: all of it read once, each window a slice of it."""
        from dyntrail.runners.plan import load_market, slice_market

        if self._all is None:
            self._all = load_market(cfg, self.data)
            self.loads += 1
        key = (w.first, w.last)
        md = self._markets.get(key)
        if md is None:
            md = self._markets[key] = slice_market(self._all, self.data, w.first, w.last)
        return md

    def features(self, cfg: Config, md: MarketData, w: Window) -> BatchFeatures:
        """The features of ``cfg`` on ``md``, built once per setting they read; each trial
        gets its own copy (its per-bar state) over the shared columns."""
        from dyntrail.runners.several import features_of

        s = cfg.strategy
        key = (
            w.first,
            w.last,
            s.atr_period,
            s.entries.adx_period,
            s.trail.swing_bars,
            s.momentum.enabled,
            s.trail.method,
            tuple(sorted((k, r.method) for k, r in s.trail.by_tier.items())),
        )
        f = self._features.get(key)
        if f is None:
            f = self._features[key] = features_of(cfg, md.bars)
            self.feature_builds += 1
        return copy.copy(f)

    def run(self, point: Point, w: Window, space: Space, tables: bool = False) -> TrialResult:
        """Backtest ``point`` on window ``w``; an error in the point (a bad value) is the
        trial's, not the sweep's."""
        t0 = time.perf_counter()
        key = config_id(point, w)
        try:
            cfg = apply_point(self.base, point, self.source)
            res = self._backtest(cfg, w, tables)
        except ConfigError as exc:
            return TrialResult(key, dict(point), w, {}, math.nan, False, [], [],
                               time.perf_counter() - t0, error=str(exc))  # fmt: skip
        kpis, days, rets, frames = res
        score = space.score(kpis)
        n = kpis.get("trades") or 0
        ok = math.isfinite(score) and n >= space.min_trades
        keep = {k: _num(kpis.get(k)) for k in KPI_COLUMNS}
        return TrialResult(key, dict(point), w, keep, score, ok, days, rets,
                           time.perf_counter() - t0, tables=frames)  # fmt: skip

    def _backtest(
        self, cfg: Config, w: Window, tables: bool
    ) -> tuple[dict[str, Any], list[str], list[float], tuple[Any, Any, Any, Any] | None]:
        from dyntrail.journal import NullJournal
        from dyntrail.runners.backtest import simulate
        from dyntrail.runners.outputs import RunSpan, run_kpis, run_tables
        from dyntrail.runners.plan import plan_of

        if len(cfg.traded) > 1:
            raise ConfigError(f"{self.source}: a sweep runs one underlying; [[instruments]] has "
                              f"{len(cfg.traded)}")  # fmt: skip
        md = self.market(cfg, w)
        plan = plan_of(cfg, md)
        feats = self.features(cfg, md, w)
        with NullJournal() as sink:
            rows = simulate(cfg, plan, sink, seed=self.seed, features=feats)
        span = RunSpan(plan.first, plan.last, plan.days, rows.bars_total,
                       rows.bars_in_position, md.bars.bar_minutes)  # fmt: skip
        trades, fills, equity = run_tables(cfg, rows.trades, rows.fills, rows.equity, span)
        kpis = run_kpis(cfg, trades, fills, equity, span)
        days, rets = daily_returns(equity, plan.days, cfg.account.capital_inr)
        return kpis, days, rets, (trades, fills, equity, span) if tables else None


def config_id(point: Mapping[str, Value], w: Window) -> str:
    """A trial's id: its point and its window (the same point on another window is another
    trial)."""
    return point_id(point, f"{w.index}:{w.phase}:{w.first}:{w.last}")


def daily_returns(
    equity: Any, days: list[dt.date], capital: float
) -> tuple[list[str], list[float]]:
    """Each trading day's return of the equity curve (its last mark of the day against the
    day before's, the first day against the capital); a day without a mark returns 0."""
    last_of: dict[str, float] = {}
    if len(equity):
        stamps = equity["timestamp"].astype(str).str.slice(0, 10).to_numpy()
        values = equity["equity"].to_numpy(dtype=float)
        for d, v in zip(stamps, values, strict=True):
            last_of[d] = v
    prev = capital
    names, rets = [], []
    for d in days:
        key = d.isoformat()
        eq = last_of.get(key, prev)
        rets.append(eq / prev - 1.0 if prev else 0.0)
        names.append(key)
        prev = eq
    return names, [float(x) for x in np.asarray(rets, dtype=float)]


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def base_mapping(cfg: Config) -> dict[str, Any]:
    """The base config as TOML data (the points are set into it)."""
    return config_to_dict(cfg)
