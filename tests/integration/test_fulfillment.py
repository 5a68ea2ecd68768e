"""`fulfill_checkout`, the one idempotent fulfillment, called directly (SQLite and PostgreSQL).

Sessions are opened through the checkout page and paid on the sandbox's hosted page, so
Stripe's side is real; only the caller differs from the success page (a webhook or
reconciliation would call it exactly like this).
"""

from __future__ import annotations

import time

import pytest

from tests.support.checkout import FAST_STRIPE, cs_id_of, pay, start_checkout
from tests.support.factories import make_coupon, make_course
from tests.support.rows import audit_actions, coupon_uses, enrollments, payment_sessions, update_row
from webapp.sandbox import settle_session

SLUG = "python-payments"


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def course_id(app) -> str:
    return make_course(app, SLUG, price=4999, currency="usd")


@pytest.fixture
def opened(app, client, auth, course_id):
    """A checkout for learner_1 with a 10 % coupon: (checkout url, cs id)."""
    auth.sign_in("learner_1")
    make_coupon(app, "WELCOME10", value="10", max_uses=5)
    response = start_checkout(client, SLUG, "WELCOME10")
    assert response.status_code == 303
    return response.headers["Location"], cs_id_of(response.headers["Location"])


def fulfill(app, cs_id: str, **kw):
    from webapp.services.fulfillment import fulfill_checkout

    with app.app_context():
        result = fulfill_checkout(cs_id, actor=kw.pop("actor", "test"), **kw)
        return result.state, result.enrollment.id if result.enrollment else None, result.detail


