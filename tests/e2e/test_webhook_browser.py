"""The whole loop in chromium with the sandbox delivering webhooks itself.

The navigation back to the success page is held until the webhook has enrolled the
learner, so this proves fulfilment does not depend on the learner coming back — and that
the success page then shows the enrollment the webhook made, without making another.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from tests.support.browser import shot, sign_in_with_form
from webapp.extensions import db
from webapp.models import AuditLog, Enrollment
from webapp.services.courses import create_course

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"STRIPE_SANDBOX_WEBHOOKS": True, "STRIPE_NETWORK_RETRY_DELAY": 0}


def _enrollments(app) -> int:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Enrollment))
        db.session.remove()
        return count


def test_webhook_enrolls_before_the_success_page_loads(live_app, live_server, page, output_dir):
    with live_app.app_context():
        create_course(slug="hooked", title="Event-Driven Systems", price=3900, currency="usd")
    sign_in_with_form(page, live_server.url, "browser_hook", email="hook@example.test", next_path="/checkout/hooked")
    page.get_by_role("button", name="Pay $39.00").click()
    page.wait_for_url("**/_sandbox/stripe/pay/**")
    page.fill("#card_number", "4242 4242 4242 4242")

    held = {}

    def hold_until_webhook(route):
        if route.request.method != "POST":
            route.continue_()
            return
        # Pay at "Stripe", then hold its redirect back to us until the webhook has landed.
        response = route.fetch(max_redirects=0)
        deadline = time.monotonic() + 15
        while _enrollments(live_app) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        held["enrollments_before_page"] = _enrollments(live_app)
        route.fulfill(response=response)

    page.route("**/_sandbox/stripe/pay/**", hold_until_webhook)
    page.get_by_role("button", name="Pay").first.click()
    page.wait_for_url("**/payment/success*")
    main = page.locator("main")
    assert main.get_attribute("data-session-status") == "COMPLETED"
    assert main.get_attribute("data-enrollment-id")
    assert "You're enrolled" in page.locator("h1").inner_text()
    shot(page, output_dir, "webhook-enrolled-before-success-page")
    assert held["enrollments_before_page"] == 1
    assert _enrollments(live_app) == 1
    with live_app.app_context():
        actors = db.session.scalars(
            sa.select(AuditLog.actor).where(AuditLog.action == "payment_session.completed")
        ).all()
    assert actors == ["stripe"]
