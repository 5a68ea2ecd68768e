"""The webhook: signatures, the inbox, every event order, failures and reconciliation.

Events are built from the sandbox's real session object and signed like Stripe signs them;
the sandbox's own delivery is off so each test decides what arrives, when and how often.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.webhooks import WEBHOOK_SECRET, signed_headers, stripe_signature
from webapp.extensions import db
from webapp.models import AuditLog, Coupon, Enrollment, PaymentSession, StripeEvent
from webapp.services.coupons import create_coupon
from webapp.services.courses import create_course

SANDBOX_KEY = {"Authorization": "Bearer sk_test_webhook_tests"}


@pytest.fixture
def app_config():
    return {"STRIPE_NETWORK_RETRY_DELAY": 0}


@pytest.fixture
def course(app):
    with app.app_context():
        course = create_course(slug="webhook-course", title="Webhooks", price=5000, currency="usd")
        create_coupon(code="HOOK10", discount_type="percentage", value="10", max_uses=5)
        return course.id


def event_body(event_type: str, obj: dict, *, event_id: str | None = None, livemode: bool = False) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "livemode": livemode,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": obj},
        }
    )


def deliver(client, body: str, *, signature: str | None = None, path: str = "/webhooks/stripe"):
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature or stripe_signature(body)}
    return client.post(path, data=body, headers=headers)


def deliver_simultaneously(app, body: str, n: int) -> list[tuple[Any, tuple[float, float]]]:
    """`n` deliveries of one body released together from `n` threads: (response, (start, end))."""
    barrier = threading.Barrier(n)
    results = []

    def one():
        client = app.test_client()
        barrier.wait()
        started = time.monotonic()
        response = deliver(client, body)
        results.append((response, (started, time.monotonic())))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def start_checkout(client, auth, user_id: str, coupon: str = "") -> str:
    auth.sign_in(user_id)
    response = client.post("/checkout/webhook-course", data={"coupon_code": coupon})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return response.headers["Location"].rsplit("/", 1)[-1]


def pay(client, cs_id: str, method: str = "card") -> None:
    response = client.post(
        f"/_sandbox/stripe/pay/{cs_id}", data={"action": "pay", "method": method, "card_number": "4242424242424242"}
    )
    assert response.status_code == 303


def stripe_object(client, path: str) -> dict:
    response = client.get(f"/_sandbox/stripe/v1/{path}", headers=SANDBOX_KEY)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def paid_session(client, auth, user_id: str = "hook_learner", coupon: str = "") -> dict:
    cs_id = start_checkout(client, auth, user_id, coupon)
    pay(client, cs_id)
    return stripe_object(client, f"checkout/sessions/{cs_id}")


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


class TestSignature:
    def _rejected(self, app, client, body, signature, status=400):
        response = deliver(client, body, signature=signature)
        assert response.status_code == status
        assert count(app, StripeEvent) == 0
        assert count(app, Enrollment) == 0

    def test_missing_signature(self, app, client, course, auth):
        body = event_body("checkout.session.completed", paid_session(client, auth))
        response = client.post("/webhooks/stripe", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert count(app, StripeEvent) == 0 and count(app, Enrollment) == 0

    def test_wrong_secret(self, app, client, course, auth):
        body = event_body("checkout.session.completed", paid_session(client, auth))
        self._rejected(app, client, body, stripe_signature(body, "whsec_wrong"))

    def test_stale_timestamp(self, app, client, course, auth):
        body = event_body("checkout.session.completed", paid_session(client, auth))
        self._rejected(app, client, body, stripe_signature(body, timestamp=int(time.time()) - 301))

    def test_one_byte_tampered(self, app, client, course, auth):
        body = event_body("checkout.session.completed", paid_session(client, auth))
        signature = stripe_signature(body)
        tampered = body.replace('"livemode": false', '"livemode": fals3', 1)
        self._rejected(app, client, tampered, signature)

    @pytest.mark.parametrize("header", ["garbage", "t=abc,v1=", "v1=deadbeef", "t=1,v0=abc", ""])
    def test_garbled_header(self, app, client, course, auth, header):
        body = event_body("checkout.session.completed", {"id": "cs_test_x", "object": "checkout.session"})
        response = client.post(
            "/webhooks/stripe", data=body, headers={"Content-Type": "application/json", "Stripe-Signature": header}
        )
        assert response.status_code == 400 and count(app, StripeEvent) == 0

    def test_rotated_secret_and_several_signatures(self, app, client, course, auth):
        app.config["STRIPE_WEBHOOK_SECRETS"] = ["whsec_new_one", WEBHOOK_SECRET]
        from webapp.payments import gateway as gateway_module

        gateway_module.init_app(app)
        body = event_body("checkout.session.completed", paid_session(client, auth))
        t = int(time.time())
        old = hmac.new(WEBHOOK_SECRET.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
        response = deliver(client, body, signature=f"t={t},v1={'0' * 64},v1={old}")
        with app.app_context():
            assert response.status_code == 200, db.session.scalar(sa.select(StripeEvent.last_error))
        assert count(app, Enrollment) == 1

    def test_body_over_one_megabyte_is_413(self, app, client):
        body = "x" * (1024 * 1024 + 10)
        response = client.post("/webhooks/stripe", data=body, headers=signed_headers(body))
        assert response.status_code == 413 and count(app, StripeEvent) == 0

    def test_alias_route_verifies_the_same_way(self, app, client, course, auth):
        body = event_body("checkout.session.completed", paid_session(client, auth))
        assert (
            deliver(
                client, body, signature=stripe_signature(body, "whsec_bad"), path="/api/payments/webhooks/stripe"
            ).status_code
            == 400
        )
        assert deliver(client, body, path="/api/payments/webhooks/stripe").status_code == 200
        assert count(app, Enrollment) == 1


class TestInbox:
    def test_duplicate_delivery_has_no_effect(self, app, client, course, auth):
        session = paid_session(client, auth, coupon="HOOK10")
        body = event_body("checkout.session.completed", session)
        first = deliver(client, body)
        second = deliver(client, body)
        assert first.get_json()["status"] == "processed"
        assert second.status_code == 200 and second.get_json()["status"] == "duplicate"
        assert count(app, Enrollment) == 1 and count(app, StripeEvent) == 1
        with app.app_context():
            assert db.session.scalar(sa.select(Coupon.current_uses).where(Coupon.code == "HOOK10")) == 1
            row = db.session.scalar(sa.select(StripeEvent))
            assert row.status == "PROCESSED" and row.attempts == 1 and row.processed_at is not None

    def test_ten_simultaneous_deliveries_of_one_event(self, app, course, auth, backend):
        client = app.test_client()
        session = paid_session(client, type(auth)(app, client), coupon="HOOK10")
        body = event_body("checkout.session.completed", session)
        deliveries = deliver_simultaneously(app, body, 10)
        statuses = [response.status_code for response, _ in deliveries]
        spans = [span for _, span in deliveries]
        assert statuses == [200] * 10
        # control: the deliveries really overlapped in time
        assert max(s for s, _ in spans) < min(e for _, e in spans)
        assert count(app, Enrollment) == 1 and count(app, StripeEvent) == 1
        with app.app_context():
            assert db.session.scalar(sa.select(Coupon.current_uses).where(Coupon.code == "HOOK10")) == 1
            assert db.session.scalar(sa.select(StripeEvent.attempts)) == 1

    def test_ten_simultaneous_deliveries_of_a_database_only_event(self, app, course, auth, backend):
        """payment_intent.* is handled without a claim: work and record commit together and
        the event's key decides; the nine losers roll their audit rows back."""
        from webapp.models import AuditLog

        client = app.test_client()
        session = paid_session(client, type(auth)(app, client))
        intent = stripe_object(client, f"payment_intents/{session['payment_intent']}")
        body = event_body("payment_intent.succeeded", intent, event_id="evt_db_only_twins")
        deliveries = deliver_simultaneously(app, body, 10)
        statuses = [response.status_code for response, _ in deliveries]
        outcomes = [response.get_json()["status"] for response, _ in deliveries]
        assert statuses == [200] * 10
        assert sorted(outcomes) == ["duplicate"] * 9 + ["processed"]
        assert count(app, AuditLog, AuditLog.stripe_event_id == "evt_db_only_twins") == 1
        with app.app_context():
            row = db.session.get(StripeEvent, "evt_db_only_twins")
            assert (row.status, row.attempts, row.locked_until) == ("PROCESSED", 1, None)

    def test_unknown_type_and_foreign_session_answer_200_and_are_logged(self, app, client, course):
        unknown = deliver(client, event_body("customer.subscription.created", {"id": "sub_1"}))
        assert unknown.status_code == 200 and unknown.get_json()["status"] == "ignored"
        foreign = deliver(
            client,
            event_body(
                "checkout.session.expired", {"id": "cs_test_not_ours", "object": "checkout.session", "metadata": {}}
            ),
        )
        assert foreign.status_code == 200 and foreign.get_json()["status"] == "ignored"
        with app.app_context():
            assert {r.status for r in db.session.scalars(sa.select(StripeEvent))} == {"IGNORED"}

    def test_livemode_mismatch_is_ignored(self, app, client, course, auth):
        session = paid_session(client, auth)
        response = deliver(client, event_body("checkout.session.completed", session, livemode=True))
        assert response.get_json()["status"] == "ignored"
        assert count(app, Enrollment) == 0


