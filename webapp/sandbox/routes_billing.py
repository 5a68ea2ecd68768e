"""The sandbox's Billing routes: products, prices, subscriptions, schedules, invoices, test
clocks — each with its SDK params TypedDict and resource class, as in `routes`."""

from __future__ import annotations

from typing import Any

import stripe
import stripe.params as sp
import stripe.params.test_helpers as spt

from webapp.sandbox.context import Ctx
from webapp.sandbox.resources.invoices import list_invoice_payments, list_invoices, load_invoice, pay_invoice
from webapp.sandbox.resources.products import create_price, create_product, list_prices, list_products
from webapp.sandbox.resources.subscription_schedules import (
    cancel_schedule,
    create_schedule,
    list_schedules,
    release_schedule,
    update_schedule,
)
from webapp.sandbox.resources.subscriptions import (
    cancel_subscription,
    list_subscriptions,
    load_subscription,
    update_subscription,
)
from webapp.sandbox.resources.test_clocks import advance_clock, create_clock, delete_clock, list_clocks, load_clock
from webapp.sandbox.routes import render, render_list, route

P = dict[str, Any]
M = dict[str, str]

# -- products and prices -------------------------------------------------------------------


@route("POST", "/products", params=sp.ProductCreateParams, resource=stripe.Product)
def _create_product(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, create_product(ctx, params), params)


@route("GET", "/products", params=sp.ProductListParams, resource=stripe.Product, listing=True)
def _list_products(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render_list(ctx, list_products(ctx, params, path), params)


@route("GET", "/products/{id}", params=sp.ProductRetrieveParams, resource=stripe.Product)
def _get_product(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, ctx.load(m["id"], "product", "product"), params)


@route("POST", "/prices", params=sp.PriceCreateParams, resource=stripe.Price)
def _create_price(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, create_price(ctx, params), params)


@route("GET", "/prices", params=sp.PriceListParams, resource=stripe.Price, listing=True)
def _list_prices(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render_list(ctx, list_prices(ctx, params, path), params)


@route("GET", "/prices/{id}", params=sp.PriceRetrieveParams, resource=stripe.Price)
def _get_price(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, ctx.load(m["id"], "price", "price"), params)


# -- subscriptions -------------------------------------------------------------------------


@route("GET", "/subscriptions", params=sp.SubscriptionListParams, resource=stripe.Subscription, listing=True)
def _list_subscriptions(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render_list(ctx, list_subscriptions(ctx, params, path), params)


@route("GET", "/subscriptions/{id}", params=sp.SubscriptionRetrieveParams, resource=stripe.Subscription)
def _get_subscription(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, load_subscription(ctx, m["id"]), params)


@route("POST", "/subscriptions/{id}", params=sp.SubscriptionUpdateParams, resource=stripe.Subscription)
def _update_subscription(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, update_subscription(ctx, m["id"], params), params)


@route("DELETE", "/subscriptions/{id}", params=sp.SubscriptionCancelParams, resource=stripe.Subscription)
def _cancel_subscription(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, cancel_subscription(ctx, m["id"], params), params)


# -- subscription schedules ----------------------------------------------------------------


@route(
    "POST", "/subscription_schedules", params=sp.SubscriptionScheduleCreateParams, resource=stripe.SubscriptionSchedule
)
def _create_schedule(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, create_schedule(ctx, params), params)


@route(
    "GET",
    "/subscription_schedules",
    params=sp.SubscriptionScheduleListParams,
    resource=stripe.SubscriptionSchedule,
    listing=True,
)
def _list_schedules(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render_list(ctx, list_schedules(ctx, params, path), params)


@route(
    "GET",
    "/subscription_schedules/{id}",
    params=sp.SubscriptionScheduleRetrieveParams,
    resource=stripe.SubscriptionSchedule,
)
def _get_schedule(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, ctx.load(m["id"], "subscription_schedule", "subscription_schedule"), params)


@route(
    "POST",
    "/subscription_schedules/{id}",
    params=sp.SubscriptionScheduleUpdateParams,
    resource=stripe.SubscriptionSchedule,
)
def _update_schedule(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, update_schedule(ctx, m["id"], params), params)


@route(
    "POST",
    "/subscription_schedules/{id}/cancel",
    params=sp.SubscriptionScheduleCancelParams,
    resource=stripe.SubscriptionSchedule,
)
def _cancel_schedule(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, cancel_schedule(ctx, m["id"]), params)


@route(
    "POST",
    "/subscription_schedules/{id}/release",
    params=sp.SubscriptionScheduleReleaseParams,
    resource=stripe.SubscriptionSchedule,
)
def _release_schedule(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, release_schedule(ctx, m["id"]), params)


# -- invoices ------------------------------------------------------------------------------


@route("GET", "/invoices", params=sp.InvoiceListParams, resource=stripe.Invoice, listing=True)
def _list_invoices(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render_list(ctx, list_invoices(ctx, params, path), params)


@route("GET", "/invoices/{id}", params=sp.InvoiceRetrieveParams, resource=stripe.Invoice)
def _get_invoice(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, load_invoice(ctx, m["id"]), params)


@route("POST", "/invoices/{id}/pay", params=sp.InvoicePayParams, resource=stripe.Invoice)
def _pay_invoice(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, pay_invoice(ctx, m["id"], params), params)


@route("GET", "/invoice_payments", params=sp.InvoicePaymentListParams, resource=stripe.InvoicePayment, listing=True)
def _list_invoice_payments(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render_list(ctx, list_invoice_payments(ctx, params, path), params)


@route("GET", "/invoice_payments/{id}", params=sp.InvoicePaymentRetrieveParams, resource=stripe.InvoicePayment)
def _get_invoice_payment(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, ctx.load(m["id"], "invoice_payment", "invoice_payment"), params)


# -- test clocks ---------------------------------------------------------------------------

_CLOCK = stripe.test_helpers.TestClock


@route("POST", "/test_helpers/test_clocks", params=spt.TestClockCreateParams, resource=_CLOCK)
def _create_clock(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, create_clock(ctx, params), params)


@route("GET", "/test_helpers/test_clocks", params=spt.TestClockListParams, resource=_CLOCK, listing=True)
def _list_clocks(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render_list(ctx, list_clocks(ctx, params, path), params)


@route("GET", "/test_helpers/test_clocks/{id}", params=spt.TestClockRetrieveParams, resource=_CLOCK)
def _get_clock(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, load_clock(ctx, m["id"]), params)


@route("POST", "/test_helpers/test_clocks/{id}/advance", params=spt.TestClockAdvanceParams, resource=_CLOCK)
def _advance_clock(ctx: Ctx, params: P, m: M, path: str) -> P:
    return render(ctx, advance_clock(ctx, m["id"], params), params)


@route("DELETE", "/test_helpers/test_clocks/{id}", params=spt.TestClockDeleteParams, resource=_CLOCK)
def _delete_clock(ctx: Ctx, params: P, m: M, path: str) -> P:
    return delete_clock(ctx, m["id"])  # Stripe's deleted-object answer: id, object, deleted
