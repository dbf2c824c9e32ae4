"""The sweep's report: one self-contained HTML page in the backtest report's style, from the
sweep's Parquet trials and ``summary.json``: the winner and how much of it is luck (deflated
Sharpe ratio, probability of backtest overfitting), the top trials, the objective over every
pair of parameters (heatmaps), its sensitivity to each parameter, and with walk-forward the
in-sample against the out-of-sample objective of each window's winner and the stitched
out-of-sample result against the gate."""

from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dyntrail.analytics.report import CSS
from dyntrail.analytics.report import _esc as esc
from dyntrail.analytics.report import _figure_html as figure_html
from dyntrail.analytics.report import _table as table
from dyntrail.research.store import TrialStore

TOP = 20
BINS = 8  # a continuous parameter is shown in this many bins


def _f(v: Any, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return str(v)


def write_sweep_report(folder: Path, title: str = "dyntrail sweep") -> Path:
    """``report.html`` in the sweep's ``folder``."""
    df = TrialStore(folder).frame()
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    params = [c for c in df.columns if c.startswith("p:")]
    parts = [f"<h1>{esc(title)}</h1>", _head(df, summary)]
    main = df[df["phase"].isin(["full", "is"])] if len(df) else df
    parts += [_top(main, params), _heatmaps(main, params), _sensitivity(main, params)]
    if "windows" in summary:
        parts.append(_walk_forward(summary))
    parts.append("<p class='note'>Every trial is kept in trials/*.parquet (config id, "
                 "parameters, KPIs, objective, daily returns).</p>")  # fmt: skip
    out = folder / "report.html"
    top = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{esc(title)}</title><style>{CSS}</style><script type="text/javascript">'
    )
    with out.open("w", encoding="utf-8") as fh:
        for part in (top, get_plotlyjs(), "</script></head>\n<body>", "".join(parts),
                     "</body></html>\n"):  # fmt: skip
            fh.write(part)
    return out


def _honesty_rows(h: dict[str, Any]) -> list[list[tuple[str, str]]]:
    return [
        [("Candidate trials", ""), (_f(h.get("n_trials")), "n")],
        [("Deflated Sharpe ratio of the winner (probability its Sharpe beats luck)", ""),
         (_f(h.get("dsr")), "n")],
        [("Probability of backtest overfitting (CSCV)", ""), (_f(h.get("pbo")), "n")],
        [("Probability the in-sample winner loses out of sample", ""),
         (_f(h.get("prob_oos_loss")), "n")],
    ]  # fmt: skip


def _head(df: pd.DataFrame, summary: dict[str, Any]) -> str:
    n = len(df)
    out = [f"<p>{n} trials kept · {int(df['candidate'].sum()) if n else 0} candidates "
           f"(enough trades and an objective)</p>"]  # fmt: skip
    best = summary.get("best")
    if best:
        out.append("<h2>Winner</h2>")
        rows = [[(k, ""), (_f(v), "n")] for k, v in best["params"].items()]
        rows += [[("objective", ""), (_f(best["objective"]), "n")]]
        rows += [[(k, ""), (_f(v), "n")] for k, v in best["kpis"].items()]
        out.append(table(["", "value"], rows))
        out.append("<h2>How much of it is luck</h2>")
        out.append(table(["measure", "value"], _honesty_rows(summary.get("honesty", {}))))
        note = summary.get("honesty", {}).get("note")
        if note:
            out.append(f"<p class='note'>{esc(note)}</p>")
    return "".join(out)


def _top(df: pd.DataFrame, params: list[str]) -> str:
    if not len(df):
        return ""
    d = df[df["candidate"]].sort_values("objective", ascending=False).head(TOP)
    cols = ["window", *params, "objective", "kpi_trades", "kpi_net_pnl", "kpi_sharpe",
            "kpi_profit_factor", "kpi_max_drawdown_pct"]  # fmt: skip
    head = [c.removeprefix("p:").removeprefix("kpi_") for c in cols]
    rows = [[(_f(r[c]), "n") for c in cols] for _, r in d.iterrows()]
    return f"<h2>Top {len(d)} trials</h2>" + table(head, rows)


