"""The commented starter config written by ``dyntrail config init``.

It loads to exactly the built-in defaults (a test holds it to that), so it doubles as the
config reference.
"""

STARTER_TOML = """\
# dyntrail configuration. Every key is optional: a missing key takes the default shown here.
# Percentages named *_pct are fractions: 0.006 = 0.6 %. Times are exchange time, "HH:MM:SS".
# A fraction key's comment shows its plausible bound, e.g. [<= 0.05]: a value above it reads as a
# percentage typed by mistake (0.6 for 0.6 %) and is an error that gives the fraction to write.

# ---- The design document's block (loads unchanged) -------------------------------------------
[strategy]
name = "rust_dynamic_targets"

[strategy.vix]                     # half-open tiers [min, max); below normal_min is LOW
normal_min = 12.0
normal_max = 18.0
reduced_min = 18.0
reduced_max = 25.0
high_min = 25.0
high_max = 30.0
halt_above = 30.0                  # VIX >= this: HALT, no entries

[strategy.risk]
sl_underlying_pct = 0.006          # risk unit: 0.6 % adverse move of the underlying [<= 0.05]
trail_to_be_underlying_pct = 0.004 # +0.4 % move -> stop to break-even [<= 0.05]
time_stop_min = 30                 # no BE and no T1 within this -> exit (clocked runs)
initial_stop_atr_mult = 0.0        # > 0: initial stop at the tighter of SL and this x ATR

[strategy.targets]
base_rr = 1.5                      # rr at NORMAL
rr_elevated_vix = 1.2              # rr at REDUCED
rr_high_vix = 1.0                  # rr at HIGH
rr_low_vix = 1.8                   # rr at LOW
scale_out_ratio = 0.5              # share sold at T1, rounded down to whole lots
t2_extra_rr = 0.5                  # T2 = entry +/- (rr + this) x risk
single_lot_at_t1 = "exit_all"      # one lot at T1: "exit_all" or "skip" (keep it, trail it)

[strategy.atr]
period = 14                        # Wilder ATR, seeded as TA-Lib
multiplier_trail = 2.5             # trail = price -/+ this x ATR after T1

[strategy.time]
entry_start = "09:20:00"
entry_end = "15:00:00"
flatten = "15:15:00"               # everything is flat by this time

# ---- dyntrail's additions ---------------------------------------------------------------------
[strategy.bars]
semantics = "path"                 # "path": open, adverse, favourable, close (stops move in-bar)
                                   # "next_bar": stop moves at the close act from the next bar

[strategy.trail]
method = "atr"                     # "atr" or "swing" (beyond the last confirmed swing)
start = "t1"                       # trail after T1 ("t1", the design) or from the entry
swing_bars = 2                     # N-bar fractals, confirmed N bars later
swing_buffer_pct = 0.0             # swing trail sits this far beyond the swing [<= 0.05]

# Regime upgrade: per-tier trail rule, e.g.
# [strategy.trail.by_tier.high]
# method = "swing"
# [strategy.trail.by_tier.reduced]
# method = "atr"
# multiplier = 2.0

[strategy.momentum]                # applied when a context is given (engine runs)
enabled = true
stretch_atr = 2.0                  # entries stretched beyond this many ATRs from VWAP ...
shrink_per_atr = 0.1               # ... lose this much rr per further ATR
swing_bonus = 0.15                 # swing structure in favour: rr x (1 + this)
swing_penalty = 0.15               # against: rr x (1 - this)
min_factor = 0.6
max_factor = 1.4

[strategy.time_left]               # shrink targets that cannot be reached before flatten
enabled = true
k = 1.5                            # T2 distance <= k x ATR x sqrt(bars left)
min_t1_rr = 0.5                    # but T1 never below this x risk

[strategy.breaker]                 # VIX-spike circuit breaker
spike_points = 5.0                 # VIX up more than this ...
spike_window_min = 10              # ... within this many minutes (timestamps, not bars)
cooldown_min = 30                  # stays tripped this long after the latest spike
policy = "flatten"                 # "flatten" or "block_entries"

[strategy.entries]
adx_period = 14
adx_min = 20.0                     # trade only when ADX >= this
adx_bias = true                    # +DI > -DI -> call, else put
vwap_gate = true                   # calls only above session VWAP, puts only below
gap_pct = 0.005                    # open gapping beyond this from the previous close [<= 0.1] ...
gap_delay_min = 15                 # ... delays entries this many minutes
gap_strike_range = 2               # ... and widens the strike choice to ATM +/- this many steps
max_trades_per_day = 3
reenter_same_bar = true            # a new entry may open at the close of a bar that exited

[instrument]
name = "NIFTY"                     # packaged specs: NIFTY, BANKNIFTY (dated lot sizes, expiries)
trade = "options"                  # "options" (ATM calls/puts) or "underlying" (futures)
underlying_slippage_ticks = 1      # trade = "underlying": fills this many ticks worse

# Override the packaged contract spec, or define another market:
# A key given here replaces the packaged list whole. Lot sizes belong to the contract: an entry
# covers the weekly contracts expiring on or after first_expiry and the monthlies expiring on or
# after first_monthly_expiry (default: first_expiry). Freeze quantities and expiry rules are
# dated by day. A date no entry covers stops the run before it starts, naming the key to extend.
# [instrument.spec]
# strike_step = 50
# tick_size = 0.05
# freeze_qty = 1800                # or [{ from = 2025-11-03, freeze_qty = 1800 }, ...]
# lot_sizes = [
#     { lot_size = 75, first_expiry = 2025-01-02, first_monthly_expiry = 2025-02-27 },
#     { lot_size = 65, first_expiry = 2026-01-06, first_monthly_expiry = 2026-01-27 },
# ]
# expiry_rules = [                 # monthly_weekday: monthly on that weekday, no weekly that week
#     { from = 2025-09-01, weekday = "tuesday", cycle = "weekly" },
# ]

[session]
timezone = "Asia/Kolkata"          # naive timestamps are in this timezone
open = "09:15:00"
close = "15:30:00"
bar_minutes = 0                    # bar size of the data in minutes; 0 = inferred

[data]                             # reading data files; `dyntrail data check DIR` shows the result
timezone = ""                      # zone of timestamps written without one; "" = [session] timezone
                                   # (data saved in UTC without a zone: "UTC")
date_format = ""                   # strftime format of the date column, e.g. "%d.%m.%Y"

[data.columns]                     # the file's header for a column not recognised; "": recognised
timestamp = ""                     # one column with date and time, e.g. "Datetime" ...
date = ""                          # ... or a date column ...
time = ""                          # ... and a time column
open = ""
high = ""
low = ""
close = ""                         # e.g. "Last"
volume = ""

[account]
capital_inr = 1000000.0
lots_per_trade = 2

[limits]
daily_loss_limit_pct = 0.02        # of capital; hit -> no more entries, flatten [<= 0.99]
                                   # (0.99: practically off)
max_open_positions = 1
max_lots = 10

[costs]                            # Indian F&O charges by trade date; a date before a list's
brokerage_per_order_inr = 20.0     # first entry is an error (add an entry to replay earlier)
stt_sell_pct = [                   # STT on option sells (premium) [<= 0.01]
    { from = 2023-04-01, pct = 0.000625 },
    { from = 2024-10-01, pct = 0.001 },
    { from = 2026-04-01, pct = 0.0015 },
]
exercise_stt_pct = [               # STT on intrinsic value settled in the money [<= 0.01]
    { from = 2023-04-01, pct = 0.00125 },
    { from = 2026-04-01, pct = 0.0015 },
]
exchange_txn_pct = [               # NSE transaction charge on premium [<= 0.01]
                                   # (a plain number instead of the list: every date)
    { from = 2023-04-01, pct = 0.000495 },
    { from = 2024-10-01, pct = 0.0003503 },
]
ipft_per_crore_inr = 50.0          # NSE investor-protection fund levy, per crore of premium
sebi_per_crore_inr = 10.0
stamp_buy_pct = 0.00003            # stamp duty on buys [<= 0.01]
gst_pct = 0.18                     # on brokerage + transaction + SEBI + IPFT [<= 0.5]
futures_stt_sell_pct = [           # trade = "underlying": STT on futures sells [<= 0.01]
    { from = 2023-04-01, pct = 0.000125 },
    { from = 2024-10-01, pct = 0.0002 },
    { from = 2026-04-01, pct = 0.0005 },
]
futures_exchange_txn_pct = [       # [<= 0.01]
    { from = 2023-04-01, pct = 0.0000183 },
    { from = 2024-10-01, pct = 0.0000173 },
]
futures_ipft_per_crore_inr = 10.0
futures_stamp_buy_pct = 0.00002    # [<= 0.01]

[options]
exit_price_method = "delta_gamma"  # "delta_gamma", "reprice" or "proportional"
risk_free_rate = 0.065             # a fraction, like *_pct: 0.065 = 6.5 % [<= 0.25]
dividend_yield = 0.0               # likewise [<= 0.1]
cushion_ticks = 2                  # marketable-limit cushion ...
cushion_pct = 0.0                  # ... or this share of premium [<= 0.2], whichever is larger ...
cushion_cap_inr = 2.0              # ... capped here
expiry_choice = "nearest_weekly"
skip_expiry_day = false            # true: on expiry day trade the next expiry
min_days_to_expiry = 0             # calendar days
min_premium_inr = 10.0             # entry guard: no entry when the option's ask is below this
min_minutes_to_expiry = 60         # entry guard: ... or when it expires sooner (0: off)

[acceptance]                       # the go-live gate (dyntrail accept RUN_DIR)
min_profit_factor = 1.3
min_sharpe = 1.0                   # daily returns, annualised
max_drawdown_pct = 0.10            # of capital [<= 0.5]
max_avg_slippage_pct = 0.002       # of premium [<= 0.05]
min_months = 12.0                  # of replayed data
max_p95_ack_s = 1.5                # when the broker reports acks
max_reject_ratio = 0.01            # likewise

[calendar]                         # NSE trading days the packaged calendar does not know
holidays = []                      # closures, e.g. NSE's list for a year after 2026 (the
                                   # calendar library lists holidays through 2026; later years
                                   # are weekdays minus these, with a warning)
sessions = []                      # special sessions, e.g. a Saturday or Sunday trading day

[protections]                      # hold new entries back after losses; 0 switches a rule off
cooldown_after_stop_min = 0        # after a trade closed by its stop: no entry for N minutes
max_losing_trades = 0              # after N losing trades in a day: no entry for the day
max_same_direction = 0             # at most N entries a day in one direction
drawdown_lockout_pct = 0.0         # day PnL this far (of capital) below its high: no entry [<= 0.5]
# unlock_at = "13:00:00"           # the day's lockouts (losing trades, drawdown) end at this time

[backstop]                         # a stop-limit resting at the exchange for each position
enabled = false                    # place, move and cancel it (README: Backstop)
beyond_pct = 0.002                 # trigger this far (of the underlying) past own stop [<= 0.05]
limit_room_pct = 0.1               # its limit this far (of the trigger) past the trigger [<= 0.5]
modify_step_pct = 0.0005           # moved when the own stop tightens by more than this [<= 0.05]
max_modifications = 20             # modifications spent per order at most (Kite allows 25)
escalate_after_s = 10.0            # triggered and unfilled this long: cancelled, own exit sent

[live]                             # dyntrail live on Kite Connect (README: Live); no credentials
confirm = false                    # real orders need this or --confirm-live
product = "MIS"                    # MIS (intraday) or NRML
market_protection = -1             # -1: Kite's automatic; else a percentage 1-100
algo_id = ""                       # the exchange's algo id, when your broker gives one
order_rate_per_s = 8.0             # order calls a second (Kite allows 10)
poll_s = 1.0                       # the order book is read this often while orders work
resend_after_s = 10.0              # an order whose send was lost is sent again no sooner
stale_s = 5.0                      # no tick for this long: no entries until ticks return
strikes_around = 5                 # option strikes subscribed either side of the money
quote_max_age_s = 10.0             # an option tick older than this is no quote
warmup_days = 5                    # days of 1-minute history read for the indicators
logout_at_end = true               # a real session that ended logs out (the token ends)
request_timeout_s = 7.0            # a REST call unanswered this long: its outcome is unknown
clock = "wall"                     # "feed": market time from the ticks (a replay)
rest_root = ""                     # Kite's REST root ("": api.kite.trade)
ws_root = ""                       # Kite's WebSocket root ("": ws.kite.trade)
"""
