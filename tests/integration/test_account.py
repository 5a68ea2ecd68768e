"""My courses: listing, cancelling (not a refund), progress and direct enrollment.

SQLite and PostgreSQL, the real stripe SDK against the in-process sandbox, real dev tokens.
"""

from __future__ import annotations

import re

import pytest

from tests.support.checkout import FAST_STRIPE, buy
from tests.support.factories import make_user
from tests.support.rows import enrollments, rows
from webapp.models.enums import EnrollmentStatus

SLUG = "python-payments"


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


def html(response) -> str:
    return response.get_data(as_text=True)


def bought(client, auth, user_id: str = "learner_1"):
    """Signs in as `user_id` and buys the paid course; returns (enrollment, stripe session id)."""
    auth.sign_in(user_id)
    page, cs_id = buy(client, SLUG)
    assert page.status_code == 200
    (enrollment,) = [e for e in enrollments(client.application, user_id=user_id)]
    return enrollment, cs_id


def audit_for(app, entity_id: str) -> list[str]:
    return [a.action for a in rows(app, "AuditLog", entity_id=entity_id)]


class TestEnrollmentsPage:
    def test_lists_paid_and_free_enrollments_with_receipt_progress_and_amount(self, app, client, auth, shop):
        enrollment, cs_id = bought(client, auth)
        assert client.post("/checkout/free-course", data={"coupon_code": ""}).status_code == 303

        page = client.get("/account/enrollments")
        body = html(page)
        assert page.status_code == 200
        assert "Python for Payments" in body and "Free Course" in body
        assert "$49.99" in body
        assert f"/payment/success?session_id={cs_id}" in body
        assert body.count(">Receipt</a>") == 1  # the free one has no receipt
        assert 'role="progressbar"' in body and 'aria-valuenow="0"' in body
        assert "0/12 lectures" in body
        assert f'data-enrollment-id="{enrollment.id}" data-status="ACTIVE"' in body
        # The receipt link opens the learner's own receipt.
        receipt = client.get(f"/payment/success?session_id={cs_id}")
        assert receipt.status_code == 200 and "Python for Payments" in html(receipt)

    def test_nav_links_to_my_courses_and_payment_methods(self, app, client, auth, shop):
        auth.sign_in("learner_1")
        body = html(client.get("/"))
        assert 'href="/account/enrollments"' in body and 'href="/account/payment-methods"' in body

    def test_shows_only_the_learners_own_enrollments(self, app, client, auth, shop):
        bought(client, auth, "learner_1")
        auth.sign_in("learner_2")
        body = html(client.get("/account/enrollments"))
        assert "Python for Payments" not in body
        assert "haven't enrolled" in body

    def test_anonymous_visitor_is_sent_to_sign_in(self, app, client, shop):
        response = client.get("/account/enrollments")
        assert response.status_code in (302, 303) and "sign-in" in response.headers["Location"]
        assert client.post("/account/enrollments/x/cancel").status_code in (302, 303)


