"""The compiled screening kernels (``dyntrail.research.screen``) on W1: the underlying's trades
against the reference's for the 100-combination sweep grid, the options kernel's (W1's rules on
NIFTY options, ``options_config``) against the engine's full run for ``--check`` sets of that
grid, then the cost per combination of each for 100, 10,000 and (``--combos``) many more
parameter sets on W1's 93,750 bars, beside vectorbt's sweep (when installed), the anchor numba
loop of ``shared/bench/W1.md`` (0.00017 s per 12 months) and the engine's own options run.

    .venv-bench/bin/python bench/screen_w1.py [--combos 1000000] [--runs 3] [--check 3]

The kernels' first calls compile them (numba caches them on disk); the figures are warm medians
(one run for the sizes above 10,000).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
for _p in (_HERE, _HERE / "peers"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import w1_data  # noqa: E402
from w1_compare import compare  # noqa: E402
from w1_reference import Trade, W1Params, run_reference, sweep_grid  # noqa: E402

from dyntrail.core.config import Config  # noqa: E402
from dyntrail.core.config_load import config_from_mapping, load_config  # noqa: E402
from dyntrail.research.screen import Bars, apply_row, screen, trades  # noqa: E402
from dyntrail.research.screen_options import (  # noqa: E402
    OptionBars,
    engine_rows,
    kernel_rows,
)
from dyntrail.runners.backtest import run_signal_backtest  # noqa: E402

W1_CONFIG = _HERE.parent / "examples" / "w1.toml"
ANCHOR_NUMBA_S = 0.00017  # shared/bench/W1.md: a numba loop over arrays, one run of 12 months
_REASON = {0: "stop", 1: "target", 2: "eod"}


def bars_of(data: w1_data.W1Data) -> Bars:
    cfg = load_config(W1_CONFIG)
    vix = np.full(data.n, 15.0)
    return Bars.of(cfg, data.ts, data.open, data.high, data.low, data.close, data.atr14, vix,
                   data.entries)  # fmt: skip


def options_config() -> Config:
    """W1's rules (``examples/w1.toml``) on NIFTY's weekly options: the ATM call of the nearest
    expiry, quoted by the pricing model at a constant India VIX of 15, one lot (50, then 25 from
    the May 2024 contracts), the default costs and a daily loss limit of 2 % of capital."""
    raw = tomllib.loads(W1_CONFIG.read_text())
    raw["instrument"] = {"trade": "options"}
    del raw["costs"]
    raw["limits"]["daily_loss_limit_pct"] = 0.02
    return config_from_mapping(raw, "w1 options")


def option_bars_of(data: w1_data.W1Data) -> OptionBars:
    vix = np.full(data.n, 15.0)
    return OptionBars.of(options_config(), data.ts, data.open, data.high, data.low, data.close,
                         data.atr14, vix, data.entries)  # fmt: skip


def check_options(
    data: w1_data.W1Data, bars: OptionBars, grid: list[W1Params]
) -> tuple[int, float]:
    """(how many of ``grid``'s sets the options kernel trades as the engine, bit for bit; the
    engine's median seconds for one full run)."""
    cfg, vix, agree, took = options_config(), np.full(data.n, 15.0), 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for k, p in enumerate(grid):
            run = apply_row(cfg, row(p))
            t0 = time.perf_counter()
            closed = run_signal_backtest(run, data.ts, data.open, data.high, data.low,
                                         data.close, data.volume, vix, data.entries,
                                         Path(tmp) / f"{k}.jsonl", atr=data.atr14)  # fmt: skip
            took.append(time.perf_counter() - t0)
            agree += engine_rows(closed) == kernel_rows(bars, trades(bars, row(p)))
    return agree, statistics.median(took)


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
    ap.add_argument("--check", type=int, default=3, help="options sets checked by the engine")
    args = ap.parse_args()
    data = w1_data.build()
    bars, obars = bars_of(data), option_bars_of(data)
    grid = sweep_grid()
    t0 = time.perf_counter()
    screen(bars, [row(p) for p in grid[:1]])
    kernel_trades(bars, grid[0])
    screen(obars, [row(p) for p in grid[:1]])
    trades(obars, row(grid[0]))
    print(f"W1: {data.n:,} bars; kernels compiled or loaded in {time.perf_counter() - t0:.2f} s")
    agree = sum(not compare(data, run_reference(data, p), kernel_trades(bars, p), p).diffs
                for p in grid)  # fmt: skip
    print(f"underlying kernel, trades equal to the reference's: {agree}/{len(grid)} combinations")
    checked = grid[:: max(1, len(grid) // max(args.check, 1))][: args.check]
    same, engine_s = check_options(data, obars, checked)
    print(f"options kernel, trades equal to the engine's (bars, strike, quantity, fills, costs, "
          f"PnL): {same}/{len(checked)} combinations")  # fmt: skip
    print()
    print("| what | combinations | median s | s per combination | bars/s |")
    print("|---|---|---|---|---|")
    w1_rows = np.array([row(p) for p in grid])
    sizes = [("W1 grid", w1_rows), ("random sets", random_grid(10_000))]
    sizes.append(("random sets", random_grid(args.combos)))
    for kind, b in (("kernel", bars), ("options kernel", obars)):
        for label, params in sizes:
            med = timed(lambda b=b, params=params: screen(b, params),
                        args.runs if len(params) <= 10_000 else 1)  # fmt: skip
            per = med / len(params)
            print(f"| {kind}, {label} | {len(params):,} | {med:.3f} | {per:.2e} | "
                  f"{data.n / per:,.0f} |")  # fmt: skip
    print(f"| engine, one options run (journal on) | 1 | {engine_s:.3f} | {engine_s:.2e} | "
          f"{data.n / engine_s:,.0f} |")  # fmt: skip
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
