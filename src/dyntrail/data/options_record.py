"""Recorded-style option quotes for a data folder: the cases that break trading systems, on purpose.

``write_option_quotes`` reads a folder's underlying and VIX bars and writes ``options.parquet``
(or ``.csv``) in the data format, so a backtest runs on "recorded" quotes (``DataQuotes``) instead
of the engine's own model. Every bar gets:

- Expiries: the nearest weekly expiry on or after the day and the ``expiries - 1`` after it (an
  engine that skips the expiry day or rolls early still finds quotes).
- Strikes: ATM (on the instrument's strike step, from the bar's close) ± ``strikes_each_side``.
  A strike once inside that band is quoted for the rest of the day, so a position's strike keeps
  its quotes as the index moves away; the next day starts afresh.
- Prices: the ``SyntheticQuotes`` model (VIX-based vol with term, skew and smile; Black–Scholes;
  a spread that widens with VIX and for cheap options; bid 0 when theo − half-spread is under a
  tick), computed for whole days at once. ``open, high, low, close`` are the model's last price
  at the bar's underlying open (at the bar start), high, low and close (at the bar close);
  ``bid, ask`` are quoted at the close.
- The departures from the model (``RecordStyle``), seeded per day so they are not the quotes the
  engine would make for itself: a vol factor per expiry and strike per day; on expiry day a
  spread that widens into the close; on expiry-day afternoons, no bid (0) for cheap options in
  most bars; with ``stop_quotes``, contracts whose rows end in the afternoon.
- ``volume`` (contracts per bar) and ``oi`` (open contracts): plausible shapes, not a model.

The same folder, arguments and seed write the same rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from dyntrail.core.contracts import InstrumentSpec, atm_strike, next_expiry, time_to_expiry_years
from dyntrail.core.options import DAYS_PER_YEAR, bsm_price
from dyntrail.data.calendar import trading_days
from dyntrail.data.loaders import MarketData, load_folder
from dyntrail.data.options_synth import QuoteModelParams
from dyntrail.instruments import load_instrument

F64 = NDArray[np.float64]
_Columns = dict[str, NDArray[Any]]
_YEAR_S = DAYS_PER_YEAR * 86400.0
_CALENDAR_PAD = dt.timedelta(days=60)  # the calendar must reach the last expiries' nominal days
_NEXT_EXPIRY_VOLUME = 0.3  # later expiries trade less than the nearest
_CHUNK_DAYS = 20  # days priced and written at a time: bounded memory, Parquet row groups


def _seconds(t: dt.time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


@dataclass(frozen=True, slots=True)
class RecordStyle:
    """How the written quotes depart from the ``SyntheticQuotes`` model.

    - ``iv_noise`` 0.05: the model vol is multiplied by a log-normal factor drawn once per
      expiry per day (log standard deviation ``iv_noise``) and a smaller one per strike (a fifth
      of it), so the smile stays smooth. A call and a put share the factor: put–call parity
      still holds on the model price.
    - ``expiry_spread_mult`` 2.0 from ``wide_from`` 13:30: on its expiry day a contract's
      half-spread widens linearly from 1x at ``wide_from`` to this multiple at the close, times
      a random 0.75–1.25 per bar.
    - ``no_bid_below_inr`` 3.0, ``no_bid_from`` 14:30, ``no_bid_prob`` 0.7: on its expiry day,
      from ``no_bid_from``, a contract whose model price is under ``no_bid_below_inr`` shows no
      bid (0) in a bar with this probability: the bid comes and goes.
    - ``stop_from`` 12:30, ``stop_to`` 15:00: a contract-day chosen by ``stop_quotes`` has no
      rows from a random bar starting in [``stop_from``, ``stop_to``).
    Times are bar starts in exchange time. Invalid values raise ValueError.
    """

    iv_noise: float = 0.05
    expiry_spread_mult: float = 2.0
    wide_from: dt.time = dt.time(13, 30)
    no_bid_below_inr: float = 3.0
    no_bid_from: dt.time = dt.time(14, 30)
    no_bid_prob: float = 0.7
    stop_from: dt.time = dt.time(12, 30)
    stop_to: dt.time = dt.time(15, 0)

    def __post_init__(self) -> None:
        rules = (
            ("iv_noise", 0 <= self.iv_noise <= 1, "in [0, 1]"),
            ("expiry_spread_mult", 1 <= self.expiry_spread_mult < math.inf, ">= 1"),
            ("no_bid_below_inr", 0 <= self.no_bid_below_inr < math.inf, ">= 0"),
            ("no_bid_prob", 0 <= self.no_bid_prob <= 1, "in [0, 1]"),
            ("stop_to", self.stop_from < self.stop_to, f"after stop_from {self.stop_from}"),
        )
        broken = [f"{n} {getattr(self, n)!r} must be {rule}" for n, ok, rule in rules if not ok]
        if broken:
            raise ValueError("; ".join(broken))


@dataclass(frozen=True, slots=True)
class _Knobs:
    """The arguments every day needs."""

    spec: InstrumentSpec
    calendar: list[dt.date]
    strikes_each_side: int
    expiries: int
    stop_quotes: float
    seed: int
    style: RecordStyle
    params: QuoteModelParams
    tz: str
    session_close: dt.time


def write_option_quotes(
    folder: Path,
    *,
    instrument: str = "NIFTY",
    strikes_each_side: int = 6,
    seed: int = 7,
    fmt: str = "parquet",
    stop_quotes: float = 0.0,
    expiries: int = 2,
    style: RecordStyle | None = None,
    params: QuoteModelParams | None = None,
    tz: str = "Asia/Kolkata",
    session_open: dt.time = dt.time(9, 15),
    session_close: dt.time = dt.time(15, 30),
) -> Path:
    """Write ``options.<fmt>`` into ``folder`` (see the module docstring) and return its path.

    Columns ``timestamp, expiry, strike, right, open, high, low, close, bid, ask, volume, oi``,
    rows ordered by timestamp, expiry, strike, right (CE first). ``stop_quotes`` is the
    probability per contract-day that a contract's rows end early in the afternoon (a position
    may be open on it). Each day's randomness comes from ``(seed, day)``: a day's rows do not
    depend on the other days in the folder. ``params`` default to the model's defaults on the
    instrument's tick. An existing ``options.csv|.parquet`` is replaced. Raises ValueError for a
    bad argument, ConfigError for an unknown instrument, DataError for a bad data folder.
    """
    _check(strikes_each_side, seed, fmt, stop_quotes, expiries)
    spec = load_instrument(instrument)
    md = load_folder(folder, tz=tz, session_open=session_open, session_close=session_close)
    days = md.bars.timestamps.astype("datetime64[D]")
    day_list: list[dt.date] = [d.item() for d in np.unique(days)]
    cal = trading_days(
        start=day_list[0], end=day_list[-1] + _CALENDAR_PAD, allow_beyond_coverage=True
    )
    knobs = _Knobs(
        spec=spec,
        calendar=sorted(set(cal) | set(day_list)),
        strikes_each_side=strikes_each_side,
        expiries=expiries,
        stop_quotes=float(stop_quotes),
        seed=seed,
        style=style if style is not None else RecordStyle(),
        params=params if params is not None else QuoteModelParams(tick=spec.tick_size),
        tz=tz,
        session_close=session_close,
    )
    bounds = np.flatnonzero(np.r_[True, days[1:] != days[:-1], True]).tolist()
    spans = list(zip(bounds[:-1], bounds[1:], day_list, strict=True))
    whole = float(spec.strike_step).is_integer()
    tables = (
        _table([_day_rows(md, a, b, day, knobs) for a, b, day in spans[i : i + _CHUNK_DAYS]], whole)
        for i in range(0, len(spans), _CHUNK_DAYS)
    )
    return _write(tables, folder, fmt)


def count_rows(path: Path) -> int:
    """Data rows of an options file (Parquet from its footer; CSV lines after the header)."""
    if path.suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as f:
        return max(sum(1 for _ in f) - 1, 0)


def _check(strikes_each_side: int, seed: int, fmt: str, stop_quotes: float, expiries: int) -> None:
    """ValueError naming every bad argument and what would be valid."""

    def whole(value: object, low: int, high: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    number = isinstance(stop_quotes, int | float) and not isinstance(stop_quotes, bool)
    rules = (
        ("strikes_each_side", strikes_each_side, whole(strikes_each_side, 0, 100), "0..100"),
        ("seed", seed, whole(seed, 0, 2**63 - 1), "a whole number >= 0"),
        ("format", fmt, fmt in ("parquet", "csv"), "'parquet' or 'csv'"),
        ("stop_quotes", stop_quotes, number and 0 <= stop_quotes <= 1, "a probability in [0, 1]"),
        ("expiries", expiries, whole(expiries, 1, 5), "1..5"),
    )
    problems = [f"{name} {value!r} must be {rule}" for name, value, ok, rule in rules if not ok]
    if problems:
        raise ValueError("; ".join(problems))


def _write(tables: Iterator[pa.Table], folder: Path, fmt: str) -> Path:
    """Write ``options.<fmt>`` a chunk of days at a time, whole or not at all, replacing any
    options file."""
    path = Path(folder) / f"options.{fmt}"
    tmp = path.with_name(f".{path.name}.partial")
    first = next(tables)
    writer = (
        pa_csv.CSVWriter(tmp, first.schema, write_options=pa_csv.WriteOptions(quoting_style="none"))
        if fmt == "csv"
        else pq.ParquetWriter(tmp, first.schema, compression="zstd")
    )
    try:
        with writer:
            writer.write_table(first)
            for table in tables:
                writer.write_table(table)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for old in (path.with_suffix(".csv"), path.with_suffix(".parquet")):
        old.unlink(missing_ok=True)
    tmp.replace(path)
    return path


def _table(parts: list[_Columns], whole_strikes: bool) -> pa.Table:
    """Days' rows as one table: bar starts as naive timestamps, expiries as dates, strikes as
    integers when the strike step is whole, rights as CE/PE."""
    col = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return pa.table(
        {
            "timestamp": pa.array(col["timestamp"]),
            "expiry": pa.array(col["expiry"]),
            "strike": np.round(col["strike"]).astype(np.int64) if whole_strikes else col["strike"],
            "right": pa.DictionaryArray.from_arrays(col["right_code"], ["CE", "PE"]),
            **{c: col[c] for c in ("open", "high", "low", "close", "bid", "ask", "volume", "oi")},
        }
    )


# --------------------------------------------------------------------------- one day


@dataclass(frozen=True, slots=True)
class _Day:
    """One day's quoted cells. Cells are (bar, expiry, strike, right) with right 0 = CE, 1 = PE;
    ``mask`` marks the quoted ones and ``ii, ee, jj, rr`` are their indices in row order."""

    a: int
    b: int
    day: dt.date
    tod: NDArray[np.int64]  # bar starts, seconds since midnight
    strikes: F64
    expiries: list[dt.date]
    mask: NDArray[np.bool_]
    ii: NDArray[np.intp]
    ee: NDArray[np.intp]
    jj: NDArray[np.intp]
    rr: NDArray[np.intp]


def _day_expiries(day: dt.date, k: _Knobs) -> list[dt.date]:
    out = [next_expiry(k.spec, day, k.calendar)]
    while len(out) < k.expiries:
        after = (out[-1] - day).days + 1
        out.append(next_expiry(k.spec, day, k.calendar, min_days_to_expiry=after))
    return out


def _day_grid(
    md: MarketData, a: int, b: int, day: dt.date, k: _Knobs, rng: np.random.Generator
) -> _Day:
    """Strikes within ATM ± n of some bar's close, each quoted from the first such bar to the
    day's end, except from a contract's stop bar on (``stop_quotes``)."""
    step, n_side = k.spec.strike_step, k.strikes_each_side
    ts = md.bars.timestamps[a:b].astype("datetime64[s]")
    tod = (ts - ts.astype("datetime64[D]")).astype(np.int64)
    atm_steps = np.array([round(atm_strike(float(c), step) / step) for c in md.bars.close[a:b]])
    grid = np.arange(atm_steps.min() - n_side, atm_steps.max() + n_side + 1)
    grid = grid[grid > 0]
    listed = np.maximum.accumulate(np.abs(grid[None, :] - atm_steps[:, None]) <= n_side, axis=0)
    expiries = _day_expiries(day, k)
    n_bar, contracts = b - a, (len(expiries), grid.size, 2)
    st = k.style
    stops = rng.random(contracts) < k.stop_quotes
    window = np.flatnonzero((tod >= _seconds(st.stop_from)) & (tod < _seconds(st.stop_to)))
    stop_bar = window[rng.integers(0, window.size, contracts)] if window.size else n_bar
    last_bar = np.where(stops, stop_bar, n_bar)
    mask = listed[:, None, :, None] & (np.arange(n_bar)[:, None, None, None] < last_bar[None])
    ii, ee, jj, rr = np.nonzero(mask)
    return _Day(a, b, day, tod, grid * step, expiries, mask, ii, ee, jj, rr)


def _years_to_expiry(md: MarketData, g: _Day, k: _Knobs) -> F64:
    """Years from each bar's close to each expiry's close, shape (expiry, bar)."""
    bar_s = md.bars.bar_minutes * 60
    first_close = dt.datetime.combine(g.day, dt.time(), ZoneInfo(k.tz)) + dt.timedelta(
        seconds=int(g.tod[0]) + bar_s
    )
    t0 = np.array(
        [time_to_expiry_years(first_close, e, tz=k.tz, close=k.session_close) for e in g.expiries]
    )
    elapsed = (g.tod - g.tod[0]).astype(np.float64)
    return np.asarray(np.maximum(t0[:, None] - elapsed[None, :] / _YEAR_S, 0.0), dtype=np.float64)


def _day_rows(md: MarketData, a: int, b: int, day: dt.date, k: _Knobs) -> _Columns:
    """One day's rows as column arrays (``right_code`` 0 = CE, 1 = PE)."""
    rng = np.random.default_rng([k.seed, day.toordinal()])
    g = _day_grid(md, a, b, day, k, rng)
    log_iv = rng.standard_normal((len(g.expiries), 1))
    log_iv = log_iv + 0.2 * rng.standard_normal((len(g.expiries), g.strikes.size))
    rows, bars = g.a + g.ii, md.bars
    cells = _Cells(
        strike=g.strikes[g.jj].astype(np.float64),
        is_call=g.rr == 0,
        vix=md.vix[rows],
        iv_mult=np.exp(k.style.iv_noise * log_iv)[g.ee, g.jj],
        params=k.params,
    )
    t_close = _years_to_expiry(md, g, k)[g.ee, g.ii]
    t_open = t_close + np.where(t_close > 0, bars.bar_minutes * 60 / _YEAR_S, 0.0)
    theo = cells.theo(bars.close[rows], t_close)
    close = _last(theo, k.params.tick)
    others = [cells.last(bars.open[rows], t_open), cells.last(bars.high[rows], t_close)]
    others.append(cells.last(bars.low[rows], t_close))
    widen, no_bid = _expiry_afternoon(md, g, k, theo, rng)
    bid, ask = _bid_ask(theo, close, cells.vix, widen, no_bid, k.params)
    volume, oi = _volume_oi(md, g, k, rng)
    return {
        "timestamp": bars.timestamps[rows].astype("datetime64[s]"),
        "expiry": np.array(g.expiries, dtype="datetime64[D]")[g.ee],
        "strike": cells.strike,
        "right_code": g.rr.astype(np.int8),
        "open": others[0],
        "high": np.maximum.reduce([close, *others]),
        "low": np.minimum.reduce([close, *others]),
        "close": close,
        "bid": bid,
        "ask": ask,
        "volume": volume,
        "oi": oi,
    }