class TestCancel:
    def test_confirmation_page_says_plainly_it_is_not_a_refund(self, app, client, auth, shop):
        enrollment, _ = bought(client, auth)
        page = client.get(f"/account/enrollments/{enrollment.id}/cancel")
        body = html(page)
        assert page.status_code == 200
        assert "not a refund" in body and 'name="csrf_token"' in body
        assert f'action="/account/enrollments/{enrollment.id}/cancel"' in body
        # Looking at the confirmation changes nothing.
        assert enrollments(app, id=enrollment.id)[0].status == EnrollmentStatus.ACTIVE

    def test_cancel_sets_cancelled_keeps_the_payment_and_is_idempotent(self, app, client, auth, shop):
        enrollment, _ = bought(client, auth)
        response = client.post(f"/account/enrollments/{enrollment.id}/cancel", data={"confirm": "yes"})
        assert response.status_code == 303 and response.headers["Location"].endswith("/account/enrollments")
        after = enrollments(app, id=enrollment.id)[0]
        assert after.status == EnrollmentStatus.CANCELLED and after.cancelled_at is not None
        assert after.payment_status == "PAID" and after.amount_paid == 4999  # not a refund
        assert rows(app, "Refund") == []
        page = html(client.get("/account/enrollments"))
        assert "not a refund" in page and "not refunded" in page
        assert f'data-enrollment-id="{enrollment.id}" data-status="CANCELLED"' in page

        again = client.post(f"/account/enrollments/{enrollment.id}/cancel")
        assert again.status_code == 303
        assert audit_for(app, enrollment.id).count("enrollment.cancelled") == 1
        assert enrollments(app, id=enrollment.id)[0].cancelled_at == after.cancelled_at

    def test_cancelled_learner_can_buy_again(self, app, client, auth, shop):
        enrollment, _ = bought(client, auth)
        client.post(f"/account/enrollments/{enrollment.id}/cancel")
        page, _ = buy(client, SLUG)
        assert page.status_code == 200
        (again,) = enrollments(app, user_id="learner_1")
        assert again.id == enrollment.id and again.status == EnrollmentStatus.ACTIVE

    def test_another_learners_enrollment_is_404_and_unchanged(self, app, client, auth, shop):
        enrollment, _ = bought(client, auth, "learner_1")
        auth.sign_in("learner_2")
        assert client.get(f"/account/enrollments/{enrollment.id}/cancel").status_code == 404
        response = client.post(f"/account/enrollments/{enrollment.id}/cancel", data={"confirm": "yes"})
        assert response.status_code == 404 and "find that enrollment" in html(response)
        assert enrollments(app, id=enrollment.id)[0].status == EnrollmentStatus.ACTIVE
        assert "enrollment.cancelled" not in audit_for(app, enrollment.id)

    @pytest.mark.parametrize("bad_id, status", [("does-not-exist", 404), ("x" * 300, 404), ("%00", 400)])
    def test_unknown_ids_are_404(self, app, client, auth, shop, bad_id, status):
        auth.sign_in("learner_1")
        assert client.post(f"/account/enrollments/{bad_id}/cancel").status_code == status
        assert client.get(f"/account/enrollments/{bad_id}/cancel").status_code == status


class TestProgress:
    def _enrolled(self, app, client, auth) -> str:
        enrollment, _ = bought(client, auth)
        return enrollment.id

    def test_records_progress_and_last_access(self, app, client, auth, shop):
        from webapp.services.enrollments import update_progress

        enrollment_id = self._enrolled(app, client, auth)
        with app.app_context():
            e = update_progress("learner_1", enrollment_id, progress=40, current_lecture=5, completed_lectures=4)
            assert (e.progress, e.current_lecture, e.completed_lectures) == (40, 5, 4)
            assert e.last_accessed_at is not None and e.status == EnrollmentStatus.ACTIVE
            assert e.completed_at is None
        body = html(client.get("/account/enrollments"))
        assert 'aria-valuenow="40"' in body and "4/12 lectures" in body

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("progress", -1),
            ("progress", 101),
            ("progress", "50"),
            ("progress", True),
            ("completed_lectures", 13),
            ("completed_lectures", -1),
            ("current_lecture", 0),
            ("current_lecture", 13),
        ],
    )
    def test_out_of_range_values_are_refused_naming_the_field(self, app, client, auth, shop, field, value):
        from webapp.services.enrollments import update_progress
        from webapp.services.errors import ValidationFailed

        enrollment_id = self._enrolled(app, client, auth)
        with app.app_context():
            with pytest.raises(ValidationFailed) as refused:
                update_progress("learner_1", enrollment_id, **{field: value})
            assert refused.value.field == field and field in refused.value.message
        after = enrollments(app, id=enrollment_id)[0]
        assert (after.progress, after.completed_lectures, after.current_lecture) == (0, 0, None)
        assert after.last_accessed_at is None

    def test_bounds_are_inclusive(self, app, client, auth, shop):
        from webapp.services.enrollments import update_progress

        enrollment_id = self._enrolled(app, client, auth)
        with app.app_context():
            e = update_progress("learner_1", enrollment_id, progress=0, current_lecture=12, completed_lectures=12)
            assert (e.progress, e.current_lecture, e.completed_lectures) == (0, 12, 12)
            e = update_progress("learner_1", enrollment_id, current_lecture=1, completed_lectures=0)
            assert (e.current_lecture, e.completed_lectures) == (1, 0)

    def test_reaching_100_completes_the_course_once(self, app, client, auth, shop):
        from webapp.services.enrollments import update_progress

        enrollment_id = self._enrolled(app, client, auth)
        with app.app_context():
            e = update_progress("learner_1", enrollment_id, progress=100, completed_lectures=12)
            assert e.status == EnrollmentStatus.COMPLETED and e.completed_at is not None
            completed_at = e.completed_at
            again = update_progress("learner_1", enrollment_id, progress=100)
            assert again.completed_at == completed_at and again.status == EnrollmentStatus.COMPLETED
        assert audit_for(app, enrollment_id).count("enrollment.completed") == 1
        assert "Completed" in html(client.get("/account/enrollments"))

    def test_cancelled_enrollment_progress_is_refused(self, app, client, auth, shop):
        from webapp.services.enrollments import update_progress
        from webapp.services.errors import Conflict

        enrollment_id = self._enrolled(app, client, auth)
        client.post(f"/account/enrollments/{enrollment_id}/cancel")
        with app.app_context(), pytest.raises(Conflict):
            update_progress("learner_1", enrollment_id, progress=10)
        assert enrollments(app, id=enrollment_id)[0].progress == 0

    def test_another_learners_enrollment_is_not_found_and_unchanged(self, app, client, auth, shop):
        from webapp.services.enrollments import get_for_user, update_progress
        from webapp.services.errors import NotFound

        enrollment_id = self._enrolled(app, client, auth)
        with app.app_context():
            with pytest.raises(NotFound):
                update_progress("learner_2", enrollment_id, progress=50)
            with pytest.raises(NotFound):
                get_for_user("learner_2", enrollment_id)
            assert get_for_user("learner_1", enrollment_id).id == enrollment_id
        assert enrollments(app, id=enrollment_id)[0].progress == 0


