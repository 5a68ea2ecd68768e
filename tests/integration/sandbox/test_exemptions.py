"""The app factory exempts the sandbox (it stands for Stripe's domain) from CSRF and rate limits."""

from __future__ import annotations

import pytest

from .api_helpers import CHECKOUT, PREFIX, call


@pytest.fixture
def sandbox_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'stripe-sandbox.db'}"


@pytest.fixture
def sbx_config() -> dict:
    return {
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_DEFAULT": "2 per minute",
    }


def test_the_api_and_the_hosted_page_need_no_csrf_token_and_have_no_rate_limit(client):
    for _ in range(4):
        status, body, _ = call(client, "POST", "/v1/customers", [("email", "x@example.test")])
        assert status == 200, body
    status, session, _ = call(client, "POST", "/v1/checkout/sessions", CHECKOUT)
    assert status == 200
    paid = client.post(session["url"], data={"action": "pay", "method": "card", "card_number": "4242424242424242"})
    assert paid.status_code == 303
    assert client.get(f"{PREFIX}/events").status_code == 200
