"""Invoices of subscriptions: made, finalized, paid (or retried), listed; `POST .../pay`.

Each invoice is finalized as soon as it is made (Stripe waits about an hour for a renewal
draft; nothing here needs that hour) and charged at once to the subscription's
`default_payment_method` (else the customer's `invoice_settings.default_payment_method`).
One PaymentIntent serves every attempt of an invoice, as at Stripe; its payments are the
includable `payments` list (`expand[]=payments`).

Smart retries, simplified and fixed (the sandbox's documented schedule, like Stripe's
default of about eight attempts within two weeks): after the first failed attempt the
invoice is retried 1, 3, 5, 7, 9, 11 and 14 days later (`next_payment_attempt`);
meanwhile a renewal's subscription is `past_due`. When the last retry fails the
subscription is canceled (`customer.subscription.deleted`, reason `payment_failed`) and the
invoice stays `open` with no next attempt. Paying it (`invoices.pay`) still works then, but
does not bring a canceled subscription back.
"""

from __future__ import annotations

from typing import Any

from webapp.sandbox.cards import card_error
from webapp.sandbox.clocks import DAY, clock_now
from webapp.sandbox.coerce import as_str, refuse_unmodelled
from webapp.sandbox.context import Ctx, list_object, new_id, public
from webapp.sandbox.errors import KeptError, invalid
from webapp.sandbox.lists import object_page
from webapp.sandbox.money import format_amount
from webapp.sandbox.resources.charges import build_failed_charge
from webapp.sandbox.resources.payment_intents import capture, new_payment_intent, record_failure
from webapp.sandbox.resources.products import PAGING
from webapp.sandbox.resources.subscriptions import end_subscription, set_status

RETRY_DAYS = (1, 3, 5, 7, 9, 11, 14)  # days after the first failed attempt


def line_for(ctx: Ctx, sub: dict[str, Any], price: dict[str, Any], quantity: int, item: dict[str, Any] | None):
    """One invoice line: a subscription item's period, or a one-time price (`item` None)."""
    start = item["current_period_start"] if item else ctx.now
    end = item["current_period_end"] if item else ctx.now
    amount = price["unit_amount"] * quantity
    product = ctx.tx.get(price["product"]) or {"name": price["product"]}
    every = f" / {price['recurring']['interval']}" if price.get("recurring") else ""
    unit = format_amount(price["unit_amount"], price["currency"])
    return {
        "id": new_id("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": f"{quantity} × {product['name']} (at {unit}{every})",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details" if item else "invoice_item_details",
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            }
            if item
            else None,
            "invoice_item_details": None
            if item
            else {
                "invoice_item": new_id("ii_"),
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
            },
        },
        "period": {"start": start, "end": end},
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price["id"], "product": price["product"]},
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": quantity,
        "subtotal": amount,
        "taxes": [],
    }


def create_invoice(
    ctx: Ctx,
    sub: dict[str, Any],
    reason: str,
    extra: list[tuple[dict[str, Any], int]],
    period: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The finalized invoice of the subscription's current period (plus one-time `extra`
    prices on the first one): `invoice.created`, `invoice.finalized`. Not yet charged.

    Its lines bill the period ahead; its own `period_start`/`period_end` are Stripe's
    "usage period": the period just ended for a renewal (`period`), now for the first.
    """
    period_start, period_end = period or (ctx.now, ctx.now)
    customer = ctx.tx.get(sub["customer"]) or {}
    inv_id = new_id("in_")
    lines = [line_for(ctx, sub, item["price"], item["quantity"], item) for item in sub["items"]["data"]]
    lines += [line_for(ctx, sub, price, quantity, None) for price, quantity in extra]
    for line in lines:
        line["invoice"] = inv_id
    total = sum(line["amount"] for line in lines)
    count = len(ctx.tx.all_of_type("invoice", customer=sub["customer"])) + 1
    invoice = {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Stripe sandbox",
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "created": ctx.now,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": ctx.now,
        "ending_balance": 0,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "lines": list_object(f"/v1/invoices/{inv_id}/lines", lines),
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": f"{customer.get('invoice_prefix', 'SANDBOX')}-{count:04d}",
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
        },
        "period_end": period_end,
        "period_start": period_start,
        "starting_balance": 0,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": sub.get("test_clock"),
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_taxes": [],
        "webhooks_delivered_at": ctx.now,
        "_payments": [],
    }
    ctx.tx.put(invoice)
    ctx.emit("invoice.created", invoice)
    invoice["status"] = "open"
    invoice["status_transitions"]["finalized_at"] = ctx.now
    ctx.tx.put(invoice)
    ctx.emit("invoice.finalized", invoice)
    sub["latest_invoice"] = inv_id  # the caller's customer.subscription.* event carries it
    ctx.tx.put(sub)
    return invoice


def payment_method_for(ctx: Ctx, invoice: dict[str, Any]) -> dict[str, Any] | None:
    """Who pays: the invoice's, then the subscription's, then the customer's default."""
    sub = ctx.tx.get(subscription_of(invoice) or "") or {}
    customer = ctx.tx.get(invoice["customer"]) or {}
    for pm_id in (
        invoice.get("default_payment_method"),
        sub.get("default_payment_method"),
        (customer.get("invoice_settings") or {}).get("default_payment_method"),
    ):
        pm = ctx.tx.get(pm_id) if pm_id else None
        if pm is not None:
            return pm
    return None


