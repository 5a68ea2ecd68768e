"""Installment plans bought end to end for tests: the course offered, the checkout paid on the
sandbox's hosted page, the sandbox's clocks advanced and its webhooks delivered."""

from __future__ import annotations

import sqlalchemy as sa

from tests.support.checkout import pay, start_checkout
from tests.support.factories import make_course
from webapp.extensions import db
from webapp.models import Enrollment, Installment, InstallmentPlan
from webapp.payments.gateway import get_gateway
from webapp.sandbox import advance_time, wait_for_deliveries

WEBHOOK_SECRET = "whsec_installment_tests"

#: app_config for tests that buy plans: sandbox webhooks delivered to the app at once.
PLAN_CONFIG = {
    "STRIPE_SANDBOX_WEBHOOKS": True,
    "STRIPE_SANDBOX_WEBHOOK_URL": "http://localhost/webhooks/stripe",
    "STRIPE_WEBHOOK_SECRETS": [WEBHOOK_SECRET],
    "STRIPE_SANDBOX_WEBHOOK_RETRY_DELAYS": (0, 0),
    "STRIPE_NETWORK_RETRY_DELAY": 0,
}


def offer(app, slug: str = "plan-course", *, price: int = 4999, installments: int = 3, currency: str = "usd") -> str:
    """A course offered in `installments` monthly installments (as `flask courses create --installments`)."""
    return make_course(app, slug, price=price, currency=currency, title="Pay Me Monthly", installments=installments)


def settle(app) -> None:
    assert wait_for_deliveries(app, timeout=30)


def advance(app, days: int) -> None:
    advance_time(app, days=days)
    settle(app)


def buy_plan(app, client, slug: str = "plan-course", *, code: str = "", card: str = "4242 4242 4242 4242"):
    """Checkout with plan=installments, paid on the hosted page; returns the success page (events delivered)."""
    started = start_checkout(client, slug, code, plan="installments")
    assert started.status_code == 303, started.get_data(as_text=True)[:800]
    paid = pay(client, started.headers["Location"], card)
    assert paid.status_code == 303, paid.get_data(as_text=True)[:800]
    page = client.get(paid.headers["Location"])
    settle(app)
    return page


def the_plan(app) -> InstallmentPlan:
    with app.app_context():
        plan = db.session.scalars(sa.select(InstallmentPlan)).one()
        db.session.expunge(plan)
        return plan


def enrollment_of(app, plan: InstallmentPlan) -> Enrollment:
    with app.app_context():
        enrollment = db.session.get(Enrollment, plan.enrollment_id)
        db.session.expunge(enrollment)
        return enrollment


def installments(app, plan: InstallmentPlan) -> list[Installment]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(Installment).where(Installment.plan_id == plan.id).order_by(Installment.sequence)
            )
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def fail_next_charges(app, plan: InstallmentPlan) -> None:
    """The customer's default card becomes one that is declined."""
    with app.app_context():
        gateway = get_gateway()
        failing = gateway.attach_payment_method("pm_card_chargeCustomerFail", plan.stripe_customer_id)
        gateway.set_default_payment_method(plan.stripe_customer_id, failing.id)


def stripe_invoices(app, plan: InstallmentPlan):
    """The plan's invoices at Stripe, newest first."""
    with app.app_context():
        return get_gateway().list_invoices(plan.stripe_subscription_id)
