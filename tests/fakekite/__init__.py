"""A local fake of Kite Connect (REST and WebSocket) for driving the official ``kiteconnect``
client in tests: ``FakeKite``, its ``Instrument`` rows, and ``option_instruments`` to build
an option chain with Kite's trading symbols."""

from fakekite.fake import FakeKite
from fakekite.instruments import Instrument, index_instruments, option_instruments

__all__ = ["FakeKite", "Instrument", "index_instruments", "option_instruments"]
