"""Races a learner's browser, a script and Stripe produce, on SQLite and on PostgreSQL alike.

Each test releases its callers together (threads with their own clients, so their own
database sessions) and asserts what must hold whatever the order: one Stripe session per
double-submitted checkout, one card row per card, one enrollment per payment, and coupon
uses equal to the completed checkouts that used the coupon, within its limit.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tests.support.auth import bearer, sign_in
from tests.support.checkout import FAST_STRIPE, cs_id_of, pay, start_checkout, stripe_sessions
from tests.support.factories import make_coupon, make_course
from tests.support.stripe_events import body_of
from tests.support.stripe_events import event as stripe_event
from tests.support.webhooks import signed_headers

SLUG = "race-course"
SANDBOX_KEY = {"Authorization": "Bearer sk_test_races"}


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def course(app) -> str:
    return make_course(app, SLUG, price=5000, currency="usd")


def together(n: int, work: Callable[[int], object]) -> list[object]:
    """Runs `work(i)` for i in range(n) in n threads released at once; returns results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported by the caller's assertion
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def event(event_type: str, obj: dict) -> str:
    return body_of(stripe_event(event_type, obj))


def deliver(app, body: str) -> int:
    return app.test_client().post("/webhooks/stripe", data=body, headers=signed_headers(body)).status_code


def stripe_object(app, path: str) -> dict:
    response = app.test_client().get(f"/_sandbox/stripe/v1/{path}", headers=SANDBOX_KEY)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def scalar(app, sql: str, **params) -> object:
    from webapp.extensions import db

    with app.app_context():
        return db.session.execute(sa.text(sql), params).scalar()


def test_five_identical_checkouts_at_once_make_one_stripe_session(app, course):
    headers = bearer(app, "double_clicker")
    body = {"courseId": course}

    def post(_: int):
        return app.test_client().post("/api/payments/sessions", json=body, headers=headers)

    answers = together(5, post)
    statuses = sorted(getattr(a, "status_code", repr(a)) for a in answers)
    assert all(s in (200, 201) for s in statuses), statuses
    assert len({a.get_json()["session"]["id"] for a in answers}) == 1
    assert len(stripe_sessions(app)) == 1
    assert scalar(app, "SELECT count(*) FROM payment_sessions") == 1


def test_card_attach_racing_its_own_webhook_keeps_one_card_and_never_fails(app):
    """The API mirrors the card it attached while Stripe's `payment_method.attached` for the
    same card arrives; whichever writes first, the other updates the same row."""
    for attempt in range(6):
        user = f"card_racer_{attempt}"
        headers = bearer(app, user)
        client = app.test_client()
        first = client.post("/api/payments/methods", json={"paymentMethodId": "pm_card_visa"}, headers=headers)
        assert first.status_code in (200, 201), first.get_data(as_text=True)
        customer = scalar(app, "SELECT stripe_customer_id FROM users WHERE id = :u", u=user)
        known = {pm["id"] for pm in stripe_object(app, f"customers/{customer}/payment_methods")["data"]}

        def attach_or_deliver(i: int, customer=customer, known=known, headers=headers) -> int:
            """Thread 0 saves a second card; the others deliver Stripe's `payment_method.attached`
            for it as soon as Stripe has attached it, while the API is still mirroring it."""
            if i == 0:
                body = {"paymentMethodId": "pm_card_mastercard"}
                return app.test_client().post("/api/payments/methods", json=body, headers=headers).status_code
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                listed = stripe_object(app, f"customers/{customer}/payment_methods")["data"]
                new = [pm for pm in listed if pm["id"] not in known]
                if new:
                    return deliver(app, event("payment_method.attached", new[0]))
            raise AssertionError("the card was never attached at Stripe")

        statuses = together(4, attach_or_deliver)
        assert all(isinstance(s, int) and s < 500 for s in statuses), statuses
        assert scalar(app, "SELECT count(*) FROM payment_methods WHERE user_id = :u", u=user) == 2
        assert scalar(app, "SELECT count(DISTINCT stripe_payment_method_id) FROM payment_methods") == scalar(
            app, "SELECT count(*) FROM payment_methods"
        )


@pytest.mark.parametrize("seed", [7, 2026])
def test_random_interleavings_give_one_enrollment_per_payment_and_exact_coupon_uses(app, course, seed):
    """Checkouts holding one limited coupon, some paid and some abandoned; then success-page
    loads, duplicate and distinct completion events, payment-intent events and expiry events
    of the abandoned ones, all shuffled and run by eight threads at once."""
    rng = random.Random(seed)
    checkouts = int(os.environ.get("RACE_CHECKOUTS", "10"))  # the outside check runs 150
    max_uses = max(6, checkouts * 2 // 5)
    make_coupon(app, "RACE", value="10", max_uses=max_uses)
    actions: list[Callable[[], int]] = []
    for i in range(checkouts):
        client = app.test_client()
        sign_in(app, client, f"racer_{seed}_{i}")
        started = start_checkout(client, SLUG, "RACE")
        if started.status_code != 303:  # the coupon is held by open checkouts: pay full price
            started = start_checkout(client, SLUG, "")
        assert started.status_code == 303, started.get_data(as_text=True)[:300]
        cs_id = cs_id_of(started.headers["Location"])
        if rng.random() < 0.7:
            assert pay(client, started.headers["Location"]).status_code == 303
            actions += _paid_actions(app, client, cs_id)
        else:
            actions += _abandoned_actions(app, cs_id)
    rng.shuffle(actions)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda action: action(), actions))
    assert all(status < 500 for status in statuses), statuses

    completed = scalar(app, "SELECT count(*) FROM payment_sessions WHERE status = 'COMPLETED'")
    with_coupon = scalar(
        app, "SELECT count(*) FROM payment_sessions WHERE status = 'COMPLETED' AND coupon_code = 'RACE'"
    )
    assert scalar(app, "SELECT count(*) FROM enrollments") == completed
    assert scalar(app, "SELECT count(DISTINCT user_id) FROM enrollments") == completed
    assert scalar(app, "SELECT current_uses FROM coupons WHERE code = 'RACE'") == with_coupon <= max_uses
    assert scalar(app, "SELECT count(*) FROM payment_sessions WHERE status IN ('PENDING', 'PROCESSING')") == 0


def _paid_actions(app, client, cs_id: str) -> list[Callable[[], int]]:
    session = stripe_object(app, f"checkout/sessions/{cs_id}")
    intent = stripe_object(app, f"payment_intents/{session['payment_intent']}")
    completed = event("checkout.session.completed", session)
    return [
        lambda: client.get(f"/payment/success?session_id={cs_id}").status_code,
        lambda: client.get(f"/payment/success?session_id={cs_id}").status_code,
        lambda: deliver(app, completed),
        lambda: deliver(app, completed),  # the same event delivered twice
        lambda: deliver(app, event("checkout.session.completed", session)),  # a distinct event
        lambda: deliver(app, event("payment_intent.succeeded", intent)),
    ]


def _abandoned_actions(app, cs_id: str) -> list[Callable[[], int]]:
    response = app.test_client().post(f"/_sandbox/stripe/v1/checkout/sessions/{cs_id}/expire", headers=SANDBOX_KEY)
    assert response.status_code == 200, response.get_data(as_text=True)
    expired = event("checkout.session.expired", response.get_json())
    return [lambda: deliver(app, expired), lambda: deliver(app, expired)]
