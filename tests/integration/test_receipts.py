"""What learners see of their purchases: My courses (processing payments, refunds) and the receipt."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.support.checkout import FAST_STRIPE, buy, cs_id_of, pay, start_checkout
from tests.support.factories import make_course
from tests.support.rows import rows, update_row
from webapp.sandbox import settle_session

SLUG = "python-payments"
ADMIN = "admin_1"
LEARNER = "learner_1"


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def course(app) -> str:
    return make_course(app, SLUG, price=4499, currency="usd", title="Python for Payments")


def html(response) -> str:
    return unescape(response.get_data(as_text=True))


def refund(client, auth, enrollment_id: str, amount: str, token: str):
    auth.sign_in(ADMIN, admin=True)
    response = client.post(
        f"/admin/enrollments/{enrollment_id}/refund",
        data={"amount": amount, "reason": "Started late", "request_token": token},
    )
    assert response.status_code == 303, html(response)[:500]


def payment_cell(page: str, enrollment_id: str) -> str:
    row = page.split(f'data-enrollment-id="{enrollment_id}"', 1)[1].split("</tr>", 1)[0]
    return re.search(r'data-label="Payment">(.*?)</td>', row, re.S).group(1).strip()


def test_my_courses_and_receipt_show_a_partial_refund(app, client, auth, course):
    auth.sign_in(LEARNER, email="ada@example.test")
    success, cs_id = buy(client, SLUG)
    assert success.status_code == 200
    (enrollment,) = rows(app, "Enrollment", user_id=LEARNER)
    assert payment_cell(html(client.get("/account/enrollments")), enrollment.id) == "Paid"

    refund(client, auth, enrollment.id, "10.00", "r1")
    auth.sign_in(LEARNER, email="ada@example.test")
    page = html(client.get("/account/enrollments"))
    assert payment_cell(page, enrollment.id) == "Refunded $10.00"
    assert "$44.99" in page  # what was paid stays as it was

    receipt = html(client.get(f"/payment/success?session_id={cs_id}"))
    assert re.search(r'data-testid="refunded">Refunded \$10\.00<', receipt)
    assert re.search(r'data-testid="paid-with">Visa ending in 4242<', receipt)


def test_receipt_has_an_order_number_the_admin_search_finds(app, client, auth, course):
    auth.sign_in(LEARNER, email="ada@example.test")
    make_course(app, "other", price=1000, currency="usd", title="Other")
    buy(client, "other")
    success, cs_id = buy(client, SLUG)
    (session,) = rows(app, "PaymentSession", stripe_session_id=cs_id)
    order = "CC-" + session.id[:8].upper()
    assert re.search(rf'data-testid="order-number"><strong>{order}</strong>', html(success))

    auth.sign_in(ADMIN, admin=True)
    for query in (order, order.lower(), f"  {order} "):
        found = html(client.get("/admin/enrollments", query_string={"q": query}))
        assert found.count("data-enrollment-id=") == 1, query
        assert f'data-enrollment-id="{session.enrollment_id}"' in found
    assert html(client.get("/admin/enrollments", query_string={"q": "CC-ZZZZZZZZ"})).count("data-enrollment-id=") == 0


def test_receipt_names_the_address_the_confirmation_went_to(app, client, auth, course):
    auth.sign_in(LEARNER, email="first@example.test")
    _, cs_id = buy(client, SLUG)
    (mail,) = rows(app, "OutboxEmail", kind="enrollment_confirmation")
    assert mail.to_address == "first@example.test"
    update_row(app, "User", LEARNER, email="changed@example.test")
    receipt = html(client.get(f"/payment/success?session_id={cs_id}"))
    assert re.search(r'data-testid="emailed-to">.*<strong>first@example\.test</strong>', receipt)


def test_processing_bank_transfer_is_listed_then_becomes_an_enrollment(app, client, auth, course):
    auth.sign_in(LEARNER)
    started = start_checkout(client, SLUG)
    cs_id = cs_id_of(started.headers["Location"])
    client.get(pay(client, started.headers["Location"], method="bank_transfer").headers["Location"])
    (session,) = rows(app, "PaymentSession", stripe_session_id=cs_id)
    assert session.status == "PROCESSING"

    page = html(client.get("/account/enrollments"))
    pending = page.split('id="pending-purchases"', 1)[1].split("</section>", 1)[0]
    assert f'data-payment-session="{session.id}"' in pending and 'data-status="PROCESSING"' in pending
    assert "Python for Payments" in pending and "$44.99" in pending
    assert "Processing" in pending and "you'll be enrolled when the bank confirms" in pending
    assert "You haven't enrolled in any course yet" not in page

    with app.app_context():
        settle_session(app, cs_id)
    receipt = html(client.get(f"/payment/success?session_id={cs_id}"))
    assert 'data-session-status="COMPLETED"' in receipt
    assert re.search(r'data-testid="paid-with">Bank transfer<', receipt)
    page = html(client.get("/account/enrollments"))
    assert 'id="pending-purchases"' not in page
    (enrollment,) = rows(app, "Enrollment", user_id=LEARNER)
    assert f'data-enrollment-id="{enrollment.id}"' in page


def test_another_learners_processing_payment_is_not_listed(app, client, auth, course):
    auth.sign_in("learner_2")
    started = start_checkout(client, SLUG)
    client.get(pay(client, started.headers["Location"], method="bank_transfer").headers["Location"])
    auth.sign_in(LEARNER)
    assert 'id="pending-purchases"' not in html(client.get("/account/enrollments"))
