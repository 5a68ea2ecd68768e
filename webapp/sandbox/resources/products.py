"""Products and Prices: create, retrieve, list; inline `price_data` (with `recurring`)."""

from __future__ import annotations

from typing import Any

from webapp.sandbox.coerce import as_bool, as_currency, as_int, as_metadata, as_str, refuse_unmodelled
from webapp.sandbox.context import Ctx, new_id
from webapp.sandbox.errors import invalid
from webapp.sandbox.lists import object_page

INTERVALS = ("day", "week", "month", "year")
_MAX_INTERVAL_DAYS = {"day": 1, "week": 7, "month": 31, "year": 366}


def build_product(ctx: Ctx, data: Any, param: str, *, active: bool = True) -> dict[str, Any]:
    """A Product from `name`, `description`, `metadata` (stored, with `product.created`
    when made through the API; the inactive ones of `product_data` are stored silently)."""
    if not isinstance(data, dict):
        raise invalid("Missing required param: product_data.", param=param)
    prefix = f"{param}[" if param else ""
    suffix = "]" if param else ""
    product = {
        "id": new_id("prod_", 14),
        "object": "product",
        "active": active,
        "created": ctx.now,
        "default_price": None,
        "description": as_str(data.get("description"), f"{prefix}description{suffix}"),
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": as_metadata(data.get("metadata"), f"{prefix}metadata{suffix}"),
        "name": as_str(data.get("name"), f"{prefix}name{suffix}", required=True),
        "shippable": None,
        "type": "service",
        "updated": ctx.now,
        "url": None,
    }
    ctx.tx.put(product)
    return product


def create_product(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    product = build_product(ctx, params, "", active=params.get("active") in (None, "", "true", True))
    ctx.emit("product.created", product)
    return product


def recurring_of(value: Any, param: str) -> dict[str, Any] | None:
    """`recurring[interval|interval_count]` as the Price's `recurring` (None: one-time)."""
    if value in (None, ""):
        return None
    if not isinstance(value, dict):
        raise invalid("Invalid object", param=param)
    interval = as_str(value.get("interval"), f"{param}[interval]", required=True)
    if interval not in INTERVALS:
        raise invalid("Invalid interval: must be one of day, month, week, or year", param=f"{param}[interval]")
    count = as_int(value.get("interval_count", 1), f"{param}[interval_count]", minimum=1)
    if count * _MAX_INTERVAL_DAYS[interval] > 3 * 366:
        raise invalid("Maximum of three years interval allowed.", param=f"{param}[interval_count]")
    return {
        "interval": interval,
        "interval_count": count,
        "meter": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def build_price(ctx: Ctx, data: dict[str, Any], param: str, *, product: str, active: bool = True) -> dict[str, Any]:
    """A stored Price of `product` from `currency`, `unit_amount`, `recurring`, `metadata`."""
    prefix = f"{param}[" if param else ""
    suffix = "]" if param else ""
    unit_amount = as_int(data.get("unit_amount"), f"{prefix}unit_amount{suffix}", minimum=0)
    recurring = recurring_of(data.get("recurring"), f"{prefix}recurring{suffix}")
    price = {
        "id": new_id("price_"),
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "created": ctx.now,
        "currency": as_currency(data.get("currency"), f"{prefix}currency{suffix}"),
        "livemode": False,
        "lookup_key": as_str(data.get("lookup_key"), "lookup_key") if not param else None,
        "metadata": as_metadata(data.get("metadata"), f"{prefix}metadata{suffix}"),
        "nickname": as_str(data.get("nickname"), "nickname") if not param else None,
        "product": product,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
    ctx.tx.put(price)
    return price


def create_price(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("product") and params.get("product_data"):
        raise invalid("You may only specify one of these parameters: product, product_data.", param="product")
    if params.get("product"):
        product_id = ctx.load(params["product"], "product", "product", param="product")["id"]
    elif params.get("product_data"):
        product = build_product(ctx, params["product_data"], "product_data")
        ctx.emit("product.created", product)
        product_id = product["id"]
    else:
        raise invalid("Missing required param: product.", param="product", code="parameter_missing")
    price = build_price(ctx, params, "", product=product_id, active=params.get("active") in (None, "", "true", True))
    ctx.emit("price.created", price)
    return price


def price_for_item(ctx: Ctx, item: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The Price of a line item: `price` (a stored Price) or `price_data` (an inactive one,
    with an inactive Product from `product_data` unless `product` names one)."""
    if item.get("price") and item.get("price_data"):
        raise invalid("You may only specify one of these parameters: price, price_data.", param=f"{prefix}[price]")
    if item.get("price"):
        price = ctx.load(item["price"], "price", "price", param=f"{prefix}[price]")
        if not price["active"]:
            raise invalid(f"The price specified is inactive: {price['id']}", param=f"{prefix}[price]")
        return price
    data = item.get("price_data")
    if not isinstance(data, dict):
        raise invalid("Missing required param: price_data.", param=f"{prefix}[price_data]")
    param = f"{prefix}[price_data]"
    if data.get("product"):
        product_id = ctx.load(data["product"], "product", "product", param=f"{param}[product]")["id"]
    else:
        product_id = build_product(ctx, data.get("product_data"), f"{param}[product_data]", active=False)["id"]
    return build_price(ctx, data, param, product=product_id, active=False)


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy Plan view of a recurring Price (subscription items still carry it)."""
    recurring = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval", "month"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": False,
        "metadata": dict(price["metadata"]),
        "nickname": price["nickname"],
        "product": price["product"],
        "usage_type": "licensed",
    }


PAGING = {"limit", "starting_after", "ending_before", "expand", "created"}


def list_products(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    refuse_unmodelled(params, PAGING | {"active"})
    active = None if params.get("active") in (None, "") else as_bool(params["active"], "active")
    return object_page(
        ctx,
        params,
        url,
        object_type="product",
        kind="product",
        keep=lambda p: active is None or p["active"] == active,
    )


def list_prices(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    refuse_unmodelled(params, PAGING | {"active", "product", "type", "currency"})
    active = None if params.get("active") in (None, "") else as_bool(params["active"], "active")
    product = as_str(params.get("product"), "product")
    type_ = as_str(params.get("type"), "type")
    currency = as_str(params.get("currency"), "currency")

    def keep(price: dict[str, Any]) -> bool:
        return (
            (active is None or price["active"] == active)
            and (product is None or price["product"] == product)
            and (type_ is None or price["type"] == type_)
            and (currency is None or price["currency"] == currency.lower())
        )

    return object_page(ctx, params, url, object_type="price", kind="price", keep=keep)
