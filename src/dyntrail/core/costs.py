"""Indian F&O transaction costs, applied per executed order by trade date.

For one executed order of turnover ``value = price x qty`` (premium for options):

- brokerage: a flat ``brokerage_per_order_inr`` (Rs 20);
- STT: sells only, ``value x rate in force on the trade date`` (options: 0.1 % from 2024-10-01,
  0.15 % from 2026-04-01; futures: 0.02 %, 0.05 %);
- exchange transaction charge: ``value x exchange_txn_pct`` (NSE options 0.03503 %);
- SEBI turnover fee: ``value x sebi_per_crore_inr / 1e7`` (Rs 10 per crore);
- stamp duty: buys only, ``value x stamp_buy_pct`` (options 0.003 %);
- GST: ``gst_pct`` (18 %) of brokerage + transaction charge + SEBI fee.

Each component is rounded to the paisa; the total is their sum, so reported costs reconcile to
the paisa.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dyntrail.core.config import CostsSection, DatedRate


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    brokerage: float
    stt: float
    exchange: float
    sebi: float
    stamp: float
    gst: float

    @property
    def total(self) -> float:
        return round(
            self.brokerage + self.stt + self.exchange + self.sebi + self.stamp + self.gst, 2
        )


def rate_on(rates: tuple[DatedRate, ...], on: dt.date) -> float:
    """The rate in force on ``on`` (the latest entry whose date is on or before it); 0 before
    the first entry (no such charge then)."""
    rate = 0.0
    for r in rates:
        if r.from_date <= on:
            rate = r.pct
        else:
            break
    return rate


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
    if value_inr < 0:
        raise ValueError(f"turnover must be >= 0, got {value_inr}")
    if futures:
        stt_rates, txn, stamp = (
            costs.futures_stt_sell_pct,
            costs.futures_exchange_txn_pct,
            costs.futures_stamp_buy_pct,
        )
    else:
        stt_rates, txn, stamp = costs.stt_sell_pct, costs.exchange_txn_pct, costs.stamp_buy_pct
    brokerage = round(costs.brokerage_per_order_inr, 2) if include_brokerage else 0.0
    stt = 0.0 if is_buy else round(value_inr * rate_on(stt_rates, trade_date), 2)
    exchange = round(value_inr * txn, 2)
    sebi = round(value_inr * costs.sebi_per_crore_inr / 1e7, 2)
    stamp_duty = round(value_inr * stamp, 2) if is_buy else 0.0
    gst = round((brokerage + exchange + sebi) * costs.gst_pct, 2)
    return CostBreakdown(brokerage, stt, exchange, sebi, stamp_duty, gst)
