"""Checkout safety rules found in review: settling payments hold coupons and block re-buying,
stale prices are never reused, a failed supersede fails the new checkout, reconciliation finds
payments on closed sessions, the 24 h TTL stays under Stripe's limit, the customer survives."""

from __future__ import annotations

import pytest

from tests.support.auth import sign_in
from tests.support.checkout import FAST_STRIPE, cs_id_of, pay, start_checkout, stripe_session
from tests.support.factories import make_coupon, make_course
from tests.support.rows import enrollments, payment_sessions, rows, update_row
from webapp.extensions import db

SLUG = "safety-course"


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def course_id(app) -> str:
    return make_course(app, SLUG, price=5000, currency="usd", title="Safety First")


def _bank_transfer(client) -> str:
    started = start_checkout(client, SLUG, "ONCE")
    assert started.status_code == 303
    assert pay(client, started.headers["Location"], method="bank_transfer").status_code == 303
    cs_id = cs_id_of(started.headers["Location"])
    client.get(f"/payment/success?session_id={cs_id}")
    return cs_id


class TestSettlingPayments:
    def test_a_processing_payment_holds_its_coupon_use(self, app, client, course_id):
        make_coupon(app, "ONCE", value="10", max_uses=1)
        sign_in(app, client, "alice")
        _bank_transfer(client)
        assert [s.status for s in payment_sessions(app)] == ["PROCESSING"]
        other = app.test_client()
        sign_in(app, other, "bob")
        refused = other.post(f"/checkout/{SLUG}/coupon", data={"code": "ONCE"}, headers={"HX-Request": "true"})
        assert 'data-reason="used_up"' in refused.get_data(as_text=True)

    def test_a_processing_payment_blocks_a_second_purchase(self, app, client, course_id):
        make_coupon(app, "ONCE", value="10", max_uses=5)
        sign_in(app, client, "alice")
        _bank_transfer(client)
        again = start_checkout(client, SLUG, "")
        assert again.status_code == 303 and again.headers["Location"].endswith(f"/checkout/{SLUG}")
        page = client.get(f"/checkout/{SLUG}").get_data(as_text=True)
        assert "being processed" in page and "Pay $" not in page
        assert len(payment_sessions(app)) == 1


class TestReuse:
    def test_an_open_checkout_is_not_reused_after_a_price_change(self, app, client, course_id):
        sign_in(app, client, "learner")
        first = start_checkout(client, SLUG)
        update_row(app, "Course", course_id, price=2000)
        second = start_checkout(client, SLUG)
        assert cs_id_of(second.headers["Location"]) != cs_id_of(first.headers["Location"])
        assert stripe_session(app, cs_id_of(second.headers["Location"])).amount_total == 2000
        old = stripe_session(app, cs_id_of(first.headers["Location"]))
        assert old.status == "expired"


class TestSupersede:
    def test_stripe_failure_while_superseding_fails_the_new_checkout(self, app, client, course_id):
        from webapp.sandbox import clear_faults, inject_faults

        make_coupon(app, "TENOFF", value="10")
        sign_in(app, client, "learner")
        first = start_checkout(client, SLUG)
        inject_faults(app, 20, "500")
        second = start_checkout(client, SLUG, "TENOFF")
        clear_faults(app)
        assert second.status_code == 503
        sessions = payment_sessions(app)
        assert [s.status for s in sessions] == ["PENDING"]  # the old one is still open and still holds
        assert stripe_session(app, cs_id_of(first.headers["Location"])).status == "open"

    def test_reconcile_fulfils_a_payment_made_on_a_closed_session(self, app, client, runner, course_id):
        sign_in(app, client, "learner")
        started = start_checkout(client, SLUG)
        cs_id = cs_id_of(started.headers["Location"])
        pay(client, started.headers["Location"])
        # our row was closed (an expire call raced the payment) and the webhook was lost
        session_id = payment_sessions(app)[0].id
        update_row(app, "PaymentSession", session_id, status="CANCELED")
        result = runner.invoke(args=["payments", "reconcile"])
        assert f"{cs_id}: paid after it was closed -> COMPLETED" in result.output
        assert len(enrollments(app)) == 1


class TestLimits:
    def test_a_24_hour_ttl_stays_inside_stripes_limit(self, app, client, course_id):
        app.config["CHECKOUT_SESSION_TTL_MINUTES"] = 1440
        sign_in(app, client, "learner")
        started = start_checkout(client, SLUG)
        assert started.status_code == 303
        session = payment_sessions(app)[0]
        assert (session.expires_at - session.created_at).total_seconds() < 24 * 3600

    def test_the_stripe_customer_survives_a_failed_checkout(self, app, client, course_id):
        from webapp.sandbox import clear_faults, inject_faults

        sign_in(app, client, "learner")
        client.get("/")
        with app.app_context():
            from webapp.payments.gateway import get_gateway
            from webapp.services.checkout import _ensure_customer_committed

            _ensure_customer_committed("learner")
            customer = rows(app, "User", id="learner")[0].stripe_customer_id
            assert customer
            db.session.remove()
        inject_faults(app, 20, "500")
        assert start_checkout(client, SLUG).status_code == 503
        clear_faults(app)
        assert rows(app, "User", id="learner")[0].stripe_customer_id == customer
        started = start_checkout(client, SLUG)
        with app.app_context():
            assert (
                get_gateway().retrieve_checkout_session(cs_id_of(started.headers["Location"])).customer_id == customer
            )


class TestDuplicatePayment:
    def test_a_second_payment_is_refunded_on_its_own_and_access_stays(self, app, client, runner, course_id):
        from tests.support.auth import Auth

        sign_in(app, client, "twice")
        first = start_checkout(client, SLUG)
        pay(client, first.headers["Location"])
        first_row = payment_sessions(app)[0]
        update_row(app, "PaymentSession", first_row.id, status="CANCELED")  # lost race, lost webhook
        second = start_checkout(client, SLUG)
        pay(client, second.headers["Location"])
        client.get(f"/payment/success?session_id={cs_id_of(second.headers['Location'])}")
        runner.invoke(args=["payments", "reconcile"])
        enrollment = enrollments(app)[0]
        assert enrollment.status == "ACTIVE" and enrollment.payment_session_id != first_row.id

        admin = app.test_client()
        Auth(app, admin).sign_in("refund_admin", admin=True)
        page = admin.get(f"/admin/enrollments/{enrollment.id}").get_data(as_text=True)
        assert "paid more than once" in page and first_row.id in page
        refunded = admin.post(
            f"/admin/enrollments/{enrollment.id}/refund",
            data={
                "payment_session_id": first_row.id,
                "reason": "duplicate",
                "amount": "",
                "refund_all": "1",
                "request_token": "dup-1",
            },
        )
        assert refunded.status_code == 303
        refunds = rows(app, "Refund")
        assert len(refunds) == 1 and refunds[0].payment_session_id == first_row.id and refunds[0].amount == 5000
        enrollment = enrollments(app)[0]
        assert (enrollment.status, enrollment.payment_status) == ("ACTIVE", "PAID")
        # the granting payment is still fully refundable
        with app.app_context():
            from webapp.models import Enrollment
            from webapp.services.refunds import refundable_amount

            assert refundable_amount(db.session.get(Enrollment, enrollment.id)) == 5000
        # someone else's payment id is refused
        bogus = admin.post(
            f"/admin/enrollments/{enrollment.id}/refund",
            data={
                "payment_session_id": "nope",
                "reason": "x",
                "amount": "",
                "refund_all": "1",
                "request_token": "dup-2",
            },
        )
        assert bogus.status_code == 404
