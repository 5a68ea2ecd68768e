"""Installment plans under concurrency, on SQLite and PostgreSQL: the success page, the
checkout's and the invoice's webhooks and reconciliation all at once give one plan, one
first installment, one enrollment and one coupon use; every later invoice counts once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.integration.test_races import together
from tests.support.checkout import FAST_STRIPE, pay, start_checkout
from tests.support.factories import make_coupon
from tests.support.plans import offer
from webapp.extensions import db
from webapp.models import AuditLog, Coupon, Enrollment, Installment, InstallmentPlan
from webapp.sandbox import advance_time, get_sandbox


@pytest.fixture
def app_config() -> dict:
    # The sandbox delivers nothing by itself: each test delivers its events when it wants.
    return {
        **FAST_STRIPE,
        "STRIPE_SANDBOX_WEBHOOKS": False,
        "STRIPE_SANDBOX_WEBHOOK_URL": "http://localhost/webhooks/stripe",
    }


def _events(app, *types: str) -> list[str]:
    return [evt["id"] for evt, _ in get_sandbox(app).recent_events(limit=1000) if evt["type"] in types]


def _reconcile(app) -> list[str]:
    from webapp.services.webhooks import reconcile

    with app.app_context():
        try:
            return reconcile()
        finally:
            db.session.remove()


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_every_path_to_the_first_installment_at_once_opens_one_plan(app, client, auth):
    offer(app)
    coupon_id = make_coupon(app, "RACE10", value="10")
    auth.sign_in("learner_race")
    started = start_checkout(client, "plan-course", "RACE10", plan="installments")
    paid = pay(client, started.headers["Location"])
    success_url = paid.headers["Location"]
    sandbox = get_sandbox(app)
    completed = _events(app, "checkout.session.completed")
    invoice_paid = _events(app, "invoice.paid")
    assert len(completed) == 1 and len(invoice_paid) == 1

    def work(i: int) -> object:
        if i == 0:
            return client.get(success_url).status_code
        if i in (1, 2):
            return sandbox.deliver_now(completed[0]).status_code
        if i in (3, 4):
            return sandbox.deliver_now(invoice_paid[0]).status_code
        return _reconcile(app)

    results = together(6, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results[0] == 200 and all(code == 200 for code in results[1:5]), results
    assert _count(app, InstallmentPlan) == 1
    assert _count(app, Installment) == 1
    assert _count(app, Enrollment) == 1
    assert _count(app, AuditLog, AuditLog.action == "installment.paid") == 1
    with app.app_context():
        assert db.session.get(Coupon, coupon_id).current_uses == 1
        plan = db.session.scalars(sa.select(InstallmentPlan)).one()
        assert (plan.paid_count, plan.amount_paid, plan.total_amount) == (1, 1501, 4499)


def test_a_renewal_recorded_by_webhooks_and_reconciliation_at_once_counts_once(app, client, auth):
    offer(app)
    auth.sign_in("learner_renewal")
    started = start_checkout(client, "plan-course", "", plan="installments")
    paid = pay(client, started.headers["Location"])
    assert client.get(paid.headers["Location"]).status_code == 200
    advance_time(app, days=31)
    sandbox = get_sandbox(app)
    billing = _events(app, "invoice.paid", "customer.subscription.updated")
    assert len(billing) >= 3
    assert _count(app, Installment) == 1  # nothing delivered yet

    def work(i: int) -> object:
        if i < len(billing):
            return sandbox.deliver_now(billing[i]).status_code
        return _reconcile(app)

    results = together(len(billing) + 2, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert all(code == 200 for code in results[: len(billing)]), results
    assert _count(app, Installment) == 2
    assert _count(app, AuditLog, AuditLog.action == "installment.paid") == 2
    with app.app_context():
        plan = db.session.scalars(sa.select(InstallmentPlan)).one()
        assert (plan.paid_count, plan.amount_paid) == (2, 3333)
