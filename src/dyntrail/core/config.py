"""Typed, frozen configuration.

The design document's TOML block loads unchanged; every key dyntrail adds has a default, so an
empty file is a valid configuration. The sections mirror the TOML file; ``StrategyConfig`` also
exposes the document's flat field names (``be_underlying_pct``, ``atr_trail_mult`` ...).

Percentages named ``*_pct`` are fractions, as in the design document: 0.006 is 0.6 %.
Loading and error reporting live in ``dyntrail.core.config_load``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from dyntrail.core.config_backstop import BackstopSection
from dyntrail.core.config_live import LiveSection
from dyntrail.core.config_marks import PercentTrap, parse_time
from dyntrail.core.config_protections import ProtectionsSection
from dyntrail.core.types import TrailMethod, VixTier

Fraction = Annotated[float, Field(gt=0, lt=1)]
FractionOrZero = Annotated[float, Field(ge=0, lt=1)]
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Period = Annotated[int, Field(ge=1)]


def _enum_value(enum_cls: Any, value: Any) -> Any:
    """Turn a TOML string into the enum member (strict mode wants the member itself)."""
    if isinstance(value, str):
        try:
            return enum_cls(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in enum_cls)
            raise ValueError(f"{value!r} is not one of {allowed}") from None
    return value


class _Section(BaseModel):
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )


class _Times(_Section):
    @field_validator("*", mode="before")
    @classmethod
    def _times(cls, value: Any, info: Any) -> Any:
        field = cls.model_fields[info.field_name]
        if field.annotation is dt.time:
            return parse_time(value)
        return value


# --------------------------------------------------------------------------- [strategy.*]


class VixSection(_Section):
    """[strategy.vix]: half-open tier ranges; below ``normal_min`` is LOW, at or above
    ``halt_above`` is HALT. The ranges must chain without holes or overlaps."""

    normal_min: Positive = 12.0
    normal_max: Positive = 18.0
    reduced_min: Positive = 18.0
    reduced_max: Positive = 25.0
    high_min: Positive = 25.0
    high_max: Positive = 30.0
    halt_above: Positive = 30.0


class RiskSection(_Section):
    """[strategy.risk]: the risk unit and the time stop."""

    sl_underlying_pct: Annotated[Fraction, PercentTrap(0.05)] = 0.006
    be_underlying_pct: Annotated[Fraction, PercentTrap(0.05)] = Field(
        0.004,
        validation_alias=AliasChoices("trail_to_be_underlying_pct", "be_underlying_pct"),
        serialization_alias="trail_to_be_underlying_pct",
    )
    time_stop_min: Period = 30
    initial_stop_atr_mult: NonNegative = 0.0  # > 0: stop at the tighter of SL and k x ATR


class TargetsSection(_Section):
    """[strategy.targets]: reward multiples per VIX tier and the T1 scale-out."""

    base_rr: Positive = 1.5
    rr_elevated_vix: Positive = 1.2
    rr_high_vix: Positive = 1.0
    rr_low_vix: Positive = 1.8
    scale_out_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    t2_extra_rr: Positive = 0.5
    single_lot_at_t1: Literal["exit_all", "skip"] = "exit_all"


class AtrSection(_Section):
    """[strategy.atr]: Wilder ATR period and the trailing multiple."""

    period: Period = 14
    atr_trail_mult: Positive = Field(
        2.5,
        validation_alias=AliasChoices("multiplier_trail", "atr_trail_mult"),
        serialization_alias="multiplier_trail",
    )


class TimeSection(_Times):
    """[strategy.time]: entry window and forced flatten, exchange time."""

    entry_start: dt.time = dt.time(9, 20)
    entry_end: dt.time = dt.time(15, 0)
    flatten: dt.time = dt.time(15, 15)


class TierTrail(_Section):
    """One tier's trailing rule (regime upgrade)."""

    method: TrailMethod = TrailMethod.ATR
    multiplier: Positive | None = None  # None: [strategy.atr] multiplier_trail

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return _enum_value(TrailMethod, value)


