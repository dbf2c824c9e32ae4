"""A session's live terminal view (paper and live): the regime and the risk gate, why no
entry would go out now, each position's underlying price beside its stop, T1 and T2 with the
option's bid, ask and mark, the live orders and the latest events. It reads the same status
as the API and ``dyntrail ctl status`` (``dyntrail.control.status``)."""

from __future__ import annotations

from collections import deque
from types import TracebackType
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dyntrail.control.status import snapshot
from dyntrail.core.events import Equity, Event, State
from dyntrail.engine import Engine, Route


class LiveView:
    """Redraws at most a few times a second; does nothing when disabled (not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._live: Live | None = Live(refresh_per_second=4, transient=False) if enabled else None
        self.recent: deque[tuple[str | None, str]] = deque(maxlen=8)

    def route(self) -> Route:
        """The view as one of the engine's sinks: it keeps the latest events."""
        return Route(self.emit, without=frozenset({State, Equity}))

    def emit(self, ev: Event) -> None:
        self.recent.append((ev.ts, ev.kind))

    def __enter__(self) -> LiveView:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(et, e, tb)

    def update(self, engine: Engine, i: int, n: int) -> None:
        if self._live is None:
            return
        self._live.update(render(engine, i, n, list(self.recent)))


def render(
    engine: Engine, i: int, n: int, recent: list[tuple[str | None, str]] | None = None
) -> Group:
    """The view of ``engine`` after bar ``i`` of ``n`` (``n`` 0: a live day's count)."""
    bar = f"bar {i + 1}/{n}" if n else f"bar {i + 1}"
    return status_view(snapshot(engine), bar, recent)


def status_view(
    s: dict[str, Any], bar: str = "", recent: list[tuple[str | None, str]] | None = None
) -> Group:
    """A status (``dyntrail.control.status.snapshot``, or the API's) as the terminal shows
    it: the head line, why no entry now, positions, live orders, recent events."""
    risk = s["risk"]
    head = Table.grid(padding=(0, 2))
    head.add_row(
        bar,
        (s["now"] or "")[:16].replace("T", " "),
        f"VIX {_f(s['vix'])}",
        f"tier {s['tier']}",
        "breaker TRIPPED" if s["breaker"] else "breaker ok",
        f"trading {risk['state']}",
        f"realized {_f(s['pnl']['realized'])}",
        f"day {_f(s['pnl']['day'])}",
        "; ".join(risk["reasons"]),
    )
    why = Text.assemble(("why no entry: ", "bold"), s["why_no_entry"] or "none: one may go out")
    pos = Table(title="positions", expand=False)
    for col in POSITION_COLUMNS:
        pos.add_column(col)
    for p in s["positions"]:
        stop = _f(p["stop"]) + (" trail" if p["trailing"] else " BE" if p["break_even"] else "")
        pos.add_row(
            str(p["trade"]),
            p["side"],
            p["instrument"],
            str(p["qty"]),
            _f(p["price"]),
            stop,
            _f(p["t1"]) + (" hit" if p["t1_hit"] else ""),
            _f(p["t2"]),
            _f(p["bid"]),
            _f(p["ask"]),
            _f(p["mark"]),
            _f(p["entry"]),
            _f(p["unrealized"]),
        )
    orders = Table(title="live orders")
    for col in ("tag", "action", "state", "qty", "filled", "limit"):
        orders.add_column(col)
    for o in s["orders"]:
        orders.add_row(
            o["tag"], str(o["action"]), o["state"], str(o["qty"]), str(o["filled"]), _f(o["limit"])
        )
    parts: list[Any] = [head, why, pos, orders]
    if recent is not None:
        events = Table(title="recent events")
        events.add_column("time")
        events.add_column("event")
        for ts, kind in recent:
            events.add_row(ts or "", kind)
        parts.append(events)
    return Group(*parts)


POSITION_COLUMNS = ("trade", "side", "instrument", "qty", "underlying", "stop", "T1", "T2",
                    "bid", "ask", "mark", "entry", "unrealized")  # fmt: skip


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"
