"""The options main job's engine time per bar, beside backtesting.py's per-bar time on W1, in one
process and one run.

1. dyntrail: the job ``dyntrail backtest`` runs by default (the built-in 12 months of NIFTY
   options, the default configuration, option quotes from the model), loaded and planned once
   (untimed). Timed: ``runners.backtest.simulate``, the engine's whole run (features, regime,
   every bar, the paper broker, the journal written to a file, the rows of the tables), after
   one warm-up run; the median of ``--runs`` runs, each after a full garbage collection. The
   tables and the report are not written (they follow the run, outside the engine).
2. backtesting.py on W1 (``bench/W1.md``), measured by the harness's own code
   (``w1_peers.measure``: first run, then the median of ``--runs`` warm runs), when
   ``backtesting`` is importable (run with the bench venv); its trades are checked against the
   reference's.

Prints µs per bar of each and the ratio (dyntrail's per-bar time / backtesting.py's: at most 1
is the target).

    .venv-bench/bin/python bench/options_per_bar.py [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def options_job(runs: int) -> tuple[float, int, list[float]]:
    """(median seconds of ``simulate``, bars, every timed run's seconds)."""
    from dyntrail.core.config import Config
    from dyntrail.data.builtin import builtin_dataset
    from dyntrail.journal import Journal
    from dyntrail.runners.backtest import simulate
    from dyntrail.runners.plan import plan_run

    cfg = Config()
    plan = plan_run(cfg, builtin_dataset())
    bars = len(plan.md.bars.timestamps)
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dyntrail-per-bar-") as tmp:
        path = Path(tmp) / "journal.jsonl"
        for k in range(runs + 1):  # the first is the warm-up
            path.unlink(missing_ok=True)
            gc.collect()
            t0 = time.perf_counter()
            with Journal(path) as journal:
                rows = simulate(cfg, plan, journal, seed=7)
            elapsed = time.perf_counter() - t0
            del rows
            if k:
                times.append(elapsed)
    return statistics.median(times), bars, times


def backtesting_w1(runs: int) -> tuple[float, int, str] | None:
    """(backtesting.py's median warm seconds on W1, W1's bars, agreement), or None when it is
    not installed."""
    if importlib.util.find_spec("backtesting") is None:
        return None
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import w1_data
    import w1_peers
    from w1_compare import compare
    from w1_reference import W1_PARAMS, run_reference

    data = w1_data.build()
    data.df  # noqa: B018 - the DataFrame is data preparation, not engine time
    row = w1_peers.measure(w1_peers.ENGINES["backtesting"], data, runs, rss=False)
    if row.median_s is None:
        return None
    ok = compare(data, run_reference(data, W1_PARAMS), row.trades, show=0).agree
    agree = f"{len(row.trades)} trades, {'equal to' if ok else 'NOT equal to'} the reference's"
    return row.median_s, data.n, agree


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (median)")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (timings are not isolated)"
    )
    med, bars, times = options_job(args.runs)
    ours = med / bars * 1e6
    shown = ", ".join(f"{t:.3f}" for t in times)
    print(
        f"dyntrail options main job, engine (simulate): {bars:,} bars, median {med:.3f} s of "
        f"{args.runs} ({shown}) = {ours:.2f} µs/bar"
    )
    peer = backtesting_w1(args.runs)
    if peer is None:
        print("backtesting.py: not installed (run with the bench venv for the W1 figure)")
        return
    peer_s, peer_bars, agree = peer
    theirs = peer_s / peer_bars * 1e6
    print(
        f"backtesting.py on W1: {peer_bars:,} bars, median warm {peer_s:.3f} s = "
        f"{theirs:.2f} µs/bar ({agree})"
    )
    verdict = "holds" if ours <= theirs else "does not hold"
    print(
        f"ratio dyntrail µs/bar / backtesting.py µs/bar = {ours / theirs:.2f} "
        f"(target <= 1: {verdict})"
    )


if __name__ == "__main__":
    main()