class TrailSection(_Section):
    """[strategy.trail]: how the remainder trails after T1, optionally per VIX tier.

    ``method = "atr"`` trails at price - multiple x ATR (long); ``"swing"`` trails under the last
    confirmed swing low (long) minus ``swing_buffer_pct``. ``[strategy.trail.by_tier.<tier>]``
    overrides method and multiple for a tier (the regime upgrade)."""

    method: TrailMethod = TrailMethod.ATR
    start: Literal["t1", "entry"] = "t1"  # trail after T1 (the design) or from the entry
    swing_bars: Period = 2
    swing_buffer_pct: Annotated[FractionOrZero, PercentTrap(0.05)] = 0.0
    by_tier: dict[VixTier, TierTrail] = Field(default_factory=dict)

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return _enum_value(TrailMethod, value)

    @field_validator("by_tier", mode="before")
    @classmethod
    def _tiers(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_enum_value(VixTier, k): v for k, v in value.items()}
        return value


class MomentumSection(_Section):
    """[strategy.momentum]: scale rr by momentum context (applied only when a context is given).

    Entries stretched more than ``stretch_atr`` ATRs from session VWAP in the trade's direction
    lose ``shrink_per_atr`` of rr per further ATR; swing structure in favour adds ``swing_bonus``,
    against subtracts ``swing_penalty``. The factor is clamped to [min_factor, max_factor]."""

    enabled: bool = True
    stretch_atr: NonNegative = 2.0
    shrink_per_atr: NonNegative = 0.1
    swing_bonus: NonNegative = 0.15
    swing_penalty: NonNegative = 0.15
    min_factor: Positive = 0.6
    max_factor: Positive = 1.4


class TimeLeftSection(_Section):
    """[strategy.time_left]: shrink targets that cannot plausibly be reached before flatten
    (applied only when a context is given). T2's distance is capped at k x ATR x sqrt(bars
    left); T1 shrinks in proportion, but never below ``min_t1_rr`` x risk."""

    enabled: bool = True
    k: Positive = 1.5
    min_t1_rr: Positive = 0.5


class BreakerSection(_Section):
    """[strategy.breaker]: VIX-spike circuit breaker (design: > 5 points in 10 minutes)."""

    spike_points: Positive = 5.0
    spike_window_min: Period = 10
    cooldown_min: Annotated[int, Field(ge=0)] = 30
    policy: Literal["flatten", "block_entries"] = "flatten"


class EntriesSection(_Section):
    """[strategy.entries]: entry gates (window is [strategy.time])."""

    adx_period: Period = 14
    adx_min: NonNegative = 20.0
    adx_bias: bool = True
    vwap_gate: bool = True
    gap_pct: Annotated[Fraction, PercentTrap(0.1)] = 0.005
    gap_delay_min: Annotated[int, Field(ge=0)] = 15
    gap_strike_range: Annotated[int, Field(ge=0)] = 2
    max_trades_per_day: Period = 3
    reenter_same_bar: bool = True  # may a new position open at the close of a bar that exited?


class BarsSection(_Section):
    """[strategy.bars]: how a closed bar is walked.

    ``"path"`` (default): open -> adverse extreme -> favourable extreme -> close, with break-even
    and trailing applied along the way, so a stop raised at the high can be hit by the close of
    the same bar. ``"next_bar"``: the stop and targets are checked against the stop as it stood
    after the previous bar (adverse extreme first); break-even and trailing are applied at the
    close, with the ATR including the bar, and act from the next bar (the W1 benchmark's rule)."""

    semantics: Literal["path", "next_bar"] = "path"


class StrategySection(_Section):
    """[strategy]: the design document's block plus dyntrail's additions."""

    name: str = "rust_dynamic_targets"
    bars: BarsSection = BarsSection()
    vix: VixSection = VixSection()
    risk: RiskSection = RiskSection()
    targets: TargetsSection = TargetsSection()
    atr: AtrSection = AtrSection()
    time: TimeSection = TimeSection()
    trail: TrailSection = TrailSection()
    momentum: MomentumSection = MomentumSection()
    time_left: TimeLeftSection = TimeLeftSection()
    breaker: BreakerSection = BreakerSection()
    entries: EntriesSection = EntriesSection()

    # The design document's flat ``StrategyConfig`` field names.
    @property
    def sl_underlying_pct(self) -> float:
        return self.risk.sl_underlying_pct

    @property
    def be_underlying_pct(self) -> float:
        return self.risk.be_underlying_pct

    @property
    def time_stop_min(self) -> int:
        return self.risk.time_stop_min

    @property
    def base_rr(self) -> float:
        return self.targets.base_rr

    @property
    def rr_low_vix(self) -> float:
        return self.targets.rr_low_vix

    @property
    def rr_elevated_vix(self) -> float:
        return self.targets.rr_elevated_vix

    @property
    def rr_high_vix(self) -> float:
        return self.targets.rr_high_vix

    @property
    def scale_out_ratio(self) -> float:
        return self.targets.scale_out_ratio

    @property
    def atr_period(self) -> int:
        return self.atr.period

    @property
    def atr_trail_mult(self) -> float:
        return self.atr.atr_trail_mult


