"""Analytics on a backtest run folder.

``kpis`` computes the key performance indicators from ``trades.csv``, ``fills.csv`` and
``equity.csv`` (every formula is in its docstring), checks them against the ``[acceptance]``
thresholds and prints the verdict (``dyntrail accept RUN_DIR``). ``report`` writes one
self-contained ``report.html`` (plotly inlined, no network) with the KPIs, the acceptance table,
the equity and drawdown curve, monthly returns, breakdowns and per-trade charts.
"""
