"""The commands that run the strategy or judge a run: ``backtest``, ``accept``, ``report`` and
``paper``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from dyntrail.cli.common import (
    EXIT_OK,
    MAX_SEED,
    AllowRemoteOpt,
    ApiHostOpt,
    ApiOpt,
    ApiPortOpt,
    ConfigOpt,
    control_options,
    emit_json,
    err,
    failed,
    load_cfg,
    notifier,
    out,
    parse_date,
    parse_speed,
    say,
    usage_error,
)
from dyntrail.core.config import Config
from dyntrail.errors import DyntrailError

if TYPE_CHECKING:
    from dyntrail.runners.backtest import BacktestResult
    from dyntrail.runners.paper import PaperResult

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def backtest(
    data: Annotated[
        Path | None, typer.Option(help="Data folder (default: the built-in synthetic 12 months).")
    ] = None,
    config: ConfigOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default: runs/<time>).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the built-in dataset.", min=0, max=MAX_SEED)
    ] = 7,
    date_from: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    no_report: Annotated[
        bool,
        typer.Option("--no-report", help="Write no report.html (and remove an earlier run's)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Backtest the strategy; print the KPIs, the run's own checks and the run folder.

    Exit 1 when a check fails (flat at flatten, within expiry, PnL reconciles, flat at the end)
    or the config or data is bad; acceptance is reported (--json), `dyntrail accept` gates it."""
    from dyntrail.analytics.summary import kpi_table
    from dyntrail.data.builtin import builtin_dataset

    d_from, d_to = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    if d_from is not None and d_to is not None and d_from > d_to:
        usage_error(f"--from {d_from} is later than --to {d_to}: give the first day first")
    cfg = load_cfg(config)
    if data is None:
        with err.status("building the built-in synthetic dataset…"):
            data = builtin_dataset(seed=seed)
    run_dir = out_dir or Path("runs") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    result = _run_backtest(cfg, data, run_dir, seed, d_from, d_to, report=not no_report)
    report = None if no_report else result.run_dir / "report.html"
    for line in result.formats:
        err.print(f"read {line}", markup=False)
    for w in result.warnings:
        say("warning", str(w))
    if as_json:
        emit_json(_backtest_json(cfg, result, report))
    else:
        out.print(kpi_table(result.kpis))
        _print_checks(result.kpis)
        out.print(f"run folder: {result.run_dir}", markup=False)
        if report is not None:
            out.print(f"report: {report}", markup=False)
    _exit_by_checks(result.kpis)


def _run_backtest(
    cfg: Config,
    data: Path,
    run_dir: Path,
    seed: int,
    d_from: dt.date | None,
    d_to: dt.date | None,
    *,
    report: bool,
) -> BacktestResult:
    """The run under a progress bar on stderr that ends when the last file (the report
    included) is written; a ``DyntrailError`` is exit 1 with its message."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from dyntrail.runners.backtest import run_backtest

    columns = (
        TextColumn("backtest"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    try:
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("bars", total=1)

            def progress(done: int, total: int, what: str) -> None:
                bar.update(task, completed=done, total=total, description=what)

            return run_backtest(
                cfg,
                data,
                run_dir,
                seed=seed,
                date_from=d_from,
                date_to=d_to,
                progress=progress,
                report=report,
            )
    except DyntrailError as exc:
        failed(str(exc))


def _failed_checks(kpis: dict[str, Any]) -> list[str]:
    """The names of the run's own checks that failed (kpis.json ``checks``)."""
    checks = kpis.get("checks")
    if not isinstance(checks, dict):
        return []
    return [name for name, c in checks.items() if not (isinstance(c, dict) and c.get("ok"))]


def _exit_by_checks(kpis: dict[str, Any]) -> None:
    """Exit 0 when the run's own checks passed, else 1 with their names on stderr."""
    failures = _failed_checks(kpis)
    if failures:
        failed(f"the run failed its own checks: {', '.join(failures)} (kpis.json 'checks')")
    raise typer.Exit(EXIT_OK)


def _backtest_json(cfg: Config, result: BacktestResult, report: Path | None) -> dict[str, Any]:
    """What ``backtest --json`` prints: the run folder, the report, whether the run's own
    checks passed, the checks, every warning (data, calendar, run), the acceptance verdict
    against the config's [acceptance], and the KPIs (kpis.json without its checks and
    warnings)."""
    from dyntrail.analytics.kpis import acceptance, acceptance_json

    kpis = {k: v for k, v in result.kpis.items() if k not in ("checks", "warnings")}
    return {
        "run_dir": str(result.run_dir),
        "report": None if report is None else str(report),
        "ok": not _failed_checks(result.kpis),
        "checks": result.kpis.get("checks", {}),
        "warnings": [*map(str, result.warnings), *map(str, result.kpis.get("warnings", []))],
        "acceptance": acceptance_json(acceptance(result.kpis, cfg.acceptance)),
        "kpis": kpis,
    }