ORDERINGS = list(itertools.permutations(["success", "completed", "pi_succeeded", "async_succeeded"]))


class TestEveryOrder:
    @pytest.mark.parametrize("order", ORDERINGS, ids=["-".join(o) for o in ORDERINGS])
    def test_any_order_gives_one_enrollment_and_one_coupon_use(self, app, client, auth, course, order):
        session = paid_session(client, auth, coupon="HOOK10")
        intent = stripe_object(client, f"payment_intents/{session['payment_intent']}")
        for step in order:
            if step == "success":
                page = client.get(f"/payment/success?session_id={session['id']}")
                assert page.status_code == 200
            elif step == "completed":
                assert deliver(client, event_body("checkout.session.completed", session)).status_code == 200
            elif step == "pi_succeeded":
                assert deliver(client, event_body("payment_intent.succeeded", intent)).status_code == 200
            else:
                assert (
                    deliver(client, event_body("checkout.session.async_payment_succeeded", session)).status_code == 200
                )
        assert count(app, Enrollment) == 1
        with app.app_context():
            assert db.session.scalar(sa.select(Coupon.current_uses).where(Coupon.code == "HOOK10")) == 1
            ps = db.session.scalar(sa.select(PaymentSession))
            assert ps.status == "COMPLETED" and ps.payment_intent_id == session["payment_intent"]
        page = client.get(f"/payment/success?session_id={session['id']}").get_data(as_text=True)
        assert 'data-session-status="COMPLETED"' in page and "data-enrollment-id=" in page

    def test_payment_intent_alone_never_enrolls(self, app, client, auth, course):
        session = paid_session(client, auth)
        intent = stripe_object(client, f"payment_intents/{session['payment_intent']}")
        assert deliver(client, event_body("payment_intent.succeeded", intent)).status_code == 200
        assert count(app, Enrollment) == 0
        with app.app_context():
            assert db.session.scalar(sa.select(PaymentSession.payment_intent_id)) == session["payment_intent"]