def subscription_of(invoice: dict[str, Any]) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription")


def _intent_for(ctx: Ctx, invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice's PaymentIntent, made on its first attempt (`payment_intent.created`)."""
    for payment_id in invoice["_payments"]:
        payment = ctx.tx.get(payment_id) or {"payment": {"payment_intent": ""}}
        pi = ctx.tx.get(payment["payment"]["payment_intent"])
        if pi is not None and pi["status"] == "requires_payment_method":
            return pi
    reason = invoice["billing_reason"]
    pi = new_payment_intent(
        ctx,
        amount=invoice["amount_due"],
        currency=invoice["currency"],
        customer=invoice["customer"],
        description="Subscription creation" if reason == "subscription_create" else "Subscription update",
        metadata={},
    )
    ctx.tx.put(pi)
    ctx.emit("payment_intent.created", pi)
    payment = {
        "id": new_id("inpay_"),
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice["amount_due"],
        "created": ctx.now,
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": pi["id"], "charge": None, "payment_record": None},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }
    ctx.tx.put(payment)
    invoice["_payments"].insert(0, payment["id"])
    return pi


def attempt(
    ctx: Ctx,
    invoice: dict[str, Any],
    pm: dict[str, Any] | None,
    *,
    automatic: bool = True,
    customer_present: bool = False,
) -> dict[str, Any] | None:
    """Charges the open invoice to `pm`; returns the card error of a failed attempt (None: paid).

    A failed automatic attempt schedules the next retry (module docstring), or ends the
    subscription after the last one; a failed manual one (`invoices.pay`) changes neither.
    Success marks the invoice paid and a past-due subscription active again.
    """
    pi = _intent_for(ctx, invoice)
    invoice.update(attempted=True, attempt_count=invoice["attempt_count"] + 1)
    decline = "generic_decline" if pm is None else pm.get("_charge_decline")
    if customer_present and pm is not None and pm.get("_declines_off_session_only"):
        decline = None  # 0341 pays while the customer is on Checkout's page (checkout_subscriptions)
    if decline is None and pm is not None:
        _paid(ctx, invoice, pi, pm)
        return None
    error = card_error(decline or "generic_decline")
    if pm is not None:
        charge = build_failed_charge(ctx, pi, pm, error)
        ctx.tx.put(charge)
        ctx.emit("charge.failed", charge)
        error.update(charge=charge["id"], payment_method=public(pm))
        pi.update(latest_charge=charge["id"], payment_method=pm["id"])
    record_failure(ctx, pi, error)
    if automatic:
        _failed(ctx, invoice)
    else:
        ctx.tx.put(invoice)
        ctx.emit("invoice.payment_failed", invoice)
    return error


def _paid(ctx: Ctx, invoice: dict[str, Any], pi: dict[str, Any], pm: dict[str, Any]) -> None:
    charge = capture(ctx, pi, pm)
    payment = ctx.tx.get(invoice["_payments"][0])
    assert payment is not None
    payment.update(amount_paid=invoice["amount_due"], status="paid")
    payment["status_transitions"]["paid_at"] = ctx.now
    ctx.tx.put(payment)
    invoice.update(amount_paid=invoice["amount_due"], amount_remaining=0, status="paid", next_payment_attempt=None)
    invoice["status_transitions"]["paid_at"] = ctx.now
    invoice["_charge"] = charge["id"]
    ctx.tx.put(invoice)
    ctx.emit("invoice.paid", invoice)
    ctx.emit("invoice.payment_succeeded", invoice)
    sub = ctx.tx.get(subscription_of(invoice) or "")
    if sub is not None and sub["status"] in ("incomplete", "past_due", "unpaid"):
        set_status(ctx, sub, "active")


def _failed(ctx: Ctx, invoice: dict[str, Any]) -> None:
    first_failure = invoice.setdefault("_first_failed_at", ctx.now)
    invoice["_automatic_failures"] = invoice.get("_automatic_failures", 0) + 1
    retries_done = invoice["_automatic_failures"] - 1
    last = retries_done >= len(RETRY_DAYS)
    invoice["next_payment_attempt"] = None if last else first_failure + RETRY_DAYS[retries_done] * DAY
    ctx.tx.put(invoice)
    ctx.emit("invoice.payment_failed", invoice)
    sub = ctx.tx.get(subscription_of(invoice) or "")
    if sub is None or sub["status"] == "incomplete":
        return
    if last and sub["status"] != "canceled":
        end_subscription(ctx, sub, "payment_failed")
    elif sub["status"] == "active":
        set_status(ctx, sub, "past_due")


def load_invoice(ctx: Ctx, inv_id: str) -> dict[str, Any]:
    return ctx.load(inv_id, "invoice", "invoice")


def pay_invoice(ctx: Ctx, inv_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/invoices/:id/pay`: charges it now (to `payment_method` if given).

    A decline is Stripe's 402 card_error; the failed attempt is kept (`attempt_count`,
    `invoice.payment_failed`) and the invoice keeps its retry schedule.
    """
    invoice = load_invoice(ctx, inv_id)
    with ctx.at(clock_now(ctx.tx, invoice.get("test_clock"), ctx.now)):
        return _pay(ctx, invoice, params)


def _pay(ctx: Ctx, invoice: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    if invoice["status"] == "paid":
        raise invalid("Invoice is already paid", param="invoice", code="invoice_already_paid")
    if invoice["status"] != "open":
        raise invalid(f"You can only pay an open invoice. This invoice is {invoice['status']}.", param="invoice")
    pm_id = as_str(params.get("payment_method"), "payment_method")
    if pm_id is not None:
        pm = ctx.load(pm_id, "payment_method", "PaymentMethod", param="payment_method")
        if pm.get("customer") != invoice["customer"]:
            raise invalid("The PaymentMethod must be attached to the customer of the invoice.", param="payment_method")
    else:
        pm = payment_method_for(ctx, invoice)
    error = attempt(ctx, invoice, pm, automatic=False)
    if error is not None:
        extra = {k: v for k, v in error.items() if k in ("decline_code", "charge", "payment_method")}
        raise KeptError(402, error["message"], type_="card_error", code=error["code"], extra=extra)
    return invoice


def invoice_payments(ctx: Ctx, invoice: dict[str, Any]) -> dict[str, Any]:
    """The includable `payments` list (what `expand[]=payments` adds), newest first."""
    payments = [ctx.tx.get(payment_id) for payment_id in invoice["_payments"]]
    return list_object(f"/v1/invoice_payments?invoice={invoice['id']}", [public(p) for p in payments if p])


def list_invoice_payments(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    """`GET /v1/invoice_payments`: by `invoice`, `payment[payment_intent]`, `status` — how
    a PaymentIntent (which names no invoice in this API version) finds its invoice."""
    refuse_unmodelled(params, PAGING | {"invoice", "status", "payment"})
    inv_id = as_str(params.get("invoice"), "invoice")
    status = as_str(params.get("status"), "status")
    payment = params.get("payment") if isinstance(params.get("payment"), dict) else {}
    pi_id = as_str(payment.get("payment_intent"), "payment[payment_intent]")

    def keep(obj: dict[str, Any]) -> bool:
        return (
            (inv_id is None or obj["invoice"] == inv_id)
            and (status is None or obj["status"] == status)
            and (pi_id is None or obj["payment"]["payment_intent"] == pi_id)
        )

    return object_page(ctx, params, url, object_type="invoice_payment", kind="invoice_payment", keep=keep)


def list_invoices(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    refuse_unmodelled(params, PAGING | {"status", "subscription", "customer", "collection_method"})
    status = as_str(params.get("status"), "status")
    sub_id = as_str(params.get("subscription"), "subscription")
    method = as_str(params.get("collection_method"), "collection_method")

    def keep(invoice: dict[str, Any]) -> bool:
        return (
            (status is None or invoice["status"] == status)
            and (sub_id is None or subscription_of(invoice) == sub_id)
            and (method is None or invoice["collection_method"] == method)
        )

    return object_page(
        ctx,
        params,
        url,
        object_type="invoice",
        kind="invoice",
        keep=keep,
        customer=as_str(params.get("customer"), "customer"),
    )