class TestFulfillCheckout:
    def test_paid_session_is_completed_with_one_enrollment_and_one_coupon_use(self, app, client, opened):
        url, cs_id = opened
        pay(client, url)
        state, enrollment_id, _ = fulfill(app, cs_id)
        assert state == "COMPLETED" and enrollment_id

        (row,) = payment_sessions(app)
        (enrollment,) = enrollments(app)
        assert enrollment.id == enrollment_id == row.enrollment_id
        assert row.payment_intent_id and row.payment_intent_id.startswith("pi_")
        assert (enrollment.amount_paid, enrollment.discount_applied, enrollment.currency) == (4499, 500, "usd")
        assert coupon_uses(app, "WELCOME10") == 1
        assert audit_actions(app, row.id)[-2:] == ["payment_session.completed", "enrollment.created"]

    def test_calling_it_again_is_a_no_op(self, app, client, opened):
        url, cs_id = opened
        pay(client, url)
        first = fulfill(app, cs_id)
        for actor in ("webhook", "reconcile", "success_page"):
            assert fulfill(app, cs_id, actor=actor) == first
        assert len(enrollments(app)) == 1
        assert coupon_uses(app, "WELCOME10") == 1
        assert audit_actions(app, payment_sessions(app)[0].id).count("enrollment.created") == 1

    def test_unpaid_open_session_changes_nothing(self, app, opened):
        _, cs_id = opened
        state, enrollment_id, _ = fulfill(app, cs_id)
        assert (state, enrollment_id) == ("PENDING", None)
        assert enrollments(app) == [] and coupon_uses(app, "WELCOME10") == 0

    def test_async_payment_goes_processing_then_completed(self, app, client, opened):
        url, cs_id = opened
        pay(client, url, method="bank_transfer")
        assert fulfill(app, cs_id)[:2] == ("PROCESSING", None)
        assert fulfill(app, cs_id)[:2] == ("PROCESSING", None)
        settle_session(app, cs_id)
        state, enrollment_id, _ = fulfill(app, cs_id)
        assert state == "COMPLETED" and enrollment_id
        assert coupon_uses(app, "WELCOME10") == 1

    def test_failed_async_payment_is_failed_and_releases_the_hold(self, app, client, opened):
        url, cs_id = opened
        pay(client, url, method="bank_transfer")
        fulfill(app, cs_id)
        settle_session(app, cs_id, fail=True)
        assert fulfill(app, cs_id)[:2] == ("FAILED", None)
        (row,) = payment_sessions(app)
        assert row.status == "FAILED" and "payment_session.failed" in audit_actions(app, row.id)
        assert coupon_uses(app, "WELCOME10") == 0

    def test_finds_our_row_by_metadata_when_the_stripe_id_was_never_stored(self, app, client, opened):
        url, cs_id = opened
        (row,) = payment_sessions(app)
        update_row(app, "PaymentSession", row.id, stripe_session_id=None)
        pay(client, url)
        assert fulfill(app, cs_id)[0] == "COMPLETED"
        assert payment_sessions(app)[0].stripe_session_id == cs_id

    def test_currency_mismatch_is_flagged_and_never_enrolled(self, app, client, opened):
        url, cs_id = opened
        (row,) = payment_sessions(app)
        update_row(app, "PaymentSession", row.id, currency="eur")
        pay(client, url)
        state, enrollment_id, detail = fulfill(app, cs_id)
        assert (enrollment_id, detail) == (None, "amount_mismatch")
        assert state == "FAILED"
        assert fulfill(app, cs_id)[1] is None
        assert enrollments(app) == [] and coupon_uses(app, "WELCOME10") == 0
        assert audit_actions(app, row.id).count("payment_session.amount_mismatch") == 1

    def test_payment_that_beat_our_cancel_still_enrolls(self, app, client, opened):
        url, cs_id = opened
        pay(client, url)
        (row,) = payment_sessions(app)
        update_row(app, "PaymentSession", row.id, status="CANCELED")
        state, enrollment_id, _ = fulfill(app, cs_id)
        assert state == "COMPLETED" and enrollment_id
        assert "payment_session.paid_after_close" in audit_actions(app, row.id)

    def test_a_session_that_is_not_ours_is_ignored(self, app):
        from webapp.payments.gateway import get_gateway

        with app.app_context():
            foreign = get_gateway().create_payment_checkout(
                customer_id=None,
                product_name="Somebody else's",
                description=None,
                amount=1000,
                currency="usd",
                success_url="http://localhost/x",
                cancel_url="http://localhost/y",
                client_reference_id="not-ours",
                metadata={"source": "elsewhere"},
                expires_at=int(time.time()) + 31 * 60,
                idempotency_key="foreign-1",
            )
        state, enrollment_id, _ = fulfill(app, foreign.id)
        assert (state, enrollment_id) == ("UNKNOWN", None)
        assert payment_sessions(app) == [] and enrollments(app) == []


class TestStateGuards:
    def test_completed_session_never_moves_back(self, app, client, opened):
        from webapp.extensions import db
        from webapp.models import PaymentSession
        from webapp.services.fulfillment import mark_expired, mark_failed

        url, cs_id = opened
        pay(client, url)
        fulfill(app, cs_id)
        with app.app_context():
            row = db.session.scalar(db.select(PaymentSession))
            assert mark_failed(row, actor="t", event_id=None, reason="late failure") is False
            assert mark_expired(row, actor="t", event_id=None) is False
            db.session.commit()
        assert payment_sessions(app)[0].status == "COMPLETED"

    @pytest.mark.parametrize("close", ["expired", "failed"])
    def test_expiry_and_failure_release_the_coupon_hold(self, app, opened, close):
        from webapp.extensions import db
        from webapp.models import Coupon, PaymentSession
        from webapp.models.base import utcnow
        from webapp.services.coupons import held_uses
        from webapp.services.fulfillment import mark_expired, mark_failed

        with app.app_context():
            coupon = db.session.scalar(db.select(Coupon))
            assert held_uses(coupon.id, now=utcnow()) == 1
            row = db.session.scalar(db.select(PaymentSession))
            if close == "expired":
                assert mark_expired(row, actor="t", event_id=None) is True
            else:
                assert mark_failed(row, actor="t", event_id=None, reason="card declined") is True
            db.session.commit()
            assert held_uses(coupon.id, now=utcnow()) == 0
