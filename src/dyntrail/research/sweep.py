"""``dyntrail sweep``: many parameter sets of the strategy, tested honestly.

1. The points of the space (``dyntrail.research.space``: a grid, random points, or points an
   Optuna study asks for) run as trials (``dyntrail.research.trial``) on worker processes
   (``workers``), or on a Ray cluster (``dyntrail.research.ray_pool``); tasks are batched so
   each runs at least ``MIN_TASK_S``, and every finished batch is written to the sweep's
   Parquet files at once (``dyntrail.research.store``): a sweep stopped anywhere goes on where
   it stopped, finished config ids skipped.
2. Without walk-forward, every point runs on all the data and the best candidate (enough
   trades, the best objective) wins. With it, each window's points run in-sample, the window's
   best runs out-of-sample, and the out-of-sample runs are stitched into one equity curve: the
   go-live gate (``[acceptance]``) is judged on that part alone.
3. The winner's deflated Sharpe ratio (against every trial's Sharpe) and the probability of
   backtest overfitting (CSCV over the trials' daily returns) say how much of the winner is
   luck (``dyntrail.research.stats``).

The same space, base config, data and seed give the same trials, whatever the number of
workers or where they run."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dyntrail.core.config import Config
from dyntrail.errors import ConfigError
from dyntrail.research.space import Point, Space, space_of
from dyntrail.research.store import TrialStore
from dyntrail.research.trial import Lab, TrialResult, Window, base_mapping, config_id

log = logging.getLogger(__name__)
MIN_TASK_S = 0.1  # a task (a batch of trials) runs at least this long
Task = tuple[Point, Window, bool]  # a point, its window, keep its tables


class Pool(Protocol):
    """Where trials run: ``run`` yields each batch's results as it finishes."""

    def run(self, batches: Sequence[list[Task]]) -> Iterator[list[TrialResult]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Setup:
    """What every worker needs to build its ``Lab`` (plain data: sent once to each)."""

    base: dict[str, Any]
    data: str
    seed: int
    source: str
    space_doc: dict[str, Any]


_LAB: tuple[Lab, Space] | None = None  # a worker process's bench, made once


def _init_worker(setup: Setup) -> None:
    global _LAB
    _LAB = (
        Lab(setup.base, Path(setup.data), setup.seed, setup.source),
        space_of(setup.space_doc, setup.source),
    )


def run_batch(tasks: list[Task], setup: Setup | None = None) -> list[TrialResult]:
    """Run a batch of trials on this process's bench (made from ``setup`` the first time)."""
    if _LAB is None:
        assert setup is not None
        _init_worker(setup)
    assert _LAB is not None
    lab, space = _LAB
    return [lab.run(point, w, space, tables) for point, w, tables in tasks]


class InProcess:
    """Trials in this process, one batch after another (``--workers 1``)."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup

    def run(self, batches: Sequence[list[Task]]) -> Iterator[list[TrialResult]]:
        for b in batches:
            yield run_batch(b, self.setup)

    def close(self) -> None:
        pass


class LocalPool:
    """Worker processes (each loads the data once, on its first task)."""

    def __init__(self, setup: Setup, workers: int) -> None:
        self.workers = workers
        self._ex = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(setup,))

    def run(self, batches: Sequence[list[Task]]) -> Iterator[list[TrialResult]]:
        todo = list(batches)
        running: set[Future[list[TrialResult]]] = set()
        while todo or running:
            while todo and len(running) < 2 * self.workers:
                running.add(self._ex.submit(run_batch, todo.pop(0)))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()

    def close(self) -> None:
        self._ex.shutdown(cancel_futures=True)


@dataclass
class SweepResult:
    folder: Path
    trials: int  # trials in the sweep (this run's and earlier runs')
    ran: int  # trials this run
    best: dict[str, Any] | None  # the winner (without walk-forward)
    summary: dict[str, Any]


class Sweep:
    """One sweep into ``folder`` (see the module docstring)."""

    def __init__(
        self,
        space: Space,
        cfg: Config,
        data: Path,
        folder: Path,
        *,
        seed: int = 7,
        pool: Callable[[Setup], Pool] | None = None,
        width: int = 1,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.space, self.cfg, self.data, self.folder = space, cfg, data, folder
        self.setup = Setup(base_mapping(cfg), str(data), seed, space.source, dict(space.doc))
        self.make_pool = pool or InProcess
        self.width = width  # trials run at once (an Optuna study asks this many at a time)
        self._pool: Pool | None = None
        self.progress = progress
        self.store = TrialStore(folder)
        self.done = self.store.done()
        self.ran = 0
        self._estimate = 1.0  # seconds a trial takes (the first finished ones tell)
        self._known = self._stored()

    # ------------------------------------------------------------------ running trials

    def evaluate(
        self, points: Sequence[Point], w: Window, tables: bool = False
    ) -> list[TrialResult]:
        """The trials of ``points`` on window ``w``: the stored ones read back (run again
        only when their tables are wanted), the others run and stored as they finish."""
        out: dict[str, TrialResult] = {}
        todo: list[Task] = []
        for p in points:
            key = config_id(p, w)
            if key in self._known and not tables:
                out[key] = self._known[key]
            else:
                todo.append((p, w, tables))
        if todo:
            size = max(1, math.ceil(MIN_TASK_S / max(self._estimate, 1e-3)))
            batches = [todo[k : k + size] for k in range(0, len(todo), size)]
            if self._pool is None:  # one pool for the sweep: each worker loads the data once
                self._pool = self.make_pool(self.setup)
            for results in self._pool.run(batches):
                fresh = [r for r in results if r.config_id not in self.done]
                self.store.add(fresh, self.space.names)
                for r in results:
                    out[r.config_id] = r
                    self.done.add(r.config_id)
                    self._known[r.config_id] = r
                self.ran += len(fresh)
                secs = [r.seconds for r in results]
                self._estimate = float(np.median(secs)) if secs else self._estimate
                if self.progress is not None:
                    self.progress(len(out), len(points))
        errors = [r for r in out.values() if r.error]
        if errors and len(errors) == len(out):
            raise ConfigError(errors[0].error)
        return [out[config_id(p, w)] for p in points]

    def _stored(self) -> dict[str, TrialResult]:
        """The trials of earlier runs of this sweep (resumed), by config id."""
        df = self.store.frame()
        out: dict[str, TrialResult] = {}
        for row in df.itertuples(index=False):
            r = row._asdict()
            first = dt.date.fromisoformat(r["first"]) if r["first"] else None
            last = dt.date.fromisoformat(r["last"]) if r["last"] else None
            kpis = {k[4:]: (None if v != v else v) for k, v in r.items() if k.startswith("kpi_")}
            out[r["config_id"]] = TrialResult(
                r["config_id"], json.loads(r["params"]), Window(int(r["window"]), r["phase"],
                first, last), kpis, float(r["objective"]), bool(r["candidate"]),
                list(r["days"]), [float(x) for x in r["returns"]], float(r["seconds"]),
                r["error"] or "",
            )  # fmt: skip
        return out

    def points(self, w: Window) -> list[TrialResult]:
        """Every trial of the space on window ``w`` (grid, random or Optuna)."""
        if self.space.method == "optuna":
            return self._optuna(w)
        return self.evaluate(list(self.space.points()), w)

    def _optuna(self, w: Window) -> list[TrialResult]:
        """An Optuna study (TPE, seeded) asks for points in batches of the pool's width; the
        same seed and results give the same points, so a resumed study asks them again and
        takes the stored results."""
        try:
            import optuna
        except ImportError:
            raise ConfigError(
                f"{self.space.source}: method 'optuna' needs Optuna: pip install "
                "'dyntrail[research]'"
            ) from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=self.space.seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        width = max(1, self.width)
        results: list[TrialResult] = []
        while len(results) < self.space.trials:
            asked = [study.ask() for _ in range(min(width, self.space.trials - len(results)))]
            points = [_suggest(t, self.space) for t in asked]
            admitted = [p for p in points if self.space.admits(p)]
            got = {r.config_id: r for r in self.evaluate(admitted, w)} if admitted else {}
            for t, p in zip(asked, points, strict=True):
                r = got.get(config_id(p, w))
                if r is None or not math.isfinite(r.objective):
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(t, r.objective)
                if r is not None:
                    results.append(r)
            if not admitted and len(study.trials) > self.space.trials * 50:
                break  # (the constraints admit nothing)
        return results

    # ------------------------------------------------------------------ the sweep

    def run(self) -> SweepResult:
        try:
            return self._run()
        finally:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def _run(self) -> SweepResult:
        if self.space.walk_forward is None:
            trials = self.points(Window())
            best = _best(trials)
            summary: dict[str, Any] = {
                "best": _describe(best) if best else None,
                "candidates": sum(r.candidate for r in trials),
                "trials": len(trials),
                "honesty": honesty(trials, best),
            }
        else:
            summary = self._walk_forward()
            best = None
        summary["ran"] = self.ran
        (self.folder / "summary.json").write_text(
            json.dumps(summary, indent=2, default=str), encoding="utf-8"
        )
        total = len(self.store.done())
        return SweepResult(self.folder, total, self.ran, summary.get("best"), summary)

    def _walk_forward(self) -> dict[str, Any]:
        wf = self.space.walk_forward
        assert wf is not None
        from dyntrail.runners.plan import load_market

        md = load_market(self.cfg, self.data)
        days = sorted({d.date() for d in md.bars.timestamps.astype("datetime64[s]").astype(object)})
        windows = wf.windows(days)
        if not windows:
            raise ConfigError(
                f"{self.space.source}: [walk_forward] needs {wf.in_sample_days} + "
                f"{wf.out_of_sample_days} trading days; the data has {len(days)}"
            )
        rows, oos_runs = [], []
        for k, (is_days, oos_days) in enumerate(windows):
            w_is = Window(k, "is", is_days[0], is_days[-1])
            trials = self.points(w_is)
            best = _best(trials)
            row: dict[str, Any] = {
                "window": k,
                "in_sample": [str(is_days[0]), str(is_days[-1])],
                "out_of_sample": [str(oos_days[0]), str(oos_days[-1])],
                "candidates": sum(r.candidate for r in trials),
                "honesty": honesty(trials, best),
            }
            if best is not None:
                w_oos = Window(k, "oos", oos_days[0], oos_days[-1])
                (oos,) = self.evaluate([best.point], w_oos, tables=True)
                oos_runs.append(oos)
                row |= {"best": _describe(best), "oos": _describe(oos)}
            rows.append(row)
        return {"windows": rows, "out_of_sample": self._stitch(oos_runs)}

    def _stitch(self, runs: list[TrialResult]) -> dict[str, Any] | None:
        """The out-of-sample runs as one: trades and fills put together, each window's
        equity continued from where the last one ended; its KPIs and the gate's verdict."""
        import pandas as pd

        from dyntrail.analytics.kpis import acceptance, acceptance_json
        from dyntrail.runners.outputs import RunSpan, run_kpis

        runs = [r for r in runs if r.tables is not None]
        if not runs:
            return None
        capital = self.cfg.account.capital_inr
        trades, fills, curves, days = [], [], [], []
        shift = 0.0
        bars_total = bars_in = 0
        for r in runs:
            t, f, e, span = r.tables  # type: ignore[misc]
            trades.append(t)
            fills.append(f)
            e = e.copy()
            e["equity"] = e["equity"] + shift
            curves.append(e)
            if len(e):
                shift = float(e["equity"].iloc[-1]) - capital
            days += span.days
            bars_total += span.bars_total
            bars_in += span.bars_in_position
        cat = [pd.concat(x, ignore_index=True) for x in (trades, fills, curves)]
        cat[2] = _drawdowns(cat[2])
        span = RunSpan(days[0], days[-1], days, bars_total, bars_in, 1)
        kpis = run_kpis(self.cfg, cat[0], cat[1], cat[2], span)
        checks = acceptance(kpis, self.cfg.acceptance)
        cat[2].to_csv(self.folder / "oos_equity.csv", index=False)
        keep = ("trades", "net_pnl", "sharpe", "profit_factor", "max_drawdown_pct", "calmar",
                "win_rate", "months")  # fmt: skip
        return {
            "kpis": {k: kpis.get(k) for k in keep},
            "acceptance": acceptance_json(checks),
            "days": len(days),
        }


def keep_best(sweep: Sweep, top: int) -> list[Path]:
    """The ``top`` candidates of a sweep without walk-forward run again in full, as
    ``dyntrail backtest --out`` writes a run (journal, CSVs, KPIs, report), into
    ``best/<rank>-<config id>/``; returns the folders."""
    from dyntrail.research.trial import apply_point
    from dyntrail.runners.backtest import run_backtest

    ranked = sorted(
        (r for r in sweep._known.values() if r.candidate and r.window.phase == "full"),
        key=lambda r: -r.objective,
    )[:top]
    out = []
    for k, r in enumerate(ranked, 1):
        folder = sweep.folder / "best" / f"{k}-{r.config_id}"
        cfg = apply_point(sweep.setup.base, r.point, sweep.space.source)
        run_backtest(cfg, sweep.data, folder, seed=sweep.setup.seed)
        out.append(folder)
    return out


def _drawdowns(e: Any) -> Any:
    if len(e) and "drawdown_pct" in e:
        peak = e["equity"].cummax()
        e["drawdown_pct"] = (peak - e["equity"]) / peak
    return e


def _best(trials: Sequence[TrialResult]) -> TrialResult | None:
    """The candidate with the best objective (ties: the first in the space's order)."""
    best = None
    for r in trials:
        if r.candidate and (best is None or r.objective > best.objective):
            best = r
    return best


def _describe(r: TrialResult) -> dict[str, Any]:
    return {"config_id": r.config_id, "params": r.point, "objective": r.objective,
            "kpis": r.kpis}  # fmt: skip


def honesty(trials: Sequence[TrialResult], best: TrialResult | None) -> dict[str, Any]:
    """The winner's deflated Sharpe ratio against every candidate trial's, and the
    probability of backtest overfitting (CSCV) over the candidates' daily returns."""
    from dyntrail.research.stats import deflated_sharpe_of, pbo_cscv

    cands = [r for r in trials if r.candidate and r.returns]
    out: dict[str, Any] = {"n_trials": len(cands), "dsr": None, "pbo": None}
    if best is None or len(cands) < 2:
        out["note"] = "fewer than two candidate trials: no DSR or PBO"
        return out
    matrix = np.array([r.returns for r in cands], dtype=float).T  # days x trials
    d = deflated_sharpe_of(np.asarray(best.returns, dtype=float), matrix)
    out["dsr"] = _finite(d.dsr)
    out["sr0_per_day"] = _finite(d.sr0)
    out["sr_best_per_day"] = _finite(d.sr_best)
    splits = min(16, (matrix.shape[0] // 5) // 2 * 2)
    if splits >= 2:
        p = pbo_cscv(matrix, n_splits=splits, max_combinations=5000)
        out |= {
            "pbo": _finite(p.pbo),
            "pbo_splits": splits,
            "prob_oos_loss": _finite(p.prob_oos_loss),
            "performance_degradation": [_finite(x) for x in p.performance_degradation],
        }
    return out


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _suggest(trial: Any, space: Space) -> Point:
    point: Point = {}
    for p in space.params:
        if p.choices:
            point[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.integer:
            step = int(p.step) if p.step else 1
            point[p.name] = trial.suggest_int(p.name, int(p.low or 0), int(p.high or 0), step=step,
                                              log=p.log and step == 1)  # fmt: skip
        else:
            point[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step,
                                                log=p.log and p.step is None)  # fmt: skip
    return point


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))
