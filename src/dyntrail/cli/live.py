"""``dyntrail live``: log in to Kite Connect and trade a session (README: Live)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from dyntrail.cli.common import (
    AllowRemoteOpt,
    ApiHostOpt,
    ApiOpt,
    ApiPortOpt,
    ConfigOpt,
    control_options,
    failed,
    load_cfg,
    notifier,
    out,
    parse_date,
    say,
)
from dyntrail.errors import DyntrailError

CredOpt = Annotated[
    Path | None,
    typer.Option(
        "--credentials",
        dir_okay=False,
        help="TOML with api_key and api_secret, mode 600, outside any repository (default: "
        "$DYNTRAIL_KITE_CREDENTIALS or ~/.config/dyntrail/kite.toml; the environment's "
        "DYNTRAIL_KITE_API_KEY / _API_SECRET / _ACCESS_TOKEN win).",
    ),
]


def login(
    request_token: Annotated[
        str | None,
        typer.Option(
            "--request-token",
            help="The request_token Kite's login page redirected to your app with; without it "
            "the login URL is printed.",
        ),
    ] = None,
    credentials: CredOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Log in to Kite Connect: exchange the login's request token for the day's access token,
    stored beside the credentials file with mode 600 (never printed)."""
    _need_client()
    from dyntrail.live.credentials import load_credentials, redact, store_token

    cfg = load_cfg(config)
    tz = ZoneInfo(cfg.session.timezone)
    today = dt.datetime.now(tz).date()
    try:
        creds = load_credentials(credentials, today)
    except DyntrailError as exc:
        failed(str(exc))
    kite = _client(creds.api_key.reveal(), cfg.live.rest_root)
    if request_token is None:
        out.print("open this URL, log in, and pass the request_token it redirects with:")
        out.print(kite.login_url(), markup=False)
        return
    if creds.api_secret is None:
        failed("the login needs the API secret: DYNTRAIL_KITE_API_SECRET or api_secret in the file")
    try:
        session = kite.generate_session(request_token, api_secret=creds.api_secret.reveal())
    except Exception as exc:  # the client's errors: shown without any credential
        failed(f"Kite refused the login: {redact(str(exc), [*creds.secrets(), request_token])}")
    store_token(creds.token_file, str(session["access_token"]), today)
    say("info", f"logged in as {session.get('user_id', '?')}; token for {today} stored in "
        f"{creds.token_file} (mode 600)")  # fmt: skip


def run(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder of the day (default runs/live/DAY).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="The live feed against the paper broker: no real order."),
    ] = False,
    confirm_live: Annotated[
        bool,
        typer.Option("--confirm-live", help="Send real orders (or [live] confirm = true)."),
    ] = False,
    day: Annotated[
        str | None, typer.Option(help="The session's day, YYYY-MM-DD (default: today).")
    ] = None,
    credentials: CredOpt = None,
    config: ConfigOpt = None,
    report: Annotated[bool, typer.Option(help="Write report.html at the end.")] = False,
    view: Annotated[bool, typer.Option(help="Live terminal view.")] = True,
    api: ApiOpt = True,
    api_host: ApiHostOpt = "127.0.0.1",
    api_port: ApiPortOpt = 0,
    allow_remote: AllowRemoteOpt = False,
) -> None:
    """Trade today's session on Kite Connect: the same engine as backtest and paper, on Kite's
    ticks. Real orders need --confirm-live; --dry-run uses the paper broker.

    A run folder of the same day is resumed. Stop with Ctrl-C, SIGTERM or a file KILL in the
    run folder: it flattens first; steer it with `dyntrail ctl` or its dashboard. On a day
    without a session (a weekend or holiday) it says so and exits 0. Exit 1 on a bad config,
    credentials or journal."""
    _need_client()
    from dyntrail.analytics.summary import kpi_table
    from dyntrail.live.credentials import load_credentials, redact
    from dyntrail.runners.live import NoSession, run_live
    from dyntrail.runners.live_view import LiveView

    if dry_run and confirm_live:
        failed("--dry-run and --confirm-live: choose one")
    cfg = load_cfg(config)
    tz = ZoneInfo(cfg.session.timezone)
    the_day = parse_date(day, "--day") or dt.datetime.now(tz).date()
    run_dir = out_dir or Path("runs/live") / the_day.isoformat()
    creds = None
    screen = LiveView(enabled=view and out.is_terminal)
    control = control_options(api, api_host, api_port, allow_remote, run_dir)
    notify = None
    try:
        creds = load_credentials(credentials, dt.datetime.now(tz).date())
        notify = notifier()
        observers = [screen.route(), *([notify.route()] if notify else [])]
        with screen:
            result = run_live(
                cfg, run_dir, creds, day=the_day, dry_run=dry_run, confirm_live=confirm_live,
                on_bar=screen.update, observers=observers, report=report, control=control,
            )  # fmt: skip
    except NoSession as exc:  # a weekend or a holiday: nothing to do, and not a failure
        say("no session", str(exc))
        return
    except DyntrailError as exc:
        failed(redact(str(exc), creds.secrets() if creds else []))
    finally:
        if notify is not None:
            notify.close()
    for flag in result.flags:
        say("flagged", str(flag))
    out.print(kpi_table(result.kpis, title="live session KPIs"))
    state = "stopped by the kill switch (flat)" if result.killed else "complete"
    out.print(f"session {state}: {result.run_dir}", markup=False)


def _need_client() -> None:
    try:
        import kiteconnect  # noqa: F401
    except ImportError:
        failed("dyntrail live needs the Kite Connect client: pip install 'dyntrail[live]'")


def _client(api_key: str, root: str) -> Any:
    from kiteconnect import KiteConnect

    return KiteConnect(api_key=api_key, root=root or None)
