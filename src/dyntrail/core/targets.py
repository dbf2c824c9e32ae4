"""Dynamic targets and trailing stops on the underlying (the design document's target engine).

Risk unit = ``entry x sl_underlying_pct``. Without a context the document's numbers come out
exactly (long 20000 at NORMAL under the document's config: stop 19880, T1 20180, T2 20240,
move-to-BE 20080). A ``TargetContext`` adds the document's further dynamics, each switchable off:

- momentum (``[strategy.momentum]``): rr shrinks when the entry is stretched from session VWAP
  in the trade's direction by more than ``stretch_atr`` ATRs, grows when the swing structure is
  in favour and shrinks when it is against; the factor is clamped to [min_factor, max_factor];
- time left (``[strategy.time_left]``): T2's distance is capped at ``k x ATR x sqrt(bars left to
  flatten)`` (a random walk rarely travels further); T1 shrinks in the same proportion but never
  below ``min_t1_rr x risk``. The stop is not changed by the context, except that with
  ``[strategy.risk] initial_stop_atr_mult = k > 0`` it is the tighter of the risk stop and
  ``entry -/+ k x ATR`` (the ATR at entry). Targets stay multiples of the risk unit.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dyntrail.core.config import Config, StrategySection
from dyntrail.core.types import DynamicTargets, Side, TrailMethod, VixTier


@dataclass(frozen=True, slots=True)
class TargetContext:
    """Market context at entry, all known at the entry's decision time.

    ``swing_structure`` is +1 for higher highs and higher lows, -1 for lower highs and lower lows,
    0 for neither. ``minutes_to_flatten`` and ``bar_minutes`` give the bars left in the session."""

    atr: float | None = None
    vwap: float | None = None
    swing_structure: int = 0
    minutes_to_flatten: float | None = None
    bar_minutes: float = 1.0


class DynamicTargetEngine:
    """Targets and trailing levels from one strategy config (pure; holds no market state)."""

    __slots__ = (
        "atr_trail_mult",
        "cfg",
        "config",
        "flatten",
        "next_bar",
        "time_stop",
        "trail_from_entry",
        "trail_rules",
        "tz",
    )

    def __init__(self, config: Config | StrategySection | None = None) -> None:
        full = config if isinstance(config, Config) else None
        strategy = config if isinstance(config, StrategySection) else None
        self.config: Config = full or (
            Config(strategy=strategy) if strategy is not None else Config()
        )
        self.cfg: StrategySection = self.config.strategy
        # read by every position on every bar: derived from the (frozen) config once
        self.next_bar = self.cfg.bars.semantics == "next_bar"
        self.trail_from_entry = self.cfg.trail.start == "entry"
        self.flatten: dt.time = self.cfg.time.flatten
        self.time_stop = dt.timedelta(minutes=self.cfg.time_stop_min)
        self.tz = ZoneInfo(self.config.session.timezone)
        self.atr_trail_mult = self.cfg.atr_trail_mult
        trail = self.cfg.trail
        self.trail_rules: dict[VixTier, tuple[TrailMethod, float]] = {
            tier: (rule.method, rule.multiplier)
            if (rule := trail.by_tier.get(tier)) is not None and rule.multiplier is not None
            else (rule.method if rule is not None else trail.method, self.atr_trail_mult)
            for tier in VixTier
        }
        """Per tier, the trail's method and ATR multiple (``[strategy.trail.by_tier]`` or the
        defaults): the regime upgrade, resolved once."""

    def rr_for_tier(self, tier: VixTier) -> float:
        """Reward multiple per VIX tier; HALT keeps the conservative HIGH multiple (no entries)."""
        t = self.cfg.targets
        match tier:
            case VixTier.LOW:
                return t.rr_low_vix
            case VixTier.NORMAL:
                return t.base_rr
            case VixTier.REDUCED:
                return t.rr_elevated_vix
            case VixTier.HIGH | VixTier.HALT:
                return t.rr_high_vix

    def compute_targets(
        self,
        side: Side,
        entry_underlying: float,
        vix_tier: VixTier,
        context: TargetContext | None = None,
    ) -> DynamicTargets:
        """Stop at ``entry -/+ risk``, T1 at ``entry +/- rr x risk``, T2 at ``entry +/- (rr +
        t2_extra_rr) x risk``, move-to-BE at ``entry +/- entry x be_underlying_pct``."""
        if not (math.isfinite(entry_underlying) and entry_underlying > 0):
            raise ValueError(f"entry_underlying must be a positive price, got {entry_underlying!r}")
        risk = entry_underlying * self.cfg.sl_underlying_pct
        rr = self.rr_for_tier(vix_tier)
        be_move = entry_underlying * self.cfg.be_underlying_pct
        t1_dist = rr * risk
        t2_dist = (rr + self.cfg.targets.t2_extra_rr) * risk
        if context is not None:
            t1_dist, t2_dist = self._apply_context(side, entry_underlying, risk, rr, context)
        s = side.sign
        stop_dist = risk
        k = self.cfg.risk.initial_stop_atr_mult
        if k > 0 and context is not None and context.atr is not None and context.atr > 0:
            stop_dist = min(risk, k * context.atr)  # the tighter of the two stops
        return DynamicTargets(
            stop_underlying=entry_underlying - s * stop_dist,
            t1_underlying=entry_underlying + s * t1_dist,
            t2_underlying=entry_underlying + s * t2_dist,
            move_be_underlying=entry_underlying + s * be_move,
        )

    def momentum_factor(self, side: Side, entry_underlying: float, ctx: TargetContext) -> float:
        """The rr multiplier from momentum context (1.0 when disabled or context is missing)."""
        m = self.cfg.momentum
        if not m.enabled:
            return 1.0
        factor = 1.0
        if ctx.vwap is not None and ctx.atr is not None and ctx.atr > 0:
            stretch = side.sign * (entry_underlying - ctx.vwap) / ctx.atr
            if stretch > m.stretch_atr:
                factor -= (stretch - m.stretch_atr) * m.shrink_per_atr
        aligned = ctx.swing_structure * side.sign
        if aligned > 0:
            factor += m.swing_bonus
        elif aligned < 0:
            factor -= m.swing_penalty
        return min(max(factor, m.min_factor), m.max_factor)

    def reach_cap(self, ctx: TargetContext) -> float | None:
        """The farthest plausible move before flatten, ``k x ATR x sqrt(bars left)``, or None."""
        tl = self.cfg.time_left
        if not tl.enabled or ctx.atr is None or ctx.minutes_to_flatten is None:
            return None
        bars_left = max(ctx.minutes_to_flatten / ctx.bar_minutes, 0.0)
        return tl.k * ctx.atr * math.sqrt(bars_left)

    def _apply_context(
        self, side: Side, entry: float, risk: float, rr: float, ctx: TargetContext
    ) -> tuple[float, float]:
        rr_eff = rr * self.momentum_factor(side, entry, ctx)
        t1 = rr_eff * risk
        t2 = (rr_eff + self.cfg.targets.t2_extra_rr) * risk
        cap = self.reach_cap(ctx)
        if cap is not None and t2 > cap:
            ratio = t2 / t1  # T2 stays this much farther than T1
            floor = min(self.cfg.time_left.min_t1_rr * risk, t1)
            t1 = max(t1 * cap / t2, floor)
            t2 = t1 * ratio
        return t1, t2

    def update_trailing(
        self, side: Side, last_underlying: float, atr_now: float, multiplier: float | None = None
    ) -> float:
        """The ATR trailing level: ``last -/+ multiplier x ATR`` (``multiplier_trail`` by default).

        This is the candidate level only; the position keeps the tighter of it and its stop, so a
        long stop never moves down and a short stop never moves up."""
        offset = (self.atr_trail_mult if multiplier is None else multiplier) * atr_now
        return last_underlying - side.sign * offset