# --------------------------------------------------------------------------- the rest


class InstrumentSection(_Section):
    """[instrument]: what is traded. ``name`` picks a packaged contract spec (NIFTY, BANKNIFTY:
    dated lot sizes and expiry rules); ``[instrument.spec]`` overrides its keys or defines a new
    market (strike_step, tick_size, freeze_qty, lot_sizes, expiry_rules). ``trade = "options"``
    buys ATM options; ``"underlying"`` trades the underlying (futures) with the same exits, filled
    ``underlying_slippage_ticks`` worse than the trigger."""

    name: str = "NIFTY"
    trade: Literal["options", "underlying"] = "options"
    underlying_slippage_ticks: Annotated[int, Field(ge=0)] = 1
    spec: dict[str, Any] = Field(default_factory=dict, strict=False)


class SessionSection(_Times):
    """[session]: exchange hours and timezone (naive timestamps are in this timezone)."""

    timezone: str = "Asia/Kolkata"
    open: dt.time = dt.time(9, 15)
    close: dt.time = dt.time(15, 30)
    bar_minutes: Annotated[int, Field(ge=0, le=60)] = 0  # 0: inferred from the data

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r} (an IANA name such as 'Asia/Kolkata')"
            ) from None
        return value


class DataColumns(_Section):
    """[data.columns]: the file's header for one of dyntrail's columns, for a layout that is not
    recognised on its own; "" = recognise. It applies to every data file that has that header
    (``timestamp``, ``date`` and ``time`` also to the options file)."""

    timestamp: str = ""  # one column with date and time
    date: str = ""  # or a date column ...
    time: str = ""  # ... and a time column
    open: str = ""
    high: str = ""
    low: str = ""
    close: str = ""
    volume: str = ""


class DataSection(_Section):
    """[data]: how the data files are read. ``timezone`` is the zone of timestamps written
    without one ("" = the [session] timezone; "UTC" for data saved in UTC without a zone); aware
    timestamps are converted. ``date_format`` is the strftime format of the date column (or of
    the timestamp column when date and time share it), "" = recognised; a file whose dates it
    reads in no row is recognised as usual."""

    timezone: str = ""
    date_format: str = ""
    columns: DataColumns = DataColumns()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        if value:
            SessionSection._tz(value)
        return value

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        if not value:
            return value
        sample = dt.datetime(2024, 11, 28, 13, 45, 30)
        try:
            back = dt.datetime.strptime(sample.strftime(value), value)
        except ValueError:
            back = None
        if back is None or back.date() != sample.date():
            raise ValueError(
                f"{value!r} does not read back the dates it writes: it needs the year, month "
                'and day, e.g. "%d/%m/%Y", "%Y%m%d" or "%d-%b-%Y %H:%M"'
            )
        return value


class AccountSection(_Section):
    """[account]: capital and sizing."""

    capital_inr: Positive = 1_000_000.0
    lots_per_trade: Annotated[int, Field(ge=1)] = 2


class LimitsSection(_Section):
    """[limits]: risk limits enforced before the strategy acts."""

    # of capital; hit -> no more entries and flatten (0.99: practically off)
    daily_loss_limit_pct: Annotated[Fraction, PercentTrap(0.99)] = 0.02
    max_open_positions: Annotated[int, Field(ge=1)] = 1
    max_lots: Annotated[int, Field(ge=1)] = 10


RATE_UPPER = 0.01  # a charge on turnover above 1 % is a percentage typed as a fraction


class DatedRate(_Section):
    """A rate in force from a date (inclusive) until the next entry's date."""

    from_date: dt.date = Field(
        validation_alias=AliasChoices("from", "from_date"), serialization_alias="from"
    )
    pct: Annotated[FractionOrZero, PercentTrap(RATE_UPPER)]


