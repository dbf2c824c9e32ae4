"""The report's Backstop section: what the stop-limits resting at the exchange did in a run
(``[backstop]``), from the journal's ``stop_order``, ``stop_modify``, ``order_cancel`` and
``backstop_escalated`` lines and the fills the backstop made (``fills.csv`` action
``exit_backstop``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from dyntrail.core.backstop import OWN_EXIT
from dyntrail.core.config import Config

KINDS = ("stop_order", "stop_modify", "backstop_escalated", "order_cancel")

Table = Callable[[list[str], list[list[tuple[str, str]]]], str]


def backstop_section(
    events: list[dict[str, Any]], fills: pd.DataFrame, cfg: Config, table: Table
) -> str:
    """Counts: placed, modified (and the most any one order used of its budget), cancelled
    before the engine's own exit, escalated, and the fills and trades it made."""
    placed = {str(ev["tag"]) for ev in events if ev.get("kind") == "stop_order"}
    if not placed and not cfg.backstop.enabled:
        return ""
    used: dict[str, int] = {}
    for ev in events:
        if ev.get("kind") == "stop_modify":
            used[str(ev["tag"])] = int(ev["used"])
    cancelled = len({
        str(ev["tag"]) for ev in events
        if ev.get("kind") == "order_cancel" and ev.get("reason") == OWN_EXIT
        and str(ev["tag"]) in placed
    })  # fmt: skip
    escalated = sum(1 for ev in events if ev.get("kind") == "backstop_escalated")
    mine = fills[fills["action"].astype(str) == "exit_backstop"] if "action" in fills else fills[:0]
    budget = cfg.backstop.max_modifications
    rows = [
        ("stop-limits placed", len(placed)),
        ("modifications sent", sum(used.values())),
        ("most modifications of one order", max(used.values(), default=0)),
        (f"orders that spent the budget ({budget})", sum(1 for n in used.values() if n >= budget)),
        ("cancelled before an exit of the engine's own", cancelled),
        ("escalated (triggered, unfilled)", escalated),
        ("fills from a backstop", len(mine)),
        ("trades with a backstop fill", mine["trade_id"].nunique() if len(mine) else 0),
    ]
    return "<h2>Backstop</h2>" + table(
        ["", "count"], [[(name, ""), (str(n), "n")] for name, n in rows]
    )
