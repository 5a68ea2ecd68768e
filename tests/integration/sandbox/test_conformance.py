"""Conformance to the pinned SDK: every endpoint, every object, every declared field.

Expectations come from the `stripe` package itself — resource classes' annotations for
objects, `stripe.params` for requests — read here independently of the sandbox's own reader.
The flow drives the app's real gateway and the hosted page, then walks each route the
sandbox serves: each answer (and each object nested or listed in it) must carry exactly the
fields its resource class declares, with values of the declared types and enum values within
the declared literals; ids carry Stripe's prefixes; an unknown parameter is refused
everywhere. The gateway's own requests during the flow must all pass validation.
"""

from __future__ import annotations

import importlib
import sys
import types
import typing
from decimal import Decimal
from typing import Any, ForwardRef, Literal, Union

import pytest
import stripe
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject, UntypedStripeObject

from tests.support.sandbox import new_checkout, pay
from webapp.sandbox import get_sandbox, settle_session
from webapp.sandbox.routes import ROUTES

from .api_helpers import call

PREFIXES = {
    "customer": "cus_",
    "checkout.session": "cs_test_",
    "payment_intent": "pi_",
    "charge": "ch_",
    "refund": "re_",
    "payment_method": "pm_",
    "setup_intent": "seti_",
    "event": "evt_",
    "product": "prod_",
    "price": "price_",
    "item": "li_",
    "subscription": "sub_",
    "subscription_item": "si_",
    "subscription_schedule": "sub_sched_",
    "invoice": "in_",
    "line_item": "il_",
    "invoice_payment": "inpay_",
    "test_helpers.test_clock": "clock_",
}
# Fields Stripe leaves out unless they apply; includable lists (`ListObject` fields) too,
# which are present only when expanded.
MAY_BE_ABSENT = {"failure_reason", "failure_balance_transaction", "decline_code"}


@pytest.fixture
def sandbox_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'stripe-sandbox.db'}"


# -- the SDK's declarations, read directly -------------------------------------------------


def _resolve(tp: Any, owner: type) -> Any:
    if isinstance(tp, ForwardRef):
        tp = tp.__forward_arg__
    if isinstance(tp, str):
        for space in (vars(owner), vars(sys.modules[owner.__module__]), vars(stripe), vars(stripe.checkout)):
            if tp in space:
                return space[tp]
        return Any
    return tp


