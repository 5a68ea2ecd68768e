"""The standalone sandbox answers at the root too, so STRIPE_API_BASE=<its URL> works."""

from __future__ import annotations

import pytest
import requests
import stripe

from tests.support.sandbox import build_app, new_checkout
from webapp.sandbox.standalone import create_standalone_app

from .api_helpers import CHECKOUT


@pytest.fixture
def sandbox_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'stripe-sandbox.db'}"


@pytest.fixture
def root_served(serve, sandbox_url):
    holder: dict = {}
    served = serve(lambda environ, start_response: holder["app"](environ, start_response))
    config = {
        "STRIPE_SANDBOX_DATABASE_URL": sandbox_url,
        "STRIPE_SANDBOX_WEBHOOKS": False,
        "APP_URL": "http://127.0.0.1:9",
    }
    holder["app"] = create_standalone_app(config, public_url=served.url)
    return served.url


def test_the_sdk_talks_to_the_root_like_to_stripe_mock(root_served):
    sdk = stripe.StripeClient("sk_test_root", base_addresses={"api": root_served}, max_network_retries=0)
    customer = sdk.v1.customers.create(params={"email": "root@example.test"})
    assert customer.id.startswith("cus_")
    assert sdk.v1.customers.retrieve(customer.id).email == "root@example.test"
    events = sdk.v1.events.list(params={"type": "customer.created"})
    assert [e.data.object.id for e in events.data] == [customer.id]


def test_root_and_prefixed_api_share_one_account_and_its_errors(root_served, expect_refusals):
    auth = {"Authorization": "Bearer sk_test_root"}
    created = requests.post(f"{root_served}/v1/checkout/sessions", data=CHECKOUT, headers=auth, timeout=10)
    assert created.status_code == 200, created.text
    cs_id = created.json()["id"]
    prefixed = requests.get(f"{root_served}/_sandbox/stripe/v1/checkout/sessions/{cs_id}", headers=auth, timeout=10)
    assert prefixed.status_code == 200 and prefixed.json()["id"] == cs_id
    refused = requests.post(f"{root_served}/v1/customers", data={"bogus_param": "1"}, headers=auth, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "parameter_unknown"
    assert refused.headers["Request-Id"].startswith("req_")


def test_the_app_with_stripe_api_base_at_the_root(root_served, sandbox_url, tmp_path):
    app = build_app(sandbox_url, tmp_path, STRIPE_API_BASE=root_served)
    with app.app_context():
        from webapp.payments.gateway import get_gateway

        gateway = get_gateway()
        assert gateway.mode == "sandbox-http"
        session = new_checkout(gateway)
        assert gateway.retrieve_checkout_session(session.id).status == "open"
