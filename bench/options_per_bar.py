"""The options main job's engine time per bar, beside backtesting.py's per-bar time on W1, in one
process and one run, the two engines' runs taken in turn.

1. dyntrail: the job ``dyntrail backtest`` runs by default (the built-in 12 months of NIFTY
   options, the default configuration, option quotes from the model), loaded and planned once
   (untimed). Timed: ``runners.backtest.simulate``, the engine's whole run (features, regime,
   every bar, the paper broker, the journal written to a file, the rows of the tables). The
   tables and the report are not written (they follow the run, outside the engine).
2. backtesting.py on W1 (``bench/W1.md``), the harness's own run (``w1_peers.ENGINES``), when
   ``backtesting`` is importable (run with the bench venv); its trades are checked against the
   reference's.

Each engine runs once untimed (imports, caches), then ``--runs`` rounds each time one run of
dyntrail and one of backtesting.py, after a full garbage collection each: a machine whose speed
drifts (a shared host) slows both alike. Prints µs per bar of each (the medians), the ratio of
the medians (dyntrail's per-bar time / backtesting.py's: at most 1 is the target) and the median
of the rounds' own ratios.

    .venv-bench/bin/python bench/options_per_bar.py [--runs 7]
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
from collections.abc import Callable
from pathlib import Path


def options_job() -> tuple[Callable[[], object], int]:
    """(one timed run of the options main job's engine, its bars)."""
    from dyntrail.core.config import Config
    from dyntrail.data.builtin import builtin_dataset
    from dyntrail.journal import Journal
    from dyntrail.runners.backtest import simulate
    from dyntrail.runners.plan import plan_run

    cfg = Config()
    plan = plan_run(cfg, builtin_dataset())
    path = Path(tempfile.mkdtemp(prefix="dyntrail-per-bar-")) / "journal.jsonl"

    def run() -> object:
        path.unlink(missing_ok=True)
        with Journal(path) as journal:
            return simulate(cfg, plan, journal, seed=7)

    return run, len(plan.md.bars.timestamps)


def backtesting_w1() -> tuple[Callable[[], object], int, Callable[[object], str]] | None:
    """(one run of backtesting.py on W1, W1's bars, the agreement of a run's trades with the
    reference's), or None when it is not installed."""
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
    engine = w1_peers.ENGINES["backtesting"]
    for module in engine.requires:  # imports are not timed
        importlib.import_module(module)
    assert engine.run is not None
    reference = run_reference(data, W1_PARAMS)

    def agree(trades: object) -> str:
        ok = compare(data, reference, trades, show=0).agree
        n = len(trades)  # type: ignore[arg-type]
        return f"{n} trades, {'equal to' if ok else 'NOT equal to'} the reference's"

    return (lambda: engine.run(data)), data.n, agree  # type: ignore[misc]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """(wall seconds of one call after a full garbage collection, its result)."""
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed rounds (medians)")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (timings are not isolated)"
    )
    ours_run, bars = options_job()
    peer = backtesting_w1()
    ours_run()  # untimed first runs
    first = peer[0]() if peer is not None else None
    mine: list[float] = []
    theirs: list[float] = []
    for _ in range(args.runs):
        mine.append(timed(ours_run)[0])
        if peer is not None:
            s, first = timed(peer[0])
            theirs.append(s)
    med = statistics.median(mine)
    ours = med / bars * 1e6
    shown = ", ".join(f"{t:.3f}" for t in mine)
    print(
        f"dyntrail options main job, engine (simulate): {bars:,} bars, median {med:.3f} s of "
        f"{args.runs} ({shown}) = {ours:.2f} µs/bar"
    )
    if peer is None:
        print("backtesting.py: not installed (run with the bench venv for the W1 figure)")
        return
    _, peer_bars, agree = peer
    peer_s = statistics.median(theirs)
    per = peer_s / peer_bars * 1e6
    shown = ", ".join(f"{t:.3f}" for t in theirs)
    print(
        f"backtesting.py on W1: {peer_bars:,} bars, median {peer_s:.3f} s of {args.runs} "
        f"({shown}) = {per:.2f} µs/bar ({agree(first)})"
    )
    pairs = statistics.median(
        (m / bars) / (t / peer_bars) for m, t in zip(mine, theirs, strict=True)
    )
    verdict = "holds" if ours <= per else "does not hold"
    print(
        f"ratio dyntrail µs/bar / backtesting.py µs/bar = {ours / per:.2f} (target <= 1: "
        f"{verdict}); the median of the {args.runs} rounds' own ratios {pairs:.2f}"
    )


if __name__ == "__main__":
    main()
