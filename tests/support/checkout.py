"""The purchase loop as a learner drives it: checkout, the sandbox's hosted page, Stripe's side."""

from __future__ import annotations

import re
from typing import Any

CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"

# Tests never wait for the SDK's back-off between retries.
FAST_STRIPE = {"STRIPE_NETWORK_RETRY_DELAY": 0, "STRIPE_MAX_NETWORK_RETRIES": 2}


def stripe_sessions(app) -> list[Any]:
    """Every checkout session the sandbox has, newest first."""
    from webapp.payments.gateway import get_gateway

    with app.app_context():
        return get_gateway().list_checkout_sessions(limit=100)


def stripe_session(app, cs_id: str):
    from webapp.payments.gateway import get_gateway

    with app.app_context():
        return get_gateway().retrieve_checkout_session(cs_id)


def cs_id_of(location: str) -> str:
    match = re.search(r"(cs_test_[A-Za-z0-9]+)", location)
    assert match, f"no checkout session id in {location!r}"
    return match.group(1)


def start_checkout(client, slug: str, code: str = "", **extra: str):
    return client.post(f"/checkout/{slug}", data={"coupon_code": code, **extra})


def pay(client, checkout_url: str, card: str = CARD_OK, *, method: str = "card"):
    """Submits the sandbox's hosted page like a learner's browser would."""
    return client.post(checkout_url, data={"action": "pay", "method": method, "card_number": card})


def buy(client, slug: str, code: str = "", card: str = CARD_OK):
    """Checkout → pay → follow Stripe's redirect; returns (success page response, cs id)."""
    started = start_checkout(client, slug, code)
    assert started.status_code == 303, started.get_data(as_text=True)[:500]
    paid = pay(client, started.headers["Location"], card)
    assert paid.status_code == 303, paid.get_data(as_text=True)[:500]
    return client.get(paid.headers["Location"]), cs_id_of(started.headers["Location"])


def main_attrs(html: str) -> dict[str, str]:
    match = re.search(r"<main\b([^>]*)>", html)
    assert match, "page has no <main>"
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', match.group(1)))
