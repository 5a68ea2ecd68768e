"""The hosted payment page, driven like a learner's browser would (form posts)."""

from __future__ import annotations

import pytest

from tests.support.sandbox import new_checkout, pay
from webapp.sandbox import backdate_session, get_sandbox, settle_session


def _event_types_for(app, object_id: str) -> list[str]:
    rows = get_sandbox(app).recent_events(limit=100)
    return [evt["type"] for evt, _ in reversed(rows) if evt["data"]["object"]["id"] == object_id]


class TestPaying:
    def test_page_shows_the_line_item_amount_and_test_label(self, gateway, client):
        session = new_checkout(gateway, amount=4999)
        page = client.get(session.url)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Test payment page — sandbox, no real money" in html
        assert "Python for Payments" in html
        assert "$49.99" in html
        assert 'name="csrf_token"' in html

    @pytest.mark.parametrize(
        ("card", "brand", "last4"),
        [("4242 4242 4242 4242", "visa", "4242"), ("5555555555554444", "mastercard", "4444")],
    )
    def test_test_card_pays_and_redirects_with_the_session_id(self, sbx_app, gateway, client, card, brand, last4):
        session = new_checkout(gateway)
        response = pay(client, session, card)
        assert response.status_code == 303
        assert response.headers["Location"] == f"http://localhost/payment/success?session_id={session.id}"

        paid = gateway.retrieve_checkout_session(session.id)
        assert (paid.status, paid.payment_status) == ("complete", "paid")
        assert paid.payment_intent_id.startswith("pi_")
        assert paid.payment_intent_status == "succeeded"
        assert (paid.card_brand, paid.card_last4) == (brand, last4)
        assert _event_types_for(sbx_app, session.id) == ["checkout.session.completed"]
        assert _event_types_for(sbx_app, paid.payment_intent_id) == [
            "payment_intent.created",
            "payment_intent.succeeded",
        ]

    @pytest.mark.parametrize(
        ("card", "message"),
        [("4000 0000 0000 0002", "Your card was declined."), ("4000000000009995", "Your card has insufficient funds.")],
    )
    def test_declined_card_stays_on_the_page_with_stripes_message(self, sbx_app, gateway, client, card, message):
        session = new_checkout(gateway)
        response = pay(client, session, card)
        assert response.status_code == 200
        assert message in response.get_data(as_text=True)

        after = gateway.retrieve_checkout_session(session.id)
        assert (after.status, after.payment_status) == ("open", "unpaid")
        intent = gateway.retrieve_payment_intent(after.payment_intent_id)
        assert intent.status == "requires_payment_method"
        assert "payment_intent.payment_failed" in _event_types_for(sbx_app, intent.id)

        # Another card on the same page then pays the same intent.
        assert pay(client, session).status_code == 303
        assert gateway.retrieve_payment_intent(intent.id).status == "succeeded"

    def test_invalid_card_number_is_explained(self, gateway, client):
        session = new_checkout(gateway)
        response = pay(client, session, "1234")
        assert response.status_code == 200
        assert "Your card number is incorrect." in response.get_data(as_text=True)

    def test_cancel_redirects_to_cancel_url_and_leaves_the_session_open(self, gateway, client):
        session = new_checkout(gateway)
        response = client.post(session.url, data={"action": "cancel"})
        assert response.status_code == 303
        assert response.headers["Location"] == f"http://localhost/payment/cancel?session_id={session.id}"
        assert gateway.retrieve_checkout_session(session.id).status == "open"

    def test_saved_card_is_attached_to_the_customer_when_asked(self, gateway, client):
        customer = gateway.create_customer(email=None, name=None, user_id="u_s", idempotency_key="cus-save")
        session = new_checkout(gateway, customer_id=customer)
        assert "Save this card" in client.get(session.url).get_data(as_text=True)
        pay(client, session, "5555555555554444", save_card="on")
        cards = gateway.list_card_payment_methods(customer)
        assert [(c.brand, c.last4) for c in cards] == [("mastercard", "4444")]

    def test_card_is_not_saved_without_consent(self, gateway, client):
        customer = gateway.create_customer(email=None, name=None, user_id="u_n", idempotency_key="cus-nosave")
        pay(client, new_checkout(gateway, customer_id=customer))
        assert gateway.list_card_payment_methods(customer) == []


