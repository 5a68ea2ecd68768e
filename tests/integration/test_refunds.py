"""Admin refunds through the real flow: a learner pays in the sandbox, an admin refunds."""

from __future__ import annotations

import html as html_lib
import threading
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.support.rows import rows

ADMIN = "admin_1"


@pytest.fixture
def app_config() -> dict:
    return {"STRIPE_NETWORK_RETRY_DELAY": 0, "STRIPE_MAX_NETWORK_RETRIES": 0}


def text(response) -> str:
    return html_lib.unescape(response.get_data(as_text=True))


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def buy(
    app,
    client,
    auth,
    *,
    user: str = "learner_1",
    slug: str = "python-payments",
    price: int = 2000,
    currency: str = "usd",
) -> str:
    """Creates the course if needed, pays for it as `user` through the sandbox; returns the enrollment id."""
    from webapp.extensions import db
    from webapp.models import Course, Enrollment
    from webapp.services.courses import create_course

    with app.app_context():
        course = db.session.scalar(sa.select(Course).where(Course.slug == slug))
        if course is None:
            course = create_course(slug=slug, title=f"Course {slug}", price=price, currency=currency)
        course_id = course.id
    auth.sign_in(user)
    started = client.post(f"/checkout/{slug}", data={"coupon_code": ""})
    assert started.status_code == 303, started.get_data(as_text=True)[:500]
    paid = client.post(
        _path(started.headers["Location"]),
        data={"action": "pay", "method": "card", "card_number": "4242424242424242"},
    )
    assert paid.status_code == 303
    assert client.get(_path(paid.headers["Location"])).status_code == 200
    with app.app_context():
        enrollment = db.session.scalar(
            sa.select(Enrollment).where(Enrollment.user_id == user, Enrollment.course_id == course_id)
        )
        assert enrollment is not None and enrollment.payment_status == "PAID"
        return enrollment.id


def state(app, enrollment_id: str):
    from webapp.extensions import db
    from webapp.models import Enrollment, Refund

    with app.app_context():
        e = db.session.get(Enrollment, enrollment_id)
        refunds = list(
            db.session.scalars(
                sa.select(Refund).where(Refund.enrollment_id == enrollment_id).order_by(Refund.created_at)
            )
        )
        result = (e.status, e.payment_status, [(r.amount, r.status) for r in refunds])
        db.session.remove()
        return result


def stripe_refunds(app, enrollment_id: str):
    from webapp.extensions import db
    from webapp.models import Enrollment, PaymentSession
    from webapp.payments.gateway import get_gateway

    with app.app_context():
        e = db.session.get(Enrollment, enrollment_id)
        pi = db.session.get(PaymentSession, e.payment_session_id).payment_intent_id
        return pi, get_gateway().list_refunds(pi)


def refund(
    client,
    auth,
    enrollment_id: str,
    *,
    amount: str = "",
    reason: str = "Course cancelled",
    submission="s-1",
    refund_all: bool = False,
):
    auth.sign_in(ADMIN, admin=True)
    data = {"amount": amount, "reason": reason, "request_token": submission}
    if refund_all:
        data["refund_all"] = "1"
    return client.post(f"/admin/enrollments/{enrollment_id}/refund", data=data)


