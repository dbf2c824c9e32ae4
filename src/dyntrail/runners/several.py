"""A backtest of several underlyings in one account (``[[instruments]]``): each has its own
bars, features, contracts and option quotes; they share the broker, the book, the risk gate
(one daily loss limit) and the India VIX regime, and are driven on one timeline of steps
(``dyntrail.runners.drive.StepFeed``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from dyntrail.core.config import Config
from dyntrail.core.features import BatchFeatures
from dyntrail.core.regime import BatchRegime
from dyntrail.data.loaders import Bars
from dyntrail.engine import Engine, Sinks
from dyntrail.engine.venue import VenueSpec
from dyntrail.execution.paper import FaultProfile, PaperBroker
from dyntrail.runners.drive import AfterBar, StepFeed, drive_steps
from dyntrail.runners.plan import RunPlan, bars_frame


def features_of(cfg: Config, b: Bars) -> BatchFeatures:
    sessions = b.timestamps.astype("datetime64[D]").astype(np.int64)
    return BatchFeatures(cfg, sessions, b.high, b.low, b.close, b.volume)


def backtest_engine(
    cfg: Config,
    plan: RunPlan,
    sinks: Sinks,
    seed: int,
    regime: BatchRegime,
    others: Sequence[VenueSpec] = (),
    features: BatchFeatures | None = None,
) -> Engine:
    """The engine of a backtest: the plan's first underlying with its precomputed features
    (``features``: computed already, e.g. shared by a sweep's trials), ``others`` beside it,
    the simulated broker without faults or latency."""
    return Engine(
        cfg,
        plan.spec,
        plan.calendar,
        plan.quotes,
        PaperBroker(FaultProfile.none(), seed),
        sinks,
        features if features is not None else features_of(cfg, plan.md.bars),
        plan.md.bars.bar_minutes,
        regime=regime,
        record_acks=False,
        others=others,
    )


def simulate_several(
    cfg: Config,
    plan: RunPlan,
    sinks: Sinks,
    seed: int,
    after: Callable[[int], AfterBar | None],
) -> Engine:
    """Run the plan's underlyings through one engine; returns it, finished. ``after`` makes
    the hook called after each step, given the number of steps."""
    b = plan.md.bars
    feed = StepFeed.of(
        [(plan.spec.underlying, b, plan.md.vix)]
        + [(o.spec.underlying, o.md.bars, o.md.vix) for o in plan.others]
    )
    close_ts = np.array(feed.ts, dtype="datetime64[s]") + np.timedelta64(b.bar_minutes * 60, "s")
    others = [
        VenueSpec(o.instrument, o.spec, features_of(cfg.for_instrument(o.instrument), o.md.bars),
                  o.quotes)
        for o in plan.others
    ]  # fmt: skip
    regime = BatchRegime(cfg, close_ts, np.array(feed.vix))
    engine = backtest_engine(cfg, plan, sinks, seed, regime, others)
    drive_steps(engine, feed, after_step=after(len(feed.ts)))
    engine.finish()
    return engine


def bars_frame_of(plan: RunPlan) -> pd.DataFrame:
    """Every underlying's bars as the report draws them, with an ``underlying`` column."""
    parts = [(plan.spec.underlying, plan.md.bars)]
    parts += [(o.spec.underlying, o.md.bars) for o in plan.others]
    return pd.concat(
        [bars_frame(b).assign(underlying=name) for name, b in parts], ignore_index=True
    )