def _print_checks(kpis: dict[str, object]) -> None:
    """The run's own checks (flat at flatten, within expiry, PnL reconciles) and its warnings."""
    from dyntrail.analytics.checks import check_lines

    checks = kpis.get("checks")
    if isinstance(checks, dict):
        for ok, line in check_lines(checks):
            mark = ("ok  ", "green") if ok else ("FAIL", "red")
            out.print(Text.assemble(mark, " ", line))
    warnings = kpis.get("warnings")
    for w in warnings if isinstance(warnings, list) else []:
        say("warning", str(w))


def accept(
    run_dir: Annotated[Path, typer.Argument(help="A backtest run folder.")],
    as_json: JsonOpt = False,
) -> None:
    """Check a run against the acceptance thresholds (exit 1 on fail).

    Exit 0 accepted, 1 rejected, or the run folder lacks a readable kpis.json or config.toml."""
    from dyntrail.analytics.kpis import accept_run

    raise typer.Exit(accept_run(run_dir, out, errors=err, as_json=as_json))


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (backtest or paper).")],
) -> None:
    """(Re)write report.html for a run folder: the same page the run wrote, trade charts
    included (the bars are read again from the data folder the run's journal names)."""
    from dyntrail.analytics.report import write_report

    try:
        path = write_report(run_dir)
    except (DyntrailError, OSError) as exc:
        failed(str(exc))
    out.print(f"report: {path}", markup=False)


def paper(
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder of the session.")] = Path(
        "runs/paper"
    ),
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue the session in this run folder.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Recorded data folder (default: synthetic stream).")
    ] = None,
    config: ConfigOpt = None,
    days: Annotated[
        int, typer.Option(help="Trading days of the synthetic stream (1 or more).", min=1)
    ] = 5,
    seed: Annotated[
        int,
        typer.Option(help="Seed of the stream and of the broker's faults.", min=0, max=MAX_SEED),
    ] = 7,
    speed: Annotated[
        str,
        typer.Option(
            help="How many times real time the market clock runs: 60 plays a market minute "
            "each second (a session in about 6 minutes), 1 is real time; 'max': no waiting."
        ),
    ] = "60",
    faults: Annotated[str, typer.Option(help="Paper broker faults: 'default' or 'none'.")] = (
        "default"
    ),
    view: Annotated[bool, typer.Option(help="Live terminal view.")] = True,
    api: ApiOpt = True,
    api_host: ApiHostOpt = "127.0.0.1",
    api_port: ApiPortOpt = 0,
    allow_remote: AllowRemoteOpt = False,
) -> None:
    """Paper-trade the strategy on an accelerated clock against the paper broker; resumable.

    Steer it with `dyntrail ctl` or its dashboard. Stop it with Ctrl-C, SIGTERM or a file
    named KILL in the run folder: it flattens first.

    Exit 1 when the session's own checks fail or the config, data or journal is bad."""
    if faults not in ("default", "none"):
        usage_error(f"--faults: {faults!r} is not 'default' or 'none'")
    from dyntrail.analytics.summary import kpi_table

    rate = parse_speed(speed)
    cfg = load_cfg(config)
    run_dir = resume or out_dir
    control = control_options(api, api_host, api_port, allow_remote, run_dir)
    result = _run_paper(
        cfg, run_dir, resume is not None, data, seed, days, rate, faults, view, control
    )
    for flag in result.flags:
        say("flagged", str(flag))
    out.print(kpi_table(result.kpis, title="paper session KPIs"))
    _print_checks(result.kpis)
    state = "stopped by the kill switch (flat)" if result.killed else "complete"
    out.print(f"session {state}: {result.run_dir}", markup=False)
    _exit_by_checks(result.kpis)


def _run_paper(
    cfg: Config,
    run_dir: Path,
    resume: bool,
    data: Path | None,
    seed: int,
    days: int,
    speed: float | None,
    faults: str,
    view: bool,
    control: Any,
) -> PaperResult:
    """The session under the live view (on a terminal), with its notifier when the
    environment asks for one; a ``DyntrailError`` is exit 1."""
    from dyntrail.execution.paper import FaultProfile
    from dyntrail.runners.live_view import LiveView
    from dyntrail.runners.paper import run_paper

    live = LiveView(enabled=view and out.is_terminal)
    notify = None
    try:
        notify = notifier()
        observers = [live.route(), *([notify.route()] if notify else [])]
        with live:
            return run_paper(
                cfg,
                run_dir,
                data_dir=data,
                seed=seed,
                days=days,
                speed=speed,
                faults=FaultProfile.none() if faults == "none" else FaultProfile(),
                resume=resume,
                on_bar=live.update,
                observers=observers,
                report=True,
                control=control,
            )
    except DyntrailError as exc:
        failed(str(exc))
    finally:
        if notify is not None:
            notify.close()
