"""The admin side of installment plans, end to end on both databases: a learner buys a plan
through the sandbox (webhooks on, clocks advanced), an admin reads, refunds and cancels it."""

from __future__ import annotations

import html as html_lib
import re

import pytest
import sqlalchemy as sa

from tests.support.plans import (
    PLAN_CONFIG,
    advance,
    buy_plan,
    enrollment_of,
    fail_next_charges,
    installments,
    offer,
    settle,
    the_plan,
)
from webapp.extensions import db
from webapp.models import Refund
from webapp.payments.gateway import get_gateway

ADMIN = "admin_plans"
LEARNER = "learner_plans"


@pytest.fixture
def app_config():
    return dict(PLAN_CONFIG)


def text(response) -> str:
    return html_lib.unescape(response.get_data(as_text=True))


def bought(app, client, auth, *, months: int = 0):
    """A learner's 3 × plan for $49.99 (1667 + 1666 + 1666), `months` further installments paid."""
    offer(app)
    auth.sign_in(LEARNER)
    buy_plan(app, client)
    for _ in range(months):
        advance(app, 31)
    auth.sign_in(ADMIN, admin=True)
    return the_plan(app)


def page_of(client, plan):
    return client.get(f"/admin/enrollments/{plan.enrollment_id}")


def refunds_of(app, installment_id: str) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(Refund).where(Refund.installment_id == installment_id)).all()
        return sorted((r.amount, r.status) for r in rows)


def stripe_refunded(app, payment_intent_id: str) -> list[int]:
    with app.app_context():
        return sorted(r.amount for r in get_gateway().list_refunds(payment_intent_id) if r.status == "succeeded")


def refund_one(client, plan, installment_id: str, *, amount: str = "", everything: bool = False, form: str = "t1"):
    data = {"installment_id": installment_id, "amount": amount, "reason": "Asked for it", "request_token": form}
    if everything:
        data["refund_all"] = "1"
    return client.post(f"/admin/enrollments/{plan.enrollment_id}/installments/refund", data=data)


class TestPlanPanel:
    def test_shows_the_plan_its_installments_and_their_events(self, app, client, auth):
        plan = bought(app, client, auth, months=1)
        response = page_of(client, plan)
        assert response.status_code == 200
        page = text(response)
        panel = page[page.index('id="plan"') :]
        assert 'data-plan-status="ACTIVE"' in panel
        assert "paid 2 of 3" in panel
        assert "$33.33" in panel and "$49.99" in panel and "$16.66" in panel  # paid, total, remaining
        rows = re.findall(r'data-installment="(\d+)" data-installment-status="(\w+)"', panel)
        assert rows == [("1", "PAID"), ("2", "PAID")]
        for label in ("Installment plan opened", "Installment 1 paid", "Installment 2 invoiced", "Installment 2 paid"):
            assert label in page, label
        assert "invoice.paid" in page  # Stripe's events about the plan's invoices are on the timeline
        assert 'id="refund-by-plan"' in page and 'id="refund-form"' not in page

    def test_a_failed_installment_shows_past_due(self, app, client, auth):
        plan = bought(app, client, auth)
        fail_next_charges(app, plan)
        advance(app, 31)
        page = text(page_of(client, plan))
        assert 'data-plan-status="PAST_DUE"' in page
        assert 'data-figure="past-due-since"' in page
        assert re.search(r'data-installment="2" data-installment-status="OPEN"', page)
        assert "Installment 2 failed" in page and "Plan past due" in page


class TestRefundOneInstallment:
    def test_part_of_an_installment_is_refunded_at_stripe_and_recorded(self, app, client, auth):
        plan = bought(app, client, auth, months=1)
        second = installments(app, plan)[1]
        response = refund_one(client, plan, second.id, amount="5.00")
        assert response.status_code == 303, text(response)[:2000]
        settle(app)  # the refund's webhooks are mirrored onto the same row
        assert refunds_of(app, second.id) == [(500, "SUCCEEDED")]
        assert stripe_refunded(app, second.payment_intent_id) == [500]
        assert installments(app, plan)[1].amount_refunded == 500
        enrollment = enrollment_of(app, plan)
        assert (enrollment.status, enrollment.payment_status) == ("ACTIVE", "PARTIALLY_REFUNDED")
        assert "Stripe says succeeded" in text(client.get(response.headers["Location"]))

    def test_more_than_remains_of_the_installment_is_refused(self, app, client, auth):
        plan = bought(app, client, auth, months=1)
        second = installments(app, plan)[1]
        assert refund_one(client, plan, second.id, amount="10.00", form="a").status_code == 303
        refused = refund_one(client, plan, second.id, amount="10.00", form="b")
        assert refused.status_code == 400
        assert "At most $6.66 remains refundable" in text(refused)
        assert refunds_of(app, second.id) == [(1000, "SUCCEEDED")]
        assert stripe_refunded(app, second.payment_intent_id) == [1000]

    def test_the_first_installment_is_found_through_its_invoice(self, app, client, auth):
        plan = bought(app, client, auth)
        first = installments(app, plan)[0]
        response = refund_one(client, plan, first.id, everything=True)
        assert response.status_code == 303, text(response)[:2000]
        settle(app)
        first = installments(app, plan)[0]
        assert first.payment_intent_id
        with app.app_context():
            invoice = get_gateway().retrieve_invoice(first.stripe_invoice_id)
        assert invoice.payment_intent_id == first.payment_intent_id
        assert stripe_refunded(app, first.payment_intent_id) == [1667]
        assert first.amount_refunded == 1667
        # Everything paid so far refunded: access ends; the plan itself goes on until cancelled.
        enrollment = enrollment_of(app, plan)
        assert (enrollment.status, enrollment.payment_status) == ("REFUNDED", "REFUNDED")
        assert the_plan(app).status == "ACTIVE"

    def test_a_repeated_submit_refunds_once(self, app, client, auth):
        plan = bought(app, client, auth)
        first = installments(app, plan)[0]
        for _ in range(2):
            assert refund_one(client, plan, first.id, amount="1.00", form="same").status_code == 303
        settle(app)
        assert refunds_of(app, first.id) == [(100, "SUCCEEDED")]

    def test_an_installment_of_another_enrollment_is_not_found(self, app, client, auth):
        plan = bought(app, client, auth)
        response = client.post(
            "/admin/enrollments/not-an-enrollment/installments/refund",
            data={
                "installment_id": installments(app, plan)[0].id,
                "amount": "1.00",
                "reason": "x",
                "request_token": "t",
            },
        )
        assert response.status_code == 404