class TestStateRules:
    def test_expired_after_completed_changes_nothing(self, app, client, auth, course):
        session = paid_session(client, auth)
        deliver(client, event_body("checkout.session.completed", session))
        expired = dict(session, status="expired")
        assert deliver(client, event_body("checkout.session.expired", expired)).status_code == 200
        failed = deliver(client, event_body("checkout.session.async_payment_failed", session))
        assert failed.status_code == 200
        with app.app_context():
            assert db.session.scalar(sa.select(PaymentSession.status)) == "COMPLETED"
            assert db.session.scalar(sa.select(Enrollment.status)) == "ACTIVE"

    def test_expired_event_releases_the_hold(self, app, client, auth, course):
        cs_id = start_checkout(client, auth, "hook_expiring", "HOOK10")
        from webapp.payments.gateway import get_gateway

        with app.app_context():
            remote = get_gateway().expire_checkout_session(cs_id)
            assert remote.status == "expired"
        obj = stripe_object(client, f"checkout/sessions/{cs_id}")
        assert deliver(client, event_body("checkout.session.expired", obj)).status_code == 200
        with app.app_context():
            assert db.session.scalar(sa.select(PaymentSession.status)) == "EXPIRED"
            from webapp.models.base import utcnow
            from webapp.services.coupons import held_uses

            coupon_id = db.session.scalar(sa.select(Coupon.id).where(Coupon.code == "HOOK10"))
            assert held_uses(coupon_id, now=utcnow()) == 0

    def test_async_payment_failure_releases_the_coupon(self, app, client, auth, course):
        from webapp.sandbox import settle_session

        cs_id = start_checkout(client, auth, "hook_bank", "HOOK10")
        pay(client, cs_id, method="bank_transfer")
        obj = stripe_object(client, f"checkout/sessions/{cs_id}")
        assert obj["payment_status"] == "unpaid"
        deliver(client, event_body("checkout.session.completed", obj))
        with app.app_context():
            assert db.session.scalar(sa.select(PaymentSession.status)) == "PROCESSING"
            settle_session(app, cs_id, fail=True)
        failed_obj = stripe_object(client, f"checkout/sessions/{cs_id}")
        deliver(client, event_body("checkout.session.async_payment_failed", failed_obj))
        with app.app_context():
            assert db.session.scalar(sa.select(PaymentSession.status)) == "FAILED"
            assert db.session.scalar(sa.select(Coupon.current_uses).where(Coupon.code == "HOOK10")) == 0
        assert count(app, Enrollment) == 0
        # the coupon can be held again by someone else
        auth.sign_in("hook_other")
        partial = client.post(
            "/checkout/webhook-course/coupon", data={"code": "hook10"}, headers={"HX-Request": "true"}
        )
        assert "$45.00" in partial.get_data(as_text=True)

    def test_bank_transfer_settles_through_the_webhook(self, app, client, auth, course):
        from webapp.sandbox import settle_session

        cs_id = start_checkout(client, auth, "hook_bank_ok")
        pay(client, cs_id, method="bank_transfer")
        deliver(client, event_body("checkout.session.completed", stripe_object(client, f"checkout/sessions/{cs_id}")))
        assert count(app, Enrollment) == 0
        with app.app_context():
            settle_session(app, cs_id)
        deliver(
            client,
            event_body("checkout.session.async_payment_succeeded", stripe_object(client, f"checkout/sessions/{cs_id}")),
        )
        assert count(app, Enrollment) == 1

    def test_amount_mismatch_is_flagged_not_enrolled(self, app, client, auth, course):
        session = paid_session(client, auth)
        with app.app_context():
            ps = db.session.scalar(sa.select(PaymentSession))
            ps.final_amount = 100
            db.session.commit()
        deliver(client, event_body("checkout.session.completed", session))
        assert count(app, Enrollment) == 0
        assert count(app, AuditLog, AuditLog.action == "payment_session.amount_mismatch") == 1