def _declared(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, tp in vars(klass).get("__annotations__", {}).items():
            if not name.startswith("_") and typing.get_origin(tp) is not typing.ClassVar:
                out[name] = tp
    return out


def _members(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp) if typing.get_origin(tp) in (Union, types.UnionType) else (tp,)


def _class_of(name: str) -> type:
    module, cls = OBJECT_CLASSES[name]
    return getattr(importlib.import_module(module), cls)


def conforms(value: Any, cls: type, where: str, problems: list[str]) -> None:
    """Appends to `problems` each way the dict `value` differs from what `cls` declares."""
    if isinstance(value.get("object"), str) and value["object"] in OBJECT_CLASSES:
        cls = _class_of(value["object"])
        prefix = PREFIXES.get(value["object"])
        if prefix and not str(value.get("id", "")).startswith(prefix):
            problems.append(f"{where}.id {value.get('id')!r} lacks the prefix {prefix}")
    declared = _declared(cls)
    for name in sorted(set(value) - set(declared)):
        problems.append(f"{where}.{name} is not declared by {cls.__name__}")
    for name, tp in declared.items():
        if name not in value:
            includable = any(typing.get_origin(m) is ListObject for m in _members(tp))
            if name not in MAY_BE_ABSENT and not includable:
                problems.append(f"{where}.{name} is missing")
            continue
        _check_value(value[name], tp, cls, f"{where}.{name}", problems)


def _check_value(value: Any, tp: Any, owner: type, where: str, problems: list[str]) -> None:
    options = [_resolve(m, owner) for m in _members(tp)]
    if value is None:
        if type(None) not in options and Any not in options:
            problems.append(f"{where} is null but not optional")
        return
    literals = [v for m in options if typing.get_origin(m) is Literal for v in typing.get_args(m)]
    if isinstance(value, str) and literals and value not in literals and str in options:
        problems.append(f"{where} = {value!r} is not one of the declared {literals}")
    if not any(_fits(value, m, owner, where, problems) for m in options):
        problems.append(f"{where} = {value!r:.80} fits none of {options}")


def _fits(value: Any, tp: Any, owner: type, where: str, problems: list[str]) -> bool:  # noqa: C901
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin is Literal:
        return value in typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, StripeObject) and tp is not UntypedStripeObject:
        if isinstance(value, dict):
            conforms(value, tp, where, problems)
            return True
        return False
    if origin is ListObject:
        if isinstance(value, dict) and value.get("object") == "list":
            item = _resolve(typing.get_args(tp)[0], owner)
            for i, entry in enumerate(value["data"]):
                conforms(entry, item, f"{where}.data[{i}]", problems)
            return True
        return False
    if origin is UntypedStripeObject or tp is UntypedStripeObject or origin is dict:
        return isinstance(value, dict)
    if origin is list:
        if not isinstance(value, list):
            return False
        for i, entry in enumerate(value):
            _check_value(entry, typing.get_args(tp)[0], owner, f"{where}[{i}]", problems)
        return True
    if tp is Decimal:
        # A `decimal_string` on the wire (the SDK's `_field_encodings` decode it).
        return isinstance(value, str) and _is_decimal(value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _is_decimal(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


# -- the flow ------------------------------------------------------------------------------


@pytest.fixture
def world(sbx_app, gateway, client) -> dict[str, str]:
    """A customer who paid by card, saved a card, paid by bank transfer, got a refund."""
    customer = gateway.create_customer(email="w@example.test", name="W", user_id="u_w", idempotency_key="w-cus")
    card = gateway.attach_payment_method("pm_card_visa", customer)
    gateway.set_default_payment_method(customer, card.id)
    paid = new_checkout(gateway, customer_id=customer, idempotency_key="w-cs-1")
    assert pay(client, paid, "4000 0000 0000 0002").status_code == 200  # a decline first
    assert pay(client, paid).status_code == 303
    paid = gateway.retrieve_checkout_session(paid.id)
    refund = gateway.create_refund(
        payment_intent_id=paid.payment_intent_id, amount=300, reason_metadata={"why": "t"}, idempotency_key="w-re"
    )
    setup = gateway.create_setup_checkout(
        customer_id=customer,
        currency="usd",
        success_url="http://localhost/ok",
        cancel_url="http://localhost/no",
        metadata={"k": "v"},
        idempotency_key="w-setup",
    )
    assert pay(client, setup).status_code == 303
    setup = gateway.retrieve_checkout_session(setup.id)
    transfer = new_checkout(gateway, customer_id=customer, idempotency_key="w-cs-2")
    client.post(transfer.url, data={"action": "pay", "method": "bank_transfer"})
    settle_session(sbx_app, transfer.id)
    expired = new_checkout(gateway, idempotency_key="w-cs-3")
    gateway.expire_checkout_session(expired.id)
    pi = gateway.retrieve_payment_intent(paid.payment_intent_id)
    gateway.list_checkout_sessions(customer_id=customer)
    gateway.list_checkout_sessions(payment_intent=paid.payment_intent_id)
    gateway.list_card_payment_methods(customer)
    gateway.list_refunds(paid.payment_intent_id)
    gateway.retrieve_refund(refund.id)
    gateway.get_default_payment_method(customer)
    billing = _billing_world(gateway.stripe_client, client, customer)
    event_id = get_sandbox(sbx_app).recent_events(limit=1)[0][0]["id"]
    gateway.retrieve_event(event_id)
    return {
        **billing,
        "customer": customer,
        "checkout.session": paid.id,
        "payment_intent": paid.payment_intent_id,
        "charge": pi.latest_charge,
        "refund": refund.id,
        "payment_method": card.id,
        "setup_intent": setup.setup_intent_id,
        "event": event_id,
    }


def _billing_world(sc: stripe.StripeClient, client, customer: str) -> dict[str, str]:
    """A subscription paid through Checkout, on a schedule, renewed once by its test clock."""
    clock = sc.v1.test_helpers.test_clocks.create({"frozen_time": 1_800_000_000})
    on_clock = sc.v1.customers.create({"email": "c@example.test", "test_clock": clock.id})
    product = sc.v1.products.create({"name": "Course"})
    price = sc.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount": 3000, "recurring": {"interval": "month"}}
    )
    session = sc.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": on_clock.id,
            "line_items": [
                {"price": price.id, "quantity": 1},
                {"price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "Fee"}}},
            ],
            "subscription_data": {"metadata": {"k": "v"}},
            "success_url": "http://localhost/ok",
        }
    )
    assert pay(client, session).status_code == 303
    sub_id = sc.v1.checkout.sessions.retrieve(session.id).subscription
    schedule = sc.v1.subscription_schedules.create({"from_subscription": sub_id})
    sc.v1.subscription_schedules.update(
        schedule.id,
        {
            "end_behavior": "cancel",
            "phases": [{"items": [{"price": price.id}], "duration": {"interval": "month", "interval_count": 3}}],
        },
    )
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": 1_800_000_000 + 32 * 24 * 3600})
    invoice = sc.v1.subscriptions.retrieve(sub_id).latest_invoice
    payment = sc.v1.invoice_payments.list({"invoice": invoice}).data[0]
    # One test-clock customer and no subscription of the others: list by that customer.
    return {
        "billing_customer": on_clock.id,
        "product": product.id,
        "price": price.id,
        "subscription": sub_id,
        "subscription_schedule": schedule.id,
        "invoice": invoice,
        "invoice_payment": payment.id,
        "test_clock": clock.id,
    }


