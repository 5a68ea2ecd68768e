"""A learner's installment plan in a real chromium: the receipt, My courses, the plan page;
then a failed installment, the alert, and the card replaced on Stripe's (sandbox) setup page.
Each page is checked at both widths (no sideways scroll, axe-core)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.e2e.page_checks import WIDTHS, PageChecker, axe_source
from tests.support.browser import sign_in_with_form
from tests.support.checkout import FAST_STRIPE
from tests.support.factories import make_course
from tests.support.plans import advance, fail_next_charges

pytestmark = pytest.mark.browser

SLUG = "monthly-course"


@pytest.fixture
def app_config() -> dict:
    return {**FAST_STRIPE, "STRIPE_SANDBOX_WEBHOOKS": True, "STRIPE_SANDBOX_WEBHOOK_RETRY_DELAYS": (0, 0)}


@pytest.fixture
def plan_course(live_app) -> str:
    return make_course(live_app, SLUG, price=4999, currency="usd", title="Pay Monthly Python", installments=3)


def _plan(app):
    from webapp.extensions import db
    from webapp.models import InstallmentPlan

    with app.app_context():
        plan = db.session.scalars(sa.select(InstallmentPlan)).one()
        db.session.expunge(plan)
        db.session.remove()
        return plan


def _check_both_widths(page, checker: PageChecker, name: str) -> None:
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        checker.check(page, name)
    page.set_viewport_size({"width": 1280, "height": 900})


def _fail_next_installments(app, plan) -> None:
    fail_next_charges(app, plan)
    advance(app, 31)


def test_plan_pages_and_replacing_the_card_after_a_failed_installment(
    live_app, live_server, page, output_dir, plan_course
):
    checker = PageChecker(output_dir, axe_source())
    sign_in_with_form(page, live_server.url, "plan_browser", next_path=f"/checkout/{SLUG}")
    page.get_by_role("button", name="Pay $16.67 today, then monthly").click()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
    page.fill("#card_number", "4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile("Pay|Subscribe")).click()
    page.wait_for_url(re.compile(r".*/payment/success\?session_id=cs_test_.*"))
    main = page.locator("main")
    assert main.get_attribute("data-session-status") == "COMPLETED"
    assert "$16.67" in main.inner_text() and "3 monthly installments" in main.inner_text()
    _check_both_widths(page, checker, "plan-receipt")

    page.get_by_role("link", name="See your plan").click()
    assert "1 of 3 installments" in page.locator("main").inner_text()
    _check_both_widths(page, checker, "plan-on-schedule")

    plan = _plan(live_app)
    _fail_next_installments(live_app, plan)
    page.goto(f"{live_server.url}/account/enrollments")
    assert "Payment failed — update your card" in page.locator("main").inner_text()
    _check_both_widths(page, checker, "plan-my-courses-past-due")

    page.get_by_role("link", name="Update your card").click()
    _check_both_widths(page, checker, "plan-past-due")
    page.get_by_role("button", name=re.compile("Update your card and pay")).click()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
    page.fill("#card_number", "4242 4242 4242 4242")
    page.fill("#card_expiry", "12 / 34")
    page.locator("button[name=action][value=pay]").click()
    page.wait_for_url(re.compile(rf".*/account/plans/{plan.id}$"))
    assert "nothing is overdue, and it pays the installments to come" in page.locator("body").inner_text()
    assert page.locator("#plan").get_attribute("data-plan-status") == "ACTIVE"
    _check_both_widths(page, checker, "plan-card-replaced")
    assert _plan(live_app).paid_count == 2
    checker.assert_clean()
