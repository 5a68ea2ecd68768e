"""The sandbox over real HTTP: standalone (`STRIPE_API_BASE`) and inside a served app.

This is the outside check of issue 3: the SDK against the sandbox, a learner paying on the
hosted page, the redirect with the session id, signed events at our own URL, a partial
refund, and faults on demand — all across a real socket.
"""

from __future__ import annotations

import pytest
import requests
import stripe

from tests.support.sandbox import WEBHOOK_SECRET, build_app, new_checkout
from webapp.payments.gateway import StripeUnavailable
from webapp.sandbox import inject_faults, wait_for_deliveries
from webapp.sandbox.standalone import create_standalone_app


def _pay_over_http(url: str, card: str = "4242424242424242") -> requests.Response:
    return requests.post(
        url, data={"action": "pay", "method": "card", "card_number": card}, allow_redirects=False, timeout=10
    )


@pytest.fixture
def standalone(serve, sandbox_url, receiver):
    """A standalone sandbox on a free port, delivering webhooks to `receiver`."""
    holder: dict = {}

    def wsgi(environ, start_response):
        return holder["app"](environ, start_response)

    served = serve(wsgi)
    config = {
        "STRIPE_SANDBOX_DATABASE_URL": sandbox_url,
        "STRIPE_SANDBOX_WEBHOOKS": True,
        "STRIPE_SANDBOX_WEBHOOK_URL": receiver.url,
        "STRIPE_SANDBOX_WEBHOOK_RETRY_DELAYS": (0, 0),
        "STRIPE_WEBHOOK_SECRETS": [WEBHOOK_SECRET],
        "APP_URL": "http://127.0.0.1:9",
    }
    holder["app"] = create_standalone_app(config, public_url=served.url)
    yield served.url, holder["app"]
    holder["app"].extensions["stripe_sandbox"].wait_for_deliveries(10)


def test_app_talks_to_a_standalone_sandbox_over_http(standalone, sandbox_url, tmp_path, receiver):
    base, sandbox_app = standalone
    app = build_app(sandbox_url, tmp_path, STRIPE_API_BASE=f"{base}/_sandbox/stripe")
    with app.app_context():
        from webapp.payments.gateway import get_gateway

        gateway = get_gateway()
        assert gateway.mode == "sandbox-http"
        session = new_checkout(gateway)
        assert session.url == f"{base}/_sandbox/stripe/pay/{session.id}"

        page = requests.get(session.url, timeout=10)
        assert page.status_code == 200 and "sandbox, no real money" in page.text
        response = _pay_over_http(session.url)
        assert response.status_code == 303
        assert response.headers["Location"] == f"http://localhost/payment/success?session_id={session.id}"

        paid = gateway.retrieve_checkout_session(session.id)
        assert (paid.status, paid.payment_status, paid.payment_intent_status) == ("complete", "paid", "succeeded")

        refund = gateway.create_refund(
            payment_intent_id=paid.payment_intent_id, amount=500, reason_metadata={}, idempotency_key="http-refund"
        )
        assert (refund.amount, refund.status) == (500, "succeeded")

        # A dropped connection is retried by the SDK and the call still succeeds...
        inject_faults(base, 1, "network")
        assert gateway.retrieve_checkout_session(session.id).id == session.id
        # ...and an outage longer than the retries surfaces as StripeUnavailable.
        inject_faults(base, 3, "500")
        with pytest.raises(StripeUnavailable):
            gateway.retrieve_checkout_session(session.id)

    assert sandbox_app.extensions["stripe_sandbox"].wait_for_deliveries(10)
    types = [e["type"] for e in receiver.events()]
    assert "checkout.session.completed" in types and "charge.refunded" in types
    for delivery in receiver.received:
        stripe.Webhook.construct_event(delivery.body, delivery.headers["Stripe-Signature"], WEBHOOK_SECRET)


def test_outside_sdk_against_the_served_apps_sandbox(serve, sandbox_url, tmp_path, receiver):
    """An SDK user pointed at APP_URL/_sandbox/stripe, the app served on a real port."""
    holder: dict = {}
    served = serve(lambda environ, start_response: holder["app"](environ, start_response))
    holder["app"] = app = build_app(
        sandbox_url,
        tmp_path,
        APP_URL=served.url,
        APP_ORIGIN=served.url,
        STRIPE_SANDBOX_WEBHOOKS=True,
        STRIPE_SANDBOX_WEBHOOK_URL=receiver.url,
    )
    sdk = stripe.StripeClient(
        "sk_test_outside", base_addresses={"api": f"{served.url}/_sandbox/stripe"}, max_network_retries=2
    )
    session = sdk.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 2500, "product_data": {"name": "C"}}}
            ],
            "success_url": "https://shop.example/ok?cs={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://shop.example/cancel",
            "metadata": {"order": "o_1"},
        }
    )
    assert session.url.startswith(f"{served.url}/_sandbox/stripe/pay/")
    response = _pay_over_http(session.url, "5555 5555 5555 4444")
    assert response.headers["Location"] == f"https://shop.example/ok?cs={session.id}"
    again = sdk.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (again.status, again.payment_status, again.payment_intent.status) == ("complete", "paid", "succeeded")

    assert wait_for_deliveries(app, 10)
    completed = [e for e in receiver.events() if e["type"] == "checkout.session.completed"]
    assert completed[0]["data"]["object"]["metadata"] == {"order": "o_1"}

    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "sk_live_outside_1234", base_addresses={"api": f"{served.url}/_sandbox/stripe"}
        ).v1.checkout.sessions.retrieve(session.id)

    inject_faults(served.url, 1, "429")
    with pytest.raises(stripe.RateLimitError):
        sdk.v1.checkout.sessions.retrieve(session.id)
