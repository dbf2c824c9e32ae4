"""``dyntrail sweep``: parameter sweeps and walk-forward; ``dyntrail screen``: the compiled
screen of very many parameter sets (``dyntrail.research``)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from dyntrail.cli.common import ConfigOpt, emit_json, failed, load_cfg, out, say
from dyntrail.errors import DyntrailError

SpaceArg = Annotated[Path, typer.Argument(help="The search space (TOML).", dir_okay=False)]
DataOpt = Annotated[
    Path | None, typer.Option(help="Data folder (default: the built-in 12 months).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="The summary as JSON.")]


def sweep(
    space: SpaceArg,
    data: DataOpt = None,
    config: ConfigOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Sweep folder (default: sweeps/<space file name>)."),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes (1: this process).", min=1, max=512)
    ] = 1,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run on a Ray cluster at this address ('auto': $RAY_ADDRESS or a local "
            "`ray start`); needs pip install 'dyntrail[ray]'."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="The built-in data's and the broker's seed.")] = 7,
    keep_best: Annotated[
        int,
        typer.Option(
            help="Run the N best trials again in full into best/<rank>-<config id>/ (journal, "
            "CSVs, KPIs, report); trials write nothing otherwise.",
            min=0,
        ),
    ] = 0,
    report: Annotated[bool, typer.Option(help="Write report.html.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Run many parameter sets (grid, random, Optuna), optionally walk-forward; resumable.

    Every trial's parameters, KPIs and daily returns go to the sweep folder's Parquet files;
    running the same command again skips the finished ones. The summary gives the winner, its
    deflated Sharpe ratio and the probability of backtest overfitting; with [walk_forward]
    the gate is judged on the stitched out-of-sample part. Exit 1 on a bad space, config or
    data."""
    from dyntrail.data.builtin import builtin_dataset
    from dyntrail.research.space import load_space
    from dyntrail.research.sweep import LocalPool, Setup, Sweep
    from dyntrail.research.sweep import keep_best as rerun_best

    if ray is None and os.environ.get("RAY_ADDRESS") and workers == 1:
        ray = os.environ["RAY_ADDRESS"]
    cfg = load_cfg(config)
    try:
        sp = load_space(space)
        folder = out_dir or Path("sweeps") / space.stem
        folder.mkdir(parents=True, exist_ok=True)
        _keep_space(space, folder)
        folder_data = data if data is not None else builtin_dataset(seed=seed)
        pool: Callable[[Setup], Any] | None = None
        width = workers
        if ray is not None:
            from dyntrail.research.ray_pool import RayPool

            actors = None if workers == 1 else workers
            pool = functools.partial(RayPool, address=ray, workers=actors)
            width = workers if workers > 1 else _ray_width(ray)
        elif workers > 1:
            pool = functools.partial(LocalPool, workers=workers)
        progress = _progress()
        s = Sweep(sp, cfg, folder_data, folder, seed=seed, pool=pool, width=width,
                  progress=progress)  # fmt: skip
        result = s.run()
        kept = rerun_best(s, keep_best) if keep_best else []
        if report:
            from dyntrail.research.report import write_sweep_report

            write_sweep_report(folder)
    except DyntrailError as exc:
        failed(str(exc))
    if as_json:
        emit_json({"folder": str(folder), **result.summary, "kept": [str(k) for k in kept]})
        return
    _print(result.summary, folder, result.ran, result.trials)
    for k in kept:
        out.print(f"run again in full: {k}", markup=False)


