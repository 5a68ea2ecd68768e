"""Installment plans end to end: checkout on the page, the sandbox's hosted page and clocks,
webhooks delivered by the sandbox, the plan and enrollment they leave — on both databases."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from tests.support.checkout import buy, main_attrs, pay
from tests.support.factories import make_coupon
from tests.support.plans import (
    PLAN_CONFIG,
    advance,
    buy_plan,
    enrollment_of,
    fail_next_charges,
    offer,
    settle,
    stripe_invoices,
    the_plan,
)
from webapp.extensions import db
from webapp.models import AuditLog, Installment, InstallmentPlan, PaymentSession
from webapp.payments.gateway import get_gateway


@pytest.fixture
def app_config():
    return dict(PLAN_CONFIG)


def test_three_installments_paid_over_three_months_and_never_a_fourth(app, client, auth):
    offer(app)
    auth.sign_in("learner_plan")
    page = buy_plan(app, client)
    attrs = main_attrs(page.get_data(as_text=True))
    assert attrs["data-session-status"] == "COMPLETED" and attrs.get("data-enrollment-id")
    receipt = page.get_data(as_text=True)
    assert "$16.67" in receipt and "3 monthly installments: then 2 × $16.66" in receipt
    with app.app_context():
        from webapp.models import OutboxEmail

        email = db.session.scalars(sa.select(OutboxEmail)).one()
        assert "Paid today: $16.67 (installment 1 of 3)" in email.body_text
        assert "Then 2 monthly installments of $16.66, $49.99 in total" in email.body_text
    plan = the_plan(app)
    assert (plan.status, plan.paid_count, plan.amount_paid) == ("ACTIVE", 1, 1667)
    assert (plan.first_amount, plan.installment_amount, plan.schedule_ready) == (1667, 1666, True)
    assert enrollment_of(app, plan).payment_status == "INSTALLMENTS"

    for month in (1, 2):
        advance(app, 31)
        plan = the_plan(app)
        assert plan.paid_count == 1 + month
    assert (plan.status, plan.amount_paid) == ("PAID", 4999)
    enrollment = enrollment_of(app, plan)
    assert (enrollment.status, enrollment.payment_status, enrollment.amount_paid) == ("ACTIVE", "PAID", 4999)
    for _ in range(2):
        advance(app, 31)
    advance(app, 365)
    invoices = stripe_invoices(app, plan)
    assert [i.status for i in invoices] == ["paid"] * 3
    assert sum(i.amount_paid for i in invoices) == 4999
    with app.app_context():
        assert get_gateway().retrieve_subscription(plan.stripe_subscription_id).status == "canceled"
        rows = db.session.scalars(sa.select(Installment).order_by(Installment.sequence)).all()
        assert [(r.sequence, r.amount, r.status) for r in rows] == [
            (1, 1667, "PAID"),
            (2, 1666, "PAID"),
            (3, 1666, "PAID"),
        ]
        assert {r.stripe_invoice_id for r in rows} == {i.id for i in invoices}
        assert all(r.charge_id and r.charge_id.startswith("ch_") and r.card_last4 == "4242" for r in rows)
    assert the_plan(app).status == "PAID"


def test_a_coupon_applies_to_the_total_and_counts_once(app, client, auth):
    offer(app, price=10000)
    coupon_id = make_coupon(app, "HALF", value="50")
    auth.sign_in("learner_coupon")
    buy_plan(app, client, code="HALF")
    plan = the_plan(app)
    assert (plan.total_amount, plan.first_amount, plan.installment_amount) == (5000, 1668, 1666)
    for _ in range(3):
        advance(app, 31)
    invoices = stripe_invoices(app, the_plan(app))
    assert sum(i.amount_paid for i in invoices) == 5000 and len(invoices) == 3
    with app.app_context():
        from webapp.models import Coupon

        assert db.session.get(Coupon, coupon_id).current_uses == 1


def test_a_failed_installment_goes_past_due_then_paused_and_a_new_card_resumes_it(app, client, auth):
    offer(app)
    auth.sign_in("learner_late")
    buy_plan(app, client)
    plan = the_plan(app)
    fail_next_charges(app, plan)
    advance(app, 31)
    plan = the_plan(app)
    assert plan.status == "PAST_DUE"
    enrollment = enrollment_of(app, plan)
    assert (enrollment.status, enrollment.payment_status) == ("ACTIVE", "PAST_DUE")
    mine = client.get("/account/enrollments").get_data(as_text=True)
    assert "Payment failed — update your card" in mine and "Past due: 1 of 3 paid" in mine
    advance(app, 8)
    plan = the_plan(app)
    assert plan.status == "PAUSED"
    assert enrollment_of(app, plan).status == "PAUSED"
    page = client.get(f"/account/plans/{plan.id}").get_data(as_text=True)
    assert "Your access to the course is paused" in page and 'data-plan-status="PAUSED"' in page
    # The learner replaces the card on Stripe's page (setup mode); it pays the open invoice.
    started = client.post(f"/account/plans/{plan.id}/card")
    assert started.status_code == 303 and "/_sandbox/stripe/pay/cs_" in started.headers["Location"]
    saved = pay(client, started.headers["Location"], "4242 4242 4242 4242")
    assert saved.status_code == 303 and f"/account/plans/{plan.id}/card" in saved.headers["Location"]
    back = client.get(saved.headers["Location"])
    assert back.status_code == 303
    settle(app)
    assert "nothing is overdue, and it pays the installments to come" in client.get(back.headers["Location"]).get_data(
        as_text=True
    )
    plan = the_plan(app)
    assert (plan.status, plan.paid_count) == ("ACTIVE", 2)
    enrollment = enrollment_of(app, plan)
    assert (enrollment.status, enrollment.payment_status) == ("ACTIVE", "INSTALLMENTS")


def test_duplicate_and_out_of_order_invoice_events_count_each_invoice_once(app, client, auth):
    offer(app)
    auth.sign_in("learner_dup")
    buy_plan(app, client)
    advance(app, 31)
    plan = the_plan(app)
    from webapp.sandbox import get_sandbox

    sandbox = get_sandbox(app)
    billing = [evt["id"] for evt, _ in get_sandbox(app).recent_events(limit=500) if evt["type"].startswith("invoice.")]
    for event_id in billing:  # newest first: out of order, and each a second time
        sandbox.deliver_now(event_id)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Installment)) == 2
        paid = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "installment.paid")).all()
        assert len(paid) == 2
    assert the_plan(app).paid_count == plan.paid_count == 2


def test_reconcile_repairs_a_plan_whose_invoice_webhooks_were_dropped(app, client, auth, runner):
    offer(app)
    auth.sign_in("learner_recon")
    buy_plan(app, client)
    sandbox = app.extensions["stripe_sandbox"]
    sandbox.settings = dataclasses.replace(sandbox.settings, webhooks_enabled=False)
    advance(app, 31)
    assert the_plan(app).paid_count == 1
    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 0, result.output
    assert the_plan(app).paid_count == 2


def test_paying_in_full_on_a_plan_course_still_pays_once(app, client, auth):
    offer(app)
    auth.sign_in("learner_full")
    page, _ = buy(client, "plan-course")
    assert main_attrs(page.get_data(as_text=True)).get("data-enrollment-id")
    settle(app)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(InstallmentPlan)) == 0
        session = db.session.scalars(sa.select(PaymentSession)).one()
        assert (session.plan, session.final_amount) == ("full", 4999)


def test_the_learner_pays_the_balance_early_and_nothing_more_is_charged(app, client, auth):
    offer(app)
    auth.sign_in("learner_early")
    buy_plan(app, client)
    plan = the_plan(app)
    page = client.get(f"/account/plans/{plan.id}").get_data(as_text=True)
    assert "Pay $33.32 now" in page and page.count('data-status="UPCOMING"') == 2
    started = client.post(f"/account/plans/{plan.id}/payoff")
    assert started.status_code == 303
    paid = pay(client, started.headers["Location"])
    success = client.get(paid.headers["Location"])
    assert main_attrs(success.get_data(as_text=True))["data-session-status"] == "COMPLETED"
    settle(app)
    plan = the_plan(app)
    assert (plan.status, plan.amount_paid) == ("PAID", 4999)
    enrollment = enrollment_of(app, plan)
    assert (enrollment.status, enrollment.payment_status, enrollment.amount_paid) == ("ACTIVE", "PAID", 4999)
    with app.app_context():
        assert get_gateway().retrieve_subscription(plan.stripe_subscription_id).status == "canceled"
    advance(app, 400)
    assert len(stripe_invoices(app, plan)) == 1  # only the first installment was ever invoiced
    assert the_plan(app).paid_count == 2


def test_another_learners_plan_is_not_found(app, client, auth):
    offer(app)
    auth.sign_in("learner_owner")
    buy_plan(app, client)
    plan = the_plan(app)
    for bad in ("", "garbage", "cs_test_" + "x" * 300, "<script>"):
        response = client.get(f"/account/plans/{plan.id}/card", query_string={"setup_session_id": bad})
        assert response.status_code in (303, 404), (bad, response.status_code)
    assert client.get("/account/plans/" + "z" * 500).status_code == 404
    auth.sign_in("learner_other")
    assert client.get(f"/account/plans/{plan.id}").status_code == 404
    assert client.post(f"/account/plans/{plan.id}/payoff").status_code == 404
    assert client.post(f"/account/plans/{plan.id}/card").status_code == 404


def test_a_learner_who_cancels_the_enrollment_stops_the_plan(app, client, auth):
    offer(app)
    auth.sign_in("learner_leaves")
    buy_plan(app, client)
    plan = the_plan(app)
    assert "no further installment will be charged" in client.get(
        f"/account/enrollments/{plan.enrollment_id}/cancel"
    ).get_data(as_text=True)
    assert client.post(f"/account/enrollments/{plan.enrollment_id}/cancel").status_code == 303
    settle(app)
    plan = the_plan(app)
    assert (plan.status, plan.end_reason) == ("CANCELED", "cancelled_by_learner")
    assert enrollment_of(app, plan).status == "CANCELLED"
    advance(app, 100)
    assert len(stripe_invoices(app, plan)) == 1


def test_a_card_replaced_by_a_learner_who_never_comes_back_still_pays_via_the_webhook(app, client, auth):
    offer(app)
    auth.sign_in("learner_gone")
    buy_plan(app, client)
    plan = the_plan(app)
    fail_next_charges(app, plan)
    advance(app, 31)
    assert the_plan(app).status == "PAST_DUE"
    started = client.post(f"/account/plans/{plan.id}/card")
    saved = pay(client, started.headers["Location"], "5555 5555 5555 4444")
    assert saved.status_code == 303  # the learner closes the tab here: the webhook does the rest
    settle(app)
    plan = the_plan(app)
    assert (plan.status, plan.paid_count) == ("ACTIVE", 2)
    with app.app_context():
        assert (
            get_gateway()
            .retrieve_payment_method(get_gateway().get_default_payment_method(plan.stripe_customer_id))
            .last4
            == "4444"
        )
    # Coming back later pays nothing twice.
    assert client.get(saved.headers["Location"]).status_code == 303
    settle(app)
    assert the_plan(app).paid_count == 2


def test_bought_with_the_0341_card_the_second_installment_fails_and_the_plan_pauses_then_resumes(
    app, client, auth, runner
):
    """The outside check's path: the card that pays at checkout and fails later, time moved by the CLI."""
    offer(app)
    auth.sign_in("learner_0341")
    page = buy_plan(app, client, card="4000 0000 0000 0341")
    assert main_attrs(page.get_data(as_text=True)).get("data-enrollment-id")
    for days, plan_status, enrollment_status in ((31, "PAST_DUE", "ACTIVE"), (8, "PAUSED", "PAUSED")):
        result = runner.invoke(args=["stripe-sandbox", "advance", "--days", str(days)])
        assert result.exit_code == 0, result.output
        settle(app)
        plan = the_plan(app)
        assert (plan.status, enrollment_of(app, plan).status) == (plan_status, enrollment_status)
    assert "Your access is paused" in client.get("/courses/plan-course").get_data(as_text=True)
    started = client.post(f"/account/plans/{plan.id}/card")
    saved = pay(client, started.headers["Location"], "4242 4242 4242 4242")
    client.get(saved.headers["Location"])
    settle(app)
    plan = the_plan(app)
    enrollment = enrollment_of(app, plan)
    assert (plan.status, plan.paid_count, enrollment.status, enrollment.payment_status) == (
        "ACTIVE",
        2,
        "ACTIVE",
        "INSTALLMENTS",
    )
    assert "You're enrolled in this course" in client.get("/courses/plan-course").get_data(as_text=True)
    for _ in range(3):
        assert runner.invoke(args=["stripe-sandbox", "advance", "--days", "31"]).exit_code == 0
        settle(app)
    plan = the_plan(app)
    assert (plan.status, plan.amount_paid) == ("PAID", 4999)
    assert [i.status for i in stripe_invoices(app, plan)] == ["paid"] * 3


