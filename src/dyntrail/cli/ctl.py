"""``dyntrail ctl``: steer a running paper or live session (``dyntrail.control``)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from dyntrail.cli.common import EXIT_FAILED, emit_json, failed, out, say, usage_error

COMMANDS = (
    "status",
    "dashboard",
    "pause-entries",
    "resume-entries",
    "force-exit",
    "kill",
    "unlock",
    "clear-flag",
    "reload-limits",
)
_LIMIT_KEYS = {
    ("limits", "daily_loss_limit_pct"): "daily_loss_limit_pct",
    ("limits", "max_open_positions"): "max_open_positions",
    ("limits", "max_lots"): "max_lots",
    ("account", "lots_per_trade"): "lots_per_trade",
}


def ctl(
    command: Annotated[str, typer.Argument(help=f"One of: {', '.join(COMMANDS)}.")],
    arg: Annotated[
        str | None,
        typer.Argument(
            help="pause-entries/kill: a reason; force-exit: a trade id or 'all' (the default); "
            "clear-flag: a flag id (F1...) or 'all'; unlock: the word UNLOCK; reload-limits: "
            "NAME=VALUE[,NAME=VALUE...]."
        ),
    ] = None,
    session: Annotated[
        Path | None,
        typer.Option("--session", "-s", help="The session's run folder.", file_okay=False),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="The session's API, e.g. http://127.0.0.1:8731.")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the API token (else $DYNTRAIL_CONTROL_TOKEN, else "
            "the run folder's control.token).",
            dir_okay=False,
        ),
    ] = None,
    limits: Annotated[
        Path | None,
        typer.Option(
            help="reload-limits: read [limits] (daily_loss_limit_pct, "
            "max_open_positions, max_lots) and [account] lots_per_trade from this "
            "TOML file.",
            dir_okay=False,
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Skip the confirmation.")] = False,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the engine to apply it.", min=0, max=30)
    ] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Steer a running session: status, pause/resume entries, force-exit, kill, unlock,
    clear a flag, reload limits.

    A command goes through the session's risk gate at its next event and is journaled. With
    --session and no API answering, it waits in the run folder's inbox for the session's next
    start. Exit 0 applied (or queued), 1 refused or unreachable, 2 a wrong command line."""
    from dyntrail.control import client
    from dyntrail.control.inbox import Request
    from dyntrail.engine.commands import UNLOCK_WORD, CommandError, parse

    if command not in COMMANDS:
        usage_error(f"unknown command {command!r}; one of: {', '.join(COMMANDS)}")
    if session is None and url is None:
        usage_error("say which session: --session RUN_DIR or --url URL")
    try:
        target = client.find(session, url, token_file)
        if command == "status":
            _show(client.status(target), as_json)
            return
        if command == "dashboard":
            if target.url is None:
                failed(f"{session}: the session serves no API (is it running with --api?)")
            out.print(f"{target.url}/#token={target.token}", markup=False, soft_wrap=True)
            return
        values = _limit_values(limits) if command == "reload-limits" and limits else None
        if command == "force-exit" and not arg:
            arg = "all"
        try:
            parse(command, arg, values)
        except CommandError as exc:
            usage_error(str(exc))
        if command == "unlock" and arg != UNLOCK_WORD:
            if yes:
                usage_error(f"unlock needs the word {UNLOCK_WORD} as its argument")
            arg = typer.prompt(f"Type {UNLOCK_WORD} to leave the kill switch", default="")
        if command in ("kill", "force-exit") and not yes:
            what = "flatten every position and halt" if command == "kill" else f"exit {arg}"
            typer.confirm(f"{command}: {what}?", abort=True)
        req = Request(command, arg or "", values or {}, "cli")
        result = client.send(target, req, wait)
    except (client.ControlError, ConnectionError) as exc:
        failed(str(exc))
    if as_json:
        emit_json(result)
    else:
        _say_result(result)
    if result.get("state") == "refused":
        raise typer.Exit(EXIT_FAILED)


def _limit_values(path: Path) -> dict[str, float]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        failed(f"{path}: {exc}")
    values: dict[str, float] = {}
    for (section, key), name in _LIMIT_KEYS.items():
        v = doc.get(section, {}).get(key)
        if v is not None:
            values[name] = float(v)
    if not values:
        failed(
            f"{path}: no [limits] daily_loss_limit_pct, max_open_positions, max_lots or "
            "[account] lots_per_trade in it"
        )
    return values


def _say_result(r: dict[str, Any]) -> None:
    state = r.get("state")
    if state == "applied":
        out.print(f"{r['command']}: applied: {r.get('detail', '')}", markup=False)
    elif state == "refused":
        say("error", f"{r['command']}: refused: {r.get('error', '')}")
    elif state == "queued":
        out.print(
            f"{r['command']}: queued ({r['file']}): the session takes it at its next event, "
            "or when it next starts",
            markup=False,
        )
    else:
        out.print(f"{r.get('command')}: sent (id {r.get('id')}), not applied yet", markup=False)


def _show(full: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(full)
        return
    from dyntrail.runners.live_view import status_view

    s = full.get("status")
    if full.get("stale"):
        say("warning", str(full["stale"]))
    if not s:
        out.print(f"{full.get('mode')} session: no bar yet", markup=False)
        return
    h = full.get("health", {})
    out.print(f"{full.get('mode')} session; loop {h.get('loop_age_s')} s ago; feed stale "
              f"{h.get('feed_stale_s')} s; broker {h.get('broker')}", markup=False)  # fmt: skip
    for f in s["risk"]["flags"]:
        out.print(f"flag {f['id']}: {f['text']}", markup=False)
    bar = full.get("bar") or {}
    out.print(status_view(s, f"bar {bar.get('done')}/{bar.get('of')}" if bar.get("of") else ""))