def screen(
    space: SpaceArg,
    signals: Annotated[
        Path,
        typer.Option(
            help="Entry signals, CSV or Parquet: timestamp (a bar's start), signal (1/0).",
            dir_okay=False,
        ),
    ],
    data: DataOpt = None,
    config: ConfigOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Screen folder (default: screens/<space file name>)."),
    ] = None,
    top: Annotated[int, typer.Option(help="How many of the best sets to print.", min=0)] = 10,
    confirm_best: Annotated[
        int,
        typer.Option(
            "--confirm",
            help="Run the N best sets again through the engine and check every trade against "
            "the kernel's (journals in confirm/).",
            min=0,
        ),
    ] = 3,
    seed: Annotated[int, typer.Option(help="The built-in data's seed.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Screen very many parameter sets with the compiled kernel (numba), trade-identical to the
    engine for the configurations it supports; the best run again through the engine.

    Entries come from --signals (long at a signal bar's close); the space varies the stop,
    target, break-even and ATR trail keys, grid or random. Unsupported configurations are
    refused, naming what the kernel does not do. Needs pip install 'dyntrail[research]'.
    Exit 1 on a bad space, config, data or signals file, or a confirmation that differs."""
    from dyntrail.data.builtin import builtin_dataset
    from dyntrail.research.screen import ScreenMismatch
    from dyntrail.research.screening import run_screen, top_lines
    from dyntrail.research.space import load_space

    cfg = load_cfg(config)
    folder = out_dir or Path("screens") / space.stem
    try:
        sp = load_space(space)
        folder.mkdir(parents=True, exist_ok=True)
        folder_data = data if data is not None else builtin_dataset(seed=seed)
        result = run_screen(sp, cfg, folder_data, signals, folder, confirm_best=confirm_best,
                            progress=_progress("parameter sets"), notice=say)  # fmt: skip
        _keep_space(space, folder)
    except (DyntrailError, ScreenMismatch) as exc:
        failed(str(exc))
    except OSError as exc:
        failed(f"{exc.filename or folder}: {exc.strerror or exc}")
    n = len(result.table)
    per = result.seconds / n
    ranked = result.table[result.table["objective"].notna()].head(top)
    if as_json:
        emit_json({"folder": str(folder), "sets": n, "ranked": result.ranked,
                   "bars": result.bars, "seconds": round(result.seconds, 3),
                   "seconds_per_set": per, "pnl_unit": result.unit,
                   "confirmed": result.confirmed,
                   "best": ranked.to_dict("records")})  # fmt: skip
        return
    out.print(f"screen {folder}: {n:,} parameter sets over {result.bars:,} bars in "
              f"{result.seconds:.2f} s ({per:.2e} s per set); PnL in {result.unit}",
              markup=False)  # fmt: skip
    for line in top_lines(result.table, top):
        out.print(line, markup=False, soft_wrap=True)
    if not result.ranked:
        out.print(f"no set reached min_trades = {sp.min_trades} (or made a trade)",
                  markup=False)  # fmt: skip
    if result.confirmed:
        out.print(f"the engine ran the best {result.confirmed} again: every trade equal to the "
                  f"kernel's ({folder / 'confirm'})", markup=False)  # fmt: skip
    out.print(f"table: {folder / 'screen.parquet'}", markup=False)


def _keep_space(space: Path, folder: Path) -> None:
    """A copy of the space file in the folder of what it made."""
    (folder / "space.toml").write_text(space.read_text(encoding="utf-8"), encoding="utf-8")


def _ray_width(address: str) -> int:
    """How many trials a Ray cluster runs at once (its CPUs)."""
    import logging

    import ray as ray_module

    ray: Any = ray_module
    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _progress(what: str = "trials") -> Any:
    last = [-1]

    def show(done: int, total: int) -> None:
        pct = int(100 * done / max(total, 1))
        if pct // 10 != last[0] // 10:
            say("progress", f"{done}/{total} {what}")
        last[0] = pct

    return show


def _print(summary: dict[str, Any], folder: Path, ran: int, total: int) -> None:
    out.print(f"sweep {folder}: {total} trials kept, {ran} run now", markup=False)
    best = summary.get("best")
    if best:
        out.print(f"winner {best['config_id']}: {best['params']}", markup=False)
        kpis = ", ".join(f"{k} {_g(v)}" for k, v in best["kpis"].items())
        out.print(f"  objective {_g(best['objective'])}; {kpis}", markup=False)
        h = summary["honesty"]
        out.print(f"  deflated Sharpe {_g(h.get('dsr'))}  PBO {_g(h.get('pbo'))}  "
                  f"(over {h.get('n_trials')} candidates)", markup=False)  # fmt: skip
    elif "windows" in summary:
        for w in summary["windows"]:
            b = w.get("best")
            won = f"{b['params']} IS {b['objective']:.4f}" if b else "no candidate"
            oos = w.get("oos")
            res = f" OOS {oos['objective']:.4f}" if oos else ""
            out.print(f"window {w['window']} {w['out_of_sample']}: {won}{res}", markup=False)
        o = summary.get("out_of_sample")
        if o:
            verdict = "ACCEPTED" if o["acceptance"]["accepted"] else "REJECTED"
            out.print(f"out of sample ({o['days']} days): {o['kpis']} -> {verdict}",
                      markup=False)  # fmt: skip
    else:
        out.print("no candidate: no trial had enough trades and an objective", markup=False)
    if (folder / "report.html").exists():
        out.print(f"report: {folder / 'report.html'}", markup=False)


def _g(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