class TestClosedSessions:
    def test_expired_session_cannot_be_paid(self, gateway, client):
        session = new_checkout(gateway)
        gateway.expire_checkout_session(session.id)
        assert client.get(session.url).status_code == 410
        response = pay(client, session)
        assert response.status_code == 410
        assert "expired" in response.get_data(as_text=True)
        assert gateway.retrieve_checkout_session(session.id).payment_status == "unpaid"

    def test_session_past_expires_at_is_expired_on_read(self, sbx_app, gateway, client):
        session = new_checkout(gateway)
        backdate_session(sbx_app, session.id)
        assert pay(client, session).status_code == 410
        assert gateway.retrieve_checkout_session(session.id).status == "expired"
        assert _event_types_for(sbx_app, session.id) == ["checkout.session.expired"]

    def test_completed_session_cannot_be_paid_twice(self, gateway, client):
        session = new_checkout(gateway)
        pay(client, session)
        again = pay(client, session)
        assert again.status_code == 409
        assert "already complete" in again.get_data(as_text=True)

    def test_unknown_session_is_404(self, client):
        assert client.get("/_sandbox/stripe/pay/cs_test_unknown").status_code == 404


class TestBankTransfer:
    def test_bank_transfer_completes_unpaid_then_settles(self, sbx_app, gateway, client):
        session = new_checkout(gateway)
        response = client.post(session.url, data={"action": "pay", "method": "bank_transfer"})
        assert response.status_code == 303
        pending = gateway.retrieve_checkout_session(session.id)
        assert (pending.status, pending.payment_status, pending.payment_intent_status) == (
            "complete",
            "unpaid",
            "processing",
        )

        settle_session(sbx_app, session.id)
        settled = gateway.retrieve_checkout_session(session.id)
        assert (settled.payment_status, settled.payment_intent_status) == ("paid", "succeeded")
        assert _event_types_for(sbx_app, session.id) == [
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
        ]

    def test_cli_settle_with_fail_sends_async_payment_failed(self, sbx_app, gateway, client):
        session = new_checkout(gateway)
        client.post(session.url, data={"action": "pay", "method": "bank_transfer"})
        result = sbx_app.test_cli_runner().invoke(args=["stripe-sandbox", "settle", session.id, "--fail"])
        assert result.exit_code == 0, result.output
        failed = gateway.retrieve_checkout_session(session.id)
        assert (failed.status, failed.payment_status) == ("complete", "unpaid")
        assert failed.payment_intent_status == "requires_payment_method"
        assert _event_types_for(sbx_app, session.id)[-1] == "checkout.session.async_payment_failed"

        again = sbx_app.test_cli_runner().invoke(args=["stripe-sandbox", "settle", session.id])
        assert again.exit_code != 0
        assert "not awaiting an asynchronous payment" in again.output


class TestSetupMode:
    def test_setup_session_attaches_a_card_to_the_customer(self, sbx_app, gateway, client):
        customer = gateway.create_customer(email=None, name=None, user_id="u_7", idempotency_key="cus-7")
        session = gateway.create_setup_checkout(
            customer_id=customer,
            currency="usd",
            success_url="http://localhost/account/payment-methods?added={CHECKOUT_SESSION_ID}",
            cancel_url="http://localhost/account/payment-methods",
            metadata={"purpose": "add_card", "user_id": "u_7"},
            idempotency_key="setup-1",
        )
        assert (session.mode, session.status, session.payment_status) == ("setup", "open", "no_payment_required")
        assert "Save a card" in client.get(session.url).get_data(as_text=True)

        response = pay(client, session, "5555 5555 5555 4444")
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"?added={session.id}")

        done = gateway.retrieve_checkout_session(session.id)
        assert (done.status, done.payment_status) == ("complete", "no_payment_required")
        assert done.setup_intent_id.startswith("seti_")
        assert (done.card_brand, done.card_last4) == ("mastercard", "4444")
        cards = gateway.list_card_payment_methods(customer)
        assert [c.id for c in cards] == [done.setup_payment_method_id]
        assert _event_types_for(sbx_app, done.setup_payment_method_id) == ["payment_method.attached"]
        assert _event_types_for(sbx_app, session.id) == ["checkout.session.completed"]
        seti = gateway.stripe_client.v1.setup_intents.retrieve(done.setup_intent_id)
        assert (seti.status, seti.payment_method) == ("succeeded", done.setup_payment_method_id)

    def test_declined_card_in_setup_mode_attaches_nothing(self, gateway, client):
        customer = gateway.create_customer(email=None, name=None, user_id="u_8", idempotency_key="cus-8")
        session = gateway.create_setup_checkout(
            customer_id=customer,
            currency="usd",
            success_url="http://localhost/ok",
            cancel_url="http://localhost/no",
            metadata={},
            idempotency_key="setup-2",
        )
        response = pay(client, session, "4000000000000002")
        assert response.status_code == 200
        assert "Your card was declined." in response.get_data(as_text=True)
        assert gateway.list_card_payment_methods(customer) == []
