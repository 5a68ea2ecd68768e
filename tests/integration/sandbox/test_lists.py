"""Lists as Stripe serves them: cursors, filters before the limit, exact has_more."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.support.sandbox import new_checkout

from .api_helpers import CHECKOUT, call


@pytest.fixture
def sandbox_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'stripe-sandbox.db'}"


@pytest.fixture
def sdk(gateway) -> stripe.StripeClient:
    return gateway.stripe_client


def _customers(sdk, n: int) -> list[str]:
    return [sdk.v1.customers.create(params={"email": f"c{i}@example.test"}).id for i in range(n)]


def test_pages_follow_cursors_both_ways_with_exact_has_more(sdk):
    ids = _customers(sdk, 5)[::-1]  # newest first, as lists are
    first = sdk.v1.events.list(params={"type": "customer.created", "limit": 2})
    assert [e.data.object.id for e in first.data] == ids[:2] and first.has_more
    second = sdk.v1.events.list(params={"type": "customer.created", "limit": 2, "starting_after": first.data[-1].id})
    assert [e.data.object.id for e in second.data] == ids[2:4] and second.has_more
    last = sdk.v1.events.list(params={"type": "customer.created", "limit": 2, "starting_after": second.data[-1].id})
    assert [e.data.object.id for e in last.data] == ids[4:] and not last.has_more
    back = sdk.v1.events.list(params={"type": "customer.created", "limit": 2, "ending_before": last.data[0].id})
    assert [e.data.object.id for e in back.data] == ids[2:4] and back.has_more
    exact = sdk.v1.events.list(params={"type": "customer.created", "limit": 5})
    assert len(exact.data) == 5 and not exact.has_more


def test_auto_paging_iter_terminates_and_yields_each_object_once(sdk, gateway):
    ids = _customers(sdk, 7)
    seen = [e.data.object.id for e in sdk.v1.events.list(params={"limit": 3}).auto_paging_iter()]
    assert sorted(seen) == sorted(ids)
    customer = ids[0]
    for _ in range(5):
        gateway.attach_payment_method("pm_card_visa", customer)
    methods = list(sdk.v1.customers.payment_methods.list(customer, params={"limit": 2}).auto_paging_iter())
    assert len({m.id for m in methods}) == len(methods) == 5
    methods = list(sdk.v1.payment_methods.list(params={"customer": customer, "limit": 2}).auto_paging_iter())
    assert len({m.id for m in methods}) == 5
    made = [new_checkout(gateway, customer_id=customer, idempotency_key=f"pg-{i}").id for i in range(5)]
    sessions = [
        s.id for s in sdk.v1.checkout.sessions.list(params={"customer": customer, "limit": 2}).auto_paging_iter()
    ]
    assert sessions == made[::-1]


def test_an_unknown_cursor_is_refused(client):
    for cursor in ("starting_after", "ending_before"):
        status, body, _ = call(client, "GET", "/v1/events", [(cursor, "evt_unknown")])
        assert status == 400
        assert body["error"]["param"] == cursor
        assert body["error"]["code"] == "resource_missing"


def test_filters_apply_before_the_limit(client):
    made = []
    for _ in range(3):
        status, session, _ = call(client, "POST", "/v1/checkout/sessions", CHECKOUT)
        assert status == 200
        made.append(session["id"])
    for cs_id in made[1:]:  # the two newest expire; the oldest stays open
        assert call(client, "POST", f"/v1/checkout/sessions/{cs_id}/expire")[0] == 200
    status, page, _ = call(client, "GET", "/v1/checkout/sessions", [("status", "open"), ("limit", "1")])
    assert status == 200
    assert [s["id"] for s in page["data"]] == [made[0]] and page["has_more"] is False
    status, page, _ = call(client, "GET", "/v1/checkout/sessions", [("status", "expired"), ("limit", "1")])
    assert [s["id"] for s in page["data"]] == [made[2]] and page["has_more"] is True


def test_events_filter_by_type_wildcard_types_and_created(sdk, client):
    customer = _customers(sdk, 1)[0]
    sdk.v1.customers.update(customer, params={"name": "Ada"})
    status, page, _ = call(client, "GET", "/v1/events", [("types[]", "customer.updated")])
    assert [e["type"] for e in page["data"]] == ["customer.updated"]
    status, page, _ = call(client, "GET", "/v1/events", [("type", "customer.*")])
    assert [e["type"] for e in page["data"]] == ["customer.updated", "customer.created"]
    now = int(time.time())
    status, page, _ = call(client, "GET", "/v1/events", [("created[gt]", str(now + 60))])
    assert status == 200 and page["data"] == [] and page["has_more"] is False
    status, page, _ = call(client, "GET", "/v1/events", [("created[lte]", str(now + 60))])
    assert len(page["data"]) == 2
    status, body, _ = call(client, "GET", "/v1/events", [("type", "a"), ("types[]", "b")])
    assert status == 400 and body["error"]["code"] == "parameters_exclusive"
