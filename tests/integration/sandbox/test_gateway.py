"""The gateway against the in-process sandbox, through the real `stripe` SDK."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.support.sandbox import new_checkout, pay
from webapp.payments.gateway import (
    CheckoutSession,
    Gateway,
    GatewayConfigError,
    IdempotencyConflict,
    PaymentRejected,
    ResourceMissing,
    SandboxHTTPClient,
)
from webapp.sandbox import get_sandbox


class TestCheckoutSessions:
    def test_create_retrieve_expire(self, gateway, client):
        customer = gateway.create_customer(email="ada@example.test", name="Ada", user_id="u_1", idempotency_key="cus-1")
        created = new_checkout(gateway, customer_id=customer)

        assert created.id.startswith("cs_test_")
        assert created.url == f"http://localhost/_sandbox/stripe/pay/{created.id}"
        assert (created.mode, created.status, created.payment_status) == ("payment", "open", "unpaid")
        assert created.amount_total == 1999 and created.currency == "usd"
        assert created.payment_intent_id is None
        assert created.metadata == {"payment_session_id": "ps_42", "course_id": "c_1"}
        assert created.client_reference_id == "ps_42"
        assert created.customer_id == customer

        assert gateway.retrieve_checkout_session(created.id) == created

        expired = gateway.expire_checkout_session(created.id)
        assert expired.status == "expired"
        assert gateway.retrieve_checkout_session(created.id).status == "expired"
        # Expiring again is Stripe's 400; the gateway answers with the session as it is.
        assert gateway.expire_checkout_session(created.id).status == "expired"
        assert client.get(created.url).status_code == 410

    def test_expiring_a_completed_session_returns_it_complete(self, gateway, client):
        session = new_checkout(gateway)
        assert pay(client, session).status_code == 303
        result = gateway.expire_checkout_session(session.id)
        assert (result.status, result.payment_status) == ("complete", "paid")

    def test_sdk_raises_invalid_request_when_expiring_a_non_open_session(self, gateway):
        session = new_checkout(gateway)
        gateway.expire_checkout_session(session.id)
        with pytest.raises(stripe.InvalidRequestError) as info:
            gateway.stripe_client.v1.checkout.sessions.expire(session.id)
        assert info.value.http_status == 400
        assert "can be expired" in str(info.value)

    def test_same_idempotency_key_and_params_replays_the_same_session(self, gateway):
        first = new_checkout(gateway, idempotency_key="same-key")
        again = new_checkout(gateway, idempotency_key="same-key", expires_at=first.expires_at)
        assert again.id == first.id

    def test_replay_is_flagged_in_the_response_headers(self, gateway):
        params = {"email": "replay@example.test"}
        sdk = gateway.stripe_client
        one = sdk.v1.customers.create(params=params, options={"idempotency_key": "replay-k"})
        two = sdk.v1.customers.create(params=params, options={"idempotency_key": "replay-k"})
        assert one.id == two.id
        assert two.last_response.headers.get("Idempotent-Replayed") == "true"
        assert one.last_response.headers.get("Idempotent-Replayed") is None

    def test_mismatched_params_for_an_idempotency_key_are_refused(self, gateway):
        first = new_checkout(gateway, idempotency_key="reused-key")
        with pytest.raises(IdempotencyConflict) as info:
            new_checkout(gateway, idempotency_key="reused-key", amount=2999, expires_at=first.expires_at)
        assert isinstance(info.value, PaymentRejected)
        assert info.value.code == "idempotency_error"
        with pytest.raises(stripe.IdempotencyError):
            gateway.stripe_client.v1.customers.create(
                params={"email": "other@example.test"}, options={"idempotency_key": "reused-key"}
            )

    def test_expires_at_must_be_between_30_minutes_and_24_hours(self, gateway):
        now = int(time.time())
        with pytest.raises(PaymentRejected) as info:
            new_checkout(gateway, expires_at=now + 10 * 60)
        assert info.value.param == "expires_at"
        with pytest.raises(PaymentRejected):
            new_checkout(gateway, expires_at=now + 25 * 3600)
        assert new_checkout(gateway, expires_at=now + 24 * 3600).expires_at == now + 24 * 3600

    def test_amount_below_stripes_minimum_charge_is_rejected(self, gateway):
        with pytest.raises(PaymentRejected) as info:
            new_checkout(gateway, amount=20, currency="usd")
        assert info.value.param == "line_items"
        assert new_checkout(gateway, amount=500, currency="jpy").amount_total == 500

    def test_list_by_customer_and_by_payment_intent(self, gateway, client):
        customer = gateway.create_customer(email=None, name=None, user_id="u_2", idempotency_key="cus-list")
        older = new_checkout(gateway, customer_id=customer)
        newer = new_checkout(gateway, customer_id=customer)
        new_checkout(gateway)  # another customer's

        assert [s.id for s in gateway.list_checkout_sessions(customer_id=customer)] == [newer.id, older.id]

        pay(client, older, "5555 5555 5555 4444")
        paid = gateway.retrieve_checkout_session(older.id)
        found = gateway.list_checkout_sessions(payment_intent=paid.payment_intent_id)
        assert [s.id for s in found] == [older.id]
        assert found[0].card_brand == "mastercard"

    def test_line_items_and_nested_params_round_trip(self, gateway):
        session = new_checkout(gateway, description=None, metadata={"a": "1", "nested key": "x y"})
        raw = gateway.stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
        item = raw.to_dict()["line_items"]["data"][0]
        assert item["price"]["unit_amount"] == 1999
        assert item["quantity"] == 1
        assert item["description"] == "Python for Payments"
        assert raw.metadata.to_dict() == {"a": "1", "nested key": "x y"}


class TestErrors:
    @pytest.mark.parametrize(
        "call",
        [
            lambda g: g.retrieve_checkout_session("cs_test_nope"),
            lambda g: g.retrieve_payment_intent("pi_nope"),
            lambda g: g.retrieve_payment_method("pm_nope"),
            lambda g: g.retrieve_refund("re_nope"),
            lambda g: g.retrieve_event("evt_nope"),
            lambda g: g.expire_checkout_session("cs_test_nope"),
            lambda g: g.get_default_payment_method("cus_nope"),
        ],
    )
    def test_unknown_ids_raise_resource_missing(self, gateway, call):
        with pytest.raises(ResourceMissing) as info:
            call(gateway)
        assert info.value.code == "resource_missing"
        assert info.value.http_status == 404

    def test_sdk_raises_invalid_request_error_with_resource_missing(self, gateway):
        with pytest.raises(stripe.InvalidRequestError) as info:
            gateway.stripe_client.v1.checkout.sessions.retrieve("cs_test_missing")
        assert info.value.code == "resource_missing"
        assert "No such checkout.session: 'cs_test_missing'" in str(info.value)

    def test_only_test_mode_secret_keys_are_accepted(self, sbx_app, client):
        sandbox = get_sandbox(sbx_app)
        http = SandboxHTTPClient(lambda: sandbox, retry_delay=0)
        for key in ("sk_live_123456789012", "pk_test_123456789012", "rk_test_12345678901"):
            sdk = stripe.StripeClient(key, http_client=http, base_addresses={"api": "http://localhost/_sandbox/stripe"})
            with pytest.raises(stripe.AuthenticationError):
                sdk.v1.customers.create(params={"email": "x@example.test"})
            with pytest.raises(GatewayConfigError):
                Gateway(sdk, webhook_secrets=["whsec_x"]).create_customer(
                    email=None, name=None, user_id="u", idempotency_key="k"
                )
        response = client.get("/_sandbox/stripe/v1/customers/cus_x")
        assert response.status_code == 401
        assert response.json["error"]["type"] == "invalid_request_error"

    def test_unknown_route_answers_stripes_404(self, client):
        response = client.get("/_sandbox/stripe/v1/coupons", headers={"Authorization": "Bearer sk_test_x"})
        assert response.status_code == 404
        assert "Unrecognized request URL" in response.json["error"]["message"]


class TestCustomersAndCards:
    def test_customer_carries_our_user_id(self, gateway):
        customer = gateway.create_customer(email="b@example.test", name="B", user_id="u_9", idempotency_key="c-9")
        raw = gateway.stripe_client.v1.customers.retrieve(customer)
        assert customer.startswith("cus_")
        assert raw.metadata.to_dict() == {"user_id": "u_9"}
        assert (raw.email, raw.name) == ("b@example.test", "B")

    def test_attach_list_default_detach(self, gateway):
        customer = gateway.create_customer(email=None, name=None, user_id="u_3", idempotency_key="c-3")
        visa = gateway.attach_payment_method("pm_card_visa", customer)
        master = gateway.attach_payment_method("pm_card_mastercard", customer)
        assert visa.id.startswith("pm_") and visa.id != "pm_card_visa"
        assert (visa.brand, visa.last4, visa.customer_id) == ("visa", "4242", customer)
        assert (master.brand, master.last4) == ("mastercard", "4444")
        assert visa.exp_year and visa.exp_month

        assert {c.id for c in gateway.list_card_payment_methods(customer)} == {visa.id, master.id}
        assert gateway.get_default_payment_method(customer) is None
        gateway.set_default_payment_method(customer, master.id)
        assert gateway.get_default_payment_method(customer) == master.id
        assert gateway.retrieve_payment_method(master.id) == master

        detached = gateway.detach_payment_method(master.id)
        assert detached.customer_id is None
        # Stripe clears a default whose card is detached.
        assert gateway.get_default_payment_method(customer) is None
        assert [c.id for c in gateway.list_card_payment_methods(customer)] == [visa.id]
        with pytest.raises(PaymentRejected):
            gateway.detach_payment_method(master.id)

    def test_default_must_be_one_of_the_customers_cards(self, gateway):
        mine = gateway.create_customer(email=None, name=None, user_id="u_4", idempotency_key="c-4")
        theirs = gateway.create_customer(email=None, name=None, user_id="u_5", idempotency_key="c-5")
        card = gateway.attach_payment_method("pm_card_visa", theirs)
        with pytest.raises(PaymentRejected) as info:
            gateway.set_default_payment_method(mine, card.id)
        assert info.value.param == "invoice_settings[default_payment_method]"
        with pytest.raises(PaymentRejected):
            gateway.attach_payment_method(card.id, mine)


class TestPaymentIntents:
    def test_paid_session_has_a_succeeded_intent_with_our_metadata(self, gateway, client):
        session = new_checkout(gateway)
        pay(client, session)
        paid = gateway.retrieve_checkout_session(session.id)
        assert isinstance(paid, CheckoutSession)
        intent = gateway.retrieve_payment_intent(paid.payment_intent_id)
        assert intent.status == "succeeded"
        assert (intent.amount, intent.amount_received, intent.currency) == (1999, 1999, "usd")
        assert intent.metadata == {"payment_session_id": "ps_42", "course_id": "c_1"}
        assert intent.latest_charge.startswith("ch_")
        assert (intent.card_brand, intent.card_last4) == ("visa", "4242")
