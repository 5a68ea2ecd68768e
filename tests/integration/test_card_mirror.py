"""The card mirror is one upsert by Stripe's payment method id: the webhook
(`payment_method.attached`/`detached`) and the API (attach, setup return, listing) write
the same row whichever comes first, and the card's one "saved" audit entry comes from
whichever inserted it. SQLite and PostgreSQL; the real SDK against the sandbox.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.support.auth import bearer
from tests.support.checkout import FAST_STRIPE
from tests.support.stripe_events import event
from tests.support.webhooks import signed_headers
from webapp.extensions import db


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


def deliver(app, event_type: str, pm_id: str):
    body = json.dumps(event(event_type, {"id": pm_id, "object": "payment_method", "type": "card"}))
    response = app.test_client().post("/webhooks/stripe", data=body, headers=signed_headers(body))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["status"]


def api_attach(app, user_id: str, pm_id: str) -> dict:
    response = app.test_client().post(
        "/api/payments/methods", json={"paymentMethodId": pm_id}, headers=bearer(app, user_id)
    )
    assert response.status_code in (200, 201), response.get_data(as_text=True)[:300]
    return response.get_json()


def query(app, sql: str, **params) -> list[tuple]:
    with app.app_context():
        return [tuple(row) for row in db.session.execute(sa.text(sql), params)]


def mirrored(app) -> list[tuple]:
    return query(app, "SELECT user_id, stripe_payment_method_id, last4 FROM payment_methods ORDER BY last4")


def saved_entries(app) -> list[tuple]:
    return query(app, "SELECT entity_id, actor FROM audit_log WHERE action = 'payment_method.saved' ORDER BY id")


def attach_at_stripe(app, user_id: str, test_token: str) -> str:
    """Attaches a card at Stripe directly (as Stripe.js or the dashboard would): no mirror."""
    from webapp.payments.gateway import get_gateway

    customer = query(app, "SELECT stripe_customer_id FROM users WHERE id = :u", u=user_id)[0][0]
    with app.app_context():
        return get_gateway().attach_payment_method(test_token, customer).id


def test_api_first_then_the_webhook_keeps_one_row_and_one_saved_entry(app):
    first = api_attach(app, "mirror_1", "pm_card_visa")  # creates the customer and the first card
    pm_id = query(app, "SELECT stripe_payment_method_id FROM payment_methods")[0][0]
    assert deliver(app, "payment_method.attached", pm_id) == "processed"
    assert deliver(app, "payment_method.attached", pm_id) == "processed"  # another event, same card
    assert mirrored(app) == [("mirror_1", pm_id, "4242")]
    assert saved_entries(app) == [(first["id"], "mirror_1")]


def test_webhook_first_then_the_api_updates_the_same_row(app):
    api_attach(app, "mirror_2", "pm_card_visa")
    pm_id = attach_at_stripe(app, "mirror_2", "pm_card_mastercard")
    assert deliver(app, "payment_method.attached", pm_id) == "processed"
    (row_id,) = [
        r[0] for r in query(app, "SELECT id FROM payment_methods WHERE stripe_payment_method_id = :p", p=pm_id)
    ]
    again = api_attach(app, "mirror_2", pm_id)
    assert again["id"] == row_id
    assert [(user, last4) for user, _pm, last4 in mirrored(app)] == [("mirror_2", "4242"), ("mirror_2", "4444")]
    entries = saved_entries(app)
    assert len(entries) == 2 and (row_id, "stripe") in entries  # one per card; the webhook inserted this one


def test_detached_then_attached_again_follows_stripe(app):
    api_attach(app, "mirror_3", "pm_card_visa")
    pm_id = attach_at_stripe(app, "mirror_3", "pm_card_mastercard")
    from webapp.payments.gateway import get_gateway

    with app.app_context():
        get_gateway().detach_payment_method(pm_id)
    assert deliver(app, "payment_method.attached", pm_id) == "processed"  # late: Stripe says detached
    assert [r[2] for r in mirrored(app)] == ["4242"]
    assert deliver(app, "payment_method.detached", pm_id) == "processed"
    assert [r[2] for r in mirrored(app)] == ["4242"]


def test_the_upsert_inserts_once_and_moves_a_card_stripe_moved(app):
    from tests.support.factories import make_user
    from webapp.payments.gateway import Card
    from webapp.services.card_mirror import upsert_cards

    make_user(app, "owner_a")
    make_user(app, "owner_b")
    card = Card(id="pm_upsert_1", brand="visa", last4="4242", exp_month=1, exp_year=2031, customer_id="cus_a")
    with app.app_context():
        assert upsert_cards("owner_a", [card], "pm_upsert_1") == {"pm_upsert_1"}
        db.session.commit()
        renewed = Card(id="pm_upsert_1", brand="visa", last4="4242", exp_month=2, exp_year=2033, customer_id="cus_b")
        assert upsert_cards("owner_b", [renewed], None) == set()
        db.session.commit()
    assert query(app, "SELECT user_id, exp_month, exp_year, is_default FROM payment_methods") == [
        ("owner_b", 2, 2033, False)
    ]
