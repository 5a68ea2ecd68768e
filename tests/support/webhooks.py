"""Signed Stripe webhook deliveries, signed here rather than by the code under test."""

from __future__ import annotations

import hashlib
import hmac
import time

# The webhook secret `harness.make_app` configures (STRIPE_WEBHOOK_SECRETS).
WEBHOOK_SECRET = "whsec_test_secret"


def stripe_signature(body: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header value for `body`, computed here (not by the code under test)."""
    t = int(time.time()) if timestamp is None else timestamp
    sig = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={sig}"


def signed_headers(body: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """Headers of a webhook delivery of `body` signed with `secret`, signed now."""
    return {"Content-Type": "application/json", "Stripe-Signature": stripe_signature(body, secret)}
