"""Indian F&O transaction costs, applied per executed order by trade date.

For one executed order of turnover ``value = price x qty`` (premium for options):

- brokerage: a flat ``brokerage_per_order_inr`` (Rs 20), once per order;
- STT: sells only, ``value x stt_sell_pct`` in force on the trade date;
- exchange transaction charge: ``value x exchange_txn_pct`` in force on the trade date;
- SEBI turnover fee: ``value x sebi_per_crore_inr / 1e7`` (Rs 10 per crore);
- IPFT, NSE's investor-protection fund levy: ``value x ipft_per_crore_inr / 1e7``;
- stamp duty: buys only, ``value x stamp_buy_pct``;
- GST: ``gst_pct`` (18 %) of brokerage + transaction charge + SEBI fee + IPFT.

Dated rates of the ``[costs]`` defaults (each in force from its date until the next one's):

====================================  ==========  ==========  ==========
key (rate, as a fraction of value)    2023-04-01  2024-10-01  2026-04-01
====================================  ==========  ==========  ==========
``stt_sell_pct`` (option premium)     0.0625 %    0.1 %       0.15 %
``futures_stt_sell_pct``              0.0125 %    0.02 %      0.05 %
``exercise_stt_pct`` (intrinsic)      0.125 %     (same)      0.15 %
``exchange_txn_pct`` (NSE, premium)   0.0495 %    0.03503 %   (same)
``futures_exchange_txn_pct`` (NSE)    0.00183 %   0.00173 %   (same)
====================================  ==========  ==========  ==========

Undated: IPFT Rs 50 per crore of premium (options), Rs 10 per crore (futures), since 2023-04-01;
SEBI fee Rs 10 per crore; stamp duty 0.003 % (options) / 0.002 % (futures) of buys; GST 18 %.

Sources. STT: the Finance Act 2023 (options 0.05 -> 0.0625 %, futures 0.01 -> 0.0125 % from
1 April 2023); the Finance (No. 2) Act 2024 (options 0.1 %, futures 0.02 % from 1 October 2024);
the Budget speech of 1 February 2026 ("raise the STT on futures to 0.05 % from the present
0.02 %. STT on options premium and exercise of options are both proposed to be raised to 0.15 %
from the present rates of 0.1 % and 0.125 %"), in force from 1 April 2026 (Business Today, NDTV
Profit, 1 February 2026). NSE transaction charges from 1 October 2024: NSE circular of
27 September 2024 (futures Rs 1.73, options Rs 35.03 per lakh; one flat rate for every member).
Before that NSE charged by slabs of a member's volume; the 2023-04-01 defaults are the published
retail figures and no NSE circular confirms them: override the key with your contract notes'
rate. IPFT: NSE's release of 24 March 2023 (from Rs 0.01 to Rs 10 per crore on futures and
Rs 50 per crore on option premium, from 1 April 2023). GST on IPFT: Zerodha's support page
"What are IPFT charges?" lists it "+ 18 % GST", as does Fyers's (Upstox's help page says GST
does not apply; on Rs 50 per crore the difference is Rs 9 per crore of premium).

Exercise (``exercise_costs``): an index option bought and held in the money to expiry is settled
by the exchange in cash at its intrinsic value; STT is charged on that intrinsic value at
``exercise_stt_pct`` (Zerodha, "What charges are levied if option positions get exercised?").
The settlement is not a trade: no brokerage, exchange charge, SEBI fee, IPFT or stamp duty is
charged here (a broker that bills brokerage on exercise is not modelled), so no GST either.

Each component is rounded to the paisa; the total is their sum, so reported costs reconcile to
the paisa. A trade date before the first entry of a dated key raises ``ConfigError`` naming the
key: a charge is never silently zero. ``check_cost_coverage`` makes the same check before a run.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from dyntrail.core.config import CostsSection, DatedRate
from dyntrail.errors import ConfigError

PARTS = ("brokerage", "stt", "exchange", "sebi", "ipft", "stamp", "gst")
OPTION_DATED_KEYS = ("stt_sell_pct", "exercise_stt_pct", "exchange_txn_pct")
FUTURES_DATED_KEYS = ("futures_stt_sell_pct", "futures_exchange_txn_pct")
_CRORE = 1e7


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """One order's (or one settlement's) charges in INR, each rounded to the paisa."""

    brokerage: float = 0.0
    stt: float = 0.0
    exchange: float = 0.0
    sebi: float = 0.0
    ipft: float = 0.0
    stamp: float = 0.0
    gst: float = 0.0

    def parts(self) -> dict[str, float]:
        """The components by name (``PARTS`` order); they sum to ``total``. The functions below
        build every component rounded to the paisa already."""
        return {
            "brokerage": self.brokerage,
            "stt": self.stt,
            "exchange": self.exchange,
            "sebi": self.sebi,
            "ipft": self.ipft,
            "stamp": self.stamp,
            "gst": self.gst,
        }

    @property
    def total(self) -> float:
        fees = self.brokerage + self.exchange + self.sebi + self.ipft + self.gst
        return round(fees + self.stt + self.stamp, 2)


def _uncovered(key: str, rates: tuple[DatedRate, ...], on: dt.date) -> str | None:
    """Why ``rates`` has no rate on ``on`` (None when it has one)."""
    first = rates[0].from_date
    if on >= first:
        return None
    return (
        f"[costs] {key}: no rate for {on.isoformat()}; the first entry starts "
        f"{first.isoformat()} (add an entry such as {{ from = {on.isoformat()}, pct = ... }} "
        f"with the rate then in force, or start the replay on or after {first.isoformat()})"
    )


def rate_on(rates: tuple[DatedRate, ...], on: dt.date, key: str) -> float:
    """The rate of ``[costs] key`` in force on ``on``: the latest entry whose date is on or before
    it. A date before the first entry raises ``ConfigError`` naming the key, the date and the
    first covered date (there is no silent zero)."""
    rate = -1.0
    for r in rates:  # a few entries, in date order
        if r.from_date > on:
            break
        rate = r.pct
    if rate < 0.0:
        raise ConfigError(str(_uncovered(key, rates, on)))
    return rate


def check_cost_coverage(costs: CostsSection, first_day: dt.date, futures: bool) -> None:
    """Refuse a run whose first day a dated ``[costs]`` key does not cover (entries stay in force,
    so covering the first day covers every later one). ``futures`` selects the keys of trading
    the underlying's futures, else those of options. Raises one ``ConfigError`` listing every
    uncovered key."""
    keys = FUTURES_DATED_KEYS if futures else OPTION_DATED_KEYS
    problems = [_uncovered(k, getattr(costs, k), first_day) for k in keys]
    found = [p for p in problems if p is not None]
    if found:
        raise ConfigError(found)


def _check_value(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite amount >= 0, got {value}")


_Rates = tuple[float, float, float, float, float, float, float]
_RATES: dict[tuple[int, dt.date, bool], tuple[CostsSection, _Rates]] = {}


def _rates_on(costs: CostsSection, trade_date: dt.date, futures: bool) -> _Rates:
    """(brokerage, STT, exchange, SEBI and IPFT per crore, stamp, GST) of one trade date: looked
    up once per configuration, date and kind (a run asks the same day's rates for every
    order)."""
    key = (id(costs), trade_date, futures)
    hit = _RATES.get(key)
    if hit is not None and hit[0] is costs:
        return hit[1]
    if futures:
        stt_key, txn_key = FUTURES_DATED_KEYS
        stamp_pct, ipft_per_crore = costs.futures_stamp_buy_pct, costs.futures_ipft_per_crore_inr
    else:
        stt_key, _, txn_key = OPTION_DATED_KEYS
        stamp_pct, ipft_per_crore = costs.stamp_buy_pct, costs.ipft_per_crore_inr
    rates = (
        round(costs.brokerage_per_order_inr, 2),
        rate_on(getattr(costs, stt_key), trade_date, stt_key),
        rate_on(getattr(costs, txn_key), trade_date, txn_key),
        costs.sebi_per_crore_inr,
        ipft_per_crore,
        stamp_pct,
        costs.gst_pct,
    )
    if len(_RATES) > 4096:  # a long-lived process with many configurations
        _RATES.clear()
    _RATES[key] = (costs, rates)
    return rates


def order_costs(
    costs: CostsSection,
    trade_date: dt.date,
    *,
    is_buy: bool,
    value_inr: float,
    futures: bool,
    include_brokerage: bool = True,
) -> CostBreakdown:
    """Costs of one executed order (see the module docstring). Brokerage is charged once per
    order: a second fill of the same order passes ``include_brokerage=False``."""
    _check_value("turnover value_inr", value_inr)
    broker, stt_pct, txn_pct, sebi_crore, ipft_crore, stamp_pct, gst_pct = _rates_on(
        costs, trade_date, futures
    )
    brokerage = broker if include_brokerage else 0.0
    exchange = round(value_inr * txn_pct, 2)
    sebi = round(value_inr * sebi_crore / _CRORE, 2)  # per crore, divided as written
    ipft = round(value_inr * ipft_crore / _CRORE, 2)
    return CostBreakdown(
        brokerage,
        0.0 if is_buy else round(value_inr * stt_pct, 2),
        exchange,
        sebi,
        ipft,
        round(value_inr * stamp_pct, 2) if is_buy else 0.0,
        round((brokerage + exchange + sebi + ipft) * gst_pct, 2),
    )


def exercise_costs(
    costs: CostsSection, trade_date: dt.date, *, intrinsic_value_inr: float
) -> CostBreakdown:
    """Costs of an option held in the money to expiry and settled by the exchange: STT at
    ``exercise_stt_pct`` on ``intrinsic_value_inr`` (intrinsic value per unit x quantity), and
    nothing else (see the module docstring). An option expiring worthless has zero intrinsic
    value and costs nothing."""
    _check_value("intrinsic_value_inr", intrinsic_value_inr)
    rate = rate_on(costs.exercise_stt_pct, trade_date, "exercise_stt_pct")
    return CostBreakdown(stt=round(intrinsic_value_inr * rate, 2))
