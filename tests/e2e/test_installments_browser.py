"""A learner chooses to pay in installments in a real chromium; the admin sets the offer.

The checkout page shows both ways to pay, a coupon updates both in place, the installment
button leads to the sandbox's hosted page for the first installment, and paying there lands
on the success page. Each page is also checked at 1280 and 390 px (no sideways scroll, axe).
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.page_checks import WIDTHS, PageChecker, axe_source
from tests.support.browser import sign_in_with_form
from tests.support.checkout import FAST_STRIPE
from tests.support.factories import make_coupon, make_course
from tests.support.rows import enrollments, payment_sessions, rows

pytestmark = pytest.mark.browser

SLUG = "python-payments"


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def store(live_app) -> dict[str, str]:
    return {
        "plan": make_course(
            live_app, SLUG, price=4999, currency="usd", title="Python for Payments", total_lectures=12, installments=3
        ),
        "tiny": make_course(live_app, "tiny-course", price=150, currency="usd", title="Tiny Course", installments=3),
        "coupon": make_coupon(live_app, "WELCOME10", value="10", max_uses=5),
    }


def _context(browser, size: tuple[int, int]):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.set_default_timeout(15000)
    return context, page


def test_choose_installments_with_a_coupon_pay_the_first_and_land_on_success(
    live_app, live_server, page, output_dir, store
):
    sign_in_with_form(page, live_server.url, "plan_buyer", next_path=f"/checkout/{SLUG}")
    assert page.url.endswith(f"/checkout/{SLUG}")
    assert page.get_by_test_id("full-today").inner_text() == "$49.99"
    assert page.get_by_test_id("installment-terms").inner_text() == "$16.67 today, then 2 × $16.66 monthly"

    page.evaluate("window.__noReload = 'still here'")
    page.fill("#coupon-code", "WELCOME10")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_selector("[data-testid=discount]")
    assert page.get_by_test_id("full-today").inner_text() == "$44.99"
    assert page.get_by_test_id("installment-terms").inner_text() == "$15.01 today, then 2 × $14.99 monthly"
    assert page.get_by_test_id("installments-total").inner_text() == "($44.99 in total)"
    assert page.evaluate("window.__noReload") == "still here", "the coupon caused a full page load"

    page.get_by_role("button", name="Pay $15.01 today, then monthly").click()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
    assert "$15.01" in page.locator("body").inner_text()
    (row,) = payment_sessions(live_app)
    assert (row.plan, row.installment_count, row.final_amount) == ("installments", 3, 4499)
    assert row.coupon_code == "WELCOME10"

    page.fill("#card_number", "4242 4242 4242 4242")
    page.locator("button[name=action][value=pay]").click()
    page.wait_for_url(re.compile(r".*/payment/success\?session_id=cs_test_.*"))
    main = page.locator("main")
    assert main.get_attribute("data-session-status")
    page.screenshot(path=str(output_dir / "installments-success.png"), full_page=True)
    (enrollment,) = enrollments(live_app, user_id="plan_buyer")
    assert main.get_attribute("data-enrollment-id") == enrollment.id


def test_checkout_and_admin_course_pages_fit_and_pass_axe(live_app, live_server, browser, output_dir, store):
    from tests.support.auth import token_for

    checker = PageChecker(output_dir, axe_source())
    base = live_server.url
    for size in WIDTHS:
        context, page = _context(browser, size)
        context.add_cookies([{"name": "__session", "value": token_for(live_app, "plan_viewer"), "url": base}])
        page.goto(f"{base}/checkout/{SLUG}")
        checker.check(page, "checkout-installments")
        page.goto(f"{base}/checkout/{SLUG}?coupon=WELCOME10")
        checker.check(page, "checkout-installments-coupon")
        page.goto(f"{base}/checkout/tiny-course?coupon=WELCOME10")  # 3 × $0.45: below the minimum
        assert page.get_by_test_id("installments-refused").is_visible()
        checker.check(page, "checkout-installments-refused")
        context.close()

        context, page = _context(browser, size)
        context.add_cookies([{"name": "__session", "value": token_for(live_app, "admin_a", admin=True), "url": base}])
        page.goto(f"{base}/admin/courses")
        checker.check(page, "admin-courses")
        page.goto(f"{base}/admin/courses/{store['plan']}")
        checker.check(page, "admin-course-edit")
        page.select_option("#installments", "12")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r".*/admin/courses$"))
        assert "offered in 12 monthly installments" in page.locator("main").inner_text()
        page.goto(f"{base}/admin/courses/{store['tiny']}")
        page.select_option("#installments", "4")  # 4 × $0.37: below the minimum charge
        page.get_by_role("button", name="Save").click()
        page.locator("#installments-error").wait_for()
        assert "below the smallest card payment" in page.locator("#installments-error").inner_text()
        checker.check(page, "admin-course-edit-refused")
        page.goto(f"{base}/admin/courses/{store['plan']}")
        page.select_option("#installments", "3")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r".*/admin/courses$"))
        context.close()

    assert rows(live_app, "Course", id=store["plan"])[0].installments == 3
    assert rows(live_app, "Course", id=store["tiny"])[0].installments == 3
    checker.assert_clean()
