"""The ``dyntrail`` command line. Thin: every rule lives in ``dyntrail.core``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dyntrail.core.config_load import dump_config, load_config
from dyntrail.core.exit_pricing import option_exit_price_from_underlying_move
from dyntrail.core.regime import vix_tier
from dyntrail.core.targets import DynamicTargetEngine
from dyntrail.core.types import Side
from dyntrail.errors import ConfigError, DyntrailError
from dyntrail.starter import STARTER_TOML

_MAX_SEED = 2**63 - 1  # a seed is journaled: JSON numbers here are 64-bit
app = typer.Typer(
    help="dyntrail: intraday ATM index-option trades with dynamic targets and trailing stops.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Check, show or start a configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")
data_app = typer.Typer(help="Make or inspect data folders.", no_args_is_help=True)
app.add_typer(data_app, name="data")
journal_app = typer.Typer(help="Inspect journals.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_STYLE = {"error": "red", "warning": "yellow", "flagged": "yellow"}


def _say(level: str, message: str) -> None:
    """One line on stderr: the level in colour, the message as plain text (never read as
    markup: a message may hold ``[low, high]``)."""
    err.print(Text.assemble((level, _STYLE.get(level, "")), " ", message))


ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (default: built-in).")
]


def _load(path: Path | None) -> DynamicTargetEngine:
    """Load and check a config, the instrument it names included (its contract spec and any
    ``[instrument.spec]`` overrides), printing every problem."""
    from dyntrail.runners.backtest import resolve_instrument

    try:
        cfg = load_config(path)
        try:
            resolve_instrument(cfg)
        except ConfigError as exc:
            where = str(path) if path is not None else "<defaults>"
            raise ConfigError([f"{where}: key 'instrument': {p}" for p in exc.problems]) from None
        return DynamicTargetEngine(cfg)
    except ConfigError as exc:
        for line in exc.problems:
            _say("error", str(line))
        raise typer.Exit(1) from None


@app.command()
def targets(
    side: Annotated[Side, typer.Option(help="long (buys the ATM call) or short (the ATM put).")],
    entry: Annotated[float, typer.Option(help="Entry price of the underlying.")],
    vix: Annotated[float, typer.Option(help="India VIX at entry.")],
    config: ConfigOpt = None,
    option_price: Annotated[
        float | None, typer.Option(help="Option price at entry: also print option exit prices.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print the VIX tier, rr, stop, T1, T2 and the move-to-break-even level for one entry."""
    engine = _load(config)
    if not entry > 0:
        _say("error", f"--entry must be a positive price, got {entry}")
        raise typer.Exit(2)
    try:
        tier = vix_tier(vix, engine.config)
    except ValueError as exc:
        _say("error", f"--vix: {exc}")
        raise typer.Exit(2) from None
    tgt = engine.compute_targets(side, entry, tier)
    levels = {
        "stop": tgt.stop_underlying,
        "t1": tgt.t1_underlying,
        "t2": tgt.t2_underlying,
        "move_be": tgt.move_be_underlying,
    }
    result: dict[str, object] = {
        "side": side.value,
        "entry": entry,
        "vix": vix,
        "tier": tier.value,
        "rr": engine.rr_for_tier(tier),
    }
    result.update({k: round(v, 2) for k, v in levels.items()})
    if option_price is not None:
        result["option_exit"] = {
            k: round(option_exit_price_from_underlying_move(option_price, v / entry - 1.0, side), 2)
            for k, v in levels.items()
        }
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table(title=f"{side.value} entry {entry:g}, VIX {vix:g} → tier {tier.value}")
    table.add_column("level")
    table.add_column("underlying", justify="right")
    if option_price is not None:
        table.add_column("option (proportional)", justify="right")
    table.add_row("rr", f"{engine.rr_for_tier(tier):g}", *([""] if option_price else []))
    opt = result.get("option_exit", {})
    for name in levels:
        row = [name, f"{result[name]:.2f}"]
        if isinstance(opt, dict) and opt:
            row.append(f"{opt[name]:.2f}")
        table.add_row(*row)
    if tier.value == "halt":
        table.caption = "HALT: no entries at this VIX"
    out.print(table)


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="TOML config file.")]) -> None:
    """Print OK, or every problem (exit 1)."""
    _load(file)
    out.print(f"{file}: OK")


@config_app.command("show")
def config_show(
    file: Annotated[Path | None, typer.Argument(help="TOML config file.")] = None,
) -> None:
    """Print the resolved config (file plus defaults) as TOML."""
    out.print(dump_config(_load(file).config), end="", markup=False)


