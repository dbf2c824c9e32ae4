"""The report's trade table and its on-demand trade chart.

Every trade of ``trades.csv`` is one row of a sortable table (a click on a column header sorts by
it; again reverses). A click on a row draws that trade's chart from data embedded in the page as
JSON, so the page carries one chart's worth of plotting code, not one figure per trade. The chart
shows the underlying's bars from 15 minutes before entry to 15 minutes after exit, the entry, the
stop path as steps coloured by kind (from the journal's ``stop_moved`` events: ``initial``,
``break_even`` (older journals: ``be``), ``trail``; ``stop_initial`` when the journal has none), T1
and T2, every exit leg marked with its rule (the T1 partial exit among them), and the option's
premium (the fills' prices) on a second y-axis.

The bars come from the run's data folder, as the journal's ``header`` names it, or, for a paper
session on the synthetic stream, from the stream made again from the header's seed, days and
first day; a run whose folder is gone gets the table without charts and a note why.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dyntrail.analytics.kpis import parse_ts
from dyntrail.core.config import Config
from dyntrail.errors import DyntrailError
from dyntrail.trade import side_label

TRADE_PAD = pd.Timedelta(minutes=15)
# journal stop_moved reasons -> the kind drawn (older journals wrote "be")
STOP_KINDS = {
    "initial": "initial", "be": "break_even", "break_even": "break_even", "trail": "trail",
}  # fmt: skip
# (trades.csv column or derived key, header, numeric?)
TABLE_COLS = (
    ("trade_id", "id", True), ("_label", "trade", False), ("_entry", "entry time", False),
    ("entry_underlying", "entry underlying", True), ("exit_underlying", "exit underlying", True),
    ("entry_price", "entry premium", True), ("exit_price", "exit premium", True),
    ("exit_reason", "exit rule", False), ("stop_kind", "stop kind", False),
    ("exit_legs", "legs", True), ("t1_exit_price", "T1 exit premium", True),
    ("r_multiple", "R", True), ("costs", "costs", True), ("pnl_net", "net P&L", True),
    ("flags", "flags", False),
)  # fmt: skip
TABLE_CSS = """
#trade-table tbody tr{cursor:pointer}#trade-table tbody tr:hover{background:#f5f7fa}
#trade-table tbody tr.sel{background:#e3f0ff}#trade-table th{cursor:pointer;white-space:nowrap}
#trade-table th[aria-sort=ascending]::after{content:" ▲"}
#trade-table th[aria-sort=descending]::after{content:" ▼"}
.trade-wrap{max-height:480px;overflow:auto}
"""
TABLE_JS = """
(function(){
var data=JSON.parse(document.getElementById('trade-data').textContent);
var byId={};data.trades.forEach(function(d){byId[d.id]=d;});
var table=document.getElementById('trade-table'),body=table.tBodies[0];
var heads=Array.prototype.slice.call(table.tHead.rows[0].cells);
heads.forEach(function(th,col){th.addEventListener('click',function(){
 var asc=th.getAttribute('aria-sort')!=='ascending',num=th.dataset.type==='n';
 heads.forEach(function(h){h.removeAttribute('aria-sort');});
 th.setAttribute('aria-sort',asc?'ascending':'descending');
 var rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){
  var x=a.cells[col].dataset.v,y=b.cells[col].dataset.v;
  if(x===''||y===''){return x===y?0:(x===''?1:-1);}
  var c=num?parseFloat(x)-parseFloat(y):(x<y?-1:(x>y?1:0));
  return asc?c:-c;});
 rows.forEach(function(r){body.appendChild(r);});
});});
var COLOURS={initial:'#b00020',break_even:'#8a6d00',trail:'#6f42c1'};
function draw(id){
 var d=byId[id],el=document.getElementById('trade-chart');
 Array.prototype.forEach.call(body.rows,function(r){r.classList.toggle('sel',r.dataset.id===id);});
 if(!d||!d.bars){el.textContent=data.why;return;}
 var b=d.bars,t0=Date.parse(b.t0+'Z'),x=b.m.map(function(m){
  return new Date(t0+m*60000).toISOString().slice(0,19);});
 var tr=[{type:'candlestick',x:x,open:b.o,high:b.h,low:b.l,close:b.c,
  name:'underlying'}];
 tr.push({type:'scatter',mode:'markers',x:[d.entry_x],y:[d.entry_u],name:'entry',
  text:['entry '+d.label+' @ '+d.entry_p],marker:{symbol:d.up?'triangle-up':'triangle-down',
  size:14,color:'#1f6feb',line:{width:1}}});
 var kinds={};d.stops.forEach(function(s,i){
  var end=i+1<d.stops.length?d.stops[i+1][0]:d.exit_x,k=s[2];
  if(!kinds[k]){kinds[k]={x:[],y:[]};}
  kinds[k].x.push(s[0],end,null);kinds[k].y.push(s[1],s[1],null);});
 ['initial','break_even','trail'].forEach(function(k){if(kinds[k]){
  tr.push({type:'scatter',mode:'lines',x:kinds[k].x,y:kinds[k].y,name:'stop ('+k+')',
   line:{color:COLOURS[k],width:2},connectgaps:false});}});
 [['T1',d.t1,'dash'],['T2',d.t2,'dot']].forEach(function(t){if(t[1]!==null){
  tr.push({type:'scatter',mode:'lines',x:[d.entry_x,d.exit_x],y:[t[1],t[1]],name:t[0],
   line:{color:'#137333',dash:t[2],width:1.5}});}});
 var ex=d.exits;
 tr.push({type:'scatter',mode:'markers+text',x:ex.map(function(e){return e[0];}),
  y:ex.map(function(e){return e[1];}),text:ex.map(function(e){return e[3];}),
  textposition:'top center',name:'exit',marker:{symbol:'x',size:12,color:'black'},
  hovertext:ex.map(function(e){return e[3]+': '+e[4]+' @ '+e[2];})});
 tr.push({type:'scatter',mode:'lines+markers',x:[d.entry_x].concat(ex.map(function(e){
  return e[0];})),y:[d.entry_p].concat(ex.map(function(e){return e[2];})),yaxis:'y2',
  name:'premium',line:{color:'#f08c00',dash:'dot',width:1},marker:{size:7}});
 var layout={title:{text:d.title},height:460,xaxis:{rangeslider:{visible:false}},
  yaxis:{title:{text:'underlying'},tickformat:',.2f'},
  yaxis2:{title:{text:'option premium (₹)'},tickformat:',.2f',overlaying:'y',side:'right',
   showgrid:false},legend:{orientation:'h',y:-0.15},margin:{l:70,r:70,t:50,b:40}};
 Plotly.newPlot(el,tr,layout,{displaylogo:false,responsive:true});
}
body.addEventListener('click',function(e){var r=e.target.closest('tr');if(r){draw(r.dataset.id);}});
})();
"""


def read_header(run_dir: Path) -> dict[str, Any] | None:
    """The journal's first event when it is the ``header`` (None: no journal or no header)."""
    try:
        with (run_dir / "journal.jsonl").open(encoding="utf-8") as fh:
            head = json.loads(fh.readline() or "{}")
    except (OSError, ValueError):
        return None
    return head if isinstance(head, dict) and head.get("kind") == "header" else None


