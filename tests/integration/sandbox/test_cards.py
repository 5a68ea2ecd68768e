"""Stripe's test cards on the hosted page, and the events each outcome sends."""

from __future__ import annotations

import pytest

from tests.support.sandbox import new_checkout, pay
from webapp.sandbox import get_sandbox

from .api_helpers import call


@pytest.fixture
def sandbox_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'stripe-sandbox.db'}"


def _events(sbx_app) -> list[dict]:
    return [evt for evt, _ in reversed(get_sandbox(sbx_app).recent_events(limit=100))]


@pytest.mark.parametrize(
    ("card", "code", "decline_code", "message"),
    [
        ("4000000000000069", "expired_card", "expired_card", "Your card has expired."),
        ("4000000000000127", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
        ("4000000000000119", "processing_error", "processing_error", "An error occurred while processing your card."),
        ("4000000000009979", "card_declined", "stolen_card", "Your card was declined."),
        ("4000000000000002", "card_declined", "generic_decline", "Your card was declined."),
    ],
)
def test_a_decline_records_a_failed_charge_and_stripes_codes(
    sbx_app, gateway, client, card, code, decline_code, message
):
    session = new_checkout(gateway)
    response = pay(client, session, card)
    assert response.status_code == 200 and message in response.get_data(as_text=True).replace("&#39;", "'")
    pi_id = gateway.retrieve_checkout_session(session.id).payment_intent_id
    status, pi, _ = call(client, "GET", f"/v1/payment_intents/{pi_id}", [("expand[]", "latest_charge")])
    assert status == 200
    error = pi["last_payment_error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", code, decline_code)
    charge = pi["latest_charge"]
    assert (charge["status"], charge["paid"], charge["captured"]) == ("failed", False, False)
    assert (charge["failure_code"], charge["outcome"]["reason"]) == (code, decline_code)
    assert error["charge"] == charge["id"]
    types = [e["type"] for e in _events(sbx_app)]
    assert types[-2:] == ["charge.failed", "payment_intent.payment_failed"]


def test_a_number_that_is_no_card_has_no_decline_code_and_no_charge(sbx_app, gateway, client):
    session = new_checkout(gateway)
    assert pay(client, session, "4242 4242 4242 4241").status_code == 200
    pi = gateway.stripe_client.v1.payment_intents.retrieve(
        gateway.retrieve_checkout_session(session.id).payment_intent_id
    )
    assert pi.last_payment_error.code == "incorrect_number"
    assert "decline_code" not in pi.last_payment_error
    assert pi.latest_charge is None
    assert "charge.failed" not in [e["type"] for e in _events(sbx_app)]


@pytest.mark.parametrize("expiry", ["01 / 20", "1/2001"])
def test_a_past_expiry_is_refused_on_the_page_before_any_api_call(sbx_app, gateway, client, expiry):
    session = new_checkout(gateway)
    before = len(_events(sbx_app))
    response = pay(client, session, card_expiry=expiry)
    assert response.status_code == 200
    assert "expiration" in response.get_data(as_text=True) and "in the past" in response.get_data(as_text=True)
    after = gateway.retrieve_checkout_session(session.id)
    assert (after.status, after.payment_intent_id) == ("open", None)
    assert len(_events(sbx_app)) == before
    assert pay(client, session, card_expiry="12 / 40").status_code == 303


def test_a_card_payment_sends_charge_updated_once_the_balance_transaction_is_attached(sbx_app, gateway, client):
    session = new_checkout(gateway)
    assert pay(client, session).status_code == 303
    events = _events(sbx_app)
    types = [e["type"] for e in events]
    assert types.index("charge.succeeded") < types.index("payment_intent.succeeded") < types.index("charge.updated")
    succeeded = events[types.index("charge.succeeded")]["data"]["object"]
    updated = events[types.index("charge.updated")]
    assert succeeded["balance_transaction"] is None
    assert updated["data"]["object"]["balance_transaction"].startswith("txn_")
    assert updated["data"]["previous_attributes"] == {"balance_transaction": None}


def test_a_setup_session_announces_its_setup_intent(sbx_app, gateway):
    customer = gateway.create_customer(email="s@example.test", name=None, user_id="u_s", idempotency_key="s-cus")
    session = gateway.create_setup_checkout(
        customer_id=customer,
        currency="usd",
        success_url="http://localhost/ok",
        cancel_url="http://localhost/no",
        metadata={},
        idempotency_key="s-setup",
    )
    created = [e for e in _events(sbx_app) if e["type"] == "setup_intent.created"]
    assert [e["data"]["object"]["id"] for e in created] == [session.setup_intent_id]
