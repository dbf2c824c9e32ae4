"""Market data as Kite serves it: the quote routes' JSON, historical candles, and the ticker's
binary packets (the layout ``KiteTicker._parse_binary`` reads; prices in paise, big-endian).

Depth is synthesised from the touch: level k is the bid (ask) k ticks away, k orders deep,
showing what is left at the touch (``DISPLAY_QTY`` for an unlimited touch)."""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from fakekite.instruments import Instrument
from fakekite.model import IST, Quote, input_error, kite_ts, to_tick

DISPLAY_QTY = 10_000
DEPTH_LEVELS = 5
INTERVALS = ("minute", "3minute", "5minute", "10minute", "15minute", "30minute", "60minute", "day")
Candle = tuple[Any, ...]  # (ts, open, high, low, close, volume[, oi])

Level = tuple[float, int, int]  # price, quantity, orders


def depth(q: Quote, inst: Instrument) -> tuple[list[Level], list[Level]]:
    tick = inst.tick_size or 0.05

    def side(px: float, avail: int | None, step: float) -> list[Level]:
        if px <= 0:
            return [(0.0, 0, 0)] * DEPTH_LEVELS
        shown = DISPLAY_QTY if avail is None else avail
        levels = []
        for k in range(DEPTH_LEVELS):
            p = round(px + step * k * tick, 6)
            levels.append((p, shown, k + 1) if p > 0 else (0.0, 0, 0))
        return levels

    return side(q.bid, q.bid_avail, -1.0), side(q.ask, q.ask_avail, 1.0)


def _ohlc(q: Quote) -> dict[str, float]:
    return {"open": q.open, "high": q.high, "low": q.low, "close": q.close}


def _net_change(q: Quote) -> float:
    return round(q.last - q.close, 4) if q.close else 0.0


def quote_json(inst: Instrument, q: Quote, now: dt.datetime) -> dict[str, Any]:
    if inst.is_index:
        return {
            "instrument_token": inst.instrument_token,
            "timestamp": kite_ts(now),
            "last_price": q.last,
            "net_change": _net_change(q),
            "ohlc": _ohlc(q),
        }
    buy, sell = depth(q, inst)
    ref = max(q.close, q.last, 1.0)
    return {
        "instrument_token": inst.instrument_token,
        "timestamp": kite_ts(now),
        "last_trade_time": kite_ts(q.last_trade_time),
        "last_price": q.last,
        "last_quantity": q.last_quantity,
        "buy_quantity": sum(lv[1] for lv in buy),
        "sell_quantity": sum(lv[1] for lv in sell),
        "volume": q.volume,
        "average_price": q.last,
        "oi": q.oi,
        "oi_day_high": q.oi_day_high,
        "oi_day_low": q.oi_day_low,
        "net_change": _net_change(q),
        "lower_circuit_limit": inst.tick_size,
        "upper_circuit_limit": to_tick(ref * 10, inst.tick_size, up=True),
        "ohlc": _ohlc(q),
        "depth": {
            "buy": [{"price": p, "quantity": n, "orders": k} for p, n, k in buy],
            "sell": [{"price": p, "quantity": n, "orders": k} for p, n, k in sell],
        },
    }


def ohlc_json(inst: Instrument, q: Quote) -> dict[str, Any]:
    return {"instrument_token": inst.instrument_token, "last_price": q.last, "ohlc": _ohlc(q)}


def ltp_json(inst: Instrument, q: Quote) -> dict[str, Any]:
    return {"instrument_token": inst.instrument_token, "last_price": q.last}


# -- ticker packets --------------------------------------------------------------------------------
def _paise(x: float) -> int:
    return max(0, round(x * 100))


def _epoch(t: dt.datetime | None) -> int:
    return int(t.timestamp()) if t is not None else 0


def tick_packet(inst: Instrument, q: Quote, mode: str, ts: dt.datetime) -> bytes:
    token = inst.instrument_token
    if mode == "ltp":
        return struct.pack(">II", token, _paise(q.last))
    if inst.is_index:
        change = round((q.last - q.close) * 100) if q.close else 0
        body = struct.pack(
            ">IIIIIIi",
            token,
            _paise(q.last),
            _paise(q.high),
            _paise(q.low),
            _paise(q.open),
            _paise(q.close),
            change,
        )
        return body + struct.pack(">I", _epoch(ts)) if mode == "full" else body
    buy, sell = depth(q, inst)
    body = struct.pack(
        ">IIIIIIIIIII",
        token,
        _paise(q.last),
        q.last_quantity,
        _paise(q.last),
        q.volume,
        sum(lv[1] for lv in buy),
        sum(lv[1] for lv in sell),
        _paise(q.open),
        _paise(q.high),
        _paise(q.low),
        _paise(q.close),
    )
    if mode != "full":
        return body
    body += struct.pack(
        ">IIIII", _epoch(q.last_trade_time), q.oi, q.oi_day_high, q.oi_day_low, _epoch(ts)
    )
    for price, qty, orders in [*buy, *sell]:
        body += struct.pack(">IIHxx", qty, _paise(price), orders)
    return body


def frame(packets: Sequence[bytes]) -> bytes:
    """One binary message: the packet count, then each packet prefixed by its length."""
    out = struct.pack(">H", len(packets))
    for p in packets:
        out += struct.pack(">H", len(p)) + p
    return out


# -- historical candles ----------------------------------------------------------------------------
def _parse_when(raw: str | None, name: str, end: bool) -> dt.datetime:
    if not raw:
        raise input_error(f"Missing `{name}`.")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            t = dt.datetime.strptime(raw, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d" and end:
            t = t.replace(hour=23, minute=59, second=59)
        return t.replace(tzinfo=IST)
    raise input_error(f"Invalid `{name}`: {raw}.")


def _candle_time(ts: dt.datetime | dt.date) -> dt.datetime:
    if not isinstance(ts, dt.datetime):
        return dt.datetime(ts.year, ts.month, ts.day, tzinfo=IST)
    return ts.replace(tzinfo=IST) if ts.tzinfo is None else ts.astimezone(IST)


def historical(
    candles: Mapping[tuple[int, str], Sequence[Candle]],
    token: int,
    interval: str,
    params: Mapping[str, str],
) -> dict[str, Any]:
    if interval not in INTERVALS:
        raise input_error("Invalid `interval`.")
    start = _parse_when(params.get("from"), "from", end=False)
    stop = _parse_when(params.get("to"), "to", end=True)
    if start > stop:
        raise input_error("`from` should be earlier than `to`.")
    with_oi = params.get("oi") == "1"
    out = []
    for c in candles.get((token, interval), ()):
        t = _candle_time(c[0])
        if start <= t <= stop:
            row: list[Any] = [t.strftime("%Y-%m-%dT%H:%M:%S+0530"), *c[1:6]]
            if with_oi:
                row.append(c[6] if len(c) > 6 else 0)
            out.append(row)
    return {"candles": out}
