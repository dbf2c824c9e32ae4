"""Order parameters as ``connect.py`` sends them (form fields, all strings), checked the way
Kite's OMS checks them before an order exists: a failure here is a 400 InputException and
nothing is placed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fakekite.instruments import Instrument
from fakekite.model import input_error, on_tick

VARIETIES = ("regular", "amo", "co", "iceberg")
ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = ("MIS", "NRML", "CNC", "MTF")
VALIDITIES = ("DAY", "IOC", "TTL")
MAX_TAG_LEN = 20
MAX_SLICES = 10
_TAG = re.compile(r"^[A-Za-z0-9]+$")


@dataclass(frozen=True)
class PlaceRequest:
    variety: str
    instrument: Instrument
    transaction_type: str
    quantity: int
    product: str
    order_type: str
    price: float
    trigger_price: float
    validity: str
    validity_ttl: int
    disclosed_quantity: int
    tag: str | None
    market_protection: float
    autoslice: bool


def _number(params: Mapping[str, str], name: str, default: float = 0.0) -> float:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise input_error(f"Invalid `{name}`.") from None


def _integer(params: Mapping[str, str], name: str, default: int = 0) -> int:
    value = _number(params, name, default)
    if value != int(value):
        raise input_error(f"Invalid `{name}`.")
    return int(value)


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(name) or default
    if value not in allowed:
        raise input_error(f"Invalid `{name}`.")
    return value


def check_prices(
    order_type: str,
    side: str,
    price: float,
    trigger: float,
    protection: float,
    inst: Instrument,
) -> None:
    """Price, trigger and market-protection rules for one order type and side."""
    if order_type in ("LIMIT", "SL") and price <= 0:
        raise input_error("Price is required for limit and stoploss-limit orders.")
    if order_type in ("SL", "SL-M") and trigger <= 0:
        raise input_error("Trigger price is required for stoploss orders.")
    for name, value in (("price", price), ("trigger price", trigger)):
        if value > 0 and not on_tick(value, inst.tick_size):
            raise input_error(
                f"Tick size for this script is {inst.tick_size:g}. Kindly enter {name} "
                "in the multiple of tick size for this script."
            )
    if order_type == "SL" and side == "SELL" and trigger < price:
        raise input_error(
            "Trigger price for stoploss sell orders should be higher than or equal to the price."
        )
    if order_type == "SL" and side == "BUY" and trigger > price:
        raise input_error(
            "Trigger price for stoploss buy orders should be lower than or equal to the price."
        )
    if order_type in ("MARKET", "SL-M"):
        if protection == 0:
            raise input_error(
                "Market orders without market protection are not allowed. "
                "Set market_protection to a value between 0 and 100, or -1 for automatic."
            )
        if protection != -1 and not 0 < protection <= 100:
            raise input_error("Invalid `market_protection`.")


def check_quantity(quantity: int, inst: Instrument, freeze: int | None, autoslice: bool) -> None:
    if quantity <= 0:
        raise input_error("Invalid `quantity`.")
    if inst.lot_size > 1 and quantity % inst.lot_size:
        raise input_error(f"Quantity should be a multiple of lot size ({inst.lot_size}).")
    if freeze is None:
        if autoslice:
            raise input_error("Order slicing is not available for this instrument.")
        return
    if autoslice:
        if quantity <= freeze:
            raise input_error(
                f"Quantity should be greater than or equal to {freeze + max(inst.lot_size, 1)}"
                " for order slicing."
            )
        if len(slices(quantity, freeze, inst.lot_size)) > MAX_SLICES:
            raise input_error(f"Order slicing is limited to {MAX_SLICES} slices.")
    elif quantity > freeze:
        raise input_error(
            f"Quantity exceeds the freeze limit ({freeze}) for this instrument. "
            "Place a smaller order or use autoslice."
        )


def slices(quantity: int, freeze: int, lot: int) -> list[int]:
    """Child quantities: full slices of the freeze quantity (a whole number of lots), then the
    rest."""
    lot = max(lot, 1)
    size = (freeze // lot) * lot
    out: list[int] = []
    left = quantity
    while left > 0:
        out.append(min(size, left))
        left -= out[-1]
    return out


def check_tag(tag: str | None) -> None:
    if tag is None or tag == "":
        return
    if len(tag) > MAX_TAG_LEN:
        raise input_error(f"Tag length should be less than or equal to {MAX_TAG_LEN} characters.")
    if not _TAG.match(tag):
        raise input_error("Tag should be alphanumeric.")


def parse_place(
    variety: str,
    params: Mapping[str, str],
    instruments: Mapping[str, Instrument],
    freeze_limits: Mapping[str, int],
) -> PlaceRequest:
    if variety not in VARIETIES:
        raise input_error("Invalid `variety`.")
    for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product"):
        if not params.get(name):
            raise input_error(f"Missing `{name}`.")
    if not params.get("order_type"):
        raise input_error("Missing `order_type`.")
    inst = instruments.get(f"{params['exchange']}:{params['tradingsymbol']}")
    if inst is None:
        raise input_error("Invalid `tradingsymbol`: instrument not found.")
    if inst.is_index:
        raise input_error("This instrument is not tradable.")
    side = _choice(params, "transaction_type", ("BUY", "SELL"), "")
    order_type = _choice(params, "order_type", ORDER_TYPES, "")
    product = _choice(params, "product", PRODUCTS, "")
    validity = _choice(params, "validity", VALIDITIES, "DAY")
    quantity = _integer(params, "quantity")
    price = _number(params, "price") if order_type in ("LIMIT", "SL") else 0.0
    trigger = _number(params, "trigger_price") if order_type in ("SL", "SL-M") else 0.0
    protection = _number(params, "market_protection")
    autoslice = (params.get("autoslice") or "false").lower() == "true"
    tag = params.get("tag") or None
    check_tag(tag)
    check_prices(order_type, side, price, trigger, protection, inst)
    ttl = _integer(params, "validity_ttl")
    if validity == "TTL" and ttl <= 0:
        raise input_error("`validity_ttl` is required for TTL orders.")
    if variety == "co" and trigger <= 0:
        raise input_error("Trigger price is required for cover orders.")
    check_quantity(quantity, inst, freeze_limits.get(inst.name), autoslice)
    return PlaceRequest(
        variety=variety,
        instrument=inst,
        transaction_type=side,
        quantity=quantity,
        product=product,
        order_type=order_type,
        price=price,
        trigger_price=trigger,
        validity=validity,
        validity_ttl=ttl if validity == "TTL" else 0,
        disclosed_quantity=_integer(params, "disclosed_quantity"),
        tag=tag,
        market_protection=protection if order_type in ("MARKET", "SL-M") else 0.0,
        autoslice=autoslice,
    )


@dataclass(frozen=True)
class ModifyRequest:
    quantity: int
    price: float
    trigger_price: float
    order_type: str
    validity: str
    market_protection: float


def parse_modify(
    params: Mapping[str, str],
    current: ModifyRequest,
    side: str,
    inst: Instrument,
    freeze: int | None,
) -> ModifyRequest:
    """The order's values after the modification, checked by the placement rules."""
    order_type = _choice(params, "order_type", ORDER_TYPES, current.order_type)
    quantity = _integer(params, "quantity", current.quantity)
    price = _number(params, "price", current.price) if order_type in ("LIMIT", "SL") else 0.0
    trigger = (
        _number(params, "trigger_price", current.trigger_price)
        if order_type in ("SL", "SL-M")
        else 0.0
    )
    protection = _number(params, "market_protection", current.market_protection)
    validity = _choice(params, "validity", VALIDITIES, current.validity)
    check_prices(order_type, side, price, trigger, protection, inst)
    check_quantity(quantity, inst, freeze, autoslice=False)
    return ModifyRequest(
        quantity=quantity,
        price=price,
        trigger_price=trigger,
        order_type=order_type,
        validity=validity,
        market_protection=protection if order_type in ("MARKET", "SL-M") else 0.0,
    )
