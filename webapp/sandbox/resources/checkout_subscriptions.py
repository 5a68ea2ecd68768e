"""Paying a subscription-mode Checkout Session on the hosted page.

What Stripe's page does, in its event order: the customer (made now if the session had
none: `customer.created`), the card saved to it (`payment_method.attached`) and made the
subscription's `default_payment_method`, the Subscription (`incomplete`,
`customer.subscription.created`), its first Invoice — the recurring items' first period
and the one-time items — finalized and charged (`invoice.created`, `invoice.finalized`,
`payment_intent.created`, `charge.succeeded`, `payment_intent.succeeded`, `invoice.paid`,
`invoice.payment_succeeded`), the subscription `active` (`customer.subscription.updated`),
then `checkout.session.completed` with `subscription` and `invoice` set.

A card declined when charged leaves the session open with the decline shown, and nothing
made: the sandbox decides the card before making the subscription (Stripe would leave an
`incomplete` one behind). 4000 0000 0000 0341 — "attaches, but later charges fail" — is the
sandbox's card for installments that fail: it is saved and pays the first invoice here,
with the customer on the page, and every later charge of it (renewals, retries,
`invoices.pay`) is declined. (Stripe's own 0341 declines that first charge too; the sandbox
keeps one card that reaches past due from a single checkout.)
"""

from __future__ import annotations

from typing import Any

from webapp.sandbox.clocks import clock_now
from webapp.sandbox.context import Ctx
from webapp.sandbox.resources.customers import create_customer
from webapp.sandbox.resources.invoices import attempt, create_invoice
from webapp.sandbox.resources.payment_methods import build_card_payment_method
from webapp.sandbox.resources.subscriptions import build_subscription


def pay_subscription(ctx: Ctx, session: dict[str, Any], number: str, exp: tuple[int | None, int | None]) -> None:
    """Completes the session's subscription and first invoice, paid by card `number`."""
    customer = _customer(ctx, session)
    with ctx.at(clock_now(ctx.tx, customer.get("test_clock"), ctx.now)):
        pm = build_card_payment_method(
            ctx, number, exp_month=exp[0], exp_year=exp[1], customer=customer["id"], allow_redisplay="always"
        )
        ctx.tx.put(pm)
        ctx.emit("payment_method.attached", pm)
        items = session["_line_items"]
        recurring = [(i["price"], i["quantity"]) for i in items if i["price"]["type"] == "recurring"]
        one_time = [(i["price"], i["quantity"]) for i in items if i["price"]["type"] != "recurring"]
        sub_data = session.get("_subscription_data") or {}
        sub = build_subscription(
            ctx, customer=customer, prices=recurring, payment_method=pm["id"], metadata=sub_data.get("metadata") or {}
        )
        sub["description"] = sub_data.get("description")
        ctx.tx.put(sub)
        ctx.emit("customer.subscription.created", sub)
        invoice = create_invoice(ctx, sub, "subscription_create", one_time)
        attempt(ctx, invoice, pm, customer_present=True)
    session.update(subscription=sub["id"], invoice=invoice["id"], payment_status="paid")


def _customer(ctx: Ctx, session: dict[str, Any]) -> dict[str, Any]:
    if session.get("customer"):
        customer = ctx.tx.get(session["customer"])
        assert customer is not None
        return customer
    customer = create_customer(ctx, {"email": session.get("customer_email")})
    session["customer"] = customer["id"]
    return customer