DatedRates = Annotated[tuple[DatedRate, ...], PercentTrap(RATE_UPPER)]


def _dated(*entries: tuple[dt.date, float]) -> Any:
    """A dated-rate field's default: (first day, rate) pairs in date order."""
    default = tuple(DatedRate(from_date=d, pct=p) for d, p in entries)
    return Field(default=default, strict=False, min_length=1)


_APR_2023, _OCT_2024, _APR_2026 = dt.date(2023, 4, 1), dt.date(2024, 10, 1), dt.date(2026, 4, 1)
_DATED_KEYS: tuple[str, ...] = ("stt_sell_pct", "exercise_stt_pct", "exchange_txn_pct")
_DATED_KEYS += ("futures_stt_sell_pct", "futures_exchange_txn_pct")


class CostsSection(_Section):
    """[costs]: Indian F&O charges, applied by trade date (rates as fractions).

    A dated key is a list of ``{ from = DATE, pct = RATE }`` entries, each in force from its date
    until the next one's; a date before the first entry is an error, never a zero. A plain
    number instead of a list is one rate on every date. Sources: ``dyntrail.core.costs``.
    """

    brokerage_per_order_inr: NonNegative = 20.0
    stt_sell_pct: DatedRates = _dated(
        (_APR_2023, 0.000625), (_OCT_2024, 0.001), (_APR_2026, 0.0015)
    )
    exercise_stt_pct: DatedRates = _dated((_APR_2023, 0.00125), (_APR_2026, 0.0015))
    exchange_txn_pct: DatedRates = _dated((_APR_2023, 0.000495), (_OCT_2024, 0.0003503))
    ipft_per_crore_inr: NonNegative = 50.0  # NSE investor-protection fund, from 2023-04-01
    sebi_per_crore_inr: NonNegative = 10.0
    stamp_buy_pct: Annotated[FractionOrZero, PercentTrap(RATE_UPPER)] = 0.00003
    gst_pct: Annotated[FractionOrZero, PercentTrap(0.5)] = 0.18
    # Futures, for trade = "underlying".
    futures_stt_sell_pct: DatedRates = _dated(
        (_APR_2023, 0.000125), (_OCT_2024, 0.0002), (_APR_2026, 0.0005)
    )
    futures_exchange_txn_pct: DatedRates = _dated((_APR_2023, 0.0000183), (_OCT_2024, 0.0000173))
    futures_ipft_per_crore_inr: NonNegative = 10.0
    futures_stamp_buy_pct: Annotated[FractionOrZero, PercentTrap(RATE_UPPER)] = 0.00002

    @field_validator(*_DATED_KEYS, mode="before")
    @classmethod
    def _plain_rate(cls, value: Any) -> Any:
        """A plain number is one rate from the beginning (on every date); the entry's ``pct``
        checks its range."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return ({"from": dt.date.min, "pct": value},)
        return value

    @field_validator(*_DATED_KEYS)
    @classmethod
    def _increasing(cls, value: tuple[DatedRate, ...]) -> tuple[DatedRate, ...]:
        dates = [r.from_date for r in value]
        if dates != sorted(set(dates)):
            raise ValueError("entries must have increasing, distinct 'from' dates")
        return value


class OptionsSection(_Section):
    """[options]: option pricing and order pricing."""

    exit_price_method: Literal["delta_gamma", "reprice", "proportional"] = "delta_gamma"
    risk_free_rate: Annotated[FractionOrZero, PercentTrap(0.25)] = 0.065
    dividend_yield: Annotated[FractionOrZero, PercentTrap(0.1)] = 0.0
    cushion_ticks: Annotated[int, Field(ge=0)] = 2
    cushion_pct: Annotated[FractionOrZero, PercentTrap(0.2)] = 0.0
    cushion_cap_inr: NonNegative = 2.0
    expiry_choice: Literal["nearest_weekly"] = "nearest_weekly"
    skip_expiry_day: bool = False
    min_days_to_expiry: Annotated[int, Field(ge=0)] = 0
    # Entry guards: an ATM option minutes before its expiry, or one of a few rupees, is a lottery
    # ticket, not the design's trade. 0 switches a guard off.
    min_premium_inr: NonNegative = 10.0  # no entry when the option's ask is below this
    min_minutes_to_expiry: Annotated[int, Field(ge=0)] = 60  # ... or it expires sooner


class AcceptanceSection(_Section):
    """[acceptance]: the design document's go-live gate on a replay (``dyntrail accept``)."""

    min_profit_factor: NonNegative = 1.3
    min_sharpe: float = 1.0
    max_drawdown_pct: Annotated[Fraction, PercentTrap(0.5)] = 0.10  # of capital
    max_avg_slippage_pct: Annotated[Fraction, PercentTrap(0.05)] = 0.002  # of premium
    min_months: NonNegative = 12.0
    max_p95_ack_s: Positive = 1.5  # checked when the broker reports acks
    max_reject_ratio: Fraction = 0.01  # likewise


