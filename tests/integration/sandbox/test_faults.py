"""Fault injection: the SDK's retries (same idempotency key) and the gateway's error mapping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import stripe

from webapp.payments.gateway import Gateway, SandboxHTTPClient, StripeUnavailable
from webapp.sandbox import clear_faults, get_sandbox, inject_faults

ROOT = Path(__file__).resolve().parents[3]


class RecordingClient(SandboxHTTPClient):
    """The real in-process client, also noting each attempt's outcome and headers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attempts: list[tuple[str, int | str]] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        try:
            body, status, rheaders = super().request(method, url, headers, post_data)
        except stripe.APIConnectionError:
            self.attempts.append((headers.get("Idempotency-Key"), "network"))
            raise
        self.attempts.append((headers.get("Idempotency-Key"), status))
        return body, status, rheaders


@pytest.fixture
def recorded(sbx_app):
    sandbox = get_sandbox(sbx_app)
    http = RecordingClient(lambda: sandbox, retry_delay=0)
    sdk = stripe.StripeClient(
        "sk_test_faults",
        http_client=http,
        max_network_retries=2,
        base_addresses={"api": "http://localhost/_sandbox/stripe"},
    )
    return Gateway(sdk, webhook_secrets=["whsec_x"]), http


def _create(gateway: Gateway, key: str = "cus-fault") -> str:
    return gateway.create_customer(email="f@example.test", name=None, user_id="u_f", idempotency_key=key)


def test_injected_500s_are_retried_with_the_same_key_and_succeed(sbx_app, recorded):
    gateway, http = recorded
    inject_faults(sbx_app, 2, "500")
    customer = _create(gateway)
    assert customer.startswith("cus_")
    assert http.attempts == [("cus-fault", 500), ("cus-fault", 500), ("cus-fault", 200)]
    assert get_sandbox(sbx_app).pending_faults() is None
    # The retried request created exactly one customer: the key replays it.
    assert _create(gateway) == customer


def test_500s_beyond_the_retries_raise_stripe_unavailable(sbx_app, gateway):
    inject_faults(sbx_app, 3, "500")
    with pytest.raises(StripeUnavailable) as info:
        gateway.retrieve_event("evt_whatever")
    assert info.value.http_status == 500
    assert "temporarily unavailable" in info.value.user_message
    # The outage is over: the next call reaches the sandbox.
    assert gateway.create_customer(email=None, name=None, user_id="u", idempotency_key="after-500").startswith("cus_")


def test_rate_limit_raises_stripe_unavailable(sbx_app, recorded):
    gateway, http = recorded
    inject_faults(sbx_app, 1, "429")
    with pytest.raises(StripeUnavailable) as info:
        _create(gateway, "cus-429")
    assert isinstance(info.value.__cause__, stripe.RateLimitError)
    # Stripe's SDK does not retry a plain 429.
    assert http.attempts == [("cus-429", 429)]


def test_network_fault_is_retried_as_a_connection_error(sbx_app, recorded):
    gateway, http = recorded
    inject_faults(sbx_app, 1, "network")
    customer = _create(gateway, "cus-net")
    assert http.attempts == [("cus-net", "network"), ("cus-net", 200)]
    assert customer.startswith("cus_")


def test_network_outage_raises_stripe_unavailable(sbx_app, gateway):
    inject_faults(sbx_app, 5, "network")
    with pytest.raises(StripeUnavailable) as info:
        _create(gateway, "cus-net-down")
    assert isinstance(info.value.__cause__, stripe.APIConnectionError)
    clear_faults(sbx_app)
    assert _create(gateway, "cus-net-down").startswith("cus_")


def test_cli_arms_shows_and_clears_faults(sbx_app, gateway):
    runner = sbx_app.test_cli_runner()
    result = runner.invoke(args=["stripe-sandbox", "fail", "--next", "2", "--kind", "429"])
    assert result.exit_code == 0, result.output
    assert "next 2 API call(s) fail with 429" in result.output
    assert "armed" in sbx_app.test_client().get("/_sandbox/stripe/events").get_data(as_text=True)
    result = runner.invoke(args=["stripe-sandbox", "fail", "--clear"])
    assert "no faults pending" in result.output
    assert _create(gateway, "after-clear").startswith("cus_")


def test_cli_rejects_an_unknown_kind(sbx_app):
    result = sbx_app.test_cli_runner().invoke(args=["stripe-sandbox", "fail", "--next", "1", "--kind", "teapot"])
    assert result.exit_code != 0


def test_faults_armed_by_another_process_apply_here(sbx_app, gateway, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")},
        "PYTHONPATH": str(ROOT),
        "INSTANCE_PATH": str(tmp_path / "cli-instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli-app.db'}",
        "STRIPE_SANDBOX_DATABASE_URL": sbx_app.config["STRIPE_SANDBOX_DATABASE_URL"],
    }
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "stripe-sandbox", "fail", "--next", "3", "--kind", "500"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with pytest.raises(StripeUnavailable):
        _create(gateway, "cross-process")


def test_cli_refuses_when_real_stripe_is_configured(sandbox_url, tmp_path):
    from tests.support.sandbox import build_app

    app = build_app(sandbox_url, tmp_path, STRIPE_SECRET_KEY="sk_test_realstripe")
    assert "stripe_sandbox" not in app.extensions
    assert not any(rule.rule.startswith("/_sandbox") for rule in app.url_map.iter_rules())
    result = app.test_cli_runner().invoke(args=["stripe-sandbox", "fail", "--next", "1"])
    assert result.exit_code != 0
    assert "STRIPE_SECRET_KEY is set" in result.output
