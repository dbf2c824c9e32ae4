"""Two hand-made sessions that exercise W1's edge cases, which the 12-month dataset may not:
``python bench/w1_peers.py --edge`` runs every engine on them against the reference.

Quiet bars (range 4 pts) around a level, with entry signals placed by hand:

- bar 30: entry; bar 31 touches both stop and target → W1: the stop wins.
- bar 60: entry; bar 65 falls through the stop and carries a signal → W1: no re-entry on the
  exit bar; bar 66's signal enters.
- bar 101 (that position still open) reaches the break-even level and closes below the entry,
  so the stop moves above the close → W1: bar 102 opens below the stop and exits at its open.
- bar 150: entry; bar 151 reaches the target → exit at the target.
- bar 355 (15:10): entry; held to 15:15 → EOD exit at the close; bar 361's signal (15:16) is
  refused.
- session 2, bar 385: entry; bar 386 touches both stop and target, its high nearer the open
  → W1: the stop wins (an engine that takes the nearer extreme first fills the target).
- session 2, bar 405: entry, then a 40-bar climb (the ATR trail ratchets up) and a drop that
  hits the trailed stop.
"""

from __future__ import annotations

import numpy as np
import w1_data
from w1_data import W1Data

BARS = w1_data.BARS_PER_DAY
DAYS = 2
LEVEL_PTS = 20_000.0
QUIET_RANGE_PTS = 2.0  # each side of a quiet bar's body


class _Bars:
    def __init__(self, n: int) -> None:
        self.o = np.empty(n)
        self.h = np.empty(n)
        self.lo = np.empty(n)
        self.c = np.empty(n)
        self.entries = np.zeros(n, dtype=np.bool_)
        self.close = LEVEL_PTS

    def quiet(self, i: int) -> None:
        self.bar(i, self.close + QUIET_RANGE_PTS, self.close - QUIET_RANGE_PTS, self.close)

    def bar(self, i: int, high: float, low: float, close: float) -> None:
        """A bar opening at the previous close (within a session, as in W1)."""
        self.o[i] = self.close
        self.h[i] = max(high, self.close, close)
        self.lo[i] = min(low, self.close, close)
        self.c[i] = close
        self.close = close


def build() -> W1Data:
    n = DAYS * BARS
    b = _Bars(n)
    special: dict[int, tuple[float, float, float]] = {}
    p = LEVEL_PTS
    special[31] = (p + 300.0, p - 150.0, p)  # stop and target both inside the bar
    special[65] = (p, p - 150.0, p - 100.0)  # stop hit; signal on this bar too
    p2 = p - 100.0
    special[101] = (p2 * 1.0045, p2 - 5.0, p2 - 5.0)  # BE reached, closes below the entry
    p3 = p2 - 5.0
    special[151] = (p3 * 1.013, p3 - 1.0, p3 + 100.0)  # target
    p4 = p3 + 100.0
    special[BARS + 11] = (p4 * 1.013, p4 * 0.985, p4)  # both again, high nearer the open
    for k in range(40):  # session 2: a climb of 5 pts a bar
        special[BARS + 31 + k] = (0.0, 0.0, 5.0)
    special[BARS + 71] = (0.0, 0.0, -80.0)  # a drop through the trailed stop
    for i in range(n):
        if i in special and i >= BARS + 31:  # relative steps
            step = special[i][2]
            b.bar(i, b.close + step + QUIET_RANGE_PTS, b.close - QUIET_RANGE_PTS, b.close + step)
        elif i in special:
            b.bar(i, *special[i])
        else:
            b.quiet(i)
    for i in (30, 60, 65, 66, 150, 355, 361, BARS + 10, BARS + 30):
        b.entries[i] = True
    o, h, lo, c = (np.round(x * 20.0) / 20.0 for x in (b.o, b.h, b.lo, b.c))
    volume = np.full(n, 1_000.0)
    minute = np.tile(w1_data.SESSION_OPEN_MIN + np.arange(BARS, dtype=np.int64), DAYS)
    day = np.repeat(np.arange(DAYS, dtype=np.int64), BARS)
    dates = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")
    ts = (np.repeat(dates, BARS).astype("datetime64[ns]") + minute.astype("timedelta64[m]")).astype(
        "datetime64[ns]"
    )
    atr14 = w1_data.wilder_atr(h, lo, c, w1_data.ATR_PERIOD)
    sma20 = w1_data.sma(c, w1_data.SMA_PERIOD)
    vwap = w1_data.session_vwap(h, lo, c, volume, BARS)
    return W1Data(o, h, lo, c, volume, minute, day, ts, atr14, sma20, vwap, b.entries)