def test_a_partial_refund_keeps_its_payment_status_and_the_plan_still_pauses_and_resumes(app, client, auth):
    from webapp.services.refunds import refund_installment

    offer(app)
    auth.sign_in("learner_refunded")
    buy_plan(app, client)
    plan = the_plan(app)
    with app.app_context():
        first = db.session.scalars(sa.select(Installment).where(Installment.sequence == 1)).one()
        refund_installment(
            plan.enrollment_id,
            first.id,
            amount_text="5.00",
            reason="goodwill",
            admin_id="admin_1",
            request_token="tok-partial-refund-0001",
        )
        gateway = get_gateway()
        failing = gateway.attach_payment_method("pm_card_chargeCustomerFail", plan.stripe_customer_id)
        gateway.set_default_payment_method(plan.stripe_customer_id, failing.id)
    settle(app)
    assert enrollment_of(app, plan).payment_status == "PARTIALLY_REFUNDED"
    advance(app, 31)
    advance(app, 8)
    plan = the_plan(app)
    assert (plan.status, enrollment_of(app, plan).status) == ("PAUSED", "PAUSED")
    with app.app_context():
        gateway = get_gateway()
        good = gateway.attach_payment_method("pm_card_visa", plan.stripe_customer_id)
        gateway.set_default_payment_method(plan.stripe_customer_id, good.id)
        open_invoice = next(i for i in gateway.list_invoices(plan.stripe_subscription_id) if i.status == "open")
        gateway.pay_invoice(open_invoice.id, payment_method_id=good.id)
    settle(app)
    plan = the_plan(app)
    enrollment = enrollment_of(app, plan)
    assert (plan.status, enrollment.status, enrollment.payment_status) == ("ACTIVE", "ACTIVE", "PARTIALLY_REFUNDED")


