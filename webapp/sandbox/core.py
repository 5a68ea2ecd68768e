"""The Sandbox object: configuration, storage and webhook delivery bound together.

One `Sandbox` exists per Flask app that uses it (`app.extensions["stripe_sandbox"]`); the
storage behind it is shared per database URL, so several apps, threads and processes on
the same `STRIPE_SANDBOX_DATABASE_URL` see one Stripe account.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from webapp.sandbox.context import Ctx
from webapp.sandbox.store import FAULT_KINDS, Delivery, Store, get_store

# Every request refused for its parameters in this process, by any Sandbox (newest last):
# what a test run reads to prove the app's own requests all pass Stripe's definitions.
REFUSALS: list[dict[str, Any]] = []

SIGNATURE_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclass(frozen=True)
class SandboxSettings:
    """The sandbox's configuration, read once from the app config."""

    database_url: str
    base_url: str  # public URL of the sandbox mount, e.g. http://127.0.0.1:5000/_sandbox/stripe
    webhooks_enabled: bool
    webhook_url: str
    webhook_secret: str
    app_origin: str | None  # origin served by `dispatch_app`; matching URLs are delivered in-process
    retry_delays: tuple[float, ...] = (0.5, 2.0, 5.0)
    timeout: float = 10.0

    @classmethod
    def from_config(
        cls, config: dict[str, Any], *, base_url: str | None = None, database_url: str | None = None
    ) -> SandboxSettings:
        """Settings from an app config; `database_url` overrides `STRIPE_SANDBOX_DATABASE_URL`."""
        app_url = str(config.get("APP_URL", "http://127.0.0.1:5000")).rstrip("/")
        delays = config.get("STRIPE_SANDBOX_WEBHOOK_RETRY_DELAYS", (0.5, 2.0, 5.0))
        return cls(
            database_url=database_url or config["STRIPE_SANDBOX_DATABASE_URL"],
            base_url=(base_url or app_url + "/_sandbox/stripe").rstrip("/"),
            webhooks_enabled=bool(config.get("STRIPE_SANDBOX_WEBHOOKS", True)),
            webhook_url=config.get("STRIPE_SANDBOX_WEBHOOK_URL") or f"{app_url}/webhooks/stripe",
            webhook_secret=(config.get("STRIPE_WEBHOOK_SECRETS") or ["whsec_dev_sandbox"])[0],
            app_origin=url_origin(app_url),
            retry_delays=tuple(float(d) for d in delays),
            timeout=float(config.get("STRIPE_SANDBOX_WEBHOOK_TIMEOUT", 10.0)),
        )


def url_origin(url: str) -> str:
    """scheme://host[:port], lower-cased: what decides in-process webhook dispatch."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def sign_payload(payload: str, secret: str, timestamp: int | None = None) -> str:
    """Stripe's `Stripe-Signature` header: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


class Sandbox:
    """The offline Stripe account: runs operations and delivers their events."""

    def __init__(self, settings: SandboxSettings, dispatch_app: Flask | None = None) -> None:
        self.settings = settings
        # The app whose webhook route may be called in-process (no port, no deadlock under a
        # single sync worker); None for the standalone server.
        self.dispatch_app = dispatch_app
        self.store: Store = get_store(settings.database_url)
        from webapp.sandbox.delivery import Deliverer

        self.deliverer = Deliverer(self)
        # Requests refused by the SDK-definition validation, newest last (tests read these).
        self.refusals: list[dict[str, Any]] = []

    # -- operations ------------------------------------------------------------------------
    @contextmanager
    def operation(self, *, request_id: str | None = None, idempotency_key: str | None = None) -> Iterator[Ctx]:
        """One serialised transaction; its events are queued for delivery after it commits."""
        with self.store.transaction() as tx:
            ctx = Ctx(
                tx=tx,
                base_url=self.settings.base_url,
                webhooks_enabled=self.settings.webhooks_enabled,
                request_id=request_id,
                idempotency_key=idempotency_key,
            )
            yield ctx
        # Reached only after COMMIT: a webhook must never describe state a reader can't see.
        if ctx.emitted and self.settings.webhooks_enabled:
            self.deliverer.enqueue(ctx.emitted)

    def handle_api(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Any:
        from webapp.sandbox.api import handle_api

        return handle_api(self, method, path, query, headers, body)

    def record_refusal(self, method: str, path: str, error: Any) -> None:
        """Remembers a request refused for its parameters (bounded; tests read `refusals`)."""
        refusal = {"method": method, "path": path, "param": error.param, "code": error.code, "message": error.message}
        self.refusals.append(refusal)
        del self.refusals[:-1000]
        REFUSALS.append(refusal)

    # -- fault injection -------------------------------------------------------------------
    def inject_faults(self, count: int, kind: str) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        with self.store.transaction() as tx:
            tx.set_faults(kind, count)

    def clear_faults(self) -> None:
        with self.store.transaction() as tx:
            tx.set_faults("500", 0)

    def pending_faults(self) -> tuple[str, int] | None:
        with self.store.transaction() as tx:
            return tx.pending_faults()

    # -- events ----------------------------------------------------------------------------
    def get_event(self, event_id: str) -> dict[str, Any] | None:
        with self.store.transaction() as tx:
            return tx.get_event(event_id)

    def recent_events(self, limit: int = 100) -> list[tuple[dict[str, Any], list[Delivery]]]:
        with self.store.transaction() as tx:
            evts = tx.list_events(limit=limit)
            deliveries = tx.deliveries_for([e["id"] for e in evts])
        return [(e, deliveries[e["id"]]) for e in evts]

    def deliveries(self, event_id: str) -> list[Delivery]:
        with self.store.transaction() as tx:
            return tx.deliveries_for([event_id])[event_id]

    def event_payload(self, event_id: str) -> str | None:
        evt = self.get_event(event_id)
        return json.dumps(evt, indent=2) if evt else None

    def deliver_now(self, event_id: str) -> Delivery:
        """Delivers one event synchronously, once, and records the attempt."""
        return self.deliverer.deliver_once(event_id, attempt=0)

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """Blocks until queued deliveries (with their retries) are done; False on timeout."""
        return self.deliverer.wait_idle(timeout)
