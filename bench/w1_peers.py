"""Workload W1 on the reference loop and on peer engines: same data, same rules, same trades?
How fast? (``shared/bench/W1.md``; ``bench/README.md`` explains every column.)

    python bench/w1_peers.py [--runs 5] [--engines ref,dyntrail,backtesting,vectorbt,...]
    python bench/w1_peers.py --sweep [--engines ref,vectorbt]
    python bench/w1_peers.py --edge        # hand-made bars that exercise W1's edge cases

Each engine is ``fn(data) -> list[Trade]``. Timings are in-memory data to trades, engine setup
included; imports, data generation and the DataFrame build are excluded. Add an engine with
:func:`register_engine`, from a module named with ``--plugin MODULE`` (imported first, and in the
peak-RSS child too) or from a script that then calls :func:`main`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE / "peers"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar

import w1_data  # noqa: E402
import w1_memory  # noqa: E402
from w1_compare import Comparison, compare  # noqa: E402
from w1_reference import W1_PARAMS, Trade, run_reference, sweep_grid, total_pnl_pts  # noqa: E402

if __name__ == "__main__":  # plugins `import w1_peers`: let them find this module, not a copy
    sys.modules.setdefault("w1_peers", sys.modules["__main__"])

RunFn = Callable[[w1_data.W1Data], list[Trade]]
SweepFn = Callable[[w1_data.W1Data, list], list[list[Trade]]]


@dataclass(frozen=True)
class Engine:
    """An engine under test: ``run(data) -> trades``; ``requires`` names the modules it imports
    (checked before use: "not installed" otherwise); ``notes`` are its substituted rules."""

    name: str
    label: str
    run: RunFn | None = None
    requires: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    sweep: SweepFn | None = None
    external: Callable[[w1_data.W1Data, int], dict] | None = None  # measures itself
    available: Callable[[], bool] | None = None


ENGINES: dict[str, Engine] = {}
_PLUGINS: list[str] = []  # --plugin modules, passed on to the peak-RSS child


def register_engine(
    name: str,
    fn: RunFn,
    *,
    label: str | None = None,
    requires: Sequence[str] = (),
    notes: Sequence[str] = (),
    sweep: SweepFn | None = None,
) -> None:
    """Add (or replace) an engine: ``fn(data) -> list[Trade]`` where ``data`` is a
    :class:`w1_data.W1Data` (``data.df`` is its pandas frame) and trades are
    ``w1_reference.Trade`` tuples. ``sweep(data, grid) -> [trades per W1Params]`` is optional."""
    ENGINES[name] = Engine(name, label or name, fn, tuple(requires), tuple(notes), sweep)


def _lazy(module: str, attr: str) -> Callable:
    def call(*args):
        return getattr(importlib.import_module(module), attr)(*args)

    return call


def _reference_sweep(data, grid):
    return [run_reference(data, p) for p in grid]


def _nautilus_available() -> bool:
    import nautilus_w1

    return nautilus_w1.available()


def _builtin_engines() -> None:
    ENGINES["ref"] = Engine(
        "ref", "plain Python loop (reference)", run_reference, sweep=_reference_sweep
    )
    ENGINES["dyntrail"] = Engine(
        "dyntrail",
        "dyntrail (event engine, journal on)",
        _lazy("dyntrail_w1", "run"),
        ("dyntrail",),
        notes=(
            "none: W1 is configuration (next_bar bar semantics, trail from entry, initial stop "
            "at the tighter of SL and 2.5 ATR, one target, signals from W1's series)",
        ),
    )
    ENGINES["backtesting"] = Engine(
        "backtesting", "backtesting.py", _lazy("backtesting_py", "run"), ("backtesting",)
    )
    ENGINES["backtrader"] = Engine(
        "backtrader", "backtrader", _lazy("backtrader_w1", "run"), ("backtrader",)
    )
    ENGINES["vectorbt"] = Engine(
        "vectorbt",
        "vectorbt (from_signals + SL callback)",
        _lazy("vectorbt_w1", "run"),
        ("vectorbt",),
        sweep=_lazy("vectorbt_w1", "sweep"),
    )
    ENGINES["nautilus"] = Engine(
        "nautilus",
        "nautilus_trader (bars, subprocess)",
        _lazy("nautilus_w1", "run"),
        notes=(
            "stop wins -> extreme nearer the open first (adaptive bar ordering): a bar "
            "touching both fills the target when the high is nearer the open",
            "stop raised to/above the close -> cannot rest at the venue: exit at once at this "
            "bar's close (W1: next bar's open, same price within a session, one bar later)",
            "prices rounded to 1e-9 (instrument precision 9)",
        ),
        external=_lazy("nautilus_w1", "measure"),
        available=_nautilus_available,
    )


_builtin_engines()


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    engine: Engine
    status: str = "ok"
    trades: list[Trade] = field(default_factory=list)
    comparison: Comparison | None = None
    first_s: float | None = None
    median_s: float | None = None
    traced_mb: float | None = None
    rss_mb: float | None = None
    rss_base_mb: float | None = None


def is_available(engine: Engine) -> bool:
    if engine.available is not None:
        return engine.available()
    return all(importlib.util.find_spec(m) is not None for m in engine.requires)


def _timed(fn: Callable[[], object]) -> float:
    """Wall time of one call, after a full garbage collection (so that garbage left by an
    earlier run is not collected on this run's time)."""
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(engine: Engine, data, runs: int, rss: bool) -> Row:
    row = Row(engine)
    if not is_available(engine):
        row.status = "not installed"
        return row
    if engine.external is not None:
        rep = engine.external(data, runs)
        row.trades, row.first_s, row.median_s = rep["trades"], rep["first_s"], rep["median_s"]
        row.traced_mb, row.rss_mb = rep["tracemalloc_peak_mb"], rep["peak_rss_mb"]
        row.rss_base_mb = rep.get("rss_base_mb")
        return row
    for module in engine.requires:  # imports are not timed
        importlib.import_module(module)
    gc.collect()
    t0 = time.perf_counter()
    row.trades = engine.run(data)
    row.first_s = time.perf_counter() - t0
    warm = [_timed(lambda: engine.run(data)) for _ in range(runs)]
    row.median_s = statistics.median(warm) if warm else None
    tracemalloc.start()
    engine.run(data)
    row.traced_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    if rss:
        row.rss_base_mb, row.rss_mb = _rss_in_child(engine.name)
    return row


def _rss_in_child(name: str) -> tuple[float | None, float | None]:
    """In a fresh interpreter (data built, engine imported, one run done): RSS before a second
    run and the peak RSS during it (high-water mark reset just before it)."""
    cmd = [sys.executable, __file__, "--rss-child", name]
    cmd += [arg for module in _PLUGINS for arg in ("--plugin", module)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return None, None
    rep = json.loads(done.stdout.strip().splitlines()[-1])
    return rep["base_mb"], rep["peak_mb"]


def _rss_child(name: str) -> None:
    engine = ENGINES[name]
    data = w1_data.build()
    data.df  # noqa: B018 - built as data preparation, as in the timed runs
    for module in engine.requires:
        importlib.import_module(module)
    engine.run(data)  # first run: JIT compilation and caches, as before a warm run
    w1_memory.reset_peak()
    base = w1_memory.rss_mb()
    engine.run(data)
    print(json.dumps({"base_mb": base, "peak_mb": w1_memory.peak_mb()}))


# --------------------------------------------------------------------------- reporting


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Row], n_bars: int) -> None:
    ref = next((r for r in rows if r.engine.name == "ref" and r.median_s), None)
    head = (
        "engine",
        "trades",
        "agree",
        "first s",
        "median warm s",
        "bars/s",
        "tracemalloc MB",
        "peak RSS MB (base)",
        "x ref",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        if r.status != "ok":
            print(f"| {r.engine.label} | {r.status} |" + " |" * (len(head) - 2))
            continue
        bars_s = n_bars / r.median_s if r.median_s else None
        ratio = r.median_s / ref.median_s if ref and r.median_s else None
        rss = "-" if r.rss_mb is None else f"{r.rss_mb:.0f} ({_fmt(r.rss_base_mb, '.0f')})"
        cells = (
            r.engine.label,
            str(len(r.trades)),
            r.comparison.summary() if r.comparison else "-",
            _fmt(r.first_s, ".3f"),
            _fmt(r.median_s, ".4f"),
            "-" if bars_s is None else f"{bars_s:,.0f}",
            _fmt(r.traced_mb, ".1f"),
            rss,
            _fmt(ratio, ".1f"),
        )
        print("| " + " | ".join(cells) + " |")


TARGETS = {"backtesting": 2.0, "nautilus": 7.0}  # dyntrail's bars/s at least this x the peer's


def print_targets(rows: list[Row]) -> None:
    """dyntrail's speed against each peer (ratio of bars/s) and whether the targets hold."""
    ok = {r.engine.name: r for r in rows if r.status == "ok" and r.median_s}
    dyn = ok.get("dyntrail")
    if dyn is None or dyn.median_s is None:
        return
    print("\n| dyntrail vs | ratio of bars/s (dyntrail / peer) | target | holds |")
    print("|---|---|---|---|")
    for name, r in ok.items():
        if name == "dyntrail" or r.median_s is None:
            continue
        ratio = r.median_s / dyn.median_s
        target = TARGETS.get(name)
        verdict = "-" if target is None else ("yes" if ratio >= target else "no")
        shown = "-" if target is None else f">= {target:g}x"
        print(f"| {r.engine.label} | {ratio:.2f}x | {shown} | {verdict} |")


def report_differences(rows: list[Row]) -> None:
    for r in rows:
        if r.status != "ok" or r.comparison is None:
            continue
        c = r.comparison
        if r.engine.notes:
            print(f"\n{r.engine.label}: substituted rules")
            for note in r.engine.notes:
                print(f"  - {note}")
        if c.reason_mismatches:
            print(f"{r.engine.label}: {c.reason_mismatches} trades equal but exit reason differs")
        if c.agree:
            continue
        print(
            f"\n{r.engine.label}: {len(c.diffs)} trades differ "
            f"(reference {c.n_ref}, engine {c.n_engine}); by cause:"
        )
        for cause, count in c.causes.most_common():
            print(f"  {count:5d}  {cause}")
        for text in c.diffs:
            if "\n" in text:
                print(text)


def run_engines(names: list[str], data, runs: int, rss: bool) -> list[Row]:
    ref_trades = run_reference(data)
    rows = []
    for name in names:
        if name not in ENGINES:
            print(f"{name}: not installed (unknown engine; known: {', '.join(ENGINES)})")
            continue
        row = measure(ENGINES[name], data, runs, rss)
        if row.status == "ok":
            row.comparison = compare(data, ref_trades, row.trades)
        print(
            f"{name}: {row.status}"
            + (
                f", {len(row.trades)} trades, PnL {total_pnl_pts(row.trades):.2f} pts, "
                f"median {_fmt(row.median_s, '.4f')} s"
                if row.status == "ok"
                else ""
            ),
            flush=True,
        )
        rows.append(row)
    return rows


def run_sweep(names: list[str], data, runs: int) -> None:
    grid = sweep_grid()
    ref_all = _reference_sweep(data, grid)
    print(f"sweep: {len(grid)} combinations (MULT 1.0-4.0 x RR 1.0-3.0), timing only")
    print("| engine | first s | median warm s | s per combination | agree (combinations) |")
    print("|---|---|---|---|---|")
    for name in names:
        engine = ENGINES.get(name)
        if engine is None or not is_available(engine):
            print(f"| {name} | not installed | | | |")
            continue
        if engine.sweep is None:
            print(f"| {engine.label} | no cheap sweep (100 x one run) | | | |")
            continue
        for module in engine.requires:
            importlib.import_module(module)
        gc.collect()
        t0 = time.perf_counter()
        results = engine.sweep(data, grid)
        first = time.perf_counter() - t0
        agree = sum(
            not compare(data, r, g, p).diffs for r, g, p in zip(ref_all, results, grid, strict=True)
        )
        del results
        warm = [_timed(lambda e=engine: e.sweep(data, grid)) for _ in range(runs)]
        med = statistics.median(warm) if warm else None
        print(
            f"| {engine.label} | {first:.3f} | {_fmt(med, '.3f')} | "
            f"{_fmt(med / len(grid) if med else None, '.4f')} | {agree}/{len(grid)} |"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="W1 on the reference and peer engines")
    parser.add_argument("--runs", type=int, default=5, help="warm runs per engine (median)")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="comma-separated, from: " + ", ".join(ENGINES)
    )
    parser.add_argument("--sweep", action="store_true", help="the 100-combination sweep")
    parser.add_argument("--edge", action="store_true", help="hand-made edge-case bars")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        help="import this module (from bench/ or sys.path) first; it calls register_engine",
    )
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for module in args.plugin:
        importlib.import_module(module)
    global _PLUGINS
    _PLUGINS = list(args.plugin)
    if args.rss_child:
        _rss_child(args.rss_child)
        return
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    t0 = time.perf_counter()
    if args.edge:
        import w1_edge

        data = w1_edge.build()
    else:
        data = w1_data.build()
    data.df  # noqa: B018 - the DataFrame is data preparation, not engine time
    probe: Counter[str] = Counter()
    ref_trades = run_reference(data, W1_PARAMS, probe)
    print(
        f"data: {data.n:,} bars, {int(data.entries.sum()):,} signals, built in "
        f"{time.perf_counter() - t0:.2f} s; reference: {len(ref_trades)} trades, "
        f"PnL {total_pnl_pts(ref_trades):.2f} pts"
    )
    cases = ("both_in_bar", "stop_at_open", "target_at_open", "stop_in_market", "be_moves")
    cases += ("signal_on_exit_bar",)
    print("edge cases in this data: " + ", ".join(f"{k} {probe[k]}" for k in cases))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    if args.sweep:
        run_sweep(names, data, min(args.runs, 3))
        return
    rows = run_engines(names, data, args.runs, rss=not args.no_rss and not args.edge)
    print()
    print_table(rows, data.n)
    print_targets(rows)
    report_differences(rows)


if __name__ == "__main__":
    main()
