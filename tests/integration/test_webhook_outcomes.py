"""Every signed body gets a decided answer: 400 labelled for what is wrong with it, or 200
with the event recorded IGNORED and a reason naming the field; never a 500 that Stripe
would retry for three days. Deliveries are signed here, handled by the real app against
the sandbox through the real SDK.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.support.stripe_events import (
    body_of,
    checkout_session,
    event,
    open_shop,
    payment_intent,
    payment_method,
    refund,
    snapshot,
)
from tests.support.webhooks import stripe_signature
from webapp.extensions import db
from webapp.models import StripeEvent


def deliver(client, body: str | bytes, *, signature: str | None = None):
    text = body.decode("latin-1") if isinstance(body, bytes) else body
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature or stripe_signature(text)}
    return client.post("/webhooks/stripe", data=body, headers=headers)


def stored(app) -> list[StripeEvent]:
    with app.app_context():
        return list(db.session.scalars(sa.select(StripeEvent)))


def error_code(response) -> str:
    return response.get_json()["code"]  # NestJS's error shape: `error` is the reason phrase


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _nested_in_metadata(depth: int) -> str:
    body = body_of(event("payment_intent.succeeded", {"id": "pi_1", "metadata": {"x": "NESTED"}}))
    return body.replace('"NESTED"', _deep(depth))


REFUSED = {
    "not JSON": ("this is not json", "malformed_json"),
    "not UTF-8": (b'{"id": "evt_\xff\xfe"}', "malformed_json"),
    "NaN": ('{"id": "evt_1", "object": "event", "type": "x", "amount": NaN}', "malformed_json"),
    "Infinity": ('{"id": "evt_1", "object": "event", "type": "x", "amount": -Infinity}', "malformed_json"),
    "a double that overflows": ('{"id": "evt_1", "object": "event", "type": "x", "amount": 1e999}', "malformed_json"),
    "an integer past Python's digit limit": (
        '{"id": "evt_1", "object": "event", "n": ' + "9" * 5000 + "}",
        "malformed_json",
    ),
    "nested past the parser's limit": (_deep(100_000), "malformed_json"),
    "truncated": (
        '{"id": "evt_1", "object": "event", "type": "checkout.session.completed", "data": {',
        "malformed_json",
    ),
    "nested deeper than Stripe nests": (_nested_in_metadata(100), "too_deeply_nested"),
    # parses, but storing it again would exhaust the recursion limit (a 500 before); whether
    # the parser itself already refuses at this depth depends on the stack in use when it runs
    "nested just under the parser's limit": (_nested_in_metadata(935), ("too_deeply_nested", "malformed_json")),
    "a JSON array": ("[1, 2]", "not_an_event"),
    "a JSON string": ('"evt_1"', "not_an_event"),
    "JSON null": ("null", "not_an_event"),
    "an object that is not an event": ('{"id": "cs_test_1", "object": "checkout.session"}', "not_an_event"),
    "an event without a type": ('{"id": "evt_1", "object": "event", "data": {"object": {}}}', "missing_type"),
    "a type that is a list": (body_of(event(["checkout.session.completed"], {})), "invalid_type"),
    "a type that is null": (body_of(event(None, {})), "invalid_type"),
    "an empty type": (body_of(event("", {})), "invalid_type"),
    "an event without an id": ('{"object": "event", "type": "checkout.session.completed"}', "missing_id"),
    "an id that is an object": (body_of(event("charge.succeeded", {}, event_id={"id": "evt_1"})), "invalid_id"),
    "an id with a slash": (body_of(event("charge.succeeded", {}, event_id="evt_../1")), "invalid_id"),
    "an id past 255 characters": (body_of(event("charge.succeeded", {}, event_id="evt_" + "a" * 300)), "invalid_id"),
    "U+0000 in metadata": (
        body_of(event("payment_intent.succeeded", {"metadata": {"note": "a\x00b"}})),
        "unsupported_text",
    ),
    "a lone surrogate in a key": (
        '{"id": "evt_1", "object": "event", "type": "x", "data": {"\\udc00": 1}}',
        "unsupported_text",
    ),
}


class TestRefusedBodies:
    @pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
    def test_a_signed_body_that_is_not_a_usable_event_is_labelled_for_what_it_is(self, app, client, case):
        body, code = REFUSED[case]
        response = deliver(client, body)
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        assert error_code(response) in (code if isinstance(code, tuple) else (code,))
        assert stored(app) == []

    def test_the_refusal_message_names_the_field_that_cannot_be_stored(self, app, client):
        response = deliver(client, body_of(event("payment_intent.succeeded", {"metadata": {"note": "a\x00b"}})))
        assert "data.object.metadata.note" in response.get_json()["message"]

    @pytest.mark.parametrize("body", ["this is not json", "[1, 2]", '{"object": "event"}'])
    def test_a_bad_signature_is_still_invalid_signature_whatever_the_body(self, app, client, body):
        response = deliver(client, body, signature=stripe_signature(body, "whsec_someone_else"))
        assert response.status_code == 400 and error_code(response) == "invalid_signature"
        assert stored(app) == []

    def test_a_signed_event_still_goes_through(self, app, client):
        response = deliver(client, body_of(event("customer.created", {"id": "cus_1", "object": "customer"})))
        assert response.status_code == 200 and response.get_json()["status"] == "ignored"


ILL_TYPED = {
    "data.object a string": (
        "checkout.session.completed",
        {"data": {"object": "cs_test_1"}},
        "`data.object` is a string",
    ),
    "data null": ("payment_intent.succeeded", {"data": None}, "`data` is missing"),
    "data a list": ("charge.refunded", {"data": [1]}, "`data` is an array"),
    "metadata a list": (
        "checkout.session.expired",
        {"data": {"object": checkout_session(metadata=["payment_session_id", "x"])}},
        "`data.object.metadata` is an array",
    ),
    "metadata.payment_session_id an object": (
        "payment_intent.succeeded",
        {"data": {"object": payment_intent(metadata={"payment_session_id": {"id": "x"}})}},
        "`data.object.metadata.payment_session_id` is an object",
    ),
    "session id a number": (
        "checkout.session.async_payment_succeeded",
        {"data": {"object": checkout_session(cs_id=12)}},
        "`data.object.id` is a number",
    ),
    "session id not a Stripe id": (
        "checkout.session.completed",
        {"data": {"object": checkout_session(cs_id="cs_test_1/../../customers")}},
        "`data.object.id` is not a Stripe id",
    ),
    "payment_intent a number": (
        "refund.updated",
        {"data": {"object": refund(payment_intent=42)}},
        "`data.object.payment_intent` is a number",
    ),
    "expanded payment_intent with a list id": (
        "charge.refund.updated",
        {"data": {"object": refund(payment_intent={"id": ["pi_1"]})}},
        "`data.object.payment_intent.id` is an array",
    ),
    "last_payment_error a string": (
        "payment_intent.payment_failed",
        {"data": {"object": payment_intent(last_payment_error="card_declined")}},
        "`data.object.last_payment_error` is a string",
    ),
    "dispute amount a string": (
        "charge.dispute.created",
        {"data": {"object": {"id": "dp_1", "payment_intent": "pi_1", "amount": "2000"}}},
        "`data.object.amount` is a string",
    ),
    "payment method id missing": (
        "payment_method.attached",
        {"data": {"object": {**payment_method(), "id": None}}},
        "`data.object.id` is missing",
    ),
    "livemode a string": ("payment_intent.succeeded", {"livemode": "false"}, "`livemode` is a string"),
}


class TestIllTypedFields:
    @pytest.mark.parametrize("case", list(ILL_TYPED), ids=list(ILL_TYPED))
    def test_an_ill_typed_field_is_ignored_with_a_reason_naming_it(self, app, client, case):
        event_type, override, reason = ILL_TYPED[case]
        body = event(event_type, payment_intent())
        body.update(override)
        response = deliver(client, body_of(body))
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert response.get_json()["status"] == "ignored"
        (row,) = stored(app)
        assert row.status == "IGNORED" and row.id == body["id"]
        assert reason in row.last_error, row.last_error

    def test_a_paid_session_event_reads_only_the_session_id(self, app, client):
        """A completed session's metadata is not read (the session is re-read from Stripe),
        so an odd one there does not decide the outcome: Stripe's answer does."""
        body = event("checkout.session.completed", checkout_session(metadata=["odd"]))
        response = deliver(client, body_of(body))
        assert response.status_code == 200
        (row,) = stored(app)
        assert row.status == "IGNORED" and "resource_missing" in row.last_error