class TestRefundEverythingPaid:
    def test_one_stripe_refund_per_paid_installment(self, app, client, auth):
        plan = bought(app, client, auth, months=1)
        first, second = installments(app, plan)
        data = {"reason": "Course withdrawn", "request_token": "all-1"}
        url = f"/admin/enrollments/{plan.enrollment_id}/plans/{plan.id}/refund-all"
        response = client.post(url, data=data)
        assert response.status_code == 303, text(response)[:2000]
        assert client.post(url, data=data).status_code == 303  # the same form again: nothing more
        settle(app)
        first, second = installments(app, plan)
        assert stripe_refunded(app, first.payment_intent_id) == [1667]
        assert stripe_refunded(app, second.payment_intent_id) == [1666]
        assert (first.amount_refunded, second.amount_refunded) == (1667, 1666)
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Refund)) == 2
        enrollment = enrollment_of(app, plan)
        assert (enrollment.status, enrollment.payment_status) == ("REFUNDED", "REFUNDED")
        again = client.post(url, data={"reason": "Again", "request_token": "all-2"})
        assert again.status_code == 409
        assert "already been refunded" in text(again)


class TestCancelRemaining:
    def cancel(self, client, plan, *, keep_access: bool):
        data = {"keep_access": "1"} if keep_access else {}
        return client.post(f"/admin/enrollments/{plan.enrollment_id}/plans/{plan.id}/cancel", data=data)

    def test_stops_the_subscription_and_ends_access(self, app, client, auth):
        plan = bought(app, client, auth)
        response = self.cancel(client, plan, keep_access=False)
        assert response.status_code == 303, text(response)[:2000]
        settle(app)
        with app.app_context():
            assert get_gateway().retrieve_subscription(plan.stripe_subscription_id).status == "canceled"
        advance(app, 62)
        with app.app_context():
            assert len(get_gateway().list_invoices(plan.stripe_subscription_id)) == 1
        plan = the_plan(app)
        assert (plan.status, plan.paid_count) == ("CANCELED", 1)
        assert enrollment_of(app, plan).status == "CANCELLED"
        page = text(client.get(response.headers["Location"]))
        assert "Remaining installments cancelled" in page and "Plan ended" in page
        assert self.cancel(client, plan, keep_access=False).status_code == 409

    def test_keep_access(self, app, client, auth):
        plan = bought(app, client, auth)
        assert self.cancel(client, plan, keep_access=True).status_code == 303
        settle(app)
        plan = the_plan(app)
        assert plan.status == "CANCELED"
        assert enrollment_of(app, plan).status == "ACTIVE"


class TestDashboard:
    def figures(self, app):
        from webapp.services.reports.dashboard import dashboard

        with app.app_context():
            return dashboard()

    def test_a_plan_counts_what_was_received_and_what_is_still_scheduled(self, app, client, auth):
        bought(app, client, auth)
        figures = self.figures(app)
        assert figures.revenue_totals["usd"] == (1667, 0, 1667)  # not the 4999 of the whole plan
        assert figures.plans_outstanding == {"usd": (3332, 0)}
        assert [(c.enrollments, c.revenue) for c in figures.top_courses] == [(1, 1667)]
        page = text(client.get("/admin"))
        assert re.search(r'data-figure="gross">\$16\.67<', page)
        assert re.search(r'data-figure="scheduled">\$33\.32<', page)

    def test_a_failed_installment_is_past_due_not_scheduled(self, app, client, auth):
        plan = bought(app, client, auth)
        fail_next_charges(app, plan)
        advance(app, 31)
        figures = self.figures(app)
        assert figures.revenue_totals["usd"] == (1667, 0, 1667)
        assert figures.plans_outstanding == {"usd": (0, 1666)}
        assert re.search(r'data-figure="past-due">\$16\.66<', text(client.get("/admin")))


class TestPaymentsList:
    def test_shows_the_plan_of_a_session(self, app, client, auth):
        bought(app, client, auth)
        page = text(client.get("/admin/payments"))
        assert '<span class="small muted nowrap" data-plan="installments">3 installments</span>' in page