def test_when_stripe_gives_up_access_ends_and_the_plan_shows_what_was_paid(app, client, auth):
    offer(app)
    auth.sign_in("learner_given_up")
    buy_plan(app, client, card="4000 0000 0000 0341")
    advance(app, 31)
    advance(app, 16)  # Stripe retries for two weeks, then cancels the subscription
    plan = the_plan(app)
    assert (plan.status, plan.end_reason, plan.amount_paid, plan.paid_count) == (
        "CANCELED",
        "subscription_canceled",
        1667,
        1,
    )
    assert enrollment_of(app, plan).status == "CANCELLED"
    page = client.get(f"/account/plans/{plan.id}").get_data(as_text=True)
    assert "ended before it was paid in full" in page and "$16.67 · 1 of 3 installments" in page
    advance(app, 62)
    assert len(stripe_invoices(app, plan)) == 2  # the failed one, never a third


def test_a_100_percent_coupon_on_the_plan_enrolls_without_stripe_and_opens_no_plan(app, client, auth):
    from tests.support.checkout import start_checkout

    offer(app)
    coupon_id = make_coupon(app, "ALLFREE", value="100")
    auth.sign_in("learner_free_plan")
    started = start_checkout(client, "plan-course", "ALLFREE", plan="installments")
    assert started.status_code == 303 and "/_sandbox/" not in started.headers["Location"]
    with app.app_context():
        from webapp.models import Coupon, Enrollment

        assert db.session.scalar(sa.select(sa.func.count()).select_from(InstallmentPlan)) == 0
        enrollment = db.session.scalars(sa.select(Enrollment)).one()
        assert (enrollment.status, enrollment.payment_status, enrollment.amount_paid) == ("ACTIVE", "FREE", 0)
        assert db.session.get(Coupon, coupon_id).current_uses == 1
        assert db.session.scalars(sa.select(PaymentSession)).one().plan == "full"


def test_a_replacement_card_that_is_declined_says_so_and_the_plan_stays_past_due(app, client, auth):
    offer(app)
    auth.sign_in("learner_declined_again")
    buy_plan(app, client, card="4000 0000 0000 0341")
    advance(app, 31)
    plan = the_plan(app)
    assert plan.status == "PAST_DUE"
    started = client.post(f"/account/plans/{plan.id}/card")
    saved = pay(client, started.headers["Location"], "4000 0000 0000 0341")  # saves, but can't be charged
    back = client.get(saved.headers["Location"])
    settle(app)
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "couldn&#39;t pay what is due" in page
    assert the_plan(app).status == "PAST_DUE"


def test_a_double_click_on_pay_the_rest_opens_one_checkout(app, client, auth):
    offer(app)
    auth.sign_in("learner_double_click")
    buy_plan(app, client)
    plan = the_plan(app)
    first = client.post(f"/account/plans/{plan.id}/payoff")
    second = client.post(f"/account/plans/{plan.id}/payoff")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    with app.app_context():
        payoffs = db.session.scalars(sa.select(PaymentSession).where(PaymentSession.plan == "payoff")).all()
        assert [(p.final_amount, p.status) for p in payoffs] == [(3332, "PENDING")]
