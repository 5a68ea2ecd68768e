"""PaymentMethods: built by the hosted page, attached, detached, listed."""

from __future__ import annotations

import time
from typing import Any

from webapp.sandbox.cards import CHARGE_ONLY_DECLINES, TEST_CARDS, TEST_PM_TOKENS, charge_decline_for
from webapp.sandbox.coerce import as_str
from webapp.sandbox.context import Ctx, new_id, public
from webapp.sandbox.errors import invalid
from webapp.sandbox.lists import object_page


def build_card_payment_method(
    ctx: Ctx,
    number: str,
    *,
    exp_month: int | None = None,
    exp_year: int | None = None,
    customer: str | None = None,
    allow_redisplay: str = "unspecified",
) -> dict[str, Any]:
    brand, funding, _ = TEST_CARDS.get(number, ("visa", "credit", None))
    this_year = time.gmtime(ctx.now).tm_year
    return {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": allow_redisplay,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": brand,
            "display_brand": brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "exp_month": exp_month or 12,
            "exp_year": exp_year or this_year + 3,
            "fingerprint": new_id("", 16),
            "funding": funding,
            "last4": number[-4:],
            "networks": {"available": [brand], "preferred": None},
            "wallet": None,
        },
        "created": ctx.now,
        "customer": customer,
        "livemode": False,
        "metadata": {},
        "type": "card",
        "_charge_decline": charge_decline_for(number),  # what charging it later gives
        "_declines_off_session_only": number in CHARGE_ONLY_DECLINES,  # 0341: paid while the customer is present
    }


def build_customer_balance_payment_method(ctx: Ctx, customer: str | None) -> dict[str, Any]:
    """The PaymentMethod of a bank transfer (Stripe's `customer_balance` type)."""
    return {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "created": ctx.now,
        "customer": customer,
        "customer_balance": {},
        "livemode": False,
        "metadata": {},
        "type": "customer_balance",
    }


def attach_payment_method(ctx: Ctx, pm_id: str, params: dict[str, Any]) -> dict[str, Any]:
    customer_id = as_str(params.get("customer"), "customer", required=True)
    assert customer_id is not None
    ctx.load(customer_id, "customer", "customer", param="customer")
    if pm_id in TEST_PM_TOKENS:
        pm = build_card_payment_method(ctx, TEST_PM_TOKENS[pm_id], customer=customer_id)
    else:
        pm = ctx.load(pm_id, "payment_method", "PaymentMethod", param="payment_method")
        if pm.get("customer") == customer_id:
            return pm
        if pm.get("customer"):
            raise invalid(
                "The payment method you provided has already been attached to a customer.",
                param="payment_method",
            )
        pm["customer"] = customer_id
    ctx.tx.put(pm)
    ctx.emit("payment_method.attached", pm)
    return pm


def detach_payment_method(ctx: Ctx, pm_id: str) -> dict[str, Any]:
    pm = ctx.load(pm_id, "payment_method", "PaymentMethod", param="payment_method")
    customer_id = pm.get("customer")
    if not customer_id:
        raise invalid(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            param="payment_method",
        )
    customer = ctx.tx.get(customer_id)
    if customer and customer["invoice_settings"].get("default_payment_method") == pm_id:
        # Stripe clears the default when its payment method is detached.
        customer["invoice_settings"]["default_payment_method"] = None
        ctx.tx.put(customer)
    pm["customer"] = None
    ctx.tx.put(pm)
    ctx.emit("payment_method.detached", pm, {"customer": customer_id})
    return pm


def list_payment_methods(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    """A customer's PaymentMethods (`customer` required here), optionally of one `type`."""
    customer_id = as_str(params.get("customer"), "customer", required=True)
    assert customer_id is not None
    ctx.load(customer_id, "customer", "customer", param="customer")
    wanted_type = as_str(params.get("type"), "type")
    page = object_page(
        ctx,
        params,
        url,
        object_type="payment_method",
        kind="payment_method",
        keep=lambda pm: wanted_type is None or pm["type"] == wanted_type,
        customer=customer_id,
    )
    page["data"] = [public(pm) for pm in page["data"]]
    return page
