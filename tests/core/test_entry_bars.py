"""``entry_bars`` refuses a bar only where ``decide_entry`` refuses it whatever the state, and
lets through exactly the bars the gates let through in the most permissive state (the state's
gates only ever add refusals)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntrail.core.config_load import parse_config
from dyntrail.core.entries import EntryInputs, decide_entry, entry_bars
from dyntrail.core.types import VixTier

values = st.floats(0.0, 60.0) | st.just(math.nan) | st.sampled_from([20.0, 25.0])
prices = st.sampled_from([100.0, 100.05, 99.95]) | st.floats(90.0, 110.0)
vwaps = prices | st.just(math.nan) | st.just(math.inf)


@st.composite
def bars(draw: st.DrawFn) -> list[tuple]:
    n = draw(st.integers(1, 40))
    day = dt.datetime(2025, 3, 3)
    out = []
    for _ in range(n):
        minute = draw(st.integers(0, 24 * 60 - 1))
        second = draw(st.sampled_from([0, 0, 30]))
        t = day + dt.timedelta(minutes=minute, seconds=second)
        out.append((t, draw(prices), draw(vwaps), draw(values), draw(values), draw(values)))
    return out


@settings(max_examples=300, deadline=None)
@given(
    bars(),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["09:20", "09:45:30", "09:15"]),
    st.sampled_from(["15:00", "12:00:30"]),
)
def test_entry_bars_are_the_gates_in_the_freest_state(
    rows: list[tuple], adx_bias: bool, vwap_gate: bool, start: str, end: str
) -> None:
    cfg = parse_config(
        f"[strategy.entries]\nadx_bias = {str(adx_bias).lower()}\n"
        f"vwap_gate = {str(vwap_gate).lower()}\n\n"
        f'[strategy.time]\nentry_start = "{start}"\nentry_end = "{end}"\n'
    )
    ts = np.array([r[0] for r in rows], dtype="datetime64[s]")
    close, vwap, adx, pdi, mdi = (np.array([r[k] for r in rows]) for k in range(1, 6))
    got = entry_bars(cfg, ts, close, vwap, adx, pdi, mdi)
    for k, (t, c, vw, a, p, m) in enumerate(rows):
        x = EntryInputs(
            t.time(), VixTier.NORMAL, False, 0, None, c,
            None if vw != vw else vw, None if a != a else a,
            None if p != p else p, None if m != m else m,
        )  # fmt: skip
        assert bool(got[k]) == (decide_entry(cfg, x).side is not None), (k, rows[k])
