"""Helpers shared by the gateway and sandbox tests: their app, a checkout session, a receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

WEBHOOK_SECRET = "whsec_sandbox_tests_0123456789"


def build_app(sandbox_url: str, tmp_path: Path, **overrides: Any):
    from webapp import create_app

    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}",
        "DATABASE_IS_DEFAULT": False,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "APP_URL": "http://localhost",
        "APP_ORIGIN": "http://localhost",
        "STRIPE_SECRET_KEY": None,
        "STRIPE_API_BASE": None,
        "STRIPE_SANDBOX_DATABASE_URL": sandbox_url,
        "STRIPE_SANDBOX_WEBHOOKS": False,
        "STRIPE_SANDBOX_WEBHOOK_RETRY_DELAYS": (0, 0),
        "STRIPE_WEBHOOK_SECRETS": [WEBHOOK_SECRET],
        "STRIPE_MAX_NETWORK_RETRIES": 2,
        "STRIPE_NETWORK_RETRY_DELAY": 0,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
    }
    config.update(overrides)
    return create_app(config)


def new_checkout(gateway, *, customer_id: str | None = None, amount: int = 1999, currency: str = "usd", **extra):
    """A payment-mode checkout session with the arguments the services will pass."""
    key = extra.pop("idempotency_key", f"checkout-{time.time_ns()}")
    args: dict[str, Any] = {
        "customer_id": customer_id,
        "product_name": "Python for Payments",
        "description": "12 lectures",
        "amount": amount,
        "currency": currency,
        "success_url": "http://localhost/payment/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost/payment/cancel?session_id={CHECKOUT_SESSION_ID}",
        "client_reference_id": "ps_42",
        "metadata": {"payment_session_id": "ps_42", "course_id": "c_1"},
        "expires_at": int(time.time()) + 30 * 60,
        "idempotency_key": key,
    }
    args.update(extra)
    return gateway.create_payment_checkout(**args)


def pay(client, session, card: str = "4242 4242 4242 4242", **form: str):
    return client.post(session.url, data={"action": "pay", "method": "card", "card_number": card, **form})


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """Records webhook POSTs; `statuses` scripts the answers (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        with self.lock:
            self.received.append(Received(request.get_data(), dict(request.headers)))
            status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok", status=status)(environ, start_response)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.received]
