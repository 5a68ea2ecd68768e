"""Saved cards: list, add (Stripe.js or Checkout in setup mode), remove, make default."""

from __future__ import annotations

from webapp.auth import user_row
from webapp.services import saved_cards
from webapp.services.errors import PaymentProviderUnavailable, ValidationFailed
from webapp.web.api.framework import api_route, parse_body, path_id, respond
from webapp.web.api.urls import return_urls
from webapp.web.api_responses import PaymentMethodOut, RedirectOut, SuccessOut
from webapp.web.api_schemas import AddPaymentMethod


@api_route(
    "GET",
    "/payments/methods",
    "The caller's saved cards (refreshed from Stripe; the last known list when Stripe is unreachable)",
    response=PaymentMethodOut,
    response_is_list=True,
)
def list_payment_methods():
    try:
        cards = saved_cards.list_cards(user_row())
    except PaymentProviderUnavailable:
        cards = saved_cards.cached_cards(user_row())
    return respond([PaymentMethodOut.of(c) for c in cards])


@api_route(
    "POST",
    "/payments/methods",
    "Save a card: attach a Stripe.js payment method, or (without one) get a Checkout URL in setup mode",
    body=AddPaymentMethod,
    body_required=False,
    ok_status=201,
    ok_description="The attached card",
    response=PaymentMethodOut,
    other_ok={200: ("No paymentMethodId: where to send the learner to add a card", RedirectOut)},
    errors=(404, 503),
)
def add_payment_method():
    body = parse_body(AddPaymentMethod, required=False)
    if body.payment_method_id is not None:
        if body.return_url is not None or body.cancel_url is not None:
            raise ValidationFailed("returnUrl and cancelUrl only apply without paymentMethodId.", field="returnUrl")
        card = saved_cards.attach_card(user_row(), body.payment_method_id)
        return respond(PaymentMethodOut.of(card), 201)
    success_to, cancel_to = return_urls(body)
    url = saved_cards.start_card_setup(user_row(), success_url=success_to, cancel_url=cancel_to)
    return respond(RedirectOut(redirect_url=url))


@api_route(
    "DELETE",
    "/payments/methods/{method_id}",
    "Remove one of the caller's saved cards (detached at Stripe)",
    response=SuccessOut,
    errors=(404, 503),
)
def remove_payment_method(method_id: str):
    saved_cards.remove_card(user_row(), path_id(method_id, "that card"))
    return respond(SuccessOut(success=True))


@api_route(
    "POST",
    "/payments/methods/{method_id}/default",
    "Make one of the caller's saved cards the default",
    response=PaymentMethodOut,
    errors=(404, 503),
)
def make_default_payment_method(method_id: str):
    return respond(PaymentMethodOut.of(saved_cards.make_default(user_row(), path_id(method_id, "that card"))))