class TestFailuresAndRetries:
    def test_handler_error_answers_5xx_then_the_retry_succeeds(self, app, client, auth, course):
        from webapp.sandbox import clear_faults, inject_faults

        session = paid_session(client, auth)
        body = event_body("checkout.session.completed", session)
        inject_faults(app, 10, "500")
        failed = deliver(client, body)
        assert failed.status_code == 500
        with app.app_context():
            row = db.session.scalar(sa.select(StripeEvent))
            assert row.status == "FAILED" and row.last_error and row.attempts == 1
        assert count(app, Enrollment) == 0
        clear_faults(app)
        retried = deliver(client, body)
        assert retried.status_code == 200 and retried.get_json()["status"] == "processed"
        assert count(app, Enrollment) == 1
        with app.app_context():
            assert db.session.scalar(sa.select(StripeEvent.attempts)) == 2

    def test_replay_reprocesses_a_stored_event(self, app, client, auth, course, runner):
        session = paid_session(client, auth)
        body = json.loads(event_body("checkout.session.completed", session))
        deliver(client, json.dumps(body))
        result = runner.invoke(args=["payments", "replay", body["id"]])
        assert result.exit_code == 0 and "processed" in result.output
        assert count(app, Enrollment) == 1

    def test_replay_never_runs_beside_a_delivery_that_holds_the_event(self, app, client, auth, course, runner):
        from datetime import timedelta

        from webapp.models import AuditLog
        from webapp.models.base import utcnow

        session = paid_session(client, auth)
        body = json.loads(event_body("checkout.session.completed", session))
        deliver(client, json.dumps(body))
        held_until = utcnow() + timedelta(minutes=5)
        with app.app_context():  # another worker is processing it right now
            db.session.execute(sa.update(StripeEvent).values(status="PROCESSING", locked_until=held_until))
            db.session.commit()
        result = runner.invoke(args=["payments", "replay", body["id"]])
        assert result.exit_code == 0 and "being processed right now" in result.output
        with app.app_context():
            row = db.session.get(StripeEvent, body["id"])
            assert row.status == "PROCESSING" and row.attempts == 1
        assert count(app, AuditLog, AuditLog.action == "stripe_event.replayed") == 0


