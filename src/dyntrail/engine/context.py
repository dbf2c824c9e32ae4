"""What every part of the engine shares and none owns: the run's fixed facts (``Run``) and the
exchange-time stamps of its events (``Stamps``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from dyntrail.core.config import Config, InstrumentSection
from dyntrail.core.contracts import InstrumentSpec, time_to_expiry_years
from dyntrail.core.risk import RiskLimits
from dyntrail.core.targets import DynamicTargetEngine

YEAR_SECONDS = 365.0 * 86400.0  # ``time_to_expiry_years``' ACT/365 year


@dataclass(frozen=True, slots=True)
class Run:
    """The facts of a run for one underlying (its spec, what is traded, its tick and slippage;
    the rest is the run's), read on every bar and taken out of the configuration once."""

    cfg: Config
    spec: InstrumentSpec
    trading_days: list[dt.date]
    targets: DynamicTargetEngine
    limits: RiskLimits
    tz: ZoneInfo
    bar: dt.timedelta
    bar_minutes: int
    options_mode: bool
    next_bar: bool  # stops move at the close with the bar's own ATR
    tick: float
    slip: float  # the underlying's slippage, in price
    settle: dt.timedelta  # how long after sending an order the broker is polled in-bar
    record_acks: bool  # a real or paper broker's ack latency is worth reporting
    # each expiry's close as ``time_to_expiry_years`` makes it (made once: read on every mark)
    expiry_closes: dict[dt.date, dt.datetime] = field(default_factory=dict, compare=False)
    # and its wall time, when its zone is the run's own (the same object): then an aware
    # difference is the difference of the wall times, so a naive time needs no zone
    expiry_walls: dict[dt.date, dt.datetime] = field(default_factory=dict, compare=False)

    @classmethod
    def of(
        cls,
        cfg: Config,
        spec: InstrumentSpec,
        trading_days: list[dt.date],
        bar_minutes: int,
        settle: dt.timedelta,
        record_acks: bool,
        instrument: InstrumentSection | None = None,
    ) -> Run:
        """The run's facts for one underlying (``instrument``: its section, by default
        ``[instrument]``)."""
        inst = instrument or cfg.instrument
        return cls(
            cfg=cfg,
            spec=spec,
            trading_days=trading_days,
            targets=DynamicTargetEngine(cfg),
            limits=RiskLimits.of(cfg),
            tz=ZoneInfo(cfg.session.timezone),
            bar=dt.timedelta(minutes=bar_minutes),
            bar_minutes=bar_minutes,
            options_mode=inst.trade == "options",
            next_bar=cfg.strategy.bars.semantics == "next_bar",
            tick=spec.tick_size,
            slip=inst.underlying_slippage_ticks * spec.tick_size,
            settle=settle,
            record_acks=record_acks,
        )

    def expiry_wall(self, expiry: dt.date) -> dt.datetime | None:
        """``expiry``'s close as naive exchange time when ``tte`` takes a naive time's years
        from it (``max((wall - at).total_seconds(), 0.0) / YEAR_SECONDS``, for a walk of bars
        to write out); None when it does not (a zone other than the run's)."""
        if expiry not in self.expiry_closes:
            self.tte(dt.datetime.combine(expiry, self.cfg.session.close), expiry)  # makes it
        return self.expiry_walls.get(expiry)

    def tte(self, at: dt.datetime, expiry: dt.date) -> float:
        """Years from ``at`` (naive exchange time) to ``expiry``'s close: what
        ``time_to_expiry_years`` says, with the expiry's close made once (the same steps)."""
        if at.tzinfo is None:
            wall = self.expiry_walls.get(expiry)
            if wall is not None:  # ``close - at.replace(tzinfo=self.tz)``, the same timedelta
                return max((wall - at).total_seconds(), 0.0) / YEAR_SECONDS
        close = self.expiry_closes.get(expiry)
        if close is None:
            s = self.cfg.session
            years = time_to_expiry_years(at.replace(tzinfo=self.tz), expiry, s.timezone, s.close)
            close = self.expiry_closes[expiry] = dt.datetime.combine(
                expiry, s.close, tzinfo=ZoneInfo(s.timezone)
            )
            if close.tzinfo is self.tz:
                self.expiry_walls[expiry] = close.replace(tzinfo=None)
            return years
        seconds = (close - at.replace(tzinfo=self.tz)).total_seconds()
        return max(seconds, 0.0) / YEAR_SECONDS


class Stamps:
    """Exchange-time ISO 8601 with the timezone's offset, for the events' ``ts``. The offset is
    taken once a day, and the last answer is kept: a bar's events share their time. A stamp of
    whole seconds on the day of the last one is written from that day's date and a table of
    two-digit numbers, to the same text as ``isoformat`` (a third of its time: a backtest
    stamps a new time for most of its events)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offset = ""
        self._at, self._text = dt.datetime(1, 1, 1), ""
        self._day, self._date = dt.date(1, 1, 1), ""  # the last day written in full, its text

    @staticmethod
    def naive(text: str) -> dt.datetime:
        """An event's ``ts`` back as naive exchange time (its offset is the exchange's)."""
        return dt.datetime.fromisoformat(text).replace(tzinfo=None)

    def iso(self, naive: dt.datetime) -> str:
        if naive == self._at:
            return self._text
        if not self._offset:
            self._offset = _offset(self.tz, naive)
        if naive.tzinfo is None and not naive.microsecond and naive.date() == self._day:
            text = f"{self._date}{_TWO[naive.hour]}:{_TWO[naive.minute]}:{_TWO[naive.second]}"
        else:
            text = naive.isoformat()
            if naive.tzinfo is None:
                self._day, self._date = naive.date(), text[:11]  # "YYYY-MM-DDT"
        self._at, self._text = naive, text + self._offset
        return self._text

    def new_day(self, ts: dt.datetime) -> None:
        """A session starts at ``ts``: its offset (daylight saving may have changed it)."""
        self._offset = _offset(self.tz, ts)
        self._at = dt.datetime(1, 1, 1)

    def forget(self) -> None:
        """After a restore: the offset is taken again for the next stamp."""
        self._offset = ""
        self._at = dt.datetime(1, 1, 1)


_TWO = tuple(f"{n:02d}" for n in range(60))  # hours, minutes and seconds as ISO 8601 writes them


def _offset(tz: ZoneInfo, naive: dt.datetime) -> str:
    off = naive.replace(tzinfo=tz).utcoffset() or dt.timedelta(0)
    sign = "+" if off >= dt.timedelta(0) else "-"
    mins = abs(int(off.total_seconds())) // 60
    return f"{sign}{mins // 60:02d}:{mins % 60:02d}"
