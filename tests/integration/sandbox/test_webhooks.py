"""Events and webhook delivery: genuine signatures, retries, records, resend, verification."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from tests.support.sandbox import WEBHOOK_SECRET, build_app, new_checkout, pay
from webapp.payments.gateway import WebhookSignatureError
from webapp.sandbox import get_sandbox, sign_payload, wait_for_deliveries


@pytest.fixture
def sbx_config(receiver):
    return {"STRIPE_SANDBOX_WEBHOOKS": True, "STRIPE_SANDBOX_WEBHOOK_URL": receiver.url}


def _paid_session(app, gateway, client):
    session = new_checkout(gateway)
    assert pay(client, session).status_code == 303
    assert wait_for_deliveries(app, timeout=10)
    return session


class TestDelivery:
    def test_delivered_events_verify_with_the_sdk(self, sbx_app, gateway, client, receiver):
        session = _paid_session(sbx_app, gateway, client)
        types = [e["type"] for e in receiver.events()]
        assert types[-1] == "checkout.session.completed"
        assert {"charge.succeeded", "payment_intent.succeeded"} <= set(types)

        for delivery in receiver.received:
            header = delivery.headers["Stripe-Signature"]
            assert header.startswith("t=") and ",v1=" in header
            event = stripe.Webhook.construct_event(delivery.body, header, WEBHOOK_SECRET)
            assert event.object == "event"
        completed = receiver.events()[-1]
        assert completed["data"]["object"]["id"] == session.id
        assert completed["data"]["object"]["payment_status"] == "paid"
        assert completed["data"]["object"]["metadata"] == {"payment_session_id": "ps_42", "course_id": "c_1"}

    def test_tampered_or_stale_deliveries_do_not_verify(self, sbx_app, gateway, client, receiver):
        _paid_session(sbx_app, gateway, client)
        delivery = receiver.received[-1]
        header = delivery.headers["Stripe-Signature"]
        tampered = delivery.body.replace(b'"paid"', b'"unpaid"')
        assert tampered != delivery.body
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(tampered, header, WEBHOOK_SECRET)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(delivery.body, header, "whsec_someone_else")
        stale = sign_payload(delivery.body.decode(), WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(delivery.body, stale, WEBHOOK_SECRET, tolerance=300)

    def test_failed_deliveries_are_retried_and_recorded(self, sbx_app, gateway, client, receiver):
        receiver.statuses = [500, 503]
        session = new_checkout(gateway)
        gateway.expire_checkout_session(session.id)
        assert wait_for_deliveries(sbx_app, timeout=10)

        event = next(e for e in receiver.events() if e["type"] == "checkout.session.expired")
        deliveries = get_sandbox(sbx_app).deliveries(event["id"])
        assert [(d.attempt, d.status_code) for d in deliveries] == [(1, 500), (2, 503), (3, 200)]
        assert deliveries[0].error == "HTTP 500" and deliveries[-1].error is None
        assert all(d.url == receiver.url for d in deliveries)

    def test_events_are_ordered_and_each_delivered_once_when_accepted(self, sbx_app, gateway, client, receiver):
        _paid_session(sbx_app, gateway, client)
        ids = [e["id"] for e in receiver.events()]
        assert len(ids) == len(set(ids))
        created = [e["created"] for e in receiver.events()]
        assert created == sorted(created)

    def test_resend_delivers_again_and_prints_the_result(self, sbx_app, gateway, client, receiver):
        _paid_session(sbx_app, gateway, client)
        event_id = receiver.events()[-1]["id"]
        before = len(receiver.received)
        result = sbx_app.test_cli_runner().invoke(args=["stripe-sandbox", "resend", event_id])
        assert result.exit_code == 0, result.output
        assert f"{event_id} -> {receiver.url}: 200" in result.output
        assert len(receiver.received) == before + 1
        assert json.loads(receiver.received[-1].body)["id"] == event_id

    def test_resend_of_unknown_event_fails_clearly(self, sbx_app):
        result = sbx_app.test_cli_runner().invoke(args=["stripe-sandbox", "resend", "evt_missing"])
        assert result.exit_code != 0
        assert "No such event" in result.output

    def test_events_page_lists_events_and_deliveries(self, sbx_app, gateway, client, receiver):
        session = _paid_session(sbx_app, gateway, client)
        html = client.get("/_sandbox/stripe/events").get_data(as_text=True)
        assert "checkout.session.completed" in html
        assert session.id in html
        assert receiver.url in html
        event_id = receiver.events()[-1]["id"]
        assert client.post(f"/_sandbox/stripe/events/{event_id}/resend").status_code == 303
        assert len(get_sandbox(sbx_app).deliveries(event_id)) == 2


def test_same_origin_webhooks_are_dispatched_in_process(sandbox_url, tmp_path):
    """With the app's own origin, delivery needs no port: the app's WSGI callable is called."""
    app = build_app(
        sandbox_url,
        tmp_path,
        STRIPE_SANDBOX_WEBHOOKS=True,
        STRIPE_SANDBOX_WEBHOOK_URL="http://localhost/_test/stripe-hook",
    )
    received: list[dict] = []

    def hook():
        from flask import request

        from webapp.payments.gateway import get_gateway

        received.append(get_gateway().verify_webhook(request.get_data(), request.headers.get("Stripe-Signature")))
        return "", 200

    app.add_url_rule("/_test/stripe-hook", "test_stripe_hook", hook, methods=["POST"])

    with app.app_context():
        from webapp.payments.gateway import get_gateway

        session = new_checkout(get_gateway())
    assert pay(app.test_client(), session).status_code == 303
    assert wait_for_deliveries(app, timeout=10)
    assert received[-1]["type"] == "checkout.session.completed"
    assert received[-1]["data"]["object"]["id"] == session.id
    deliveries = get_sandbox(app).deliveries(received[-1]["id"])
    assert [d.status_code for d in deliveries] == [200]


class TestEventEnvelope:
    def test_retrieved_event_has_stripes_envelope(self, sbx_app, gateway, client, receiver):
        _paid_session(sbx_app, gateway, client)
        event = gateway.retrieve_event(receiver.events()[-1]["id"])
        assert event["id"].startswith("evt_")
        assert event["object"] == "event"
        assert event["api_version"]
        assert event["livemode"] is False
        assert event["pending_webhooks"] == 1
        assert set(event["request"]) == {"id", "idempotency_key"}
        assert event["type"] == "checkout.session.completed"
        assert event["data"]["object"]["object"] == "checkout.session"
        assert isinstance(event["created"], int)


class TestVerifyWebhook:
    PAYLOAD = json.dumps({"id": "evt_1", "object": "event", "type": "checkout.session.completed", "data": {}})

    def test_accepts_a_genuine_signature(self, gateway):
        event = gateway.verify_webhook(self.PAYLOAD.encode(), sign_payload(self.PAYLOAD, WEBHOOK_SECRET))
        assert event["id"] == "evt_1"

    def test_accepts_any_configured_secret_and_any_v1_signature(self, sandbox_url, tmp_path):
        app = build_app(sandbox_url, tmp_path, STRIPE_WEBHOOK_SECRETS=["whsec_new", "whsec_old"])
        with app.app_context():
            from webapp.payments.gateway import get_gateway

            gateway = get_gateway()
            old = sign_payload(self.PAYLOAD, "whsec_old")
            assert gateway.verify_webhook(self.PAYLOAD.encode(), old)["id"] == "evt_1"
            # During rotation Stripe sends one v1 per secret.
            new_sig = sign_payload(self.PAYLOAD, "whsec_new").split(",")[1]
            both = sign_payload(self.PAYLOAD, "whsec_unknown") + "," + new_sig
            assert gateway.verify_webhook(self.PAYLOAD.encode(), both)["id"] == "evt_1"

    @pytest.mark.parametrize(
        "header",
        [None, "", "garbage", "t=abc,v1=zz", "t=1", f"t={int(time.time())},v1=" + "0" * 64],
    )
    def test_rejects_missing_or_garbled_headers(self, gateway, header):
        with pytest.raises(WebhookSignatureError):
            gateway.verify_webhook(self.PAYLOAD.encode(), header)

    def test_rejects_stale_tampered_and_non_event_payloads(self, gateway):
        stale = sign_payload(self.PAYLOAD, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
        with pytest.raises(WebhookSignatureError, match="tolerance"):
            gateway.verify_webhook(self.PAYLOAD.encode(), stale)
        good = sign_payload(self.PAYLOAD, WEBHOOK_SECRET)
        with pytest.raises(WebhookSignatureError):
            gateway.verify_webhook(self.PAYLOAD.replace("evt_1", "evt_2").encode(), good)
        for body in ("not json", "[1, 2]", b"\xff\xfe"):
            raw = body if isinstance(body, bytes) else body.encode()
            header = sign_payload(raw.decode("latin-1"), WEBHOOK_SECRET)
            with pytest.raises(WebhookSignatureError):
                gateway.verify_webhook(raw, header)
