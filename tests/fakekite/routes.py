"""The REST routes, as ``connect.py`` calls them. Each handler runs under the fake's lock and
returns the envelope's ``data`` (or ``Csv``), or raises ``KiteError``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from fakekite.gtt import leg_params
from fakekite.instruments import Instrument, instruments_csv
from fakekite.market import historical, ltp_json, ohlc_json, quote_json
from fakekite.model import KiteError, Quote, input_error
from fakekite.validation import parse_place, slices

if TYPE_CHECKING:
    from fakekite.fake import FakeKite


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    args: dict[str, str]  # the path's variables
    params: dict[str, str]  # query (GET, DELETE) or form (POST, PUT), last value of each
    multi: dict[str, list[str]]  # every value of each parameter (``i`` of the quote routes)


@dataclass(frozen=True)
class Csv:
    text: str


Handler = Callable[["FakeKite", Req], Any]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool = True
    order_call: bool = False


# -- session and user ------------------------------------------------------------------------------
def session_create(fake: FakeKite, req: Req) -> Any:
    p = req.params
    return fake.sessions.create(
        p.get("api_key", ""), p.get("request_token", ""), p.get("checksum", "")
    )


def session_delete(fake: FakeKite, req: Req) -> Any:
    fake.sessions.invalidate(req.params.get("api_key", ""), req.params.get("access_token", ""))
    return True


def profile(fake: FakeKite, req: Req) -> Any:
    return fake.sessions.profile()


def margins(fake: FakeKite, req: Req) -> Any:
    all_segments = fake.margins()
    segment = req.args.get("segment")
    if segment is None:
        return all_segments
    if segment not in all_segments:
        raise input_error("Invalid segment.")
    return all_segments[segment]


# -- orders ----------------------------------------------------------------------------------------
def place(fake: FakeKite, req: Req) -> Any:
    request = parse_place(
        req.args["variety"], req.params, fake.exchange.instruments, fake.freeze_limits
    )
    if not request.autoslice:
        return {"order_id": fake.exchange.place(request).order_id}
    inst = request.instrument
    parent = fake.exchange.ids.order_id(fake.now())
    children = []
    for qty in slices(request.quantity, fake.freeze_limits[inst.name], inst.lot_size):
        child = fake.exchange.place(
            replace(request, quantity=qty, autoslice=False),
            parent_order_id=parent,
            extra_tags=("autoslice", f"autoslice:{parent}"),
        )
        children.append({"order_id": child.order_id})
    return {"order_id": parent, "children": children}


def modify(fake: FakeKite, req: Req) -> Any:
    return {"order_id": fake.exchange.modify(req.args["order_id"], req.params).order_id}


def cancel(fake: FakeKite, req: Req) -> Any:
    return {"order_id": fake.exchange.cancel(req.args["order_id"]).order_id}


def orders(fake: FakeKite, req: Req) -> Any:
    return fake.orders()


def order_history(fake: FakeKite, req: Req) -> Any:
    return [dict(h) for h in fake.exchange.get(req.args["order_id"]).history]


def order_trades(fake: FakeKite, req: Req) -> Any:
    order_id = fake.exchange.get(req.args["order_id"]).order_id
    return [t.row() for t in fake.exchange.trades if t.order.order_id == order_id]


def trades(fake: FakeKite, req: Req) -> Any:
    return [t.row() for t in fake.exchange.trades]


def positions(fake: FakeKite, req: Req) -> Any:
    rows = fake.exchange.position_rows()
    return {"net": rows, "day": [dict(r) for r in rows]}


def holdings(fake: FakeKite, req: Req) -> Any:
    return []


# -- market data -----------------------------------------------------------------------------------
def instruments(fake: FakeKite, req: Req) -> Any:
    exchange = req.args.get("exchange")
    rows = [i for i in fake.exchange.instruments.values() if exchange in (None, i.exchange)]
    return Csv(instruments_csv(rows))


def _quoted(fake: FakeKite, req: Req, render: Callable[[Instrument, Quote], Any]) -> Any:
    """Known instruments of the ``i`` parameters, keyed as asked; unknown ones are left out."""
    out = {}
    for key in req.multi.get("i", []):
        inst = fake.exchange.instruments.get(key)
        if inst is not None:
            out[key] = render(inst, fake.exchange.quote(inst))
    return out


def quote(fake: FakeKite, req: Req) -> Any:
    return _quoted(fake, req, lambda inst, q: quote_json(inst, q, fake.now()))


def ohlc(fake: FakeKite, req: Req) -> Any:
    return _quoted(fake, req, ohlc_json)


def ltp(fake: FakeKite, req: Req) -> Any:
    return _quoted(fake, req, ltp_json)


def candles(fake: FakeKite, req: Req) -> Any:
    token = int(req.args["token"])
    if token not in fake.exchange.by_token:
        raise input_error("Invalid `instrument_token`.")
    return historical(fake.candles, token, req.args["interval"], req.params)


# -- GTT -------------------------------------------------------------------------------------------
def gtt_list(fake: FakeKite, req: Req) -> Any:
    return [g.row() for g in fake.gtts.visible()]


def gtt_place(fake: FakeKite, req: Req) -> Any:
    gtt = fake.gtts.place(fake.exchange.ids.trigger_id(), req.params, fake.now())
    return {"trigger_id": gtt.id}


def _trigger_id(req: Req) -> int:
    return int(req.args["trigger_id"])


def gtt_get(fake: FakeKite, req: Req) -> Any:
    return fake.gtts.get(_trigger_id(req)).row()


def gtt_modify(fake: FakeKite, req: Req) -> Any:
    return {"trigger_id": fake.gtts.modify(_trigger_id(req), req.params, fake.now()).id}


def gtt_delete(fake: FakeKite, req: Req) -> Any:
    return {"trigger_id": fake.gtts.delete(_trigger_id(req), fake.now()).id}


def fire_gtts(fake: FakeKite, token: int, last: float) -> None:
    """Place the orders of every GTT on ``token`` that ``last`` triggers."""
    for gtt, leg in fake.gtts.due(token, last):
        try:
            params = leg_params(gtt.orders[leg])
            request = parse_place("regular", params, fake.exchange.instruments, fake.freeze_limits)
            result: Any = fake.exchange.place(request)
        except KiteError as e:
            result = e
        fake.gtts.fired(gtt, leg, last, fake.now(), result)


def _route(method: str, path: str, handler: Handler, **kw: bool) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(f"^{regex}$"), handler, **kw)


ROUTES = [
    _route("POST", "/session/token", session_create, auth=False),
    _route("DELETE", "/session/token", session_delete, auth=False),
    _route("GET", "/user/profile", profile),
    _route("GET", "/user/margins", margins),
    _route("GET", "/user/margins/{segment}", margins),
    _route("GET", "/orders", orders),
    _route("GET", "/trades", trades),
    _route("GET", "/orders/{order_id}/trades", order_trades),
    _route("GET", "/orders/{order_id}", order_history),
    _route("POST", "/orders/{variety}", place, order_call=True),
    _route("PUT", "/orders/{variety}/{order_id}", modify, order_call=True),
    _route("DELETE", "/orders/{variety}/{order_id}", cancel, order_call=True),
    _route("GET", "/portfolio/positions", positions),
    _route("GET", "/portfolio/holdings", holdings),
    _route("GET", "/instruments", instruments),
    _route("GET", "/instruments/historical/{token}/{interval}", candles),
    _route("GET", "/instruments/{exchange}", instruments),
    _route("GET", "/quote", quote),
    _route("GET", "/quote/ohlc", ohlc),
    _route("GET", "/quote/ltp", ltp),
    _route("GET", "/gtt/triggers", gtt_list),
    _route("POST", "/gtt/triggers", gtt_place),
    _route("GET", "/gtt/triggers/{trigger_id}", gtt_get),
    _route("PUT", "/gtt/triggers/{trigger_id}", gtt_modify),
    _route("DELETE", "/gtt/triggers/{trigger_id}", gtt_delete),
]


def find(method: str, path: str) -> tuple[Route, dict[str, str]]:
    allowed = False
    for route in ROUTES:
        m = route.pattern.match(path)
        if m is None:
            continue
        if route.method == method:
            return route, m.groupdict()
        allowed = True
    if allowed:
        raise KiteError(405, "GeneralException", "Method not allowed on this route.")
    raise KiteError(404, "GeneralException", "Route not found.")