class TestReconcile:
    def test_reconcile_enrolls_a_paid_session_no_event_reached(self, app, client, auth, course, runner):
        session = paid_session(client, auth, coupon="HOOK10")
        assert count(app, Enrollment) == 0
        result = runner.invoke(args=["payments", "reconcile"])
        assert result.exit_code == 0, result.output
        assert session["id"] in result.output and "COMPLETED" in result.output
        assert count(app, Enrollment) == 1
        again = runner.invoke(args=["payments", "reconcile"])
        assert "Reconciled: 0 change(s)." in again.output
        with app.app_context():
            assert db.session.scalar(sa.select(Coupon.current_uses).where(Coupon.code == "HOOK10")) == 1

    def test_reconcile_marks_stripe_expired_sessions(self, app, client, auth, course, runner):
        cs_id = start_checkout(client, auth, "hook_rec_exp")
        from webapp.payments.gateway import get_gateway

        with app.app_context():
            get_gateway().expire_checkout_session(cs_id)
        result = runner.invoke(args=["payments", "reconcile", "--since", "1"])
        assert "EXPIRED" in result.output
        with app.app_context():
            assert db.session.scalar(sa.select(PaymentSession.status)) == "EXPIRED"


class TestDisputes:
    def _dispute(self, session, status, dispute_id="dp_test_1"):
        return {
            "id": dispute_id,
            "object": "dispute",
            "amount": session["amount_total"],
            "currency": "usd",
            "charge": "ch_x",
            "payment_intent": session["payment_intent"],
            "reason": "fraudulent",
            "status": status,
        }

    def test_open_dispute_flags_and_a_lost_one_removes_access(self, app, client, auth, course):
        session = paid_session(client, auth)
        deliver(client, event_body("checkout.session.completed", session))
        created = deliver(client, event_body("charge.dispute.created", self._dispute(session, "needs_response")))
        assert created.status_code == 200
        with app.app_context():
            enrollment = db.session.scalar(sa.select(Enrollment))
            assert (enrollment.status, enrollment.payment_status) == ("ACTIVE", "DISPUTED")
        deliver(client, event_body("charge.dispute.closed", self._dispute(session, "lost")))
        with app.app_context():
            enrollment = db.session.scalar(sa.select(Enrollment))
            assert (enrollment.status, enrollment.payment_status) == ("CANCELLED", "DISPUTE_LOST")
            actions = db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)).all()
            assert "charge.dispute.created" in actions and "charge.dispute.closed" in actions

    def test_won_dispute_restores_the_payment_status(self, app, client, auth, course):
        session = paid_session(client, auth)
        deliver(client, event_body("checkout.session.completed", session))
        deliver(client, event_body("charge.dispute.created", self._dispute(session, "needs_response")))
        deliver(client, event_body("charge.dispute.closed", self._dispute(session, "won")))
        with app.app_context():
            enrollment = db.session.scalar(sa.select(Enrollment))
            assert (enrollment.status, enrollment.payment_status) == ("ACTIVE", "PAID")

    def test_dispute_of_a_foreign_payment_is_ignored(self, app, client, course):
        body = event_body(
            "charge.dispute.created",
            {"id": "dp_x", "object": "dispute", "payment_intent": "pi_nope", "status": "needs_response"},
        )
        assert deliver(client, body).get_json()["status"] == "ignored"


class TestStuckEvents:
    def test_a_twin_delivery_waits_for_the_first_and_a_dead_claim_is_retried(self, app, client, auth, course, runner):
        from datetime import timedelta

        from webapp.models.base import utcnow

        session = paid_session(client, auth)
        body = event_body("checkout.session.completed", session)
        event_id = json.loads(body)["id"]
        with app.app_context():
            # a worker claimed the event and died before finishing
            db.session.add(
                StripeEvent(
                    id=event_id,
                    type="checkout.session.completed",
                    livemode=False,
                    status="PROCESSING",
                    payload=json.loads(body),
                    attempts=1,
                    locked_until=utcnow() + timedelta(seconds=1),
                )
            )
            db.session.commit()
        from webapp.services import webhooks as service

        service.AWAIT_SECONDS, saved = 0.2, service.AWAIT_SECONDS
        try:
            busy = deliver(client, body)
        finally:
            service.AWAIT_SECONDS = saved
        assert busy.status_code == 409  # not 2xx: Stripe keeps retrying
        assert count(app, Enrollment) == 0
        time.sleep(1.1)  # the dead worker's claim lapses
        result = runner.invoke(args=["payments", "reconcile"])
        assert f"event {event_id}: retried -> processed" in result.output
        assert count(app, Enrollment) == 1