class TestIssueRefund:
    def test_partial_then_rest_refunds_fully_and_removes_access(self, app, client, auth):
        eid = buy(app, client, auth)
        first = refund(client, auth, eid, amount="5.00", submission="a")
        assert first.status_code == 303
        assert state(app, eid) == ("ACTIVE", "PARTIALLY_REFUNDED", [(500, "SUCCEEDED")])
        page = client.get(first.headers["Location"])
        assert "Stripe says succeeded" in text(page)
        assert "$15.00" in text(page)  # what remains refundable

        rest = refund(client, auth, eid, refund_all=True, submission="b")
        assert rest.status_code == 303
        assert state(app, eid) == ("REFUNDED", "REFUNDED", [(500, "SUCCEEDED"), (1500, "SUCCEEDED")])
        _, at_stripe = stripe_refunds(app, eid)
        assert sorted(r.amount for r in at_stripe) == [500, 1500]

        # The learner no longer has the course.
        auth.sign_in("learner_1")
        from webapp.services.checkout import is_enrolled

        with app.app_context():
            from webapp.extensions import db
            from webapp.models import Enrollment

            e = db.session.get(Enrollment, eid)
            assert not is_enrolled(e.user_id, e.course_id)

    def test_refunds_appear_on_timeline_with_admin_in_audit(self, app, client, auth):
        eid = buy(app, client, auth)
        refund(client, auth, eid, amount="2.50", reason="Late start", submission="t1")
        html = text(client.get(f"/admin/enrollments/{eid}"))
        assert "Late start" in html
        assert 'data-kind="refund"' in html
        assert "refund.issued" in html and f"by {ADMIN}" in html
        from webapp.extensions import db
        from webapp.models import AuditLog

        with app.app_context():
            entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "refund.issued"))
            assert entry.actor == ADMIN and entry.enrollment_id == eid and entry.data["reason"] == "Late start"

    def test_over_refund_is_refused_with_the_remaining_amount(self, app, client, auth):
        eid = buy(app, client, auth)
        response = refund(client, auth, eid, amount="20.01", submission="x")
        assert response.status_code == 400
        assert "At most $20.00 remains refundable" in text(response)
        assert state(app, eid) == ("ACTIVE", "PAID", [])
        assert stripe_refunds(app, eid)[1] == []

    @pytest.mark.parametrize(
        ("amount", "reason", "message"),
        [
            ("abc", "r", "is not an amount"),
            ("-1", "r", "cannot be negative"),
            ("0", "r", "must be more than zero"),
            ("1.001", "r", "at most 2 decimal places"),
            ("5", "   ", "Give a reason"),
        ],
    )
    def test_bad_input_gets_a_clear_message(self, app, client, auth, amount, reason, message):
        eid = buy(app, client, auth)
        response = refund(client, auth, eid, amount=amount, reason=reason, submission="bad")
        assert response.status_code == 400
        assert message in text(response)
        assert state(app, eid) == ("ACTIVE", "PAID", [])

    def test_an_empty_amount_alone_refunds_nothing(self, app, client, auth):
        eid = buy(app, client, auth)
        response = refund(client, auth, eid, amount="  ", reason="Asked", submission="empty")
        assert response.status_code == 400
        assert "Enter the amount to refund, or tick “Refund all that remains”." in text(response)
        assert 'value="Asked"' in text(response)  # what was typed is kept
        assert state(app, eid) == ("ACTIVE", "PAID", [])
        assert stripe_refunds(app, eid)[1] == []

    def test_an_amount_and_refund_all_together_are_refused(self, app, client, auth):
        eid = buy(app, client, auth)
        response = refund(client, auth, eid, amount="5.00", refund_all=True, submission="both")
        assert response.status_code == 400
        assert "not both" in text(response)
        assert state(app, eid) == ("ACTIVE", "PAID", [])
        assert stripe_refunds(app, eid)[1] == []

    def test_refund_all_refunds_what_remains(self, app, client, auth):
        eid = buy(app, client, auth)
        assert refund(client, auth, eid, amount="4.00", submission="p").status_code == 303
        assert refund(client, auth, eid, refund_all=True, submission="all").status_code == 303
        assert state(app, eid) == ("REFUNDED", "REFUNDED", [(400, "SUCCEEDED"), (1600, "SUCCEEDED")])

    def test_the_confirmation_names_the_learner_and_the_card(self, app, client, auth):
        eid = buy(app, client, auth)
        auth.sign_in(ADMIN, admin=True)
        page = text(client.get(f"/admin/enrollments/{eid}"))
        assert "back to Visa ending in 4242?" in page
        assert "Stripe returns the money to Visa ending in 4242" in page
        assert "the card or account it was paid with" not in page
        # Stripe unreachable: the page still renders, with the generic wording.
        from webapp.sandbox import clear_faults, inject_faults

        inject_faults(app, 1, "500")
        try:
            page = text(client.get(f"/admin/enrollments/{eid}"))
        finally:
            clear_faults(app)
        assert "back to the card or account it was paid with?" in page

    def test_missing_token_and_unknown_enrollment(self, app, client, auth):
        eid = buy(app, client, auth)
        assert "form has expired" in text(refund(client, auth, eid, submission=""))
        assert refund(client, auth, "nope", submission="z").status_code == 404

    def test_double_submit_of_one_form_makes_one_refund(self, app, client, auth):
        eid = buy(app, client, auth)
        for _ in range(3):
            assert refund(client, auth, eid, amount="3.00", submission="same").status_code == 303
        assert state(app, eid) == ("ACTIVE", "PARTIALLY_REFUNDED", [(300, "SUCCEEDED")])
        assert len(stripe_refunds(app, eid)[1]) == 1

    def test_stripe_failure_shows_a_message_and_changes_nothing(self, app, client, auth):
        from webapp.sandbox import clear_faults, inject_faults

        eid = buy(app, client, auth)
        inject_faults(app, 3, "500")
        try:
            response = refund(client, auth, eid, amount="5.00", submission="f")
        finally:
            clear_faults(app)
        assert response.status_code == 503
        assert "couldn't reach Stripe, so no refund was made" in text(response)
        assert state(app, eid) == ("ACTIVE", "PAID", [])
        assert stripe_refunds(app, eid)[1] == []
        # The retry form keeps the same token, so a refund Stripe made anyway is never doubled.
        assert 'name="request_token" value="f"' in text(response)
        assert refund(client, auth, eid, amount="5.00", submission="f").status_code == 303
        assert state(app, eid) == ("ACTIVE", "PARTIALLY_REFUNDED", [(500, "SUCCEEDED")])

    def test_free_enrollment_has_nothing_to_refund(self, app, client, auth):
        from webapp.services.courses import create_course
        from webapp.services.grants import grant_enrollment
        from webapp.services.users import upsert_user

        with app.app_context():
            course = create_course(slug="free-one", title="Free", price=0, currency="usd")
            upsert_user("learner_9", email="l9@example.test", name=None)
            eid = grant_enrollment(user_ref="learner_9", course_id=course.id, reason="gift", admin_id=ADMIN).id
        response = refund(client, auth, eid, refund_all=True, submission="n")
        assert response.status_code == 409
        assert "no card payment to refund" in text(response)


