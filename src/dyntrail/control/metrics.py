"""Prometheus metrics of a session, read from its published status when scraped (nothing is
counted on the engine's thread): ``prometheus_client``'s registry and text format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dyntrail.control.plane import Control

STATES = ("active", "reducing", "halted")


class _Collector:
    def __init__(self, control: Control) -> None:
        self.control = control

    def collect(self) -> Iterator[Metric]:
        c = self.control
        full: dict[str, Any] = c.status
        s: dict[str, Any] = full.get("status") or {}
        health = c.health()

        def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
            g = GaugeMetricFamily(f"dyntrail_{name}", doc)
            g.add_metric([], float("nan") if value is None else float(value))
            return g

        yield gauge(
            "loop_age_seconds",
            "Seconds since the engine's loop last ran.",
            health.get("loop_age_s"),
        )
        yield gauge(
            "feed_stale_seconds",
            "Seconds since the feed's last tick or bar.",
            health.get("feed_stale_s"),
        )
        yield gauge(
            "broker_up",
            "1 when the broker answered its last call.",
            1.0 if health.get("broker") == "ok" else 0.0,
        )
        if not s:
            return
        risk = s["risk"]
        st = GaugeMetricFamily(
            "dyntrail_trading_state", "The risk gate's state (1: this one).", labels=["state"]
        )
        for name in STATES:
            st.add_metric([name], 1.0 if risk["state"] == name else 0.0)
        yield st
        yield gauge("paused", "1 while an operator's pause stands.", 1.0 if risk["paused"] else 0)
        yield gauge("killed", "1 while the kill switch stands.", 1.0 if risk["killed"] else 0)
        yield gauge("flags", "Flags waiting for an operator.", len(risk["flags"]))
        yield gauge(
            "breaker_tripped", "1 while the VIX breaker is tripped.", 1.0 if s["breaker"] else 0.0
        )
        yield gauge("vix", "India VIX at the last bar.", s["vix"])
        yield gauge("open_positions", "Open positions.", len(s["positions"]))
        yield gauge("live_orders", "Orders not yet settled.", len(s["orders"]))
        pnl = s["pnl"]
        yield gauge("pnl_day_inr", "The day's PnL, marked (INR).", pnl["day"])
        yield gauge("pnl_realized_inr", "Realized PnL of the session (INR).", pnl["realized"])
        yield gauge("pnl_unrealized_inr", "Unrealized PnL (INR).", pnl["unrealized"])


class Metrics:
    """The registry with the session's collector; ``render`` gives the text and its type."""

    def __init__(self, control: Control) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(control))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
