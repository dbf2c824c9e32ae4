"""The ``dyntrail`` command tree: the top-level options (``--version``, ``--log-level``,
``--log-file``, shell completion) and where each command lives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dyntrail.cli import ctl, live, research, runs, tools
from dyntrail.cli.common import EXIT_FAILED, say
from dyntrail.cli.logs import LogLevel, setup_logging

HELP = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(no_args_is_help=True, context_settings=HELP)  # help: the callback's docstring
config_app = typer.Typer(
    help="Check, show or start a configuration file.", no_args_is_help=True, context_settings=HELP
)
data_app = typer.Typer(help="Make or inspect data folders.", no_args_is_help=True)
journal_app = typer.Typer(help="Inspect journals.", no_args_is_help=True)
live_app = typer.Typer(
    help="Trade on Zerodha Kite Connect: log in, then run a session (README: Live).",
    no_args_is_help=True,
    context_settings=HELP,
)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("dyntrail")
        except PackageNotFoundError:  # run from a source tree that was never installed
            number = "unknown (not installed)"
        typer.echo(f"dyntrail {number}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_version
        ),
    ] = False,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level",
            case_sensitive=False,
            help="dyntrail's log: what the runs do (data read, run folder, warnings) at INFO.",
        ),
    ] = LogLevel.WARNING,
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", dir_okay=False, help="Append the log here instead of stderr."),
    ] = None,
) -> None:
    """dyntrail: intraday ATM index-option trades with dynamic targets and trailing stops.

    Results go to stdout; errors, warnings, progress and the log go to stderr.

    Exit codes: 0 ok; 2 a wrong command line;
    1 failed checks or acceptance, or a bad config, data or run folder.
    """
    try:
        setup_logging(log_level, log_file)
    except OSError as exc:
        say("error", f"--log-file {log_file}: cannot write: {exc.strerror or exc}")
        raise typer.Exit(EXIT_FAILED) from None


app.command()(tools.targets)
app.command()(runs.backtest)
app.command()(runs.accept)
app.command()(runs.report)
app.command()(runs.paper)
app.command()(ctl.ctl)
app.command()(research.sweep)
app.command()(research.screen)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(journal_app, name="journal")
app.add_typer(live_app, name="live")
live_app.command("login")(live.login)
live_app.command("run")(live.run)
config_app.command("check")(tools.config_check)
config_app.command("show")(tools.config_show)
config_app.command("init")(tools.config_init)
data_app.command("synth")(tools.data_synth)
data_app.command("check")(tools.data_check)
data_app.command("options")(tools.data_options)
journal_app.command("verify")(tools.journal_verify)


def main() -> None:
    app()