def load_bars(head: dict[str, Any] | None, cfg: Config) -> tuple[pd.DataFrame | None, str]:
    """The underlying's bars from the data folder the journal's header names, or None and the
    reason the page shows instead of charts."""
    if head is None:
        return None, "journal.jsonl has no header, so the data folder is unknown."
    data = head.get("data")
    if not data:
        return _synthetic_bars(head, cfg)
    folder = Path(str(data))
    if not folder.is_dir():
        return None, f"The run's data folder {folder} no longer exists."
    from dyntrail.runners.plan import bars_frame, load_market, plan_run  # the shell, on demand
    from dyntrail.runners.several import bars_frame_of

    try:
        if len(cfg.traded) == 1:
            return bars_frame(load_market(cfg, folder).bars), ""
        return bars_frame_of(plan_run(cfg, folder)), ""
    except DyntrailError as exc:
        return None, f"The run's data folder {folder} could not be read: {exc}"


def _synthetic_bars(head: dict[str, Any], cfg: Config) -> tuple[pd.DataFrame | None, str]:
    """A paper session on the synthetic stream: the stream is made again from its header (seed,
    days, first day), the same bars the session traded."""
    import datetime as dt

    from dyntrail.runners.paper_market import session_markets
    from dyntrail.runners.plan import bars_frame

    try:
        seed, days = int(head["seed"]), int(head["days"])
        start = dt.date.fromisoformat(str(head["start"]))
    except (KeyError, TypeError, ValueError):
        return None, "The run has no data folder and its header does not say how to remake it."
    markets = session_markets(cfg, None, seed, days, start)
    if len(markets) == 1:
        return bars_frame(markets[0].bars), ""
    frames = [bars_frame(m.bars).assign(underlying=m.instrument.name) for m in markets]
    return pd.concat(frames, ignore_index=True), ""


