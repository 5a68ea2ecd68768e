"""Idempotency as Stripe keeps it, and a Request-Id on every answer."""

from __future__ import annotations

import pytest

from webapp.sandbox import inject_faults

from .api_helpers import AUTH, PREFIX, call


@pytest.fixture
def sandbox_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'stripe-sandbox.db'}"


def test_an_error_answer_is_stored_and_replayed_for_its_key(client):
    key = {"Idempotency-Key": "attach-1"}
    path = "/v1/payment_methods/pm_card_visa/attach"
    status, first, headers = call(client, "POST", path, [("customer", "cus_missing")], **key)
    assert status == 404 and first["error"]["code"] == "resource_missing"
    assert "Idempotent-Replayed" not in headers
    status, again, headers = call(client, "POST", path, [("customer", "cus_missing")], **key)
    assert status == 404
    assert again == first
    assert headers["Idempotent-Replayed"] == "true"


def test_a_request_refused_by_validation_is_not_stored(client, expect_refusals):
    key = {"Idempotency-Key": "cus-1"}
    status, _, _ = call(client, "POST", "/v1/customers", [("bogus_param", "1")], **key)
    assert status == 400
    status, created, _ = call(client, "POST", "/v1/customers", [("email", "a@example.test")], **key)
    assert status == 200 and created["id"].startswith("cus_")


def test_a_stored_error_rolls_back_what_the_request_changed(client):
    key = {"Idempotency-Key": "refund-1"}
    status, body, _ = call(client, "POST", "/v1/refunds", [("payment_intent", "pi_missing")], **key)
    assert status == 404
    status, events, _ = call(client, "GET", "/v1/events")
    assert status == 200 and events["data"] == []


def test_a_key_reused_on_another_endpoint_is_refused_in_stripes_words(client):
    key = {"Idempotency-Key": "shared-key"}
    status, _, _ = call(client, "POST", "/v1/customers", [("email", "a@example.test")], **key)
    assert status == 200
    status, body, headers = call(client, "POST", "/v1/refunds", [("payment_intent", "pi_x")], **key)
    assert status == 400
    error = body["error"]
    assert error["message"] == (
        "Keys for idempotent requests can only be used for the same endpoint they were first used for "
        "('/v1/refunds' vs '/v1/customers'). Try using a key other than 'shared-key' if you meant to "
        "execute a different request."
    )
    assert headers["Request-Id"].startswith("req_")


def test_every_answer_carries_a_request_id(sbx_app, client, expect_refusals):
    answers = [
        client.get(f"{PREFIX}/v1/customers/cus_x"),  # 401: no key
        client.get(f"{PREFIX}/v1/nothing_here", headers=AUTH),  # 404: unknown URL
        client.get(f"{PREFIX}/v1/customers/cus_missing", headers=AUTH),  # 404: resource_missing
        client.post(f"{PREFIX}/v1/customers", data={"bogus": "1"}, headers=AUTH),  # 400: validation
        client.post(f"{PREFIX}/v1/customers", data={"email": "a@example.test"}, headers=AUTH),  # 200
    ]
    inject_faults(sbx_app, 1, "500")
    answers.append(client.get(f"{PREFIX}/v1/events", headers=AUTH))
    inject_faults(sbx_app, 1, "429")
    answers.append(client.get(f"{PREFIX}/v1/events", headers=AUTH))
    assert [a.status_code for a in answers] == [401, 404, 404, 400, 200, 500, 429]
    ids = [a.headers.get("Request-Id", "") for a in answers]
    assert all(i.startswith("req_") for i in ids), ids
    assert len(set(ids)) == len(ids)