class TestEnrollDirect:
    def test_free_course_enrolls_once(self, app, client, auth, shop):
        from webapp.services.enrollments import enroll_direct

        make_user(app, "learner_1")
        with app.app_context():
            first = enroll_direct("learner_1", shop["free"], None)
            second = enroll_direct("learner_1", shop["free"], None)
            assert first.id == second.id and first.payment_status == "FREE"
        assert len(enrollments(app, user_id="learner_1")) == 1
        assert rows(app, "PaymentSession", user_id="learner_1")[0].stripe_session_id is None

    def test_paid_course_without_payment_is_refused(self, app, client, auth, shop):
        from webapp.services.enrollments import PaymentRequired, enroll_direct

        make_user(app, "learner_1")
        with app.app_context(), pytest.raises(PaymentRequired) as refused:
            enroll_direct("learner_1", shop["paid"], None)
        assert refused.value.status == 403 and "payment" in refused.value.message
        assert enrollments(app) == []

    def test_completed_payment_session_returns_its_enrollment(self, app, client, auth, shop):
        from webapp.services.enrollments import enroll_direct

        enrollment, cs_id = bought(client, auth)
        (session,) = rows(app, "PaymentSession", stripe_session_id=cs_id)
        with app.app_context():
            assert enroll_direct("learner_1", shop["paid"], session.id).id == enrollment.id
            assert enroll_direct("learner_1", shop["paid"], cs_id).id == enrollment.id
        assert len(enrollments(app)) == 1

    def test_paid_but_unconfirmed_session_is_fulfilled(self, app, client, auth, shop):
        from tests.support.checkout import pay, start_checkout
        from webapp.services.enrollments import enroll_direct

        auth.sign_in("learner_1")
        started = start_checkout(client, SLUG)
        assert pay(client, started.headers["Location"]).status_code == 303  # the success page never loads
        cs_id = re.search(r"cs_test_\w+", started.headers["Location"]).group(0)
        with app.app_context():
            enrollment = enroll_direct("learner_1", shop["paid"], cs_id)
            assert enrollment.status == EnrollmentStatus.ACTIVE
        assert len(enrollments(app)) == 1

    def test_open_or_foreign_sessions_are_refused(self, app, client, auth, shop):
        from tests.support.checkout import start_checkout
        from webapp.services.enrollments import PaymentRequired, enroll_direct
        from webapp.services.errors import NotFound, ValidationFailed

        auth.sign_in("learner_1")
        started = start_checkout(client, SLUG)
        cs_id = re.search(r"cs_test_\w+", started.headers["Location"]).group(0)
        auth.sign_in("learner_2")
        with app.app_context():
            with pytest.raises(PaymentRequired):
                enroll_direct("learner_1", shop["paid"], cs_id)
            with pytest.raises(NotFound):
                enroll_direct("learner_2", shop["paid"], cs_id)
            with pytest.raises(ValidationFailed):
                enroll_direct("learner_1", shop["free"], cs_id)
            with pytest.raises(NotFound):
                enroll_direct("learner_1", "no-such-course", None)
        assert enrollments(app) == []
