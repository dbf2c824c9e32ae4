"""The engine: parts that own their state (market, book, risk, orders, fills, entering,
exiting, closing, recovery, and the fast paths as a guest), wired in ``Engine``; its ports are
in ``dyntrail.engine.ports``."""

from dyntrail.engine.engine import Engine
from dyntrail.engine.ports import EventSink, Quote, QuoteSource, Route, Sinks

__all__ = ["Engine", "EventSink", "Quote", "QuoteSource", "Route", "Sinks"]