class TestSync:
    def test_refund_made_directly_at_stripe_is_synced(self, app, client, auth):
        from webapp.payments.gateway import get_gateway
        from webapp.services.refunds import sync_refunds_for_payment_intent

        eid = buy(app, client, auth)
        pi, _ = stripe_refunds(app, eid)
        with app.app_context():
            get_gateway().create_refund(payment_intent_id=pi, amount=700, reason_metadata={}, idempotency_key="dash-1")
            sync_refunds_for_payment_intent(pi, event_id=None)
            sync_refunds_for_payment_intent(pi, event_id=None)  # idempotent
        assert state(app, eid) == ("ACTIVE", "PARTIALLY_REFUNDED", [(700, "SUCCEEDED")])
        # What remains refundable accounts for it.
        assert "At most $13.00 remains" in text(refund(client, auth, eid, amount="14", submission="s"))
        with app.app_context():
            get_gateway().create_refund(payment_intent_id=pi, amount=1300, reason_metadata={}, idempotency_key="dash-2")
            sync_refunds_for_payment_intent(pi, event_id=None)
        assert state(app, eid) == ("REFUNDED", "REFUNDED", [(700, "SUCCEEDED"), (1300, "SUCCEEDED")])

    def test_our_own_refund_is_not_duplicated_by_sync(self, app, client, auth):
        from webapp.services.refunds import sync_refunds_for_payment_intent

        eid = buy(app, client, auth)
        refund(client, auth, eid, amount="4.00", submission="own")
        pi, _ = stripe_refunds(app, eid)
        with app.app_context():
            sync_refunds_for_payment_intent(pi, event_id=None)
        assert state(app, eid) == ("ACTIVE", "PARTIALLY_REFUNDED", [(400, "SUCCEEDED")])

    def test_unknown_payment_intent_is_ignored(self, app):
        from webapp.services.refunds import sync_refunds_for_payment_intent

        with app.app_context():
            sync_refunds_for_payment_intent("pi_unknown", event_id="evt_1")
        assert rows(app, "Refund") == [] and rows(app, "AuditLog") == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_four_concurrent_submits_make_one_refund(request, tmp_path, backend):
    from tests.support.auth import Auth
    from tests.support.harness import backend_database_url, clean_database, make_app, migrate_once

    app = make_app(backend_database_url(request, backend), tmp_path, STRIPE_NETWORK_RETRY_DELAY=0)
    migrate_once(app)
    clean_database(app)
    client = app.test_client()
    eid = buy(app, client, Auth(app, client))
    from tests.support.auth import set_session_cookie, token_for

    cookie = token_for(app, ADMIN, admin=True)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def submit():
        c = app.test_client()
        set_session_cookie(c, cookie)
        barrier.wait()
        r = c.post(
            f"/admin/enrollments/{eid}/refund",
            data={"amount": "", "refund_all": "1", "reason": "double click", "request_token": "one-form"},
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [303] * 4
    assert state(app, eid) == ("REFUNDED", "REFUNDED", [(2000, "SUCCEEDED")])
    assert len(stripe_refunds(app, eid)[1]) == 1

    # Four different forms at once (four tabs): still never more than was paid.
    eid2 = buy(app, client, Auth(app, client), user="learner_2")
    barrier = threading.Barrier(4)
    statuses.clear()

    def submit_own(i: int):
        c = app.test_client()
        set_session_cookie(c, cookie)
        barrier.wait()
        r = c.post(
            f"/admin/enrollments/{eid2}/refund",
            data={"amount": "", "refund_all": "1", "reason": "tabs", "request_token": f"tab-{i}"},
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=submit_own, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [303, 409, 409, 409]
    assert state(app, eid2) == ("REFUNDED", "REFUNDED", [(2000, "SUCCEEDED")])
    assert len(stripe_refunds(app, eid2)[1]) == 1
    with app.app_context():
        from webapp.extensions import db

        db.session.remove()
        db.engine.dispose()


def test_charge_refunded_webhook_syncs_a_refund_made_at_stripe(app, client, auth):
    """Through the real webhook route: Stripe's own signed event, a refund with no row of ours."""
    import json

    from webapp.payments.gateway import get_gateway
    from webapp.sandbox import get_sandbox, sign_payload

    eid = buy(app, client, auth)
    pi, _ = stripe_refunds(app, eid)
    with app.app_context():
        made = get_gateway().create_refund(
            payment_intent_id=pi, amount=2000, reason_metadata={}, idempotency_key="dashboard-full"
        )
    events = [
        evt
        for evt, _ in get_sandbox(app).recent_events(limit=50)
        if evt["type"] == "charge.refunded" and evt["data"]["object"].get("payment_intent") == pi
    ]
    assert events
    body = json.dumps(events[0])
    response = client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": sign_payload(body, "whsec_test_secret"), "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert state(app, eid) == ("REFUNDED", "REFUNDED", [(2000, "SUCCEEDED")])
    from webapp.extensions import db
    from webapp.models import Refund

    with app.app_context():
        row = db.session.scalar(sa.select(Refund).where(Refund.enrollment_id == eid))
        assert (row.stripe_refund_id, row.created_by) == (made.id, "stripe")


def test_stale_remainder_refused_by_stripe_is_explained_and_resynced(app, client, auth):
    from webapp.payments.gateway import get_gateway

    eid = buy(app, client, auth)
    pi, _ = stripe_refunds(app, eid)
    with app.app_context():
        get_gateway().create_refund(payment_intent_id=pi, amount=1500, reason_metadata={}, idempotency_key="dash")
    response = refund(client, auth, eid, refund_all=True, submission="stale")
    assert response.status_code == 409
    assert "less remains refundable than we had recorded" in text(response)
    assert state(app, eid) == ("ACTIVE", "PARTIALLY_REFUNDED", [(1500, "SUCCEEDED")])
    assert "$5.00" in text(response)  # the page now shows what really remains
    assert refund(client, auth, eid, refund_all=True, submission="retry").status_code == 303
    assert state(app, eid) == ("REFUNDED", "REFUNDED", [(1500, "SUCCEEDED"), (500, "SUCCEEDED")])
