"""The options screen's compiled parts (numba): the pricing model's quote, the order costs and
the walk of one parameter set over every bar, each with the engine's float steps in the
engine's order. ``dyntrail.research.screen_options`` prepares the arrays and documents what is
supported; this module is imported only when a screen runs (it needs numba).

What each function mirrors, step for step:

- ``quote`` / ``quote_last``: ``data.options_synth.SyntheticQuotes.quote`` / ``.last`` (``math``
  only, as there), with ``on_grid`` the tick rounding of ``core.order_pricing.on_grid``;
- ``round_dec``: Python's ``round(x, ndigits)`` (the decimal nearest to the exact binary value,
  ties to even, as a float), for ``|x| * 10**ndigits`` below 2**52;
- ``order_cost`` / ``exercise_cost``: ``core.costs.order_costs`` / ``exercise_costs``, each
  component rounded to the paisa, the total as ``CostBreakdown.total`` sums it;
- ``walk``: ``Engine.on_bar`` for one long option position at a time (see the module docstring
  of ``screen_options``)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from dyntrail.engine.context import YEAR_SECONDS  # the ACT/365 year (a compile-time constant)
from dyntrail.research.kernel_rules import (
    EXIT_FLATTEN,
    EXIT_STOP,
    EXIT_TARGET,
    NO_EXIT,
    daily_sharpe,
    entry_levels,
    next_bar_exit,
)
from dyntrail.research.screen_options import (
    BREAKER,
    CARRIED,
    COLUMNS,
    EOD,
    HALT,
    K_BROKERAGE,
    K_CLOSE_SEC,
    K_FLAT_MIN,
    K_GST,
    K_IPFT,
    K_LOSS_FLOOR,
    K_MIN_MINUTES,
    K_MIN_PREMIUM,
    K_REENTER,
    K_RR_HIGH,
    K_RR_LOW,
    K_RR_REDUCED,
    K_SEBI,
    K_STAMP,
    K_STEP,
    K_WIDTH,
    LOW,
    NORMAL,
    Q_CHEAP,
    Q_CHEAP_HALF,
    Q_DEN,
    Q_IV_MAX,
    Q_IV_MIN,
    Q_NUM,
    Q_Q,
    Q_R,
    Q_REF_YEARS,
    Q_SKEW,
    Q_SLOPE,
    Q_SMILE,
    Q_SPREAD_K,
    Q_TERM_MAX,
    Q_TERM_MIN,
    Q_TICK,
    REDUCED,
    RISK,
    SETTLED,
    STOP,
    TARGET,
)

MINUTES_PER_YEAR = 365.0 * 24 * 60  # ``engine.entering``'s
INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SPLIT = 134217729.0  # 2**27 + 1: Dekker's split of a double into two halves
_NONE = NO_EXIT  # no exit decided
# ``next_bar_exit``'s reasons are the trade reasons' codes
assert (EXIT_STOP, EXIT_TARGET, EXIT_FLATTEN) == (STOP, TARGET, EOD)
DOWN, UP, NEAREST = 0, 1, 2  # rounding directions of ``on_grid``


@njit(cache=True, nogil=True)
def _product_error(a: float, b: float, p: float) -> float:
    """``a x b - p`` exactly, for ``p`` the rounded product (Dekker's two-product)."""
    c = _SPLIT * a
    ah = c - (c - a)
    al = a - ah
    c = _SPLIT * b
    bh = c - (c - b)
    bl = b - bh
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


@njit(cache=True, nogil=True)
def round_dec(x: float, scale: float) -> float:
    """Python's ``round(x, n)`` with ``scale = 10.0 ** n``: the exact ``x x scale`` rounded to
    a whole number (ties to even), divided by ``scale``."""
    neg = x < 0
    a = -x if neg else x
    y = a * scale
    e = _product_error(a, scale, y)
    fl = math.floor(y)
    frac = y - fl
    n = float(fl)
    if frac > 0.5 or (frac == 0.5 and (e > 0 or (e == 0 and fl % 2 == 1))):
        n += 1.0
    r = n / scale
    return -r if neg else r


@njit(cache=True, nogil=True)
def round2(x: float) -> float:
    return round_dec(x, 100.0)


@njit(cache=True, nogil=True)
def on_grid(price: float, tick: float, how: int, num: float, den: float) -> float:
    """``core.order_pricing.on_grid``: whole ticks (snapped within 1e-9 ticks, or 1e-12
    relative), then the float nearest ``n x tick`` in decimal (``num / den`` is the tick)."""
    n = price / tick
    nearest = math.floor(n + 0.5)
    snap = 1e-12 * abs(n)
    if abs(n - nearest) <= (snap if snap > 1e-9 else 1e-9):
        k = nearest
    elif how == DOWN:
        k = math.floor(n)
    elif how == UP:
        k = math.ceil(n)
    else:
        k = math.floor(n + 0.5)
    return (k * num) / den


@njit(cache=True, nogil=True)
def _theo(
    spot: float, strike: float, t: float, vix: float, qp: np.ndarray, delta: bool
) -> tuple[float, float]:
    """``SyntheticQuotes._theo`` of a call: (model price, spot delta; NaN unless ``delta``)."""
    if t <= 0.0:
        payoff = spot - strike
        slope = 0.5 if spot == strike else 1.0 if payoff > 0 else 0.0
        return (payoff if payoff > 0 else 0.0), slope
    r, q = qp[Q_R], qp[Q_Q]
    term = 1.0 + qp[Q_SLOPE] * math.log(qp[Q_REF_YEARS] / t)
    if term < qp[Q_TERM_MIN]:
        term = qp[Q_TERM_MIN]
    elif term > qp[Q_TERM_MAX]:
        term = qp[Q_TERM_MAX]
    atm = vix * 0.01 * term
    f = spot * math.exp((r - q) * t)
    sqrt_t = math.sqrt(t)
    m = math.log(strike / f) / (atm * sqrt_t)
    mult = 1.0 - qp[Q_SKEW] * m + qp[Q_SMILE] * m * m
    if mult < qp[Q_IV_MIN]:
        mult = qp[Q_IV_MIN]
    elif mult > qp[Q_IV_MAX]:
        mult = qp[Q_IV_MAX]
    iv = atm * mult
    std = iv * sqrt_t
    d1 = math.log(f / strike) / std + 0.5 * std
    n1 = 0.5 * math.erfc(-(1.0 * d1) * INV_SQRT2)
    n2 = 0.5 * math.erfc(-(1.0 * (d1 - std)) * INV_SQRT2)
    live = 1.0 * (f * n1 - strike * n2)
    theo = math.exp(-r * t) * (live if live > 0 else 0.0)
    return theo, (math.exp(-q * t) * 1.0 * n1 if delta else math.nan)


@njit(cache=True, nogil=True)
def _half(theo: float, vix: float, qp: np.ndarray) -> float:
    """The model's half-spread (``SyntheticQuotes.quote``'s ``half``)."""
    tick = qp[Q_TICK]
    half: float = qp[Q_SPREAD_K] * theo * vix
    if half < tick:
        half = tick
    if theo < qp[Q_CHEAP] and half < qp[Q_CHEAP_HALF]:
        half = qp[Q_CHEAP_HALF]
    return half


@njit(cache=True, nogil=True)
def quote(
    spot: float, strike: float, t: float, vix: float, qp: np.ndarray, delta: bool = True
) -> tuple[float, float, float, float]:
    """``SyntheticQuotes.quote`` of a call: (bid, ask, last, delta; NaN unless ``delta``);
    bid 0 is no bid."""
    theo, dlt = _theo(spot, strike, t, vix, qp, delta)
    tick, num, den = qp[Q_TICK], qp[Q_NUM], qp[Q_DEN]
    half = _half(theo, vix, qp)
    last = on_grid(theo, tick, NEAREST, num, den) if theo >= 0.5 * tick else tick
    low = theo - half
    bid = on_grid(low, tick, DOWN, num, den) if low >= tick else 0.0
    ask = on_grid(theo + half, tick, UP, num, den)
    floor = (last if last > bid else bid) + tick
    if ask < floor - 1e-9 * tick:
        ask = on_grid(floor, tick, NEAREST, num, den)
    return bid, ask, last, dlt


@njit(cache=True, nogil=True)
def quote_bid(spot: float, strike: float, t: float, vix: float, qp: np.ndarray) -> float:
    """``quote(...)``'s bid alone (an exit sells at it)."""
    theo = _theo(spot, strike, t, vix, qp, False)[0]
    tick = qp[Q_TICK]
    low = theo - _half(theo, vix, qp)
    return on_grid(low, tick, DOWN, qp[Q_NUM], qp[Q_DEN]) if low >= tick else 0.0


@njit(cache=True, nogil=True)
def quote_last(spot: float, strike: float, t: float, vix: float, qp: np.ndarray) -> float:
    """``SyntheticQuotes.last`` of a call (a position's mark)."""
    theo = _theo(spot, strike, t, vix, qp, False)[0]
    tick = qp[Q_TICK]
    return on_grid(theo, tick, NEAREST, qp[Q_NUM], qp[Q_DEN]) if theo >= 0.5 * tick else tick


@njit(cache=True, nogil=True)
def order_cost(
    value: float, buy: bool, stt_pct: float, txn_pct: float, kc: np.ndarray, brokerage: bool
) -> float:
    """``order_costs(...).total`` of one order of turnover ``value`` (options)."""
    broker = kc[K_BROKERAGE] if brokerage else 0.0
    exchange = round2(value * txn_pct)
    sebi = round2(value * kc[K_SEBI] / 1e7)
    ipft = round2(value * kc[K_IPFT] / 1e7)
    stt = 0.0 if buy else round2(value * stt_pct)
    stamp = round2(value * kc[K_STAMP]) if buy else 0.0
    gst = round2((broker + exchange + sebi + ipft) * kc[K_GST])
    fees = broker + exchange + sebi + ipft + gst
    return round2(fees + stt + stamp)


@njit(cache=True, nogil=True)
def exercise_cost(intrinsic_value: float, rate: float) -> float:
    """``exercise_costs(...).total``: STT on the intrinsic value, nothing else."""
    stt = round2(intrinsic_value * rate)
    fees = 0.0 + 0.0 + 0.0 + 0.0 + 0.0
    return round2(fees + stt + 0.0)


@njit(cache=True, nogil=True)
def atm_strike(price: float, step: float) -> float:
    """``core.strikes.atm_strike`` for a whole-number step (its ``round(.., 10)`` changes
    nothing then)."""
    return math.floor(price / step + 0.5 + 1e-9) * step


@njit(cache=True, nogil=True)
def choose_strike(
    close: float, t: float, vix: float, gap: bool, qp: np.ndarray, kc: np.ndarray
) -> float:
    """``Entering._choose_strike`` for a call: ATM, or on a gap morning the liquid candidate
    (``choose_gap_strike``'s defaults) with delta nearest 0.5, then the narrowest spread, then
    nearest ATM, then the lower strike; ATM when none is liquid."""
    step = kc[K_STEP]
    atm = atm_strike(close, step)
    if not gap:
        return atm
    width = int(kc[K_WIDTH])
    best = -1.0
    b0 = b1 = b2 = 0.0
    for j in range(-width, width + 1):
        k = atm + j * step
        if k <= 0:
            continue
        bid, ask, _, delta = quote(close, k, t, vix, qp, True)
        if not math.isfinite(delta):
            continue
        mid = (bid + ask) / 2.0
        spread = (ask - bid) / mid if mid > 0 else math.inf
        if not (bid > 0 and ask > bid and spread <= 0.05):
            continue
        k0 = round_dec(abs(abs(delta) - 0.5), 1e9)
        k1 = round_dec(spread, 1e9)
        k2 = round_dec(abs(k - atm), 1e9)
        if best < 0 or _before(k0, k1, k2, k, b0, b1, b2, best):
            b0, b1, b2, best = k0, k1, k2, k
    return atm if best < 0 else best


@njit(cache=True, nogil=True)
def _before(a0: float, a1: float, a2: float, a3: float, b0: float, b1: float, b2: float,
            b3: float) -> bool:  # fmt: skip
    """``(a0, a1, a2, a3) < (b0, b1, b2, b3)``, as Python compares tuples."""
    if a0 != b0:
        return a0 < b0
    if a1 != b1:
        return a1 < b1
    if a2 != b2:
        return a2 < b2
    return a3 < b3


@njit(cache=True, nogil=True)
def _bid(
    spot: float, strike: float, expiry_close: int, at: int, vix: float, qp: np.ndarray
) -> float:
    """The model's bid for the call at ``at`` (seconds; ``Run.tte``'s years to its expiry)."""
    t = max(float(expiry_close - at), 0.0) / YEAR_SECONDS
    return quote_bid(spot, strike, t, vix, qp)


# ``acc``, what ``walk`` adds up: trades, winners, PnL, its peak, the largest drawdown, the day's
A_TRADES, A_WINS, A_PNL, A_PEAK, A_MDD, A_DAY = range(6)


@njit(cache=True, nogil=True)
def _closed(  # type: ignore[no-untyped-def]
    acc, rec, out, entry_bar, exit_bar, entry_price, value, qty, why, strike, costs, buy_value,
    exit_time, expiry,
):  # fmt: skip
    """The last leg (``value``, with the trade's ``costs`` in full) booked: the trade's PnL
    (``Trade.pnl_net``) added up, and its record when ``rec``."""
    gross = round2((0.0 + value) - buy_value)
    net = round2(gross - costs)
    if rec:
        row = int(acc[A_TRADES])
        out[row, 0] = entry_bar
        out[row, 1] = exit_bar
        out[row, 2] = entry_price
        out[row, 3] = value / qty
        out[row, 4] = why
        out[row, 5] = strike
        out[row, 6] = qty
        out[row, 7] = costs
        out[row, 8] = net
        out[row, 9] = exit_time
        out[row, 10] = expiry
    acc[A_TRADES] += 1
    if net > 0:
        acc[A_WINS] += 1
    acc[A_PNL] += net
    acc[A_DAY] += net
    if acc[A_PNL] > acc[A_PEAK]:
        acc[A_PEAK] = acc[A_PNL]
    if acc[A_PEAK] - acc[A_PNL] > acc[A_MDD]:
        acc[A_MDD] = acc[A_PEAK] - acc[A_PNL]


@njit(cache=True, nogil=True)
def _sold(  # type: ignore[no-untyped-def]
    acc, rec, out, entry_bar, exit_bar, entry_price, bid, qty, why, strike, costs, buy_value,
    exit_time, expiry, stt, txn, kc,
):  # fmt: skip
    """The position sold whole at ``bid``: the sell's costs added to the trade's (``Fills``),
    then the trade booked (``_closed``)."""
    value = bid * qty
    costs += order_cost(value, False, stt, txn, kc, True)
    _closed(acc, rec, out, entry_bar, exit_bar, entry_price, value, qty, why, strike, costs,
            buy_value, exit_time, expiry)  # fmt: skip


@njit(cache=True, nogil=True)
def walk(  # type: ignore[no-untyped-def]
    o, h, lo, c, atr, vix, minute, day, entries, start_sec, close_sec, tier, brk,
    day_date, exp_close, exp_date, qty_day, gap, stt, txn, ex_rate, ex_rate_exp,
    qp, kc, sl, rr, be, k, mult, rec, out,
):  # fmt: skip
    """One parameter set over every bar, in ``Engine.on_bar``'s order. ``rec``: each trade
    into ``out`` (``COLUMNS``). Returns (trades, wins, PnL net, Sharpe of the daily PnL, max
    drawdown of the cumulative PnL), in rupees."""
    n = len(c)
    flat_min = kc[K_FLAT_MIN]
    floor_pnl = kc[K_LOSS_FLOOR]
    reenter = kc[K_REENTER] != 0.0
    close_s = kc[K_CLOSE_SEC]
    tick = qp[Q_TICK]
    acc = np.zeros(6)
    in_pos = False
    closing = _NONE  # the exit decided (one waiting for a bid keeps it), else _NONE
    carried = False  # open past a session's close: sold at the next bar's open
    entry_u = stop = target = be_level = strike = entry_price = buy_value = costs = 0.0
    entry_bar = d0 = qty = 0
    e_close = e_date = 0
    halted = may_halt = False
    s1 = s2 = 0.0
    ndays = 0
    cur = day[0] if n else 0
    for i in range(n + 1):
        # ---- a session ends: before bar i of another day, or at the end of the data ------
        if i == n or day[i] != cur:
            if n == 0:
                break
            if i == n and in_pos and closing == _NONE:  # ``finish``: out at the last close
                closing = EOD
                bid = _bid(c[n - 1], strike, e_close, close_sec[n - 1], vix[n - 1], qp)
                if bid > 0.0:
                    _sold(acc, rec, out, entry_bar, n - 1, entry_price, bid, qty, EOD,
                          strike, costs, buy_value, close_sec[n - 1], e_date,
                          stt[cur], txn[cur], kc)  # fmt: skip
                    in_pos = False
            if in_pos:  # still open at the session's close (``Closing.session_closed``)
                if e_date <= day_date[cur]:  # its expiry: settled at the intrinsic value
                    payoff = c[i - 1] - strike
                    value = round2(payoff if payoff > 0.0 else 0.0) * qty
                    costs += exercise_cost(value, ex_rate[cur])
                    at = day_date[cur] * 86400 + close_s
                    _closed(acc, rec, out, entry_bar, i - 1, entry_price, value, qty, SETTLED,
                            strike, costs, buy_value, at, e_date)  # fmt: skip
                    in_pos = False
                elif i < n:
                    carried = True
                    closing = _NONE
            if in_pos and i < n and e_date < day_date[day[i]]:
                # (``Engine._new_day``) the data has no bar of its expiry day: settled there
                payoff = c[i - 1] - strike
                value = round2(payoff if payoff > 0.0 else 0.0) * qty
                costs += exercise_cost(value, ex_rate_exp[d0])
                _closed(acc, rec, out, entry_bar, i - 1, entry_price, value, qty, SETTLED,
                        strike, costs, buy_value, e_date * 86400 + close_s, e_date)  # fmt: skip
                in_pos = False
            s1 += acc[A_DAY]
            s2 += acc[A_DAY] * acc[A_DAY]
            ndays += 1
            if i == n:
                break
            acc[A_DAY] = 0.0
            halted = False
            cur = day[i]
            if in_pos:
                may_halt = (0.0 + (tick - entry_price) * qty) - costs <= floor_pnl
        exited = False
        if in_pos:
            if carried or closing != _NONE:
                # ---- a carried position, or an exit waiting for a bid: at this open ------
                if carried:
                    carried = False
                    closing = CARRIED
                bid = _bid(o[i], strike, e_close, start_sec[i], vix[i - 1], qp)
                if bid > 0.0:
                    _sold(acc, rec, out, entry_bar, i, entry_price, bid, qty, closing,
                          strike, costs, buy_value, start_sec[i], e_date,
                          stt[cur], txn[cur], kc)  # fmt: skip
                    in_pos = False
                    exited = True
            else:
                # ---- the bar walked (next-bar semantics: ``Position._next_bar``) ---------
                level, why, stop = next_bar_exit(o[i], lo[i], h[i], c[i], atr[i], minute[i],
                                                 flat_min, entry_u, stop, target, be_level,
                                                 mult)  # fmt: skip
                if why != _NONE:  # sold at the bid with the underlying at the level
                    closing = why
                    bid = _bid(level, strike, e_close, close_sec[i], vix[i - 1], qp)
                    if bid > 0.0:
                        _sold(acc, rec, out, entry_bar, i, entry_price, bid, qty, why,
                              strike, costs, buy_value, close_sec[i], e_date,
                              stt[cur], txn[cur], kc)  # fmt: skip
                        in_pos = False
                        exited = True
        if in_pos:
            # ---- at the close: the breaker's flatten, else the daily loss limit ----------
            action = _NONE
            if brk[i]:
                if closing == _NONE:
                    action = BREAKER
            elif not halted and may_halt:  # the mark only when the limit could be reached
                t = max(float(e_close - close_sec[i]), 0.0) / YEAR_SECONDS
                mark = quote_last(c[i], strike, t, vix[i], qp)
                if (acc[A_DAY] + (mark - entry_price) * qty) - costs <= floor_pnl:
                    halted = True
                    action = RISK
            if action != _NONE:
                closing = action
                bid = _bid(c[i], strike, e_close, close_sec[i], vix[i], qp)
                if bid > 0.0:
                    _sold(acc, rec, out, entry_bar, i, entry_price, bid, qty, action,
                          strike, costs, buy_value, close_sec[i], e_date,
                          stt[cur], txn[cur], kc)  # fmt: skip
                    in_pos = False
        if not in_pos and not halted and acc[A_DAY] <= floor_pnl:
            halted = True  # flat at the close: the day's realized PnL alone reached the limit
        # ---- an entry at the close (``Entering.enter``) ---------------------------------
        if (
            not in_pos
            and entries[i]
            and not (exited and not reenter)
            and not halted
            and minute[i] < flat_min
            and tier[i] != HALT
        ):
            d = day[i]
            t = max(float(exp_close[d] - close_sec[i]), 0.0) / YEAR_SECONDS
            close = c[i]
            kk = choose_strike(close, t, vix[i], gap[d], qp, kc)
            ask = quote(close, kk, t, vix[i], qp, False)[1]
            # ``_entry_guard``: an ask to buy at, time to expiry, the premium
            if (
                ask > 0
                and not t * MINUTES_PER_YEAR < kc[K_MIN_MINUTES]
                and not (ask < kc[K_MIN_PREMIUM])
            ):
                tr = tier[i]
                rr_t = rr
                if tr == LOW:
                    rr_t = kc[K_RR_LOW]
                elif tr == REDUCED:
                    rr_t = kc[K_RR_REDUCED]
                elif tr != NORMAL:
                    rr_t = kc[K_RR_HIGH]
                entry_u = close
                stop, target, be_level = entry_levels(close, sl, k, atr[i], rr_t, be)
                strike = kk
                qty = qty_day[d]
                value = ask * qty
                buy_value = 0.0 + value
                entry_price = buy_value / qty
                costs = 0.0 + order_cost(value, True, stt[d], txn[d], kc, True)
                # the day's PnL (``Book.day_pnl``) with the model's lowest mark, one tick: the
                # same while the position is open (the day's realized PnL and the trade's costs
                # change only when a trade closes)
                may_halt = (acc[A_DAY] + (tick - entry_price) * qty) - costs <= floor_pnl
                e_close, e_date = exp_close[d], exp_date[d]
                entry_bar, d0 = i, d
                closing = _NONE
                carried = False
                in_pos = True
    sharpe = daily_sharpe(s1, s2, ndays)
    return int(acc[A_TRADES]), int(acc[A_WINS]), acc[A_PNL], sharpe, acc[A_MDD]


@njit(cache=True, parallel=True, nogil=True)
def many(  # type: ignore[no-untyped-def]
    o, h, lo, c, atr, vix, minute, day, entries, start_sec, close_sec, tier, brk,
    day_date, exp_close, exp_date, qty_day, gap, stt, txn, ex_rate, ex_rate_exp, qp, kc, params,
):  # fmt: skip
    """``walk`` for each row of ``params`` (sl, rr, be, initial ATR multiple, trail multiple),
    in parallel."""
    m = params.shape[0]
    trades = np.zeros(m, np.int64)
    wins = np.zeros(m, np.int64)
    pnl = np.zeros(m)
    sharpe = np.zeros(m)
    mdd = np.zeros(m)
    dummy = np.zeros((1, len(COLUMNS)))
    for j in prange(m):
        p = params[j]
        t, w, q, s, d = walk(o, h, lo, c, atr, vix, minute, day, entries, start_sec, close_sec,
                             tier, brk, day_date, exp_close, exp_date, qty_day, gap, stt, txn,
                             ex_rate, ex_rate_exp, qp, kc, p[0], p[1], p[2], p[3], p[4], False,
                             dummy)  # fmt: skip
        trades[j], wins[j], pnl[j], sharpe[j], mdd[j] = t, w, q, s, d
    return trades, wins, pnl, sharpe, mdd