def _naive(values: Iterable[Any], tz: str) -> pd.Series:
    return parse_ts(values, tz).dt.tz_localize(None)


def _iso(v: Any) -> str:
    return str(pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%S"))


def _num(v: Any) -> float | None:
    x = pd.to_numeric(v, errors="coerce")
    return None if pd.isna(x) else round(float(x), 4)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _trade_data(
    tr: pd.Series, label: str, cols: dict[str, np.ndarray] | None, bar_t: np.ndarray,
    legs: pd.DataFrame, stops: list[tuple[pd.Timestamp, dict[str, Any]]], entry: pd.Timestamp,
    exit_: pd.Timestamp,
) -> dict[str, Any]:  # fmt: skip
    """One trade's chart data. Times come parsed (naive exchange time): the stops' with their
    events, the legs' in their ``_t`` column (parsing per trade made the report slow)."""
    d: dict[str, Any] = {"id": str(tr["trade_id"]), "label": label}
    pnl = _num(tr["pnl_net"]) or 0.0
    pnl_text = f"{'−' if pnl < 0 else ''}₹{abs(pnl):,.2f}"
    d["title"] = html.escape(f"#{tr['trade_id']} {label} · {tr['exit_reason']} · net {pnl_text}")
    if cols is None:
        return d
    lo = np.searchsorted(bar_t, np.datetime64(entry - TRADE_PAD), side="left")
    hi = np.searchsorted(bar_t, np.datetime64(exit_ + TRADE_PAD), side="right")
    t = bar_t[int(lo) : int(hi)].astype("datetime64[s]")
    d["bars"] = {  # times as whole minutes after the first bar's, to keep the page small
        "t0": _iso(t[0]) if len(t) else _iso(entry),
        "m": ((t - t[0]) // np.timedelta64(1, "m")).astype(int).tolist() if len(t) else [],
        **{k[0]: [round(v, 2) for v in cols[k][int(lo) : int(hi)].tolist()] for k in cols},
    }
    d["up"] = str(tr["side"]).lower() == "long"
    d["entry_x"], d["exit_x"] = _iso(entry), _iso(exit_)
    d["entry_u"], d["entry_p"] = _num(tr["entry_underlying"]), _num(tr.get("entry_price"))
    d["t1"], d["t2"] = _num(tr.get("t1")), _num(tr.get("t2"))
    if stops:
        d["stops"] = [
            [_iso(max(t, entry)), _num(s["level"]), STOP_KINDS.get(str(s.get("reason")), "initial")]
            for t, s in stops
        ]
    else:
        d["stops"] = [[_iso(entry), _num(tr["stop_initial"]), "initial"]]
    times = legs["_t"] if not legs.empty else []
    d["exits"] = [
        [_iso(t), _num(u) if _num(u) is not None else _num(tr["exit_underlying"]), _num(p),
         "T1 partial" if str(tag) == "scale_out_t1" else _cell(tag), _cell(q)]
        for t, u, p, tag, q in zip(times, legs["underlying"], legs["price"], legs["tag"],
                                   legs["qty"], strict=True)
    ]  # fmt: skip
    return d


Series = tuple[np.ndarray, dict[str, np.ndarray] | None]  # bar times, and their prices


def _bar_series(bars: pd.DataFrame | None, tz: str) -> dict[str, Series]:
    """The bars as arrays a trade's chart takes a slice of, by underlying ("" when the bars
    have no ``underlying`` column: one underlying)."""
    if bars is None:
        return {"": (np.array([], dtype="datetime64[ns]"), None)}
    out: dict[str, Series] = {}
    groups = bars.groupby("underlying", sort=False) if "underlying" in bars else [("", bars)]
    for name, g in groups:
        g = g.assign(_t=_naive(g["timestamp"], tz).to_numpy())
        g = g.sort_values("_t", kind="stable").reset_index(drop=True)
        cols = {k: g[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close")}
        out[str(name)] = (g["_t"].to_numpy(dtype="datetime64[ns]"), cols)
    return out


def _series_of(series: dict[str, Series], instrument: str) -> Series:
    """A trade's underlying's bars: the longest name its trading symbol starts with."""
    if len(series) == 1:
        return next(iter(series.values()))
    names = sorted((n for n in series if instrument.startswith(n)), key=len, reverse=True)
    return series[names[0]] if names else (np.array([], dtype="datetime64[ns]"), None)


def trades_section(
    trades: pd.DataFrame, fills: pd.DataFrame, stops: list[dict[str, Any]],
    bars: pd.DataFrame | None, why: str, tz: str,
) -> str:  # fmt: skip
    """The "Trades" section: the sortable table of every trade, the chart area, the chart data
    (JSON) and the script that sorts and draws."""
    head = "<h2>Trades</h2>"
    if trades.empty:
        return head + "<p class='note'>No trades.</p>"
    trades = trades.astype({"trade_id": str}).reset_index(drop=True)
    fills = fills.astype({"trade_id": str})
    executed = fills[(fills["action"].astype(str) != "rejected") & fills["price"].notna()]
    exits = executed[pd.to_numeric(executed["leg"], errors="coerce") > 0]
    exits = exits.assign(_t=_naive(exits["ts"], tz).to_numpy() if len(exits) else [])
    legs_of = {k: g for k, g in exits.groupby("trade_id", sort=False)}
    moves = sorted(stops, key=lambda e: e.get("seq", 0))
    move_t = _naive([e["ts"] for e in moves], tz) if moves else []
    stops_of: dict[str, list[tuple[pd.Timestamp, dict[str, Any]]]] = {}
    for t, ev in zip(move_t, moves, strict=True):
        stops_of.setdefault(str(ev.get("trade_id")), []).append((t, ev))
    series = _bar_series(bars, tz)
    entries, exits_at = _naive(trades["entry_ts"], tz), _naive(trades["exit_ts"], tz)
    empty = exits.iloc[0:0]
    rows, data = [], []
    for i in range(len(trades)):
        tr = trades.iloc[i]
        tid = str(tr["trade_id"])
        label = side_label(tr["side"], tr.get("right"))
        legs, steps = legs_of.get(tid, empty), stops_of.get(tid, [])
        entry, exit_ = entries.iloc[i], exits_at.iloc[i]
        bar_t, cols = _series_of(series, str(tr["instrument"]))
        data.append(_trade_data(tr, label, cols, bar_t, legs, steps, entry, exit_))
        derived = {"_label": label, "_entry": entries.iloc[i].strftime("%Y-%m-%d %H:%M")}
        cells = []
        for key, _, numeric in TABLE_COLS:
            raw = derived.get(key, tr.get(key))
            text = _cell(raw)
            value = _num(raw) if numeric else text
            money = numeric and value is not None and key not in ("trade_id", "exit_legs")
            shown = f"{value:,.2f}" if money else text
            v = "" if value is None else str(value)
            cls = ' class="n"' if numeric else ""
            cells.append(f'<td{cls} data-v="{html.escape(v)}">{html.escape(shown)}</td>')
        rows.append(f'<tr data-id="{html.escape(tid)}">{"".join(cells)}</tr>')
    ths = "".join(
        f'<th data-k="{k}" data-type="{"n" if n else "s"}">{html.escape(h)}</th>'
        for k, h, n in TABLE_COLS
    )
    payload = json.dumps({"why": why, "trades": data}, allow_nan=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")
    note = (
        f"<p class='note'>All {len(trades)} trades. Click a column header to sort, a row to draw "
        f"its chart: the underlying from {TRADE_PAD.seconds // 60} minutes before entry to as long "
        "after exit, the stop by kind (initial, break_even, trail), T1, T2, every exit leg with "
        "its rule, and the option premium on the right axis. BUY CE is a bullish trade, BUY PE a "
        "bearish one (trades.csv: side long/short).</p>"
    )
    chart = (
        f"<p class='note'>{html.escape(why)}</p>" if bars is None else ""
    ) + '<div id="trade-chart"></div>'
    return (
        head + note + '<div class="trade-wrap"><table id="trade-table"><thead><tr>' + ths
        + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>" + chart
        + f'<script type="application/json" id="trade-data">{payload}</script>'
        + f"<script>{TABLE_JS}</script>"
    )  # fmt: skip
