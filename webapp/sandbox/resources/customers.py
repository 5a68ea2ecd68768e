"""Customers: create and update (`/v1/customers`)."""

from __future__ import annotations

from typing import Any

from webapp.sandbox.clocks import clock_now
from webapp.sandbox.coerce import as_metadata, as_str, merge_metadata
from webapp.sandbox.context import Ctx, new_id
from webapp.sandbox.errors import invalid

_TEXT_FIELDS = (("email", 512), ("name", 256), ("description", 5000), ("phone", 5000))


def create_customer(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """A customer; on a `test_clock` it is made at the clock's time, as its objects will be."""
    clock = _test_clock(ctx, params.get("test_clock"))
    with ctx.at(clock_now(ctx.tx, clock, ctx.now) if clock else ctx.now):
        return _create(ctx, params, clock)


def _create(ctx: Ctx, params: dict[str, Any], clock: str | None) -> dict[str, Any]:
    customer = {
        "id": new_id("cus_", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ctx.now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": as_str(params.get("description"), "description"),
        "email": as_str(params.get("email"), "email", max_len=512),
        "invoice_prefix": new_id("", 8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": as_metadata(params.get("metadata")),
        "name": as_str(params.get("name"), "name", max_len=256),
        "phone": as_str(params.get("phone"), "phone"),
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": clock,
    }
    ctx.tx.put(customer)
    ctx.emit("customer.created", customer)
    return customer


def update_customer(ctx: Ctx, customer_id: str, params: dict[str, Any]) -> dict[str, Any]:
    customer = ctx.load(customer_id, "customer", "customer")
    previous: dict[str, Any] = {}
    for key, limit in _TEXT_FIELDS:
        if key in params:
            previous[key] = customer[key]
            customer[key] = as_str(params[key], key, max_len=limit)
    if "metadata" in params:
        previous["metadata"] = customer["metadata"]
        customer["metadata"] = merge_metadata(customer["metadata"], as_metadata(params["metadata"]))
    settings = params.get("invoice_settings")
    if isinstance(settings, dict) and "default_payment_method" in settings:
        previous["invoice_settings"] = dict(customer["invoice_settings"])
        pm_id = _default_payment_method(ctx, customer, settings["default_payment_method"])
        customer["invoice_settings"]["default_payment_method"] = pm_id
    ctx.tx.put(customer)
    if previous:
        ctx.emit("customer.updated", customer, previous)
    return customer


def _default_payment_method(ctx: Ctx, customer: dict[str, Any], value: Any) -> str | None:
    """The checked `invoice_settings[default_payment_method]`: attached to this customer."""
    param = "invoice_settings[default_payment_method]"
    pm_id = as_str(value, param)
    if pm_id is not None:
        pm = ctx.load(pm_id, "payment_method", "PaymentMethod", param=param)
        if pm.get("customer") != customer["id"]:
            raise invalid(
                f"The customer does not have a payment method with the ID {pm_id}. The payment "
                "method must be attached to the customer.",
                param=param,
            )
    return pm_id


def _test_clock(ctx: Ctx, clock_id: Any) -> str | None:
    """`test_clock`: the customer's objects then live at that clock's time."""
    if clock_id in (None, ""):
        return None
    return ctx.load(clock_id, "test_helpers.test_clock", "test_clock", param="test_clock")["id"]
