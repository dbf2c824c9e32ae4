"""The README's main job, end to end, and the engine's per-bar cost. Prints figures, asserts
nothing.

1. ``dyntrail backtest --out DIR`` as a child process (12 months of the built-in synthetic
   dataset, option quotes from the model, KPIs, ``report.html``). ``XDG_CACHE_HOME`` points to a
   new temporary folder, so the first run also builds the dataset; the ``--runs`` further runs
   reuse it. Wall time is taken in this process around the child. Peak RSS is the child's own
   high-water mark: from ``/usr/bin/time -v`` when it exists, otherwise from ``os.wait4`` on the
   child (its ``ru_maxrss``) and a 5 ms poll of ``/proc/<pid>/status`` ``VmHWM``. The output says
   which. (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the largest child so far, not a sum, so
   its deltas do not give one child's peak.)
2. In this process: ``run_backtest(Config(), builtin_dataset(), out, report=False)`` with
   ``Engine.on_bar`` wrapped (in this process only) by a timer that puts the ``perf_counter_ns``
   of each call into a bucket chosen by whether ``self.trade`` was None when the call began:
   flat bars and bars in a position. The wrapper's own cost is measured on an empty method with
   the same signature and subtracted. The rest of the run (before the first bar: data loading,
   indicators, calendar; between bars: the runner's loop; after the last bar: ``finish``, CSVs,
   KPIs) is reported as the share outside ``on_bar``.
3. Whether the targets hold: warm end-to-end run under 10 s, peak RSS under 300 MB.

MB here is 2**20 bytes (``ru_maxrss`` kB / 1024), as in ``w1_memory.py``.

    python bench/demo.py [--runs 3] [--out DIR]   (DIR: dyntrail-demo in the system's temp folder)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TARGET_WALL_S = 10.0
TARGET_RSS_MB = 300.0
GNU_TIME = Path("/usr/bin/time")
REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- machine


def machine_lines() -> list[str]:
    load = os.getloadavg()
    lines = [
        f"machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()} ({sys.executable})",
        f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        "(other work may be running on this machine; timings are not isolated)",
    ]
    try:
        from importlib.metadata import version

        lines.append(f"dyntrail {version('dyntrail')}")
    except Exception:  # the figures still stand without the version line
        pass
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        lines.append(
            f"source: HEAD {head}, {len(dirty)} uncommitted change(s) under src/ "
            "(the figures are of the working tree as it was during the run)"
        )
    except (OSError, subprocess.CalledProcessError):
        pass
    return lines


# ----------------------------------------------------------------------------- part 1


@dataclass
class ChildRun:
    wall_s: float
    rss_mb: float
    method: str
    detail: str = ""


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"^VmHWM:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def _fail(cmd: list[str], code: int, stderr_path: Path) -> None:
    tail = stderr_path.read_text(errors="replace").splitlines()[-20:]
    sys.exit(f"{' '.join(cmd)} exited with {code}:\n" + "\n".join(tail))


def run_child(cmd: list[str], env: dict[str, str], logs: Path, use_time: bool) -> ChildRun:
    """Run ``cmd``; its wall time (measured here) and peak RSS."""
    stdout_path, stderr_path = logs / "stdout.txt", logs / "stderr.txt"
    with stdout_path.open("wb") as so, stderr_path.open("wb") as se:
        if use_time:
            report = logs / "time-v.txt"
            full = [str(GNU_TIME), "-v", "-o", str(report), *cmd]
            t0 = time.perf_counter()
            code = subprocess.run(full, env=env, stdout=so, stderr=se, check=False).returncode
            wall = time.perf_counter() - t0
            if code != 0:
                _fail(cmd, code, stderr_path)
            m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", report.read_text())
            if m is None:
                sys.exit(f"no 'Maximum resident set size' in {report}")
            return ChildRun(wall, int(m.group(1)) / 1024, "/usr/bin/time -v")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=so, stderr=se)
        polled = 0
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            polled = max(polled, _vm_hwm_kb(proc.pid) or 0)
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            _fail(cmd, proc.returncode, stderr_path)
        return ChildRun(
            wall,
            max(ru.ru_maxrss, polled) / 1024,
            "os.wait4 ru_maxrss of the child (polled /proc VmHWM as a check)",
            f"wait4 {ru.ru_maxrss / 1024:.0f} MB, polled VmHWM {polled / 1024:.0f} MB",
        )


def dyntrail_exe() -> str:
    beside = Path(sys.executable).parent / "dyntrail"
    if beside.exists():
        return str(beside)
    found = shutil.which("dyntrail")
    if found is None:
        sys.exit("no `dyntrail` console script beside this Python or on PATH")
    return found


def end_to_end(runs: int, out: Path, cache: Path, use_time: bool) -> list[ChildRun]:
    exe = dyntrail_exe()
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), COLUMNS="100")
    results = []
    for k in range(runs + 1):
        run_dir = out / f"e2e-{k}"
        logs = out / f"e2e-{k}-logs"
        for d in (run_dir, logs):
            shutil.rmtree(d, ignore_errors=True)
        logs.mkdir(parents=True)
        cmd = [exe, "backtest", "--out", str(run_dir)]
        if k == 0:
            print(f"  command: XDG_CACHE_HOME={cache} {' '.join(cmd)}")
        gc.collect()
        r = run_child(cmd, env, logs, use_time)
        label = "first (builds the dataset)" if k == 0 else f"warm {k}"
        extra = f"  [{r.detail}]" if r.detail else ""
        print(f"  {label:<27} {r.wall_s:7.2f} s   peak RSS {r.rss_mb:6.1f} MB{extra}")
        results.append(r)
    return results


# ----------------------------------------------------------------------------- part 2


@dataclass
class Buckets:
    flat_ns: int = 0
    flat_n: int = 0
    pos_ns: int = 0
    pos_n: int = 0
    first_start: int = 0
    last_end: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def timed(orig, acc: Buckets):  # type: ignore[no-untyped-def]
    """``orig`` (an ``on_bar``) with each call's time put in the flat or in-position bucket."""
    pc = time.perf_counter_ns

    def on_bar(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        flat = not self.book.open
        t0 = pc()
        orig(self, *args, **kwargs)
        t1 = pc()
        if flat:
            acc.flat_ns += t1 - t0
            acc.flat_n += 1
        else:
            acc.pos_ns += t1 - t0
            acc.pos_n += 1
        if not acc.first_start:
            acc.first_start = t0
        acc.last_end = t1

    return on_bar


class _Book:
    open: dict[int, object] = {}


class _Empty:
    def __init__(self) -> None:
        self.book = _Book()

    def on_bar(self, i, ts, o, h, low, c, volume, vix):  # type: ignore[no-untyped-def]
        pass


def wrapper_overhead(n: int, reps: int = 7) -> tuple[float, float]:
    """Per call: (ns the wrapper books for an empty body, ns the wrapper adds in all)."""
    ts = dt.datetime(2025, 1, 1, 9, 15)
    inner, total = [], []
    for _ in range(reps):
        plain = _Empty()
        acc = Buckets()
        wrapped_cls = type("_Wrapped", (_Empty,), {"on_bar": timed(_Empty.on_bar, acc)})
        wrapped = wrapped_cls()
        gc.collect()
        t0 = time.perf_counter_ns()
        for i in range(n):
            plain.on_bar(i, ts, 1.0, 1.0, 1.0, 1.0, None, 15.0)
        t1 = time.perf_counter_ns()
        for i in range(n):
            wrapped.on_bar(i, ts, 1.0, 1.0, 1.0, 1.0, None, 15.0)
        t2 = time.perf_counter_ns()
        inner.append(acc.flat_ns / n)
        total.append(((t2 - t1) - (t1 - t0)) / n)
    return statistics.median(inner), statistics.median(total)


@dataclass
class InProcess:
    unwrapped_s: list[float]
    wrapped_s: list[float]
    buckets: list[Buckets]
    starts: list[int]
    ends: list[int]
    exposure: list[float]  # kpis.json exposure_pct: the engine's own bars-in-position share


def in_process(runs: int, out: Path, cache: Path) -> tuple[InProcess, float]:
    os.environ["XDG_CACHE_HOME"] = str(cache)  # the dataset part 1 built
    from dyntrail.core.config import Config
    from dyntrail.data.builtin import builtin_dataset
    from dyntrail.engine import Engine
    from dyntrail.runners.backtest import run_backtest

    t0 = time.perf_counter()
    data = builtin_dataset()
    load_s = time.perf_counter() - t0
    cfg = Config()
    res = InProcess([], [], [], [], [], [])

    def once(k: int) -> tuple[float, int, int]:
        run_dir = out / f"inproc-{k}"
        shutil.rmtree(run_dir, ignore_errors=True)
        gc.collect()
        a = time.perf_counter_ns()
        run_backtest(cfg, data, run_dir, report=False)
        b = time.perf_counter_ns()
        return (b - a) / 1e9, a, b

    once(0)  # first call in the process: lazy imports, first-use caches
    original = Engine.on_bar
    for k in range(1, runs + 1):
        res.unwrapped_s.append(once(2 * k - 1)[0])
        acc = Buckets()
        Engine.on_bar = timed(original, acc)  # type: ignore[method-assign]
        try:
            secs, a, b = once(2 * k)
        finally:
            Engine.on_bar = original  # type: ignore[method-assign]
        res.wrapped_s.append(secs)
        res.buckets.append(acc)
        res.starts.append(a)
        res.ends.append(b)
        kpis = json.loads((out / f"inproc-{2 * k}" / "kpis.json").read_text())
        res.exposure.append(float(kpis.get("exposure_pct", float("nan"))))
    return res, load_s


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="warm runs (default 3)")
    default_out = Path(tempfile.gettempdir()) / "dyntrail-demo"
    ap.add_argument("--out", type=Path, default=default_out, help="work folder")
    ap.add_argument(
        "--rss",
        choices=("auto", "time", "wait4"),
        default="auto",
        help="peak RSS method: /usr/bin/time -v (auto when present) or os.wait4 + /proc poll",
    )
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    use_time = args.rss == "time" or (args.rss == "auto" and os.access(GNU_TIME, os.X_OK))
    cache = Path(tempfile.mkdtemp(prefix="dyntrail-demo-cache-"))

    for line in machine_lines():
        print(line)
    print(f"work folder: {out}; fresh dataset cache: {cache}")
    try:
        print("\n1. README main job end to end: `dyntrail backtest --out DIR`")
        e2e = end_to_end(args.runs, out, cache, use_time)
        first, warm = e2e[0], e2e[1:]
        warm_med = statistics.median(r.wall_s for r in warm)
        peak = max(r.rss_mb for r in e2e)
        print(f"  peak RSS method: {e2e[0].method}")
        print(f"  first run (dataset built):   {first.wall_s:.2f} s")
        print(
            f"  warm runs (median of {len(warm)}):   {warm_med:.2f} s "
            f"(min {min(r.wall_s for r in warm):.2f}, max {max(r.wall_s for r in warm):.2f})"
        )
        print(
            f"  peak RSS: {peak:.1f} MB over all runs; first {first.rss_mb:.1f} MB, "
            f"warm max {max(r.rss_mb for r in warm):.1f} MB"
        )

        print("\n2. Engine per-bar cost, in process (run_backtest(Config(), ..., report=False))")
        ip, load_s = in_process(args.runs, out, cache)
        n_bars = ip.buckets[0].flat_n + ip.buckets[0].pos_n
        b_in, b_all = wrapper_overhead(n_bars)
        print(
            f"  wrapper overhead per call: {b_in:.0f} ns booked inside the bucket, "
            f"{b_all:.0f} ns added in all (empty method, median of 7 x {n_bars:,} calls)"
        )
        flat, pos, outside, pre, post, loop = [], [], [], [], [], []
        for acc, secs, a, b in zip(ip.buckets, ip.wrapped_s, ip.starts, ip.ends, strict=True):
            n = acc.flat_n + acc.pos_n
            flat.append(acc.flat_ns / acc.flat_n - b_in)
            pos.append(acc.pos_ns / acc.pos_n - b_in if acc.pos_n else float("nan"))
            total = secs * 1e9 - n * b_all
            inside = acc.flat_ns + acc.pos_ns - n * b_in
            outside.append((total - inside) / total)
            pre.append((acc.first_start - a) / total)
            post.append((b - acc.last_end) / total)
            loop.append(outside[-1] - pre[-1] - post[-1])
        acc = ip.buckets[0]
        print(
            f"  bars: {n_bars:,}; flat {acc.flat_n:,}, in a position {acc.pos_n:,} "
            f"({acc.pos_n / n_bars:.2%}; the run's kpis.json says "
            f"{ip.exposure[0]:.2%})"
        )
        print(
            f"  ns per flat bar:            {statistics.median(flat):8,.0f}  "
            f"(runs: {', '.join(f'{x:,.0f}' for x in flat)})"
        )
        print(
            f"  ns per bar in a position:   {statistics.median(pos):8,.0f}  "
            f"(runs: {', '.join(f'{x:,.0f}' for x in pos)})"
        )
        print(
            f"  run time: {statistics.median(ip.unwrapped_s):.2f} s unwrapped (median of "
            f"{len(ip.unwrapped_s)}), {statistics.median(ip.wrapped_s):.2f} s wrapped; "
            f"builtin_dataset() on the warm cache {load_s * 1e3:.1f} ms"
        )
        print(
            f"  share of run time outside on_bar: {statistics.median(outside):.1%} "
            f"(before the first bar {statistics.median(pre):.1%}: data loading, indicators, "
            f"calendar; runner loop between bars {statistics.median(loop):.1%}; after the last "
            f"bar {statistics.median(post):.1%}: finish, CSVs, KPIs)"
        )

        print("\n3. Targets")
        ok_wall = warm_med < TARGET_WALL_S
        ok_rss = peak < TARGET_RSS_MB
        print(
            f"  end to end under {TARGET_WALL_S:.0f} s (warm median): "
            f"{'holds' if ok_wall else 'MISSED'} ({warm_med:.2f} s)"
        )
        print(
            f"  peak RSS under {TARGET_RSS_MB:.0f} MB (max over all runs): "
            f"{'holds' if ok_rss else 'MISSED'} ({peak:.1f} MB)"
        )
        load = os.getloadavg()
        print(f"\nload average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