class TestStripeHasNoSuchObject:
    @pytest.mark.parametrize(
        ("event_type", "mode"),
        [
            ("checkout.session.completed", "payment"),
            ("checkout.session.async_payment_succeeded", "payment"),
            ("checkout.session.completed", "setup"),
        ],
    )
    def test_a_session_stripe_answers_resource_missing_for_is_ignored_not_retried(self, app, client, event_type, mode):
        body = event(event_type, checkout_session(cs_id="cs_test_never_created_here", mode=mode))
        response = deliver(client, body_of(body))
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert response.get_json()["status"] == "ignored"
        (row,) = stored(app)
        assert row.status == "IGNORED" and row.last_error.startswith("resource_missing")
        assert "cs_test_never_created_here" in row.last_error
        again = deliver(client, body_of(body))
        assert again.status_code == 200 and again.get_json()["status"] == "duplicate"

    def test_nothing_of_ours_changes(self, app, client):
        shop_before = snapshot(app)
        deliver(client, body_of(event("checkout.session.completed", checkout_session(cs_id="cs_test_gone"))))
        assert snapshot(app) == shop_before


class TestNothingChangesOurPayments:
    def test_ill_typed_events_about_our_payment_change_nothing(self, app, client):
        shop = open_shop(app)
        before = snapshot(app)
        ours = {"payment_session_id": {"id": shop.payment_session_id}}
        bodies = [
            event("checkout.session.expired", checkout_session(cs_id=shop.open_cs_id, metadata=ours)),
            event("payment_intent.succeeded", payment_intent(pi_id=shop.payment_intent_id, metadata=[ours])),
            event("charge.dispute.created", {"payment_intent": {"id": [shop.payment_intent_id]}, "status": "lost"}),
            event("charge.dispute.closed", {"payment_intent": shop.payment_intent_id, "amount": {"value": 1}}),
            event("checkout.session.expired", shop.open_cs_id),
        ]
        for body in bodies:
            response = deliver(client, json.dumps(body))
            assert response.status_code == 200 and response.get_json()["status"] == "ignored", body["type"]
        assert snapshot(app) == before