def _binned(df: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """The candidates, a parameter with more than ``BINS`` values (random or Optuna points)
    put in ``BINS`` equal-width bins, each shown by its middle."""
    d = df[df["candidate"]].copy()
    for p in params:
        col = pd.to_numeric(d[p], errors="coerce")
        if col.notna().all() and col.nunique() > BINS:
            cut = pd.cut(col, BINS)
            d[p] = [round(float(iv.mid), 6) for iv in cut]
    return d


def _heatmaps(df: pd.DataFrame, params: list[str]) -> str:
    d = _binned(df, params)
    if len(d) < 2 or len(params) < 2:
        return ""
    out = ["<h2>Objective over pairs of parameters (mean over the others; a continuous "
           f"parameter in {BINS} bins)</h2>"]  # fmt: skip
    for k, (a, b) in enumerate(combinations(params, 2)):
        grid = d.pivot_table(index=b, columns=a, values="objective", aggfunc="mean")
        xs, ys = [str(x) for x in grid.columns], [str(y) for y in grid.index]
        fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=xs, y=ys, colorscale="RdYlGn"))
        fig.update_layout(title=f"{a[2:]} × {b[2:]}", xaxis_title=a[2:], yaxis_title=b[2:],
                          height=380)  # fmt: skip
        out.append(figure_html(fig, f"heat{k}"))
    return "".join(out)


def _sensitivity(df: pd.DataFrame, params: list[str]) -> str:
    d = _binned(df, params)
    if len(d) < 2:
        return ""
    out = ["<h2>Sensitivity of the objective to each parameter</h2>"]
    for k, p in enumerate(params):
        g = d.groupby(p)["objective"].agg(["mean", "min", "max"]).reset_index()
        fig = go.Figure()
        x = [str(v) for v in g[p]]
        fig.add_trace(go.Scatter(x=x, y=g["mean"], mode="lines+markers", name="mean"))
        fig.add_trace(go.Scatter(x=x, y=g["max"], mode="lines", name="best",
                                 line={"dash": "dot"}))  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=g["min"], mode="lines", name="worst",
                                 line={"dash": "dot"}))  # fmt: skip
        fig.update_layout(title=p[2:], xaxis_title=p[2:], yaxis_title="objective", height=320)
        out.append(figure_html(fig, f"sens{k}"))
    return "".join(out)


def _walk_forward(summary: dict[str, Any]) -> str:
    rows, xs, ys = [], [], []
    for w in summary["windows"]:
        best, oos = w.get("best"), w.get("oos")
        rows.append([(str(w["window"]), "n"), (" → ".join(w["in_sample"]), ""),
                     (" → ".join(w["out_of_sample"]), ""),
                     (json.dumps(best["params"]) if best else "no candidate", ""),
                     (_f(best["objective"]) if best else "—", "n"),
                     (_f(oos["objective"]) if oos else "—", "n"),
                     (_f(w["honesty"].get("pbo")), "n")])  # fmt: skip
        if best and oos:
            xs.append(best["objective"])
            ys.append(oos["objective"])
    out = ["<h2>Walk-forward: in-sample winner, out of sample</h2>",
           table(["window", "in-sample", "out-of-sample", "winner", "IS objective",
                  "OOS objective", "PBO (IS)"], rows)]  # fmt: skip
    if xs:
        fig = go.Figure(go.Scatter(x=xs, y=ys, mode="markers+text",
                                   text=[str(k) for k in range(len(xs))]))  # fmt: skip
        fig.update_layout(
            title="In-sample vs out-of-sample objective",
            xaxis_title="in-sample",
            yaxis_title="out-of-sample",
            height=380,
        )
        out.append(figure_html(fig, "isoos"))
    oos = summary.get("out_of_sample")
    if oos:
        verdict = "ACCEPTED" if oos["acceptance"]["accepted"] else "REJECTED"
        out.append(f"<h2>Stitched out-of-sample ({oos['days']} days): "
                   f"<span class='verdict'>{verdict}</span></h2>")  # fmt: skip
        out.append(table(["KPI", "value"], [[(k, ""), (_f(v), "n")]
                                            for k, v in oos["kpis"].items()]))  # fmt: skip
        checks = oos["acceptance"]["checks"]
        out.append(table(["check", "value", "op", "threshold", "status"],
                         [[(c["name"], ""), (_f(c["value"]), "n"), (c["op"], ""),
                           (_f(c["threshold"]), "n"), (c["status"], c["status"])]
                          for c in checks]))  # fmt: skip
    return "".join(out)