def _path_for(template: str, world: dict[str, str]) -> str:
    if "{id}" not in template:
        return template
    kind = {
        "customers": "customer",
        "sessions": "checkout.session",
        "payment_intents": "payment_intent",
        "charges": "charge",
        "refunds": "refund",
        "payment_methods": "payment_method",
        "setup_intents": "setup_intent",
        "events": "event",
        "products": "product",
        "prices": "price",
        "subscriptions": "subscription",
        "subscription_schedules": "subscription_schedule",
        "invoices": "invoice",
        "invoice_payments": "invoice_payment",
        "test_clocks": "test_clock",
    }[template.split("/")[-2] if template.endswith("{id}") else template.split("/")[-3]]
    return template.replace("{id}", world[kind])


def _params_for(route, world: dict[str, str]) -> list[tuple[str, str]]:
    if route.template == "/v1/payment_methods" and route.method == "GET":
        return [("customer", world["customer"])]
    if route.template.endswith("/attach"):
        return [("customer", world["customer"])]
    if route.method == "GET" and route.template in _LIST_PARAMS:
        return [("customer", world[_LIST_PARAMS[route.template]])]
    if route.template.endswith("/advance"):
        return [("frozen_time", "1900000000")]
    return []


_SAFE = [r for r in ROUTES if r.method == "GET" or r.template.endswith("/attach")]
# Each list of the Billing world, by what finds its objects.
_LIST_PARAMS = {
    "/v1/subscriptions": "billing_customer",
    "/v1/invoices": "billing_customer",
    "/v1/subscription_schedules": "billing_customer",
}


def test_the_gateways_requests_all_pass_validation(sbx_app, world):
    """Validation is always on (no setting turns it off); the app's own requests never hit it."""
    assert get_sandbox(sbx_app).refusals == []


def test_every_answer_has_exactly_the_declared_fields(client, world):
    problems: list[str] = []
    for route in _SAFE:
        name = f"{route.method} {route.template}"
        status, body, _ = call(client, route.method, _path_for(route.template, world), _params_for(route, world))
        assert status == 200, (name, body)
        if route.listing:
            assert body["object"] == "list" and body["data"], (name, body)
            for i, item in enumerate(body["data"]):
                conforms(item, route.resource, f"{name} data[{i}]", problems)
        else:
            conforms(body, route.resource, name, problems)
    assert problems == [], "\n".join(problems)


def test_expanded_and_evented_objects_conform(client, world, sbx_app):
    path = f"/v1/checkout/sessions/{world['checkout.session']}"
    expand = [
        ("expand[]", "line_items"),
        ("expand[]", "payment_intent.latest_charge.refunds"),
        ("expand[]", "customer"),
    ]
    status, body, _ = call(client, "GET", path, expand)
    assert status == 200, body
    problems: list[str] = []
    conforms(body, stripe.checkout.Session, "session", problems)
    assert body["payment_intent"]["latest_charge"]["refunds"]["data"][0]["id"] == world["refund"]
    product = body["line_items"]["data"][0]["price"]["product"]
    assert isinstance(product, str) and product.startswith("prod_")
    status, sub, _ = call(
        client,
        "GET",
        f"/v1/subscriptions/{world['subscription']}",
        [("expand[]", "latest_invoice.payments"), ("expand[]", "schedule"), ("expand[]", "test_clock")],
    )
    assert status == 200, sub
    conforms(sub, stripe.Subscription, "subscription", problems)
    assert sub["latest_invoice"]["payments"]["data"][0]["payment"]["payment_intent"].startswith("pi_")
    for evt, _ in get_sandbox(sbx_app).recent_events(limit=1000):
        conforms(evt, stripe.Event, evt["type"], problems)
        inner = evt["data"]["object"]
        conforms(inner, _class_of(inner["object"]), f"{evt['type']}.data.object", problems)
    assert problems == [], "\n".join(problems)


def test_every_endpoint_refuses_an_unknown_parameter(client, world, expect_refusals):
    assert len(ROUTES) >= 20
    for route in ROUTES:
        pairs = [*_params_for(route, world), ("bogus_param", "1")]
        status, body, _ = call(client, route.method, _path_for(route.template, world), pairs)
        assert status == 400, (route.template, body)
        error = body["error"]
        assert (error["type"], error["code"], error["param"], error["message"]) == (
            "invalid_request_error",
            "parameter_unknown",
            "bogus_param",
            "Received unknown parameter: bogus_param",
        ), route.template


def test_every_declared_enum_value_is_accepted_and_others_refused(client, expect_refusals):
    """Enum checks come from the declared Literals: each declared `reason` passes validation."""
    from stripe.params import RefundCreateParams

    (inner,) = typing.get_args(RefundCreateParams.__annotations__["reason"])  # NotRequired[...]
    annotation = eval(inner.__forward_arg__, {"Literal": Literal})  # noqa: S307 - the SDK's own text
    declared = [v for m in _members(annotation) if typing.get_origin(m) is Literal for v in typing.get_args(m)]
    assert declared
    for reason in declared:
        status, body, _ = call(client, "POST", "/v1/refunds", [("payment_intent", "pi_missing"), ("reason", reason)])
        assert status == 404, body  # past validation: the PaymentIntent does not exist
    status, body, _ = call(client, "POST", "/v1/refunds", [("payment_intent", "pi_missing"), ("reason", "whim")])
    assert status == 400 and body["error"]["param"] == "reason"
