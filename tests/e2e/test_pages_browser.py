"""Every page, in its main states, at 1280 and 390 px: screenshot, no sideways scroll, axe-core clean.

Screenshots land in test-output/screenshots/ (kept by CI as artifacts); the list of pages
checked and any failures in test-output/page-checks.txt. The checkout's behaviour while
waiting and on error answers (rate limit, outage) is tested here too, in a real chromium.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.page_checks import WIDTHS, PageChecker, axe_source
from tests.support.checkout import FAST_STRIPE
from tests.support.factories import make_coupon, make_course
from tests.support.rows import enrollments, update_row
from tests.support.stripe_events import body_of
from tests.support.stripe_events import event as stripe_event
from tests.support.webhooks import signed_headers

pytestmark = pytest.mark.browser

PAID = "python-payments"
BANK = "go-basics"
SPARE = "rust-intro"
FREE = "open-notes"
LEARNER = "learner_ada"
ADMIN = "admin_grace"


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


def _deliver_events(app) -> None:
    """Signed webhook deliveries, so the admin's event list has rows: one processed, one ignored.

    (The sandbox's own deliveries stay off: with them on, saving a card races the
    `payment_method.attached` webhook, a known app bug reported with this suite.)
    """
    client = app.test_client()
    for event_type, obj in (
        ("customer.created", {"id": "cus_pages_1", "object": "customer"}),
        ("payment_intent.created", {"id": "pi_pages_1", "object": "payment_intent", "metadata": {}}),
    ):
        body = body_of(stripe_event(event_type, obj, event_id=f"evt_pages_{event_type.replace('.', '_')}"))
        response = client.post("/webhooks/stripe", data=body, headers=signed_headers(body))
        assert response.status_code == 200, response.get_data(as_text=True)


def _token(app, user_id: str, *, admin: bool = False) -> str:
    from webapp.auth.tokens import issue_dev_token

    return issue_dev_token(app, user_id, email=f"{user_id}@example.test", name=None, admin=admin)


def _context(browser, app, base: str, size: tuple[int, int], user_id: str | None = None, *, admin: bool = False):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    if user_id:
        context.add_cookies([{"name": "__session", "value": _token(app, user_id, admin=admin), "url": base}])
    page = context.new_page()
    page.set_default_timeout(15000)
    return context, page


def _pay_on_sandbox(page, *, card: str | None = "4242 4242 4242 4242", bank: bool = False) -> None:
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
    if bank:
        page.check("input[name=method][value=bank_transfer]")
    elif card:
        page.fill("#card_number", card)
    page.locator("button[name=action][value=pay]").click()


def _shop(app) -> None:
    make_course(app, PAID, price=4999, currency="usd", title="Python for Payments", total_lectures=12)
    make_course(app, BANK, price=2500, currency="eur", title="Go Basics", total_lectures=8)
    make_course(app, SPARE, price=3900, currency="usd", title="Rust, an Introduction", total_lectures=20)
    make_course(app, FREE, price=0, currency="usd", title="Open Notes", total_lectures=4)
    now = datetime.now(UTC)
    make_coupon(app, "WELCOME10", value="10", max_uses=50)
    make_coupon(app, "SOON", value="20", valid_from=now + timedelta(days=10))
    expired = make_coupon(app, "OLDIE", value="15", valid_until=now + timedelta(days=1))
    update_row(app, "Coupon", expired, valid_until=now - timedelta(days=2))
    gone = make_coupon(app, "ONEUSE", discount_type="fixed", value="500", currency="usd", max_uses=1)
    update_row(app, "Coupon", gone, current_uses=1)


def _purchases(app, page, base: str) -> dict[str, str]:
    """Ada buys with a coupon by card, pays another course by bank transfer (still processing),
    enrolls in a free course then cancels it, leaves a checkout on the payment page, saves a card;
    an admin refunds $10 of the first purchase."""
    from webapp.services.enrollments import cancel_enrollment
    from webapp.services.refunds import issue_refund

    urls: dict[str, str] = {}
    page.goto(f"{base}/checkout/{PAID}?coupon=WELCOME10")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    _pay_on_sandbox(page)
    page.wait_for_url(re.compile(r".*/payment/success\?session_id=.*"))
    urls["success"] = page.url

    page.goto(f"{base}/checkout/{BANK}")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    _pay_on_sandbox(page, bank=True)
    page.wait_for_url(re.compile(r".*/payment/success\?session_id=.*"))
    urls["processing"] = page.url

    page.goto(f"{base}/checkout/{FREE}")
    page.get_by_role("button", name="Enroll for free").click()
    page.wait_for_url(re.compile(r".*/payment/success\?session_id=.*"))

    page.goto(f"{base}/checkout/{SPARE}")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
    urls["sandbox_pay"] = page.url
    page.locator("button[name=action][value=cancel]").click()
    page.wait_for_url(re.compile(r".*/payment/cancel\?session_id=.*"))
    urls["cancel"] = page.url

    page.goto(f"{base}/account/payment-methods")
    page.get_by_role("button", name="Add a card").click()
    page.wait_for_url("**/_sandbox/stripe/pay/cs_test_*")
    page.fill("#card_number", "4242 4242 4242 4242")
    page.fill("#card_expiry", "12 / 34")
    page.locator("button[name=action][value=pay]").click()
    page.wait_for_url("**/account/payment-methods")

    by_course = {e.course_id: e for e in enrollments(app, user_id=LEARNER)}
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Course

        ids = {c.slug: c.id for c in db.session.query(Course).all()}
        issue_refund(
            by_course[ids[PAID]].id, amount_text="10.00", reason="Started late", admin_id=ADMIN, request_token="t-1"
        )
        cancel_enrollment(LEARNER, by_course[ids[FREE]].id)
    urls["paid_enrollment"] = by_course[ids[PAID]].id
    urls["free_enrollment"] = by_course[ids[FREE]].id
    return urls


def test_every_page_fits_the_screen_and_passes_axe(live_app, live_server, browser, output_dir):
    checker = PageChecker(output_dir, axe_source())
    base = live_server.url
    _shop(live_app)
    context, page = _context(browser, live_app, base, WIDTHS[0], LEARNER)
    urls = _purchases(live_app, page, base)
    context.close()
    _deliver_events(live_app)
    with live_app.app_context():
        from webapp.extensions import db
        from webapp.models import Coupon, PaymentMethod, StripeEvent

        card_id = db.session.query(PaymentMethod).first().id
        coupon_id = db.session.query(Coupon).filter_by(code="WELCOME10").one().id
        event_id = db.session.query(StripeEvent).order_by(StripeEvent.received_at).first().id

    for size in WIDTHS:
        # Signed out
        context, page = _context(browser, live_app, base, size)
        for name, path in (
            ("catalog-signed-out", "/"),
            ("course-signed-out", f"/courses/{PAID}"),
            ("dev-sign-in", "/dev/sign-in"),
            ("error-404", "/courses/no-such-course"),
        ):
            page.goto(base + path)
            checker.check(page, name)
        page.goto(base + "/dev/sign-in")
        page.fill("#user_id", "not a valid id!")
        page.locator("main button[type=submit]").click()
        checker.check(page, "dev-sign-in-errors")
        page.goto(urls["sandbox_pay"])
        checker.check(page, "sandbox-closed")
        page.goto(base + "/_sandbox/stripe/events")
        checker.check(page, "sandbox-events")
        context.close()

        # The learner
        context, page = _context(browser, live_app, base, size, LEARNER)
        for name, path in (
            ("catalog", "/"),
            ("course-enrolled", f"/courses/{PAID}"),
            ("course-not-enrolled", f"/courses/{SPARE}"),
            ("checkout", f"/checkout/{SPARE}"),
            ("checkout-coupon-applied", f"/checkout/{SPARE}?coupon=WELCOME10"),
            ("checkout-coupon-refused", f"/checkout/{SPARE}?coupon=OLDIE"),
            ("checkout-payment-processing", f"/checkout/{BANK}"),
            ("checkout-enrolled", f"/checkout/{PAID}"),
            ("success-receipt-partly-refunded", urls["success"].replace(base, "")),
            ("success-processing", urls["processing"].replace(base, "")),
            ("payment-cancelled", urls["cancel"].replace(base, "")),
            ("my-courses", "/account/enrollments"),
            ("cancel-enrollment", f"/account/enrollments/{urls['paid_enrollment']}/cancel"),
            ("cancel-enrollment-done", f"/account/enrollments/{urls['free_enrollment']}/cancel"),
            ("payment-methods", "/account/payment-methods"),
            ("remove-card", f"/account/payment-methods/{card_id}/remove"),
            ("error-403", "/admin"),
        ):
            page.goto(base + path)
            checker.check(page, name)
        page.goto(base + "/account/enrollments")
        assert "Refunded $10.00" in page.locator(f"#enrollment-{urls['paid_enrollment']}").inner_text()
        assert "Processing" in page.locator("#pending-purchases").inner_text()
        page.goto(urls["success"])
        assert page.get_by_test_id("refunded").inner_text() == "Refunded $10.00"
        assert page.get_by_test_id("paid-with").inner_text() == "Visa ending in 4242"
        # The checkout after an error answer to Apply: the message sits inside the summary.
        page.goto(f"{base}/checkout/{SPARE}")
        page.route("**/coupon", lambda route: route.fulfill(status=429, body=RATE_LIMITED, content_type="text/html"))
        page.fill("#coupon-code", "WELCOME10")
        page.get_by_role("button", name="Apply").click()
        page.locator("#checkout-message [role=alert]").wait_for()
        checker.check(page, "checkout-rate-limited")
        page.unroute("**/coupon")
        if size[0] < 700:
            page.get_by_role("button", name="Menu").click()
            checker.check(page, "header-menu-open")
        context.close()

        # A learner with nothing yet
        context, page = _context(browser, live_app, base, size, "learner_new")
        empty = (("my-courses-empty", "/account/enrollments"), ("payment-methods-empty", "/account/payment-methods"))
        for name, path in empty:
            page.goto(base + path)
            checker.check(page, name)
        context.close()

        # The admin
        context, page = _context(browser, live_app, base, size, ADMIN, admin=True)
        for name, path in (
            ("admin-dashboard", "/admin"),
            ("admin-enrollments", "/admin/enrollments"),
            ("admin-enrollments-filtered", "/admin/enrollments?status=ACTIVE&q=ada"),
            ("admin-enrollment", f"/admin/enrollments/{urls['paid_enrollment']}"),
            ("admin-payments", "/admin/payments"),
            ("admin-coupons", "/admin/coupons"),
            ("admin-coupon-edit", f"/admin/coupons/{coupon_id}"),
            ("admin-events", "/admin/events"),
            ("admin-events-filtered", "/admin/events?status=PROCESSED"),
            ("admin-event-payload", f"/admin/events/{event_id}"),
            ("dev-mail", "/dev/mail"),
        ):
            page.goto(base + path)
            checker.check(page, name)
        page.goto(f"{base}/admin/coupons")
        page.fill("#code", "MONEY")
        page.fill("#value", "10")
        page.fill("#minimum_amount", "20.001")
        page.fill("#maximum_discount", "abc")
        page.get_by_role("button", name="Create coupon").click()
        page.wait_for_load_state("networkidle")
        assert page.locator(".field-error").count() >= 2  # every bad field at once, next to it
        checker.check(page, "admin-coupon-field-errors")
        page.goto(f"{base}/admin/coupons")
        assert page.locator("tr[data-coupon=OLDIE] [data-col=state]").inner_text().startswith("Expired")
        assert page.locator("tr[data-coupon=ONEUSE] [data-col=state]").inner_text().startswith("Used up")
        assert page.locator("tr[data-coupon=WELCOME10] [data-col=state]").inner_text().startswith("ACTIVE")
        page.goto(f"{base}/admin/enrollments/{urls['paid_enrollment']}")
        page.fill("#amount", "5.00")
        page.fill("#reason", "Goodwill")
        page.get_by_role("button", name="Review refund").click()
        page.get_by_role("button", name="Confirm refund").wait_for()
        checker.check(page, "admin-refund-confirm")
        page.goto(f"{base}/admin/coupons")
        page.fill("#code", "spring")
        page.fill("#value", "150")
        page.get_by_role("button", name="Create coupon").click()
        checker.check(page, "admin-coupon-errors")
        page.goto(f"{base}/admin/events")
        page.locator("#events tbody tr").first.get_by_role("button", name=re.compile("^Replay")).click()
        checker.check(page, "admin-replay-confirm")
        context.close()

        # A fresh checkout on the sandbox's payment page
        context, page = _context(browser, live_app, base, size, f"learner_sbx_{size[0]}")
        page.goto(f"{base}/checkout/{SPARE}")
        page.get_by_role("button", name=re.compile("^Pay")).click()
        page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
        checker.check(page, "sandbox-pay")
        page.fill("#card_number", "4000 0000 0000 0002")
        page.locator("button[name=action][value=pay]").click()
        page.locator("[data-decline]").wait_for()
        checker.check(page, "sandbox-declined")
        context.close()

    assert len(checker.checked) >= 2 * 40
    checker.assert_clean()


RATE_LIMITED = '<div class="alert alert-error" role="alert">You\'re going a little fast. Please wait a moment.</div>'


def _learner_at_checkout(live_app, live_server, browser, user_id: str):
    _shop(live_app)
    context, page = _context(browser, live_app, live_server.url, WIDTHS[0], user_id)
    page.goto(f"{live_server.url}/checkout/{PAID}")
    return context, page


def test_error_answers_to_apply_keep_the_summary_and_pay(live_app, live_server, browser):
    context, page = _learner_at_checkout(live_app, live_server, browser, "learner_limited")
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror {exc}"))
    page.evaluate("window.__noReload = 1")

    for answer in ("429", "500", "network"):
        page.route("**/coupon", _answer(answer))
        page.fill("#coupon-code", "WELCOME10")
        page.get_by_role("button", name="Apply").click()
        alert = page.locator("#checkout-message [role=alert]")
        alert.wait_for()
        assert alert.inner_text(), answer
        # The summary, its price and the Pay button are still there.
        assert page.get_by_test_id("total").inner_text() == "$49.99", answer
        assert page.get_by_role("button", name="Pay $49.99").is_enabled(), answer
        coupon = page.locator("#coupon-code")
        assert coupon.get_attribute("aria-invalid") == "true", answer
        assert "checkout-message-text" in coupon.get_attribute("aria-describedby"), answer
        page.unroute("**/coupon")

    # The next Apply reaches the server and swaps the summary as usual.
    page.get_by_role("button", name="Apply").click()
    page.wait_for_selector("[data-testid=discount]")
    assert page.get_by_test_id("total").inner_text() == "$44.99"
    assert page.locator("#checkout-message [role=alert]").count() == 0
    expect(page.locator("#coupon-code")).not_to_have_attribute("aria-invalid", "true")
    assert page.evaluate("window.__noReload") == 1
    # htmx logs the failed requests themselves; what must never appear is a lost target.
    assert not [e for e in errors if "targetError" in e or "swapError" in e or e.startswith("pageerror")], errors

    # A refused code is tied to the field.
    page.fill("#coupon-code", "NOPE")
    page.get_by_role("button", name="Apply").click()
    page.locator("#coupon-error").wait_for()
    expect(page.locator("#coupon-code")).to_have_attribute("aria-describedby", "coupon-error")
    expect(page.locator("#coupon-code")).to_have_attribute("aria-invalid", "true")
    context.close()


def _answer(kind: str):
    def handle(route):
        if kind == "network":
            route.abort("connectionrefused")
        elif kind == "500":
            route.fulfill(status=500, body="<h1>Something went wrong</h1>", content_type="text/html")
        else:
            route.fulfill(status=429, body=RATE_LIMITED, content_type="text/html")

    return handle


def test_apply_shows_progress_and_pay_submits_once(live_app, live_server, browser):
    context, page = _learner_at_checkout(live_app, live_server, browser, "learner_waiting")
    held: list = []
    page.route("**/coupon", lambda route: held.append(route))
    page.fill("#coupon-code", "WELCOME10")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function("document.getElementById('coupon-form').getAttribute('aria-busy') === 'true'")
    button = page.locator("#coupon-form button[type=submit]")
    assert button.is_disabled()
    assert button.inner_text() == "Applying…"
    held[0].continue_()
    page.wait_for_selector("[data-testid=discount]")
    assert page.locator("#coupon-form").get_attribute("aria-busy") is None
    assert button.is_enabled() and button.inner_text() == "Apply"
    page.unroute("**/coupon")

    posts: list = []

    def hold_pay(route):
        if route.request.method == "POST":
            posts.append(route)
        else:
            route.continue_()

    page.route(f"**/checkout/{PAID}", hold_pay)
    # Two clicks in a row, as an impatient learner does. Through the DOM and in one evaluation:
    # while the route holds the form's navigation, Playwright's own waits would hang.
    label, disabled, submits = page.evaluate(
        """() => new Promise((resolve) => {
             const b = document.querySelector('form[data-once] button[type=submit]');
             let submits = 0;
             window.addEventListener('submit', (e) => { if (!e.defaultPrevented) submits += 1; });
             b.click();
             b.click();
             setTimeout(() => resolve([b.textContent, b.disabled, submits]), 50);
           })"""
    )
    assert label == "Redirecting to secure payment…"
    assert disabled is True
    assert submits == 1
    posts[0].continue_()
    page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
    context.close()


def test_phone_header_menu_opens_and_closes(live_app, live_server, browser):
    context, page = _context(browser, live_app, live_server.url, WIDTHS[1], LEARNER)
    page.goto(live_server.url + "/")
    toggle = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    assert toggle.get_attribute("aria-expanded") == "false" and not nav.is_visible()
    header_height = page.locator(".site-header").bounding_box()["height"]
    assert header_height < 80, header_height  # one row
    assert page.locator(".brand").bounding_box()["y"] >= 8  # the logo clears the top edge
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true" and nav.is_visible()
    nav.get_by_role("link", name="My courses").click()
    page.wait_for_url("**/account/enrollments")
    context.close()


def test_admin_who_signs_in_lands_on_the_dashboard(live_app, live_server, browser):
    def sign_in(page, base: str, user_id: str, *, admin: bool = False, next_path: str | None = None) -> None:
        page.goto(f"{base}/dev/sign-in" + (f"?next={next_path}" if next_path else ""))
        page.fill("#user_id", user_id)
        if admin:
            page.check("input[name=admin]")
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

    context, page = _context(browser, live_app, live_server.url, WIDTHS[0])
    sign_in(page, live_server.url, "admin_lands", admin=True)
    assert page.url.endswith("/admin")
    page.context.clear_cookies()
    sign_in(page, live_server.url, "learner_lands")
    assert page.url == live_server.url + "/"
    page.context.clear_cookies()
    sign_in(page, live_server.url, "admin_next", admin=True, next_path="/admin/coupons")
    assert page.url.endswith("/admin/coupons")
    context.close()
