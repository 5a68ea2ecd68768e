"""An admin in a real chromium: dashboard charts, finding an enrollment, refunding it twice."""

from __future__ import annotations

import re

import pytest

from tests.support.browser import shot, sign_in_with_form

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config() -> dict:
    return {"STRIPE_NETWORK_RETRY_DELAY": 0}


def buy(page, base_url: str, user_id: str, email: str, slug: str) -> None:
    page.context.clear_cookies()  # signed out, so the dev sign-in form is the only form
    sign_in_with_form(page, base_url, user_id, email=email, next_path=f"/checkout/{slug}")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
    page.fill("#card_number", "4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile("Pay")).click()
    page.wait_for_url(re.compile(r".*/payment/success\?session_id=cs_test_.*"))
    assert page.locator("main").get_attribute("data-session-status") == "COMPLETED"


def test_admin_dashboard_then_partial_and_full_refund(live_app, live_server, page, output_dir):
    from webapp.services.courses import create_course

    with live_app.app_context():
        create_course(slug="python-payments", title="Python for Payments", price=4999, currency="usd")
        create_course(slug="go-basics", title="Go Basics", price=2500, currency="eur")
    base = live_server.url
    buy(page, base, "learner_ada", "ada@example.test", "python-payments")
    buy(page, base, "learner_bob", "bob@example.test", "go-basics")

    page.context.clear_cookies()
    sign_in_with_form(page, base, "admin_grace", email="grace@example.test", admin=True, next_path="/admin")
    assert page.url.endswith("/admin")
    assert page.locator("svg.chart").count() == 3
    main = page.locator("main").inner_text()
    assert "$49.99" in main and "€25.00" in main
    assert page.locator("[data-kpi=completed]").inner_text() == "2"
    shot(page, output_dir, "admin-1-dashboard")

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Enrollments").click()
    page.fill("#q", "ada@example")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#enrollments tbody tr[data-enrollment-id]")
    assert rows.count() == 1
    shot(page, output_dir, "admin-2-enrollments-search")
    rows.first.get_by_role("link", name="Details").click()
    assert page.locator("#refundable").inner_text() == "$49.99"

    page.fill("#amount", "10.00")
    page.fill("#reason", "Started late")
    page.get_by_role("button", name="Refund").click()
    confirm = page.locator("#refund-confirm")
    assert "Refund 10.00 USD to ada@example.test" in confirm.inner_text()
    page.get_by_role("button", name="Confirm refund").click()
    page.wait_for_selector(".flash-success")
    assert "Refund of $10.00" in page.locator(".flash-success").inner_text()
    assert page.locator("#payment-status").inner_text() == "PARTIALLY_REFUNDED"
    assert page.locator("#refundable").inner_text() == "$39.99"
    shot(page, output_dir, "admin-3-partial-refund")

    page.fill("#reason", "Asked to leave the course")
    page.check("#refund-all")  # an empty amount alone no longer refunds everything
    page.get_by_role("button", name="Refund").click()
    assert "Refund $39.99 to ada@example.test" in page.locator("#refund-confirm").inner_text()
    page.get_by_role("button", name="Confirm refund").click()
    page.wait_for_selector(".flash-success")
    assert "Refund of $39.99" in page.locator(".flash-success").inner_text()
    assert page.locator("#enrollment-status").inner_text() == "REFUNDED"
    assert page.locator("#payment-status").inner_text() == "REFUNDED"
    assert page.locator("#timeline [data-kind=refund]").count() == 2
    assert "Nothing left to refund." in page.locator("#refund").inner_text()
    shot(page, output_dir, "admin-4-full-refund-timeline")

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Dashboard").click()
    net = page.locator(".admin-chart[data-currency=usd] [data-figure=net]").inner_text()
    assert net == "$0.00"
    shot(page, output_dir, "admin-5-dashboard-after-refund")


def test_learner_meets_403_on_admin_pages(live_app, live_server, page, output_dir):
    sign_in_with_form(page, live_server.url, "learner_eve", email="eve@example.test")
    for path in ("/admin", "/admin/enrollments", "/admin/coupons", "/admin/payments", "/admin/events"):
        response = page.goto(live_server.url + path)
        assert response.status == 403, path
    shot(page, output_dir, "admin-6-learner-403")


def test_admin_creates_edits_and_deactivates_a_coupon(live_app, live_server, page, output_dir):
    sign_in_with_form(
        page, live_server.url, "admin_grace", email="grace@example.test", admin=True, next_path="/admin/coupons"
    )
    page.fill("#code", "spring")
    page.select_option("#discount_type", "percentage")
    page.fill("#value", "150")
    page.get_by_role("button", name="Create coupon").click()
    assert "A percentage must be above 0 and at most 100." in page.locator(".alert-error").inner_text()
    assert page.input_value("#code") == "spring"  # what was typed is kept
    page.fill("#value", "20")
    page.fill("#max_uses", "100")
    page.get_by_role("button", name="Create coupon").click()
    page.wait_for_selector(".flash-success")
    row = page.locator("tr[data-coupon=SPRING]")
    assert row.locator("[data-col=max]").inner_text() == "100"
    row.get_by_role("link", name="Edit").click()
    page.fill("#max_uses", "40")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(".flash-success")
    assert page.locator("tr[data-coupon=SPRING] [data-col=max]").inner_text() == "40"
    page.locator("tr[data-coupon=SPRING]").get_by_role("button", name="Deactivate").click()
    page.wait_for_selector(".flash-success")
    assert "INACTIVE" in page.locator("tr[data-coupon=SPRING]").inner_text()
    shot(page, output_dir, "admin-7-coupons")
