"""The helper commands: ``targets``, ``config init/show/check``, ``data synth/check/options``
and ``journal verify``."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dyntrail.cli.common import (
    CONFIG_FILE,
    MAX_SEED,
    ConfigOpt,
    emit_json,
    failed,
    load_cfg,
    load_choice,
    load_engine,
    out,
    parse_date,
    say,
    usage_error,
)
from dyntrail.core.config import Config
from dyntrail.core.types import Side
from dyntrail.errors import DyntrailError

DAYS_TO_EXPIRY = 3.0  # targets --option-price: the default time to expiry, in calendar days


def targets(
    side: Annotated[Side, typer.Option(help="long (buys the ATM call) or short (the ATM put).")],
    entry: Annotated[float, typer.Option(help="Entry price of the underlying.")],
    vix: Annotated[float, typer.Option(help="India VIX at entry.")],
    config: ConfigOpt = None,
    option_price: Annotated[
        float | None,
        typer.Option(
            help="The ATM option's price at entry: also print its exit prices, by the config's "
            "[options] exit_price_method (delta_gamma by default) and by the proportional "
            "mapping."
        ),
    ] = None,
    days_to_expiry: Annotated[
        float,
        typer.Option(
            help="With --option-price: calendar days from the entry to the option's expiry "
            "close (the model mappings need it).",
            min=0.0,
            max=366.0,
        ),
    ] = DAYS_TO_EXPIRY,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print the VIX tier, rr, stop, T1, T2 and the move-to-break-even level for one entry."""
    from dyntrail.core.regime import vix_tier

    if not entry > 0:
        usage_error(f"--entry must be a positive price, got {entry}")
    if option_price is not None and not option_price > 0:
        usage_error(f"--option-price must be a positive price, got {option_price}")
    engine = load_engine(config)
    try:
        tier = vix_tier(vix, engine.config)
    except ValueError as exc:
        usage_error(f"--vix: {exc}")
    tgt = engine.compute_targets(side, entry, tier)
    levels = {
        "stop": tgt.stop_underlying,
        "t1": tgt.t1_underlying,
        "t2": tgt.t2_underlying,
        "move_be": tgt.move_be_underlying,
    }
    result: dict[str, Any] = {
        "side": side.value,
        "entry": entry,
        "vix": vix,
        "tier": tier.value,
        "rr": engine.rr_for_tier(tier),
    }
    result.update({k: round(v, 2) for k, v in levels.items()})
    if option_price is not None:
        cfg = engine.config
        result.update(_option_exits(cfg, side, entry, levels, option_price, days_to_expiry))
    if as_json:
        emit_json(result)
        return
    out.print(_targets_table(result, levels))


def _option_exits(
    cfg: Config, side: Side, entry: float, levels: dict[str, float], price: float, days: float
) -> dict[str, Any]:
    """The ATM option's exit price at each level: by the config's mapping (``option_exit``)
    and by the proportional one (``option_exit_proportional``), with what the model mappings
    assumed (``option``: contract, time to expiry, the volatility implied by the price)."""
    from dyntrail.core.exit_pricing import option_exit_price
    from dyntrail.core.options import DAYS_PER_YEAR, OptionRight, bsm_implied_vol
    from dyntrail.core.strikes import atm_strike
    from dyntrail.instruments import resolve_instrument

    spec = resolve_instrument(cfg)
    right = OptionRight.CE if side is Side.LONG else OptionRight.PE
    strike = float(atm_strike(entry, spec.strike_step))
    o = cfg.options
    t_years = max(days / DAYS_PER_YEAR, 1e-9)  # as the engine: never exactly 0
    r, q = o.risk_free_rate, o.dividend_yield

    def exit_at(method: str, level: float) -> float:
        return option_exit_price(
            method,
            option_last=price,
            underlying_now=entry,
            underlying_trigger=level,
            strike=strike,
            right=right,
            t_years=t_years,
            r=r,
            q=q,
            tick=spec.tick_size,
        )

    def exits(method: str) -> dict[str, float]:
        return {name: round(exit_at(method, level), 2) for name, level in levels.items()}

    iv = float(
        bsm_implied_vol(right, price=price, spot=entry, strike=strike, t_years=t_years, r=r, q=q)
    )
    return {
        "option": {
            "right": right.value,
            "strike": strike,
            "price": price,
            "days_to_expiry": days,
            "implied_vol": None if math.isnan(iv) else round(iv, 4),
            "method": o.exit_price_method,
        },
        "option_exit": exits(o.exit_price_method),
        "option_exit_proportional": exits("proportional"),
    }


