"""Volatility regime: the VIX tier and the VIX-spike circuit breaker."""

from __future__ import annotations

import abc
import datetime as dt
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dyntrail.core.config import BreakerSection, Config, StrategySection, VixSection
from dyntrail.core.types import VixTier

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


def _vix_section(config: Config | StrategySection | VixSection) -> VixSection:
    if isinstance(config, Config):
        return config.strategy.vix
    if isinstance(config, StrategySection):
        return config.vix
    return config


def vix_tier(vix: float, config: Config | StrategySection | VixSection) -> VixTier:
    """The design document's half-open tiers: ``[normal_min, normal_max)`` is NORMAL,
    ``[reduced_min, reduced_max)`` REDUCED, ``[high_min, high_max)`` HIGH, ``vix >= halt_above``
    HALT, and anything below ``normal_min`` LOW. With the document's bounds 18.0 is REDUCED and
    30.0 is HALT. NaN, infinite or negative VIX raises ``ValueError``: a missing quote must never
    read as a calm market."""
    if not math.isfinite(vix) or vix < 0:
        raise ValueError(f"VIX must be a finite number >= 0, got {vix!r}")
    v = _vix_section(config)
    if vix >= v.halt_above:
        return VixTier.HALT
    if v.high_min <= vix < v.high_max:
        return VixTier.HIGH
    if v.reduced_min <= vix < v.reduced_max:
        return VixTier.REDUCED
    if v.normal_min <= vix < v.normal_max:
        return VixTier.NORMAL
    return VixTier.LOW


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """The breaker's answer for one VIX observation.

    ``tripped`` is True while the breaker is active; ``just_tripped`` only on the observation that
    tripped it (the engine flattens once, on that edge, when the policy is "flatten")."""

    tripped: bool
    just_tripped: bool
    until: dt.datetime | None
    rise_points: float


class SpikeBreaker:
    """VIX-spike circuit breaker.

    Trips when VIX rises more than ``spike_points`` above its lowest value within the last
    ``spike_window_min`` minutes (measured on timestamps, not bar counts, so it works on 1- and
    5-minute data alike); stays tripped until ``cooldown_min`` minutes after the latest spike
    observation. Timestamps must not go backwards. O(1) amortised per observation (a monotonic
    window minimum).
    """

    __slots__ = ("_cooldown", "_last_ts", "_points", "_tripped_until", "_window", "_window_min")

    def __init__(self, config: Config | StrategySection | BreakerSection) -> None:
        b = (
            config.strategy.breaker
            if isinstance(config, Config)
            else config.breaker
            if isinstance(config, StrategySection)
            else config
        )
        self._points = b.spike_points
        self._window = dt.timedelta(minutes=b.spike_window_min)
        self._cooldown = dt.timedelta(minutes=b.cooldown_min)
        # (ts, vix) with increasing vix: the front is the window minimum.
        self._window_min: deque[tuple[dt.datetime, float]] = deque()
        self._tripped_until: dt.datetime | None = None
        self._last_ts: dt.datetime | None = None

    def update(self, ts: dt.datetime, vix: float) -> BreakerStatus:
        """Feed one VIX observation (closed at ``ts``) and get the breaker's state."""
        if not math.isfinite(vix) or vix < 0:
            raise ValueError(f"VIX must be a finite number >= 0, got {vix!r} at {ts}")
        if self._last_ts is not None and ts < self._last_ts:
            raise ValueError(f"VIX timestamps went backwards: {ts} after {self._last_ts}")
        self._last_ts = ts
        q = self._window_min
        while q and ts - q[0][0] > self._window:
            q.popleft()
        while q and q[-1][1] >= vix:
            q.pop()
        q.append((ts, vix))
        rise = vix - q[0][1]
        was_tripped = self.is_tripped(ts)
        if rise > self._points:
            self._tripped_until = ts + self._cooldown
        tripped = self.is_tripped(ts) or rise > self._points
        return BreakerStatus(
            tripped=tripped,
            just_tripped=tripped and not was_tripped,
            until=self._tripped_until if tripped else None,
            rise_points=rise,
        )

    def is_tripped(self, now: dt.datetime) -> bool:
        """True while ``now`` is before the end of the cooldown of the latest spike."""
        return self._tripped_until is not None and now < self._tripped_until

    def to_dict(self) -> dict[str, Any]:
        """Serialisable state (for the journal); ``from_dict`` restores it exactly."""
        return {
            "window_min": [[ts.isoformat(), v] for ts, v in self._window_min],
            "tripped_until": self._tripped_until.isoformat() if self._tripped_until else None,
            "last_ts": self._last_ts.isoformat() if self._last_ts else None,
        }

    @classmethod
    def from_dict(
        cls, config: Config | StrategySection | BreakerSection, state: dict[str, Any]
    ) -> SpikeBreaker:
        br = cls(config)
        br._window_min.extend(
            (dt.datetime.fromisoformat(ts), float(v)) for ts, v in state["window_min"]
        )
        until, last = state.get("tripped_until"), state.get("last_ts")
        br._tripped_until = dt.datetime.fromisoformat(until) if until else None
        br._last_ts = dt.datetime.fromisoformat(last) if last else None
        return br


