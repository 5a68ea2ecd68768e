"""An installment plan on the admin pages in a real chromium, at 1280 and 390 px: the plan panel
with a failed installment, an installment refunded through the confirmation step, the
dashboard's scheduled and past-due figures, the payments list. Screenshots, no sideways
scroll, axe-core clean."""

from __future__ import annotations

import re

import pytest

from tests.e2e.page_checks import WIDTHS, PageChecker, axe_source
from tests.support.plans import PLAN_CONFIG, advance, fail_next_charges, installments, offer, settle, the_plan

pytestmark = pytest.mark.browser

LEARNER = "learner_plan_ui"
ADMIN = "admin_plan_ui"


@pytest.fixture
def app_config() -> dict:
    # The live server's own webhook URL (from live_config) stays.
    return {k: v for k, v in PLAN_CONFIG.items() if k != "STRIPE_SANDBOX_WEBHOOK_URL"}


def _context(browser, app, base: str, size: tuple[int, int], user_id: str, *, admin: bool = False):
    from webapp.auth.tokens import issue_dev_token

    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    token = issue_dev_token(app, user_id, email=f"{user_id}@example.test", name=None, admin=admin)
    context.add_cookies([{"name": "__session", "value": token, "url": base}])
    page = context.new_page()
    page.set_default_timeout(15000)
    return context, page


def _buy_plan(browser, app, base: str) -> None:
    context, page = _context(browser, app, base, WIDTHS[0], LEARNER)
    page.goto(f"{base}/checkout/plan-course")
    page.locator("button[name=plan][value=installments]").click()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
    page.fill("#card_number", "4242 4242 4242 4242")
    page.locator("button[name=action][value=pay]").click()
    page.wait_for_url(re.compile(r".*/payment/success\?session_id=cs_test_.*"))
    context.close()
    settle(app)


def test_plan_admin_pages_at_both_widths(live_app, live_server, browser, output_dir):
    base = live_server.url
    offer(live_app)
    _buy_plan(browser, live_app, base)
    plan = the_plan(live_app)
    fail_next_charges(live_app, plan)
    advance(live_app, 31)
    assert the_plan(live_app).status == "PAST_DUE"
    checker = PageChecker(output_dir, axe_source())
    detail = f"{base}/admin/enrollments/{plan.enrollment_id}"

    for size in WIDTHS:
        context, page = _context(browser, live_app, base, size, ADMIN, admin=True)
        page.goto(detail)
        assert page.locator("#plan [data-plan-status=PAST_DUE]").count() == 1
        assert page.locator("#plan tr[data-installment]").count() == 2
        checker.check(page, "admin-plan-enrollment")
        page.locator("#plan-cancel-1 button[data-review]").click()
        assert page.locator("#plan-cancel-confirm-1").is_visible()
        checker.check(page, "admin-plan-cancel-confirm")
        page.goto(f"{base}/admin")
        assert page.locator("[data-figure=past-due]").inner_text() == "$16.66"
        checker.check(page, "admin-plan-dashboard")
        page.goto(f"{base}/admin/payments")
        assert page.locator("[data-plan=installments]").inner_text() == "3 installments"
        checker.check(page, "admin-plan-payments")
        context.close()

    context, page = _context(browser, live_app, base, WIDTHS[0], ADMIN, admin=True)
    page.goto(detail)
    page.select_option("#installment-1", installments(live_app, plan)[0].id)
    page.fill("#installment-amount-1", "5.00")
    page.fill("#installment-reason-1", "Missed the first week")
    page.locator("#installment-refund-1 button[data-review]").click()
    confirm = page.locator("#installment-refund-confirm-1")
    assert "Refund 5.00 USD of the chosen installment" in confirm.inner_text()
    assert "not" in confirm.inner_text()  # the installments still to come are not cancelled
    confirm.get_by_role("button", name="Confirm refund").click()
    page.wait_for_selector(".flash-success")
    assert "Refund of $5.00" in page.locator(".flash-success").inner_text()
    assert page.locator("#plan tr[data-installment='1'] [data-figure=refunded]").inner_text() == "$5.00"
    checker.check(page, "admin-plan-refunded")
    context.close()
    checker.assert_clean()
