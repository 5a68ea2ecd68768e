"""No signed body makes the webhook fail: Stripe-shaped events of every type a course shop
receives, and hypothesis-built events with arbitrary JSON in any field, answer 200 or 400
(never 5xx), leave no event FAILED, and change no enrollment, coupon, payment or refund.

Deliveries are signed here and handled by the real app, against the sandbox through the
real SDK, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label_example
from hypothesis import strategies as st

from tests.support.stripe_events import (
    FOREIGN_EVENTS,
    UNKNOWN_TYPES,
    Shop,
    checkout_session,
    event,
    events_about_our_payment,
    open_shop,
    payment_intent,
    snapshot,
)
from tests.support.webhooks import signed_headers
from webapp.extensions import db
from webapp.models import StripeEvent


@pytest.fixture
def app_config():
    return {"STRIPE_NETWORK_RETRY_DELAY": 0}


@pytest.fixture
def shop(app) -> Shop:
    return open_shop(app)


def deliver(client, body: dict[str, Any]):
    text = json.dumps(body)
    return client.post("/webhooks/stripe", data=text, headers=signed_headers(text))


def outcome_of(app, event_id: Any) -> str | None:
    if not isinstance(event_id, str):
        return None
    with app.app_context():
        return db.session.scalar(sa.select(StripeEvent.status).where(StripeEvent.id == event_id))


def assert_decided(app, body: dict[str, Any], response) -> None:
    """200 with the event recorded PROCESSED or IGNORED, or 400 with nothing recorded."""
    assert response.status_code in (200, 400), (response.status_code, response.get_data(as_text=True)[:300])
    if response.status_code == 200:
        assert response.get_json()["status"] in ("processed", "ignored", "duplicate")
        assert outcome_of(app, body.get("id")) in ("PROCESSED", "IGNORED")


def ill_typed_variants() -> list[dict[str, Any]]:
    """Stripe-shaped events with one field of the wrong JSON type."""
    return [
        event("checkout.session.completed", "cs_test_just_a_string"),
        event("checkout.session.expired", checkout_session(metadata=["payment_session_id"])),
        event("checkout.session.async_payment_failed", checkout_session(client_reference_id={"id": 1})),
        event("payment_intent.succeeded", payment_intent(metadata={"payment_session_id": {"nested": True}})),
        event("payment_intent.payment_failed", payment_intent(last_payment_error=["card_declined"])),
        event("payment_intent.processing", payment_intent(pi_id=7)),
        event("charge.refunded", {"object": "charge", "payment_intent": 3.5}),
        event("refund.created", {"object": "refund", "payment_intent": {"id": {"deep": "pi_1"}}}),
        event("charge.dispute.created", {"object": "dispute", "payment_intent": "pi_x", "status": ["lost"]}),
        event("payment_method.attached", {"object": "payment_method", "id": ["pm_1"]}),
        event("payment_method.detached", {"object": "payment_method", "id": "pm_1", "type": 4}),
        event("customer.updated", None),
        event("invoice.paid", []),
        event("checkout.session.completed", checkout_session(), livemode="false"),
        event("charge.succeeded", {"object": "charge"}, data="not an object"),
    ]


def stripe_shaped_events(shop: Shop) -> list[dict[str, Any]]:
    foreign = [event(event_type, make()) for event_type, make in FOREIGN_EVENTS.items()]
    unknown = [event(event_type, {"id": "obj_1", "object": event_type.split(".")[0]}) for event_type in UNKNOWN_TYPES]
    return [*foreign, *events_about_our_payment(shop), *unknown, *ill_typed_variants()]


def test_sixty_stripe_shaped_events_all_get_a_decided_answer_and_change_nothing(app, client, shop):
    before = snapshot(app)
    bodies = stripe_shaped_events(shop)
    assert len(bodies) >= 60
    answers = {}
    for body in bodies:
        response = deliver(client, body)
        assert_decided(app, body, response)
        answers[body["type"]] = response.get_json().get("status")
    assert snapshot(app) == before
    # control: the payment's own events did reach their handlers (not everything was ignored)
    assert answers["payment_intent.succeeded"] in ("processed", "ignored")
    with app.app_context():
        processed = db.session.scalar(sa.select(sa.func.count()).where(StripeEvent.status == "PROCESSED"))
        assert processed >= 3
        assert not db.session.scalar(sa.select(sa.func.count()).where(StripeEvent.status == "FAILED"))


# -- properties ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)

FIELDS = [
    "type",
    "id",
    "livemode",
    "created",
    "data",
    "data.object",
    "data.object.id",
    "data.object.object",
    "data.object.metadata",
    "data.object.metadata.payment_session_id",
    "data.object.client_reference_id",
    "data.object.payment_intent",
    "data.object.payment_intent.id",
    "data.object.customer",
    "data.object.amount_total",
    "data.object.amount",
    "data.object.currency",
    "data.object.status",
    "data.object.payment_status",
    "data.object.mode",
    "data.object.last_payment_error",
    "data.object.type",
]

# Types whose events about our (fulfilled, unrefunded, undisputed) payment change nothing.
HARMLESS_TYPES = [t for t in FOREIGN_EVENTS if not t.startswith("charge.dispute.")] + UNKNOWN_TYPES


def put(body: dict[str, Any], path: str, value: Any) -> None:
    """Sets `path` in `body`, creating objects on the way; leaves it if a parent isn't one."""
    *parents, name = path.split(".")
    target: Any = body
    for parent in parents:
        if not isinstance(target, dict):
            return
        if not isinstance(target.get(parent), dict):
            target[parent] = {}
        target = target[parent]
    if isinstance(target, dict):
        target[name] = value


@st.composite
def fuzzed_events(draw, shop: Shop) -> dict[str, Any]:
    """A Stripe-shaped event (often about our payment) with arbitrary JSON in 1–4 fields."""
    ours = [shop.cs_id, shop.payment_intent_id, shop.payment_session_id, shop.customer_id, "cs_test_gone", "pi_gone"]
    bases = [*events_about_our_payment(shop), *[event(t, make()) for t, make in FOREIGN_EVENTS.items()]]
    body = copy.deepcopy(draw(st.sampled_from(bases)))
    if body["type"].startswith("charge.dispute."):  # a genuine dispute of our payment would change it
        ours.remove(shop.payment_intent_id)
    values = JSON | st.sampled_from(ours)
    for path in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique=True)):
        value = draw(JSON | st.sampled_from(HARMLESS_TYPES)) if path == "type" else draw(values)
        put(body, path, value)
    return body


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_arbitrary_json_in_any_field_of_a_signed_event_never_fails_or_changes_payments(app, client, shop, data):
    before = snapshot(app)
    body = data.draw(fuzzed_events(shop))
    response = deliver(client, body)
    assert_decided(app, body, response)
    assert snapshot(app) == before
    label_example(f"{response.status_code} {(response.get_json().get('status') or 'refused')}")
