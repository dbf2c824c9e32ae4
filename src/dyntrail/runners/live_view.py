"""The paper session's live terminal view (positions, stop, T1/T2, PnL, regime, recent events)."""

from __future__ import annotations

from collections import deque
from types import TracebackType

from rich.console import Group
from rich.live import Live
from rich.table import Table

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
    m, book, risk = engine.market, engine.book, engine.risk
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"bar {i + 1}/{n}",
        f"{m.now:%Y-%m-%d %H:%M}",
        f"VIX {m.last_vix:.2f}",
        f"tier {m.tier.value}",
        "breaker TRIPPED" if m.breaker_on else "breaker ok",
        f"trading {risk.state.value}",
        f"realized {book.realized:,.2f}",
        f"day {book.day_realized:,.2f}",
        "; ".join(risk.reasons),
    )
    pos = Table(title="positions", expand=False)
    for col in (
        "trade",
        "side",
        "instrument",
        "qty",
        "entry",
        "mark",
        "stop",
        "T1",
        "T2",
        "unrealized",
    ):
        pos.add_column(col)
    for tr in book.trades():
        p = tr.position
        pos.add_row(
            str(tr.trade_id),
            p.side.value,
            tr.instrument,
            str(p.qty),
            f"{tr.entry_price:.2f}",
            f"{tr.mark_price:.2f}",
            f"{p.stop_underlying:.2f}" + (" (trail)" if p.t1_hit else ""),
            f"{p.t1_underlying:.2f}" + (" hit" if p.t1_hit else ""),
            f"{p.t2_underlying:.2f}",
            f"{tr.unrealized():,.2f}",
        )
    orders = Table(title="live orders")
    for col in ("tag", "state", "qty", "filled", "limit"):
        orders.add_column(col)
    for tag, o in engine.orders.live.items():
        orders.add_row(tag, o.state.value, str(o.qty), str(o.filled_qty), f"{o.limit:.2f}")
    events = Table(title="recent events")
    events.add_column("time")
    events.add_column("event")
    for ts, kind in recent or []:
        events.add_row(ts or "", kind)
    return Group(head, pos, orders, events)
