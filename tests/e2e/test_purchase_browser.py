"""A learner buys courses in a real chromium: coupon in place, sandbox page, success, cancel.

The live server is a threaded werkzeug server with CSRF on; Stripe is the in-process
sandbox, whose hosted page the browser fills like Stripe Checkout.
"""

from __future__ import annotations

import re

import pytest

from tests.support.browser import shot, sign_in_with_form
from tests.support.checkout import FAST_STRIPE
from tests.support.factories import make_coupon, make_course
from tests.support.rows import coupon_uses, enrollments, payment_sessions

pytestmark = pytest.mark.browser

SLUG = "python-payments"


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def store(live_app) -> None:
    make_course(live_app, SLUG, price=4999, currency="usd", title="Python for Payments", total_lectures=12)
    make_course(live_app, "free-course", price=0, currency="usd", title="Open Notes")
    make_coupon(live_app, "WELCOME10", value="10", max_uses=5)


def open_checkout(page, live_server, user_id: str, slug: str = SLUG) -> None:
    sign_in_with_form(page, live_server.url, user_id, next_path=f"/checkout/{slug}")
    assert page.url.endswith(f"/checkout/{slug}")


def test_buy_with_a_coupon_updates_in_place_then_pay_and_land_enrolled(live_app, live_server, page, output_dir, store):
    open_checkout(page, live_server, "browser_buyer")
    total = page.get_by_test_id("total")
    assert total.inner_text() == "$49.99"
    shot(page, output_dir, "purchase-1-checkout")

    page.evaluate("window.__noReload = 'still here'")
    page.fill("#coupon-code", "  welcome10 ")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_selector("[data-testid=discount]")
    assert page.get_by_test_id("discount").inner_text() == "−$5.00"
    assert total.inner_text() == "$44.99"
    assert page.evaluate("window.__noReload") == "still here", "the coupon caused a full page load"
    shot(page, output_dir, "purchase-2-coupon-applied")

    page.get_by_role("button", name="Pay $44.99").click()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
    assert "$44.99" in page.locator("body").inner_text()
    page.fill("#card_number", "4242 4242 4242 4242")
    shot(page, output_dir, "purchase-3-sandbox-page")
    page.get_by_role("button", name=re.compile("Pay")).click()
    page.wait_for_url(re.compile(r".*/payment/success\?session_id=cs_test_.*"))

    main = page.locator("main")
    assert main.get_attribute("data-session-status") == "COMPLETED"
    (enrollment,) = enrollments(live_app)
    assert main.get_attribute("data-enrollment-id") == enrollment.id
    text = main.inner_text()
    assert "You're enrolled!" in text and "Visa ending in 4242" in text and "$44.99" in text
    assert coupon_uses(live_app, "WELCOME10") == 1
    shot(page, output_dir, "purchase-4-enrolled")

    page.get_by_role("link", name="Go to course").click()
    page.goto(f"{live_server.url}/checkout/{SLUG}")
    assert "You're enrolled" in page.locator("main").inner_text()
    assert page.get_by_role("button", name=re.compile("^Pay")).count() == 0


def test_removing_the_coupon_restores_the_price_in_place(live_app, live_server, page, output_dir, store):
    open_checkout(page, live_server, "browser_remover")
    page.evaluate("window.__noReload = 1")
    page.fill("#coupon-code", "WELCOME10")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_selector("[data-testid=discount]")
    page.get_by_role("button", name="Remove coupon WELCOME10").click()
    page.wait_for_selector("[data-testid=discount]", state="detached")
    assert page.get_by_test_id("total").inner_text() == "$49.99"
    assert page.evaluate("window.__noReload") == 1

    page.fill("#coupon-code", "NOTACODE")
    page.get_by_role("button", name="Apply").click()
    alert = page.locator("[data-reason=unknown]")
    alert.wait_for()
    assert "recognise" in alert.inner_text()
    assert page.evaluate("window.__noReload") == 1
    shot(page, output_dir, "purchase-coupon-refused")


def test_declined_card_shows_the_decline_message(live_app, live_server, page, output_dir, store):
    open_checkout(page, live_server, "browser_declined")
    page.get_by_role("button", name="Pay $49.99").click()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/.*"))
    page.fill("#card_number", "4000 0000 0000 0002")
    page.get_by_role("button", name=re.compile("Pay")).click()
    decline = page.locator("[data-decline]")
    decline.wait_for()
    assert "Your card was declined." in decline.inner_text()
    assert "/_sandbox/stripe/pay/" in page.url
    assert enrollments(live_app) == []
    shot(page, output_dir, "purchase-declined")


def test_cancel_on_the_payment_page_says_no_charge_was_made(live_app, live_server, page, output_dir, store):
    open_checkout(page, live_server, "browser_canceller")
    page.fill("#coupon-code", "WELCOME10")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_selector("[data-testid=discount]")
    page.get_by_role("button", name="Pay $44.99").click()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/.*"))
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(re.compile(r".*/payment/cancel\?session_id=cs_test_.*"))
    text = page.locator("main").inner_text()
    assert "No charge was made" in text and "WELCOME10 has been released" in text
    assert page.locator("main").get_attribute("data-session-status") == "CANCELED"
    assert [s.status for s in payment_sessions(live_app)] == ["CANCELED"]
    shot(page, output_dir, "purchase-canceled")
    page.get_by_role("link", name="Back to the course").click()
    assert page.url.endswith(f"/courses/{SLUG}")


def test_free_course_enrolls_with_one_click(live_app, live_server, page, output_dir, store):
    open_checkout(page, live_server, "browser_free", slug="free-course")
    page.get_by_role("button", name="Enroll for free").click()
    page.wait_for_url(re.compile(r".*/payment/success\?session_id=.*"))
    main = page.locator("main")
    assert main.get_attribute("data-session-status") == "COMPLETED"
    (enrollment,) = enrollments(live_app)
    assert main.get_attribute("data-enrollment-id") == enrollment.id
    assert "You're enrolled!" in main.inner_text()
    shot(page, output_dir, "purchase-free-enrolled")