class CalendarSection(_Section):
    """[calendar]: trading days the packaged NSE calendar does not know. ``holidays`` are closures
    to take out (e.g. NSE's list for a year the calendar library does not cover yet; it lists
    holidays through 2026), ``sessions`` are special sessions to add (a Saturday or Sunday
    trading day). Past the library's last listed year the trading days are the weekdays minus
    ``holidays`` plus ``sessions``, with a warning naming this key. See
    ``dyntrail.data.calendar.session_days``."""

    holidays: tuple[dt.date, ...] = Field(default=(), strict=False)
    sessions: tuple[dt.date, ...] = Field(default=(), strict=False)

    @field_validator("holidays", "sessions", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        """TOML dates or "YYYY-MM-DD" strings, sorted, each once; no date-times or numbers."""
        if not isinstance(value, list | tuple):
            raise ValueError("expected a list of dates, e.g. [2027-01-26, 2027-03-22]")
        out = set()
        for v in value:
            d = v
            if isinstance(v, str):
                try:
                    d = dt.date.fromisoformat(v.strip())
                except ValueError:
                    d = None
            if isinstance(d, dt.datetime) or not isinstance(d, dt.date):
                raise ValueError(f"{v!r} is not a date: write it as 2027-01-26")
            out.add(d)
        return tuple(sorted(out))

    @field_validator("sessions")
    @classmethod
    def _not_both(cls, value: tuple[dt.date, ...], info: Any) -> tuple[dt.date, ...]:
        both = sorted(set(value) & set(info.data.get("holidays", ())))
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"dates in both holidays and sessions: {listed}")
        return value


class Config(_Section):
    """The whole configuration. ``Config()`` is the documented default."""

    strategy: StrategySection = StrategySection()
    instrument: InstrumentSection = InstrumentSection()
    session: SessionSection = SessionSection()
    data: DataSection = DataSection()
    account: AccountSection = AccountSection()
    limits: LimitsSection = LimitsSection()
    costs: CostsSection = CostsSection()
    options: OptionsSection = OptionsSection()
    acceptance: AcceptanceSection = AcceptanceSection()
    calendar: CalendarSection = CalendarSection()
    protections: ProtectionsSection = ProtectionsSection()
    backstop: BackstopSection = BackstopSection()
    live: LiveSection = LiveSection()
    # [[instruments]]: several underlyings traded in one run and one account (each table is an
    # [instrument] section); the first becomes ``instrument``. Empty: ``[instrument]`` alone.
    instruments: tuple[InstrumentSection, ...] = Field(default=(), strict=False)

    @model_validator(mode="after")
    def _one_list(self) -> Config:
        if not self.instruments:
            return self
        if "instrument" in self.model_fields_set and self.instrument != self.instruments[0]:
            raise ValueError(
                "write the instruments either as one [instrument] section or as a list of "
                "[[instruments]] tables, not both"
            )
        names = [i.name.upper() for i in self.instruments]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"[[instruments]] lists {', '.join(dup)} more than once")
        object.__setattr__(self, "instrument", self.instruments[0])
        return self

    @property
    def traded(self) -> tuple[InstrumentSection, ...]:
        """Every underlying the run trades, the first being ``instrument``."""
        return self.instruments or (self.instrument,)

    def for_instrument(self, inst: InstrumentSection) -> Config:
        """The configuration as one underlying's run sees it (its ``instrument``)."""
        return self if inst == self.instrument else self.model_copy(update={"instrument": inst})