def _targets_table(result: dict[str, Any], levels: dict[str, float]) -> Table:
    side, entry, vix, tier = result["side"], result["entry"], result["vix"], result["tier"]
    table = Table(title=f"{side} entry {entry:g}, VIX {vix:g} → tier {tier}")
    table.add_column("level")
    table.add_column("underlying", justify="right")
    option = result.get("option")
    columns: list[dict[str, float]] = []
    if option is not None:
        method = option["method"]
        columns.append(result["option_exit"])
        table.add_column(f"option ({method})", justify="right")
        if method != "proportional":
            columns.append(result["option_exit_proportional"])
            table.add_column("option (proportional)", justify="right")
    table.add_row("rr", f"{result['rr']:g}", *([""] * len(columns)))
    for name in levels:
        table.add_row(name, f"{result[name]:.2f}", *(f"{c[name]:.2f}" for c in columns))
    notes = []
    if option is not None:
        iv = option["implied_vol"]
        vol = f"implied volatility {iv:.1%}" if iv is not None else "no implied volatility"
        notes.append(
            f"{option['right']} {option['strike']:g} at {option['price']:g}, "
            f"{option['days_to_expiry']:g} days to expiry: {vol} (VIX {vix:g})"
        )
    if tier == "halt":
        notes.append("HALT: no entries at this VIX")
    table.caption = "\n".join(notes) or None
    return table


def config_check(
    file: Annotated[
        Path | None, typer.Argument(help=f"TOML config file (default: as -c, ./{CONFIG_FILE} ...).")
    ] = None,
) -> None:
    """Print OK, or every problem (exit 1)."""
    _, path = load_choice(file)
    out.print(f"{path or 'built-in defaults'}: OK", markup=False)


def config_show(
    file: Annotated[
        Path | None, typer.Argument(help=f"TOML config file (default: as -c, ./{CONFIG_FILE} ...).")
    ] = None,
) -> None:
    """Print the resolved config (file plus defaults) as TOML."""
    from dyntrail.core.config_load import dump_config

    out.print(dump_config(load_cfg(file)), end="", markup=False)


def config_init(
    path: Annotated[Path, typer.Argument(help="Where to write.")] = Path(CONFIG_FILE),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config (the design document's block plus dyntrail's keys)."""
    from dyntrail.starter import STARTER_TOML

    if path.exists() and not force:
        failed(f"{path} exists; use --force to overwrite")
    path.write_text(STARTER_TOML, encoding="utf-8")
    out.print(f"wrote {path}", markup=False)


def data_synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write.")],
    months: Annotated[int, typer.Option(help="Months of trading days.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0, max=MAX_SEED)] = 7,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-01-01",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
) -> None:
    """Write a synthetic regime dataset (underlying + VIX, 1-minute bars) in the data format."""
    from dyntrail.data.builtin import synth_to_folder

    first = parse_date(start, "--start")
    try:
        synth_to_folder(
            out_dir,
            months=months,
            seed=seed,
            start=first or dt.date(2025, 1, 1),
            fmt=fmt,
            on_warning=lambda note: say("warning", note),
        )
    except ValueError as exc:
        usage_error(str(exc))
    except DyntrailError as exc:
        failed(str(exc))
    out.print(f"wrote {out_dir}", markup=False)


def data_check(
    folder: Annotated[Path, typer.Argument(help="Data folder.")],
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Load a data folder as a backtest would and report what was found: how each file was
    read, sessions, bars per session, gaps, bars outside the session, VIX, options (exit 1 with
    the problem if it does not load)."""
    from dyntrail.data.check import check_folder

    cfg = load_cfg(config)
    try:
        report = check_folder(folder, cfg)
    except DyntrailError as exc:
        failed(str(exc))
    if as_json:
        emit_json(report.to_dict())
        return
    for w in report.warnings:
        say("warning", w)
    for line in report.lines():
        out.print(line, markup=False, soft_wrap=True)


def data_options(
    data: Annotated[Path, typer.Option(help="Data folder with underlying and vix files.")],
    instrument: Annotated[str, typer.Option(help="Contract spec: NIFTY or BANKNIFTY.")] = "NIFTY",
    strikes: Annotated[int, typer.Option(help="Strikes each side of ATM.", min=0, max=100)] = 6,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0, max=MAX_SEED)] = 7,
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
    except ValueError as exc:
        usage_error(str(exc))
    except DyntrailError as exc:
        failed(str(exc))
    out.print(f"wrote {path}: {count_rows(path):,} rows", markup=False)


def journal_verify(
    file: Annotated[Path, typer.Argument(help="A journal.jsonl.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Check a journal (sequence, schema, torn lines) and print its summary (exit 1 if bad)."""
    from dyntrail.journal import read_journal, summarize

    try:
        summary = summarize(read_journal(file))
    except DyntrailError as exc:
        failed(str(exc))
    for w in summary["warnings"]:
        say("warning", str(w))
    if as_json:
        emit_json(summary)
        return
    out.print(
        f"{file}: OK, {summary['events']} events, schema {summary['schema']}, "
        f"mode {summary['mode']}, {summary['first_ts']} .. {summary['last_ts']}",
        markup=False,
    )
    out.print(
        f"trades closed {summary['trades_closed']}, net PnL {summary['net_pnl']:,.2f}, "
        f"open positions {summary['positions_open'] or 'none'}",
        markup=False,
    )
    out.print("events: " + ", ".join(f"{k} {v}" for k, v in summary["kinds"].items()))