@config_app.command("init")
def config_init(
    path: Annotated[Path, typer.Argument(help="Where to write.")] = Path("dyntrail.toml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config (the design document's block plus dyntrail's keys)."""
    if path.exists() and not force:
        _say("error", f"{path} exists; use --force to overwrite")
        raise typer.Exit(1)
    path.write_text(STARTER_TOML, encoding="utf-8")
    out.print(f"wrote {path}")


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _say("error", f"{option}: {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


@app.command()
def backtest(
    data: Annotated[
        Path | None, typer.Option(help="Data folder (default: the built-in synthetic 12 months).")
    ] = None,
    config: ConfigOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default: runs/<time>).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the built-in dataset.", min=0, max=_MAX_SEED)
    ] = 7,
    date_from: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip report.html.")] = False,
) -> None:
    """Backtest the strategy; print the KPIs and the path of the report."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from dyntrail.analytics.summary import kpi_table
    from dyntrail.data.builtin import builtin_dataset
    from dyntrail.runners.backtest import run_backtest

    engine = _load(config)
    d_from, d_to = _date(date_from, "--from"), _date(date_to, "--to")
    if d_from is not None and d_to is not None and d_from > d_to:
        _say("error", f"--from {d_from} is later than --to {d_to}: give the first day first")
        raise typer.Exit(2)
    if data is None:
        with err.status("building the built-in synthetic dataset…"):
            data = builtin_dataset(seed=seed)
    run_dir = out_dir or Path("runs") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    columns = (
        TextColumn("backtest"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("bars", total=1)
            result = run_backtest(
                engine.config,
                data,
                run_dir,
                seed=seed,
                date_from=d_from,
                date_to=d_to,
                progress=lambda i, n: bar.update(task, completed=i, total=n),
                report=not no_report,
            )
    except DyntrailError as exc:
        _say("error", str(exc))
        raise typer.Exit(1) from None
    for line in result.formats:
        err.print(f"read {line}", markup=False)
    for w in result.warnings:
        _say("warning", str(w))
    out.print(kpi_table(result.kpis))
    _print_checks(result.kpis)
    out.print(f"run folder: {result.run_dir}")
    if not no_report:
        out.print(f"report: {result.run_dir / 'report.html'}")


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
        _say("warning", str(w))


@app.command()
def accept(run_dir: Annotated[Path, typer.Argument(help="A backtest run folder.")]) -> None:
    """Check a run against the acceptance thresholds (exit 1 on fail)."""
    from dyntrail.analytics.kpis import accept_run

    raise typer.Exit(accept_run(run_dir, out))


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A backtest run folder.")]) -> None:
    """(Re)write report.html for a run folder."""
    from dyntrail.analytics.report import write_report

    try:
        path = write_report(run_dir)
    except (DyntrailError, OSError) as exc:
        _say("error", str(exc))
        raise typer.Exit(1) from None
    out.print(f"report: {path}")


@data_app.command("synth")
def data_synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write.")],
    months: Annotated[int, typer.Option(help="Months of trading days.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0, max=_MAX_SEED)] = 7,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-01-01",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
) -> None:
    """Write a synthetic regime dataset (underlying + VIX, 1-minute bars) in the data format."""
    from dyntrail.data.builtin import synth_to_folder

    first = _date(start, "--start")
    try:
        synth_to_folder(
            out_dir,
            months=months,
            seed=seed,
            start=first or dt.date(2025, 1, 1),
            fmt=fmt,
            on_warning=lambda note: _say("warning", note),
        )
    except (ValueError, DyntrailError) as exc:
        _say("error", str(exc))
        raise typer.Exit(2) from None
    out.print(f"wrote {out_dir}")


@data_app.command("check")
def data_check(
    folder: Annotated[Path, typer.Argument(help="Data folder.")],
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Load a data folder as a backtest would and report what was found: how each file was
    read, sessions, bars per session, gaps, bars outside the session, VIX, options (exit 1 with
    the problem if it does not load)."""
    from dyntrail.data.check import check_folder

    engine = _load(config)
    try:
        report = check_folder(folder, engine.config)
    except DyntrailError as exc:
        _say("error", str(exc))
        raise typer.Exit(1) from None
    if as_json:
        out.print(json.dumps(report.to_dict(), indent=2), markup=False, soft_wrap=True)
        return
    for w in report.warnings:
        _say("warning", w)
    for line in report.lines():
        out.print(line, markup=False, soft_wrap=True)


@data_app.command("options")
def data_options(
    data: Annotated[Path, typer.Option(help="Data folder with underlying and vix files.")],
    instrument: Annotated[str, typer.Option(help="Contract spec: NIFTY or BANKNIFTY.")] = "NIFTY",
    strikes: Annotated[int, typer.Option(help="Strikes each side of ATM.", min=0, max=100)] = 6,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0, max=_MAX_SEED)] = 7,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    stop_quotes: Annotated[
        float,
        typer.Option(help="Chance per contract and day that its quotes stop in the afternoon."),
    ] = 0.0,
) -> None:
    """Write recorded-style option quotes (options.parquet or .csv) into a data folder: strikes
    around ATM of the two nearest expiries every bar, with no bids on expiry afternoons,
    near-zero premiums and, with --stop-quotes, quotes that stop."""
    from dyntrail.data.options_record import count_rows, write_option_quotes

    try:
        path = write_option_quotes(
            data,
            instrument=instrument,
            strikes_each_side=strikes,
            seed=seed,
            fmt=fmt,
            stop_quotes=stop_quotes,
        )
    except (ValueError, DyntrailError) as exc:
        err.print(f"error {exc}", markup=False)
        raise typer.Exit(2) from None
    out.print(f"wrote {path}: {count_rows(path):,} rows", markup=False)


