"""The compiled screening kernel (``dyntrail.research.screen``) on W1: its trades against the
reference's for the 100-combination sweep grid, then the cost per combination for 100, 10,000
and (``--combos``) many more parameter sets on W1's 93,750 bars, beside vectorbt's sweep (when
installed) and the anchor numba loop of ``shared/bench/W1.md`` (0.00017 s per 12 months).

    .venv-bench/bin/python bench/screen_w1.py [--combos 1000000] [--runs 3]

The kernel's first call compiles it (numba caches it on disk); the figures are warm medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
for _p in (_HERE, _HERE / "peers"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import w1_data  # noqa: E402
from w1_compare import compare  # noqa: E402
from w1_reference import Trade, W1Params, run_reference, sweep_grid  # noqa: E402

from dyntrail.core.config_load import load_config  # noqa: E402
from dyntrail.research.screen import Bars, screen, trades  # noqa: E402

W1_CONFIG = _HERE.parent / "examples" / "w1.toml"
ANCHOR_NUMBA_S = 0.00017  # shared/bench/W1.md: a numba loop over arrays, one run of 12 months
_REASON = {0: "stop", 1: "target", 2: "eod"}


def bars_of(data: w1_data.W1Data) -> Bars:
    cfg = load_config(W1_CONFIG)
    vix = np.full(data.n, 15.0)
    return Bars.of(cfg, data.ts, data.open, data.high, data.low, data.close, data.atr14, vix,
                   data.entries)  # fmt: skip


def row(p: W1Params) -> list[float]:
    """A W1 parameter set as the kernel's row (W1's initial stop uses the trail's multiple)."""
    return [p.sl_pct, p.rr, p.be_pct, p.mult, p.mult]


def kernel_trades(bars: Bars, p: W1Params) -> list[Trade]:
    return [Trade(int(r[0]), int(r[1]), float(r[2]), float(r[3]), _REASON[int(r[4])])
            for r in trades(bars, row(p))]  # fmt: skip


def random_grid(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([
        rng.uniform(0.002, 0.012, n), rng.uniform(0.5, 4.0, n), rng.uniform(0.001, 0.008, n),
        rng.uniform(0.0, 4.0, n), rng.uniform(0.5, 5.0, n),
    ])  # fmt: skip


def timed(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--combos", type=int, default=100_000, help="the large screen's size")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = w1_data.build()
    bars = bars_of(data)
    grid = sweep_grid()
    t0 = time.perf_counter()
    screen(bars, [row(p) for p in grid[:1]])
    kernel_trades(bars, grid[0])
    print(f"W1: {data.n:,} bars; kernel compiled or loaded in {time.perf_counter() - t0:.2f} s")
    agree = sum(not compare(data, run_reference(data, p), kernel_trades(bars, p), p).diffs
                for p in grid)  # fmt: skip
    print(f"trades equal to the reference's: {agree}/{len(grid)} combinations")
    print()
    print("| what | combinations | median s | s per combination | bars/s |")
    print("|---|---|---|---|---|")
    sizes = [(f"kernel, W1 grid", np.array([row(p) for p in grid]))]
    sizes.append(("kernel, random sets", random_grid(10_000)))
    sizes.append(("kernel, random sets", random_grid(args.combos)))
    for label, params in sizes:
        med = timed(lambda params=params: screen(bars, params), args.runs if len(params) <= 10_000
                    else 1)  # fmt: skip
        per = med / len(params)
        print(f"| {label} | {len(params):,} | {med:.3f} | {per:.2e} | {data.n / per:,.0f} |")
    try:
        import vectorbt_w1

        med = timed(lambda: vectorbt_w1.sweep(data, grid), args.runs)
        per = med / len(grid)
        print(f"| vectorbt sweep (from_signals + SL callback) | {len(grid)} | {med:.3f} | "
              f"{per:.2e} | {data.n / per:,.0f} |")  # fmt: skip
    except ImportError:
        print("| vectorbt sweep | not installed | | | |")
    print(f"| anchor: numba loop over arrays (W1.md) | 1 | {ANCHOR_NUMBA_S} | "
          f"{ANCHOR_NUMBA_S:.2e} | {data.n / ANCHOR_NUMBA_S:,.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