def _expiry_afternoon(
    md: MarketData, g: _Day, k: _Knobs, theo: F64, rng: np.random.Generator
) -> tuple[F64, NDArray[np.bool_]]:
    """On a contract's expiry day: the factor on its half-spread (1 elsewhere) and the rows
    where its bid is gone."""
    st, bar_s = k.style, md.bars.bar_minutes * 60
    jitter = rng.uniform(0.75, 1.25, g.mask.shape)[g.mask]
    gone = (rng.random(g.mask.shape) < st.no_bid_prob)[g.mask]
    expiring = np.array([e == g.day for e in g.expiries])[g.ee]
    span = max(_seconds(k.session_close) - _seconds(st.wide_from), 1)
    ramp = np.clip((g.tod[g.ii] + bar_s - _seconds(st.wide_from)) / span, 0.0, 1.0)
    widen = 1.0 + np.where(expiring, (st.expiry_spread_mult - 1.0) * ramp * jitter, 0.0)
    late = g.tod[g.ii] >= _seconds(st.no_bid_from)
    return widen, expiring & late & gone & (theo < st.no_bid_below_inr)


def _volume_oi(
    md: MarketData, g: _Day, k: _Knobs, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Contracts traded per bar (busiest at the money, in the nearest expiry and when the index
    trades most) and open interest (the day's opening OI plus half the day's volume so far)."""
    a, b, step = g.a, g.b, k.spec.strike_step
    dist = np.abs(g.strikes[None, :] - md.bars.close[a:b, None]) / step  # (bar, strike)
    weight = _NEXT_EXPIRY_VOLUME ** np.arange(len(g.expiries), dtype=np.float64)
    day_volume = None if md.bars.volume is None else md.bars.volume[a:b]
    if day_volume is not None and day_volume.mean() > 0:
        busy = day_volume / day_volume.mean()
    else:
        busy = np.ones(b - a)
    lam = 200.0 * busy[:, None, None, None] * weight[None, :, None, None]
    lam = lam * np.exp(-0.5 * (dist / 3.0) ** 2)[:, None, :, None]
    volume = rng.poisson(np.broadcast_to(lam, g.mask.shape)) * g.mask
    opening = 5000.0 * weight[:, None, None] * np.exp(-0.5 * (dist[0] / 4.0) ** 2)[None, :, None]
    opening = np.round(opening * rng.lognormal(0.0, 0.3, g.mask.shape[1:])).astype(np.int64)
    oi = opening[None] + np.cumsum(volume, axis=0) // 2
    return volume[g.mask].astype(np.int64), oi[g.mask].astype(np.int64)


# --------------------------------------------------------------------------- the model, vectorised


@dataclass(frozen=True, slots=True)
class _Cells:
    """The quoted cells' inputs to the ``SyntheticQuotes`` model, one entry per row; the vol is
    the model's times ``iv_mult``."""

    strike: F64
    is_call: NDArray[np.bool_]
    vix: F64
    iv_mult: F64
    params: QuoteModelParams

    def iv(self, spot: F64, t: F64) -> F64:
        """``SyntheticQuotes.model_iv`` on arrays (same formula, same operation order) times
        ``iv_mult``; NaN at t <= 0."""
        p, live = self.params, t > 0
        tt = np.where(live, t, 1.0)
        term = 1.0 + p.term_slope * np.log((p.term_ref_days / DAYS_PER_YEAR) / tt)
        atm = self.vix * 0.01 * np.clip(term, p.term_min, p.term_max)
        m = np.log(self.strike / (spot * np.exp((p.r - p.q) * tt))) / (atm * np.sqrt(tt))
        mult = np.clip(1.0 - p.skew * m + p.smile * m * m, p.iv_min_mult, p.iv_max_mult)
        return np.where(live, atm * mult * self.iv_mult, np.nan)

    def theo(self, spot: F64, t: F64) -> F64:
        """The unrounded model price (``SyntheticQuotes.theo``); intrinsic value at t <= 0."""
        p, t = self.params, np.maximum(t, 0.0)
        vol = np.where(t > 0, self.iv(spot, t), 1.0)  # any vol: unused at t = 0
        args = {"spot": spot, "strike": self.strike, "t_years": t, "vol": vol}
        out = np.empty_like(spot)
        for right, rows in (("CE", self.is_call), ("PE", ~self.is_call)):
            out[rows] = bsm_price(right, **{n: v[rows] for n, v in args.items()}, r=p.r, q=p.q)
        return out

    def last(self, spot: F64, t: F64) -> F64:
        return _last(self.theo(spot, t), self.params.tick)


def _round(price: F64, tick: float, how: str) -> F64:
    """``core.order_pricing.round_to_tick`` on arrays: ``down``, ``up`` or ``nearest`` after
    snapping values within float noise of the grid onto it; each result is the float nearest
    the exact decimal (``2027 x 0.05 -> 101.35``)."""
    n = price / tick
    near = np.round(n)
    snap = np.abs(n - near) <= np.maximum(1e-9, 1e-12 * np.abs(n))
    ticks = np.where(snap, near, {"down": np.floor, "up": np.ceil}.get(how, _half_up)(n))
    per_unit = round(1.0 / tick)
    if per_unit > 0 and abs(per_unit * tick - 1.0) < 1e-12:
        return ticks / per_unit  # whole numbers over a whole number: correctly rounded
    exact = Decimal(repr(tick))
    return np.array([float(int(x) * exact) for x in ticks], dtype=np.float64)


def _half_up(n: F64) -> F64:
    return np.floor(n + 0.5)


def _last(theo: F64, tick: float) -> F64:
    """The model's last price: theo to the nearest tick, at least one tick."""
    return np.where(theo >= 0.5 * tick, _round(theo, tick, "nearest"), tick)


def _bid_ask(
    theo: F64, last: F64, vix: F64, widen: F64, no_bid: NDArray[np.bool_], p: QuoteModelParams
) -> tuple[F64, F64]:
    """The model's bid and ask (``SyntheticQuotes.quote``) with the half-spread times ``widen``
    and no bid where ``no_bid``. Bid 0 = no bid; the ask is at least a tick above bid and last."""
    tick = p.tick
    half = np.maximum(p.spread_pct / p.vix_ref * theo * vix, tick)
    cheap_half = p.cheap_half_spread_ticks * tick
    half = np.where((theo < p.cheap_price) & (half < cheap_half), cheap_half, half) * widen
    low = theo - half
    bid = np.where((low >= tick) & ~no_bid, _round(low, tick, "down"), 0.0)
    ask = _round(theo + half, tick, "up")
    floor = np.maximum(last, bid) + tick
    ask = np.where(ask < floor - 1e-9 * tick, _round(floor, tick, "nearest"), ask)
    return bid, ask