@app.command()
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
    days: Annotated[int, typer.Option(help="Trading days of the synthetic stream.")] = 5,
    seed: Annotated[
        int,
        typer.Option(help="Seed of the stream and of the broker's faults.", min=0, max=_MAX_SEED),
    ] = 7,
    speed: Annotated[str, typer.Option(help="Market minutes per second, or 'max'.")] = "60",
    faults: Annotated[str, typer.Option(help="Paper broker faults: 'default' or 'none'.")] = (
        "default"
    ),
    view: Annotated[bool, typer.Option(help="Live terminal view.")] = True,
) -> None:
    """Paper-trade the strategy on an accelerated clock against the paper broker; resumable.

    Stop it with Ctrl-C, SIGTERM or a file named KILL in the run folder: it flattens first."""
    from dyntrail.analytics.summary import kpi_table
    from dyntrail.execution.paper import FaultProfile
    from dyntrail.runners.live_view import LiveView
    from dyntrail.runners.paper import run_paper

    engine = _load(config)
    if faults not in ("default", "none"):
        _say("error", f"--faults: {faults!r} is not 'default' or 'none'")
        raise typer.Exit(2)
    try:
        rate = None if speed == "max" else float(speed)
    except ValueError:
        _say("error", f"--speed: {speed!r} is not a number or 'max'")
        raise typer.Exit(2) from None
    run_dir = resume or out_dir
    live = LiveView(enabled=view and out.is_terminal)
    try:
        with live:
            result = run_paper(
                engine.config,
                run_dir,
                data_dir=data,
                seed=seed,
                days=days,
                speed=rate,
                faults=FaultProfile.none() if faults == "none" else FaultProfile(),
                resume=resume is not None,
                on_bar=live.update,
                report=True,
            )
    except DyntrailError as exc:
        _say("error", str(exc))
        raise typer.Exit(1) from None
    for flag in result.flags:
        _say("flagged", str(flag))
    out.print(kpi_table(result.kpis, title="paper session KPIs"))
    _print_checks(result.kpis)
    state = "stopped by the kill switch (flat)" if result.killed else "complete"
    out.print(f"session {state}: {result.run_dir}")


@journal_app.command("verify")
def journal_verify(
    file: Annotated[Path, typer.Argument(help="A journal.jsonl.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Check a journal (sequence, schema, torn lines) and print its summary (exit 1 if bad)."""
    from dyntrail.journal import read_journal, summarize

    try:
        summary = summarize(read_journal(file))
    except DyntrailError as exc:
        _say("error", str(exc))
        raise typer.Exit(1) from None
    for w in summary["warnings"]:
        _say("warning", str(w))
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(
        f"{file}: OK, {summary['events']} events, schema {summary['schema']}, "
        f"mode {summary['mode']}, {summary['first_ts']} .. {summary['last_ts']}"
    )
    out.print(
        f"trades closed {summary['trades_closed']}, net PnL {summary['net_pnl']:,.2f}, "
        f"open positions {summary['positions_open'] or 'none'}"
    )
    out.print("events: " + ", ".join(f"{k} {v}" for k, v in summary["kinds"].items()))


def main() -> None:
    app()
