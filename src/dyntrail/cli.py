"""The ``dyntrail`` command line. Thin: every rule lives in ``dyntrail.core``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dyntrail.core.config_load import dump_config, load_config
from dyntrail.core.exit_pricing import option_exit_price_from_underlying_move
from dyntrail.core.regime import vix_tier
from dyntrail.core.targets import DynamicTargetEngine
from dyntrail.core.types import Side
from dyntrail.errors import ConfigError
from dyntrail.starter import STARTER_TOML

app = typer.Typer(
    help="dyntrail: intraday ATM index-option trades with dynamic targets and trailing stops.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Check, show or start a configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file (default: built-in).")
]


def _load(path: Path | None) -> DynamicTargetEngine:
    try:
        return DynamicTargetEngine(load_config(path))
    except ConfigError as exc:
        for line in exc.problems:
            err.print(f"[red]error[/red] {line}")
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
        err.print(f"[red]error[/red] --entry must be a positive price, got {entry}")
        raise typer.Exit(2)
    try:
        tier = vix_tier(vix, engine.config)
    except ValueError as exc:
        err.print(f"[red]error[/red] --vix: {exc}")
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
        err.print(f"[red]error[/red] {path} exists; use --force to overwrite")
        raise typer.Exit(1)
    path.write_text(STARTER_TOML, encoding="utf-8")
    out.print(f"wrote {path}")


def main() -> None:
    app()
