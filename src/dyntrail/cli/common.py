"""What every command shares: the two output streams, the exit codes, the config a command
uses (``-c``, or one found on its own) and the checks of command-line values.

Results go to stdout, everything else (errors, warnings, progress, the config line, logs) to
stderr, so a script can read stdout whatever happens.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from dyntrail.core.config import Config
from dyntrail.core.config_load import load_config
from dyntrail.core.targets import DynamicTargetEngine
from dyntrail.errors import ConfigError

# Exit codes, the same for every command (the README's table).
EXIT_OK = 0  # done; a run's own checks passed; accepted
EXIT_FAILED = 1  # a run failed its checks or acceptance; a config, data or run folder is bad
EXIT_USAGE = 2  # the command line is wrong (typer's own usage errors are 2 as well)

CONFIG_FILE = "dyntrail.toml"  # found in the working directory without -c
CONFIG_ENV = "DYNTRAIL_CONFIG"  # else the file this variable names
MAX_SEED = 2**63 - 1  # a seed is journaled: JSON numbers here are 64-bit

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_STYLE = {
    "error": "red",
    "warning": "yellow",
    "flagged": "yellow",
    "control": "cyan",
    "progress": "cyan",
}


def say(level: str, message: str) -> None:
    """One line on stderr: the level in colour, the message as plain text (never read as
    markup: a message may hold ``[low, high]``)."""
    err.print(Text.assemble((level, _STYLE.get(level, "")), " ", message))


def usage_error(message: str) -> NoReturn:
    """A wrong command line: the message on stderr, exit 2 (checked before anything is read
    or written)."""
    say("error", message)
    raise typer.Exit(EXIT_USAGE)


def failed(*lines: str) -> NoReturn:
    """A bad config, data or run folder: every line on stderr, exit 1."""
    for line in lines:
        say("error", line)
    raise typer.Exit(EXIT_FAILED)


def emit_json(obj: Any) -> None:
    """One JSON object on stdout, plain (no colour, no wrapping), for scripts."""
    typer.echo(json.dumps(obj, indent=2))


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help=f"TOML config file (default: ./{CONFIG_FILE}, else ${CONFIG_ENV}, else built-in).",
    ),
]


@dataclass(frozen=True, slots=True)
class ConfigChoice:
    """The config file a command uses (None: the built-in defaults) and, when it was not given
    with ``-c``, the line that says where it came from."""

    path: Path | None
    note: str | None


def find_config(explicit: Path | None, cwd: Path, environ: Mapping[str, str]) -> ConfigChoice:
    """Which config a command uses: ``-c FILE`` when given; else ``dyntrail.toml`` in the
    working directory; else the file named by ``DYNTRAIL_CONFIG``; else the built-in defaults.
    A ``DYNTRAIL_CONFIG`` naming no file is a ``ConfigError`` naming the variable (an empty
    one is unset)."""
    if explicit is not None:
        return ConfigChoice(explicit, None)
    local = cwd / CONFIG_FILE
    if local.exists():
        return ConfigChoice(Path(CONFIG_FILE), f"{CONFIG_FILE}, found in the working directory")
    named = environ.get(CONFIG_ENV, "")
    if named:
        path = Path(named)
        if not (path if path.is_absolute() else cwd / path).is_file():
            raise ConfigError(
                f"{CONFIG_ENV}={named}: no such config file; point the variable at a TOML "
                f"config, or unset it for the built-in defaults"
            )
        return ConfigChoice(path, f"{named}, named by {CONFIG_ENV}")
    return ConfigChoice(None, f"the built-in defaults (no -c, no ./{CONFIG_FILE}, no {CONFIG_ENV})")


def load_cfg(path: Path | None) -> Config:
    """The config a command runs with (``load_choice``)."""
    return load_choice(path)[0]


def load_choice(path: Path | None) -> tuple[Config, Path | None]:
    """The config a command runs with and its file (None: the built-in defaults), checked with
    the instrument it names (its contract spec and any ``[instrument.spec]`` overrides); every
    problem on stderr and exit 1 otherwise. When no ``-c`` was given, one line on stderr says
    which config was used."""
    from dyntrail.instruments import resolve_instrument

    try:
        choice = find_config(path, Path.cwd(), os.environ)
        if choice.note is not None:
            err.print(f"config: {choice.note}", markup=False)
        cfg = load_config(choice.path)
        try:
            resolve_instrument(cfg)
        except ConfigError as exc:
            where = str(choice.path) if choice.path is not None else "<defaults>"
            raise ConfigError([f"{where}: key 'instrument': {p}" for p in exc.problems]) from None
        return cfg, choice.path
    except ConfigError as exc:
        failed(*exc.problems)


def load_engine(path: Path | None) -> DynamicTargetEngine:
    """``load_cfg`` wrapped in the targets engine."""
    return DynamicTargetEngine(load_cfg(path))


def parse_date(value: str | None, option: str) -> dt.date | None:
    """An ISO date given as ``option`` (exit 2 when it is not one)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        usage_error(f"{option}: {value!r} is not a date (YYYY-MM-DD)")


def parse_speed(value: str) -> float | None:
    """``--speed``: how many times real time the market clock runs (a number above 0), or
    ``max`` (None: no waiting). Exit 2 otherwise."""
    if value.strip().lower() == "max":
        return None
    try:
        rate = float(value)
    except ValueError:
        rate = float("nan")
    if not (rate > 0 and rate != float("inf")):
        usage_error(
            f"--speed: {value!r} is not a number above 0 (times real time: 60 plays a market "
            "minute each second) or 'max'"
        )
    return rate


# The control options of a session (``dyntrail paper``, ``dyntrail live run``).
ApiOpt = Annotated[
    bool,
    typer.Option(
        help="Serve the session's local API and dashboard (token in the run folder's "
        "control.token; `dyntrail ctl dashboard -s RUN_DIR` prints the link)."
    ),
]
ApiHostOpt = Annotated[str, typer.Option(help="Address the API listens on.")]
ApiPortOpt = Annotated[int, typer.Option(help="Port of the API (0: any free one).", min=0)]
AllowRemoteOpt = Annotated[
    bool,
    typer.Option(help="Let the API listen on an address other than loopback (still token-only)."),
]


def control_options(api: bool, host: str, port: int, allow_remote: bool, run_dir: Path) -> Any:
    """The session's ``ControlOptions``; the dashboard's address is said on stderr."""
    from dyntrail.control.plane import ControlOptions

    def announce(url: str) -> None:
        say(
            "control",
            f"dashboard {url}/ (token: {run_dir / 'control.token'}); "
            f"`dyntrail ctl status -s {run_dir}`",
        )

    try:
        return ControlOptions(api, host, port, allow_remote, announce)
    except ConfigError as exc:
        usage_error(str(exc))


def notifier() -> Any:
    """The notifier the environment asks for (``DYNTRAIL_NOTIFY_WEBHOOK``,
    ``DYNTRAIL_TELEGRAM_*``), or None."""
    from dyntrail.control.notify import Notifier, NotifySettings

    settings = NotifySettings.from_env()
    return Notifier(settings) if settings.enabled else None
