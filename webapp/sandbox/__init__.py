"""The offline Stripe-compatible sandbox.

`init_app(app)`:
- always registers the `flask stripe-sandbox` command group (it refuses to act when
  `STRIPE_SECRET_KEY` is set);
- when `STRIPE_SECRET_KEY` is unset, builds the `Sandbox` (`app.extensions["stripe_sandbox"]`)
  that the gateway's in-process HTTP client talks to, and — unless `PRODUCTION` — mounts the
  blueprint at `/_sandbox/stripe` (REST API under `/v1`, hosted page `/pay/<cs_id>`, events
  page `/events`) and returns it. The app factory exempts that blueprint from CSRF and rate
  limits (it stands for Stripe's domain): the sandbox stands for Stripe, so it imports nothing
  of the app — what it needs from the app (its database URL) is passed in.

Held to Stripe's own definitions, read from the pinned `stripe` SDK: every request is
validated against its `stripe.params` TypedDict (`validation`), and every object is
completed to the fields its resource class declares (`shapes`). Modules:

- `api` (request pipeline: faults, auth, validation, idempotency), `routes` (each route
  with its params TypedDict and resource class), `lists` (cursors, filters, has_more);
- `definitions` (reading the SDK), `validation`, `shapes`, `expand`;
- `routes_billing` (the Billing routes: products, prices, subscriptions, schedules,
  invoices, test clocks), `billing` (renewals, retries, schedule ends), `clocks` (time);
- `resources/*` (one module per Stripe resource), `cards` (test cards), `money`
  (Stripe's currency rules), `errors`, `context`, `coerce`;
- `store` (storage), `core` (the Sandbox), `delivery` (webhooks), `views` (blueprint and
  hosted page), `standalone` and `cli` (`flask stripe-sandbox ...`).

Test helpers: `inject_faults`, `clear_faults`, `get_sandbox`, `wait_for_deliveries`,
`settle_session`, `backdate_session`, `advance_time`.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app

from webapp.sandbox.core import Sandbox, SandboxSettings, sign_payload

__all__ = [
    "Sandbox",
    "advance_time",
    "SandboxSettings",
    "backdate_session",
    "clear_faults",
    "get_sandbox",
    "init_app",
    "inject_faults",
    "settle_session",
    "sign_payload",
    "wait_for_deliveries",
]


def init_app(app: Flask, *, database_url: str | None = None) -> Blueprint | None:
    """Sets the sandbox up for `app` (module docstring); returns the blueprint it mounted.

    `database_url` is the sandbox's database as the app spells it for SQLAlchemy (default:
    `STRIPE_SANDBOX_DATABASE_URL` as configured). The caller exempts the returned blueprint
    from the app's CSRF protection and rate limits.
    """
    from webapp.sandbox.cli import stripe_sandbox_cli

    app.cli.add_command(stripe_sandbox_cli)
    if app.config.get("STRIPE_SECRET_KEY"):
        return None
    settings = SandboxSettings.from_config(app.config, database_url=database_url)
    app.extensions["stripe_sandbox"] = Sandbox(settings, dispatch_app=app)
    if app.config.get("PRODUCTION"):
        return None
    from webapp.sandbox.views import bp

    app.register_blueprint(bp)
    return bp


def get_sandbox(app: Flask | None = None) -> Sandbox:
    """The app's Sandbox; raises RuntimeError when the app talks to real Stripe."""
    target = app or current_app
    sandbox = target.extensions.get("stripe_sandbox")
    if sandbox is None:
        raise RuntimeError("The Stripe sandbox is not active (STRIPE_SECRET_KEY is set).")
    return sandbox


def _resolve(target: Flask | str) -> Sandbox | str:
    """A Sandbox for an app or a database URL; the control URL for an http(s) base URL."""
    if isinstance(target, Flask):
        return get_sandbox(target)
    if target.startswith(("http://", "https://")):
        base = target.rstrip("/")
        if not urlsplit(base).path.endswith("/_sandbox/stripe"):
            base += "/_sandbox/stripe"
        return base + "/_control/faults"
    config = {"STRIPE_SANDBOX_DATABASE_URL": target}
    return Sandbox(SandboxSettings.from_config(config))


def inject_faults(target: Flask | str, n: int, kind: str) -> None:
    """Makes the next `n` REST API calls fail: kind "500" (api_error), "429" (rate limit) or
    "network" (connection error: the in-process client raises the SDK's APIConnectionError;
    over HTTP the server drops the connection).

    `target` is an app, a sandbox database URL, or the http(s) base URL of a running app or
    standalone sandbox. Stored in the sandbox database, so it holds across processes.
    """
    resolved = _resolve(target)
    if isinstance(resolved, str):
        import requests

        response = requests.post(resolved, json={"next": n, "kind": kind}, timeout=10)
        response.raise_for_status()
        return
    resolved.inject_faults(n, kind)


def clear_faults(target: Flask | str) -> None:
    """Cancels pending faults (same targets as `inject_faults`)."""
    inject_faults(target, 0, "500")


def wait_for_deliveries(app: Flask, timeout: float = 10.0) -> bool:
    """Waits until the app's queued webhook deliveries (and retries) are done."""
    return get_sandbox(app).wait_for_deliveries(timeout)


def settle_session(app: Flask, cs_id: str, *, fail: bool = False) -> dict[str, Any]:
    """What `flask stripe-sandbox settle` does: settles a bank-transfer session."""
    from webapp.sandbox.context import public
    from webapp.sandbox.resources.checkout_payments import settle_session as settle

    with get_sandbox(app).operation() as ctx:
        return public(settle(ctx, cs_id, fail=fail))


def advance_time(app: Flask, *, days: int) -> dict[str, int]:
    """What `flask stripe-sandbox advance --days N` does: every test clock, and the sandbox's
    own "now" of billing objects without a clock, move forward, and what falls due runs in
    order (`billing`, `clocks`)."""
    from webapp.sandbox.clocks import DAY
    from webapp.sandbox.resources.test_clocks import advance_everything

    with get_sandbox(app).operation() as ctx:
        return advance_everything(ctx, days * DAY)


def backdate_session(app: Flask, cs_id: str, *, seconds_ago: int = 1) -> None:
    """Test helper: moves an open session's `expires_at` into the past (time travel).

    The sandbox expires it (and emits `checkout.session.expired`) on its next read, as
    Stripe does some time after `expires_at`.
    """
    with get_sandbox(app).operation() as ctx:
        session = ctx.load(cs_id, "checkout.session", "checkout.session")
        session["expires_at"] = int(time.time()) - seconds_ago
        ctx.tx.put(session)
