"""The sandbox's REST routes: each names its handler and Stripe's definitions for it.

A route carries the SDK's params TypedDict for its request (what `validation` checks) and
the SDK resource class of the object it returns (what `expand` may name, what the
conformance tests compare against). `listing` routes return Stripe's list envelope.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe
import stripe.params as sp
import stripe.params.checkout as spc

from webapp.sandbox.context import Ctx, public
from webapp.sandbox.errors import invalid, missing
from webapp.sandbox.expand import expand
from webapp.sandbox.lists import list_events
from webapp.sandbox.resources.checkout_sessions import (
    create_checkout_session,
    expire_session,
    list_sessions,
    load_session,
    session_line_items,
)
from webapp.sandbox.resources.customers import create_customer, update_customer
from webapp.sandbox.resources.payment_methods import (
    attach_payment_method,
    detach_payment_method,
    list_payment_methods,
)
from webapp.sandbox.resources.refunds import create_refund, list_refunds

Handler = Callable[[Ctx, dict[str, Any], dict[str, str], str], dict[str, Any]]

_ID = r"(?P<id>[A-Za-z0-9_]+)"


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. "/v1/customers/{id}"
    pattern: re.Pattern[str]
    handler: Handler
    params: type  # the SDK's request TypedDict
    resource: type  # the SDK resource class of the returned object (of each item, for lists)
    listing: bool


ROUTES: list[Route] = []


def route(
    method: str, template: str, *, params: type, resource: type, listing: bool = False
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        pattern = re.compile(f"^/v1{template.replace('{id}', _ID)}$")
        ROUTES.append(Route(method, "/v1" + template, pattern, handler, params, resource, listing))
        return handler

    return register


def match(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for candidate in ROUTES:
        if candidate.method == method:
            found = candidate.pattern.match(path)
            if found:
                return candidate, found.groupdict()
    return None, {}


def expand_paths(params: dict[str, Any]) -> list[str]:
    value = params.get("expand") or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("Invalid array", param="expand")
    return value


def render(ctx: Ctx, obj: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The public object with `expand[]` applied (includable lists added when asked for)."""
    return expand(ctx, public(obj), expand_paths(params))


def render_list(ctx: Ctx, result: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A list envelope with `expand[]=data.x` applied to each item."""
    item_params = {"expand": [p[5:] for p in expand_paths(params) if p.startswith("data.")]}
    result["data"] = [render(ctx, item, item_params) for item in result["data"]]
    return result


# -- customers -----------------------------------------------------------------------------


@route("POST", "/customers", params=sp.CustomerCreateParams, resource=stripe.Customer)
def _create_customer(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, create_customer(ctx, params), params)


@route("GET", "/customers/{id}", params=sp.CustomerRetrieveParams, resource=stripe.Customer)
def _get_customer(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, ctx.load(m["id"], "customer", "customer"), params)


@route("POST", "/customers/{id}", params=sp.CustomerUpdateParams, resource=stripe.Customer)
def _update_customer(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, update_customer(ctx, m["id"], params), params)


@route(
    "GET",
    "/customers/{id}/payment_methods",
    params=sp.CustomerListPaymentMethodsParams,
    resource=stripe.PaymentMethod,
    listing=True,
)
def _customer_pms(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render_list(ctx, list_payment_methods(ctx, {**params, "customer": m["id"]}, path), params)


# -- checkout sessions ---------------------------------------------------------------------


@route("POST", "/checkout/sessions", params=spc.SessionCreateParams, resource=stripe.checkout.Session)
def _create_session(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, create_checkout_session(ctx, params), params)


@route("GET", "/checkout/sessions", params=spc.SessionListParams, resource=stripe.checkout.Session, listing=True)
def _list_sessions(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render_list(ctx, list_sessions(ctx, params, path), params)


@route("GET", "/checkout/sessions/{id}", params=spc.SessionRetrieveParams, resource=stripe.checkout.Session)
def _get_session(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, load_session(ctx, m["id"]), params)


@route(
    "GET",
    "/checkout/sessions/{id}/line_items",
    params=spc.SessionListLineItemsParams,
    resource=stripe.LineItem,
    listing=True,
)
def _session_items(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return session_line_items(load_session(ctx, m["id"]), path)


@route("POST", "/checkout/sessions/{id}/expire", params=spc.SessionExpireParams, resource=stripe.checkout.Session)
def _expire_session(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, expire_session(ctx, m["id"]), params)


# -- payment intents, charges, setup intents -----------------------------------------------


@route("GET", "/payment_intents/{id}", params=sp.PaymentIntentRetrieveParams, resource=stripe.PaymentIntent)
def _get_pi(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, ctx.load(m["id"], "payment_intent", "payment_intent", param="intent"), params)


@route("GET", "/charges/{id}", params=sp.ChargeRetrieveParams, resource=stripe.Charge)
def _get_charge(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, ctx.load(m["id"], "charge", "charge"), params)


@route("GET", "/setup_intents/{id}", params=sp.SetupIntentRetrieveParams, resource=stripe.SetupIntent)
def _get_seti(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, ctx.load(m["id"], "setup_intent", "setup_intent", param="intent"), params)


# -- payment methods -----------------------------------------------------------------------


@route("GET", "/payment_methods", params=sp.PaymentMethodListParams, resource=stripe.PaymentMethod, listing=True)
def _list_pms(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render_list(ctx, list_payment_methods(ctx, params, path), params)


@route("GET", "/payment_methods/{id}", params=sp.PaymentMethodRetrieveParams, resource=stripe.PaymentMethod)
def _get_pm(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, ctx.load(m["id"], "payment_method", "PaymentMethod", param="payment_method"), params)


@route("POST", "/payment_methods/{id}/attach", params=sp.PaymentMethodAttachParams, resource=stripe.PaymentMethod)
def _attach_pm(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, attach_payment_method(ctx, m["id"], params), params)


@route("POST", "/payment_methods/{id}/detach", params=sp.PaymentMethodDetachParams, resource=stripe.PaymentMethod)
def _detach_pm(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, detach_payment_method(ctx, m["id"]), params)


# -- refunds -------------------------------------------------------------------------------


@route("POST", "/refunds", params=sp.RefundCreateParams, resource=stripe.Refund)
def _create_refund(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, create_refund(ctx, params), params)


@route("GET", "/refunds", params=sp.RefundListParams, resource=stripe.Refund, listing=True)
def _list_refunds(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render_list(ctx, list_refunds(ctx, params, path), params)


@route("GET", "/refunds/{id}", params=sp.RefundRetrieveParams, resource=stripe.Refund)
def _get_refund(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return render(ctx, ctx.load(m["id"], "refund", "refund"), params)


# -- events --------------------------------------------------------------------------------


@route("GET", "/events/{id}", params=sp.EventRetrieveParams, resource=stripe.Event)
def _get_event(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    evt = ctx.tx.get_event(m["id"])
    if evt is None:
        raise missing("event", m["id"])
    return evt


@route("GET", "/events", params=sp.EventListParams, resource=stripe.Event, listing=True)
def _list_events(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return list_events(ctx, params, path)


# The Billing routes register themselves with `route` (kept apart for the module's size).
from webapp.sandbox import routes_billing  # noqa: E402, F401