class RegimeFeed(abc.ABC):
    """The VIX tier and the breaker's status at each bar close, from the streaming breaker (paper,
    live) or computed once over the whole VIX series (backtest): the same values either way (a
    test holds them equal). After ``advance``: ``tier``, ``tripped``, ``just_tripped``,
    ``until`` and ``rise``."""

    __slots__ = ("just_tripped", "rise", "tier", "tripped", "until")

    def __init__(self) -> None:
        self.tier = VixTier.NORMAL
        self.tripped = False
        self.just_tripped = False
        self.until: dt.datetime | None = None
        self.rise = 0.0

    @abc.abstractmethod
    def advance(self, i: int, ts: dt.datetime, vix: float) -> None:
        """Take bar ``i``'s close time and VIX."""

    def to_dict(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """A feed computed from the data has nothing to restore; a streaming one overrides."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got {sorted(state)}")


class StreamingRegime(RegimeFeed):
    """Tier and breaker updated one VIX observation at a time."""

    __slots__ = ("_cfg", "breaker")

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self._cfg = cfg
        self.breaker = SpikeBreaker(cfg)

    def advance(self, i: int, ts: dt.datetime, vix: float) -> None:
        self.tier = vix_tier(vix, self._cfg)
        st = self.breaker.update(ts, vix)
        self.tripped, self.just_tripped, self.until, self.rise = (
            st.tripped,
            st.just_tripped,
            st.until,
            st.rise_points,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.breaker.to_dict()

    def restore(self, state: dict[str, Any]) -> None:
        self.breaker = SpikeBreaker.from_dict(self._cfg, state)


class BatchRegime(RegimeFeed):
    """The same values computed over the whole series at once (``close_ts``: naive bar close
    times, increasing; ``vix``: the VIX known at each)."""

    __slots__ = ("_cols", "_edges", "_halt", "_rise", "_until")

    def __init__(self, cfg: Config, close_ts: Any, vix: Any) -> None:
        import numpy as np
        import pandas as pd

        super().__init__()
        v = np.asarray(vix, dtype=np.float64)
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"VIX must be a finite number >= 0, got {v[i]!r} at bar {i}")
        t = np.asarray(close_ts, dtype="datetime64[s]")
        b, vx = cfg.strategy.breaker, cfg.strategy.vix
        series = pd.Series(v, index=pd.DatetimeIndex(t))
        low = series.rolling(f"{b.spike_window_min}min", closed="both").min().to_numpy()
        rise = v - low
        spike = rise > b.spike_points
        stamp = np.where(spike, t, np.datetime64("NaT"))
        last_incl = pd.Series(stamp).ffill().to_numpy(dtype="datetime64[s]")
        last_prev = np.concatenate([np.array(["NaT"], dtype="datetime64[s]"), last_incl[:-1]])
        cool = np.timedelta64(b.cooldown_min * 60, "s")
        was = t < last_prev + cool  # NaT compares False
        tripped = was | spike
        just = tripped & ~was
        tiers = np.select(
            [
                v >= vx.halt_above,
                (v >= vx.high_min) & (v < vx.high_max),
                (v >= vx.reduced_min) & (v < vx.reduced_max),
                (v >= vx.normal_min) & (v < vx.normal_max),
            ],
            [4, 3, 2, 1],
            default=0,
        )
        order = np.array(
            [VixTier.LOW, VixTier.NORMAL, VixTier.REDUCED, VixTier.HIGH, VixTier.HALT], dtype=object
        )
        # ``until`` only while tripped, by bar: a dict of datetimes, which the garbage
        # collector leaves alone (a list of a run's length would be walked by every collection)
        on = np.flatnonzero(tripped)
        until = dict(zip(on.tolist(), (last_incl[on] + cool).astype(object).tolist(), strict=True))
        self._cols = (
            order[tiers].tolist(),
            np.ascontiguousarray(tripped).data.toreadonly(),  # items are Python bools
            np.ascontiguousarray(just).data.toreadonly(),
        )
        self._until: dict[int, dt.datetime] = until
        self._edges: NDArray[np.bool_] = just  # read rarely: kept as an array
        self._halt: NDArray[np.bool_] = tiers == 4
        self._rise: Sequence[float] = np.ascontiguousarray(rise).data.toreadonly()  # Python floats

    def edges(self) -> NDArray[np.bool_]:
        """For each bar, whether the breaker trips on it (a bar no fast path may skip): a
        numpy bool array (a copy)."""
        return self._edges.copy()

    def halts(self) -> NDArray[np.bool_]:
        """For each bar, whether its tier is HALT after it: a numpy bool array (a copy)."""
        return self._halt.copy()

    def tiers_and_trips(self) -> tuple[Sequence[VixTier], Sequence[int]]:
        """The tier and whether the breaker is tripped, after each bar; read-only."""
        return self._cols[0], self._cols[1]

    def advance(self, i: int, ts: dt.datetime, vix: float) -> None:
        tiers, tripped, just = self._cols
        self.tier, self.until = tiers[i], self._until.get(i)
        self.tripped, self.just_tripped = bool(tripped[i]), bool(just[i])
        self.rise = self._rise[i]  # a view's item: a Python float already
